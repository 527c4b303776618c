//go:build !purego

#include "textflag.h"

// AVX2 + FMA attention kernels. Each routine computes the generic Go loop named in its
// comment (kernels_generic.go), 8 float32 lanes at a time. Head-dim lengths (len(q),
// len(o)) are multiples of 16.

// C8 stores one float32 constant in all 8 lanes of a 32-byte slot of b256, so that it can
// be a full-width memory operand.
#define C8(off, v) \
	DATA b256<>+(off)(SB)/4, v; \
	DATA b256<>+(off+4)(SB)/4, v; \
	DATA b256<>+(off+8)(SB)/4, v; \
	DATA b256<>+(off+12)(SB)/4, v; \
	DATA b256<>+(off+16)(SB)/4, v; \
	DATA b256<>+(off+20)(SB)/4, v; \
	DATA b256<>+(off+24)(SB)/4, v; \
	DATA b256<>+(off+28)(SB)/4, v

#define ONE 0
#define LOG2E 32
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
#define NEGINF 384
#define BIAS127 416 // float32 exponent bias
#define PERM 448 // lane order of the SCORES8 result (not a C8 slot)

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
C8(BIAS127, $0x0000007f)
DATA b256<>+(PERM+0)(SB)/4, $0
DATA b256<>+(PERM+4)(SB)/4, $4
DATA b256<>+(PERM+8)(SB)/4, $1
DATA b256<>+(PERM+12)(SB)/4, $5
DATA b256<>+(PERM+16)(SB)/4, $2
DATA b256<>+(PERM+20)(SB)/4, $6
DATA b256<>+(PERM+24)(SB)/4, $3
DATA b256<>+(PERM+28)(SB)/4, $7
GLOBL b256<>(SB), RODATA|NOPTR, $480

// tail8 holds 8 all-ones lanes then 8 zero lanes: the 32 bytes at tail8+32-4k are a
// VMASKMOVPS mask selecting the first k lanes.
DATA tail8<>+0(SB)/8, $-1
DATA tail8<>+8(SB)/8, $-1
DATA tail8<>+16(SB)/8, $-1
DATA tail8<>+24(SB)/8, $-1
DATA tail8<>+32(SB)/8, $0
DATA tail8<>+40(SB)/8, $0
DATA tail8<>+48(SB)/8, $0
DATA tail8<>+56(SB)/8, $0
GLOBL tail8<>(SB), RODATA|NOPTR, $64

#define K(off) b256<>+off(SB)

// TAILMASK sets Y13 to the mask of the first CX lanes (0 < CX < 8); AX and BX are clobbered.
#define TAILMASK \
	LEAQ tail8<>+32(SB), AX; \
	MOVQ CX, BX; \
	NEGQ BX; \
	VMOVDQU (AX)(BX*4), Y13

// EXP sets x = exp(x) (float32, max error 1 ulp for results >= 2^-126; -Inf gives 0);
// t1, t2, t3 are clobbered; needs Y14 = -150, Y15 = 89. x is clamped to [-150, 89],
// split as x = n*ln2 + r with |r| <= ln2/2, e^r comes from a degree-7 polynomial and 2^n
// is applied as 2^(n>>1) * 2^(n-(n>>1)), two exact powers of two.
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

// HSUM sets X0 to the sum of the 8 lanes of Y0 by halving: lanes l and l+4, then l and
// l+2, l and l+1. SCORES8 below adds in exactly this tree. Y1 is clobbered.
#define HSUM \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VADDPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VADDSS X1, X0, X0

// HMAX sets X0 to the largest of the 8 lanes of Y0; Y1 is clobbered.
#define HMAX \
	VEXTRACTF128 $1, Y0, X1; \
	VMAXPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VMAXPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VMAXSS X1, X0, X0

