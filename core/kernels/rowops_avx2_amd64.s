//go:build !purego

#include "textflag.h"
#include "rowops_amd64.h"

// AVX2 + FMA row primitives. Each routine is the generic Go loop named in its comment
// (rowops_generic.go), 8 float32 lanes at a time. Float32 loops end with one masked block
// (VMASKMOVPS with a mask from tail256), so no element outside the slices is touched; the
// 16-bit conversions handle only whole blocks of 8 and leave the rest to the Go wrapper.
// The order of a reduction depends only on the length.

// C8 stores one float32 constant in all 8 lanes of a 32-byte slot of c256, so that it can be
// a full-width memory operand.
#define C8(off, v) \
	DATA c256<>+(off)(SB)/4, v; \
	DATA c256<>+(off+4)(SB)/4, v; \
	DATA c256<>+(off+8)(SB)/4, v; \
	DATA c256<>+(off+12)(SB)/4, v; \
	DATA c256<>+(off+16)(SB)/4, v; \
	DATA c256<>+(off+20)(SB)/4, v; \
	DATA c256<>+(off+24)(SB)/4, v; \
	DATA c256<>+(off+28)(SB)/4, v

#define ONE 0 // one
#define LOG2E 32 // log2(e)
#define EXPHI 64 // exp input clamp high: exp(89) overflows to +Inf
#define EXPLO 96 // exp input clamp low: exp(-150) rounds to 0
#define LN2HI 128 // ln2 high part (Cody-Waite)
#define LN2LO 160 // ln2 low part
#define EXPP0 192 // exp polynomial (Cephes expf), r^7 .. r^2 terms
#define EXPP1 224
#define EXPP2 256
#define EXPP3 288
#define EXPP4 320
#define EXPP5 352
#define NEGINF 384 // -Inf
#define HALF 416
#define INVSQRT2 448 // 1/sqrt(2)
#define ERF0 480 // erfc(z) = t*exp(-z*z + E(t)), t = 1/(1+z/2):
#define ERF1 512 // E(t) = e0 + e1 t + ... + e9 t^9
#define ERF2 544
#define ERF3 576
#define ERF4 608
#define ERF5 640
#define ERF6 672
#define ERF7 704
#define ERF8 736
#define ERF9 768
#define GTK0 800 // -2*sqrt(2/pi)
#define GTK1 832 // -2*sqrt(2/pi)*0.044715
#define GTD0 864 // d(2u)/dx = 2*sqrt(2/pi)*(1 + 3*0.044715 x^2)
#define GTD1 896
#define INVSQRT2PI 928 // 1/sqrt(2*pi)
#define X2MAX 960 // x^2 cap in the GELU-tanh derivative
#define ABS 992 // all but the sign bit
#define SIGN 1024 // sign bit
#define INFBITS 1056 // +Inf bits (bfloat16 NaN test)
#define BF16BIAS 1088 // bfloat16 rounding bias
#define INT1 1120
#define BF16QNAN 1152 // bfloat16 quiet-NaN bit (after >> 16)
#define BIAS127 1184 // float32 exponent bias

C8(ONE, $1.0)
C8(LOG2E, $1.44269504088896341)
C8(EXPHI, $89.0)
C8(EXPLO, $-150.0)
C8(LN2HI, $0.693359375)
C8(LN2LO, $-2.12194440e-4)
C8(EXPP0, $1.9875691500e-4)
C8(EXPP1, $1.3981999507e-3)
C8(EXPP2, $8.3334519073e-3)
C8(EXPP3, $4.1665795894e-2)
C8(EXPP4, $1.6666665459e-1)
C8(EXPP5, $5.0000001201e-1)
C8(NEGINF, $0xff800000)
C8(HALF, $0.5)
C8(INVSQRT2, $0.70710678118654752)
C8(ERF0, $-1.26551223)
C8(ERF1, $1.00002368)
C8(ERF2, $0.37409196)
C8(ERF3, $0.09678418)
C8(ERF4, $-0.18628806)
C8(ERF5, $0.27886807)
C8(ERF6, $-1.13520398)
C8(ERF7, $1.48851587)
C8(ERF8, $-0.82215223)
C8(ERF9, $0.17087277)
C8(GTK0, $-1.5957691216057308)
C8(GTK1, $-0.07135481627260025)
C8(GTD0, $1.5957691216057308)
C8(GTD1, $0.21406444881780076)
C8(INVSQRT2PI, $0.3989422804014327)
C8(X2MAX, $1e8)
C8(ABS, $0x7fffffff)
C8(SIGN, $0x80000000)
C8(INFBITS, $0x7f800000)
C8(BF16BIAS, $0x00007fff)
C8(INT1, $0x00000001)
C8(BF16QNAN, $0x00000040)
C8(BIAS127, $0x0000007f)
GLOBL c256<>(SB), RODATA|NOPTR, $1216

// tail256 holds 8 all-ones lanes then 8 zero lanes: the 32 bytes at tail256+32-4k are a
// VMASKMOVPS mask selecting the first k lanes.
DATA tail256<>+0(SB)/8, $-1
DATA tail256<>+8(SB)/8, $-1
DATA tail256<>+16(SB)/8, $-1
DATA tail256<>+24(SB)/8, $-1
DATA tail256<>+32(SB)/8, $0
DATA tail256<>+40(SB)/8, $0
DATA tail256<>+48(SB)/8, $0
DATA tail256<>+56(SB)/8, $0
GLOBL tail256<>(SB), RODATA|NOPTR, $64

// ones8 stands in for an absent weight vector (read with stride 0): multiplying by 1
// changes no value.
DATA ones8<>+0(SB)/8, $0x3f8000003f800000
DATA ones8<>+8(SB)/8, $0x3f8000003f800000
DATA ones8<>+16(SB)/8, $0x3f8000003f800000
DATA ones8<>+24(SB)/8, $0x3f8000003f800000
GLOBL ones8<>(SB), RODATA|NOPTR, $32

#define K(off) c256<>+off(SB)

// TAILMASK sets Y13 to the mask of the first CX lanes (0 < CX < 8); AX and BX are clobbered.
#define TAILMASK \
	LEAQ tail256<>+32(SB), AX; \
	MOVQ CX, BX; \
	NEGQ BX; \
	VMOVDQU (AX)(BX*4), Y13

