//go:build !purego

package gemm

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
)

// The packing helpers use AVX-512 when that path is selected, else their Go twins.

func transposeBlocks(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, blocks int) {
	if cpu.Selected() == cpu.AVX512 {
		transpose16(dst, ldd, src, lds, blocks)
		return
	}
	transpose16Go(dst, ldd, src, lds, blocks)
}

func interleavePairs(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, pairs, panels int) {
	if cpu.Selected() == cpu.AVX512 {
		pairs32(dst, ldd, src, lds, pairs, panels)
		return
	}
	pairs32Go(dst, ldd, src, lds, pairs, panels)
}

func copyRows32(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, rows, panels int) {
	if cpu.Selected() == cpu.AVX512 {
		rows32(dst, ldd, src, lds, rows, panels)
		return
	}
	rows32Go(dst, ldd, src, lds, rows, panels)
}

// widenF16 and widenBF16 convert n values; n need not be a multiple of 16. The pointers
// move past the vector part only when a tail remains: a pointer one past the end of
// dst's or src's allocation is not a valid Go pointer.
func widenF16(dst unsafe.Pointer, src unsafe.Pointer, n int) {
	if cpu.Selected() == cpu.AVX512 {
		m := n &^ 15
		f16ToF32(dst, src, m)
		if m == n {
			return
		}
		dst, src, n = unsafe.Add(dst, m*4), unsafe.Add(src, m*2), n-m
	}
	f16ToF32Go(dst, src, n)
}

func widenBF16(dst unsafe.Pointer, src unsafe.Pointer, n int) {
	if cpu.Selected() == cpu.AVX512 {
		m := n &^ 15
		bf16ToF32(dst, src, m)
		if m == n {
			return
		}
		dst, src, n = unsafe.Add(dst, m*4), unsafe.Add(src, m*2), n-m
	}
	bf16ToF32Go(dst, src, n)
}

//go:noescape
func transpose16(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, blocks int)

//go:noescape
func pairs32(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, pairs, panels int)

//go:noescape
func rows32(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, rows, panels int)

//go:noescape
func f16ToF32(dst unsafe.Pointer, src unsafe.Pointer, n int)

//go:noescape
func bf16ToF32(dst unsafe.Pointer, src unsafe.Pointer, n int)
