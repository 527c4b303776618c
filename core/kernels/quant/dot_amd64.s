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

// The row loop of the 4-bit run kernels, which share their arguments (xp, sx, w, wld,
// s, sld, c, cld, nblk, gs, out, rows): I4_RUN_ARGS loads the first row's pointers
// (weights BX, scales DX, offsets R13), out R8 and rows R14; I4_RUN_ROW starts a row
// (x DI, lane sums of x R12, and the row's pointers SI, R9, R10, blocks CX);
// I4_RUN_NEXT(loop) stores the row's sum from X0 and goes on to the next row.
#define I4_RUN_ARGS \
	MOVQ w+16(FP), BX; \
	MOVQ s+32(FP), DX; \
	MOVQ c+48(FP), R13; \
	MOVQ out+80(FP), R8; \
	MOVQ rows+88(FP), R14

#define I4_RUN_ROW \
	MOVQ xp+0(FP), DI; \
	MOVQ sx+8(FP), R12; \
	MOVQ BX, SI; \
	MOVQ DX, R9; \
	MOVQ R13, R10; \
	MOVQ nblk+64(FP), CX

#define I4_RUN_NEXT(loop) \
	VMOVSS X0, (R8); \
	ADDQ   $4, R8; \
	ADDQ   wld+24(FP), BX; \
	ADDQ   sld+40(FP), DX; \
	ADDQ   cld+56(FP), R13; \
	DECQ   R14; \
	JNZ    loop

// AHEAD is how far ahead of the weight row being read the run kernels ask for the
// weights (PREFETCHT0), in bytes. The hardware prefetchers alone keep too few lines in
// flight for a core to stream at its share of the read bandwidth; this distance covers
// a memory latency at that rate, and works whichever rows follow.
#define AHEAD 24576

// I8_W4(P, W0, W1, W2, W3, Z) converts 64 weights at (P) into W0-W3 for the int8
// kernels: sign extend, subtract the zero point (Z), convert. The row's scale multiplies
// the sum once at the end (I8_SUM).
#define I8_W4(P, W0, W1, W2, W3, Z) \
	VPMOVSXBD (P), W0; \
	VPMOVSXBD 16(P), W1; \
	VPMOVSXBD 32(P), W2; \
	VPMOVSXBD 48(P), W3; \
	VPSUBD    Z, W0, W0; \
	VPSUBD    Z, W1, W1; \
	VPSUBD    Z, W2, W2; \
	VPSUBD    Z, W3, W3; \
	VCVTDQ2PS W0, W0; \
	VCVTDQ2PS W1, W1; \
	VCVTDQ2PS W2, W2; \
	VCVTDQ2PS W3, W3

// I8_W4N is I8_W4 for a zero point of 0 (the symmetric format): no subtraction.
#define I8_W4N(P, W0, W1, W2, W3) \
	VPMOVSXBD (P), W0; \
	VPMOVSXBD 16(P), W1; \
	VPMOVSXBD 32(P), W2; \
	VPMOVSXBD 48(P), W3; \
	VCVTDQ2PS W0, W0; \
	VCVTDQ2PS W1, W1; \
	VCVTDQ2PS W2, W2; \
	VCVTDQ2PS W3, W3

// I8_W1(P, W0, Z) converts 16 weights at (P) into W0, as I8_W4 does.
#define I8_W1(P, W0, Z) \
	VPMOVSXBD (P), W0; \
	VPSUBD    Z, W0, W0; \
	VCVTDQ2PS W0, W0

// I8_ROW4 adds the 64 weights in Z16-Z19 times the x row at X into accumulators A0-A3.
#define I8_ROW4(X, A0, A1, A2, A3) \
	VFMADD231PS (X), Z16, A0; \
	VFMADD231PS 64(X), Z17, A1; \
	VFMADD231PS 128(X), Z18, A2; \
	VFMADD231PS 192(X), Z19, A3

// I8_ROW1 adds the 16 weights in Z16 times the x row at X into accumulator A0.
#define I8_ROW1(X, A0) VFMADD231PS (X), Z16, A0

// I8_SUM stores into OFF(R10) the sum of a row's four accumulators, added as
// (A0+A1)+(A2+A3), then across lanes, times the scale in the low lane of S; Z0-Z3 are
// clobbered.
#define I8_SUM(A0, A1, A2, A3, S, OFF) \
	VADDPS  A1, A0, Z0; \
	VADDPS  A3, A2, Z2; \
	VADDPS  Z2, Z0, Z0; \
	HSUM_Z0; \
	VMULSS  S, X0, X0; \
	VMOVSS  X0, OFF(R10)

// func dotI8RunAVX512Asm(x *float32, q unsafe.Pointer, n int, s *float32, z *int32, out *float32, rows int)
//
//	for i := 0; i < rows; i++ {  // row i of q at q + i*n
//		var sum float32
//		for j := 0; j < n; j++ { sum += x[j] * float32(int32(q[i*n+j])-z[i]) }
//		out[i] = sum * s[i]
//	}
//
// n is a multiple of 16. Accumulator k takes block k of each 64-element step; blocks
// after the last whole step go to accumulator 0; the four are added as (0+1)+(2+3).
TEXT ·dotI8RunAVX512Asm(SB), NOSPLIT, $0-56
	MOVQ         q+8(FP), SI
	MOVQ         s+24(FP), R8
	MOVQ         z+32(FP), R9
	MOVQ         out+40(FP), R10
	MOVQ         rows+48(FP), R11

i8z_row:
	MOVQ         x+0(FP), DI
	MOVQ         n+16(FP), CX
	VBROADCASTSS (R8), Z30
	VPBROADCASTD (R9), Z31
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	VPXORD       Z2, Z2, Z2
	VPXORD       Z3, Z3, Z3
	CMPL         (R9), $0
	JNE          i8z_step

i8z_step0: // a zero point of 0: the same values without the subtraction
	CMPQ    CX, $64
	JLT     i8z_block
	PREFETCHT0 AHEAD(SI)
	I8_W4N(SI, Z16, Z17, Z18, Z19)
	I8_ROW4(DI, Z0, Z1, Z2, Z3)
	ADDQ    $64, SI
	ADDQ    $256, DI
	SUBQ    $64, CX
	JMP     i8z_step0

