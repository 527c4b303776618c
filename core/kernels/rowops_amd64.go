//go:build !purego

package kernels

import (
	"unsafe"

	xcpu "golang.org/x/sys/cpu"

	"github.com/mlxprim/mlxprim/core/cpu"
)

// The AVX-512 and AVX2 row primitives (rowops_avx512_amd64.s, rowops_avx2_amd64.s).
//
// Accuracy of the SIMD approximations (float32 results; rowops_test.go checks them):
//   - exp: Cody-Waite reduction and a degree-7 polynomial; within 1 ulp of the exact value
//     for results >= 2^-126 (measured 0.88 ulp), within 2^-149 for subnormal results;
//     exp(-Inf) = 0, exp(+Inf) = +Inf, NaN stays NaN.
//   - SiLU x/(1+exp(-x)) and GELU-tanh x/(1+exp(-2u)) (the same function as
//     0.5x(1+tanh(u)), u = sqrt(2/pi)(x+0.044715x^3)): exp plus one division.
//   - GELU x*Phi(x): Phi from erfc(z) = t*exp(-z^2 + E(t)), t = 1/(1+z/2), with the
//     degree-9 polynomial E of Numerical Recipes' erfcc (relative error below 1.2e-7), so
//     Phi keeps its relative accuracy in the lower tail.
//   - All three and their derivatives are within 3e-7 * max(1, |f(x)|) (derivatives
//     4e-7 * max(1, |f'(x)|)); measured worst cases 1.4e-7 and 2.3e-7.

// hasF16C says whether the AVX2 path may convert float16 in hardware.
var hasF16C = xcpu.X86.HasF16C

// kernelsFor returns the row kernels of path isa, in priority order.
func kernelsFor(isa cpu.ISA) *rowKernels {
	switch isa {
	case cpu.AVX512:
		return &avx512Kernels
	case cpu.AVX2:
		return &avx2Kernels
	}
	return &genericKernels
}

var avx512Kernels = rowKernels{
	f16ToF32:      f16ToF32AVX512,
	f32ToF16:      f32ToF16AVX512,
	bf16ToF32:     bf16ToF32AVX512,
	f32ToBF16:     f32ToBF16AVX512,
	f16ToF32Rows:  f16ToF32RowsAVX512,
	bf16ToF32Rows: bf16ToF32RowsAVX512,
	sum:           sumAVX512,
	sumSqDev:      sumSqDevAVX512,
	max:           maxAVX512,
	dot:           dotAVX512,
	sumSqDot:      sumSqDotAVX512,
	lnSums:        lnSumsAVX512,
	add:           addAVX512,
	mul:           mulAVX512,
	scaleShift:    scaleShiftAVX512,
	normAffine:    normAffineAVX512,
	div:           divAVX512,
	axpby:         axpbyAVX512,
	normGrad:      normGradAVX512,
	expSum:        expSumAVX512,
	softmaxRows:   softmaxRowsAVX512,
	act: [numActivations]func(dst, x, up []float32){
		SiLU:     siluAVX512,
		GELU:     geluAVX512,
		GELUTanh: geluTanhAVX512,
	},
	actGrad: [numActivations]func(a, da, x []float32){
		SiLU:     siluGradAVX512,
		GELU:     geluGradAVX512,
		GELUTanh: geluTanhGradAVX512,
	},
}

var avx2Kernels = rowKernels{
	f16ToF32:      pick(hasF16C, f16ToF32AVX2Tail, f16ToF32Generic),
	f16ToF32Rows:  pickRows(hasF16C, f16ToF32RowsAVX2, f16ToF32Generic),
	bf16ToF32Rows: pickRows(true, bf16ToF32RowsAVX2, bf16ToF32Generic),
	f32ToF16:      pick(hasF16C, f32ToF16AVX2Tail, f32ToF16Generic),
	bf16ToF32:     bf16ToF32AVX2Tail,
	f32ToBF16:     f32ToBF16AVX2Tail,
	sum:           sumAVX2,
	sumSqDev:      sumSqDevAVX2,
	max:           maxAVX2,
	dot:           dotAVX2,
	sumSqDot:      sumSqDotAVX2,
	lnSums:        lnSumsAVX2,
	add:           addAVX2,
	mul:           mulAVX2,
	scaleShift:    scaleShiftAVX2,
	normAffine:    normAffineAVX2,
	div:           divAVX2,
	axpby:         axpbyAVX2,
	normGrad:      normGradAVX2,
	expSum:        expSumAVX2,
	softmaxRows:   softmaxRowsAVX2,
	act: [numActivations]func(dst, x, up []float32){
		SiLU:     siluAVX2,
		GELU:     geluAVX2,
		GELUTanh: geluTanhAVX2,
	},
	actGrad: [numActivations]func(a, da, x []float32){
		SiLU:     siluGradAVX2,
		GELU:     geluGradAVX2,
		GELUTanh: geluTanhGradAVX2,
	},
}

