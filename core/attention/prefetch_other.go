//go:build !amd64 || purego

package attention

import "unsafe"

// prefetchRows is a cache hint; without assembly there is none to give.
func prefetchRows(p unsafe.Pointer, stride, rows, rowBytes int) {}

// touchRows reads the rows prefetchRows would request; without assembly it does nothing,
// as the loads could not be kept from being optimized away portably.
func touchRows(p unsafe.Pointer, stride, rows, rowBytes int) {}
