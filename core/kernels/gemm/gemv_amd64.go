//go:build !purego

package gemm

import "unsafe"

var (
	avx512Gemv = gemvSpec{vec: 16, n: gemvN512, t: gemvT512}
	avx2Gemv   = gemvSpec{vec: 8, n: gemvN256, t: gemvT256}
	bf16Gemv   = gemvSpec{vec: 16, t: bgemvT512}
)

//go:noescape
func gemvN512(m, k int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, ldb uintptr, c unsafe.Pointer, ldc uintptr, nv int, mask int)

//go:noescape
func gemvT512(m, kt, kr int, a unsafe.Pointer, w unsafe.Pointer, ldw uintptr, c unsafe.Pointer, mask int)

//go:noescape
func gemvN256(m, k int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, ldb uintptr, c unsafe.Pointer, ldc uintptr, nv int, mask int)

//go:noescape
func gemvT256(m, kt, kr int, a unsafe.Pointer, w unsafe.Pointer, ldw uintptr, c unsafe.Pointer, mask int)

//go:noescape
func bgemvT512(m, kt, kr int, a unsafe.Pointer, w unsafe.Pointer, ldw uintptr, c unsafe.Pointer, mask int)
