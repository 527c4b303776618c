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
