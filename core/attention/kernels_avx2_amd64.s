//go:build !purego

#include "textflag.h"
#include "kernels_amd64.h"

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

// HEADS2_BODY(SHIFT, STEP, LOAD) is the body of accumHeadsAVX2 and its half-precision
// forms (HEADS_BODY on AVX2): values of 1<<SHIFT bytes, STEP bytes per 16, LOAD putting
// the 16 values at SI, widened, into Y2 and Y3. Defined before the first routine, where
// go vet's frame check does not take it for part of one.
#define HEADS2_BODY(SHIFT, STEP, LOAD) \
	MOVQ v+16(FP), R8; \
	MOVQ vs+24(FP), R9; \
	SHLQ $SHIFT, R9; \
	MOVQ n+32(FP), CX; \
	MOVQ ahead+48(FP), R11; \
	XORQ R12, R12; \
hpos: \
	CMPQ R12, CX; \
	JGE  hdone; \
	MOVQ rows+0(FP), DX; \
	MOVQ nrows+8(FP), BX; \
hrow: \
	MOVQ 0(DX), DI; \
	MOVQ 8(DX), SI; \
	VBROADCASTSS (SI)(R12*4), Y15; \
	MOVQ 16(DX), SI; \
	SHLQ $SHIFT, SI; \
	ADDQ R8, SI; \
	MOVQ dv+40(FP), R10; \
hvec: \
	PREFETCHT0 (SI)(R11*1); \
	LOAD; \
	VMOVUPS (DI), Y0; \
	VMOVUPS 32(DI), Y1; \
	VFMADD231PS Y2, Y15, Y0; \
	VFMADD231PS Y3, Y15, Y1; \
	VMOVUPS Y0, (DI); \
	VMOVUPS Y1, 32(DI); \
	ADDQ $64, DI; \
	ADDQ $STEP, SI; \
	SUBQ $16, R10; \
	JG   hvec; \
	ADDQ $24, DX; \
	DECQ BX; \
	JNZ  hrow; \
	INCQ R12; \
	ADDQ R9, R8; \
	JMP  hpos; \
hdone: \
	VZEROUPPER; \
	RET

#define H2_F32 VMOVUPS (SI), Y2; VMOVUPS 32(SI), Y3

// SB2_BODY(PIECE, O1, STEP, PF, PFSTEP) is the body of scoresHeadsAVX2 and its
// half-precision forms (SB_BODY on AVX2): a group is 8 consecutive key rows (R9 bytes
// apart), lane l holding row l, and its columns are taken 8 at a time in two blocks of
// four, the second O1 bytes after the first (STEP bytes per 8 columns). PIECE puts the
// four elements of row a at its first address into the low 128-bit lane of a vector
// and those of row 4+a at its second into the high one, widened; a 4x4 transposition
// within lanes then gives four columns of the 8 rows in lane order, which go into the
// lanes' chains (Y13) with their query lanes at R8, one FMA per column in increasing t.
// PF asks for the lines ahead (PFSTEP bytes per 8 columns). The finished chains are
// stored lane by lane at the indices at idx. It is defined before the first routine,
// where go vet's frame check does not take it for part of one.
#define SB2_BODY(PIECE, O1, STEP, PF, PFSTEP) \
	SH_ARGS; \
sb2group: \
	VXORPS    Y13, Y13, Y13; \
	SH_START; \
sb2cols: \
	PF; \
	ADDQ      $PFSTEP, R13; \
	SB2_BLOCK(PIECE, 0, 0, 32, 64, 96); \
	SB2_BLOCK(PIECE, O1, 128, 160, 192, 224); \
	ADDQ      $256, R8; \
	ADDQ      $STEP, R10; \
	ADDQ      $STEP, R12; \
	SUBQ      $8, DX; \
	JG        sb2cols; \
	MOVQ      idx+8(FP), R11; \
	SB2_STORE4(X13, 0); \
	VEXTRACTF128 $1, Y13, X14; \
	SB2_STORE4(X14, 16); \
	MOVQ      os+64(FP), DX; \
	LEAQ      (DI)(DX*4), DI; \
	ADDQ      gs+56(FP), SI; \
	DECQ      CX; \
	JNZ       sb2group; \
sbdone: \
	VZEROUPPER; \
	RET

// SB2_STORE4(XR, I) stores the four lanes of XR at DI + 4*idx[l], idx read from I(R11).
#define SB2_STORE4(XR, I) \
	MOVLQSX I(R11), AX; \
	VEXTRACTPS $0, XR, (DI)(AX*4); \
	MOVLQSX I+4(R11), AX; \
	VEXTRACTPS $1, XR, (DI)(AX*4); \
	MOVLQSX I+8(R11), AX; \
	VEXTRACTPS $2, XR, (DI)(AX*4); \
	MOVLQSX I+12(R11), AX; \
	VEXTRACTPS $3, XR, (DI)(AX*4)

// SB2_BLOCK(PIECE, O, Q0, Q1, Q2, Q3) is one block of four columns, O bytes into the
// rows (SB2_BODY): Y0..Y3 get rows a and 4+a (a = 0..3), the transposition gives the
// columns in Y8..Y11, and each goes into the chains with its query lanes at Q0..Q3(R8).
#define SB2_BLOCK(PIECE, O, Q0, Q1, Q2, Q3) \
	PIECE(O(R10), O(R12), X0, Y0); \
	PIECE(O(R10)(R9*1), O(R12)(R9*1), X1, Y1); \
	PIECE(O(R10)(R9*2), O(R12)(R9*2), X2, Y2); \
	PIECE(O(R10)(BX*1), O(R12)(BX*1), X3, Y3); \
	VUNPCKLPS Y1, Y0, Y4; \
	VUNPCKHPS Y1, Y0, Y5; \
	VUNPCKLPS Y3, Y2, Y6; \
	VUNPCKHPS Y3, Y2, Y7; \
	VSHUFPS $0x44, Y6, Y4, Y8; \
	VSHUFPS $0xEE, Y6, Y4, Y9; \
	VSHUFPS $0x44, Y7, Y5, Y10; \
	VSHUFPS $0xEE, Y7, Y5, Y11; \
	VMOVUPS Q0(R8), Y12; VFMADD231PS Y8, Y12, Y13; \
	VMOVUPS Q1(R8), Y12; VFMADD231PS Y9, Y12, Y13; \
	VMOVUPS Q2(R8), Y12; VFMADD231PS Y10, Y12, Y13; \
	VMOVUPS Q3(R8), Y12; VFMADD231PS Y11, Y12, Y13

// PIECE routines for SB2_BODY: the four elements at A0 in the low 128-bit lane of YR and
// those at A1 in the high one.
#define SB2_F32(A0, A1, XR, YR) VMOVUPS A0, XR; VINSERTF128 $1, A1, YR, YR
#define SB2_HALVES(A0, A1, XR) VMOVQ A0, XR; VPINSRQ $1, A1, XR, XR
#define SB2_F16(A0, A1, XR, YR) SB2_HALVES(A0, A1, XR); VCVTPH2PS XR, YR
#define SB2_BF16(A0, A1, XR, YR) SB2_HALVES(A0, A1, XR); VPMOVZXWD XR, YR; VPSLLD $16, YR, YR

// Lines asked for ahead of R13: 8 columns of 8 rows are 256 bytes of float32 and 128 of
// halves, and the rows lie one after another.
#define SB2_PF32 PREFETCHT0 0(R13); PREFETCHT0 64(R13); PREFETCHT0 128(R13); PREFETCHT0 192(R13)
#define SB2_PF16 PREFETCHT0 0(R13); PREFETCHT0 64(R13)
#define H2_F16 VCVTPH2PS (SI), Y2; VCVTPH2PS 16(SI), Y3
#define H2_BF16 VPMOVZXWD (SI), Y2; VPSLLD $16, Y2, Y2; VPMOVZXWD 16(SI), Y3; VPSLLD $16, Y3, Y3

// The 8 sums of four output rows (DI, DI+R14, DI+2*R14 and BX) by two vectors, in Y0-Y7
// (Y2r, Y2r+1 for row r): SUMS4Y_LOAD and SUMS4Y_STORE move them, SUMS4Y_FMA adds the
// four probabilities Y8-Y11 times the two vectors of values Y12, Y13 into them, the
// operands in accumAVX2's order.
#define SUMS4Y_MOVE(OP) \
	OP(0(DI), Y0); OP(32(DI), Y1); OP(0(DI)(R14*1), Y2); OP(32(DI)(R14*1), Y3); \
	OP(0(DI)(R14*2), Y4); OP(32(DI)(R14*2), Y5); OP(0(BX), Y6); OP(32(BX), Y7)