// EXP sets x = exp(x) (float32, max error 1 ulp for results >= 2^-126; NaN stays NaN,
// -Inf gives 0, +Inf gives +Inf); t1, t2, t3 are clobbered; needs Y14 = -150, Y15 = 89.
// x is clamped to [-150, 89] (keeping NaN), split as x = n*ln2 + r with |r| <= ln2/2, e^r
// comes from a degree-7 polynomial and 2^n is applied as 2^(n>>1) * 2^(n-(n>>1)), two
// exact powers of two, so underflow to subnormals rounds once, correctly.
#define EXP(x, t1, t2, t3) \
	VMAXPS x, Y14, x; \
	VMINPS x, Y15, x; \
	VMULPS K(LOG2E), x, t1; \
	VROUNDPS $0, t1, t1; \
	VFNMADD231PS K(LN2HI), t1, x; \
	VFNMADD231PS K(LN2LO), t1, x; \
	VMOVUPS K(EXPP0), t2; \
	VFMADD213PS K(EXPP1), x, t2; \
	VFMADD213PS K(EXPP2), x, t2; \
	VFMADD213PS K(EXPP3), x, t2; \
	VFMADD213PS K(EXPP4), x, t2; \
	VFMADD213PS K(EXPP5), x, t2; \
	VFMADD213PS K(ONE), x, t2; \
	VFMADD213PS K(ONE), x, t2; \
	VCVTPS2DQ t1, t1; \
	VPSRAD $1, t1, t3; \
	VPSUBD t3, t1, t1; \
	VPADDD K(BIAS127), t3, t3; \
	VPSLLD $23, t3, t3; \
	VPADDD K(BIAS127), t1, t1; \
	VPSLLD $23, t1, t1; \
	VMULPS t3, t2, t2; \
	VMULPS t1, t2, x

#define EXPCONSTS \
	VMOVUPS K(EXPLO), Y14; \
	VMOVUPS K(EXPHI), Y15

// HSUM sets X0 to the sum of the 8 lanes of Y0, in a fixed order; Y1 is clobbered.
#define HSUM \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VADDPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VADDSS X1, X0, X0

// HMAX sets X0 to the largest of the 8 lanes of Y0 (none is NaN); Y1 is clobbered.
#define HMAX \
	VEXTRACTF128 $1, Y0, X1; \
	VMAXPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VMAXPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VMAXSS X1, X0, X0

// MAX_CORE sets X0 to the largest of the CX floats at SI (maxAVX2's loop; NaN is
// skipped); Y0..Y7, Y13, AX, BX, SI and CX are clobbered.
#define MAX_CORE \
	VMOVUPS K(NEGINF), Y0; \
	VMOVUPS Y0, Y1; \
	VMOVUPS Y0, Y2; \
	VMOVUPS Y0, Y3; \
	CMPQ CX, $32; \
	JLT mxsingle; \
mxloop32: \
	VMOVUPS (SI), Y4; \
	VMOVUPS 32(SI), Y5; \
	VMOVUPS 64(SI), Y6; \
	VMOVUPS 96(SI), Y7; \
	VMAXPS Y0, Y4, Y0; \
	VMAXPS Y1, Y5, Y1; \
	VMAXPS Y2, Y6, Y2; \
	VMAXPS Y3, Y7, Y3; \
	ADDQ $128, SI; \
	SUBQ $32, CX; \
	CMPQ CX, $32; \
	JGE mxloop32; \
mxsingle: \
	CMPQ CX, $8; \
	JLT mxtail; \
mxloop8: \
	VMOVUPS (SI), Y4; \
	VMAXPS Y0, Y4, Y0; \
	ADDQ $32, SI; \
	SUBQ $8, CX; \
	CMPQ CX, $8; \
	JGE mxloop8; \
mxtail: \
	TESTQ CX, CX; \
	JLE mxreduce; \
	TAILMASK; \
	VMASKMOVPS (SI), Y13, Y4; \
	VMOVUPS K(NEGINF), Y5; \
	VBLENDVPS Y13, Y4, Y5, Y4; \
	VMAXPS Y0, Y4, Y0; \
mxreduce: \
	VMAXPS Y1, Y0, Y0; \
	VMAXPS Y3, Y2, Y2; \
	VMAXPS Y2, Y0, Y0; \
	HMAX

// EXPSUM_CORE is expSumAVX2's loop: exp(x - m) of the CX floats at SI, m in Y10,
// stored to DI unless it is 0, summed into X0; each block prefetches the next 32 bytes of
// the R9 bytes at DX. EXPCONSTS must be loaded; Y0..Y5, Y13, AX, BX, SI, DI, CX, DX and
// R9 are clobbered.
#define EXPSUM_CORE \
	VXORPS Y0, Y0, Y0; \
	CMPQ CX, $8; \
	JLT extail; \
exloop: \
	TESTQ R9, R9; \
	JLE exexps; \
	PREFETCHT1 (DX); \
	ADDQ $32, DX; \
	SUBQ $32, R9; \
exexps: \
	VMOVUPS (SI), Y2; \
	VSUBPS Y10, Y2, Y2; \
	EXP(Y2, Y3, Y4, Y5); \
	VADDPS Y2, Y0, Y0; \
	TESTQ DI, DI; \
	JZ exnext; \
	VMOVUPS Y2, (DI); \
	ADDQ $32, DI; \
exnext: \
	ADDQ $32, SI; \
	SUBQ $8, CX; \
	CMPQ CX, $8; \
	JGE exloop; \
extail: \
	TESTQ CX, CX; \
	JLE exreduce; \
	TAILMASK; \
	VMASKMOVPS (SI), Y13, Y2; \
	VSUBPS Y10, Y2, Y2; \
	EXP(Y2, Y3, Y4, Y5); \
	VANDPS Y13, Y2, Y2; \
	VADDPS Y2, Y0, Y0; \
	TESTQ DI, DI; \
	JZ exreduce; \
	VMASKMOVPS Y2, Y13, (DI); \
exreduce: \
	HSUM

// WIDEN_ROWS8(conv) is the body of the strided widening kernels: for each of rows rows
// (dst lddBytes apart, src ldsBytes apart), the cols8/8 blocks of 8 halves converted by
// conv (the 8 halves at SI into Y0), stored as float32. Defined before the first routine,
// where go vet's frame check does not take it for part of one.
#define WIDEN_ROWS8(conv) \
	MOVQ dst+0(FP), R8; \
	MOVQ lddBytes+8(FP), R11; \
	MOVQ src+16(FP), R9; \
	MOVQ ldsBytes+24(FP), R12; \
	MOVQ rows+32(FP), R10; \
	MOVQ cols8+40(FP), R13; \
	SHRQ $3, R13; \
	TESTQ R10, R10; \
	JLE  wrdone; \
	TESTQ R13, R13; \
	JLE  wrdone; \
wrrow: \
	MOVQ R8, DI; \
	MOVQ R9, SI; \
	MOVQ R13, CX; \
wrblock: \
	conv; \
	VMOVUPS Y0, (DI); \
	ADDQ $16, SI; \
	ADDQ $32, DI; \
	DECQ CX; \
	JNZ  wrblock; \
	ADDQ R11, R8; \
	ADDQ R12, R9; \
	DECQ R10; \
	JNZ  wrrow; \
