//go:build !purego

package gemm

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
	xcpu "golang.org/x/sys/cpu"
)

// The N blocks keep a K block of packed B (kc·nc·4 bytes: 512 KiB for float32) within
// half of a 1 MiB L2, so that it stays there while each micro-panel of A passes over it;
// 1024 columns (1 MiB) measured 0-4% slower. Of the shapes of that size, the AVX-512
// paths take the deepest K block the A micro-panel leaves room for in L1 (12 rows of 512
// float32 or 1024 bfloat16, 24 KiB): each K block reads and writes every tile of C once,
// and A is read once per N block, so 512 x 256 moves a fifth less than 256 x 512. It
// measured 2-4% faster for float32 from 1024³ to 4096³, where C and A come from L3 or
// memory, and 0-3% for bfloat16.
var (
	avx512Spec = kernelSpec{name: "avx512", mr: 12, nr: 32, kc: 512, nc: 256, mc: 12, run: sgemm512, smallMR: 4, small: sgemm512x4, gemv: &avx512Gemv}
	avx2Spec   = kernelSpec{name: "avx2", mr: 6, nr: 16, kc: 256, nc: 512, mc: 24, run: sgemm256, gemv: &avx2Gemv}
	bf16Spec   = kernelSpec{name: "avx512bf16", mr: 12, nr: 32, kc: 1024, nc: 256, mc: 24, bf16: true, run: bgemm512, smallMR: 4, small: bgemm512x4}
)

// hasBF16 reports VDPBF16PS support; the AVX-512 path must also be selected.
var hasBF16 = xcpu.X86.HasAVX512BF16

// pickKernel chooses the path for operands of dtype dt, in priority order.
func pickKernel(dt tensor.DType) *kernelSpec {
	switch cpu.Selected() {
	case cpu.AVX512:
		if dt == tensor.BFloat16 && hasBF16 {
			return &bf16Spec
		}
		return &avx512Spec
	case cpu.AVX2:
		return &avx2Spec
	}
	return &genericSpec
}

//go:noescape
func sgemm512(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)

//go:noescape
func bgemm512(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)

//go:noescape
func sgemm256(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)

//go:noescape
func sgemm512x4(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)

//go:noescape
func bgemm512x4(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)