#define SUMY_LOAD(A, Y) VMOVUPS A, Y
#define SUMY_STORE(A, Y) VMOVUPS Y, A
#define SUMS4Y_LOAD SUMS4Y_MOVE(SUMY_LOAD)
#define SUMS4Y_STORE SUMS4Y_MOVE(SUMY_STORE)
#define SUMS4Y_PROB PROB4(Y8, Y9, Y10, Y11)
#define SUMS4Y_FMA \
	VFMADD231PS Y12, Y8, Y0; VFMADD231PS Y12, Y9, Y2; VFMADD231PS Y12, Y10, Y4; VFMADD231PS Y12, Y11, Y6; \
	VFMADD231PS Y13, Y8, Y1; VFMADD231PS Y13, Y9, Y3; VFMADD231PS Y13, Y10, Y5; VFMADD231PS Y13, Y11, Y7

// Lines asked for ahead of R13 by accumGroupsAVX2 per position of a block of 16 columns:
// 64 bytes of float32 values, 32 of halves.
#define AG2_PF32 PREFETCHT0 0(R13); ADDQ $64, R13
#define AG2_PF16 PREFETCHT0 0(R13); ADDQ $32, R13

// SG2_BODY(PIECE, W, PF) is the body of scoresGroupsAVX2 and its half-precision forms
// (SG_BODY on AVX2): lane 4k+a of a vector is row a of head 2b+k of a block b of two
// heads. PIECE puts four columns (W bytes of a row) of head 2b at its first address in
// the low 128-bit lane and of head 2b+1 at its second in the high one, widened, and an
// in-lane permutation repeats each column over the four rows' lanes. Each of the four
// positions of a step has its own chain (Y12..Y15), one FMA per column in increasing
// order, with the query lanes at R8. Registers and passes as in SG_BODY; the finished
// chains are stored lane by lane at the indices at idx (SG2_STORE), DI the pass's
// outputs (the step's first in the local sout). PF asks for the lines ahead per four
// columns.
#define SG2_BODY(PIECE, W, PF) \
	STREAM_ARGS(sgdone); \
	MOVQ  DI, sout-16(SP); \
sgstep: \
	MOVQ  qg+16(FP), R8; \
	MOVQ  quads+64(FP), CX; \
	MOVQ  sout-16(SP), DI; \
	MOVQ  SI, R10; \
	MOVQ  rq+88(FP), AX; \
	MOVQ  AX, iq-24(SP); \
sgblock: \
	POS4_BASES; \
	SG2_CHAINS; \
	MOVQ  d+48(FP), DX; \
sgcols: \
	PF; \
	SG2_QUERIES; \
	SG2_POS(PIECE, R10, Y12); \
	SG2_POS(PIECE, R14, Y13); \
	SG2_POS(PIECE, AX, Y14); \
	SG2_POS(PIECE, R12, Y15); \
	ADDQ  $128, R8; \
	POS4_NEXT(W); \
	SUBQ  $4, DX; \
	JG    sgcols; \
	SG2_STORES; \
	DECQ  iq-24(SP); \
	JZ    sgnext; \
	MOVQ  qrs+96(FP), AX; \
	LEAQ  (DI)(AX*4), DI; \
	SUBQ  R9, R10; \
	MOVQ  R9, AX; \
	SHLQ  $3, AX; \
	SUBQ  AX, R13; \
	JMP   sgblock; \
sgnext: \
	MOVQ  rq+88(FP), AX; \
	MOVQ  AX, iq-24(SP); \
	MOVQ  qs+72(FP), AX; \
	LEAQ  (DI)(AX*4), DI; \
	ADDQ  R9, R10; \
	DECQ  CX; \
	JNZ   sgblock; \
	SG2_NEXT_STEP(sgstep); \
sgdone: \
	VZEROUPPER; \
	RET

// SG2_STORES stores the four positions' chains lane by lane at the indices at idx;
// SG2_NEXT_STEP(STEP) moves on to the next step of four positions and loops to STEP while
// steps are left (SG2_BODY and SP2_BODY).
#define SG2_STORES \
	MOVQ idx+8(FP), R14; \
	SG2_STORE(Y12, X12, 0); SG2_STORE(Y13, X13, 4); SG2_STORE(Y14, X14, 8); SG2_STORE(Y15, X15, 12)
#define SG2_NEXT_STEP(STEP) \
	LEAQ (SI)(R11*4), SI; \
	ADDQ $16, sout-16(SP); \
	DECQ left-8(SP); \
	JNZ  STEP

// SG2_CHAINS empties the four positions' chains, Y12..Y15; SG2_QUERIES loads the query
// lanes of four columns at R8 into Y8..Y11 (SG2_BODY and SP2_BODY).
#define SG2_CHAINS VXORPS Y12, Y12, Y12; VXORPS Y13, Y13, Y13; VXORPS Y14, Y14, Y14; VXORPS Y15, Y15, Y15
#define SG2_QUERIES VMOVUPS 0(R8), Y8; VMOVUPS 32(R8), Y9; VMOVUPS 64(R8), Y10; VMOVUPS 96(R8), Y11

// SG2_POS(PIECE, P, ACC) adds four columns of the block's two heads at position P to the
// position's chains in ACC (SG_POS on AVX2), with the query lanes in Y8..Y11.
#define SG2_POS(PIECE, P, ACC) \
	PIECE((P), (P)(R9*1), X0, Y0); \
	VPERMILPS   $0x00, Y0, Y1; \
	VFMADD231PS Y1, Y8, ACC; \
	VPERMILPS   $0x55, Y0, Y2; \
	VFMADD231PS Y2, Y9, ACC; \
	VPERMILPS   $0xAA, Y0, Y3; \
	VFMADD231PS Y3, Y10, ACC; \
	VPERMILPS   $0xFF, Y0, Y4; \
	VFMADD231PS Y4, Y11, ACC

// SG2_STORE(YR, XR, OFF) stores the 8 lanes of YR at OFF + DI + 4*idx[l], idx at R14
// (AX and X0 clobbered).
#define SG2_STORE(YR, XR, OFF) \
	SG2_STORE4(XR, 0, OFF); \
	VEXTRACTF128 $1, YR, X0; \
	SG2_STORE4(X0, 16, OFF)
#define SG2_STORE4(XR, I, OFF) \
	MOVLQSX I(R14), AX; \
	VEXTRACTPS $0, XR, OFF(DI)(AX*4); \
	MOVLQSX I+4(R14), AX; \
	VEXTRACTPS $1, XR, OFF(DI)(AX*4); \
	MOVLQSX I+8(R14), AX; \
	VEXTRACTPS $2, XR, OFF(DI)(AX*4); \
	MOVLQSX I+12(R14), AX; \
	VEXTRACTPS $3, XR, OFF(DI)(AX*4)

// Lines asked for ahead of R13 per four columns of a block: four positions of two heads'
// 16 bytes (float32), or 8 bytes (halves).
#define SG2_PF32 PREFETCHT0 0(R13); PREFETCHT0 64(R13); ADDQ $128, R13
#define SG2_PF16 PREFETCHT0 0(R13); ADDQ $64, R13

// SP2_BODY(PIECE, W, PF) is the body of scoresPairsAVX2 and its half-precision forms
// (SP_BODY on AVX2): lane 2m+a of a vector is row a of head 4b+m of a block b of four
// heads. PIECE puts two columns (W bytes of a row) of each head m in quadword m, widened,
// and an in-lane permutation repeats each column over the head's two lanes. Each of the
// four positions of a step has its own chain (Y12..Y15), one FMA per column in increasing
// order, with the query lanes at R8. Registers as in SG2_BODY; PF asks for the lines
// ahead per four columns.
#define SP2_BODY(PIECE, W, PF) \
	STREAM_ARGS(spdone); \
	MOVQ  DI, sout-16(SP); \
spstep: \
	MOVQ  qg+16(FP), R8; \
	MOVQ  blocks+64(FP), CX; \
	MOVQ  sout-16(SP), DI; \
	MOVQ  SI, R10; \