i8z_step:
	CMPQ    CX, $64
	JLT     i8z_block
	PREFETCHT0 AHEAD(SI)
	I8_W4(SI, Z16, Z17, Z18, Z19, Z31)
	I8_ROW4(DI, Z0, Z1, Z2, Z3)
	ADDQ    $64, SI
	ADDQ    $256, DI
	SUBQ    $64, CX
	JMP     i8z_step

i8z_block:
	CMPQ    CX, $16
	JLT     i8z_done
	I8_W1(SI, Z16, Z31)
	I8_ROW1(DI, Z0)
	ADDQ    $16, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     i8z_block

i8z_done:
	I8_SUM(Z0, Z1, Z2, Z3, X30, 0)
	ADDQ   $4, R8
	ADDQ   $4, R9
	ADDQ   $4, R10
	DECQ   R11
	JNZ    i8z_row
	VZEROUPPER
	RET

// I8_FMA4 adds W0-W3 times X0-X3 into A0-A3 (as I8_ROW4 does with x from memory).
#define I8_FMA4(W0, W1, W2, W3, X0, X1, X2, X3, A0, A1, A2, A3) \
	VFMADD231PS X0, W0, A0; \
	VFMADD231PS X1, W1, A1; \
	VFMADD231PS X2, W2, A2; \
	VFMADD231PS X3, W3, A3

// func dotI8Pair2x2AVX512Asm(x *float32, ldx int, q0, q1 unsafe.Pointer, n int, s0, s1 float32, z0, z1 int32, out *float32)
//
// dotI8RunAVX512Asm for two weight rows (q0 with s0, z0; q1 with s1, z1) against two x
// rows (x and x+ldx, ldx in bytes), n a multiple of 16: out = {(q0, x0), (q0, x1),
// (q1, x0), (q1, x1)}, each with the one-row kernel's bits. Each weight block is
// converted once for both x rows and each x block loaded once for both weight rows.
// Registers: accumulators Z0-Z15 (four per output), weights Z16-Z19 and Z24-Z27, x Z20-Z23.
TEXT ·dotI8Pair2x2AVX512Asm(SB), NOSPLIT, $0-64
	MOVQ         x+0(FP), DI
	MOVQ         ldx+8(FP), R8
	MOVQ         q0+16(FP), SI
	MOVQ         q1+24(FP), BX
	MOVQ         n+32(FP), CX
	VBROADCASTSS s0+40(FP), Z30
	VBROADCASTSS s1+44(FP), Z28
	MOVL         z0+48(FP), AX
	VPBROADCASTD AX, Z31
	MOVL         z1+52(FP), AX
	VPBROADCASTD AX, Z29
	MOVQ         out+56(FP), R10
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	VPXORD       Z2, Z2, Z2
	VPXORD       Z3, Z3, Z3
	VPXORD       Z4, Z4, Z4
	VPXORD       Z5, Z5, Z5
	VPXORD       Z6, Z6, Z6
	VPXORD       Z7, Z7, Z7
	VPXORD       Z8, Z8, Z8
	VPXORD       Z9, Z9, Z9
	VPXORD       Z10, Z10, Z10
	VPXORD       Z11, Z11, Z11
	VPXORD       Z12, Z12, Z12
	VPXORD       Z13, Z13, Z13
	VPXORD       Z14, Z14, Z14
	VPXORD       Z15, Z15, Z15

p22_step:
	CMPQ    CX, $64
	JLT     p22_block
	I8_W4(SI, Z16, Z17, Z18, Z19, Z31)
	I8_W4(BX, Z24, Z25, Z26, Z27, Z29)
	VMOVUPS (DI), Z20
	VMOVUPS 64(DI), Z21
	VMOVUPS 128(DI), Z22
	VMOVUPS 192(DI), Z23
	I8_FMA4(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z0, Z1, Z2, Z3)
	I8_FMA4(Z24, Z25, Z26, Z27, Z20, Z21, Z22, Z23, Z8, Z9, Z10, Z11)
	VMOVUPS (DI)(R8*1), Z20
	VMOVUPS 64(DI)(R8*1), Z21
	VMOVUPS 128(DI)(R8*1), Z22
	VMOVUPS 192(DI)(R8*1), Z23
	I8_FMA4(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z4, Z5, Z6, Z7)
	I8_FMA4(Z24, Z25, Z26, Z27, Z20, Z21, Z22, Z23, Z12, Z13, Z14, Z15)
	ADDQ    $64, SI
	ADDQ    $64, BX
	ADDQ    $256, DI
	SUBQ    $64, CX
	JMP     p22_step

p22_block:
	CMPQ        CX, $16
	JLT         p22_done
	I8_W1(SI, Z16, Z31)
	I8_W1(BX, Z24, Z29)
	VMOVUPS     (DI), Z20
	VFMADD231PS Z20, Z16, Z0
	VFMADD231PS Z20, Z24, Z8
	VMOVUPS     (DI)(R8*1), Z20
	VFMADD231PS Z20, Z16, Z4
	VFMADD231PS Z20, Z24, Z12
	ADDQ        $16, SI
	ADDQ        $16, BX
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         p22_block

p22_done:
	I8_SUM(Z0, Z1, Z2, Z3, X30, 0)
	I8_SUM(Z4, Z5, Z6, Z7, X30, 4)
	I8_SUM(Z8, Z9, Z10, Z11, X28, 8)
	I8_SUM(Z12, Z13, Z14, Z15, X28, 12)
	VZEROUPPER
	RET

// I8Y_W4 converts the 32 int8 weights at (SI) into Y4-Y7 for the AVX2 int8 kernels:
// sign extend, subtract the zero point (Y15), convert. The row's scale (Y14) multiplies
// the sum once at the end.
#define I8Y_W4 \
	VPMOVSXBD (SI), Y4; \
	VPMOVSXBD 8(SI), Y5; \
	VPMOVSXBD 16(SI), Y6; \
	VPMOVSXBD 24(SI), Y7; \
	VPSUBD    Y15, Y4, Y4; \
	VPSUBD    Y15, Y5, Y5; \
	VPSUBD    Y15, Y6, Y6; \
	VPSUBD    Y15, Y7, Y7; \
	VCVTDQ2PS Y4, Y4; \
	VCVTDQ2PS Y5, Y5; \
	VCVTDQ2PS Y6, Y6; \
	VCVTDQ2PS Y7, Y7