wrdone: \
	VZEROUPPER; \
	RET

#define F16Y VCVTPH2PS (SI), Y0
#define BF16Y VPMOVZXWD (SI), Y0; VPSLLD $16, Y0, Y0

// func f16ToF32RowsAVX2(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols8 int)
// f16ToF32AVX2 on rows rows (dst lddBytes apart, src ldsBytes apart) of cols8 halves
// (a multiple of 8).
TEXT ·f16ToF32RowsAVX2(SB), NOSPLIT, $0-48
	WIDEN_ROWS8(F16Y)

// func bf16ToF32RowsAVX2(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols8 int)
// bf16ToF32AVX2 on rows as f16ToF32RowsAVX2 takes them.
TEXT ·bf16ToF32RowsAVX2(SB), NOSPLIT, $0-48
	WIDEN_ROWS8(BF16Y)

// func f16ToF32AVX2(dst []float32, src []uint16)
// for j, h := range src[:len(src)&^7] { dst[j] = F16ToF32(h) }
TEXT ·f16ToF32AVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $3, CX
	JZ done
loop:
	VCVTPH2PS (SI), Y0
	VMOVUPS Y0, (DI)
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// NARROW8(body, fence) is the loop of the narrowing conversions: body converts the 8
// float32 at (SI) and stores them at (DI), for each whole block of 8; fence ends the
// loop (SFENCE after non-temporal stores, else NOP).
#define NARROW8(body, fence) \
	MOVQ dst_base+0(FP), DI; \
	MOVQ src_base+24(FP), SI; \
	MOVQ src_len+32(FP), CX; \
	SHRQ $3, CX; \
	JZ   done; \
loop: \
	body; \
	ADDQ $32, SI; \
	ADDQ $16, DI; \
	DECQ CX; \
	JNZ  loop; \
	fence; \
done: \
	VZEROUPPER; \
	RET

#define TOF16Y VMOVUPS (SI), Y0; VCVTPS2PH $0, Y0, (DI)

// func f32ToF16AVX2(dst []uint16, src []float32)
// for j, v := range src[:len(src)&^7] { dst[j] = F32ToF16(v) }   (round to nearest even)
TEXT ·f32ToF16AVX2(SB), NOSPLIT, $0-48
	NARROW8(TOF16Y, NOP)

#define TOF16Y_NT VMOVUPS (SI), Y0; VCVTPS2PH $0, Y0, X0; VMOVNTDQ X0, (DI)

// func f32ToF16NTAVX2(dst []uint16, src []float32)
// f32ToF16AVX2 with non-temporal stores; dst 16-byte aligned.
TEXT ·f32ToF16NTAVX2(SB), NOSPLIT, $0-48
	NARROW8(TOF16Y_NT, SFENCE)

// func bf16ToF32AVX2(dst []float32, src []uint16)
// for j, h := range src[:len(src)&^7] { dst[j] = BF16ToF32(h) }   (h << 16)
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	SHRQ $3, CX
	JZ done
loop:
	VPMOVZXWD (SI), Y0
	VPSLLD $16, Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// TOBF16Y rounds the 8 float32 in Y0 to bfloat16, packed into X3 (see f32ToBF16AVX2).
// Uses Y1-Y5.
#define TOBF16Y \
	VPSRLD $16, Y0, Y1; \
	VPAND K(INT1), Y1, Y2; \
	VPADDD K(BF16BIAS), Y0, Y3; \
	VPADDD Y2, Y3, Y3; \
	VPSRLD $16, Y3, Y3; \
	VPAND K(ABS), Y0, Y4; \
	VPCMPGTD K(INFBITS), Y4, Y4; \
	VPOR K(BF16QNAN), Y1, Y1; \
	VPBLENDVB Y4, Y1, Y3, Y3; \
	VEXTRACTI128 $1, Y3, X5; \
	VPACKUSDW X5, X3, X3

#define TOBF16Y_STORE VMOVDQU (SI), Y0; TOBF16Y; VMOVDQU X3, (DI)

// func f32ToBF16AVX2(dst []uint16, src []float32)
// for j, v := range src[:len(src)&^7] { dst[j] = F32ToBF16(v) }
// Round to nearest even on the bits: (b + 0x7fff + (b>>16)&1) >> 16; a NaN keeps its top
// bits with the quiet bit set: b>>16 | 0x40.
TEXT ·f32ToBF16AVX2(SB), NOSPLIT, $0-48
	NARROW8(TOBF16Y_STORE, NOP)

#define TOBF16Y_NT VMOVDQU (SI), Y0; TOBF16Y; VMOVNTDQ X3, (DI)

// func f32ToBF16NTAVX2(dst []uint16, src []float32)
// f32ToBF16AVX2 with non-temporal stores; dst 16-byte aligned.
TEXT ·f32ToBF16NTAVX2(SB), NOSPLIT, $0-48
	NARROW8(TOBF16Y_NT, SFENCE)

// func sumAVX2(x []float32) float32
// var s float32; for _, v := range x { s += v }; return s
// (four accumulators of 8 lanes, then one, then a fixed-order horizontal sum)
TEXT ·sumAVX2(SB), NOSPLIT, $0-28
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ CX, $32
	JLT single
loop32:
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ $128, SI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE loop32
single:
	CMPQ CX, $8
	JLT tail
loop8:
	VADDPS (SI), Y0, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop8
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMASKMOVPS (SI), Y13, Y4
	VADDPS Y4, Y0, Y0
reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func sumSqDevAVX2(x []float32, c float32) float32
// var s float32; for _, v := range x { d := v - c; s += d * d }; return s
TEXT ·sumSqDevAVX2(SB), NOSPLIT, $0-36
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	VBROADCASTSS c+24(FP), Y12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ CX, $32
	JLT single
loop32:
	VSUBPS (SI), Y12, Y4
	VSUBPS 32(SI), Y12, Y5
	VSUBPS 64(SI), Y12, Y6
	VSUBPS 96(SI), Y12, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ $128, SI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE loop32
single:
	CMPQ CX, $8
	JLT tail
loop8:
	VSUBPS (SI), Y12, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop8
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMASKMOVPS (SI), Y13, Y4
	VSUBPS Y4, Y12, Y4
	VANDPS Y13, Y4, Y4
	VFMADD231PS Y4, Y4, Y0
reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// func maxAVX2(x []float32) float32
// m := -Inf; for _, v := range x { if v > m { m = v } }; return m
// (VMAXPS returns its accumulator operand when the new element is NaN, so NaN is skipped)
TEXT ·maxAVX2(SB), NOSPLIT, $0-28
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MAX_CORE
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotAVX2(x, y []float32) float32
// var s float32; for j, v := range x { s += v * y[j] }; return s
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ y_base+24(FP), DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ CX, $32
	JLT single
