//go:build !purego

package quant

import "unsafe"

// prefetchBytes asks the CPU to bring the n bytes at p into the cache.
//
//go:noescape
func prefetchBytes(p unsafe.Pointer, n int)
