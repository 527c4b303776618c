//go:build !purego

#include "textflag.h"

// Horizontal sums in a fixed order: Y0 (or Z0) reduced into the low lane of X0.
#define HSUM_Y0 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVHLPS     X0, X0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVSHDUP    X0, X1; \
	VADDSS       X1, X0, X0

#define HSUM_Z0 \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS        Y1, Y0, Y0; \
	HSUM_Y0

// func dotI8AVX512Asm(x *float32, q *int8, n int, s float32, z int32) float32
//
//	for j := 0; j < n; j++ { sum += x[j] * (float32(int32(q[j])-z) * s) }
//
// n is a multiple of 16. Accumulator k takes block k of each 64-element step; blocks
// after the last whole step go to accumulator 0; the four are added as (0+1)+(2+3).
TEXT ·dotI8AVX512Asm(SB), NOSPLIT, $0-36
	MOVQ         x+0(FP), DI
	MOVQ         q+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS s+24(FP), Z30
	MOVL         z+28(FP), AX
	VPBROADCASTD AX, Z31
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	VPXORD       Z2, Z2, Z2
	VPXORD       Z3, Z3, Z3

i8z_step:
	CMPQ        CX, $64
	JLT         i8z_block
	VPMOVSXBD   (SI), Z4
	VPMOVSXBD   16(SI), Z5
	VPMOVSXBD   32(SI), Z6
	VPMOVSXBD   48(SI), Z7
	VPSUBD      Z31, Z4, Z4
	VPSUBD      Z31, Z5, Z5
	VPSUBD      Z31, Z6, Z6
	VPSUBD      Z31, Z7, Z7
	VCVTDQ2PS   Z4, Z4
	VCVTDQ2PS   Z5, Z5
	VCVTDQ2PS   Z6, Z6
	VCVTDQ2PS   Z7, Z7
	VMULPS      Z30, Z4, Z4
	VMULPS      Z30, Z5, Z5
	VMULPS      Z30, Z6, Z6
	VMULPS      Z30, Z7, Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $64, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         i8z_step

i8z_block:
	CMPQ        CX, $16
	JLT         i8z_done
	VPMOVSXBD   (SI), Z4
	VPSUBD      Z31, Z4, Z4
	VCVTDQ2PS   Z4, Z4
	VMULPS      Z30, Z4, Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $16, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         i8z_block

i8z_done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM_Z0
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// func dotI8AVX2Asm(x *float32, q *int8, n int, s float32, z int32) float32
//
//	for j := 0; j < n; j++ { sum += x[j] * (float32(int32(q[j])-z) * s) }
//
// n is a multiple of 16. Accumulator k takes the k-th 8 elements of each 32-element
// step; a last 16-element block goes to accumulators 0 and 1; added as (0+1)+(2+3).
TEXT ·dotI8AVX2Asm(SB), NOSPLIT, $0-36
	MOVQ         x+0(FP), DI
	MOVQ         q+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS s+24(FP), Y14
	MOVL         z+28(FP), AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3

i8y_step:
	CMPQ        CX, $32
	JLT         i8y_block
	VPMOVSXBD   (SI), Y4
	VPMOVSXBD   8(SI), Y5
	VPMOVSXBD   16(SI), Y6
	VPMOVSXBD   24(SI), Y7
	VPSUBD      Y15, Y4, Y4
	VPSUBD      Y15, Y5, Y5
	VPSUBD      Y15, Y6, Y6
	VPSUBD      Y15, Y7, Y7
	VCVTDQ2PS   Y4, Y4
	VCVTDQ2PS   Y5, Y5
	VCVTDQ2PS   Y6, Y6
	VCVTDQ2PS   Y7, Y7
	VMULPS      Y14, Y4, Y4
	VMULPS      Y14, Y5, Y5
	VMULPS      Y14, Y6, Y6
	VMULPS      Y14, Y7, Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $32, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         i8y_step

i8y_block:
	CMPQ        CX, $16
	JLT         i8y_done
	VPMOVSXBD   (SI), Y4
	VPMOVSXBD   8(SI), Y5
	VPSUBD      Y15, Y4, Y4
	VPSUBD      Y15, Y5, Y5
	VCVTDQ2PS   Y4, Y4
	VCVTDQ2PS   Y5, Y5
	VMULPS      Y14, Y4, Y4
	VMULPS      Y14, Y5, Y5
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1