func pick[T any](cond bool, yes, no T) T {
	if cond {
		return yes
	}
	return no
}

// The AVX2 16-bit conversions cover whole blocks of 8; the last few elements go through
// the generic loop, which rounds identically.

var f16ToF32AVX2Tail = blocksOf8(f16ToF32AVX2, f16ToF32Generic)

var f32ToF16AVX2Tail = blocksOf8(f32ToF16AVX2, f32ToF16Generic)

var bf16ToF32AVX2Tail = blocksOf8(bf16ToF32AVX2, bf16ToF32Generic)

var f32ToBF16AVX2Tail = blocksOf8(f32ToBF16AVX2, f32ToBF16Generic)

// Assembly routines; each is documented in its .s file by the Go loop it computes.

//go:noescape
func f16ToF32AVX512(dst []float32, src []uint16)

//go:noescape
func f32ToF16AVX512(dst []uint16, src []float32)

//go:noescape
func bf16ToF32AVX512(dst []float32, src []uint16)

//go:noescape
func f32ToBF16AVX512(dst []uint16, src []float32)

//go:noescape
func f16ToF32RowsAVX512(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols int)

//go:noescape
func bf16ToF32RowsAVX512(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols int)

//go:noescape
func f32ToF16NTAVX512(dst []uint16, src []float32)

//go:noescape
func f32ToBF16NTAVX512(dst []uint16, src []float32)

//go:noescape
func f32ToF16NTAVX2(dst []uint16, src []float32)

//go:noescape
func f32ToBF16NTAVX2(dst []uint16, src []float32)

//go:noescape
func sumAVX512(x []float32) float32

//go:noescape
func sumSqDevAVX512(x []float32, c float32) float32

//go:noescape
func maxAVX512(x []float32) float32

//go:noescape
func dotAVX512(x, y []float32) float32

//go:noescape
func addAVX512(dst, a, b []float32)

//go:noescape
func mulAVX512(dst, a, b []float32)

//go:noescape
func scaleShiftAVX512(dst, x []float32, c, s, b float32)

//go:noescape
func normAffineAVX512(dst, x []float32, c, s float32, w, b []float32)

//go:noescape
func divAVX512(dst, x []float32, t float32)

//go:noescape
func axpbyAVX512(dst, x, y []float32, a, b, c float32)

//go:noescape
func axpbyNTAVX512(dst, x, y []float32, a, b, c float32)

//go:noescape
func sumSqDotAVX512(h, dy, w []float32) (ss, c float32)

//go:noescape
func lnSumsAVX512(h, dy, w []float32, mean, r float32) (sg, sgx float32)

//go:noescape
func normGradAVX512(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)

//go:noescape
func normGradNTAVX512(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)

//go:noescape
func expSumAVX512(dst, x []float32, m float32, next []byte) float32

//go:noescape
func siluAVX512(dst, x, up []float32)

//go:noescape
func geluAVX512(dst, x, up []float32)

//go:noescape
func geluTanhAVX512(dst, x, up []float32)

//go:noescape
func siluGradAVX512(a, da, x []float32)

//go:noescape
func geluGradAVX512(a, da, x []float32)

//go:noescape
func geluTanhGradAVX512(a, da, x []float32)

//go:noescape
func f16ToF32AVX2(dst []float32, src []uint16)

//go:noescape
func f32ToF16AVX2(dst []uint16, src []float32)

//go:noescape
func bf16ToF32AVX2(dst []float32, src []uint16)

//go:noescape
func f32ToBF16AVX2(dst []uint16, src []float32)

//go:noescape
func sumAVX2(x []float32) float32

//go:noescape
func sumSqDevAVX2(x []float32, c float32) float32

//go:noescape
func maxAVX2(x []float32) float32

//go:noescape
func dotAVX2(x, y []float32) float32

//go:noescape
func addAVX2(dst, a, b []float32)

//go:noescape
func mulAVX2(dst, a, b []float32)

//go:noescape
func scaleShiftAVX2(dst, x []float32, c, s, b float32)

//go:noescape
func normAffineAVX2(dst, x []float32, c, s float32, w, b []float32)

//go:noescape
func divAVX2(dst, x []float32, t float32)

//go:noescape
func axpbyAVX2(dst, x, y []float32, a, b, c float32)

//go:noescape
func axpbyNTAVX2(dst, x, y []float32, a, b, c float32)

//go:noescape
func sumSqDotAVX2(h, dy, w []float32) (ss, c float32)

//go:noescape
func lnSumsAVX2(h, dy, w []float32, mean, r float32) (sg, sgx float32)

