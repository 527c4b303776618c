//go:build !amd64 || purego

package attention

import "unsafe"

// prefetchRows is a cache hint; without assembly there is none to give.
func prefetchRows(p unsafe.Pointer, stride, rows, rowBytes int) {}