loop32:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DX), Y4, Y0
	VFMADD231PS 32(DX), Y5, Y1
	VFMADD231PS 64(DX), Y6, Y2
	VFMADD231PS 96(DX), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DX
	SUBQ $32, CX
	CMPQ CX, $32
	JGE loop32
single:
	CMPQ CX, $8
	JLT tail
loop8:
	VMOVUPS (SI), Y4
	VFMADD231PS (DX), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop8
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMASKMOVPS (SI), Y13, Y4
	VMASKMOVPS (DX), Y13, Y5
	VFMADD231PS Y5, Y4, Y0
reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VMOVSS X0, ret+48(FP)
	VZEROUPPER
	RET

// The elementwise kernels below share one shape: whole blocks of 8 with plain loads and
// stores, then the last partial block with VMASKMOVPS (mask in Y13).

// func addAVX2(dst, a, b []float32)
// for j, v := range a { dst[j] = v + b[j] }
TEXT ·addAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ a_base+24(FP), SI
	MOVQ a_len+32(FP), CX
	MOVQ b_base+48(FP), DX
	CMPQ CX, $8
	JLT tail
loop:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop
tail:
	TESTQ CX, CX
	JLE done
	TAILMASK
	VMASKMOVPS (SI), Y13, Y0
	VMASKMOVPS (DX), Y13, Y1
	VADDPS Y1, Y0, Y0
	VMASKMOVPS Y0, Y13, (DI)
done:
	VZEROUPPER
	RET

// func mulAVX2(dst, a, b []float32)
// for j, v := range a { dst[j] = v * b[j] }
TEXT ·mulAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ a_base+24(FP), SI
	MOVQ a_len+32(FP), CX
	MOVQ b_base+48(FP), DX
	CMPQ CX, $8
	JLT tail
loop:
	VMOVUPS (SI), Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop
tail:
	TESTQ CX, CX
	JLE done
	TAILMASK
	VMASKMOVPS (SI), Y13, Y0
	VMASKMOVPS (DX), Y13, Y1
	VMULPS Y1, Y0, Y0
	VMASKMOVPS Y0, Y13, (DI)
done:
	VZEROUPPER
	RET

// SCALESHIFTLOOP is the loop of scaleShift: whole blocks stored with the instruction store,
// fence at the end (SFENCE after non-temporal stores, else NOP, which assembles to
// nothing). Expects DI, SI, CX set, c, s, b in Y10..Y12 and R9 = 0 when b is +-0 (then
// nothing is added).
#define SCALESHIFTLOOP(store, fence) \
	CMPQ CX, $8; \
	JLT tail; \
loop: \
	VMOVUPS (SI), Y0; \
	VSUBPS Y10, Y0, Y0; \
	VMULPS Y11, Y0, Y0; \
	TESTL R9, R9; \
	JZ full; \
	VADDPS Y12, Y0, Y0; \
full: \
	store Y0, (DI); \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	SUBQ $8, CX; \
	CMPQ CX, $8; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	VMASKMOVPS (SI), Y13, Y0; \
	VSUBPS Y10, Y0, Y0; \
	VMULPS Y11, Y0, Y0; \
	TESTL R9, R9; \
	JZ part; \
	VADDPS Y12, Y0, Y0; \
part: \
	VMASKMOVPS Y0, Y13, (DI); \
done: \
	fence; \
	VZEROUPPER; \
	RET

// func scaleShiftAVX2(dst, x []float32, c, s, b float32)
// for j, v := range x { y := (v - c) * s; if b != 0 { y += b }; dst[j] = y }
TEXT ·scaleShiftAVX2(SB), NOSPLIT, $0-60
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS c+48(FP), Y10
	VBROADCASTSS s+52(FP), Y11
	VBROADCASTSS b+56(FP), Y12
	MOVL b+56(FP), R9
	ANDL $0x7fffffff, R9 // zero when b is +0 or -0: nothing is added
	SCALESHIFTLOOP(VMOVUPS, NOP)

// func scaleShiftNTAVX2(dst, x []float32, c, s, b float32)
// scaleShiftAVX2 with non-temporal stores of the whole blocks; dst must be 32-byte aligned.
TEXT ·scaleShiftNTAVX2(SB), NOSPLIT, $0-60
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS c+48(FP), Y10
	VBROADCASTSS s+52(FP), Y11
	VBROADCASTSS b+56(FP), Y12
	MOVL b+56(FP), R9
	ANDL $0x7fffffff, R9 // zero when b is +0 or -0: nothing is added
	SCALESHIFTLOOP(VMOVNTPS, SFENCE)

// AFFINELOOP is the loop of normAffine, stores and fence as in SCALESHIFTLOOP. Expects
// DI, SI, CX, DX (w or 0), R8 (b or 0) set and c, s in Y10, Y11.
#define AFFINELOOP(store, fence) \
	CMPQ CX, $8; \
	JLT tail; \
loop: \
	VMOVUPS (SI), Y0; \
	VSUBPS Y10, Y0, Y0; \
	VMULPS Y11, Y0, Y0; \
	TESTQ DX, DX; \
	JZ now; \
	VMULPS (DX), Y0, Y0; \
	ADDQ $32, DX; \
now: \
	TESTQ R8, R8; \
	JZ nob; \
	VADDPS (R8), Y0, Y0; \
	ADDQ $32, R8; \
nob: \
	store Y0, (DI); \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	SUBQ $8, CX; \
	CMPQ CX, $8; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	VMASKMOVPS (SI), Y13, Y0; \
	VSUBPS Y10, Y0, Y0; \
	VMULPS Y11, Y0, Y0; \
	TESTQ DX, DX; \
	JZ tailnow; \
	VMASKMOVPS (DX), Y13, Y1; \
	VMULPS Y1, Y0, Y0; \
tailnow: \
	TESTQ R8, R8; \
	JZ tailnob; \
	VMASKMOVPS (R8), Y13, Y1; \
	VADDPS Y1, Y0, Y0; \
tailnob: \
	VMASKMOVPS Y0, Y13, (DI); \
done: \
	fence; \
	VZEROUPPER; \
	RET

// func normAffineAVX2(dst, x []float32, c, s float32, w, b []float32)
// for j, v := range x { y := (v - c) * s; if w != nil { y *= w[j] }; if b != nil { y += b[j] }; dst[j] = y }
TEXT ·normAffineAVX2(SB), NOSPLIT, $0-104
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS c+48(FP), Y10
	VBROADCASTSS s+52(FP), Y11
	MOVQ w_base+56(FP), DX
	MOVQ b_base+80(FP), R8
	AFFINELOOP(VMOVUPS, NOP)

