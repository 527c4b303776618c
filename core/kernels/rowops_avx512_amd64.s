//go:build !purego

#include "textflag.h"
#include "rowops_amd64.h"

// AVX-512 (F, BW, VL, DQ) row primitives. Each routine is the generic Go loop named in its
// comment (rowops_generic.go), 16 float32 lanes at a time. Loops run in whole blocks of 16
// from the first element with plain loads and stores (masked memory operations are slower
// on some CPUs); the last partial block uses the mask K1 (lanes < remaining), so no element
// outside the slices is read or written. The order of a reduction depends only on the
// length.

// Constants, one float32 each, broadcast as needed.
DATA c512<>+0(SB)/4, $1.0               // one
DATA c512<>+4(SB)/4, $1.44269504088896341 // log2(e)
DATA c512<>+8(SB)/4, $89.0              // exp input clamp high: exp(89) overflows to +Inf
DATA c512<>+12(SB)/4, $-150.0           // exp input clamp low: exp(-150) rounds to 0
DATA c512<>+16(SB)/4, $0.693359375      // ln2 high part (Cody-Waite)
DATA c512<>+20(SB)/4, $-2.12194440e-4   // ln2 low part
DATA c512<>+24(SB)/4, $1.9875691500e-4  // exp polynomial (Cephes expf), r^7 .. r^2 terms
DATA c512<>+28(SB)/4, $1.3981999507e-3
DATA c512<>+32(SB)/4, $8.3334519073e-3
DATA c512<>+36(SB)/4, $4.1665795894e-2
DATA c512<>+40(SB)/4, $1.6666665459e-1
DATA c512<>+44(SB)/4, $5.0000001201e-1
DATA c512<>+48(SB)/4, $0xff800000       // -Inf
DATA c512<>+52(SB)/4, $0.5
DATA c512<>+56(SB)/4, $0.70710678118654752 // 1/sqrt(2)
DATA c512<>+60(SB)/4, $-1.26551223      // erfc(z) = t*exp(-z*z + E(t)), t = 1/(1+z/2):
DATA c512<>+64(SB)/4, $1.00002368       // E(t) = e0 + e1 t + ... + e9 t^9
DATA c512<>+68(SB)/4, $0.37409196
DATA c512<>+72(SB)/4, $0.09678418
DATA c512<>+76(SB)/4, $-0.18628806
DATA c512<>+80(SB)/4, $0.27886807
DATA c512<>+84(SB)/4, $-1.13520398
DATA c512<>+88(SB)/4, $1.48851587
DATA c512<>+92(SB)/4, $-0.82215223
DATA c512<>+96(SB)/4, $0.17087277
DATA c512<>+100(SB)/4, $-1.5957691216057308  // -2*sqrt(2/pi)
DATA c512<>+104(SB)/4, $-0.07135481627260025 // -2*sqrt(2/pi)*0.044715
DATA c512<>+108(SB)/4, $1.5957691216057308   // d(2u)/dx = 2*sqrt(2/pi)*(1 + 3*0.044715 x^2)
DATA c512<>+112(SB)/4, $0.21406444881780076
DATA c512<>+116(SB)/4, $0.3989422804014327   // 1/sqrt(2*pi)
DATA c512<>+120(SB)/4, $1e8                   // x^2 cap in the GELU-tanh derivative
DATA c512<>+124(SB)/4, $0x80000000            // sign bit
DATA c512<>+128(SB)/4, $0x7fffffff            // all but the sign bit
DATA c512<>+132(SB)/4, $0x7f800000            // +Inf bits (bfloat16 NaN test)
DATA c512<>+136(SB)/4, $0x00007fff            // bfloat16 rounding bias
DATA c512<>+140(SB)/4, $0x00000001
DATA c512<>+144(SB)/4, $0x00000040            // bfloat16 quiet-NaN bit (after >> 16)
GLOBL c512<>(SB), RODATA|NOPTR, $148

// ones16 and negzero16 stand in for an absent weight or bias vector (read with stride 0):
// multiplying by 1 and adding -0 change no value, the sign of zero included.
DATA ones16<>+0(SB)/8, $0x3f8000003f800000
DATA ones16<>+8(SB)/8, $0x3f8000003f800000
DATA ones16<>+16(SB)/8, $0x3f8000003f800000
DATA ones16<>+24(SB)/8, $0x3f8000003f800000
DATA ones16<>+32(SB)/8, $0x3f8000003f800000
DATA ones16<>+40(SB)/8, $0x3f8000003f800000
DATA ones16<>+48(SB)/8, $0x3f8000003f800000
DATA ones16<>+56(SB)/8, $0x3f8000003f800000
GLOBL ones16<>(SB), RODATA|NOPTR, $64
DATA negzero16<>+0(SB)/8, $0x8000000080000000
DATA negzero16<>+8(SB)/8, $0x8000000080000000
DATA negzero16<>+16(SB)/8, $0x8000000080000000
DATA negzero16<>+24(SB)/8, $0x8000000080000000
DATA negzero16<>+32(SB)/8, $0x8000000080000000
DATA negzero16<>+40(SB)/8, $0x8000000080000000
DATA negzero16<>+48(SB)/8, $0x8000000080000000
DATA negzero16<>+56(SB)/8, $0x8000000080000000
GLOBL negzero16<>(SB), RODATA|NOPTR, $64

#define ONE 0
#define LOG2E 4
#define EXPHI 8
#define EXPLO 12
#define LN2HI 16
#define LN2LO 20
#define EXPP0 24
#define EXPP1 28
#define EXPP2 32
#define EXPP3 36
#define EXPP4 40
#define EXPP5 44
#define NEGINF 48
#define HALF 52
#define INVSQRT2 56
#define ERF0 60
#define ERF1 64
#define ERF2 68
#define ERF3 72
#define ERF4 76
#define ERF5 80
#define ERF6 84
#define ERF7 88
#define ERF8 92
#define ERF9 96
#define GTK0 100
#define GTK1 104
#define GTD0 108
#define GTD1 112
#define INVSQRT2PI 116
#define X2MAX 120
#define SIGN 124
#define ABS 128
#define INFBITS 132
#define BF16BIAS 136
#define INT1 140
#define BF16QNAN 144

#define BCAST(off, reg) VBROADCASTSS c512<>+off(SB), reg

// TAILMASK sets K1 to the low CX lanes (CX < 16); AX is clobbered.
#define TAILMASK \
	MOVL $1, AX; \
	SHLL CX, AX; \
	DECL AX; \
	KMOVW AX, K1

// EXPCONSTS loads the constants EXP uses into Z20..Z31.
#define EXPCONSTS \
	BCAST(ONE, Z20); \
	BCAST(EXPP5, Z21); \
	BCAST(EXPP4, Z22); \
	BCAST(EXPP3, Z23); \
	BCAST(EXPP2, Z24); \
	BCAST(EXPP1, Z25); \
	BCAST(EXPP0, Z26); \
	BCAST(LN2LO, Z27); \
	BCAST(LN2HI, Z28); \
	BCAST(LOG2E, Z29); \
	BCAST(EXPLO, Z30); \
	BCAST(EXPHI, Z31)

