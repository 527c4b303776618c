//go:build !amd64 || purego

package gemm

import "unsafe"

// Without assembly the packing helpers are their Go definitions.

func transposeBlocks(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, blocks int) {
	transpose16Go(dst, ldd, src, lds, blocks)
}

func interleavePairs(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, pairs, panels int) {
	pairs32Go(dst, ldd, src, lds, pairs, panels)
}

func copyRows32(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, rows, panels int) {
	rows32Go(dst, ldd, src, lds, rows, panels)
}

func widenF16(dst unsafe.Pointer, src unsafe.Pointer, n int) { f16ToF32Go(dst, src, n) }

func widenBF16(dst unsafe.Pointer, src unsafe.Pointer, n int) { bf16ToF32Go(dst, src, n) }