// I8Y_W2 is I8Y_W4 for the 16 weights at (SI), into Y4 and Y5.
#define I8Y_W2 \
	VPMOVSXBD (SI), Y4; \
	VPMOVSXBD 8(SI), Y5; \
	VPSUBD    Y15, Y4, Y4; \
	VPSUBD    Y15, Y5, Y5; \
	VCVTDQ2PS Y4, Y4; \
	VCVTDQ2PS Y5, Y5

// func dotI8RunAVX2Asm(x *float32, q unsafe.Pointer, n int, s *float32, z *int32, out *float32, rows int)
//
// out[i] = dotI8RunAVX512Asm's sum for row i < rows, n a multiple of 16. Accumulator k
// takes the k-th 8 elements of each 32-element step; a last 16-element block goes to
// accumulators 0 and 1; added as (0+1)+(2+3), then across lanes, then times s[i].
TEXT ·dotI8RunAVX2Asm(SB), NOSPLIT, $0-56
	MOVQ         q+8(FP), SI
	MOVQ         s+24(FP), R8
	MOVQ         z+32(FP), R9
	MOVQ         out+40(FP), R10
	MOVQ         rows+48(FP), R11

i8y_row:
	MOVQ         x+0(FP), DI
	MOVQ         n+16(FP), CX
	VBROADCASTSS (R8), Y14
	VPBROADCASTD (R9), Y15
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3

i8y_step:
	CMPQ        CX, $32
	JLT         i8y_block
	PREFETCHT0  AHEAD(SI)
	I8Y_W4
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
	I8Y_W2
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	ADDQ        $16, SI

i8y_done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM_Y0
	VMULSS X14, X0, X0
	VMOVSS X0, (R10)
	ADDQ   $4, R8
	ADDQ   $4, R9
	ADDQ   $4, R10
	DECQ   R11
	JNZ    i8y_row
	VZEROUPPER
	RET

// func dotI8TwoAVX2Asm(x *float32, ldx int, q *int8, n int, s float32, z int32, out *[2]float32)
//
// dotI8RunAVX2Asm (one weight row) against two rows of x (x and x+ldx, ldx in bytes): out[m] gets the
// one-row kernel's bits for row m; each weight block is converted once for both.
// Accumulators Y0-Y3 (row 0) and Y8-Y11 (row 1), weights Y4-Y7.
TEXT ·dotI8TwoAVX2Asm(SB), NOSPLIT, $0-48
	MOVQ         x+0(FP), DI
	MOVQ         ldx+8(FP), DX
	MOVQ         q+16(FP), SI
	MOVQ         n+24(FP), CX
	VBROADCASTSS s+32(FP), Y14
	MOVL         z+36(FP), AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3
	VXORPS       Y8, Y8, Y8
	VXORPS       Y9, Y9, Y9
	VXORPS       Y10, Y10, Y10
	VXORPS       Y11, Y11, Y11

i8t_step:
	CMPQ        CX, $32
	JLT         i8t_block
	I8Y_W4
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	VFMADD231PS (DI)(DX*1), Y4, Y8
	VFMADD231PS 32(DI)(DX*1), Y5, Y9
	VFMADD231PS 64(DI)(DX*1), Y6, Y10
	VFMADD231PS 96(DI)(DX*1), Y7, Y11
	ADDQ        $32, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         i8t_step

i8t_block:
	CMPQ        CX, $16
	JLT         i8t_done
	I8Y_W2
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS (DI)(DX*1), Y4, Y8
	VFMADD231PS 32(DI)(DX*1), Y5, Y9

i8t_done:
	MOVQ   out+40(FP), AX
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM_Y0
	VMULSS X14, X0, X0
	VMOVSS X0, (AX)
	VADDPS Y9, Y8, Y0
	VADDPS Y11, Y10, Y2
	VADDPS Y2, Y0, Y0
	HSUM_Y0
	VMULSS X14, X0, X0
	VMOVSS X0, 4(AX)
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
	PREFETCHT0   AHEAD(SI)(DX*1)
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
	PREFETCHT0   AHEAD(SI)(DX*1)
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

// The AVX-512 table kernels take the blocks of 32 that follow the last whole block of
// 128 (in not a multiple of 128; at most three). Each block's group has a 16-entry table
// of dequantized values in a register, built from the group's parameters: VPERMPS then
// picks table entries by the low 4 bits of each index, so a low nibble needs no mask.
//
// Registers: DI xp, SI weights, R9 scales, R10 zero points or biases, R12 offsets
// (asym), R8 blocks left, CX shift, DX block index, R11 group, AX scratch; Z0/Z1
// accumulators of low and high nibbles, Z8/Z9 decoded weights, Z16 table, Z17/Z18
// scratch, Z20 nibble levels. In Go:
//
//	for k := 0; k < nblk; k++ {
//		t := table(k >> shift)  // built by the kernel's TAB_* macro
//		for i := 0; i < 16; i++ {
//			lo += xp[32*k+i]*t[w[16*k+i]&15]
//			hi += xp[32*k+16+i]*t[w[16*k+i]>>4]
//		}
//	}
//	sum = lo + hi  // the 16 lanes added as HSUM_Z0 does

// Table builders for group R11 into DST (S scale pointer, P bias or zero-point pointer):
//
//	sym:    t[n] = levels[n] * s[g]
//	asym:   t[n] = offsets[z[g]][n] * s[g], with offsets[z][n] = float32(n - z)
//	affine: t[n] = float32(levels[n]*s[g]) + b[g]
#define TAB_SYM(S, P, DST) \
	VBROADCASTSS (S)(R11*4), Z17; \
	VMULPS       Z17, Z20, DST

#define TAB_ASYM(S, P, DST) \
	MOVBLZX      (P)(R11*1), AX; \
	SHLQ         $6, AX; \
	VBROADCASTSS (S)(R11*4), Z17; \
	VMULPS       (R12)(AX*1), Z17, DST

#define TAB_AFF(S, P, DST) \
	VBROADCASTSS (S)(R11*4), Z17; \
	VBROADCASTSS (P)(R11*4), Z18; \
	VMULPS       Z17, Z20, DST; \
	VADDPS       Z18, DST, DST