// EXP sets x = exp(x) (float32, max error 1 ulp for results >= 2^-126; NaN stays NaN,
// -Inf gives 0, +Inf gives +Inf); t1 and t2 are clobbered. x is clamped to [-150, 89]
// (keeping NaN), split as x = n*ln2 + r with |r| <= ln2/2, e^r comes from a degree-7
// polynomial and 2^n is applied with VSCALEFPS (exact, correct underflow to subnormals).
#define EXP(x, t1, t2) \
	VMAXPS x, Z30, x; \
	VMINPS x, Z31, x; \
	VMULPS Z29, x, t1; \
	VRNDSCALEPS $0, t1, t1; \
	VFNMADD231PS Z28, t1, x; \
	VFNMADD231PS Z27, t1, x; \
	VMOVAPS Z26, t2; \
	VFMADD213PS Z25, x, t2; \
	VFMADD213PS Z24, x, t2; \
	VFMADD213PS Z23, x, t2; \
	VFMADD213PS Z22, x, t2; \
	VFMADD213PS Z21, x, t2; \
	VFMADD213PS Z20, x, t2; \
	VFMADD213PS Z20, x, t2; \
	VSCALEFPS t1, t2, x

// HSUM sets X0 to the sum of the 16 lanes of Z0, in a fixed order; Z1 is clobbered.
#define HSUM \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VADDPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VADDSS X1, X0, X0

// HMAX sets X0 to the largest of the 16 lanes of Z0 (none is NaN); Z1 is clobbered.
#define HMAX \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VMAXPS Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VMAXPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VMAXPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VMAXSS X1, X0, X0

// MAX_CORE sets X0 to the largest of the CX floats at SI (maxAVX512's loop; NaN is
// skipped); Z0..Z8, K1, AX, SI and CX are clobbered.
#define MAX_CORE \
	BCAST(NEGINF, Z0); \
	VMOVAPS Z0, Z1; \
	VMOVAPS Z0, Z2; \
	VMOVAPS Z0, Z3; \
	VMOVAPS Z0, Z8; \
	CMPQ CX, $64; \
	JLT mxsingle; \
mxloop64: \
	VMOVUPS (SI), Z4; \
	VMOVUPS 64(SI), Z5; \
	VMOVUPS 128(SI), Z6; \
	VMOVUPS 192(SI), Z7; \
	VMAXPS Z0, Z4, Z0; \
	VMAXPS Z1, Z5, Z1; \
	VMAXPS Z2, Z6, Z2; \
	VMAXPS Z3, Z7, Z3; \
	ADDQ $256, SI; \
	SUBQ $64, CX; \
	CMPQ CX, $64; \
	JGE mxloop64; \
mxsingle: \
	CMPQ CX, $16; \
	JLT mxtail; \
mxloop16: \
	VMOVUPS (SI), Z4; \
	VMAXPS Z0, Z4, Z0; \
	ADDQ $64, SI; \
	SUBQ $16, CX; \
	CMPQ CX, $16; \
	JGE mxloop16; \
mxtail: \
	TESTQ CX, CX; \
	JLE mxreduce; \
	TAILMASK; \
	VMOVAPS Z8, Z4; \
	VMOVUPS (SI), K1, Z4; \
	VMAXPS Z0, Z4, Z0; \
mxreduce: \
	VMAXPS Z1, Z0, Z0; \
	VMAXPS Z3, Z2, Z2; \
	VMAXPS Z2, Z0, Z0; \
	HMAX

// EXPSUM_CORE is expSumAVX512's loop: exp(x - m) of the CX floats at SI, m in Z16,
// stored to DI unless it is 0, summed into X0; each block prefetches the next 64 bytes of
// the R9 bytes at DX. The EXP constants must be in Z20..Z31; Z0..Z15, K1, AX, SI, DI, CX,
// DX and R9 are clobbered.
#define EXPSUM_CORE \
	VXORPS Z0, Z0, Z0; \
	VXORPS Z1, Z1, Z1; \
	VXORPS Z14, Z14, Z14; \
	VXORPS Z15, Z15, Z15; \
	CMPQ CX, $64; \
	JLT exsingle; \
exloop64: \
	TESTQ R9, R9; \
	JLE exexps64; \
	PREFETCHT1 (DX); \
	PREFETCHT1 64(DX); \
	PREFETCHT1 128(DX); \
	PREFETCHT1 192(DX); \
	ADDQ $256, DX; \
	SUBQ $256, R9; \
exexps64: \
	VMOVUPS (SI), Z2; \
	VMOVUPS 64(SI), Z5; \
	VMOVUPS 128(SI), Z8; \
	VMOVUPS 192(SI), Z11; \
	VSUBPS Z16, Z2, Z2; \
	VSUBPS Z16, Z5, Z5; \
	VSUBPS Z16, Z8, Z8; \
	VSUBPS Z16, Z11, Z11; \
	EXP(Z2, Z3, Z4); \
	EXP(Z5, Z6, Z7); \
	EXP(Z8, Z9, Z10); \
	EXP(Z11, Z12, Z13); \
	VADDPS Z2, Z0, Z0; \
	VADDPS Z5, Z1, Z1; \
	VADDPS Z8, Z14, Z14; \
	VADDPS Z11, Z15, Z15; \
	ADDQ $256, SI; \
	SUBQ $64, CX; \
	TESTQ DI, DI; \
	JZ exnext64; \
	VMOVUPS Z2, (DI); \
	VMOVUPS Z5, 64(DI); \
	VMOVUPS Z8, 128(DI); \
	VMOVUPS Z11, 192(DI); \
	ADDQ $256, DI; \
exnext64: \
	CMPQ CX, $64; \
	JGE exloop64; \
exsingle: \
	CMPQ CX, $16; \
	JLT extail; \
exloop: \
	TESTQ R9, R9; \
	JLE exexps; \
	PREFETCHT1 (DX); \
	ADDQ $64, DX; \
	SUBQ $64, R9; \
exexps: \
	VMOVUPS (SI), Z2; \
	VSUBPS Z16, Z2, Z2; \
	EXP(Z2, Z3, Z4); \
	VADDPS Z2, Z0, Z0; \
	TESTQ DI, DI; \
	JZ exnext; \
	VMOVUPS Z2, (DI); \
	ADDQ $64, DI; \
exnext: \
	ADDQ $64, SI; \
	SUBQ $16, CX; \
	CMPQ CX, $16; \
	JGE exloop; \
extail: \
	TESTQ CX, CX; \
	JLE exreduce; \
	TAILMASK; \
	VMOVUPS.Z (SI), K1, Z2; \
	VSUBPS Z16, Z2, Z2; \
	EXP(Z2, Z3, Z4); \
	VMOVAPS.Z Z2, K1, Z2; \
	VADDPS Z2, Z0, Z0; \
	TESTQ DI, DI; \
	JZ exreduce; \
	VMOVUPS Z2, K1, (DI); \
exreduce: \
	VADDPS Z1, Z0, Z0; \
	VADDPS Z15, Z14, Z14; \
	VADDPS Z14, Z0, Z0; \
	HSUM

// ELEMLOOP is the loop of the elementwise kernels: full (one block of 16, plain loads and
// stores) while at least 16 elements remain, then part (the same block with mask K1) for
// the rest; step advances the pointers by one block; fence ends the routine (SFENCE after
// non-temporal stores, else NOP, which assembles to nothing). CX holds the element count.
#define ELEMLOOP(full, part, step, fence) \
	CMPQ CX, $16; \
	JLT tail; \
loop: \
	full; \
	step; \
	SUBQ $16, CX; \
	CMPQ CX, $16; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	part; \
done: \
	fence; \
	VZEROUPPER; \
	RET

