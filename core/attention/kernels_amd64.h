// Argument loads shared by kernels_avx2_amd64.s and kernels_avx512_amd64.s. They are
// included before the first routine, where go vet's frame check does not take them for
// part of one.

// ACCUM4_ARGS loads the arguments of accum4AVX2 and accum4AVX512, as byte offsets: DI
// the first output row and R14 the distance between rows (BX the fourth row), DX dv,
// SI, R8, R10, AX the four probability rows, CX n, R13 the values and R9 their stride.
#define ACCUM4_ARGS \
	MOVQ o_base+0(FP), DI; \
	MOVQ ldo+24(FP), R14; \
	SHLQ $2, R14; \
	MOVQ dv+32(FP), DX; \
	SHLQ $2, DX; \
	MOVQ p_base+40(FP), SI; \
	MOVQ n+72(FP), CX; \
	MOVQ ldp+64(FP), R8; \
	SHLQ $2, R8; \
	LEAQ (SI)(R8*2), R10; \
	LEAQ (R10)(R8*1), AX; \
	ADDQ SI, R8; \
	MOVQ v_base+80(FP), R13; \
	MOVQ vs+104(FP), R9; \
	SHLQ $2, R9; \
	LEAQ (DI)(R14*2), BX; \
	ADDQ R14, BX

// PROB4(A, B, C, D) broadcasts probability j (R12) of the four rows of ACCUM4_ARGS
// (SI, R8, R10, AX) into A, B, C and D: the step that opens each j of the accum4 loops.
#define PROB4(A, B, C, D) \
	VBROADCASTSS (SI)(R12*4), A; \
	VBROADCASTSS (R8)(R12*4), B; \
	VBROADCASTSS (R10)(R12*4), C; \
	VBROADCASTSS (AX)(R12*4), D

// HACCUM_ARGS loads the arguments of accumF16AVX512, accumBF16AVX512 and their AVX2 forms: o DI, len(o)
// DX, p SI, len(p) CX, v BX, vsBytes R9. It is included before the first routine, where go vet's frame check
// does not take it for part of one.
#define HACCUM_ARGS \
	MOVQ o_base+0(FP), DI; \
	MOVQ o_len+8(FP), DX; \
	MOVQ p_base+24(FP), SI; \
	MOVQ p_len+32(FP), CX; \
	MOVQ v+48(FP), BX; \
	MOVQ vsBytes+56(FP), R9

// SH_ARGS loads the arguments the scoresHeads routines of both paths share: out DI, k SI,
// rs R9 (and 3*rs in BX), groups CX, and jumps to sbdone when there are none.
#define SH_ARGS \
	MOVQ  out+0(FP), DI; \
	MOVQ  k+24(FP), SI; \
	MOVQ  rs+32(FP), R9; \
	LEAQ  (R9)(R9*2), BX; \
	MOVQ  groups+48(FP), CX; \
	TESTQ CX, CX; \
	JLE   sbdone

// SH_START sets up the group of a scoresHeads routine at SI: the query lanes R8, the
// lines ahead R13, the pointers to rows 0 and 4 (R10, R12), and the columns left DX.
#define SH_START \
	MOVQ qh+16(FP), R8; \
	MOVQ ahead+72(FP), R13; \
	ADDQ SI, R13; \
	MOVQ SI, R10; \
	LEAQ (SI)(R9*4), R12; \
	MOVQ d+40(FP), DX

// AG_BODY(SHIFT, LOAD, STEP, COLS, PF, PROBS, SLOAD, SFMA, SSTORE) is the body of the
// accumGroups routines of both paths: SHIFT turns element counts of values into bytes,
// LOAD loads a block of COLS values at R11 (STEP bytes of a row) into registers, PF asks
// for the lines ahead at R13, PROBS broadcasts the four probabilities of a position, and
// SLOAD, SFMA and SSTORE load, update and store the four output rows' sums of the block.
// Positions go in steps of up to 8 (AG_STEP); within a step, for each head (a headRow,
// four output rows ldo apart and four probability rows ldp apart) and each block of
// COLS columns, the sums stay in registers over the step's positions, as in accum4,
// whose bits every output gets. Locals: the positions left, the step's first value, the
// step's offset into the probability rows, the head, the step's length and the end of
// the heads.
#define AG_BODY(SHIFT, LOAD, STEP, COLS, PF, PROBS, SLOAD, SFMA, SSTORE) \
	MOVQ  n+32(FP), AX; \
	TESTQ AX, AX; \
	JLE   agdone; \
	MOVQ  nrows+8(FP), CX; \
	TESTQ CX, CX; \
	JLE   agdone; \
	MOVQ  AX, left-8(SP); \
	LEAQ  (CX)(CX*2), CX; \
	MOVQ  rows+0(FP), AX; \
	LEAQ  (AX)(CX*8), CX; \
	MOVQ  CX, hend-48(SP); \
	MOVQ  v+16(FP), AX; \
	MOVQ  AX, vstep-16(SP); \
	MOVQ  ahead+56(FP), R13; \
	ADDQ  AX, R13; \
	MOVQ  $0, poff-24(SP); \
	MOVQ  vs+24(FP), R9; \
	SHLQ  $SHIFT, R9; \
	MOVQ  ldo+48(FP), R14; \
	SHLQ  $2, R14; \