spblock: \
	POS4_BASES; \
	SG2_CHAINS; \
	MOVQ  d+48(FP), DX; \
spcols: \
	PF; \
	SG2_QUERIES; \
	SP2_POS(PIECE, R10, 0, Y8, Y9, Y12); \
	SP2_POS(PIECE, R14, 0, Y8, Y9, Y13); \
	SP2_POS(PIECE, AX, 0, Y8, Y9, Y14); \
	SP2_POS(PIECE, R12, 0, Y8, Y9, Y15); \
	SP2_POS(PIECE, R10, W, Y10, Y11, Y12); \
	SP2_POS(PIECE, R14, W, Y10, Y11, Y13); \
	SP2_POS(PIECE, AX, W, Y10, Y11, Y14); \
	SP2_POS(PIECE, R12, W, Y10, Y11, Y15); \
	ADDQ  $128, R8; \
	POS4_NEXT((2*W)); \
	SUBQ  $4, DX; \
	JG    spcols; \
	SG2_STORES; \
	MOVQ  qs+72(FP), AX; \
	LEAQ  (DI)(AX*4), DI; \
	ADDQ  BX, R10; \
	DECQ  CX; \
	JNZ   spblock; \
	SG2_NEXT_STEP(spstep); \
spdone: \
	VZEROUPPER; \
	RET

// SP2_POS(PIECE, P, O, QA, QB, ACC) adds two columns, O bytes into the rows, of the
// block's four heads at position P to the position's chains in ACC, with the query lanes
// of the two columns in QA and QB.
#define SP2_POS(PIECE, P, O, QA, QB, ACC) \
	PIECE(O(P), O(P)(R9*1), O(P)(R9*2), O(P)(BX*1)); \
	VPERMILPS   $0xA0, Y0, Y1; \
	VFMADD231PS Y1, QA, ACC; \
	VPERMILPS   $0xF5, Y0, Y2; \
	VFMADD231PS Y2, QB, ACC

// PIECE routines for SP2_BODY: quadword m of Y0 gets the two float32 columns at Am, or
// the two halves at Am widened (dword m of X0 first).
#define SP2_F32(A0, A1, A2, A3) \
	VMOVQ A0, X0; VPINSRQ $1, A1, X0, X0; VMOVQ A2, X1; VPINSRQ $1, A3, X1, X1; VINSERTF128 $1, X1, Y0, Y0
#define SP2_HALVES(A0, A1, A2, A3) VMOVD A0, X0; VPINSRD $1, A1, X0, X0; VPINSRD $2, A2, X0, X0; VPINSRD $3, A3, X0, X0
#define SP2_F16(A0, A1, A2, A3) SP2_HALVES(A0, A1, A2, A3); VCVTPH2PS X0, Y0
#define SP2_BF16(A0, A1, A2, A3) SP2_HALVES(A0, A1, A2, A3); VPMOVZXWD X0, Y0; VPSLLD $16, Y0, Y0

// Lines asked for ahead of R13 per four columns of a block: four positions of four
// heads' 16 bytes (float32), or 8 bytes (halves).
#define SP2_PF32 PREFETCHT0 0(R13); PREFETCHT0 64(R13); PREFETCHT0 128(R13); PREFETCHT0 192(R13); ADDQ $256, R13
#define SP2_PF16 PREFETCHT0 0(R13); PREFETCHT0 64(R13); ADDQ $128, R13

// ACCUM4Y_BODY(LOAD, STEP) is the body of accum4AVX2 and of its half-precision forms,
// after ACCUM4_ARGS: LOAD puts the 16 values at R11, widened, into Y12 and Y13, and a
// block of 16 values takes STEP bytes of a value row.
#define ACCUM4Y_BODY(LOAD, STEP) \
	TESTQ CX, CX; \
	JLE q4ydone; \
q4yblk: \
	CMPQ DX, $64; \
	JLT q4ydone; \
	SUMS4Y_LOAD; \
	MOVQ R13, R11; \
	XORQ R12, R12; \
q4yj: \
	PROB4(Y8, Y9, Y10, Y11); \
	LOAD; \
	SUMS4Y_FMA; \
	ADDQ R9, R11; \
	INCQ R12; \
	CMPQ R12, CX; \
	JLT q4yj; \
	SUMS4Y_STORE; \
	ADDQ $64, DI; \
	ADDQ $64, BX; \
	ADDQ $STEP, R13; \
	SUBQ $64, DX; \
	JMP q4yblk; \
q4ydone: \
	VZEROUPPER; \
	RET

#define A4_F32 VMOVUPS (R11), Y12; VMOVUPS 32(R11), Y13
#define A4_F16 VCVTPH2PS (R11), Y12; VCVTPH2PS 16(R11), Y13
#define A4_BF16 VPMOVZXWD (R11), Y12; VPSLLD $16, Y12, Y12; VPMOVZXWD 16(R11), Y13; VPSLLD $16, Y13, Y13

// HV2_F16(OFF, YR) and HV2_BF16(OFF, YR) load the 8 halves at OFF(R11) into YR, widened.
#define HV2_F16(OFF, YR) VCVTPH2PS OFF(R11), YR
#define HV2_BF16(OFF, YR) VPMOVZXWD OFF(R11), YR; VPSLLD $16, YR, YR

// HFMA2(HV, OFF, ACC) adds p (Y15) times the 8 values at OFF(R11) into ACC.
#define HFMA2(HV, OFF, ACC) HV(OFF, Y14); VFMADD231PS Y14, Y15, ACC

// HACCUM2(HV) is the body of accumF16AVX2 and accumBF16AVX2, after HACCUM_ARGS: accumAVX2
// on value rows read as halves (16 bytes per 8 values), each block of output vectors
// held in registers across the whole j loop, in blocks of 8 vectors, then of 2 (len(o)
// is a multiple of 16; the blocking changes no bit).
#define HACCUM2(HV) \
	SHLQ $2, DX; \
	TESTQ CX, CX; \
	JLE hdone; \
hblk8: \
	CMPQ DX, $256; \
	JLT hblk2; \
	VMOVUPS 0(DI), Y0; \
	VMOVUPS 32(DI), Y1; \
	VMOVUPS 64(DI), Y2; \
	VMOVUPS 96(DI), Y3; \
	VMOVUPS 128(DI), Y4; \
	VMOVUPS 160(DI), Y5; \
	VMOVUPS 192(DI), Y6; \
	VMOVUPS 224(DI), Y7; \
	MOVQ BX, R11; \
	XORQ R12, R12; \
hj8: \
	VBROADCASTSS (SI)(R12*4), Y15; \
	HFMA2(HV, 0, Y0); \
	HFMA2(HV, 16, Y1); \
	HFMA2(HV, 32, Y2); \
	HFMA2(HV, 48, Y3); \
	HFMA2(HV, 64, Y4); \
	HFMA2(HV, 80, Y5); \
	HFMA2(HV, 96, Y6); \
	HFMA2(HV, 112, Y7); \
	ADDQ R9, R11; \
	INCQ R12; \
	CMPQ R12, CX; \
	JLT hj8; \
	VMOVUPS Y0, 0(DI); \
	VMOVUPS Y1, 32(DI); \
	VMOVUPS Y2, 64(DI); \
	VMOVUPS Y3, 96(DI); \
	VMOVUPS Y4, 128(DI); \
	VMOVUPS Y5, 160(DI); \
	VMOVUPS Y6, 192(DI); \
	VMOVUPS Y7, 224(DI); \
	ADDQ $256, DI; \
	ADDQ $128, BX; \
	SUBQ $256, DX; \
	JMP hblk8; \
hblk2: \
	CMPQ DX, $64; \
	JLT hdone; \
	VMOVUPS 0(DI), Y0; \
	VMOVUPS 32(DI), Y1; \
	MOVQ BX, R11; \
	XORQ R12, R12; \
hj2: \
	VBROADCASTSS (SI)(R12*4), Y15; \
	HFMA2(HV, 0, Y0); \
	HFMA2(HV, 16, Y1); \
	ADDQ R9, R11; \
	INCQ R12; \
	CMPQ R12, CX; \
	JLT hj2; \
	VMOVUPS Y0, 0(DI); \
	VMOVUPS Y1, 32(DI); \
	ADDQ $64, DI; \
	ADDQ $32, BX; \
	SUBQ $64, DX; \
	JMP hblk2; \