#define STEP_IN2_OUT4 ADDQ $32, SI; ADDQ $64, DI
#define STEP_IN4_OUT2 ADDQ $64, SI; ADDQ $32, DI
#define STEP_1 ADDQ $64, SI; ADDQ $64, DI
#define STEP_2 ADDQ $64, SI; ADDQ $64, DX; ADDQ $64, DI

#define F16_FULL VCVTPH2PS (SI), Z0; VMOVUPS Z0, (DI)
#define F16_PART VMOVDQU16.Z (SI), K1, Y0; VCVTPH2PS Y0, Z0; VMOVUPS Z0, K1, (DI)

// WIDEN_ROWS_ARGS loads the arguments of f16ToF32RowsAVX512 and bf16ToF32RowsAVX512 for
// WIDEN_ROWS. It is defined before the first routine, where go vet's frame check does
// not take it for part of one.
#define WIDEN_ROWS_ARGS \
	MOVQ dst+0(FP), R8; \
	MOVQ lddBytes+8(FP), R11; \
	MOVQ src+16(FP), R9; \
	MOVQ ldsBytes+24(FP), R12; \
	MOVQ rows+32(FP), R10; \
	MOVQ cols+40(FP), R13

// func f16ToF32AVX512(dst []float32, src []uint16)
// for j, h := range src { dst[j] = F16ToF32(h) }
TEXT ·f16ToF32AVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	ELEMLOOP(F16_FULL, F16_PART, STEP_IN2_OUT4, NOP)

#define TOF16_FULL VMOVUPS (SI), Z0; VCVTPS2PH $0, Z0, (DI)
#define TOF16_PART VMOVUPS.Z (SI), K1, Z0; VCVTPS2PH $0, Z0, Y0; VMOVDQU16 Y0, K1, (DI)

// func f32ToF16AVX512(dst []uint16, src []float32)
// for j, v := range src { dst[j] = F32ToF16(v) }   (round to nearest even)
TEXT ·f32ToF16AVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	ELEMLOOP(TOF16_FULL, TOF16_PART, STEP_IN4_OUT2, NOP)

#define BF16_FULL VPMOVZXWD (SI), Z0; VPSLLD $16, Z0, Z0; VMOVDQU32 Z0, (DI)
#define BF16_PART VMOVDQU16.Z (SI), K1, Y0; VPMOVZXWD Y0, Z0; VPSLLD $16, Z0, Z0; VMOVDQU32 Z0, K1, (DI)

// func bf16ToF32AVX512(dst []float32, src []uint16)
// for j, h := range src { dst[j] = BF16ToF32(h) }   (h << 16)
TEXT ·bf16ToF32AVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	ELEMLOOP(BF16_FULL, BF16_PART, STEP_IN2_OUT4, NOP)

// TOBF16 rounds the float32 bits in Z0 to bfloat16 in the low halves of Z3's lanes and
// packs them into Y3. Uses Z1..Z4, K2 and the constants in Z16..Z20.
#define TOBF16 \
	VPSRLD $16, Z0, Z1; \
	VPANDD Z17, Z1, Z2; \
	VPADDD Z16, Z0, Z3; \
	VPADDD Z2, Z3, Z3; \
	VPSRLD $16, Z3, Z3; \
	VPANDD Z18, Z0, Z4; \
	VPCMPGTD Z19, Z4, K2; \
	VPORD Z20, Z1, Z1; \
	VMOVDQA32 Z1, K2, Z3; \
	VPMOVDW Z3, Y3

#define TOBF16_FULL VMOVDQU32 (SI), Z0; TOBF16; VMOVDQU Y3, (DI)
#define TOBF16_PART VMOVDQU32.Z (SI), K1, Z0; TOBF16; VMOVDQU16 Y3, K1, (DI)

// TOBF16_ARGS loads the bfloat16 narrowing kernels' arguments (dst DI, src SI, length
// CX) and TOBF16's constants.
#define TOBF16_ARGS \
	MOVQ dst_base+0(FP), DI; \
	MOVQ src_base+24(FP), SI; \
	MOVQ src_len+32(FP), CX; \
	VPBROADCASTD c512<>+BF16BIAS(SB), Z16; \
	VPBROADCASTD c512<>+INT1(SB), Z17; \
	VPBROADCASTD c512<>+ABS(SB), Z18; \
	VPBROADCASTD c512<>+INFBITS(SB), Z19; \
	VPBROADCASTD c512<>+BF16QNAN(SB), Z20

// func f32ToBF16AVX512(dst []uint16, src []float32)
// for j, v := range src { dst[j] = F32ToBF16(v) }
// Round to nearest even on the bits: (b + 0x7fff + (b>>16)&1) >> 16; a NaN keeps its top
// bits with the quiet bit set: b>>16 | 0x40.
TEXT ·f32ToBF16AVX512(SB), NOSPLIT, $0-48
	TOBF16_ARGS
	ELEMLOOP(TOBF16_FULL, TOBF16_PART, STEP_IN4_OUT2, NOP)

#define TOF16_FULL_NT VMOVUPS (SI), Z0; VCVTPS2PH $0, Z0, Y0; VMOVNTDQ Y0, (DI)

// func f32ToF16NTAVX512(dst []uint16, src []float32)
// f32ToF16AVX512 with non-temporal stores for the whole blocks of 16; dst 32-byte aligned.
TEXT ·f32ToF16NTAVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	ELEMLOOP(TOF16_FULL_NT, TOF16_PART, STEP_IN4_OUT2, SFENCE)

#define TOBF16_FULL_NT VMOVDQU32 (SI), Z0; TOBF16; VMOVNTDQ Y3, (DI)

// func f32ToBF16NTAVX512(dst []uint16, src []float32)
// f32ToBF16AVX512 with non-temporal stores for the whole blocks of 16; dst 32-byte
// aligned.
TEXT ·f32ToBF16NTAVX512(SB), NOSPLIT, $0-48
	TOBF16_ARGS
	ELEMLOOP(TOBF16_FULL_NT, TOBF16_PART, STEP_IN4_OUT2, SFENCE)

// WIDEN_ROWS(full, part) is the body of the strided widening kernels below: for each of
// R10 rows (dst R8, R11 bytes apart; src R9, R12 bytes apart), R13 elements converted by
// full (blocks of 16) and part (the rest, mask K1).
#define WIDEN_ROWS(full, part) \
	TESTQ R10, R10; \
	JLE   wrdone; \
wrrow: \
	MOVQ  R8, DI; \
	MOVQ  R9, SI; \
	MOVQ  R13, CX; \
	CMPQ  CX, $16; \
	JLT   wrtail; \
wrloop: \
	full; \
	STEP_IN2_OUT4; \
	SUBQ  $16, CX; \
	CMPQ  CX, $16; \
	JGE   wrloop; \
wrtail: \
	TESTQ CX, CX; \
	JLE   wrnext; \
	TAILMASK; \
	part; \
wrnext: \
	ADDQ  R11, R8; \
	ADDQ  R12, R9; \
	DECQ  R10; \
	JNZ   wrrow; \
wrdone: \
	VZEROUPPER; \
	RET

// func f16ToF32RowsAVX512(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols int)
// f16ToF32AVX512 on rows rows of cols elements, lddBytes apart in dst, ldsBytes in src.
TEXT ·f16ToF32RowsAVX512(SB), NOSPLIT, $0-48
	WIDEN_ROWS_ARGS
	WIDEN_ROWS(F16_FULL, F16_PART)