i8y_done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM_Y0
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// func dotU8AVX512Asm(x *float32, q *byte, s, b *float32, n int, shift uint) float32
//
//	for j := 0; j < n; j++ {
//		g := j >> shift
//		sum += x[j] * (float32(float32(q[j])*s[g]) + b[g])
//	}
//
// n is a multiple of 32 and shift >= 5, so each 32-element half of a 64-element step
// lies in one group. Accumulator k takes block k (16 elements) of each step; a last
// 32-element half goes to accumulators 0 and 1; added as (0+1)+(2+3).
TEXT ·dotU8AVX512Asm(SB), NOSPLIT, $0-52
	MOVQ   x+0(FP), DI
	MOVQ   q+8(FP), SI
	MOVQ   s+16(FP), R9
	MOVQ   b+24(FP), R10
	MOVQ   n+32(FP), R8
	MOVQ   shift+40(FP), CX
	XORQ   DX, DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

u8z_step:
	LEAQ         64(DX), AX
	CMPQ         AX, R8
	JGT          u8z_half
	MOVQ         DX, AX
	SHRQ         CX, AX
	VBROADCASTSS (R9)(AX*4), Z8
	VBROADCASTSS (R10)(AX*4), Z9
	LEAQ         32(DX), BX
	SHRQ         CX, BX
	VBROADCASTSS (R9)(BX*4), Z10
	VBROADCASTSS (R10)(BX*4), Z11
	VPMOVZXBD    (SI)(DX*1), Z4
	VPMOVZXBD    16(SI)(DX*1), Z5
	VPMOVZXBD    32(SI)(DX*1), Z6
	VPMOVZXBD    48(SI)(DX*1), Z7
	VCVTDQ2PS    Z4, Z4
	VCVTDQ2PS    Z5, Z5
	VCVTDQ2PS    Z6, Z6
	VCVTDQ2PS    Z7, Z7
	VMULPS       Z8, Z4, Z4
	VMULPS       Z8, Z5, Z5
	VMULPS       Z10, Z6, Z6
	VMULPS       Z10, Z7, Z7
	VADDPS       Z9, Z4, Z4
	VADDPS       Z9, Z5, Z5
	VADDPS       Z11, Z6, Z6
	VADDPS       Z11, Z7, Z7
	VFMADD231PS  (DI)(DX*4), Z4, Z0
	VFMADD231PS  64(DI)(DX*4), Z5, Z1
	VFMADD231PS  128(DI)(DX*4), Z6, Z2
	VFMADD231PS  192(DI)(DX*4), Z7, Z3
	ADDQ         $64, DX
	JMP          u8z_step

u8z_half:
	CMPQ         DX, R8
	JGE          u8z_done
	MOVQ         DX, AX
	SHRQ         CX, AX
	VBROADCASTSS (R9)(AX*4), Z8
	VBROADCASTSS (R10)(AX*4), Z9
	VPMOVZXBD    (SI)(DX*1), Z4
	VPMOVZXBD    16(SI)(DX*1), Z5
	VCVTDQ2PS    Z4, Z4
	VCVTDQ2PS    Z5, Z5
	VMULPS       Z8, Z4, Z4
	VMULPS       Z8, Z5, Z5
	VADDPS       Z9, Z4, Z4
	VADDPS       Z9, Z5, Z5
	VFMADD231PS  (DI)(DX*4), Z4, Z0
	VFMADD231PS  64(DI)(DX*4), Z5, Z1

u8z_done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM_Z0
	VMOVSS X0, ret+48(FP)
	VZEROUPPER
	RET

// func dotU8AVX2Asm(x *float32, q *byte, s, b *float32, n int, shift uint) float32
//
//	for j := 0; j < n; j++ {
//		g := j >> shift
//		sum += x[j] * (float32(float32(q[j])*s[g]) + b[g])
//	}
//
// n is a multiple of 32 and shift >= 5. Accumulator k takes the k-th 8 elements of each
// 32-element step (one group); added as (0+1)+(2+3).
TEXT ·dotU8AVX2Asm(SB), NOSPLIT, $0-52
	MOVQ   x+0(FP), DI
	MOVQ   q+8(FP), SI
	MOVQ   s+16(FP), R9
	MOVQ   b+24(FP), R10
	MOVQ   n+32(FP), R8
	MOVQ   shift+40(FP), CX
	XORQ   DX, DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

u8y_step:
	CMPQ         DX, R8
	JGE          u8y_done
	MOVQ         DX, AX
	SHRQ         CX, AX
	VBROADCASTSS (R9)(AX*4), Y8
	VBROADCASTSS (R10)(AX*4), Y9
	VPMOVZXBD    (SI)(DX*1), Y4
	VPMOVZXBD    8(SI)(DX*1), Y5
	VPMOVZXBD    16(SI)(DX*1), Y6
	VPMOVZXBD    24(SI)(DX*1), Y7
	VCVTDQ2PS    Y4, Y4
	VCVTDQ2PS    Y5, Y5
	VCVTDQ2PS    Y6, Y6
	VCVTDQ2PS    Y7, Y7
	VMULPS       Y8, Y4, Y4
	VMULPS       Y8, Y5, Y5
	VMULPS       Y8, Y6, Y6
	VMULPS       Y8, Y7, Y7
	VADDPS       Y9, Y4, Y4
	VADDPS       Y9, Y5, Y5
	VADDPS       Y9, Y6, Y6
	VADDPS       Y9, Y7, Y7
	VFMADD231PS  (DI)(DX*4), Y4, Y0
	VFMADD231PS  32(DI)(DX*4), Y5, Y1
	VFMADD231PS  64(DI)(DX*4), Y6, Y2
	VFMADD231PS  96(DI)(DX*4), Y7, Y3
	ADDQ         $32, DX
	JMP          u8y_step