hdone: \
	VZEROUPPER; \
	RET

// TRH8_BODY(CONV) is the body of transposeF16TileAVX2 and transposeBF16TileAVX2:
// transposeTileAVX2's loops with CONV(ADDR, YR) loading the 8 halves at ADDR into YR,
// widened. Defined before the first routine, where go vet's frame check does not take it
// for part of one.
#define TRH8_BODY(CONV) \
	MOVQ kt+0(FP), R12; \
	MOVQ k+8(FP), R8; \
	MOVQ ksBytes+16(FP), R9; \
	LEAQ (R9)(R9*2), R13; \
	MOVQ nkeys+32(FP), CX; \
	TESTQ CX, CX; \
	JLE thdone; \
	CMPQ d8+24(FP), $0; \
	JLE thdone; \
thkeys: \
	MOVQ d8+24(FP), BX; \
	MOVQ R8, SI; \
	MOVQ R12, DI; \
thcols: \
	CONV((SI), Y0); \
	CONV((SI)(R9*1), Y1); \
	CONV((SI)(R9*2), Y2); \
	CONV((SI)(R13*1), Y3); \
	LEAQ (SI)(R9*4), R10; \
	CONV((R10), Y4); \
	CONV((R10)(R9*1), Y5); \
	CONV((R10)(R9*2), Y6); \
	CONV((R10)(R13*1), Y7); \
	TRANSPOSE8; \
	VMOVUPS Y8, 0(DI); \
	VMOVUPS Y9, 256(DI); \
	VMOVUPS Y10, 512(DI); \
	VMOVUPS Y11, 768(DI); \
	VMOVUPS Y12, 1024(DI); \
	VMOVUPS Y13, 1280(DI); \
	VMOVUPS Y14, 1536(DI); \
	VMOVUPS Y15, 1792(DI); \
	ADDQ $16, SI; \
	ADDQ $2048, DI; \
	SUBQ $8, BX; \
	JG thcols; \
	LEAQ (R8)(R9*8), R8; \
	ADDQ $32, R12; \
	SUBQ $8, CX; \
	JG thkeys; \
thdone: \
	VZEROUPPER; \
	RET

#define TRH8_F16(ADDR, YR) VCVTPH2PS ADDR, YR
#define TRH8_BF16(ADDR, YR) VPMOVZXWD ADDR, YR; VPSLLD $16, YR, YR

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


// func accumHeadsAVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ahead int)
// accumHeadsAVX512 (which see) for float32 values, 8 lanes at a time.
TEXT ·accumHeadsAVX2(SB), NOSPLIT, $0-56
	HEADS2_BODY(2, 64, H2_F32)

// accumHeadsAVX2 for float16 values (F16C), each widened as it is loaded.
TEXT ·accumHeadsF16AVX2(SB), NOSPLIT, $0-56
	HEADS2_BODY(1, 32, H2_F16)

// accumHeadsAVX2 for bfloat16 values.
TEXT ·accumHeadsBF16AVX2(SB), NOSPLIT, $0-56
	HEADS2_BODY(1, 32, H2_BF16)

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

// func accum2AVX2(o1, o2, p1, p2, v []float32, vs int)
// accumAVX2(o1, p1, v, vs) and accumAVX2(o2, p2, v, vs) at once (len(p1) == len(p2),
// len(o1) == len(o2), a multiple of 16): each value row is loaded once for both outputs;
// every o element gets accumAVX2's bits. Blocks of 4 vectors keep the 8 sums in Y0-Y7,
// the two probabilities in Y8, Y9 and the values in Y10-Y13.
TEXT ·accum2AVX2(SB), NOSPLIT, $0-128
	MOVQ o1_base+0(FP), DI
	MOVQ o2_base+24(FP), R14
	MOVQ o1_len+8(FP), DX
	SHLQ $2, DX
	MOVQ p1_base+48(FP), SI
	MOVQ p2_base+72(FP), R13
	MOVQ p1_len+56(FP), CX
	MOVQ v_base+96(FP), BX
	MOVQ vs+120(FP), R9
	SHLQ $2, R9
	TESTQ CX, CX
	JLE p2ydone

p2yblk4:
	CMPQ DX, $128
	JLT p2yblk2
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 0(R14), Y4
	VMOVUPS 32(R14), Y5
	VMOVUPS 64(R14), Y6
	VMOVUPS 96(R14), Y7
	MOVQ BX, R11
	XORQ R12, R12

p2yj4:
	VBROADCASTSS (SI)(R12*4), Y8
	VBROADCASTSS (R13)(R12*4), Y9
	VMOVUPS 0(R11), Y10
	VMOVUPS 32(R11), Y11
	VMOVUPS 64(R11), Y12
	VMOVUPS 96(R11), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y4
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y11, Y9, Y5
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y12, Y9, Y6
	VFMADD231PS Y13, Y8, Y3
	VFMADD231PS Y13, Y9, Y7
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT p2yj4
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 0(R14)
	VMOVUPS Y5, 32(R14)
	VMOVUPS Y6, 64(R14)
	VMOVUPS Y7, 96(R14)
	ADDQ $128, DI
	ADDQ $128, R14
	ADDQ $128, BX
	SUBQ $128, DX
	JMP p2yblk4

p2yblk2:
	CMPQ DX, $64
	JLT p2ydone
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 0(R14), Y4
	VMOVUPS 32(R14), Y5
	MOVQ BX, R11
	XORQ R12, R12

p2yj2:
	VBROADCASTSS (SI)(R12*4), Y8
	VBROADCASTSS (R13)(R12*4), Y9
	VMOVUPS 0(R11), Y10
	VMOVUPS 32(R11), Y11
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y4
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y11, Y9, Y5
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT p2yj2
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y4, 0(R14)
	VMOVUPS Y5, 32(R14)
	ADDQ $64, DI
	ADDQ $64, R14
	ADDQ $64, BX
	SUBQ $64, DX
	JMP p2yblk2

p2ydone:
	VZEROUPPER
	RET

// func accum4AVX2(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int)
// accumAVX2(o[r*ldo:r*ldo+dv], p[r*ldp:r*ldp+n], v, vs) for the four rows r < 4, dv a
// multiple of 16: each value row is loaded once for the four outputs, and every o
// element gets accumAVX2's bits (one FMA per key, in increasing j). Blocks of 2 vectors
// keep the 8 sums in Y0-Y7, the four probabilities in Y8-Y11 and the values in Y12, Y13.
TEXT ·accum4AVX2(SB), NOSPLIT, $0-112
	ACCUM4_ARGS
	ACCUM4Y_BODY(A4_F32, 64)

// func accum4F16AVX2(o []float32, ldo, dv int, p []float32, ldp, n int, v []uint16, vs int)
// accum4AVX2 on rows of float16 (F16C), each vector widened as it is loaded: the bits of
// accum4AVX2 on the widened rows.
TEXT ·accum4F16AVX2(SB), NOSPLIT, $0-112
	ACCUM4_ARGS
	SHRQ $1, R9 // halves: ACCUM4_ARGS took the stride in float32
	ACCUM4Y_BODY(A4_F16, 32)

// func accum4BF16AVX2(o []float32, ldo, dv int, p []float32, ldp, n int, v []uint16, vs int)
// accum4F16AVX2 for bfloat16 rows.
TEXT ·accum4BF16AVX2(SB), NOSPLIT, $0-112
	ACCUM4_ARGS
	SHRQ $1, R9
	ACCUM4Y_BODY(A4_BF16, 32)

// func accumF16AVX2(o, p []float32, v *uint16, vsBytes int)
// for j, pj := range p { for d := range o { o[d] += pj * F16ToF32(v[j*vs+d]) } }, vs =
// vsBytes/2, len(o) a multiple of 16 (F16C): each o[d] the bits accumAVX2 gives on the
// widened rows.
TEXT ·accumF16AVX2(SB), NOSPLIT, $0-64
	HACCUM_ARGS
	HACCUM2(HV2_F16)

// func accumBF16AVX2(o, p []float32, v *uint16, vsBytes int)
// accumF16AVX2 for bfloat16 rows.
TEXT ·accumBF16AVX2(SB), NOSPLIT, $0-64
	HACCUM_ARGS
	HACCUM2(HV2_BF16)

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