agstep: \
	MOVQ  left-8(SP), AX; \
	CMPQ  AX, $AG_STEP; \
	JLE   aglen; \
	MOVQ  $AG_STEP, AX; \
aglen: \
	MOVQ  AX, slen-40(SP); \
	MOVQ  rows+0(FP), AX; \
	MOVQ  AX, hrow-32(SP); \
aghead: \
	MOVQ  hrow-32(SP), AX; \
	MOVQ  0(AX), DI; \
	MOVQ  8(AX), SI; \
	MOVQ  16(AX), CX; \
	SHLQ  $SHIFT, CX; \
	ADDQ  vstep-16(SP), CX; \
	ADDQ  poff-24(SP), SI; \
	MOVQ  ldp+64(FP), AX; \
	SHLQ  $2, AX; \
	LEAQ  (SI)(AX*1), R8; \
	LEAQ  (SI)(AX*2), R10; \
	LEAQ  (R10)(AX*1), AX; \
	MOVQ  dv+40(FP), DX; \
agblock: \
	LEAQ  (DI)(R14*2), BX; \
	ADDQ  R14, BX; \
	SLOAD; \
	MOVQ  CX, R11; \
	XORQ  R12, R12; \
agj: \
	PF; \
	PROBS; \
	LOAD; \
	SFMA; \
	ADDQ  R9, R11; \
	INCQ  R12; \
	CMPQ  R12, slen-40(SP); \
	JLT   agj; \
	SSTORE; \
	ADDQ  $(4*COLS), DI; \
	ADDQ  $STEP, CX; \
	SUBQ  $COLS, DX; \
	JG    agblock; \
	MOVQ  hrow-32(SP), AX; \
	ADDQ  $24, AX; \
	MOVQ  AX, hrow-32(SP); \
	CMPQ  AX, hend-48(SP); \
	JLT   aghead; \
	MOVQ  slen-40(SP), AX; \
	SUBQ  AX, left-8(SP); \
	MOVQ  AX, CX; \
	SHLQ  $2, CX; \
	ADDQ  CX, poff-24(SP); \
	IMULQ R9, AX; \
	ADDQ  AX, vstep-16(SP); \
	CMPQ  left-8(SP), $0; \
	JG    agstep; \
agdone: \
	VZEROUPPER; \
	RET

// AG_STEP is the most positions of a step of the accumGroups routines.
#define AG_STEP 8

// The grouped key streams' shared steps (SG_BODY, SP_BODY and their AVX2 forms).
// STREAM_ARGS(DONE) loads out DI, k SI, rs R9 (3*rs in BX), ps R11, the lines ahead R13
// and the steps into the local left, jumping to DONE when there are none.
#define STREAM_ARGS(DONE) \
	MOVQ  out+0(FP), DI; \
	MOVQ  k+24(FP), SI; \
	MOVQ  rs+32(FP), R9; \
	LEAQ  (R9)(R9*2), BX; \
	MOVQ  ps+40(FP), R11; \
	MOVQ  ahead+80(FP), R13; \
	ADDQ  SI, R13; \
	MOVQ  steps+56(FP), CX; \
	TESTQ CX, CX; \
	JLE   DONE; \
	MOVQ  CX, left-8(SP)

// POS4_BASES points R14, AX and R12 at positions 1, 2 and 3 of a step from R10 (position
// 0), R11 bytes apart; POS4_NEXT(W) moves the four pointers on by W bytes.
#define POS4_BASES LEAQ (R10)(R11*1), R14; LEAQ (R10)(R11*2), AX; LEAQ (R14)(R11*2), R12
#define POS4_NEXT(W) ADDQ $W, R10; ADDQ $W, R14; ADDQ $W, AX; ADDQ $W, R12
