// Argument loads shared by rowops_avx2_amd64.s and rowops_avx512_amd64.s. They are
// included before the first routine, where go vet's frame check does not take them for
// part of one.

// SOFTMAX_ROWS_ARGS loads the arguments of softmaxRowsAVX2 and softmaxRowsAVX512: dst R10,
// x R8, rows R11, n R14, and the row steps in bytes, ldd R12 and ldx R13.
#define SOFTMAX_ROWS_ARGS \
	MOVQ dst+0(FP), R10; \
	MOVQ x+8(FP), R8; \
	MOVQ rows+16(FP), R11; \
	MOVQ n+24(FP), R14; \
	MOVQ ldd+32(FP), R12; \
	SHLQ $2, R12; \
	MOVQ ldx+40(FP), R13; \
	SHLQ $2, R13