// func axpyRows2AVX2(dst []float32, ld int, a1, x1, a2, x2 []float32)
// axpyRows2AVX512 with 8 lanes: the bits of axpyRows with a1, x1 then with a2, x2.
TEXT ·axpyRows2AVX2(SB), NOSPLIT, $0-128
	MOVQ dst_base+0(FP), DI
	MOVQ ld+24(FP), R9
	SHLQ $2, R9
	MOVQ a1_base+32(FP), SI
	MOVQ a1_len+40(FP), CX
	MOVQ x1_base+56(FP), BX
	MOVQ x1_len+64(FP), DX
	SHLQ $2, DX
	MOVQ a2_base+80(FP), R10
	MOVQ x2_base+104(FP), R11
	TESTQ CX, CX
	JLE ax2done
	TESTQ DX, DX
	JLE ax2done

ax2row:
	VBROADCASTSS (SI), Y8
	VBROADCASTSS (R10), Y9
	XORQ AX, AX

ax2col:
	VMOVUPS (DI)(AX*1), Y0
	VFMADD231PS (BX)(AX*1), Y8, Y0
	VFMADD231PS (R11)(AX*1), Y9, Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ $32, AX
	CMPQ AX, DX
	JLT ax2col
	ADDQ $4, SI
	ADDQ $4, R10
	ADDQ R9, DI
	DECQ CX
	JNZ ax2row

ax2done:
	VZEROUPPER
	RET

// ---- Tile kernels (tiles.go) --------------------------------------------------------
// The routines of the same names in kernels_avx512_amd64.s with the same contracts and
// the same per-element arithmetic (one FMA chain per score and per output, the same
// softmax sum tree, EXP above), so a row gets the same bits from the transposed and the
// row kernels. A vector of 16 row lanes is handled as two 8-lane halves; lanes never mix.

// func qkTileAVX2(st *float32, rs int, qt *float32, k *float32, ks int, d int, nkeys int, nv int)
// for j < nkeys (a multiple of 8), l < 16*nv (nv is 1 or 2):
//     st[j*rs+l] = sum over t < d of k[j*ks+t]*qt[t*rs+l], one FMA chain in increasing t.
// Two keys by four 8-lane vectors per pass (nv = 2) or four keys by two (nv = 1): eight
// chains in flight, each k[j*ks+t] broadcast once for all lanes of the call.
TEXT ·qkTileAVX2(SB), NOSPLIT, $0-64
	MOVQ st+0(FP), DI
	MOVQ rs+8(FP), DX
	SHLQ $2, DX
	MOVQ k+24(FP), R8
	MOVQ ks+32(FP), R9
	SHLQ $2, R9
	MOVQ d+40(FP), BX
	MOVQ nkeys+48(FP), CX
	TESTQ CX, CX
	JLE qkdone
	CMPQ nv+56(FP), $2
	JLT qk1block

qk2block:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ R8, R10
	MOVQ qt+16(FP), SI
	MOVQ BX, AX
	TESTQ AX, AX
	JLE qk2store

qk2t:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VMOVUPS 64(SI), Y10
	VMOVUPS 96(SI), Y11
	VBROADCASTSS (R10), Y12
	VBROADCASTSS (R10)(R9*1), Y13
	VFMADD231PS Y8, Y12, Y0
	VFMADD231PS Y9, Y12, Y1
	VFMADD231PS Y10, Y12, Y2
	VFMADD231PS Y11, Y12, Y3
	VFMADD231PS Y8, Y13, Y4
	VFMADD231PS Y9, Y13, Y5
	VFMADD231PS Y10, Y13, Y6
	VFMADD231PS Y11, Y13, Y7
	ADDQ $4, R10
	ADDQ DX, SI
	DECQ AX
	JNZ qk2t

qk2store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ DX, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y7, 96(DI)
	ADDQ DX, DI
	LEAQ (R8)(R9*2), R8
	SUBQ $2, CX
	JG qk2block
	JMP qkdone

qk1block:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ R8, R10
	LEAQ (R8)(R9*2), R11
	ADDQ R9, R11
	MOVQ qt+16(FP), SI
	MOVQ BX, AX
	TESTQ AX, AX
	JLE qk1store

qk1t:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VBROADCASTSS (R10), Y10
	VBROADCASTSS (R10)(R9*1), Y11
	VBROADCASTSS (R10)(R9*2), Y12
	VBROADCASTSS (R11), Y13
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y1
	VFMADD231PS Y8, Y11, Y2
	VFMADD231PS Y9, Y11, Y3
	VFMADD231PS Y8, Y12, Y4
	VFMADD231PS Y9, Y12, Y5
	VFMADD231PS Y8, Y13, Y6
	VFMADD231PS Y9, Y13, Y7
	ADDQ $4, R10
	ADDQ $4, R11
	ADDQ DX, SI
	DECQ AX
	JNZ qk1t

qk1store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ DX, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ DX, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ DX, DI
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	ADDQ DX, DI
	LEAQ (R8)(R9*4), R8
	SUBQ $4, CX
	JG qk1block

qkdone:
	VZEROUPPER
	RET

// PROB(addr, x) sets x = exp(addr - Y13), stores it back to addr, and clobbers Y8..Y10.
#define PROB(addr, x) \
	VMOVUPS addr, x; \
	VSUBPS Y13, x, x; \
	EXP(x, Y8, Y9, Y10); \
	VMOVUPS x, addr

// WTREE(w) is one step of softmaxTileAVX2's tree for 8 lanes: with SI at key i and R11
// the size of 16 keys, it sets the probabilities of keys i, 16+i, 32+i, 48+i and of the
// same plus 8, sets w = u[i] + u[i+8], and moves SI on by one key. Y5..Y7, R12, R13 are
// clobbered.
#define WTREE(w) \
	LEAQ (SI)(R11*2), R12; \
	PROB(0(SI), Y5); \
	PROB(0(SI)(R11*1), Y6); \
	VADDPS Y6, Y5, Y7; \
	PROB(0(R12), Y5); \
	PROB(0(R12)(R11*1), Y6); \
	VADDPS Y6, Y5, Y5; \
	VADDPS Y5, Y7, w; \
	LEAQ (SI)(DX*8), R13; \
	LEAQ (R13)(R11*2), R12; \
	PROB(0(R13), Y5); \
	PROB(0(R13)(R11*1), Y6); \
	VADDPS Y6, Y5, Y7; \
	PROB(0(R12), Y5); \
	PROB(0(R12)(R11*1), Y6); \
	VADDPS Y6, Y5, Y5; \
	VADDPS Y5, Y7, Y7; \
	VADDPS Y7, w, w; \
	ADDQ DX, SI

// func softmaxTileAVX2(st *float32, rs int, m, l, alpha *float32)
// softmaxTileAVX512 (the online-softmax step of 16 row lanes over the 64 keys of a tile),
// one 8-lane half at a time:
//     mn = max(m, max_j st[j*rs+l]); z = mn, or 0 when mn = -Inf (a row with no key yet)
//     st[j*rs+l] = exp(st[j*rs+l] - z); alpha = exp(m - z); l = l*alpha + sum; m = mn
// and m = NaN when the new l is NaN. The sum has the tree of softmaxTileAVX512:
// u[i] = (p[i] + p[16+i]) + (p[32+i] + p[48+i]), w[i] = u[i] + u[i+8] for i < 8, then
// ((w0 + w4) + (w2 + w6)) + ((w1 + w5) + (w3 + w7)). m and alpha are written as soon as
// they are known (mn to m, fixed up for NaN at the end), which frees their registers.
TEXT ·softmaxTileAVX2(SB), NOSPLIT, $0-40
	MOVQ st+0(FP), DI
	MOVQ rs+8(FP), DX
	SHLQ $2, DX
	MOVQ m+16(FP), R8
	MOVQ l+24(FP), R9
	MOVQ alpha+32(FP), R10
	MOVQ DX, R11
	SHLQ $4, R11
	VMOVUPS K(EXPLO), Y14
	VMOVUPS K(EXPHI), Y15
	MOVQ $2, BX

smhalf:
	// Maxima in two independent chains (the order of max does not matter).
	VMOVUPS K(NEGINF), Y0
	VMOVAPS Y0, Y1
	MOVQ DI, SI
	MOVQ $32, AX