// SCORES8 reduces the 8-lane accumulators Y0..Y7 (one per key) to their 8 sums in Y0,
// adding in the HSUM tree for each key, two to four keys per instruction; Y8, Y9 are
// clobbered.
#define SCORES8 \
	VPERM2F128 $0x20, Y1, Y0, Y8; \
	VPERM2F128 $0x31, Y1, Y0, Y9; \
	VADDPS Y9, Y8, Y0; \
	VPERM2F128 $0x20, Y3, Y2, Y8; \
	VPERM2F128 $0x31, Y3, Y2, Y9; \
	VADDPS Y9, Y8, Y1; \
	VPERM2F128 $0x20, Y5, Y4, Y8; \
	VPERM2F128 $0x31, Y5, Y4, Y9; \
	VADDPS Y9, Y8, Y2; \
	VPERM2F128 $0x20, Y7, Y6, Y8; \
	VPERM2F128 $0x31, Y7, Y6, Y9; \
	VADDPS Y9, Y8, Y3; \
	VSHUFPS $0x44, Y1, Y0, Y8; \
	VSHUFPS $0xEE, Y1, Y0, Y9; \
	VADDPS Y9, Y8, Y0; \
	VSHUFPS $0x44, Y3, Y2, Y8; \
	VSHUFPS $0xEE, Y3, Y2, Y9; \
	VADDPS Y9, Y8, Y1; \
	VMOVSHDUP Y0, Y8; \
	VADDPS Y8, Y0, Y0; \
	VMOVSHDUP Y1, Y8; \
	VADDPS Y8, Y1, Y1; \
	VSHUFPS $0x88, Y1, Y0, Y0; \
	VMOVUPS K(PERM), Y8; \
	VPERMPS Y0, Y8, Y0

// func scoresAVX2(s, q, k []float32, ks int, scale float32) float32
// for j := range s { acc := 0; for d := range q { acc += q[d]*k[j*ks+d] }; s[j] = acc*scale }
// returns max(s) (-Inf when empty). Each dot product keeps 8 lane sums (one FMA chain
// per lane, d in increasing order) added by the HSUM tree, whether its key is one of a
// group of 8 (8 chains in flight, q loaded once per step) or a leftover one.
TEXT ·scoresAVX2(SB), NOSPLIT, $0-92
	MOVQ s_base+0(FP), DI
	MOVQ s_len+8(FP), CX
	MOVQ q_base+24(FP), SI
	MOVQ q_len+32(FP), DX
	SHLQ $2, DX
	MOVQ k_base+48(FP), R8
	VBROADCASTSS scale+80(FP), Y11
	VMOVUPS K(NEGINF), Y10
	VMOVUPS K(NEGINF), Y12
	CMPQ CX, $8
	JLT one

group:
	MOVQ ks+72(FP), R10
	SHLQ $2, R10
	LEAQ (R8)(R10*1), R9
	LEAQ (R9)(R10*1), R11
	LEAQ (R11)(R10*1), R12
	LEAQ (R12)(R10*1), R13
	LEAQ (R13)(R10*1), R14
	LEAQ (R14)(R10*1), AX
	LEAQ (AX)(R10*1), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ R10, R10

dloop:
	VMOVUPS (SI)(R10*1), Y8
	VFMADD231PS (R8)(R10*1), Y8, Y0
	VFMADD231PS (R9)(R10*1), Y8, Y1
	VFMADD231PS (R11)(R10*1), Y8, Y2
	VFMADD231PS (R12)(R10*1), Y8, Y3
	VFMADD231PS (R13)(R10*1), Y8, Y4
	VFMADD231PS (R14)(R10*1), Y8, Y5
	VFMADD231PS (AX)(R10*1), Y8, Y6
	VFMADD231PS (BX)(R10*1), Y8, Y7
	ADDQ $32, R10
	CMPQ R10, DX
	JLT dloop

	SCORES8
	VMULPS Y11, Y0, Y0
	VMOVUPS Y0, (DI)
	VMAXPS Y0, Y10, Y10
	ADDQ $32, DI
	MOVQ ks+72(FP), R10
	SHLQ $2, R10
	LEAQ (BX)(R10*1), R8
	SUBQ $8, CX
	CMPQ CX, $8
	JGE group

one:
	TESTQ CX, CX
	JLE done
	MOVQ ks+72(FP), R9
	SHLQ $2, R9

oneloop:
	VXORPS Y0, Y0, Y0
	XORQ R10, R10

d1:
	VMOVUPS (SI)(R10*1), Y8
	VFMADD231PS (R8)(R10*1), Y8, Y0
	ADDQ $32, R10
	CMPQ R10, DX
	JLT d1
	HSUM
	VMULSS X11, X0, X0
	VMOVSS X0, (DI)
	VMAXSS X0, X12, X12
	ADDQ $4, DI
	ADDQ R9, R8
	DECQ CX
	JNZ oneloop

done:
	// Y10 holds the groups' lane-wise maximum, lane 0 of X12 the leftovers'.
	VMOVAPS Y10, Y0
	HMAX
	VMAXSS X12, X0, X0
	VMOVSS X0, ret+88(FP)
	VZEROUPPER
	RET