u8y_done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM_Y0
	VMOVSS X0, ret+48(FP)
	VZEROUPPER
	RET

// The AVX-512 4-bit kernels keep each group's 16-entry table of dequantized values in a
// register, built from the group's parameters when the group starts: VPERMPS then picks
// table entries by the low 4 bits of each index, so a low nibble needs no mask. The x2
// kernels compute two weight rows against one x, loading x once for both; each row's
// arithmetic (tables, products, accumulator of every product, final additions) is
// exactly that of the one-row kernel, so a row gives the same bits through either.
//
// Registers: DI xp, SI/BX weights of rows A/B, R9/R13 scales of A/B, R10/R14 zero points
// or biases of A/B, R12 offsets (asym), R8 blocks left, CX shift, DX block index, R11
// group of the step, AX scratch; Z0-Z7 accumulators of A, Z12-Z15 and Z26-Z29 of B,
// Z8-Z11 decoded weights, Z16/Z19/Z22/Z23 tables, Z17/Z18 scratch, Z20 nibble levels,
// Z24/Z25 x of one block (x2 kernels).

// Table builders for group R11+J into DST (S scale pointer, P bias or zero-point pointer):
//
//	sym:    t[n] = levels[n] * s[g]
//	asym:   t[n] = offsets[z[g]][n] * s[g], with offsets[z][n] = float32(n - z)
//	affine: t[n] = float32(levels[n]*s[g]) + b[g]
#define TAB_SYM(S, P, J, DST) \
	VBROADCASTSS (J*4)(S)(R11*4), Z17; \
	VMULPS       Z17, Z20, DST

#define TAB_ASYM(S, P, J, DST) \
	MOVBLZX      (J)(P)(R11*1), AX; \
	SHLQ         $6, AX; \
	VBROADCASTSS (J*4)(S)(R11*4), Z17; \
	VMULPS       (R12)(AX*1), Z17, DST

#define TAB_AFF(S, P, J, DST) \
	VBROADCASTSS (J*4)(S)(R11*4), Z17; \
	VBROADCASTSS (J*4)(P)(R11*4), Z18; \
	VMULPS       Z17, Z20, DST; \
	VADDPS       Z18, DST, DST

// I4_BLOCK does block j of a step for row A with table TAB: low nibbles meet x at
// 128j(DI), high nibbles x at 128j+64(DI); accumulators Zj*2 (low) and Zj*2+1 (high).
//
//	for i := 0; i < 16; i++ { LO += xp[32k+i]*t[w[16k+i]&15]; HI += xp[32k+16+i]*t[w[16k+i]>>4] }
#define I4_BLOCK(J, TAB, LO, HI) \
	VPMOVZXBD   (J*16)(SI), Z8; \
	VPSRLD      $4, Z8, Z9; \
	VPERMPS     TAB, Z8, Z8; \
	VPERMPS     TAB, Z9, Z9; \
	VFMADD231PS (J*128)(DI), Z8, LO; \
	VFMADD231PS (J*128+64)(DI), Z9, HI

// I4_BLOCK2 does block j for rows A (table TA) and B (table TB) with x loaded once.
#define I4_BLOCK2(J, TA, TB, LO, HI, LO2, HI2) \
	VMOVUPS     (J*128)(DI), Z24; \
	VMOVUPS     (J*128+64)(DI), Z25; \
	VPMOVZXBD   (J*16)(SI), Z8; \
	VPMOVZXBD   (J*16)(BX), Z10; \
	VPSRLD      $4, Z8, Z9; \
	VPSRLD      $4, Z10, Z11; \
	VPERMPS     TA, Z8, Z8; \
	VPERMPS     TA, Z9, Z9; \
	VPERMPS     TB, Z10, Z10; \
	VPERMPS     TB, Z11, Z11; \
	VFMADD231PS Z24, Z8, LO; \
	VFMADD231PS Z25, Z9, HI; \
	VFMADD231PS Z24, Z10, LO2; \
	VFMADD231PS Z25, Z11, HI2