smmax:
	VMAXPS (SI), Y0, Y0
	VMAXPS (SI)(DX*1), Y1, Y1
	LEAQ (SI)(DX*2), SI
	DECQ AX
	JNZ smmax

	VMAXPS Y1, Y0, Y0
	VMOVUPS (R8), Y4
	VMAXPS Y0, Y4, Y5
	VMOVUPS Y5, (R8)
	VCMPPS $0, K(NEGINF), Y5, Y6
	VANDNPS Y5, Y6, Y13
	VSUBPS Y13, Y4, Y4
	EXP(Y4, Y8, Y9, Y10)
	VMOVUPS Y4, (R10)

	// Probabilities and the tree: w0..w3 in Y0..Y3, then w4..w7 (in Y4) added to them.
	MOVQ DI, SI
	WTREE(Y0)
	WTREE(Y1)
	WTREE(Y2)
	WTREE(Y3)
	WTREE(Y4)
	VADDPS Y4, Y0, Y0
	WTREE(Y4)
	VADDPS Y4, Y1, Y1
	WTREE(Y4)
	VADDPS Y4, Y2, Y2
	WTREE(Y4)
	VADDPS Y4, Y3, Y3
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y1, Y0, Y0

	VMOVUPS (R10), Y4
	VMULPS (R9), Y4, Y4
	VADDPS Y0, Y4, Y4
	VMOVUPS Y4, (R9)

	// A NaN score may be dropped by VMAXPS but always reaches the sum: a row whose sum is
	// NaN gets m = NaN, so it is never mistaken for a row without keys.
	VMOVUPS (R8), Y5
	VCMPPS $3, Y4, Y4, Y6
	VBLENDVPS Y6, Y4, Y5, Y5
	VMOVUPS Y5, (R8)

	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R10
	DECQ BX
	JNZ smhalf
	VZEROUPPER
	RET

// func pvTileAVX2(ot *float32, rs int, pt *float32, v *float32, vs int, nkeys int, dv int, alpha *float32, nv int)
// for c < dv (a multiple of 16), l < 16*nv (nv is 1 or 2):
//     o = ot[c*rs+l] * alpha[l]; for j < nkeys { o = fma(pt[j*rs+l], v[j*vs+c], o) }
//     ot[c*rs+l] = o
// The outputs of 2 columns (four 8-lane vectors each, nv = 2) or 4 columns (two vectors,
// nv = 1) stay in registers across the whole j loop; each value v[j*vs+c] is broadcast
// once for all lanes of the call.
TEXT ·pvTileAVX2(SB), NOSPLIT, $0-72
	MOVQ ot+0(FP), DI
	MOVQ rs+8(FP), DX
	SHLQ $2, DX
	MOVQ v+24(FP), R8
	MOVQ vs+32(FP), R9
	SHLQ $2, R9
	MOVQ dv+48(FP), BX
	MOVQ alpha+56(FP), AX
	TESTQ BX, BX
	JLE pvdone
	CMPQ nv+64(FP), $2
	JLT pv1block

pv2block:
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS 64(AX), Y2
	VMOVUPS 96(AX), Y3
	VMULPS (DI), Y0, Y0
	VMULPS 32(DI), Y1, Y1
	VMULPS 64(DI), Y2, Y2
	VMULPS 96(DI), Y3, Y3
	VMOVUPS (AX), Y4
	VMOVUPS 32(AX), Y5
	VMOVUPS 64(AX), Y6
	VMOVUPS 96(AX), Y7
	VMULPS (DI)(DX*1), Y4, Y4
	VMULPS 32(DI)(DX*1), Y5, Y5
	VMULPS 64(DI)(DX*1), Y6, Y6
	VMULPS 96(DI)(DX*1), Y7, Y7
	MOVQ pt+16(FP), SI
	MOVQ R8, R11
	MOVQ nkeys+40(FP), CX
	TESTQ CX, CX
	JLE pv2store

pv2j:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VMOVUPS 64(SI), Y10
	VMOVUPS 96(SI), Y11
	VBROADCASTSS 0(R11), Y12
	VBROADCASTSS 4(R11), Y13
	VFMADD231PS Y8, Y12, Y0
	VFMADD231PS Y9, Y12, Y1
	VFMADD231PS Y10, Y12, Y2
	VFMADD231PS Y11, Y12, Y3
	VFMADD231PS Y8, Y13, Y4
	VFMADD231PS Y9, Y13, Y5
	VFMADD231PS Y10, Y13, Y6
	VFMADD231PS Y11, Y13, Y7
	ADDQ DX, SI
	ADDQ R9, R11
	DECQ CX
	JNZ pv2j

pv2store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ DX, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y7, 96(DI)
	ADDQ DX, DI
	ADDQ $8, R8
	SUBQ $2, BX
	JG pv2block
	JMP pvdone

pv1block:
	MOVQ DI, R10
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VMULPS (R10), Y0, Y0
	VMULPS 32(R10), Y1, Y1
	ADDQ DX, R10
	VMOVUPS (AX), Y2
	VMOVUPS 32(AX), Y3
	VMULPS (R10), Y2, Y2
	VMULPS 32(R10), Y3, Y3
	ADDQ DX, R10
	VMOVUPS (AX), Y4
	VMOVUPS 32(AX), Y5
	VMULPS (R10), Y4, Y4
	VMULPS 32(R10), Y5, Y5
	ADDQ DX, R10
	VMOVUPS (AX), Y6
	VMOVUPS 32(AX), Y7
	VMULPS (R10), Y6, Y6
	VMULPS 32(R10), Y7, Y7
	MOVQ pt+16(FP), SI
	MOVQ R8, R11
	MOVQ nkeys+40(FP), CX
	TESTQ CX, CX
	JLE pv1store

pv1j:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VBROADCASTSS 0(R11), Y10
	VBROADCASTSS 4(R11), Y11
	VBROADCASTSS 8(R11), Y12
	VBROADCASTSS 12(R11), Y13
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y1
	VFMADD231PS Y8, Y11, Y2
	VFMADD231PS Y9, Y11, Y3
	VFMADD231PS Y8, Y12, Y4
	VFMADD231PS Y9, Y12, Y5
	VFMADD231PS Y8, Y13, Y6
	VFMADD231PS Y9, Y13, Y7
	ADDQ DX, SI
	ADDQ R9, R11
	DECQ CX
	JNZ pv1j

pv1store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ DX, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ DX, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ DX, DI
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	ADDQ DX, DI
	ADDQ $16, R8
	SUBQ $4, BX
	JG pv1block

pvdone:
	VZEROUPPER
	RET

// Row kernels of the tile path for items of fewer than 16 rows (decode): the same scores,
// probabilities and sums as the transposed kernels above, bit for bit, with the keys in
// the vector lanes instead of the rows.

// TRANSPOSE8 transposes the 8x8 block held in Y0..Y7 (row i in Yi) into Y8..Y15
// (column i in Y(8+i)); Y0..Y7 are clobbered.
#define TRANSPOSE8 \
	VUNPCKLPS Y1, Y0, Y8; \
	VUNPCKHPS Y1, Y0, Y9; \
	VUNPCKLPS Y3, Y2, Y10; \
	VUNPCKHPS Y3, Y2, Y11; \
	VUNPCKLPS Y5, Y4, Y12; \
	VUNPCKHPS Y5, Y4, Y13; \
	VUNPCKLPS Y7, Y6, Y14; \
	VUNPCKHPS Y7, Y6, Y15; \
	VSHUFPS $0x44, Y10, Y8, Y0; \
	VSHUFPS $0xEE, Y10, Y8, Y1; \
	VSHUFPS $0x44, Y11, Y9, Y2; \
	VSHUFPS $0xEE, Y11, Y9, Y3; \
	VSHUFPS $0x44, Y14, Y12, Y4; \
	VSHUFPS $0xEE, Y14, Y12, Y5; \
	VSHUFPS $0x44, Y15, Y13, Y6; \
	VSHUFPS $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; \
	VPERM2F128 $0x20, Y5, Y1, Y9; \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15