// func expSumAVX2(x []float32, m float32) float32
// var s float32; for j, v := range x { e := exp(v - m); x[j] = e; s += e }; return s
// (one 8-lane accumulator, the last partial block masked, then the HSUM tree).
TEXT ·expSumAVX2(SB), NOSPLIT, $0-36
	MOVQ x_base+0(FP), DI
	MOVQ x_len+8(FP), CX
	VBROADCASTSS m+24(FP), Y10
	VMOVUPS K(EXPLO), Y14
	VMOVUPS K(EXPHI), Y15
	VXORPS Y0, Y0, Y0
	CMPQ CX, $8
	JLT tail

loop:
	VMOVUPS (DI), Y2
	VSUBPS Y10, Y2, Y2
	EXP(Y2, Y3, Y4, Y5)
	VADDPS Y2, Y0, Y0
	VMOVUPS Y2, (DI)
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop

tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMASKMOVPS (DI), Y13, Y2
	VSUBPS Y10, Y2, Y2
	EXP(Y2, Y3, Y4, Y5)
	VANDPS Y13, Y2, Y2
	VADDPS Y2, Y0, Y0
	VMASKMOVPS Y2, Y13, (DI)

reduce:
	HSUM
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET


// func accumAVX2(o, p, v []float32, vs int)
// for j, pj := range p { for d := range o { o[d] += pj * v[j*vs+d] } }
// o is processed in blocks of 8, 4 and 1 vectors, each block's sums held in registers
// across the whole j loop.
TEXT ·accumAVX2(SB), NOSPLIT, $0-80
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), DX
	SHLQ $2, DX
	MOVQ p_base+24(FP), SI
	MOVQ p_len+32(FP), CX
	MOVQ v_base+48(FP), BX
	MOVQ vs+72(FP), R9
	SHLQ $2, R9
	TESTQ CX, CX
	JLE done

blk8:
	CMPQ DX, $256
	JLT blk4
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	MOVQ BX, R11
	XORQ R12, R12

j8:
	VBROADCASTSS (SI)(R12*4), Y8
	VFMADD231PS 0(R11), Y8, Y0
	VFMADD231PS 32(R11), Y8, Y1
	VFMADD231PS 64(R11), Y8, Y2
	VFMADD231PS 96(R11), Y8, Y3
	VFMADD231PS 128(R11), Y8, Y4
	VFMADD231PS 160(R11), Y8, Y5
	VFMADD231PS 192(R11), Y8, Y6
	VFMADD231PS 224(R11), Y8, Y7
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT j8
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ $256, DI
	ADDQ $256, BX
	SUBQ $256, DX
	JMP blk8

blk4:
	CMPQ DX, $128
	JLT blk1
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ BX, R11
	XORQ R12, R12

j4:
	VBROADCASTSS (SI)(R12*4), Y8
	VFMADD231PS 0(R11), Y8, Y0
	VFMADD231PS 32(R11), Y8, Y1
	VFMADD231PS 64(R11), Y8, Y2
	VFMADD231PS 96(R11), Y8, Y3
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT j4
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, BX
	SUBQ $128, DX

blk1:
	CMPQ DX, $32
	JLT done
	VMOVUPS 0(DI), Y0
	MOVQ BX, R11
	XORQ R12, R12

j1:
	VBROADCASTSS (SI)(R12*4), Y8
	VFMADD231PS 0(R11), Y8, Y0
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT j1
	VMOVUPS Y0, 0(DI)
	ADDQ $32, DI
	ADDQ $32, BX
	SUBQ $32, DX
	JMP blk1

done:
	VZEROUPPER
	RET

// func axpyRowsAVX2(dst []float32, ld int, a, x []float32)
// for j := range a { for d := range x { dst[j*ld+d] += a[j]*x[d] } }, one FMA per
// element; len(x) is a multiple of 16.
TEXT ·axpyRowsAVX2(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ ld+24(FP), R9
	SHLQ $2, R9
	MOVQ a_base+32(FP), SI
	MOVQ a_len+40(FP), CX
	MOVQ x_base+56(FP), BX
	MOVQ x_len+64(FP), DX
	SHLQ $2, DX
	TESTQ CX, CX
	JLE axdone
	TESTQ DX, DX
	JLE axdone

axrow:
	VBROADCASTSS (SI), Y8
	XORQ AX, AX

axcol:
	VMOVUPS (BX)(AX*1), Y0
	VFMADD213PS (DI)(AX*1), Y8, Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ $32, AX
	CMPQ AX, DX
	JLT axcol
	ADDQ $4, SI
	ADDQ R9, DI
	DECQ CX
	JNZ axrow

axdone:
	VZEROUPPER
	RET