// I4_ONE does block DX: low nibbles meet x at (DI), high nibbles x at 64(DI).
#define I4_ONE(TAB) \
	MOVQ        DX, R11; \
	SHRQ        CX, R11; \
	TAB(R9, R10, Z16); \
	VPMOVZXBD   (SI), Z8; \
	VPSRLD      $4, Z8, Z9; \
	VPERMPS     Z16, Z8, Z8; \
	VPERMPS     Z16, Z9, Z9; \
	VFMADD231PS (DI), Z8, Z0; \
	VFMADD231PS 64(DI), Z9, Z1; \
	ADDQ        $16, SI; \
	ADDQ        $128, DI; \
	INCQ        DX

// I4_LOOP runs I4_ONE over the R8 blocks and leaves the sum in X0.
#define I4_LOOP(TAB, loop, done) \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	XORQ   DX, DX; \
loop: \
	CMPQ   DX, R8; \
	JGE    done; \
	I4_ONE(TAB); \
	JMP    loop; \
done: \
	VADDPS Z1, Z0, Z0; \
	HSUM_Z0

// func dotI4SymAVX512Asm(xp *float32, w *byte, s *float32, nblk int, shift uint, levels *[16]float32) float32
TEXT ·dotI4SymAVX512Asm(SB), NOSPLIT, $0-52
	MOVQ    xp+0(FP), DI
	MOVQ    w+8(FP), SI
	MOVQ    s+16(FP), R9
	MOVQ    nblk+24(FP), R8
	MOVQ    shift+32(FP), CX
	MOVQ    levels+40(FP), AX
	VMOVUPS (AX), Z20
	I4_LOOP(TAB_SYM, s1_loop, s1_done)
	VMOVSS  X0, ret+48(FP)
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
	I4_LOOP(TAB_ASYM, a1_loop, a1_done)
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
	I4_LOOP(TAB_AFF, f1_loop, f1_done)
	VMOVSS  X0, ret+56(FP)
	VZEROUPPER
	RET

// The AVX2 block kernel. A block of 128 weights is 64 bytes read as 16 dwords; dword d
// holds the 8 nibbles of weights 8d..8d+7, nibble m of it at bits 4m..4m+3, and xp holds
// each block's x in the same order, xp[128b+16m+d] = x[128b+8d+m] (see prepXBlocks). The
// kernel takes a block in two 8-lane halves (half h holds dwords 8h..8h+7). A nibble
// becomes a float by shifts and a conversion: signed (two's complement) without offsets,
// unsigned with them. Per weight row:
//
//	for each block b, half h, lane l:
//		acc = Σ_m f32(nibble m of dword 8h+l) · xp[128b + 16m + 8h + l]   (two chains,
//		                                    even and odd m, added at the end)
//		sum[l] += acc · s[g]                  // g: the group of that lane
//		off[l] += c[g] · sx[16b + 8h + l]     // with offsets
//
// then the 8 lanes of sum (+ off) added as HSUM_Y0 does.

// I4Y_SIGNED(K, W, T) puts nibble K of each dword of W, sign-extended, as floats in T.
#define I4Y_SIGNED(K, W, T) \
	VPSLLD    $(28-4*K), W, T; \
	VPSRAD    $28, T, T; \
	VCVTDQ2PS T, T

// I4Y_UNSIGNED(K, W, T) puts nibble K of each dword of W as floats in T (Y15: 15s).
#define I4Y_UNSIGNED(K, W, T) \
	VPSRLD    $(4*K), W, T; \
	VPAND     Y15, T, T; \
	VCVTDQ2PS T, T

// I4Y_DOT(NIB, XH) leaves in Y8 the lane sums of the half at (SI) times x from XH(DI)
// (nibble m's x at XH+64m), decoding with NIB; Y0, Y1, Y9 are scratch.
#define I4Y_DOT(NIB, XH) \
	VMOVDQU     (SI), Y0; \
	NIB(0, Y0, Y1); \
	VMULPS      XH(DI), Y1, Y8; \
	NIB(1, Y0, Y1); \
	VMULPS      XH+64(DI), Y1, Y9; \
	NIB(2, Y0, Y1); \
	VFMADD231PS XH+128(DI), Y1, Y8; \
	NIB(3, Y0, Y1); \
	VFMADD231PS XH+192(DI), Y1, Y9; \
	NIB(4, Y0, Y1); \
	VFMADD231PS XH+256(DI), Y1, Y8; \
	NIB(5, Y0, Y1); \
	VFMADD231PS XH+320(DI), Y1, Y9; \
	NIB(6, Y0, Y1); \
	VFMADD231PS XH+384(DI), Y1, Y8; \
	NIB(7, Y0, Y1); \
	VFMADD231PS XH+448(DI), Y1, Y9; \
	VADDPS      Y9, Y8, Y8

// I4Y_BLOCK(NIB) adds the block at (SI) (x at (DI), scales from (R9)) to the lane sums
// Y4, and advances SI, DI and R9. Y12 masks the groups of a block, Y14 and Y13 spread
// them over the lanes of each half.
#define I4Y_BLOCK(NIB) \
	VMASKMOVPS  (R9), Y12, Y3; \
	VPERMPS     Y3, Y14, Y10; \
	VPERMPS     Y3, Y13, Y11; \
	I4Y_DOT(NIB, 0); \
	VFMADD231PS Y8, Y10, Y4; \
	ADDQ        $32, SI; \
	I4Y_DOT(NIB, 32); \
	VFMADD231PS Y8, Y11, Y4; \
	ADDQ        $32, SI; \
	ADDQ        $512, DI; \
	ADDQ        R11, R9

// func dotI4BlkRunAVX2Asm(xp, sx *float32, w unsafe.Pointer, wld int, s unsafe.Pointer, sld int, c unsafe.Pointer, cld int, nblk int, gs *i4GroupsY, out *float32, rows int)
//
// out[i] = the sum above for weight row i < rows (>= 1): rows wld bytes apart, scales
// sld bytes apart, nblk >= 1 blocks of 128 per row. c nil: the symmetric format (signed
// nibbles); otherwise unsigned nibbles plus Σ c[g]·sx over the lanes (kept apart, added
// at the end), row i's offsets cld bytes after row i-1's.
TEXT ·dotI4BlkRunAVX2Asm(SB), NOSPLIT, $0-96
	I4_RUN_ARGS
	MOVQ         gs+72(FP), AX
	VMOVDQU      (AX), Y14
	VMOVDQU      32(AX), Y13
	VMOVDQU      64(AX), Y12
	MOVQ         96(AX), R11
	MOVL         $15, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15