// Steps of 4 blocks for each group size: the tables are built once per group.
#define I4_NEXT(BLOCKS) \
	ADDQ $(BLOCKS*16), SI; \
	ADDQ $(BLOCKS*128), DI; \
	ADDQ $BLOCKS, DX; \
	SUBQ $BLOCKS, R8

#define I4_G128(TAB) \
	TAB(R9, R10, 0, Z16); \
	I4_BLOCK(0, Z16, Z0, Z1); \
	I4_BLOCK(1, Z16, Z2, Z3); \
	I4_BLOCK(2, Z16, Z4, Z5); \
	I4_BLOCK(3, Z16, Z6, Z7); \
	ADDQ $1, R11; \
	I4_NEXT(4)

#define I4_G64(TAB) \
	TAB(R9, R10, 0, Z16); \
	TAB(R9, R10, 1, Z19); \
	I4_BLOCK(0, Z16, Z0, Z1); \
	I4_BLOCK(1, Z16, Z2, Z3); \
	I4_BLOCK(2, Z19, Z4, Z5); \
	I4_BLOCK(3, Z19, Z6, Z7); \
	ADDQ $2, R11; \
	I4_NEXT(4)

#define I4_G32(TAB) \
	TAB(R9, R10, 0, Z16); \
	TAB(R9, R10, 1, Z19); \
	TAB(R9, R10, 2, Z22); \
	TAB(R9, R10, 3, Z23); \
	I4_BLOCK(0, Z16, Z0, Z1); \
	I4_BLOCK(1, Z19, Z2, Z3); \
	I4_BLOCK(2, Z22, Z4, Z5); \
	I4_BLOCK(3, Z23, Z6, Z7); \
	ADDQ $4, R11; \
	I4_NEXT(4)

// I4_ONE does a single block (after the last whole step) into accumulators 0 and 1.
#define I4_ONE(TAB) \
	MOVQ DX, R11; \
	SHRQ CX, R11; \
	TAB(R9, R10, 0, Z16); \
	I4_BLOCK(0, Z16, Z0, Z1); \
	I4_NEXT(1)

#define I4_G128X2(TAB) \
	TAB(R9, R10, 0, Z16); \
	TAB(R13, R14, 0, Z22); \
	I4_BLOCK2(0, Z16, Z22, Z0, Z1, Z12, Z13); \
	I4_BLOCK2(1, Z16, Z22, Z2, Z3, Z14, Z15); \
	I4_BLOCK2(2, Z16, Z22, Z4, Z5, Z26, Z27); \
	I4_BLOCK2(3, Z16, Z22, Z6, Z7, Z28, Z29); \
	ADDQ $1, R11; \
	I4_NEXT2(4)

#define I4_G64X2(TAB) \
	TAB(R9, R10, 0, Z16); \
	TAB(R9, R10, 1, Z19); \
	TAB(R13, R14, 0, Z22); \
	TAB(R13, R14, 1, Z23); \
	I4_BLOCK2(0, Z16, Z22, Z0, Z1, Z12, Z13); \
	I4_BLOCK2(1, Z16, Z22, Z2, Z3, Z14, Z15); \
	I4_BLOCK2(2, Z19, Z23, Z4, Z5, Z26, Z27); \
	I4_BLOCK2(3, Z19, Z23, Z6, Z7, Z28, Z29); \
	ADDQ $2, R11; \
	I4_NEXT2(4)

#define I4_G32X2(TAB) \
	TAB(R9, R10, 0, Z16); \
	TAB(R13, R14, 0, Z22); \
	I4_BLOCK2(0, Z16, Z22, Z0, Z1, Z12, Z13); \
	TAB(R9, R10, 1, Z19); \
	TAB(R13, R14, 1, Z23); \
	I4_BLOCK2(1, Z19, Z23, Z2, Z3, Z14, Z15); \
	TAB(R9, R10, 2, Z16); \
	TAB(R13, R14, 2, Z22); \
	I4_BLOCK2(2, Z16, Z22, Z4, Z5, Z26, Z27); \
	TAB(R9, R10, 3, Z19); \
	TAB(R13, R14, 3, Z23); \
	I4_BLOCK2(3, Z19, Z23, Z6, Z7, Z28, Z29); \
	ADDQ $4, R11; \
	I4_NEXT2(4)

#define I4_ONEX2(TAB) \
	MOVQ DX, R11; \
	SHRQ CX, R11; \
	TAB(R9, R10, 0, Z16); \
	TAB(R13, R14, 0, Z22); \
	I4_BLOCK2(0, Z16, Z22, Z0, Z1, Z12, Z13); \
	I4_NEXT2(1)

#define I4_NEXT2(BLOCKS) \
	ADDQ $(BLOCKS*16), BX; \
	I4_NEXT(BLOCKS)

#define I4_ZERO \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	XORQ   DX, DX; \
	XORQ   R11, R11