// func normAffineNTAVX2(dst, x []float32, c, s float32, w, b []float32)
// normAffineAVX2 with non-temporal stores of the whole blocks; dst must be 32-byte aligned.
TEXT ·normAffineNTAVX2(SB), NOSPLIT, $0-104
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS c+48(FP), Y10
	VBROADCASTSS s+52(FP), Y11
	MOVQ w_base+56(FP), DX
	MOVQ b_base+80(FP), R8
	AFFINELOOP(VMOVNTPS, SFENCE)

// func divAVX2(dst, x []float32, t float32)
// for j, v := range x { dst[j] = v / t }
TEXT ·divAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS t+48(FP), Y10
	CMPQ CX, $8
	JLT tail
loop:
	VMOVUPS (SI), Y0
	VDIVPS Y10, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop
tail:
	TESTQ CX, CX
	JLE done
	TAILMASK
	VMASKMOVPS (SI), Y13, Y0
	VDIVPS Y10, Y0, Y0
	VMASKMOVPS Y0, Y13, (DI)
done:
	VZEROUPPER
	RET

// AXPBYLOOP is the loop of axpby: store writes the whole blocks, fence ends the routine
// (as in SCALESHIFTLOOP). Expects DI, SI, DX, CX set and a, b, c in Y10, Y11, Y12.
#define AXPBYLOOP(store, fence) \
	CMPQ CX, $8; \
	JLT tail; \
loop: \
	VMULPS (SI), Y10, Y0; \
	VMULPS (DX), Y11, Y1; \
	VADDPS Y1, Y0, Y0; \
	VADDPS Y12, Y0, Y0; \
	store Y0, (DI); \
	ADDQ $32, SI; \
	ADDQ $32, DX; \
	ADDQ $32, DI; \
	SUBQ $8, CX; \
	CMPQ CX, $8; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	VMASKMOVPS (SI), Y13, Y0; \
	VMASKMOVPS (DX), Y13, Y1; \
	VMULPS Y10, Y0, Y0; \
	VMULPS Y11, Y1, Y1; \
	VADDPS Y1, Y0, Y0; \
	VADDPS Y12, Y0, Y0; \
	VMASKMOVPS Y0, Y13, (DI); \
done: \
	fence; \
	VZEROUPPER; \
	RET

// func axpbyAVX2(dst, x, y []float32, a, b, c float32)
// for j, v := range x { dst[j] = (v*a + y[j]*b) + c }   (each operation rounded)
TEXT ·axpbyAVX2(SB), NOSPLIT, $0-84
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ y_base+48(FP), DX
	VBROADCASTSS a+72(FP), Y10
	VBROADCASTSS b+76(FP), Y11
	VBROADCASTSS c+80(FP), Y12
	AXPBYLOOP(VMOVUPS, NOP)

// func axpbyNTAVX2(dst, x, y []float32, a, b, c float32)
// axpbyAVX2 with non-temporal stores of the whole blocks; dst must be 32-byte aligned.
TEXT ·axpbyNTAVX2(SB), NOSPLIT, $0-84
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ y_base+48(FP), DX
	VBROADCASTSS a+72(FP), Y10
	VBROADCASTSS b+76(FP), Y11
	VBROADCASTSS c+80(FP), Y12
	AXPBYLOOP(VMOVNTPS, SFENCE)

// func sumSqDotAVX2(h, dy, w []float32) (ss, c float32)
// sumSqDotAVX512 (which see) on 8 lanes.
TEXT ·sumSqDotAVX2(SB), NOSPLIT, $0-80
	MOVQ h_base+0(FP), SI
	MOVQ h_len+8(FP), CX
	MOVQ dy_base+24(FP), DX
	MOVQ w_base+48(FP), R8
	MOVQ w_len+56(FP), R9
	MOVQ $32, R10
	XORQ BX, BX
	LEAQ ones8<>(SB), AX
	TESTQ R9, R9
	CMOVQEQ AX, R8
	CMOVQEQ BX, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ CX, $16
	JLT single
loop16:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS (DX), Y6
	VMOVUPS 32(DX), Y7
	VMULPS (R8), Y6, Y6
	VMULPS (R8)(R10*1), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y4, Y2
	VFMADD231PS Y7, Y5, Y3
	ADDQ $64, SI
	ADDQ $64, DX
	LEAQ (R8)(R10*2), R8
	SUBQ $16, CX
	CMPQ CX, $16
	JGE loop16
single:
	CMPQ CX, $8
	JLT tail
	VMOVUPS (SI), Y4
	VMOVUPS (DX), Y6
	VMULPS (R8), Y6, Y6
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y6, Y4, Y2
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ R10, R8
	SUBQ $8, CX
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMASKMOVPS (SI), Y13, Y4
	VMASKMOVPS (DX), Y13, Y6
	VMASKMOVPS (R8), Y13, Y7
	VMULPS Y7, Y6, Y6
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y6, Y4, Y2
reduce:
	VADDPS Y3, Y2, Y2
	VADDPS Y1, Y0, Y0
	HSUM
	VMOVSS X0, ss+72(FP)
	VMOVAPS Y2, Y0
	HSUM
	VMOVSS X0, c+76(FP)
	VZEROUPPER
	RET

// func lnSumsAVX2(h, dy, w []float32, mean, r float32) (sg, sgx float32)
// lnSumsAVX512 (which see) on 8 lanes.
TEXT ·lnSumsAVX2(SB), NOSPLIT, $0-88
	MOVQ h_base+0(FP), SI
	MOVQ h_len+8(FP), CX
	MOVQ dy_base+24(FP), DX
	MOVQ w_base+48(FP), R8
	MOVQ w_len+56(FP), R9
	VBROADCASTSS mean+72(FP), Y10
	VBROADCASTSS r+76(FP), Y11
	MOVQ $32, R10
	XORQ BX, BX
	LEAQ ones8<>(SB), AX
	TESTQ R9, R9
	CMOVQEQ AX, R8
	CMOVQEQ BX, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ CX, $16
	JLT single
loop16:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VSUBPS Y10, Y4, Y4
	VSUBPS Y10, Y5, Y5
	VMULPS Y11, Y4, Y4
	VMULPS Y11, Y5, Y5
	VMOVUPS (DX), Y6
	VMOVUPS 32(DX), Y7
	VMULPS (R8), Y6, Y6
	VMULPS (R8)(R10*1), Y7, Y7
	VADDPS Y6, Y0, Y0
	VADDPS Y7, Y1, Y1
	VFMADD231PS Y6, Y4, Y2
	VFMADD231PS Y7, Y5, Y3
	ADDQ $64, SI
	ADDQ $64, DX
	LEAQ (R8)(R10*2), R8
	SUBQ $16, CX
	CMPQ CX, $16
	JGE loop16