// func transposeTileAVX2(kt *float32, k *float32, ks int, dp int, nkeys int)
// kt[t*64+j] = k[j*ks+t] for j < nkeys and t < dp (both multiples of 16), in blocks of
// 8 keys by 8 columns.
TEXT ·transposeTileAVX2(SB), NOSPLIT, $0-40
	MOVQ kt+0(FP), R12
	MOVQ k+8(FP), R8
	MOVQ ks+16(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R13
	MOVQ nkeys+32(FP), CX
	TESTQ CX, CX
	JLE trdone
	CMPQ dp+24(FP), $0
	JLE trdone

trkeys:
	MOVQ dp+24(FP), BX
	MOVQ R8, SI
	MOVQ R12, DI

trcols:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R9*1), Y1
	VMOVUPS (SI)(R9*2), Y2
	VMOVUPS (SI)(R13*1), Y3
	LEAQ (SI)(R9*4), R10
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(R9*1), Y5
	VMOVUPS (R10)(R9*2), Y6
	VMOVUPS (R10)(R13*1), Y7
	TRANSPOSE8
	VMOVUPS Y8, 0(DI)
	VMOVUPS Y9, 256(DI)
	VMOVUPS Y10, 512(DI)
	VMOVUPS Y11, 768(DI)
	VMOVUPS Y12, 1024(DI)
	VMOVUPS Y13, 1280(DI)
	VMOVUPS Y14, 1536(DI)
	VMOVUPS Y15, 1792(DI)
	ADDQ $32, SI
	ADDQ $2048, DI
	SUBQ $8, BX
	JG trcols

	LEAQ (R8)(R9*8), R8
	ADDQ $32, R12
	SUBQ $8, CX
	JG trkeys

trdone:
	VZEROUPPER
	RET

// func transposeF16TileAVX2(kt *float32, k *uint16, ksBytes, d8, nkeys int)
// kt[t*64+j] = F16ToF32(k[j*ks+t]) for j < nkeys (a multiple of 8) and t < d8 (a
// multiple of 8), rows ksBytes apart: transposeTileAVX2 from rows of float16 (F16C),
// widened as they are loaded.
TEXT ·transposeF16TileAVX2(SB), NOSPLIT, $0-40
	TRH8_BODY(TRH8_F16)

// transposeF16TileAVX2 for bfloat16 rows.
TEXT ·transposeBF16TileAVX2(SB), NOSPLIT, $0-40
	TRH8_BODY(TRH8_BF16)

// func qkRowsAVX2(s *float32, qt *float32, kt *float32, d int, nrows int)
// for r < nrows (at most 16), j < 64:
//     s[r*64+j] = sum over t < d of kt[t*64+j]*qt[t*16+r], one FMA chain in increasing t
// (the scores of qkTileAVX2 with the keys in the lanes). Two rows by 32 keys per pass,
// then a last odd row by all 64 keys.
TEXT ·qkRowsAVX2(SB), NOSPLIT, $0-40
	MOVQ s+0(FP), DI
	MOVQ qt+8(FP), R8
	MOVQ kt+16(FP), R9
	MOVQ d+24(FP), DX
	MOVQ nrows+32(FP), CX

qrpass:
	CMPQ CX, $2
	JLT qrone
	XORQ BX, BX

qrhalf:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	LEAQ (R9)(BX*1), SI
	MOVQ R8, R10
	MOVQ DX, AX
	TESTQ AX, AX
	JLE qrstore

qrt:
	VMOVUPS 0(SI), Y8
	VMOVUPS 32(SI), Y9
	VMOVUPS 64(SI), Y10
	VMOVUPS 96(SI), Y11
	VBROADCASTSS 0(R10), Y12
	VBROADCASTSS 4(R10), Y13
	VFMADD231PS Y8, Y12, Y0
	VFMADD231PS Y9, Y12, Y1
	VFMADD231PS Y10, Y12, Y2
	VFMADD231PS Y11, Y12, Y3
	VFMADD231PS Y8, Y13, Y4
	VFMADD231PS Y9, Y13, Y5
	VFMADD231PS Y10, Y13, Y6
	VFMADD231PS Y11, Y13, Y7
	ADDQ $256, SI
	ADDQ $64, R10
	DECQ AX
	JNZ qrt

qrstore:
	LEAQ (DI)(BX*1), SI
	VMOVUPS Y0, 0(SI)
	VMOVUPS Y1, 32(SI)
	VMOVUPS Y2, 64(SI)
	VMOVUPS Y3, 96(SI)
	VMOVUPS Y4, 256(SI)
	VMOVUPS Y5, 288(SI)
	VMOVUPS Y6, 320(SI)
	VMOVUPS Y7, 352(SI)
	ADDQ $128, BX
	CMPQ BX, $256
	JLT qrhalf
	ADDQ $512, DI
	ADDQ $8, R8
	SUBQ $2, CX
	JMP qrpass

qrone:
	TESTQ CX, CX
	JLE qrdone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ R9, SI
	MOVQ R8, R10
	MOVQ DX, AX
	TESTQ AX, AX
	JLE qronestore

qronet:
	VBROADCASTSS 0(R10), Y8
	VFMADD231PS 0(SI), Y8, Y0
	VFMADD231PS 32(SI), Y8, Y1
	VFMADD231PS 64(SI), Y8, Y2
	VFMADD231PS 96(SI), Y8, Y3
	VFMADD231PS 128(SI), Y8, Y4
	VFMADD231PS 160(SI), Y8, Y5
	VFMADD231PS 192(SI), Y8, Y6
	VFMADD231PS 224(SI), Y8, Y7
	ADDQ $256, SI
	ADDQ $64, R10
	DECQ AX
	JNZ qronet

qronestore:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)

qrdone:
	VZEROUPPER
	RET