yrow:
	I4_RUN_ROW
	VXORPS Y4, Y4, Y4
	TESTQ  R13, R13
	JZ     ysym
	VXORPS Y5, Y5, Y5

yoff:
	I4Y_BLOCK(I4Y_UNSIGNED)
	VMASKMOVPS  (R10), Y12, Y3
	VPERMPS     Y3, Y14, Y6
	VPERMPS     Y3, Y13, Y7
	VFMADD231PS (R12), Y6, Y5
	VFMADD231PS 32(R12), Y7, Y5
	ADDQ        R11, R10
	ADDQ        $64, R12
	DECQ        CX
	JNZ         yoff
	VADDPS      Y5, Y4, Y0
	JMP         ysum

ysym:
	I4Y_BLOCK(I4Y_SIGNED)
	DECQ    CX
	JNZ     ysym
	VMOVAPS Y4, Y0

ysum:
	HSUM_Y0
	I4_RUN_NEXT(yrow)
	VZEROUPPER
	RET

// I4Y_DOT2(NIB, XH) is I4Y_DOT for two rows of x at once, the second DX bytes after the
// first: each half is decoded once, and Y8 and Y2 receive the lane sums of the two rows,
// each with I4Y_DOT's operations in I4Y_DOT's order (chains Y8, Y9 and Y2, Y3).
#define I4Y_DOT2(NIB, XH) \
	VMOVDQU     (SI), Y0; \
	NIB(0, Y0, Y1); \
	VMULPS      XH(DI), Y1, Y8; \
	VMULPS      XH(DI)(DX*1), Y1, Y2; \
	NIB(1, Y0, Y1); \
	VMULPS      XH+64(DI), Y1, Y9; \
	VMULPS      XH+64(DI)(DX*1), Y1, Y3; \
	NIB(2, Y0, Y1); \
	VFMADD231PS XH+128(DI), Y1, Y8; \
	VFMADD231PS XH+128(DI)(DX*1), Y1, Y2; \
	NIB(3, Y0, Y1); \
	VFMADD231PS XH+192(DI), Y1, Y9; \
	VFMADD231PS XH+192(DI)(DX*1), Y1, Y3; \
	NIB(4, Y0, Y1); \
	VFMADD231PS XH+256(DI), Y1, Y8; \
	VFMADD231PS XH+256(DI)(DX*1), Y1, Y2; \
	NIB(5, Y0, Y1); \
	VFMADD231PS XH+320(DI), Y1, Y9; \
	VFMADD231PS XH+320(DI)(DX*1), Y1, Y3; \
	NIB(6, Y0, Y1); \
	VFMADD231PS XH+384(DI), Y1, Y8; \
	VFMADD231PS XH+384(DI)(DX*1), Y1, Y2; \
	NIB(7, Y0, Y1); \
	VFMADD231PS XH+448(DI), Y1, Y9; \
	VFMADD231PS XH+448(DI)(DX*1), Y1, Y3; \
	VADDPS      Y9, Y8, Y8; \
	VADDPS      Y3, Y2, Y2

// I4Y_BLOCK2(NIB) is I4Y_BLOCK for two rows of x: lane sums Y4 and Y5.
#define I4Y_BLOCK2(NIB) \
	VMASKMOVPS  (R9), Y12, Y3; \
	VPERMPS     Y3, Y14, Y10; \
	VPERMPS     Y3, Y13, Y11; \
	I4Y_DOT2(NIB, 0); \
	VFMADD231PS Y8, Y10, Y4; \
	VFMADD231PS Y2, Y10, Y5; \
	ADDQ        $32, SI; \
	I4Y_DOT2(NIB, 32); \
	VFMADD231PS Y8, Y11, Y4; \
	VFMADD231PS Y2, Y11, Y5; \
	ADDQ        $32, SI; \
	ADDQ        $512, DI; \
	ADDQ        R11, R9

// func dotI4BlkPairAVX2Asm(xp, sx *float32, ld int, w, s, c unsafe.Pointer, nblk int, gs *i4GroupsY, out *[2]float32)
//
// dotI4BlkRunAVX2Asm for one weight row (rows = 1) against two rows of x, the second ld
// bytes after the first (its lane sums too): out[m] gets the one-row kernel's bits for
// row m of x. Each half block of weights is decoded once for both rows.
TEXT ·dotI4BlkPairAVX2Asm(SB), NOSPLIT, $0-72
	MOVQ         xp+0(FP), DI
	MOVQ         sx+8(FP), R12
	MOVQ         ld+16(FP), DX
	MOVQ         w+24(FP), SI
	MOVQ         s+32(FP), R9
	MOVQ         c+40(FP), R10
	MOVQ         nblk+48(FP), CX
	MOVQ         gs+56(FP), AX
	VMOVDQU      (AX), Y14
	VMOVDQU      32(AX), Y13
	VMOVDQU      64(AX), Y12
	MOVQ         96(AX), R11
	MOVL         $15, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	VXORPS       Y4, Y4, Y4
	VXORPS       Y5, Y5, Y5
	TESTQ        R10, R10
	JZ           psym
	VXORPS       Y6, Y6, Y6
	VXORPS       Y7, Y7, Y7

poff:
	VMASKMOVPS  (R10), Y12, Y3
	VPERMPS     Y3, Y14, Y1
	VPERMPS     Y3, Y13, Y3
	VFMADD231PS (R12), Y1, Y6
	VFMADD231PS 32(R12), Y3, Y6
	VFMADD231PS (R12)(DX*1), Y1, Y7
	VFMADD231PS 32(R12)(DX*1), Y3, Y7
	ADDQ        R11, R10
	ADDQ        $64, R12
	I4Y_BLOCK2(I4Y_UNSIGNED)
	DECQ        CX
	JNZ         poff
	MOVQ        out+64(FP), AX
	VADDPS      Y6, Y4, Y0
	HSUM_Y0
	VMOVSS      X0, (AX)
	VADDPS      Y7, Y5, Y0
	HSUM_Y0
	VMOVSS      X0, 4(AX)
	VZEROUPPER
	RET

psym:
	I4Y_BLOCK2(I4Y_SIGNED)
	DECQ    CX
	JNZ     psym
	MOVQ    out+64(FP), AX
	VMOVAPS Y4, Y0
	HSUM_Y0
	VMOVSS  X0, (AX)
	VMOVAPS Y5, Y0
	HSUM_Y0
	VMOVSS  X0, 4(AX)
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