// func bf16ToF32RowsAVX512(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols int)
// bf16ToF32AVX512 on rows as f16ToF32RowsAVX512 takes them.
TEXT ·bf16ToF32RowsAVX512(SB), NOSPLIT, $0-48
	WIDEN_ROWS_ARGS
	WIDEN_ROWS(BF16_FULL, BF16_PART)

// func sumAVX512(x []float32) float32
// var s float32; for _, v := range x { s += v }; return s
// (four accumulators of 16 lanes, then one, then a fixed-order horizontal sum)
TEXT ·sumAVX512(SB), NOSPLIT, $0-28
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	CMPQ CX, $64
	JLT single
loop64:
	VADDPS (SI), Z0, Z0
	VADDPS 64(SI), Z1, Z1
	VADDPS 128(SI), Z2, Z2
	VADDPS 192(SI), Z3, Z3
	ADDQ $256, SI
	SUBQ $64, CX
	CMPQ CX, $64
	JGE loop64
single:
	CMPQ CX, $16
	JLT tail
loop16:
	VADDPS (SI), Z0, Z0
	ADDQ $64, SI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE loop16
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	VADDPS Z4, Z0, Z0
reduce:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func sumSqDevAVX512(x []float32, c float32) float32
// var s float32; for _, v := range x { d := v - c; s += d * d }; return s
TEXT ·sumSqDevAVX512(SB), NOSPLIT, $0-36
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	VBROADCASTSS c+24(FP), Z31
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	CMPQ CX, $64
	JLT single
loop64:
	VSUBPS (SI), Z31, Z4
	VSUBPS 64(SI), Z31, Z5
	VSUBPS 128(SI), Z31, Z6
	VSUBPS 192(SI), Z31, Z7
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z5, Z5, Z1
	VFMADD231PS Z6, Z6, Z2
	VFMADD231PS Z7, Z7, Z3
	ADDQ $256, SI
	SUBQ $64, CX
	CMPQ CX, $64
	JGE loop64
single:
	CMPQ CX, $16
	JLT tail
loop16:
	VSUBPS (SI), Z31, Z4
	VFMADD231PS Z4, Z4, Z0
	ADDQ $64, SI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE loop16
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	VSUBPS.Z Z31, Z4, K1, Z4
	VFMADD231PS Z4, Z4, Z0
reduce:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// func maxAVX512(x []float32) float32
// m := -Inf; for _, v := range x { if v > m { m = v } }; return m
// (VMAXPS returns its accumulator operand when the new element is NaN, so NaN is skipped)
TEXT ·maxAVX512(SB), NOSPLIT, $0-28
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MAX_CORE
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotAVX512(x, y []float32) float32
// var s float32; for j, v := range x { s += v * y[j] }; return s
TEXT ·dotAVX512(SB), NOSPLIT, $0-52
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ y_base+24(FP), DX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	CMPQ CX, $64
	JLT single
loop64:
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VFMADD231PS (DX), Z4, Z0
	VFMADD231PS 64(DX), Z5, Z1
	VFMADD231PS 128(DX), Z6, Z2
	VFMADD231PS 192(DX), Z7, Z3
	ADDQ $256, SI
	ADDQ $256, DX
	SUBQ $64, CX
	CMPQ CX, $64
	JGE loop64
single:
	CMPQ CX, $16
	JLT tail
loop16:
	VMOVUPS (SI), Z4
	VFMADD231PS (DX), Z4, Z0
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $16, CX
	CMPQ CX, $16
	JGE loop16
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	VMOVUPS.Z (DX), K1, Z5
	VFMADD231PS Z5, Z4, Z0
reduce:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM
	VMOVSS X0, ret+48(FP)
	VZEROUPPER
	RET

#define ADD_FULL VMOVUPS (SI), Z0; VADDPS (DX), Z0, Z0; VMOVUPS Z0, (DI)
#define ADD_PART VMOVUPS.Z (SI), K1, Z0; VMOVUPS.Z (DX), K1, Z1; VADDPS Z1, Z0, Z0; VMOVUPS Z0, K1, (DI)

// func addAVX512(dst, a, b []float32)
// for j, v := range a { dst[j] = v + b[j] }
TEXT ·addAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ a_base+24(FP), SI
	MOVQ a_len+32(FP), CX
	MOVQ b_base+48(FP), DX
	ELEMLOOP(ADD_FULL, ADD_PART, STEP_2, NOP)

#define MUL_FULL VMOVUPS (SI), Z0; VMULPS (DX), Z0, Z0; VMOVUPS Z0, (DI)
#define MUL_PART VMOVUPS.Z (SI), K1, Z0; VMOVUPS.Z (DX), K1, Z1; VMULPS Z1, Z0, Z0; VMOVUPS Z0, K1, (DI)

// func mulAVX512(dst, a, b []float32)
// for j, v := range a { dst[j] = v * b[j] }
TEXT ·mulAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ a_base+24(FP), SI
	MOVQ a_len+32(FP), CX
	MOVQ b_base+48(FP), DX
	ELEMLOOP(MUL_FULL, MUL_PART, STEP_2, NOP)

// SCALESHIFT maps Z0 to (Z0 - c) * s + b with c, s, b in Z16, Z17, Z18.
#define SCALESHIFT VSUBPS Z16, Z0, Z0; VMULPS Z17, Z0, Z0; VADDPS Z18, Z0, Z0
#define SCALESHIFT_FULL VMOVUPS (SI), Z0; SCALESHIFT; VMOVUPS Z0, (DI)
#define SCALESHIFT_FULL_NT VMOVUPS (SI), Z0; SCALESHIFT; VMOVNTPS Z0, (DI)
#define SCALESHIFT_PART VMOVUPS.Z (SI), K1, Z0; SCALESHIFT; VMOVUPS Z0, K1, (DI)

// func scaleShiftAVX512(dst, x []float32, c, s, b float32)
// for j, v := range x { y := (v - c) * s; if b != 0 { y += b }; dst[j] = y }
TEXT ·scaleShiftAVX512(SB), NOSPLIT, $0-60
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS c+48(FP), Z16
	VBROADCASTSS s+52(FP), Z17
	MOVL b+56(FP), AX // b = +-0 becomes -0, which added to any y gives y
	MOVL $0x80000000, BX
	TESTL $0x7fffffff, AX
	CMOVLEQ BX, AX
	VPBROADCASTD AX, Z18
	ELEMLOOP(SCALESHIFT_FULL, SCALESHIFT_PART, STEP_1, NOP)

// func scaleShiftNTAVX512(dst, x []float32, c, s, b float32)
// scaleShiftAVX512 with non-temporal stores of the whole blocks; dst must be 64-byte aligned.
TEXT ·scaleShiftNTAVX512(SB), NOSPLIT, $0-60
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS c+48(FP), Z16
	VBROADCASTSS s+52(FP), Z17
	MOVL b+56(FP), AX // b = +-0 becomes -0, which added to any y gives y
	MOVL $0x80000000, BX
	TESTL $0x7fffffff, AX
	CMOVLEQ BX, AX
	VPBROADCASTD AX, Z18
	ELEMLOOP(SCALESHIFT_FULL_NT, SCALESHIFT_PART, STEP_1, SFENCE)

// AFFINE maps Z0 to ((Z0 - c) * s) * w + b with c, s in Z16, Z17, w at DX, b at R8.
#define AFFINE \
	VMOVUPS (SI), Z0; \
	VSUBPS Z16, Z0, Z0; \
	VMULPS Z17, Z0, Z0; \
	VMULPS (DX), Z0, Z0; \
	VADDPS (R8), Z0, Z0
