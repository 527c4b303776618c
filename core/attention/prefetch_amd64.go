//go:build !purego

package attention

import "unsafe"

// prefetchRows asks the CPU to bring rows rows of rowBytes bytes, stride bytes apart from
// p, into the cache. Keys and values of one head are rows a whole token apart (several
// KiB in BSHD), a pattern the hardware prefetchers follow poorly across pages, so the
// next tile is requested while the current one is computed.
//
//go:noescape
func prefetchRows(p unsafe.Pointer, stride, rows, rowBytes int)

// touchRows reads the rows prefetchRows would request, in address order. Decode reads
// the keys of all heads of a few positions together; touched first as a sequential
// stream they arrive at the full read bandwidth, which the scattered reads of the
// kernels (16 rows at a time) do not reach.
//
//go:noescape
func touchRows(p unsafe.Pointer, stride, rows, rowBytes int)
