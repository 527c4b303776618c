package gemm

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// Plain-Go definitions of the packing helpers that have assembly twins. Strides are in
// bytes; the element unit is a 32-bit word (a float32, or a pair of bfloat16).

// transpose16Go transposes blocks consecutive 16x16 blocks: word k of source row r
// (rows lds bytes apart) goes to word r of destination row k (rows ldd bytes apart).
func transpose16Go(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, blocks int) {
	for b := range blocks {
		for r := range 16 {
			for k := range 16 {
				*(*uint32)(unsafe.Add(dst, uintptr(b*16+k)*ldd+uintptr(r*4))) =
					*(*uint32)(unsafe.Add(src, uintptr(r)*lds+uintptr((b*16+k)*4)))
			}
		}
	}
}

// pairs32Go interleaves rows 2p and 2p+1 (lds bytes apart) of bfloat16 columns into
// panels of 32 words per pair (panels ldd bytes apart): low half from row 2p, high half
// from row 2p+1.
func pairs32Go(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, pairs, panels int) {
	for p := range pairs {
		r0 := unsafe.Add(src, uintptr(2*p)*lds)
		r1 := unsafe.Add(r0, lds)
		for q := range panels {
			d := unsafe.Add(dst, uintptr(q)*ldd+uintptr(p*32*4))
			for j := range 32 {
				*(*uint32)(unsafe.Add(d, j*4)) =
					uint32(*(*uint16)(unsafe.Add(r0, (q*32+j)*2))) | uint32(*(*uint16)(unsafe.Add(r1, (q*32+j)*2)))<<16
			}
		}
	}
}

// rows32Go copies rows of float32 (lds bytes apart) into panels of 32 columns (ldd bytes
// apart): row k, panel q goes to dst + q*ldd + k*128.
func rows32Go(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, rows, panels int) {
	for k := range rows {
		for q := range panels {
			*(*[32]float32)(unsafe.Add(dst, uintptr(q)*ldd+uintptr(k*128))) =
				*(*[32]float32)(unsafe.Add(src, uintptr(k)*lds+uintptr(q*128)))
		}
	}
}

// f16ToF32Go widens n float16 values.
func f16ToF32Go(dst unsafe.Pointer, src unsafe.Pointer, n int) {
	for i := range n {
		*(*float32)(unsafe.Add(dst, i*4)) = tensor.F16ToF32(*(*uint16)(unsafe.Add(src, i*2)))
	}
}

// bf16ToF32Go widens n bfloat16 values.
func bf16ToF32Go(dst unsafe.Pointer, src unsafe.Pointer, n int) {
	for i := range n {
		*(*float32)(unsafe.Add(dst, i*4)) = tensor.BF16ToF32(*(*uint16)(unsafe.Add(src, i*2)))
	}
}