#define AFFINE_FULL AFFINE; VMOVUPS Z0, (DI)
#define AFFINE_FULL_NT AFFINE; VMOVNTPS Z0, (DI)
#define AFFINE_PART \
	VMOVUPS.Z (SI), K1, Z0; \
	VMOVUPS.Z (DX), K1, Z1; \
	VMOVUPS.Z (R8), K1, Z2; \
	VSUBPS Z16, Z0, Z0; \
	VMULPS Z17, Z0, Z0; \
	VMULPS Z1, Z0, Z0; \
	VADDPS Z2, Z0, Z0; \
	VMOVUPS Z0, K1, (DI)
#define AFFINE_STEP ADDQ $64, SI; ADDQ $64, DI; ADDQ R10, DX; ADDQ R11, R8

// func normAffineAVX512(dst, x []float32, c, s float32, w, b []float32)
// for j, v := range x { y := (v - c) * s; if w != nil { y *= w[j] }; if b != nil { y += b[j] }; dst[j] = y }
TEXT ·normAffineAVX512(SB), NOSPLIT, $0-104
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS c+48(FP), Z16
	VBROADCASTSS s+52(FP), Z17
	MOVQ w_base+56(FP), DX
	MOVQ b_base+80(FP), R8
	XORQ BX, BX // an absent w reads ones16, an absent b negzero16, both with stride 0
	MOVQ $64, R10
	LEAQ ones16<>(SB), AX
	TESTQ DX, DX
	CMOVQEQ AX, DX
	CMOVQEQ BX, R10
	MOVQ $64, R11
	LEAQ negzero16<>(SB), AX
	TESTQ R8, R8
	CMOVQEQ AX, R8
	CMOVQEQ BX, R11
	ELEMLOOP(AFFINE_FULL, AFFINE_PART, AFFINE_STEP, NOP)

// func normAffineNTAVX512(dst, x []float32, c, s float32, w, b []float32)
// normAffineAVX512 with non-temporal stores of the whole blocks; dst must be 64-byte aligned.
TEXT ·normAffineNTAVX512(SB), NOSPLIT, $0-104
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS c+48(FP), Z16
	VBROADCASTSS s+52(FP), Z17
	MOVQ w_base+56(FP), DX
	MOVQ b_base+80(FP), R8
	XORQ BX, BX // an absent w reads ones16, an absent b negzero16, both with stride 0
	MOVQ $64, R10
	LEAQ ones16<>(SB), AX
	TESTQ DX, DX
	CMOVQEQ AX, DX
	CMOVQEQ BX, R10
	MOVQ $64, R11
	LEAQ negzero16<>(SB), AX
	TESTQ R8, R8
	CMOVQEQ AX, R8
	CMOVQEQ BX, R11
	ELEMLOOP(AFFINE_FULL_NT, AFFINE_PART, AFFINE_STEP, SFENCE)

#define DIV_FULL VMOVUPS (SI), Z0; VDIVPS Z16, Z0, Z0; VMOVUPS Z0, (DI)
#define DIV_PART VMOVUPS.Z (SI), K1, Z0; VDIVPS Z16, Z0, Z0; VMOVUPS Z0, K1, (DI)