#define I4_ZERO2 \
	I4_ZERO; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z26, Z26, Z26; \
	VPXORD Z27, Z27, Z27; \
	VPXORD Z28, Z28, Z28; \
	VPXORD Z29, Z29, Z29

// I4_SUM adds row A's accumulators as ((0+1)+(2+3)) + ((4+5)+(6+7)) into X0.
#define I4_SUM \
	VADDPS Z1, Z0, Z0; \
	VADDPS Z3, Z2, Z2; \
	VADDPS Z5, Z4, Z4; \
	VADDPS Z7, Z6, Z6; \
	VADDPS Z2, Z0, Z0; \
	VADDPS Z6, Z4, Z4; \
	VADDPS Z4, Z0, Z0; \
	HSUM_Z0

// I4_SUMB adds row B's accumulators in the same order into X0.
#define I4_SUMB \
	VADDPS  Z13, Z12, Z0; \
	VADDPS  Z15, Z14, Z2; \
	VADDPS  Z27, Z26, Z4; \
	VADDPS  Z29, Z28, Z6; \
	VADDPS  Z2, Z0, Z0; \
	VADDPS  Z6, Z4, Z4; \
	VADDPS  Z4, Z0, Z0; \
	HSUM_Z0

// The loop shared by every 4-bit kernel: whole 4-block steps specialized by group size
// (I4_G128, I4_G64, I4_G32 for shift 2, 1, 0, applied to the kernel's table builder),
// then single blocks (I4_ONE); the X2 macros do the same for two rows. In Go, per row:
//
//	for k := 0; k < nblk; k++ {
//		t := table(k >> shift)  // built by the kernel's TAB_* macro
//		for i := 0; i < 16; i++ {
//			sum += xp[32*k+i]*t[w[16*k+i]&15] + xp[32*k+16+i]*t[w[16*k+i]>>4]
//		}
//	}
//
// with block k%4 of each step in accumulators 2(k%4) (low nibbles) and 2(k%4)+1 (high),
// single blocks in accumulators 0 and 1.

// func dotI4SymAVX512Asm(xp *float32, w *byte, s *float32, nblk int, shift uint, levels *[16]float32) float32
TEXT ·dotI4SymAVX512Asm(SB), NOSPLIT, $0-52
	MOVQ    xp+0(FP), DI
	MOVQ    w+8(FP), SI
	MOVQ    s+16(FP), R9
	MOVQ    nblk+24(FP), R8
	MOVQ    shift+32(FP), CX
	MOVQ    levels+40(FP), AX
	VMOVUPS (AX), Z20
	I4_ZERO
	CMPQ    CX, $1
	JLT     s1_g32
	JEQ     s1_g64

s1_g128:
	CMPQ R8, $4
	JLT  s1_one
	I4_G128(TAB_SYM)
	JMP  s1_g128

s1_g64:
	CMPQ R8, $4
	JLT  s1_one
	I4_G64(TAB_SYM)
	JMP  s1_g64

s1_g32:
	CMPQ R8, $4
	JLT  s1_one
	I4_G32(TAB_SYM)
	JMP  s1_g32

s1_one:
	TESTQ R8, R8
	JLE   s1_done
	I4_ONE(TAB_SYM)
	JMP   s1_one

s1_done:
	I4_SUM
	VMOVSS X0, ret+48(FP)
	VZEROUPPER
	RET

// func dotI4AsymAVX512Asm(xp *float32, w *byte, s *float32, z *byte, nblk int, shift uint, offsets *[256][16]float32) float32
TEXT ·dotI4AsymAVX512Asm(SB), NOSPLIT, $0-60
	MOVQ xp+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ s+16(FP), R9
	MOVQ z+24(FP), R10
	MOVQ nblk+32(FP), R8
	MOVQ shift+40(FP), CX
	MOVQ offsets+48(FP), R12
	I4_ZERO
	CMPQ CX, $1
	JLT  a1_g32
	JEQ  a1_g64

a1_g128:
	CMPQ R8, $4
	JLT  a1_one
	I4_G128(TAB_ASYM)
	JMP  a1_g128

a1_g64:
	CMPQ R8, $4
	JLT  a1_one
	I4_G64(TAB_ASYM)
	JMP  a1_g64

a1_g32:
	CMPQ R8, $4
	JLT  a1_one
	I4_G32(TAB_ASYM)
	JMP  a1_g32

a1_one:
	TESTQ R8, R8
	JLE   a1_done
	I4_ONE(TAB_ASYM)
	JMP   a1_one

a1_done:
	I4_SUM
	VMOVSS X0, ret+56(FP)
	VZEROUPPER
	RET