single:
	CMPQ CX, $8
	JLT tail
	VMOVUPS (SI), Y4
	VSUBPS Y10, Y4, Y4
	VMULPS Y11, Y4, Y4
	VMOVUPS (DX), Y6
	VMULPS (R8), Y6, Y6
	VADDPS Y6, Y0, Y0
	VFMADD231PS Y6, Y4, Y2
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ R10, R8
	SUBQ $8, CX
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMASKMOVPS (SI), Y13, Y4
	VSUBPS Y10, Y4, Y4
	VMULPS Y11, Y4, Y4
	VANDPS Y13, Y4, Y4
	VMASKMOVPS (DX), Y13, Y6
	VMASKMOVPS (R8), Y13, Y7
	VMULPS Y7, Y6, Y6
	VADDPS Y6, Y0, Y0
	VFMADD231PS Y6, Y4, Y2
reduce:
	VADDPS Y3, Y2, Y2
	VADDPS Y1, Y0, Y0
	HSUM
	VMOVSS X0, sg+80(FP)
	VMOVAPS Y2, Y0
	HSUM
	VMOVSS X0, sgx+84(FP)
	VZEROUPPER
	RET

// NORMGRADLOOP is normGradAVX512's loop (which see) on 8 lanes: store writes dst's whole
// blocks, fence ends the routine. Expects DI, R11 (pw or 0), R12 (pb or 0), SI, DX, R8
// (w, or ones8 with R10 = 0), R10 (32), CX, and mean, r, a, b, c in Y10, Y11, Y12, Y14,
// Y15.
#define NORMGRADLOOP(store, fence) \
	CMPQ CX, $8; \
	JLT tail; \
loop: \
	VMOVUPS (SI), Y0; \
	VMOVUPS (DX), Y1; \
	VSUBPS Y10, Y0, Y0; \
	VMULPS Y11, Y0, Y0; \
	VMULPS (R8), Y1, Y2; \
	VMULPS Y12, Y2, Y2; \
	VMULPS Y14, Y0, Y3; \
	VADDPS Y3, Y2, Y2; \
	VADDPS Y15, Y2, Y2; \
	TESTQ R11, R11; \
	JZ nopw; \
	VMULPS Y0, Y1, Y4; \
	VADDPS (R11), Y4, Y4; \
	VMOVUPS Y4, (R11); \
	ADDQ $32, R11; \
nopw: \
	TESTQ R12, R12; \
	JZ nopb; \
	VADDPS (R12), Y1, Y4; \
	VMOVUPS Y4, (R12); \
	ADDQ $32, R12; \
nopb: \
	store Y2, (DI); \
	ADDQ $32, SI; \
	ADDQ $32, DX; \
	ADDQ $32, DI; \
	ADDQ R10, R8; \
	SUBQ $8, CX; \
	CMPQ CX, $8; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	VMASKMOVPS (SI), Y13, Y0; \
	VMASKMOVPS (DX), Y13, Y1; \
	VMASKMOVPS (R8), Y13, Y5; \
	VSUBPS Y10, Y0, Y0; \
	VMULPS Y11, Y0, Y0; \
	VMULPS Y5, Y1, Y2; \
	VMULPS Y12, Y2, Y2; \
	VMULPS Y14, Y0, Y3; \
	VADDPS Y3, Y2, Y2; \
	VADDPS Y15, Y2, Y2; \
	TESTQ R11, R11; \
	JZ tailnopw; \
	VMULPS Y0, Y1, Y4; \
	VMASKMOVPS (R11), Y13, Y5; \
	VADDPS Y5, Y4, Y4; \
	VMASKMOVPS Y4, Y13, (R11); \
tailnopw: \
	TESTQ R12, R12; \
	JZ tailnopb; \
	VMASKMOVPS (R12), Y13, Y5; \
	VADDPS Y5, Y1, Y4; \
	VMASKMOVPS Y4, Y13, (R12); \
tailnopb: \
	VMASKMOVPS Y2, Y13, (DI); \
done: \
	fence; \
	VZEROUPPER; \
	RET

// func normGradAVX2(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)
// normGradAVX512 (which see) on 8 lanes.
TEXT ·normGradAVX2(SB), NOSPLIT, $0-164
	MOVQ dst_base+0(FP), DI
	MOVQ pw_base+24(FP), R11
	MOVQ pw_len+32(FP), R9
	XORQ BX, BX
	TESTQ R9, R9
	CMOVQEQ BX, R11
	MOVQ pb_base+48(FP), R12
	MOVQ pb_len+56(FP), R9
	TESTQ R9, R9
	CMOVQEQ BX, R12
	MOVQ h_base+72(FP), SI
	MOVQ h_len+80(FP), CX
	MOVQ dy_base+96(FP), DX
	MOVQ w_base+120(FP), R8
	MOVQ w_len+128(FP), R9
	VBROADCASTSS mean+144(FP), Y10
	VBROADCASTSS r+148(FP), Y11
	VBROADCASTSS a+152(FP), Y12
	VBROADCASTSS b+156(FP), Y14
	VBROADCASTSS c+160(FP), Y15
	MOVQ $32, R10
	XORQ BX, BX
	LEAQ ones8<>(SB), AX
	TESTQ R9, R9
	CMOVQEQ AX, R8
	CMOVQEQ BX, R10
	NORMGRADLOOP(VMOVUPS, NOP)

// func normGradNTAVX2(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)
// normGradAVX2 with non-temporal stores of dst's whole blocks; dst must be 32-byte aligned.
TEXT ·normGradNTAVX2(SB), NOSPLIT, $0-164
	MOVQ dst_base+0(FP), DI
	MOVQ pw_base+24(FP), R11
	MOVQ pw_len+32(FP), R9
	XORQ BX, BX
	TESTQ R9, R9
	CMOVQEQ BX, R11
	MOVQ pb_base+48(FP), R12
	MOVQ pb_len+56(FP), R9
	TESTQ R9, R9
	CMOVQEQ BX, R12
	MOVQ h_base+72(FP), SI
	MOVQ h_len+80(FP), CX
	MOVQ dy_base+96(FP), DX
	MOVQ w_base+120(FP), R8
	MOVQ w_len+128(FP), R9
	VBROADCASTSS mean+144(FP), Y10
	VBROADCASTSS r+148(FP), Y11
	VBROADCASTSS a+152(FP), Y12
	VBROADCASTSS b+156(FP), Y14
	VBROADCASTSS c+160(FP), Y15
	MOVQ $32, R10
	XORQ BX, BX
	LEAQ ones8<>(SB), AX
	TESTQ R9, R9
	CMOVQEQ AX, R8
	CMOVQEQ BX, R10
	NORMGRADLOOP(VMOVNTPS, SFENCE)