// func softmaxRowAVX2(s *float32, m, l, alpha *float32)
// softmaxTileAVX2 for one row whose 64 scores s[j] are contiguous: the same maximum,
// exponentials and factors, and the same sum tree: with keys 8k..8k+7 in y_k,
// u_lo = (y0 + y2) + (y4 + y6) and u_hi = (y1 + y3) + (y5 + y7) are u[i] and u[i+8] of
// the tile's tree, w = u_lo + u_hi, then halving (lanes l and l+4, l+2, l+1).
TEXT ·softmaxRowAVX2(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ m+8(FP), R8
	MOVQ l+16(FP), R9
	MOVQ alpha+24(FP), R10
	VMOVUPS K(EXPLO), Y14
	VMOVUPS K(EXPHI), Y15
	VMOVUPS K(NEGINF), Y6
	VMAXPS (DI), Y6, Y0
	VMAXPS 32(DI), Y6, Y1
	VMAXPS 64(DI), Y0, Y0
	VMAXPS 96(DI), Y1, Y1
	VMAXPS 128(DI), Y0, Y0
	VMAXPS 160(DI), Y1, Y1
	VMAXPS 192(DI), Y0, Y0
	VMAXPS 224(DI), Y1, Y1
	VMAXPS Y1, Y0, Y0

	// The largest lane of Y0, into every lane.
	VPERM2F128 $0x01, Y0, Y0, Y1
	VMAXPS Y1, Y0, Y0
	VSHUFPS $0x4E, Y0, Y0, Y1
	VMAXPS Y1, Y0, Y0
	VSHUFPS $0xB1, Y0, Y0, Y1
	VMAXPS Y1, Y0, Y0
	VBROADCASTSS (R8), Y4
	VMAXPS Y0, Y4, Y5
	VMOVSS X5, (R8)
	VCMPPS $0, Y6, Y5, Y6
	VANDNPS Y5, Y6, Y13
	VSUBPS Y13, Y4, Y4
	EXP(Y4, Y8, Y9, Y10)
	VMOVSS X4, (R10)

	PROB(0(DI), Y0)
	PROB(32(DI), Y1)
	PROB(64(DI), Y2)
	PROB(96(DI), Y3)
	PROB(128(DI), Y4)
	PROB(160(DI), Y5)
	PROB(192(DI), Y6)
	PROB(224(DI), Y7)
	VADDPS Y2, Y0, Y0
	VADDPS Y6, Y4, Y4
	VADDPS Y4, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y7, Y5, Y5
	VADDPS Y5, Y1, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0

	VMOVSS (R10), X4
	VMULSS (R9), X4, X4
	VADDSS X0, X4, X4
	VMOVSS X4, (R9)
	VMOVSS (R8), X5
	VCMPSS $3, X4, X4, X6
	VBLENDVPS X6, X4, X5, X5
	VMOVSS X5, (R8)
	VZEROUPPER
	RET

// func scaleDivAVX2(o []float32, scale, l float32)
// for d := range o { o[d] = (o[d] * scale) / l }, each operation rounded (finish's
// normalization of an output row).
TEXT ·scaleDivAVX2(SB), NOSPLIT, $0-32
	MOVQ         o_base+0(FP), DI
	MOVQ         o_len+8(FP), CX
	VBROADCASTSS scale+24(FP), Y1
	VBROADCASTSS l+28(FP), Y2

sd2loop:
	CMPQ    CX, $8
	JLT     sd2tail
	VMULPS  (DI), Y1, Y0
	VDIVPS  Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     sd2loop

sd2tail:
	TESTQ  CX, CX
	JLE    sd2done
	VMOVSS (DI), X0
	VMULSS X1, X0, X0
	VDIVSS X2, X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	DECQ   CX
	JMP    sd2tail

sd2done:
	VZEROUPPER
	RET

// func mergeLanesAVX2(dst, src *float32, lanes, dv int, a, c *[16]float32, merged, taken uint16)
// mergeLanesAVX512 on two 8-lane halves; the row masks become lane masks for VBLENDVPS
// (bit l of merged or taken shifted into the sign bit of lane l).
TEXT ·mergeLanesAVX2(SB), NOSPLIT, $0-52
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    lanes+16(FP), R8
	SHLQ    $2, R8
	MOVQ    dv+24(FP), CX
	MOVQ    a+32(FP), AX
	VMOVUPS (AX), Y10
	VMOVUPS 32(AX), Y11
	MOVQ    c+40(FP), AX
	VMOVUPS (AX), Y12
	VMOVUPS 32(AX), Y13
	// Lane masks: broadcast the 16-bit mask, shift bit l to bit 31 of lane l.
	LEAQ    mlshift<>(SB), AX
	MOVWLZX merged+48(FP), BX
	VMOVD   BX, X6
	VPBROADCASTD X6, Y6
	VPSLLVD (AX), Y6, Y14
	VPSLLVD 32(AX), Y6, Y15
	MOVWLZX taken+50(FP), BX
	VMOVD   BX, X6
	VPBROADCASTD X6, Y6
	VPSLLVD (AX), Y6, Y8
	VPSLLVD 32(AX), Y6, Y9
	TESTQ   CX, CX
	JLE     ml2done

ml2col:
	VMOVUPS   (DI), Y0
	VMOVUPS   (SI), Y1
	VMULPS    Y10, Y0, Y2
	VMULPS    Y12, Y1, Y3
	VADDPS    Y3, Y2, Y2
	VBLENDVPS Y14, Y2, Y0, Y0
	VBLENDVPS Y8, Y1, Y0, Y0
	VMOVUPS   Y0, (DI)
	VMOVUPS   32(DI), Y0
	VMOVUPS   32(SI), Y1
	VMULPS    Y11, Y0, Y2
	VMULPS    Y13, Y1, Y3
	VADDPS    Y3, Y2, Y2
	VBLENDVPS Y15, Y2, Y0, Y0
	VBLENDVPS Y9, Y1, Y0, Y0
	VMOVUPS   Y0, 32(DI)
	ADDQ      R8, DI
	ADDQ      R8, SI
	DECQ      CX
	JNZ       ml2col

ml2done:
	VZEROUPPER
	RET

// mlshift: lane l shifts left by 31-l, putting row mask bit l in its sign bit.
DATA mlshift<>+0(SB)/4, $31
DATA mlshift<>+4(SB)/4, $30
DATA mlshift<>+8(SB)/4, $29
DATA mlshift<>+12(SB)/4, $28
DATA mlshift<>+16(SB)/4, $27
DATA mlshift<>+20(SB)/4, $26
DATA mlshift<>+24(SB)/4, $25
DATA mlshift<>+28(SB)/4, $24
DATA mlshift<>+32(SB)/4, $23
DATA mlshift<>+36(SB)/4, $22
DATA mlshift<>+40(SB)/4, $21
DATA mlshift<>+44(SB)/4, $20
DATA mlshift<>+48(SB)/4, $19
DATA mlshift<>+52(SB)/4, $18
DATA mlshift<>+56(SB)/4, $17
DATA mlshift<>+60(SB)/4, $16
GLOBL mlshift<>(SB), RODATA|NOPTR, $64

// func scoresHeadsAVX2(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)
// scoresHeadsAVX512 with groups of 8 rows: lane l of a group holds row l and gets
// chain_l = sum over t < d of qh[t*8+l] * row element t (qkRowsAVX2's bits), stored at
// out[idx[l]] (l < 8).
TEXT ·scoresHeadsAVX2(SB), NOSPLIT, $0-80
	SB2_BODY(SB2_F32, 16, 32, SB2_PF32, 256)

// func scoresHeadsF16AVX2(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)
// scoresHeadsAVX2 for rows of float16 keys (F16C), widened as they are loaded.
TEXT ·scoresHeadsF16AVX2(SB), NOSPLIT, $0-80
	SB2_BODY(SB2_F16, 8, 16, SB2_PF16, 128)

// func scoresHeadsBF16AVX2(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)
// scoresHeadsAVX2 for rows of bfloat16 keys, widened as they are loaded.
TEXT ·scoresHeadsBF16AVX2(SB), NOSPLIT, $0-80
	SB2_BODY(SB2_BF16, 8, 16, SB2_PF16, 128)

// func accumGroupsAVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)
// accumGroupsAVX512 on AVX2: dv a multiple of 16, each output with accumAVX2's bits.
TEXT ·accumGroupsAVX2(SB), NOSPLIT, $48-72
	AG_BODY(2, A4_F32, 64, 16, AG2_PF32, SUMS4Y_PROB, SUMS4Y_LOAD, SUMS4Y_FMA, SUMS4Y_STORE)

// func accumGroupsF16AVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)
// accumGroupsAVX2 for float16 values (F16C), each widened as it is loaded.
TEXT ·accumGroupsF16AVX2(SB), NOSPLIT, $48-72
	AG_BODY(1, A4_F16, 32, 16, AG2_PF16, SUMS4Y_PROB, SUMS4Y_LOAD, SUMS4Y_FMA, SUMS4Y_STORE)

// func accumGroupsBF16AVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)
// accumGroupsAVX2 for bfloat16 values.
TEXT ·accumGroupsBF16AVX2(SB), NOSPLIT, $48-72
	AG_BODY(1, A4_BF16, 32, 16, AG2_PF16, SUMS4Y_PROB, SUMS4Y_LOAD, SUMS4Y_FMA, SUMS4Y_STORE)

// func scoresGroupsAVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)
// scoresGroupsAVX512 on AVX2: blocks of two heads (quads counts them), lane l = 4k+a of
// pass i of block b for row 4i+a of head 2b+k, qg[((b*rq+i)*d+t)*8+l], outputs at
// out[idx[l] + b*qs + i*qrs + p].
TEXT ·scoresGroupsAVX2(SB), NOSPLIT, $24-104
	SG2_BODY(SB2_F32, 16, SG2_PF32)

// func scoresGroupsF16AVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)
// scoresGroupsAVX2 for float16 keys (F16C), widened as they are loaded.
TEXT ·scoresGroupsF16AVX2(SB), NOSPLIT, $24-104
	SG2_BODY(SB2_F16, 8, SG2_PF16)

// func scoresGroupsBF16AVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)
// scoresGroupsAVX2 for bfloat16 keys.
TEXT ·scoresGroupsBF16AVX2(SB), NOSPLIT, $24-104
	SG2_BODY(SB2_BF16, 8, SG2_PF16)

// func scoresPairsAVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)
// scoresPairsAVX512 on AVX2: blocks of four heads, steps of four positions, lane l =
// 2m+a of block b for row a of head 4b+m, qg[(b*d+t)*8+l], outputs at
// out[idx[l] + b*qs + p].
TEXT ·scoresPairsAVX2(SB), NOSPLIT, $16-88
	SP2_BODY(SP2_F32, 8, SP2_PF32)

// func scoresPairsF16AVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)
// scoresPairsAVX2 for float16 keys (F16C), widened as they are loaded.
TEXT ·scoresPairsF16AVX2(SB), NOSPLIT, $16-88
	SP2_BODY(SP2_F16, 4, SP2_PF16)

// func scoresPairsBF16AVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)
// scoresPairsAVX2 for bfloat16 keys.
TEXT ·scoresPairsBF16AVX2(SB), NOSPLIT, $16-88
	SP2_BODY(SP2_BF16, 4, SP2_PF16)