// ---- 4-bit blocks of 128 (AVX-512 with VNNI and GFNI) -------------------------------
// The weights stay integers: each block's products are summed exactly in int32 lanes by
// VPDPBUSD (unsigned bytes times signed bytes), which needs x as integers too. So x is
// first rounded, once per call, to 23-bit fixed point per cell of 8 elements (see
// prepXVnniAsm), and split into three signed bytes (limbs).
//
// A block is 64 bytes of weights read as 16 dwords; byte j of dword d holds weights
// 8d+2j (low nibble) and 8d+2j+1 (high nibble), all in one group. Per block the
// prepared x (xp) holds 512 bytes:
//
//	  0..383  six vectors of limbs, [x2 lo, x2 hi, x1 lo, x1 hi, x0 lo, x0 hi]: byte 4d+j
//	          of "xk lo" is limb k of M[8d+2j], of "xk hi" limb k of M[8d+2j+1], where
//	          M = x2·2^16 + x1·2^8 + x0 is the cell's integer for x (|M| < 2^22);
//	384..447  16 floats: e[d] - 21, e[d] the cell's exponent, so x ≈ M·2^(e-21);
//	          NaN when the cell holds an Inf or a NaN;
//	448..511  16 int32: -8·Σ M over cell d (the symmetric format's offset).
//
// One GF2P8AFFINEQB per nibble turns the weight bytes into a vector of unsigned bytes
// (the symmetric format's two's complement nibble n becomes n+8 by the same
// instruction). In Go, per lane d of block b:
//
//	D := Σ_m nibble m of dword d · M[8d+m]     // exact: |D| < 2^31
//	D -= 8·Σ_m M[8d+m]                        // symmetric format only
//	sum += scalef(f32(D), e[d]-21) · s[g(b, d)]
//	off += c[g(b, d)] · sx[16b+d]             // with offsets c
//
// and the 16 lanes of sum (+ off) added as HSUM_Z0 does.

DATA  nibbleLo<>+0(SB)/8, $0x0102040800000000 // bits 0-3 of a byte to bits 0-3
GLOBL nibbleLo<>(SB), RODATA|NOPTR, $8
DATA  nibbleHi<>+0(SB)/8, $0x1020408000000000 // bits 4-7 of a byte to bits 0-3
GLOBL nibbleHi<>(SB), RODATA|NOPTR, $8

// VN_UNPACK(IMM) reads the block of weights at (SI) as unsigned bytes, its low nibbles
// into Z3 and its high ones into Z4 (IMM is 8 for signed nibbles, whose bit 3 it flips,
// 0 for unsigned ones), and spreads the block's scales from (R9) over the lanes of Z12.
// Z28/Z29 hold the nibble matrices, Z30 the lane table, K1 the group mask.
#define VN_UNPACK(IMM) \
	VMOVDQU64      (SI), Z2; \
	VGF2P8AFFINEQB $IMM, Z28, Z2, Z3; \
	VGF2P8AFFINEQB $IMM, Z29, Z2, Z4; \
	I4_LANES(R9, Z12, X12)

// VN_XROW(INIT, A2, A1, A0, SUM) adds the unpacked block times the block of x at (DI)
// to the lane sums SUM: the limb sums in A2, A1, A0 (INIT(A0) starts the lowest: the
// symmetric offset or zero), combined exactly, converted, scaled by the cells'
// exponents, times the scales.
#define VN_XROW(INIT, A2, A1, A0, SUM) \
	VPXORD      A2, A2, A2; \
	VPXORD      A1, A1, A1; \
	INIT(A0); \
	VPDPBUSD    (DI), Z3, A2; \
	VPDPBUSD    128(DI), Z3, A1; \
	VPDPBUSD    256(DI), Z3, A0; \
	VPDPBUSD    64(DI), Z4, A2; \
	VPDPBUSD    192(DI), Z4, A1; \
	VPDPBUSD    320(DI), Z4, A0; \
	VPSLLD      $16, A2, A2; \
	VPSLLD      $8, A1, A1; \
	VPADDD      A2, A0, A0; \
	VPADDD      A1, A0, A0; \
	VCVTDQ2PS   A0, A0; \
	VSCALEFPS   384(DI), A0, A0; \
	VFMADD231PS A0, Z12, SUM

// VN_SETUP loads the group description at AX (lane table Z30, mask K1, step R11) and
// the nibble matrices (Z28, Z29).
#define VN_SETUP \
	VMOVDQU32    (AX), Z30; \
	KMOVW        64(AX), K1; \
	MOVQ         72(AX), R11; \
	VPBROADCASTQ nibbleLo<>(SB), Z28; \
	VPBROADCASTQ nibbleHi<>(SB), Z29

#define VN_SYM_INIT(A) VMOVDQU32 448(DI), A
#define VN_OFF_INIT(A) VPXORD A, A, A

// VN_NEXT moves SI, DI and R9 to the next block.
#define VN_NEXT \
	ADDQ $64, SI; \
	ADDQ $512, DI; \
	ADDQ R11, R9

// I4_LANES loads the group parameters of the block at (ptr) (K1 masks the groups one
// block spans) and spreads them over the lanes by the table in Z30, into dst.
#define I4_LANES(ptr, dst, xdst) \
	VMOVUPS.Z (ptr), K1, xdst; \
	VPERMPS   dst, Z30, dst

// func dotI4VnniRunAsm(xp, sx *float32, w unsafe.Pointer, wld int, s unsafe.Pointer, sld int, c unsafe.Pointer, cld int, nblk int, gs *i4Groups, out *float32, rows int)
//
// out[i] = the sum above for weight row i < rows (>= 1), the rows wld bytes apart, their
// scales sld bytes apart; nblk >= 1 blocks of 128 per row; gs describes the group size
// (see i4Groups). c nil: the symmetric format; otherwise unsigned nibbles plus
// Σ c[g]·sx over the lanes (kept apart, added at the end), row i's offsets cld bytes
// after row i-1's.
TEXT ·dotI4VnniRunAsm(SB), NOSPLIT, $0-96
	I4_RUN_ARGS
	MOVQ         gs+72(FP), AX
	VN_SETUP

vrow:
	I4_RUN_ROW
	VXORPS Z0, Z0, Z0
	TESTQ  R13, R13
	JZ     vsym
	VXORPS Z1, Z1, Z1