// func dotI4AffAVX512Asm(xp *float32, w *byte, s, b *float32, nblk int, shift uint, levels *[16]float32) float32
TEXT ·dotI4AffAVX512Asm(SB), NOSPLIT, $0-60
	MOVQ    xp+0(FP), DI
	MOVQ    w+8(FP), SI
	MOVQ    s+16(FP), R9
	MOVQ    b+24(FP), R10
	MOVQ    nblk+32(FP), R8
	MOVQ    shift+40(FP), CX
	MOVQ    levels+48(FP), AX
	VMOVUPS (AX), Z20
	I4_ZERO
	CMPQ    CX, $1
	JLT     f1_g32
	JEQ     f1_g64

f1_g128:
	CMPQ R8, $4
	JLT  f1_one
	I4_G128(TAB_AFF)
	JMP  f1_g128

f1_g64:
	CMPQ R8, $4
	JLT  f1_one
	I4_G64(TAB_AFF)
	JMP  f1_g64

f1_g32:
	CMPQ R8, $4
	JLT  f1_one
	I4_G32(TAB_AFF)
	JMP  f1_g32

f1_one:
	TESTQ R8, R8
	JLE   f1_done
	I4_ONE(TAB_AFF)
	JMP   f1_one

f1_done:
	I4_SUM
	VMOVSS X0, ret+56(FP)
	VZEROUPPER
	RET

// func dotI4SymX2AVX512Asm(xp *float32, w, w2 *byte, s, s2 *float32, nblk int, shift uint, levels *[16]float32, out *[2]float32)
//
// Two weight rows against one x: out[0] and out[1] are, bit for bit, what the one-row
// kernel gives for the first row's arguments (w, s, ...) and the second's (w2, s2, ...).
TEXT ·dotI4SymX2AVX512Asm(SB), NOSPLIT, $0-72
	MOVQ    xp+0(FP), DI
	MOVQ    w+8(FP), SI
	MOVQ    w2+16(FP), BX
	MOVQ    s+24(FP), R9
	MOVQ    s2+32(FP), R13
	MOVQ    nblk+40(FP), R8
	MOVQ    shift+48(FP), CX
	MOVQ    levels+56(FP), AX
	VMOVUPS (AX), Z20
	I4_ZERO2
	CMPQ    CX, $1
	JLT     s2_g32
	JEQ     s2_g64

s2_g128:
	CMPQ R8, $4
	JLT  s2_one
	I4_G128X2(TAB_SYM)
	JMP  s2_g128

s2_g64:
	CMPQ R8, $4
	JLT  s2_one
	I4_G64X2(TAB_SYM)
	JMP  s2_g64

s2_g32:
	CMPQ R8, $4
	JLT  s2_one
	I4_G32X2(TAB_SYM)
	JMP  s2_g32

s2_one:
	TESTQ R8, R8
	JLE   s2_done
	I4_ONEX2(TAB_SYM)
	JMP   s2_one

s2_done:
	MOVQ   out+64(FP), AX
	I4_SUM
	VMOVSS X0, (AX)
	I4_SUMB
	VMOVSS X0, 4(AX)
	VZEROUPPER
	RET

// func dotI4AsymX2AVX512Asm(xp *float32, w, w2 *byte, s, s2 *float32, z, z2 *byte, nblk int, shift uint, offsets *[256][16]float32, out *[2]float32)
//
// Two weight rows against one x: out[0] and out[1] are, bit for bit, what the one-row
// kernel gives for the first row's arguments (w, s, ...) and the second's (w2, s2, ...).
TEXT ·dotI4AsymX2AVX512Asm(SB), NOSPLIT, $0-88
	MOVQ xp+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ w2+16(FP), BX
	MOVQ s+24(FP), R9
	MOVQ s2+32(FP), R13
	MOVQ z+40(FP), R10
	MOVQ z2+48(FP), R14
	MOVQ nblk+56(FP), R8
	MOVQ shift+64(FP), CX
	MOVQ offsets+72(FP), R12
	I4_ZERO2
	CMPQ CX, $1
	JLT  a2_g32
	JEQ  a2_g64

a2_g128:
	CMPQ R8, $4
	JLT  a2_one
	I4_G128X2(TAB_ASYM)
	JMP  a2_g128

a2_g64:
	CMPQ R8, $4
	JLT  a2_one
	I4_G64X2(TAB_ASYM)
	JMP  a2_g64

a2_g32:
	CMPQ R8, $4
	JLT  a2_one
	I4_G32X2(TAB_ASYM)
	JMP  a2_g32

a2_one:
	TESTQ R8, R8
	JLE   a2_done
	I4_ONEX2(TAB_ASYM)
	JMP   a2_one

a2_done:
	MOVQ   out+80(FP), AX
	I4_SUM
	VMOVSS X0, (AX)
	I4_SUMB
	VMOVSS X0, 4(AX)
	VZEROUPPER
	RET