//go:noescape
func normGradAVX2(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)

//go:noescape
func normGradNTAVX2(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)

//go:noescape
func expSumAVX2(dst, x []float32, m float32, next []byte) float32

//go:noescape
func siluAVX2(dst, x, up []float32)

//go:noescape
func geluAVX2(dst, x, up []float32)

//go:noescape
func geluTanhAVX2(dst, x, up []float32)

//go:noescape
func siluGradAVX2(a, da, x []float32)

//go:noescape
func geluGradAVX2(a, da, x []float32)

//go:noescape
func geluTanhGradAVX2(a, da, x []float32)

// The streaming twins: scaleShift, normAffine, axpby, normGrad and act with non-temporal
// stores.
var avx512Stream, avx2Stream rowKernels

func init() {
	avx512Stream = avx512Kernels
	avx512Stream.scaleShift = streamScaleShift(scaleShiftAVX512, scaleShiftNTAVX512)
	avx512Stream.normAffine = streamNormAffine(normAffineAVX512, normAffineNTAVX512)
	avx512Stream.axpby = streamAxpby(axpbyAVX512, axpbyNTAVX512)
	avx512Stream.normGrad = streamNormGrad(normGradAVX512, normGradNTAVX512)
	avx512Stream.act = [numActivations]func(dst, x, up []float32){
		SiLU:     streamAct(siluAVX512, siluNTAVX512),
		GELU:     streamAct(geluAVX512, geluNTAVX512),
		GELUTanh: streamAct(geluTanhAVX512, geluTanhNTAVX512),
	}
	avx512Kernels.stream = &avx512Stream
	avx512Kernels.f32ToF16NT = streamNarrow(f32ToF16AVX512, f32ToF16NTAVX512, 32)
	avx512Kernels.f32ToBF16NT = streamNarrow(f32ToBF16AVX512, f32ToBF16NTAVX512, 32)
	if hasF16C {
		avx2Kernels.f32ToF16NT = streamNarrow(f32ToF16AVX2Tail, blocksOf8(f32ToF16NTAVX2, f32ToF16Generic), 16)
	}
	avx2Kernels.f32ToBF16NT = streamNarrow(f32ToBF16AVX2Tail, blocksOf8(f32ToBF16NTAVX2, f32ToBF16Generic), 16)

	avx2Stream = avx2Kernels
	avx2Stream.scaleShift = streamScaleShift(scaleShiftAVX2, scaleShiftNTAVX2)
	avx2Stream.normAffine = streamNormAffine(normAffineAVX2, normAffineNTAVX2)
	avx2Stream.axpby = streamAxpby(axpbyAVX2, axpbyNTAVX2)
	avx2Stream.normGrad = streamNormGrad(normGradAVX2, normGradNTAVX2)
	avx2Stream.act = [numActivations]func(dst, x, up []float32){
		SiLU:     streamAct(siluAVX2, siluNTAVX2),
		GELU:     streamAct(geluAVX2, geluNTAVX2),
		GELUTanh: streamAct(geluTanhAVX2, geluTanhNTAVX2),
	}
	avx2Kernels.stream = &avx2Stream
}

// alignedFrom returns how many leading elements of dst come before its first 64-byte
// boundary: those go through the cached kernel, the rest through the non-temporal one,
// whose stores need the alignment. A dst not aligned to 4 bytes never gets there.
func alignedFrom(dst []float32) int {
	return headElems(unsafe.Pointer(unsafe.SliceData(dst)), 4, 64, len(dst))
}

// headElems returns how many of the n elements of size bytes at p come before the first
// align-byte boundary (at most n; n when p is not aligned to size, so that no boundary
// is ever reached).
func headElems(p unsafe.Pointer, size, align, n int) int {
	a := int(uintptr(p))
	if a%size != 0 {
		return n
	}
	return min(n, (align-a%align)%align/size)
}

// split cuts an optional slice at h (nil stays nil).
func split(s []float32, h int) ([]float32, []float32) {
	if s == nil {
		return nil, nil
	}
	return s[:h], s[h:]
}

// streamNarrow is a narrowing conversion whose stores into dst from the first align-byte
// boundary on go through nt (non-temporal stores need the alignment), the ones before it
// through plain. A dst not aligned to its 2-byte elements never gets to nt.
func streamNarrow(plain, nt func(dst []uint16, src []float32), align int) func(dst []uint16, src []float32) {
	return func(dst []uint16, src []float32) {
		h := headElems(unsafe.Pointer(unsafe.SliceData(dst)), 2, align, len(src))
		plain(dst[:h], src[:h])
		nt(dst[h:len(src)], src[h:])
	}
}