// func softmaxRowsAVX2(dst, x *float32, rows, n, ldd, ldx int)
// softmaxRowsAVX512 (which see) on AVX2: max, expSum into the dst row, then the dst row
// times 1/sum, row after row, with the bits of those kernels.
TEXT ·softmaxRowsAVX2(SB), NOSPLIT, $0-48
	SOFTMAX_ROWS_ARGS
	EXPCONSTS
	TESTQ R11, R11
	JLE srdone

srrow:
	MOVQ R8, SI
	MOVQ R14, CX
	MAX_CORE
	VBROADCASTSS X0, Y10
	LEAQ (R8)(R13*1), DX
	XORQ R9, R9
	CMPQ R11, $1
	JLE srnonext
	LEAQ (R14*4), R9

srnonext:
	MOVQ R8, SI
	MOVQ R10, DI
	MOVQ R14, CX
	EXPSUM_CORE
	VMOVSS K(ONE), X1
	VDIVSS X0, X1, X1
	VBROADCASTSS X1, Y11
	MOVQ R10, DI
	MOVQ R14, CX
	CMPQ CX, $8
	JLT srtail

srscale:
	VMOVUPS (DI), Y0
	VMULPS Y11, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE srscale

srtail:
	TESTQ CX, CX
	JLE srnext
	TAILMASK
	VMASKMOVPS (DI), Y13, Y0
	VMULPS Y11, Y0, Y0
	VMASKMOVPS Y0, Y13, (DI)

srnext:
	ADDQ R12, R10
	ADDQ R13, R8
	DECQ R11
	JNZ srrow

srdone:
	VZEROUPPER
	RET

// func expSumAVX2(dst, x []float32, m float32, next []byte) float32
// var s float32; for j, v := range x { e := exp(v - m); if dst != nil { dst[j] = e }; s += e }; return s
// (one 8-lane accumulator, then a fixed-order horizontal sum). Each whole block also
// prefetches the next 32 bytes of next into L2 (PREFETCHT1), until next is covered.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-84
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS m+48(FP), Y10
	MOVQ next_base+56(FP), DX
	MOVQ next_len+64(FP), R9
	EXPCONSTS
	EXPSUM_CORE
	VMOVSS X0, ret+80(FP)
	VZEROUPPER
	RET

// SILU sets Y2 = x / (1 + exp(-x)) for x in Y2; uses Y3..Y6.
#define SILU \
	VXORPS K(SIGN), Y2, Y3; \
	EXP(Y3, Y4, Y5, Y6); \
	VADDPS K(ONE), Y3, Y3; \
	VDIVPS Y3, Y2, Y2

// GELUTANH sets Y2 = x / (1 + exp(x*(k0 + k1*x^2))) for x in Y2, which equals
// 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3))); uses Y3..Y6.
#define GELUTANH \
	VMULPS Y2, Y2, Y3; \
	VMOVUPS K(GTK1), Y4; \
	VFMADD213PS K(GTK0), Y4, Y3; \
	VMULPS Y2, Y3, Y3; \
	EXP(Y3, Y4, Y5, Y6); \
	VADDPS K(ONE), Y3, Y3; \
	VDIVPS Y3, Y2, Y2

// PHI sets Y6 = Phi(x) (standard normal CDF) for x in Y2 through erfc:
// z = |x|/sqrt(2), h = 0.5*erfc(z) = Phi(-|x|), Phi(x) = x < 0 ? h : 1 - h.
// Leaves z in Y3; uses Y4..Y8.
#define PHI \
	VANDPS K(ABS), Y2, Y3; \
	VMULPS K(INVSQRT2), Y3, Y3; \
	VMULPS K(HALF), Y3, Y4; \
	VADDPS K(ONE), Y4, Y4; \
	VMOVUPS K(ONE), Y5; \
	VDIVPS Y4, Y5, Y4; \
	VMOVUPS K(ERF9), Y5; \
	VFMADD213PS K(ERF8), Y4, Y5; \
	VFMADD213PS K(ERF7), Y4, Y5; \
	VFMADD213PS K(ERF6), Y4, Y5; \
	VFMADD213PS K(ERF5), Y4, Y5; \
	VFMADD213PS K(ERF4), Y4, Y5; \
	VFMADD213PS K(ERF3), Y4, Y5; \
	VFMADD213PS K(ERF2), Y4, Y5; \
	VFMADD213PS K(ERF1), Y4, Y5; \
	VFMADD213PS K(ERF0), Y4, Y5; \
	VFNMADD231PS Y3, Y3, Y5; \
	EXP(Y5, Y6, Y7, Y8); \
	VMULPS Y4, Y5, Y5; \
	VMULPS K(HALF), Y5, Y5; \
	VMOVUPS K(ONE), Y6; \
	VSUBPS Y5, Y6, Y6; \
	VBLENDVPS Y2, Y5, Y6, Y6

// GELU sets Y2 = x * Phi(x) for x in Y2.
#define GELU \
	PHI; \
	VMULPS Y6, Y2, Y2

// ACTLOOP is the loop of the activation kernels: body maps x in Y2 to act(x) in Y2 (using
// Y3..Y12), which is multiplied by up when DX != 0 and stored to DI; stores and fence as
// in SCALESHIFTLOOP. Expects DI, SI, DX, CX set.
#define ACTLOOP(body, store, fence) \
	EXPCONSTS; \
	CMPQ CX, $8; \
	JLT tail; \
loop: \
	VMOVUPS (SI), Y2; \
	body; \
	TESTQ DX, DX; \
	JZ full; \
	VMULPS (DX), Y2, Y2; \
	ADDQ $32, DX; \
full: \
	store Y2, (DI); \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	SUBQ $8, CX; \
	CMPQ CX, $8; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	VMASKMOVPS (SI), Y13, Y2; \
	body; \
	TESTQ DX, DX; \
	JZ part; \
	VMASKMOVPS (DX), Y13, Y3; \
	VMULPS Y3, Y2, Y2; \
part: \
	VMASKMOVPS Y2, Y13, (DI); \
done: \
	fence; \
	VZEROUPPER; \
	RET

// func siluAVX2(dst, x, up []float32)
// for j, v := range x { y := v / (1 + exp(-v)); if up != nil { y *= up[j] }; dst[j] = y }
TEXT ·siluAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	ACTLOOP(SILU, VMOVUPS, NOP)

// func siluNTAVX2(dst, x, up []float32)
// siluAVX2 with non-temporal stores of the whole blocks; dst must be 32-byte aligned.
TEXT ·siluNTAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	ACTLOOP(SILU, VMOVNTPS, SFENCE)

// func geluTanhAVX2(dst, x, up []float32)
// for j, v := range x { y := 0.5*v*(1 + tanh(sqrt(2/pi)*(v + 0.044715*v^3))); if up != nil { y *= up[j] }; dst[j] = y }
TEXT ·geluTanhAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	ACTLOOP(GELUTANH, VMOVUPS, NOP)