// func dotI4AffX2AVX512Asm(xp *float32, w, w2 *byte, s, s2, b, b2 *float32, nblk int, shift uint, levels *[16]float32, out *[2]float32)
//
// Two weight rows against one x: out[0] and out[1] are, bit for bit, what the one-row
// kernel gives for the first row's arguments (w, s, ...) and the second's (w2, s2, ...).
TEXT ·dotI4AffX2AVX512Asm(SB), NOSPLIT, $0-88
	MOVQ    xp+0(FP), DI
	MOVQ    w+8(FP), SI
	MOVQ    w2+16(FP), BX
	MOVQ    s+24(FP), R9
	MOVQ    s2+32(FP), R13
	MOVQ    b+40(FP), R10
	MOVQ    b2+48(FP), R14
	MOVQ    nblk+56(FP), R8
	MOVQ    shift+64(FP), CX
	MOVQ    levels+72(FP), AX
	VMOVUPS (AX), Z20
	I4_ZERO2
	CMPQ    CX, $1
	JLT     f2_g32
	JEQ     f2_g64

f2_g128:
	CMPQ R8, $4
	JLT  f2_one
	I4_G128X2(TAB_AFF)
	JMP  f2_g128

f2_g64:
	CMPQ R8, $4
	JLT  f2_one
	I4_G64X2(TAB_AFF)
	JMP  f2_g64

f2_g32:
	CMPQ R8, $4
	JLT  f2_one
	I4_G32X2(TAB_AFF)
	JMP  f2_g32

f2_one:
	TESTQ R8, R8
	JLE   f2_done
	I4_ONEX2(TAB_AFF)
	JMP   f2_one

f2_done:
	MOVQ   out+80(FP), AX
	I4_SUM
	VMOVSS X0, (AX)
	I4_SUMB
	VMOVSS X0, 4(AX)
	VZEROUPPER
	RET

// Eight nibbles of the AVX2 4-bit kernel: IDX holds them in its low 4 bits (one per
// dword), MSK has each nibble's bit 3 in its sign bit; the table halves are Y12 (entries
// 0-7) and Y13 (8-15). VPERMPS uses the low 3 bits; VBLENDVPS takes the upper half where
// bit 3 is set. Result in OUT, multiplied by x at XOFF(DI) into ACC.
#define I4Y_EIGHT(IDX, MSK, XOFF, OUT, ACC) \
	VPERMPS     Y12, IDX, OUT; \
	VPERMPS     Y13, IDX, Y11; \
	VBLENDVPS   MSK, Y11, OUT, OUT; \
	VFMADD231PS XOFF(DI), OUT, ACC

// func dotI4AVX2Asm(xp *float32, w *byte, tab *float32, nblk int, shift uint) float32
//
// The tables (16 floats per group) come from memory, built by the tab* routines below.
//
//	for k := 0; k < nblk; k++ {
//		t := tab[16*(k>>shift):]
//		for i := 0; i < 16; i++ {
//			sum += xp[32*k+i]*t[w[16*k+i]&15] + xp[32*k+16+i]*t[w[16*k+i]>>4]
//		}
//	}
//
// Accumulator 0 takes the low nibbles of bytes 0-7, 1 those of bytes 8-15, 2 and 3 the
// high nibbles; added as (0+1)+(2+3).
TEXT ·dotI4AVX2Asm(SB), NOSPLIT, $0-44
	MOVQ   xp+0(FP), DI
	MOVQ   w+8(FP), SI
	MOVQ   tab+16(FP), R9
	MOVQ   nblk+24(FP), R8
	MOVQ   shift+32(FP), CX
	XORQ   DX, DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

i4y_block:
	CMPQ      DX, R8
	JGE       i4y_done
	MOVQ      DX, AX
	SHRQ      CX, AX
	SHLQ      $6, AX
	ADDQ      R9, AX
	VMOVUPS   (AX), Y12
	VMOVUPS   32(AX), Y13
	VPMOVZXBD (SI), Y4
	VPMOVZXBD 8(SI), Y5
	VPSLLD    $28, Y4, Y6
	VPSLLD    $28, Y5, Y7
	I4Y_EIGHT(Y4, Y6, 0, Y10, Y0)
	I4Y_EIGHT(Y5, Y7, 32, Y10, Y1)
	VPSLLD    $24, Y4, Y6
	VPSLLD    $24, Y5, Y7
	VPSRLD    $4, Y4, Y4
	VPSRLD    $4, Y5, Y5
	I4Y_EIGHT(Y4, Y6, 64, Y10, Y2)
	I4Y_EIGHT(Y5, Y7, 96, Y10, Y3)
	ADDQ      $16, SI
	ADDQ      $128, DI
	INCQ      DX
	JMP       i4y_block