// blocksOf8 runs kernel, which covers whole blocks of 8 elements, and rest on the others.
func blocksOf8[D, S any](kernel, rest func(dst []D, src []S)) func(dst []D, src []S) {
	return func(dst []D, src []S) {
		n := len(src) &^ 7
		kernel(dst[:n], src[:n])
		rest(dst[n:len(src)], src[n:])
	}
}

func streamScaleShift(plain, nt func(dst, x []float32, c, s, b float32)) func(dst, x []float32, c, s, b float32) {
	return func(dst, x []float32, c, s, b float32) {
		h := alignedFrom(dst[:len(x)])
		plain(dst[:h], x[:h], c, s, b)
		nt(dst[h:len(x)], x[h:], c, s, b)
	}
}

func streamAxpby(plain, nt func(dst, x, y []float32, a, b, c float32)) func(dst, x, y []float32, a, b, c float32) {
	return func(dst, x, y []float32, a, b, c float32) {
		h := alignedFrom(dst[:len(x)])
		plain(dst[:h], x[:h], y[:h], a, b, c)
		nt(dst[h:len(x)], x[h:], y[h:len(x)], a, b, c)
	}
}

func streamNormGrad(plain, nt func(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)) func(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32) {
	return func(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32) {
		n := len(h)
		k := alignedFrom(dst[:n])
		pw0, pw1 := split(pw, min(k, len(pw)))
		pb0, pb1 := split(pb, min(k, len(pb)))
		w0, w1 := split(w, min(k, len(w)))
		plain(dst[:k], pw0, pb0, h[:k], dy[:k], w0, mean, r, a, b, c)
		nt(dst[k:n], pw1, pb1, h[k:], dy[k:n], w1, mean, r, a, b, c)
	}
}

func streamNormAffine(plain, nt func(dst, x []float32, c, s float32, w, b []float32)) func(dst, x []float32, c, s float32, w, b []float32) {
	return func(dst, x []float32, c, s float32, w, b []float32) {
		h := alignedFrom(dst[:len(x)])
		w0, w1 := split(w, h)
		b0, b1 := split(b, h)
		plain(dst[:h], x[:h], c, s, w0, b0)
		nt(dst[h:len(x)], x[h:], c, s, w1, b1)
	}
}

func streamAct(plain, nt func(dst, x, up []float32)) func(dst, x, up []float32) {
	return func(dst, x, up []float32) {
		h := alignedFrom(dst[:len(x)])
		u0, u1 := split(up, h)
		plain(dst[:h], x[:h], u0)
		nt(dst[h:len(x)], x[h:], u1)
	}
}

//go:noescape
func scaleShiftNTAVX512(dst, x []float32, c, s, b float32)

//go:noescape
func normAffineNTAVX512(dst, x []float32, c, s float32, w, b []float32)

//go:noescape
func siluNTAVX512(dst, x, up []float32)

//go:noescape
func geluNTAVX512(dst, x, up []float32)

//go:noescape
func geluTanhNTAVX512(dst, x, up []float32)

//go:noescape
func scaleShiftNTAVX2(dst, x []float32, c, s, b float32)

//go:noescape
func normAffineNTAVX2(dst, x []float32, c, s float32, w, b []float32)

//go:noescape
func siluNTAVX2(dst, x, up []float32)

//go:noescape
func geluNTAVX2(dst, x, up []float32)

//go:noescape
func geluTanhNTAVX2(dst, x, up []float32)

// Prefetch asks the CPU to bring the n bytes at address addr into the cache. It is only a
// hint: any address may be given (an address, not a pointer, so that one past the end of
// an allocation is no pointer arithmetic), and nothing changes value.
//
//go:noescape
func Prefetch(addr uintptr, n int)

//go:noescape
func softmaxRowsAVX512(dst, x *float32, rows, n, ldd, ldx int)

//go:noescape
func softmaxRowsAVX2(dst, x *float32, rows, n, ldd, ldx int)

//go:noescape
func f16ToF32RowsAVX2(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols8 int)

//go:noescape
func bf16ToF32RowsAVX2(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols8 int)

// pickRows returns a strided widening from the AVX2 kernel asm, which converts whole
// blocks of 8 of each row, and tail, which converts the rest of each row; nil when ok is
// false (the path has no such conversion).
func pickRows(ok bool, asm func(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols8 int), tail func(dst []float32, src []uint16)) func(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols int) {
	if !ok {
		return nil
	}
	return func(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols int) {
		c8 := cols &^ 7
		asm(dst, lddBytes, src, ldsBytes, rows, c8)
		if c8 == cols {
			return
		}
		for r := range rows {
			d := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(dst), r*lddBytes)), cols)
			h := unsafe.Slice((*uint16)(unsafe.Add(src, r*ldsBytes)), cols)
			tail(d[c8:], h[c8:])
		}
	}
}