// func geluTanhNTAVX2(dst, x, up []float32)
// geluTanhAVX2 with non-temporal stores of the whole blocks; dst must be 32-byte aligned.
TEXT ·geluTanhNTAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	ACTLOOP(GELUTANH, VMOVNTPS, SFENCE)

// func geluAVX2(dst, x, up []float32)
// for j, v := range x { y := v * Phi(v); if up != nil { y *= up[j] }; dst[j] = y }
TEXT ·geluAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	ACTLOOP(GELU, VMOVUPS, NOP)

// func geluNTAVX2(dst, x, up []float32)
// geluAVX2 with non-temporal stores of the whole blocks; dst must be 32-byte aligned.
TEXT ·geluNTAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	ACTLOOP(GELU, VMOVNTPS, SFENCE)

// SILUGRAD: e = exp(-x), a = x/(1+e) in Y10, s = 1/(1+e), da = s*(1 + x*(1-s)) in Y11,
// where 1-s is taken as e*s for x >= 0 (no cancellation there; e <= 1 cannot overflow).
#define SILUGRAD \
	VXORPS K(SIGN), Y2, Y3; \
	EXP(Y3, Y4, Y5, Y6); \
	VADDPS K(ONE), Y3, Y6; \
	VDIVPS Y6, Y2, Y10; \
	VMOVUPS K(ONE), Y4; \
	VDIVPS Y6, Y4, Y4; \
	VMULPS Y4, Y3, Y7; \
	VMOVUPS K(ONE), Y11; \
	VSUBPS Y4, Y11, Y11; \
	VBLENDVPS Y2, Y11, Y7, Y11; \
	VFMADD213PS K(ONE), Y2, Y11; \
	VMULPS Y4, Y11, Y11

// GELUTANHGRAD: e = exp(x*(k0 + k1 x^2)), s = 1/(1+e) = 0.5*(1 + tanh(u)), a = x/(1+e) in
// Y10, da = s + x*s*(1-s)*(d0 + d1*min(x^2, 1e8)) in Y11, 1-s taken as e*s for x >= 0 as
// in SILUGRAD (the cap keeps 0*Inf out when s*(1-s) is already 0).
#define GELUTANHGRAD \
	VMULPS Y2, Y2, Y7; \
	VMOVUPS K(GTK1), Y3; \
	VFMADD213PS K(GTK0), Y7, Y3; \
	VMULPS Y2, Y3, Y3; \
	EXP(Y3, Y4, Y5, Y6); \
	VADDPS K(ONE), Y3, Y6; \
	VDIVPS Y6, Y2, Y10; \
	VMOVUPS K(ONE), Y4; \
	VDIVPS Y6, Y4, Y4; \
	VMULPS Y4, Y3, Y9; \
	VMOVUPS K(ONE), Y11; \
	VSUBPS Y4, Y11, Y11; \
	VBLENDVPS Y2, Y11, Y9, Y11; \
	VMOVUPS K(X2MAX), Y8; \
	VMINPS Y7, Y8, Y7; \
	VMOVUPS K(GTD1), Y8; \
	VFMADD213PS K(GTD0), Y8, Y7; \
	VMULPS Y4, Y11, Y11; \
	VMULPS Y2, Y11, Y11; \
	VMULPS Y7, Y11, Y11; \
	VADDPS Y4, Y11, Y11

// GELUGRAD: a = x*Phi(x) in Y10, da = Phi(x) + x*phi(x) in Y11 with
// phi(x) = exp(-z*z)/sqrt(2*pi).
#define GELUGRAD \
	PHI; \
	VMULPS Y6, Y2, Y10; \
	VXORPS Y9, Y9, Y9; \
	VFNMADD231PS Y3, Y3, Y9; \
	EXP(Y9, Y4, Y5, Y7); \
	VMULPS K(INVSQRT2PI), Y9, Y9; \
	VMOVAPS Y6, Y11; \
	VFMADD231PS Y9, Y2, Y11

// GRADLOOP is the loop of the activation-gradient kernels: whole blocks of 8, then one
// masked block; body maps x in Y2 to a in Y10, da in Y11, stored to DI and R8.
// Expects DI (a), R8 (da), SI (x), CX set.
#define GRADLOOP(body) \
	EXPCONSTS; \
	CMPQ CX, $8; \
	JLT tail; \
loop: \
	VMOVUPS (SI), Y2; \
	body; \
	VMOVUPS Y10, (DI); \
	VMOVUPS Y11, (R8); \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	ADDQ $32, R8; \
	SUBQ $8, CX; \
	CMPQ CX, $8; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	VMASKMOVPS (SI), Y13, Y2; \
	body; \
	VMASKMOVPS Y10, Y13, (DI); \
	VMASKMOVPS Y11, Y13, (R8); \
done: \
	VZEROUPPER; \
	RET

// func siluGradAVX2(a, da, x []float32)
// for j, v := range x { a[j] = silu(v); da[j] = silu'(v) }
TEXT ·siluGradAVX2(SB), NOSPLIT, $0-72
	MOVQ a_base+0(FP), DI
	MOVQ da_base+24(FP), R8
	MOVQ x_base+48(FP), SI
	MOVQ x_len+56(FP), CX
	GRADLOOP(SILUGRAD)

// func geluTanhGradAVX2(a, da, x []float32)
// for j, v := range x { a[j] = geluTanh(v); da[j] = geluTanh'(v) }
TEXT ·geluTanhGradAVX2(SB), NOSPLIT, $0-72
	MOVQ a_base+0(FP), DI
	MOVQ da_base+24(FP), R8
	MOVQ x_base+48(FP), SI
	MOVQ x_len+56(FP), CX
	GRADLOOP(GELUTANHGRAD)

// func geluGradAVX2(a, da, x []float32)
// for j, v := range x { a[j] = gelu(v); da[j] = gelu'(v) }
TEXT ·geluGradAVX2(SB), NOSPLIT, $0-72
	MOVQ a_base+0(FP), DI
	MOVQ da_base+24(FP), R8
	MOVQ x_base+48(FP), SI
	MOVQ x_len+56(FP), CX
	GRADLOOP(GELUGRAD)

// func Prefetch(addr uintptr, n int)
// PREFETCHT0 on each 64-byte line of [addr, addr+n): a cache hint, which never faults.
TEXT ·Prefetch(SB), NOSPLIT, $0-16
	MOVQ  addr+0(FP), SI
	MOVQ  n+8(FP), CX
	ADDQ  SI, CX

pfl:
	CMPQ       SI, CX
	JGE        pfdone
	PREFETCHT0 (SI)
	ADDQ       $64, SI
	JMP        pfl

pfdone:
	RET