i4y_done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM_Y0
	VMOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// func tabSymAVX2Asm(tab, s *float32, ng int, levels *[16]float32)
//
//	for g := 0; g < ng; g++ { for k := 0; k < 16; k++ { tab[16*g+k] = levels[k] * s[g] } }
TEXT ·tabSymAVX2Asm(SB), NOSPLIT, $0-32
	MOVQ    tab+0(FP), DI
	MOVQ    s+8(FP), SI
	MOVQ    ng+16(FP), CX
	MOVQ    levels+24(FP), AX
	VMOVUPS (AX), Y2
	VMOVUPS 32(AX), Y3

tsym_loop:
	TESTQ        CX, CX
	JLE          tsym_done
	VBROADCASTSS (SI), Y4
	VMULPS       Y4, Y2, Y5
	VMULPS       Y4, Y3, Y6
	VMOVUPS      Y5, (DI)
	VMOVUPS      Y6, 32(DI)
	ADDQ         $4, SI
	ADDQ         $64, DI
	DECQ         CX
	JMP          tsym_loop

tsym_done:
	VZEROUPPER
	RET

// func tabAsymAVX2Asm(tab, s *float32, z *byte, ng int, codes *[16]int32)
//
//	for g := 0; g < ng; g++ {
//		for k := 0; k < 16; k++ { tab[16*g+k] = float32(codes[k]-int32(z[g])) * s[g] }
//	}
TEXT ·tabAsymAVX2Asm(SB), NOSPLIT, $0-40
	MOVQ    tab+0(FP), DI
	MOVQ    s+8(FP), SI
	MOVQ    z+16(FP), R8
	MOVQ    ng+24(FP), CX
	MOVQ    codes+32(FP), AX
	VMOVDQU (AX), Y2
	VMOVDQU 32(AX), Y3

tasym_loop:
	TESTQ        CX, CX
	JLE          tasym_done
	MOVBLZX      (R8), AX
	VMOVD        AX, X4
	VPBROADCASTD X4, Y4
	VPSUBD       Y4, Y2, Y5
	VPSUBD       Y4, Y3, Y6
	VCVTDQ2PS    Y5, Y5
	VCVTDQ2PS    Y6, Y6
	VBROADCASTSS (SI), Y7
	VMULPS       Y7, Y5, Y5
	VMULPS       Y7, Y6, Y6
	VMOVUPS      Y5, (DI)
	VMOVUPS      Y6, 32(DI)
	ADDQ         $4, SI
	INCQ         R8
	ADDQ         $64, DI
	DECQ         CX
	JMP          tasym_loop

tasym_done:
	VZEROUPPER
	RET

// func tabAffineAVX2Asm(tab, s, b *float32, ng int, levels *[16]float32)
//
//	for g := 0; g < ng; g++ {
//		for k := 0; k < 16; k++ { tab[16*g+k] = float32(levels[k]*s[g]) + b[g] }
//	}
TEXT ·tabAffineAVX2Asm(SB), NOSPLIT, $0-40
	MOVQ    tab+0(FP), DI
	MOVQ    s+8(FP), SI
	MOVQ    b+16(FP), R8
	MOVQ    ng+24(FP), CX
	MOVQ    levels+32(FP), AX
	VMOVUPS (AX), Y2
	VMOVUPS 32(AX), Y3

taff_loop:
	TESTQ        CX, CX
	JLE          taff_done
	VBROADCASTSS (SI), Y4
	VBROADCASTSS (R8), Y7
	VMULPS       Y4, Y2, Y5
	VMULPS       Y4, Y3, Y6
	VADDPS       Y7, Y5, Y5
	VADDPS       Y7, Y6, Y6
	VMOVUPS      Y5, (DI)
	VMOVUPS      Y6, 32(DI)
	ADDQ         $4, SI
	ADDQ         $4, R8
	ADDQ         $64, DI
	DECQ         CX
	JMP          taff_loop

taff_done:
	VZEROUPPER
	RET

// func widenF16AVX2Asm(dst *float32, src *uint16, n int)
//
//	for i := 0; i < n; i++ { dst[i] = F16ToF32(src[i]) }   // n a multiple of 8 (F16C)
TEXT ·widenF16AVX2Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

wf16_loop:
	CMPQ      CX, $8
	JLT       wf16_done
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       wf16_loop

wf16_done:
	VZEROUPPER
	RET

// func widenBF16AVX2Asm(dst *float32, src *uint16, n int)
//
//	for i := 0; i < n; i++ { dst[i] = math.Float32frombits(uint32(src[i]) << 16) }   // n a multiple of 8
TEXT ·widenBF16AVX2Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

wbf16_loop:
	CMPQ      CX, $8
	JLT       wbf16_done
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       wbf16_loop

wbf16_done:
	VZEROUPPER
	RET