// func divAVX512(dst, x []float32, t float32)
// for j, v := range x { dst[j] = v / t }
TEXT ·divAVX512(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS t+48(FP), Z16
	ELEMLOOP(DIV_FULL, DIV_PART, STEP_1, NOP)

// AXPBY maps Z0 = x, Z1 = y to (x*a + y*b) + c with a, b, c in Z16, Z17, Z18.
#define AXPBY VMULPS Z16, Z0, Z0; VMULPS Z17, Z1, Z1; VADDPS Z1, Z0, Z0; VADDPS Z18, Z0, Z0
#define AXPBY_FULL VMOVUPS (SI), Z0; VMOVUPS (DX), Z1; AXPBY; VMOVUPS Z0, (DI)
#define AXPBY_FULL_NT VMOVUPS (SI), Z0; VMOVUPS (DX), Z1; AXPBY; VMOVNTPS Z0, (DI)
#define AXPBY_PART VMOVUPS.Z (SI), K1, Z0; VMOVUPS.Z (DX), K1, Z1; AXPBY; VMOVUPS Z0, K1, (DI)

// func axpbyAVX512(dst, x, y []float32, a, b, c float32)
// for j, v := range x { dst[j] = (v*a + y[j]*b) + c }   (each operation rounded)
TEXT ·axpbyAVX512(SB), NOSPLIT, $0-84
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ y_base+48(FP), DX
	VBROADCASTSS a+72(FP), Z16
	VBROADCASTSS b+76(FP), Z17
	VBROADCASTSS c+80(FP), Z18
	ELEMLOOP(AXPBY_FULL, AXPBY_PART, STEP_2, NOP)

// func axpbyNTAVX512(dst, x, y []float32, a, b, c float32)
// axpbyAVX512 with non-temporal stores of the whole blocks; dst must be 64-byte aligned.
TEXT ·axpbyNTAVX512(SB), NOSPLIT, $0-84
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ y_base+48(FP), DX
	VBROADCASTSS a+72(FP), Z16
	VBROADCASTSS b+76(FP), Z17
	VBROADCASTSS c+80(FP), Z18
	ELEMLOOP(AXPBY_FULL_NT, AXPBY_PART, STEP_2, SFENCE)

// func sumSqDotAVX512(h, dy, w []float32) (ss, c float32)
// for j, v := range h { g := dy[j] * w[j] (dy[j] when w is empty); ss += v*v; c += g*v }
// (two accumulators for each sum, as lanes; the order depends only on the length)
TEXT ·sumSqDotAVX512(SB), NOSPLIT, $0-80
	MOVQ h_base+0(FP), SI
	MOVQ h_len+8(FP), CX
	MOVQ dy_base+24(FP), DX
	MOVQ w_base+48(FP), R8
	MOVQ w_len+56(FP), R9
	MOVQ $64, R10
	XORQ BX, BX
	LEAQ ones16<>(SB), AX
	TESTQ R9, R9
	CMOVQEQ AX, R8
	CMOVQEQ BX, R10
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	CMPQ CX, $32
	JLT single
loop32:
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS (DX), Z6
	VMOVUPS 64(DX), Z7
	VMULPS (R8), Z6, Z6
	VMULPS (R8)(R10*1), Z7, Z7
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z5, Z5, Z1
	VFMADD231PS Z6, Z4, Z2
	VFMADD231PS Z7, Z5, Z3
	ADDQ $128, SI
	ADDQ $128, DX
	LEAQ (R8)(R10*2), R8
	SUBQ $32, CX
	CMPQ CX, $32
	JGE loop32
single:
	CMPQ CX, $16
	JLT tail
	VMOVUPS (SI), Z4
	VMOVUPS (DX), Z6
	VMULPS (R8), Z6, Z6
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z6, Z4, Z2
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ R10, R8
	SUBQ $16, CX
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	VMOVUPS.Z (DX), K1, Z6
	VMOVUPS.Z (R8), K1, Z7
	VMULPS Z7, Z6, Z6
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z6, Z4, Z2
reduce:
	VADDPS Z3, Z2, Z2
	VADDPS Z1, Z0, Z0
	HSUM
	VMOVSS X0, ss+72(FP)
	VMOVAPS Z2, Z0
	HSUM
	VMOVSS X0, c+76(FP)
	VZEROUPPER
	RET

// func lnSumsAVX512(h, dy, w []float32, mean, r float32) (sg, sgx float32)
// for j, v := range h { xhat := (v - mean) * r; g := dy[j] * w[j] (dy[j] when w is
// empty); sg += g; sgx += g*xhat }   (two accumulators for each sum, as lanes)
TEXT ·lnSumsAVX512(SB), NOSPLIT, $0-88
	MOVQ h_base+0(FP), SI
	MOVQ h_len+8(FP), CX
	MOVQ dy_base+24(FP), DX
	MOVQ w_base+48(FP), R8
	MOVQ w_len+56(FP), R9
	VBROADCASTSS mean+72(FP), Z16
	VBROADCASTSS r+76(FP), Z17
	MOVQ $64, R10
	XORQ BX, BX
	LEAQ ones16<>(SB), AX
	TESTQ R9, R9
	CMOVQEQ AX, R8
	CMOVQEQ BX, R10
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	CMPQ CX, $32
	JLT single
loop32:
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VSUBPS Z16, Z4, Z4
	VSUBPS Z16, Z5, Z5
	VMULPS Z17, Z4, Z4
	VMULPS Z17, Z5, Z5
	VMOVUPS (DX), Z6
	VMOVUPS 64(DX), Z7
	VMULPS (R8), Z6, Z6
	VMULPS (R8)(R10*1), Z7, Z7
	VADDPS Z6, Z0, Z0
	VADDPS Z7, Z1, Z1
	VFMADD231PS Z6, Z4, Z2
	VFMADD231PS Z7, Z5, Z3
	ADDQ $128, SI
	ADDQ $128, DX
	LEAQ (R8)(R10*2), R8
	SUBQ $32, CX
	CMPQ CX, $32
	JGE loop32
single:
	CMPQ CX, $16
	JLT tail
	VMOVUPS (SI), Z4
	VSUBPS Z16, Z4, Z4
	VMULPS Z17, Z4, Z4
	VMOVUPS (DX), Z6
	VMULPS (R8), Z6, Z6
	VADDPS Z6, Z0, Z0
	VFMADD231PS Z6, Z4, Z2
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ R10, R8
	SUBQ $16, CX
tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	VSUBPS.Z Z16, Z4, K1, Z4
	VMULPS.Z Z17, Z4, K1, Z4
	VMOVUPS.Z (DX), K1, Z6
	VMOVUPS.Z (R8), K1, Z7
	VMULPS Z7, Z6, Z6
	VADDPS Z6, Z0, Z0
	VFMADD231PS Z6, Z4, Z2
reduce:
	VADDPS Z3, Z2, Z2
	VADDPS Z1, Z0, Z0
	HSUM
	VMOVSS X0, sg+80(FP)
	VMOVAPS Z2, Z0
	HSUM
	VMOVSS X0, sgx+84(FP)
	VZEROUPPER
	RET

// NORMGRADLOOP is the loop of normGrad: xhat = (h-mean)*r, g = dy*w, dst = (g*a + xhat*b) + c
// (each operation rounded), pw += dy*xhat and pb += dy where R11 and R12 are not 0;
// store writes dst's whole blocks, fence ends the routine. Expects DI, R11, R12, SI (h),
// DX (dy), R8 (w, or ones16 with R10 = 0), R10 (64), CX, and mean, r, a, b, c in
// Z16..Z20.
#define NORMGRADLOOP(store, fence) \
	CMPQ CX, $16; \
	JLT tail; \
loop: \
	VMOVUPS (SI), Z0; \
	VMOVUPS (DX), Z1; \
	VSUBPS Z16, Z0, Z0; \
	VMULPS Z17, Z0, Z0; \
	VMULPS (R8), Z1, Z2; \
	VMULPS Z18, Z2, Z2; \
	VMULPS Z19, Z0, Z3; \
	VADDPS Z3, Z2, Z2; \
	VADDPS Z20, Z2, Z2; \
	TESTQ R11, R11; \
	JZ nopw; \
	VMULPS Z0, Z1, Z4; \
	VADDPS (R11), Z4, Z4; \
	VMOVUPS Z4, (R11); \
	ADDQ $64, R11; \
nopw: \
	TESTQ R12, R12; \
	JZ nopb; \
	VADDPS (R12), Z1, Z4; \
	VMOVUPS Z4, (R12); \
	ADDQ $64, R12; \
nopb: \
	store Z2, (DI); \
	ADDQ $64, SI; \
	ADDQ $64, DX; \
	ADDQ $64, DI; \
	ADDQ R10, R8; \
	SUBQ $16, CX; \
	CMPQ CX, $16; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	VMOVUPS.Z (SI), K1, Z0; \
	VMOVUPS.Z (DX), K1, Z1; \
	VMOVUPS.Z (R8), K1, Z5; \
	VSUBPS Z16, Z0, Z0; \
	VMULPS Z17, Z0, Z0; \
	VMULPS Z5, Z1, Z2; \
	VMULPS Z18, Z2, Z2; \
	VMULPS Z19, Z0, Z3; \
	VADDPS Z3, Z2, Z2; \
	VADDPS Z20, Z2, Z2; \
	TESTQ R11, R11; \
	JZ tailnopw; \
	VMULPS Z0, Z1, Z4; \
	VMOVUPS.Z (R11), K1, Z5; \
	VADDPS Z5, Z4, Z4; \
	VMOVUPS Z4, K1, (R11); \
tailnopw: \
	TESTQ R12, R12; \
	JZ tailnopb; \
	VMOVUPS.Z (R12), K1, Z5; \
	VADDPS Z5, Z1, Z4; \
	VMOVUPS Z4, K1, (R12); \
tailnopb: \
	VMOVUPS Z2, K1, (DI); \
done: \
	fence; \
	VZEROUPPER; \
	RET

// func normGradAVX512(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)
// for j, v := range h { xhat := (v-mean)*r; g := dy[j]*w[j] (dy[j] when w is empty)
//	pw[j] += dy[j]*xhat; pb[j] += dy[j] (each when not empty); dst[j] = (g*a + xhat*b) + c }
TEXT ·normGradAVX512(SB), NOSPLIT, $0-164
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
	VBROADCASTSS mean+144(FP), Z16
	VBROADCASTSS r+148(FP), Z17
	VBROADCASTSS a+152(FP), Z18
	VBROADCASTSS b+156(FP), Z19
	VBROADCASTSS c+160(FP), Z20
	MOVQ $64, R10
	XORQ BX, BX
	LEAQ ones16<>(SB), AX
	TESTQ R9, R9
	CMOVQEQ AX, R8
	CMOVQEQ BX, R10
	NORMGRADLOOP(VMOVUPS, NOP)

// func normGradNTAVX512(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)
// normGradAVX512 with non-temporal stores of dst's whole blocks; dst must be 64-byte
// aligned.
TEXT ·normGradNTAVX512(SB), NOSPLIT, $0-164
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
	VBROADCASTSS mean+144(FP), Z16
	VBROADCASTSS r+148(FP), Z17
	VBROADCASTSS a+152(FP), Z18
	VBROADCASTSS b+156(FP), Z19
	VBROADCASTSS c+160(FP), Z20
	MOVQ $64, R10
	XORQ BX, BX
	LEAQ ones16<>(SB), AX
	TESTQ R9, R9
	CMOVQEQ AX, R8
	CMOVQEQ BX, R10
	NORMGRADLOOP(VMOVNTPS, SFENCE)

// func softmaxRowsAVX512(dst, x *float32, rows, n, ldd, ldx int)
// For each of rows rows (ldx and ldd floats apart): m := max(x row); s := expSum(dst
// row, x row, m, next x row); dst row *= 1/s. That is Softmax's float32 path (max,
// expSum into a scratch row, scaleShift by 1/s) in one call with the same bits, the
// exponentials written to dst and scaled there (dst may be x).
TEXT ·softmaxRowsAVX512(SB), NOSPLIT, $0-48
	SOFTMAX_ROWS_ARGS
	EXPCONSTS
	TESTQ R11, R11
	JLE srdone

srrow:
	MOVQ R8, SI
	MOVQ R14, CX
	MAX_CORE
	VBROADCASTSS X0, Z16
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
	VMOVAPS X20, X1
	VDIVSS X0, X1, X1
	VBROADCASTSS X1, Z17
	MOVQ R10, DI
	MOVQ R14, CX
	CMPQ CX, $16
	JLT srtail

srscale:
	VMOVUPS (DI), Z0
	VMULPS Z17, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE srscale

srtail:
	TESTQ CX, CX
	JLE srnext
	TAILMASK
	VMOVUPS.Z (DI), K1, Z0
	VMULPS Z17, Z0, Z0
	VMOVUPS Z0, K1, (DI)

srnext:
	ADDQ R12, R10
	ADDQ R13, R8
	DECQ R11
	JNZ srrow

srdone:
	VZEROUPPER
	RET

// func expSumAVX512(dst, x []float32, m float32, next []byte) float32
// var s float32; for j, v := range x { e := exp(v - m); if dst != nil { dst[j] = e }; s += e }; return s
// (16-lane accumulators: while 64 or more elements remain, block k of each 64 goes to
// accumulator k%4, the later blocks to accumulator 0; then (0+1)+(2+3) and a fixed-order
// horizontal sum). Each block of 16 also prefetches the next 64 bytes of next into L2
// (PREFETCHT1), until next is covered.
TEXT ·expSumAVX512(SB), NOSPLIT, $0-84
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS m+48(FP), Z16
	MOVQ next_base+56(FP), DX
	MOVQ next_len+64(FP), R9
	EXPCONSTS
	EXPSUM_CORE
	VMOVSS X0, ret+80(FP)
	VZEROUPPER
	RET

// ACTLOOP is the loop of the activation kernels: body maps x in Z2 to act(x) in Z2 (using
// Z0..Z15 freely), which is multiplied by up (DX; ones16 with stride 0 when up is nil) and
// stored to DI, whole blocks with the instruction store; fence ends the routine (as in
// ELEMLOOP). Expects DI, SI, DX, CX set.
#define ACTLOOP(body, store, fence) \
	XORQ BX, BX; \
	MOVQ $64, R10; \
	LEAQ ones16<>(SB), AX; \
	TESTQ DX, DX; \
	CMOVQEQ AX, DX; \
	CMOVQEQ BX, R10; \
	CMPQ CX, $16; \
	JLT tail; \
loop: \
	VMOVUPS (SI), Z2; \
	body; \
	VMULPS (DX), Z2, Z2; \
	store Z2, (DI); \
	ADDQ $64, SI; \
	ADDQ $64, DI; \
	ADDQ R10, DX; \
	SUBQ $16, CX; \
	CMPQ CX, $16; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	VMOVUPS.Z (SI), K1, Z2; \
	body; \
	VMOVUPS.Z (DX), K1, Z3; \
	VMULPS Z3, Z2, Z2; \
	VMOVUPS Z2, K1, (DI); \
done: \
	fence; \
	VZEROUPPER; \
	RET

// SILU sets Z2 = x / (1 + exp(-x)) for x in Z2; uses Z3..Z5 and Z19 = sign bit.
#define SILU \
	VXORPS Z19, Z2, Z3; \
	EXP(Z3, Z4, Z5); \
	VADDPS Z20, Z3, Z3; \
	VDIVPS Z3, Z2, Z2

// GELUTANH sets Z2 = x / (1 + exp(x*(k0 + k1*x^2))) for x in Z2, which equals
// 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3))); uses Z3..Z5, Z17 = k0, Z18 = k1.
#define GELUTANH \
	VMULPS Z2, Z2, Z3; \
	VFMADD213PS Z17, Z18, Z3; \
	VMULPS Z2, Z3, Z3; \
	EXP(Z3, Z4, Z5); \
	VADDPS Z20, Z3, Z3; \
	VDIVPS Z3, Z2, Z2

// PHI sets Z6 = Phi(x) (standard normal CDF) for x in Z2 through erfc:
// z = |x|/sqrt(2), h = 0.5*erfc(z) = Phi(-|x|), Phi(x) = x < 0 ? h : 1 - h.
// Leaves z in Z3; uses Z4..Z14, K2, Z16 = 1/sqrt(2), Z17 = 0.5, Z18 = abs mask.
// E(t) is evaluated in Estrin's scheme (pairs of terms, then t^2, t^4 and t^8), whose
// chain of dependent operations is half as long as Horner's: GELU ran out of room for
// operations in flight, and runs 10-13% faster so (go test -bench 'Activations/gelu'
// ./core/kernels).
#define PHI \
	VANDPS Z18, Z2, Z3; \
	VMULPS Z16, Z3, Z3; \
	VMOVAPS Z3, Z4; \
	VFMADD213PS Z20, Z17, Z4; \
	VDIVPS Z4, Z20, Z4; \
	VMULPS Z4, Z4, Z8; \
	VMULPS Z8, Z8, Z9; \
	VMULPS Z9, Z9, Z10; \
	BCAST(ERF1, Z5); \
	VFMADD213PS.BCST c512<>+ERF0(SB), Z4, Z5; \
	BCAST(ERF3, Z11); \
	VFMADD213PS.BCST c512<>+ERF2(SB), Z4, Z11; \
	BCAST(ERF5, Z12); \
	VFMADD213PS.BCST c512<>+ERF4(SB), Z4, Z12; \
	BCAST(ERF7, Z13); \
	VFMADD213PS.BCST c512<>+ERF6(SB), Z4, Z13; \
	BCAST(ERF9, Z14); \
	VFMADD213PS.BCST c512<>+ERF8(SB), Z4, Z14; \
	VFMADD231PS Z11, Z8, Z5; \
	VFMADD231PS Z13, Z8, Z12; \
	VFMADD231PS Z12, Z9, Z5; \
	VFMADD231PS Z14, Z10, Z5; \
	VFNMADD231PS Z3, Z3, Z5; \
	EXP(Z5, Z6, Z7); \
	VMULPS Z4, Z5, Z5; \
	VMULPS Z17, Z5, Z5; \
	VSUBPS Z5, Z20, Z6; \
	VPMOVD2M Z2, K2; \
	VBLENDMPS Z5, Z6, K2, Z6

// GELU sets Z2 = x * Phi(x) for x in Z2.
#define GELU \
	PHI; \
	VMULPS Z6, Z2, Z2

// func siluAVX512(dst, x, up []float32)
// for j, v := range x { y := v / (1 + exp(-v)); if up != nil { y *= up[j] }; dst[j] = y }
TEXT ·siluAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	EXPCONSTS
	BCAST(SIGN, Z19)
	ACTLOOP(SILU, VMOVUPS, NOP)

// func siluNTAVX512(dst, x, up []float32)
// siluAVX512 with non-temporal stores of the whole blocks; dst must be 64-byte aligned.
TEXT ·siluNTAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	EXPCONSTS
	BCAST(SIGN, Z19)
	ACTLOOP(SILU, VMOVNTPS, SFENCE)

// func geluTanhAVX512(dst, x, up []float32)
// for j, v := range x { y := 0.5*v*(1 + tanh(sqrt(2/pi)*(v + 0.044715*v^3))); if up != nil { y *= up[j] }; dst[j] = y }
TEXT ·geluTanhAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	EXPCONSTS
	BCAST(GTK0, Z17)
	BCAST(GTK1, Z18)
	ACTLOOP(GELUTANH, VMOVUPS, NOP)

// func geluTanhNTAVX512(dst, x, up []float32)
// geluTanhAVX512 with non-temporal stores of the whole blocks; dst must be 64-byte aligned.
TEXT ·geluTanhNTAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	EXPCONSTS
	BCAST(GTK0, Z17)
	BCAST(GTK1, Z18)
	ACTLOOP(GELUTANH, VMOVNTPS, SFENCE)

// func geluAVX512(dst, x, up []float32)
// for j, v := range x { y := v * Phi(v); if up != nil { y *= up[j] }; dst[j] = y }
TEXT ·geluAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	EXPCONSTS
	BCAST(INVSQRT2, Z16)
	BCAST(HALF, Z17)
	BCAST(ABS, Z18)
	ACTLOOP(GELU, VMOVUPS, NOP)

// func geluNTAVX512(dst, x, up []float32)
// geluAVX512 with non-temporal stores of the whole blocks; dst must be 64-byte aligned.
TEXT ·geluNTAVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ up_base+48(FP), DX
	EXPCONSTS
	BCAST(INVSQRT2, Z16)
	BCAST(HALF, Z17)
	BCAST(ABS, Z18)
	ACTLOOP(GELU, VMOVNTPS, SFENCE)

// GRADLOOP is the loop of the activation-gradient kernels: body maps x in Z2 to act(x) in
// Z10 and act'(x) in Z11, stored to DI and R8. Expects DI (a), R8 (da), SI (x), CX set.
#define GRADLOOP(body) \
	CMPQ CX, $16; \
	JLT tail; \
loop: \
	VMOVUPS (SI), Z2; \
	body; \
	VMOVUPS Z10, (DI); \
	VMOVUPS Z11, (R8); \
	ADDQ $64, SI; \
	ADDQ $64, DI; \
	ADDQ $64, R8; \
	SUBQ $16, CX; \
	CMPQ CX, $16; \
	JGE loop; \
tail: \
	TESTQ CX, CX; \
	JLE done; \
	TAILMASK; \
	VMOVUPS.Z (SI), K1, Z2; \
	body; \
	VMOVUPS Z10, K1, (DI); \
	VMOVUPS Z11, K1, (R8); \
done: \
	VZEROUPPER; \
	RET

// SILUGRAD: e = exp(-x), a = x/(1+e), s = 1/(1+e), da = s*(1 + x*(1-s)), where 1-s is
// taken as e*s for x >= 0 (no cancellation there; e <= 1 cannot overflow).
#define SILUGRAD \
	VXORPS Z19, Z2, Z3; \
	EXP(Z3, Z4, Z5); \
	VADDPS Z20, Z3, Z6; \
	VDIVPS Z6, Z2, Z10; \
	VDIVPS Z6, Z20, Z4; \
	VMULPS Z4, Z3, Z7; \
	VSUBPS Z4, Z20, Z11; \
	VPMOVD2M Z2, K2; \
	VBLENDMPS Z11, Z7, K2, Z11; \
	VFMADD213PS Z20, Z2, Z11; \
	VMULPS Z4, Z11, Z11

// GELUTANHGRAD: e = exp(x*(k0 + k1 x^2)), s = 1/(1+e) = 0.5*(1 + tanh(u)), a = x/(1+e),
// da = s + x*s*(1-s)*(d0 + d1*min(x^2, 1e8)), 1-s taken as e*s for x >= 0 as in SILUGRAD
// (the cap keeps 0*Inf out when s*(1-s) is already 0).
#define GELUTANHGRAD \
	VMULPS Z2, Z2, Z6; \
	VMOVAPS Z6, Z3; \
	VFMADD213PS Z17, Z18, Z3; \
	VMULPS Z2, Z3, Z3; \
	EXP(Z3, Z4, Z5); \
	VADDPS Z20, Z3, Z8; \
	VDIVPS Z8, Z2, Z10; \
	VDIVPS Z8, Z20, Z4; \
	VMULPS Z4, Z3, Z9; \
	VSUBPS Z4, Z20, Z11; \
	VPMOVD2M Z2, K2; \
	VBLENDMPS Z11, Z9, K2, Z11; \
	VMINPS Z6, Z16, Z6; \
	VMOVAPS Z6, Z7; \
	VFMADD213PS Z14, Z15, Z7; \
	VMULPS Z4, Z11, Z11; \
	VMULPS Z2, Z11, Z11; \
	VMULPS Z7, Z11, Z11; \
	VADDPS Z4, Z11, Z11

// GELUGRAD: a = x*Phi(x), da = Phi(x) + x*phi(x) with phi(x) = exp(-z*z)/sqrt(2*pi).
#define GELUGRAD \
	PHI; \
	VMULPS Z6, Z2, Z10; \
	VXORPS Z8, Z8, Z8; \
	VFNMADD231PS Z3, Z3, Z8; \
	EXP(Z8, Z4, Z5); \
	VMULPS Z15, Z8, Z8; \
	VMOVAPS Z6, Z11; \
	VFMADD231PS Z8, Z2, Z11

// func siluGradAVX512(a, da, x []float32)
// for j, v := range x { a[j] = silu(v); da[j] = silu'(v) }
TEXT ·siluGradAVX512(SB), NOSPLIT, $0-72
	MOVQ a_base+0(FP), DI
	MOVQ da_base+24(FP), R8
	MOVQ x_base+48(FP), SI
	MOVQ x_len+56(FP), CX
	EXPCONSTS
	BCAST(SIGN, Z19)
	GRADLOOP(SILUGRAD)

// func geluTanhGradAVX512(a, da, x []float32)
// for j, v := range x { a[j] = geluTanh(v); da[j] = geluTanh'(v) }
TEXT ·geluTanhGradAVX512(SB), NOSPLIT, $0-72
	MOVQ a_base+0(FP), DI
	MOVQ da_base+24(FP), R8
	MOVQ x_base+48(FP), SI
	MOVQ x_len+56(FP), CX
	EXPCONSTS
	BCAST(GTK0, Z17)
	BCAST(GTK1, Z18)
	BCAST(X2MAX, Z16)
	BCAST(GTD0, Z14)
	BCAST(GTD1, Z15)
	GRADLOOP(GELUTANHGRAD)

// func geluGradAVX512(a, da, x []float32)
// for j, v := range x { a[j] = gelu(v); da[j] = gelu'(v) }
TEXT ·geluGradAVX512(SB), NOSPLIT, $0-72
	MOVQ a_base+0(FP), DI
	MOVQ da_base+24(FP), R8
	MOVQ x_base+48(FP), SI
	MOVQ x_len+56(FP), CX
	EXPCONSTS
	BCAST(INVSQRT2, Z16)
	BCAST(HALF, Z17)
	BCAST(ABS, Z18)
	BCAST(INVSQRT2PI, Z15)
	GRADLOOP(GELUGRAD)
