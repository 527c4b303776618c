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
// 1024 columns (1 MiB) measured 0-4% slower. Of the shapes of that size, deeper K blocks
// read and write every tile of C fewer times (once per K block) and read A more often
// (once per N block). The float32 paths take 1024 x 128. On AVX-512 the A micro-panel
// (12 rows of 1024, 48 KiB) no longer stays in L1, but C, which comes from L3 or memory
// and is written back, moves half as often as with 512 x 256: alike on a quiet host and
// 2-4% faster with the other core loading memory; from Python on one thread, 2-2.5%
// faster at 1024³ and 2048³. On AVX2 (6 rows of 1024, 24 KiB, in L1) C moves a quarter
// as often as with 256 x 512: alike to 4% faster from 512x2048x2048 to 2048³. The
// bfloat16 path keeps 1024 x 256 (2048 x 128 measured 0-3% slower). The few-rows
// schedule keeps the K blocks it had (512 float32 on AVX-512, 256 on AVX2): with 1024,
// at 64x4096x4096 from Python (B on 2 MiB pages), it measured 4.5% slower.
var (
	avx512Spec = kernelSpec{name: "avx512", mr: 12, nr: 32, kc: 1024, nc: 128, narrowKC: 512, mc: 12, run: sgemm512, smallMR: 4, small: sgemm512x4, gemv: &avx512Gemv, half: &avx512N16Spec}
	avx2Spec   = kernelSpec{name: "avx2", mr: 6, nr: 16, kc: 1024, nc: 128, narrowKC: 256, mc: 24, run: sgemm256, gemv: &avx2Gemv}
	// avx512N16Spec serves the transposed schedule when A's rows fill a 16-column
	// panel much better than a 32-column one (problem.transposed).
	avx512N16Spec = kernelSpec{name: "avx512n16", mr: 12, nr: 16, kc: 1024, nc: 128, narrowKC: 512, mc: 12, run: sgemm512n16}
	bf16Spec      = kernelSpec{name: "avx512bf16", mr: 12, nr: 32, kc: 1024, nc: 256, narrowKC: 1024, mc: 24, bf16: true, run: bgemm512, smallMR: 4, small: bgemm512x4, gemv: &bf16Gemv}
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
func sgemm512n16(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)

//go:noescape
func sgemm512x4(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)

//go:noescape
func bgemm512x4(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)