voff:
	VN_UNPACK(0)
	VN_XROW(VN_OFF_INIT, Z5, Z6, Z7, Z0)
	VN_NEXT
	I4_LANES(R10, Z13, X13)
	VFMADD231PS (R12), Z13, Z1
	ADDQ   R11, R10
	ADDQ   $64, R12
	DECQ   CX
	JNZ    voff
	VADDPS Z1, Z0, Z0
	JMP    vsum

vsym:
	VN_UNPACK(8)
	VN_XROW(VN_SYM_INIT, Z5, Z6, Z7, Z0)
	VN_NEXT
	DECQ CX
	JNZ  vsym

vsum:
	HSUM_Z0
	I4_RUN_NEXT(vrow)
	VZEROUPPER
	RET

// VN_XROW2(INIT) is VN_XROW for the two rows of x of dotI4VnniRun2Asm (the second AX
// bytes after the first, at DI) into the sums Z0 and Z1, then VN_NEXT.
#define VN_XROW2(INIT) \
	VN_XROW(INIT, Z5, Z6, Z7, Z0); \
	ADDQ AX, DI; \
	VN_XROW(INIT, Z8, Z9, Z10, Z1); \
	SUBQ AX, DI; \
	VN_NEXT

// func dotI4VnniRun2Asm(xp, sx *float32, ldx int, w unsafe.Pointer, wld int, s unsafe.Pointer, sld int, c unsafe.Pointer, cld int, nblk int, gs *i4Groups, out *float32, rows int)
//
// dotI4VnniRunAsm for two rows of x, the second ldx bytes after the first (its lane sums
// too): out[i] for x row 0 and out[rows+i] for x row 1, each with the one-row kernel's
// bits. Each block of weights is unpacked, and its group parameters spread, once for
// both. Registers: sums Z0/Z1, offset sums Z14/Z15, ldx in AX.
TEXT ·dotI4VnniRun2Asm(SB), NOSPLIT, $0-104
	MOVQ         w+24(FP), BX
	MOVQ         s+40(FP), DX
	MOVQ         c+56(FP), R13
	MOVQ         out+88(FP), R8
	MOVQ         rows+96(FP), R14
	MOVQ         gs+80(FP), AX
	VN_SETUP
	MOVQ         ldx+16(FP), AX

