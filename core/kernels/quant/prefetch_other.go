//go:build !amd64 || purego

package quant

import "unsafe"

// prefetchBytes is a cache hint; without assembly there is none to give.
func prefetchBytes(p unsafe.Pointer, n int) {}