v2row:
	MOVQ   xp+0(FP), DI
	MOVQ   sx+8(FP), R12
	MOVQ   BX, SI
	MOVQ   DX, R9
	MOVQ   R13, R10
	MOVQ   nblk+72(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	TESTQ  R13, R13
	JZ     v2sym
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15

v2off:
	VN_UNPACK(0)
	VN_XROW2(VN_OFF_INIT)
	I4_LANES(R10, Z13, X13)
	VFMADD231PS (R12), Z13, Z14
	VFMADD231PS (R12)(AX*1), Z13, Z15
	ADDQ   R11, R10
	ADDQ   $64, R12
	DECQ   CX
	JNZ    v2off
	VADDPS Z14, Z0, Z0
	VADDPS Z15, Z1, Z1
	JMP    v2sum

v2sym:
	VN_UNPACK(8)
	VN_XROW2(VN_SYM_INIT)
	DECQ CX
	JNZ  v2sym

v2sum:
	VMOVAPS Z1, Z16
	HSUM_Z0
	VMOVSS  X0, (R8)
	VMOVAPS Z16, Z0
	HSUM_Z0
	MOVQ    rows+96(FP), R9
	VMOVSS  X0, (R8)(R9*4)
	ADDQ    $4, R8
	ADDQ    wld+32(FP), BX
	ADDQ    sld+48(FP), DX
	ADDQ    cld+64(FP), R13
	DECQ    R14
	JNZ     v2row
	VZEROUPPER
	RET

// Constants of prepXVnniAsm.
DATA  cellIndex<>+0(SB)/4, $0 // 8d: the first element of cell d
DATA  cellIndex<>+4(SB)/4, $8
DATA  cellIndex<>+8(SB)/4, $16
DATA  cellIndex<>+12(SB)/4, $24
DATA  cellIndex<>+16(SB)/4, $32
DATA  cellIndex<>+20(SB)/4, $40
DATA  cellIndex<>+24(SB)/4, $48
DATA  cellIndex<>+28(SB)/4, $56
DATA  cellIndex<>+32(SB)/4, $64
DATA  cellIndex<>+36(SB)/4, $72
DATA  cellIndex<>+40(SB)/4, $80
DATA  cellIndex<>+44(SB)/4, $88
DATA  cellIndex<>+48(SB)/4, $96
DATA  cellIndex<>+52(SB)/4, $104
DATA  cellIndex<>+56(SB)/4, $112
DATA  cellIndex<>+60(SB)/4, $120
GLOBL cellIndex<>(SB), RODATA|NOPTR, $64
DATA  prepConst<>+0(SB)/4, $0x7fffffff // |x| mask
DATA  prepConst<>+4(SB)/4, $0x7f800000 // the bits of +Inf
DATA  prepConst<>+8(SB)/4, $1          // the smallest biased exponent used
DATA  prepConst<>+12(SB)/4, $148       // 127 + 21
DATA  prepConst<>+16(SB)/4, $0x7fc00000 // NaN
DATA  prepConst<>+20(SB)/4, $0xff      // a byte
GLOBL prepConst<>(SB), RODATA|NOPTR, $24

// VN_LIMBS(M, R, Q) splits the cell integers M into balanced limbs: R = (M - sx8(M))>>8,
// Q = (R - sx8(R))>>8, sx8 the sign-extended low byte, so M = Q·2^16 + sx8(R)·2^8 +
// sx8(M) with every limb in [-128, 127] (|Q| <= 64 as |M| < 2^22). Z24 is scratch.
#define VN_LIMBS(M, R, Q) \
	VPSLLD $24, M, Z24; \
	VPSRAD $24, Z24, Z24; \
	VPSUBD Z24, M, R; \
	VPSRAD $8, R, R; \
	VPSLLD $24, R, Z24; \
	VPSRAD $24, Z24, Z24; \
	VPSUBD Z24, R, Q; \
	VPSRAD $8, Q, Q

// VN_PACK(A0, A1, A2, A3, OFF) stores at OFF(DI) the low bytes of A0-A3 interleaved:
// byte 4d+j is the low byte of lane d of Aj. Z24-Z26 are scratch, Z23 holds 0xff.
#define VN_PACK(A0, A1, A2, A3, OFF) \
	VPSLLD     $24, A3, Z24; \
	VPSLLD     $24, A2, Z25; \
	VPSRLD     $8, Z25, Z25; \
	VPSLLD     $24, A1, Z26; \
	VPSRLD     $16, Z26, Z26; \
	VPTERNLOGD $0xfe, Z24, Z25, Z26; \
	VPTERNLOGD $0xf8, Z23, A0, Z26; \
	VMOVDQU32  Z26, OFF(DI)

// VN_HALF(M0, M1, M2, M3, OFF) stores the limbs of the cell integers M0-M3 (elements
// 2j or 2j+1 of each cell) as the vectors "x2", "x1", "x0" of one half (OFF 0 for the
// low nibbles, 64 for the high ones); Z8-Z15 are scratch.
#define VN_HALF(M0, M1, M2, M3, OFF) \
	VN_LIMBS(M0, Z8, Z12); \
	VN_LIMBS(M1, Z9, Z13); \
	VN_LIMBS(M2, Z10, Z14); \
	VN_LIMBS(M3, Z11, Z15); \
	VN_PACK(Z12, Z13, Z14, Z15, OFF); \
	VN_PACK(Z8, Z9, Z10, Z11, OFF+128); \
	VN_PACK(M0, M1, M2, M3, OFF+256)

// VN_GATHER(OFF, Z) loads element OFF/4 of the 16 cells at (SI) into Z.
#define VN_GATHER(OFF, Z) \
	KXNORW     K2, K2, K2; \
	VGATHERDPS OFF(SI)(Z31*4), K2, Z

// VN_ABSMAX(Z) folds the magnitudes of Z, as bits, into Z8 (Z30: the |x| mask).
#define VN_ABSMAX(Z) \
	VPANDD  Z30, Z, Z9; \
	VPMAXUD Z9, Z8, Z8

// VN_ROUND(Z) turns Z into the cell integers M: exact scaling by 2^(21-e) (Z9), then the
// conversion, which rounds to nearest even.
#define VN_ROUND(Z) \
	VSCALEFPS Z9, Z, Z; \
	VCVTPS2DQ Z, Z

// func prepXVnniAsm(dst unsafe.Pointer, x, sums *float32, nblk int)
//
// Writes nblk blocks of 512 bytes at dst in the layout above from the 128·nblk floats
// of x, and sums[16b+d] = Σ_m x[128b+8d+m] (added in increasing m). Per cell d of block
// b: e = max(biased exponent of max_m |x[128b+8d+m]|, 1) - 127, and M[8d+m] = the
// nearest integer (ties to even) to x[128b+8d+m]·2^(21-e).
TEXT ·prepXVnniAsm(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         sums+16(FP), R8
	MOVQ         nblk+24(FP), CX
	VMOVDQU32    cellIndex<>(SB), Z31
	VPBROADCASTD prepConst<>+0(SB), Z30
	VPBROADCASTD prepConst<>+4(SB), Z29
	VPBROADCASTD prepConst<>+8(SB), Z28
	VPBROADCASTD prepConst<>+12(SB), Z27
	VPBROADCASTD prepConst<>+16(SB), Z22
	VPBROADCASTD prepConst<>+20(SB), Z23

pblk:
	// Z0-Z7: element m of every cell.
	VN_GATHER(0, Z0)
	VN_GATHER(4, Z1)
	VN_GATHER(8, Z2)
	VN_GATHER(12, Z3)
	VN_GATHER(16, Z4)
	VN_GATHER(20, Z5)
	VN_GATHER(24, Z6)
	VN_GATHER(28, Z7)

	// The lane sums of x.
	VADDPS  Z1, Z0, Z8
	VADDPS  Z2, Z8, Z8
	VADDPS  Z3, Z8, Z8
	VADDPS  Z4, Z8, Z8
	VADDPS  Z5, Z8, Z8
	VADDPS  Z6, Z8, Z8
	VADDPS  Z7, Z8, Z8
	VMOVUPS Z8, (R8)

	// Z8: the largest |x| of each cell as bits (unsigned order is magnitude order, and
	// Inf and NaN are above every finite value); K3: the cells with an Inf or a NaN.
	VPANDD  Z30, Z0, Z8
	VN_ABSMAX(Z1)
	VN_ABSMAX(Z2)
	VN_ABSMAX(Z3)
	VN_ABSMAX(Z4)
	VN_ABSMAX(Z5)
	VN_ABSMAX(Z6)
	VN_ABSMAX(Z7)
	VPCMPUD $5, Z29, Z8, K3

	// Z8 = max(biased exponent, 1); Z9 = 21 - e = 148 - Z8 and Z10 = e - 21 as floats.
	VPSRLD    $23, Z8, Z8
	VPMAXSD   Z28, Z8, Z8
	VPSUBD    Z8, Z27, Z9
	VCVTDQ2PS Z9, Z9
	VPSUBD    Z27, Z8, Z10
	VCVTDQ2PS Z10, Z10
	VMOVAPS   Z22, K3, Z10
	VMOVUPS   Z10, 384(DI)

	// M = round(x·2^(21-e)).
	VN_ROUND(Z0)
	VN_ROUND(Z1)
	VN_ROUND(Z2)
	VN_ROUND(Z3)
	VN_ROUND(Z4)
	VN_ROUND(Z5)
	VN_ROUND(Z6)
	VN_ROUND(Z7)

	// -8·Σ M per cell.
	VPADDD Z1, Z0, Z8
	VPADDD Z2, Z8, Z8
	VPADDD Z3, Z8, Z8
	VPADDD Z4, Z8, Z8
	VPADDD Z5, Z8, Z8
	VPADDD Z6, Z8, Z8
	VPADDD Z7, Z8, Z8
	VPSLLD $3, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPSUBD Z8, Z9, Z8
	VMOVDQU32 Z8, 448(DI)

	// Limbs of the even elements (the low nibbles), then of the odd ones.
	VN_HALF(Z0, Z2, Z4, Z6, 0)
	VN_HALF(Z1, Z3, Z5, Z7, 64)

	ADDQ $512, SI
	ADDQ $512, DI
	ADDQ $64, R8
	DECQ CX
	JNZ  pblk
	VZEROUPPER
	RET
