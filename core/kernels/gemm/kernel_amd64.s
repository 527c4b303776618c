//go:build !purego

#include "textflag.h"
#include "dpbf16_amd64.h"

// Micro-kernels. Each computes one MR x NR tile of C as described on microKernel in
// kernel.go: the accumulators start at zero (or at the tile's current values when
// flags&1), every step k does acc[i][j] = fma(a[i][k], b[k][j], acc[i][j]) in k order,
// then flags&2 scales by alpha and the tile is stored. Rows of A are read in place at
// a + i*lda; B is a packed panel.

// Rows 0..11 of A are addressed from four bases, three rows each: base, base+lda,
// base+2*lda, with lda in R8 and the bases in SI, R11, R12, R13.

// ---- AVX-512 float32, 12 x 32 -------------------------------------------------------
// acc row i lives in Z(2i), Z(2i+1); B in Z24, Z25; broadcasts in Z26..Z31.

#define ROW512(addr, t, c0, c1) \
	VBROADCASTSS addr, t; \
	VFMADD231PS  Z24, t, c0; \
	VFMADD231PS  Z25, t, c1

// STEP512 does one k step; off is the byte offset of k in the A rows, boff in B.
#define STEP512(off, boff) \
	VMOVUPS boff(DX), Z24; \
	VMOVUPS boff+64(DX), Z25; \
	ROW512(off(SI), Z26, Z0, Z1); \
	ROW512(off(SI)(R8*1), Z27, Z2, Z3); \
	ROW512(off(SI)(R8*2), Z28, Z4, Z5); \
	ROW512(off(R11), Z29, Z6, Z7); \
	ROW512(off(R11)(R8*1), Z30, Z8, Z9); \
	ROW512(off(R11)(R8*2), Z31, Z10, Z11); \
	ROW512(off(R12), Z26, Z12, Z13); \
	ROW512(off(R12)(R8*1), Z27, Z14, Z15); \
	ROW512(off(R12)(R8*2), Z28, Z16, Z17); \
	ROW512(off(R13), Z29, Z18, Z19); \
	ROW512(off(R13)(R8*1), Z30, Z20, Z21); \
	ROW512(off(R13)(R8*2), Z31, Z22, Z23)

#define LOADROW512(c0, c1) \
	VMOVUPS (DI), c0; \
	VMOVUPS 64(DI), c1; \
	ADDQ    R9, DI

#define STOREROW512(c0, c1) \
	VMOVUPS c0, (DI); \
	VMOVUPS c1, 64(DI); \
	ADDQ    R9, DI

#define SCALE512(c0, c1) \
	VMULPS Z24, c0, c0; \
	VMULPS Z24, c1, c1

// ALLROWS512 applies a two-register row macro to the 12 accumulator rows.
#define ALLROWS512(op) \
	op(Z0, Z1); op(Z2, Z3); op(Z4, Z5); op(Z6, Z7); op(Z8, Z9); op(Z10, Z11); \
	op(Z12, Z13); op(Z14, Z15); op(Z16, Z17); op(Z18, Z19); op(Z20, Z21); op(Z22, Z23)

#define ZERO2(c0, c1) \
	VPXORD c0, c0, c0; \
	VPXORD c1, c1, c1

// The 12-row kernels ask for the C tile right of this one (the next B panel's, which the
// driver runs next on the same rows) while this one is computed: C rows are a whole
// leading dimension apart and are read back once per K block, so without it each call
// would start by waiting for 24 lines from L3 or memory. BX holds this tile's C.
// CNEXT_START(SPREAD) points R14 at the next tile's first row and the local cend at its
// last. With 48 k steps or more it leaves the rows to CNEXT_STEP(STAY), which each step
// of four asks for one row (two lines) and moves on until the last: 24 requests at once
// are more than the core keeps in flight from memory, and the ones past that measured as
// lost when other cores load the memory (one thread at 2048³: +2% on a quiet host, +4-6%
// with another core streaming reads). With fewer k steps it asks for them all at once
// (PREFETCHNEXT512, which leaves R14 at the last row).
#define CNEXT_START(SPREAD) \
	LEAQ  128(BX), R14; \
	MOVQ  R9, AX; \
	IMULQ $11, AX; \
	ADDQ  R14, AX; \
	MOVQ  AX, cend-8(SP); \
	CMPQ  CX, $48; \
	JAE   SPREAD; \
	PREFETCHNEXT512; \
SPREAD:

#define CNEXT_STEP(STAY) \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	CMPQ       R14, cend-8(SP); \
	JAE        STAY; \
	ADDQ       R9, R14; \
STAY:

#define PREFETCHNEXT512 \
	LEAQ 128(BX), R14; \
	CROW(64); CROW(64); CROW(64); CROW(64); CROW(64); CROW(64); \
	CROW(64); CROW(64); CROW(64); CROW(64); CROW(64); \
	PREFETCHT0 (R14); PREFETCHT0 64(R14)

// CROW(LAST) asks for one row of the next C tile at R14, its first byte and the byte
// LAST after it (the row's other line), and moves R14 to the next row. The last row is
// asked for without the move, so that R14 stays on it.
#define CROW(LAST) PREFETCHT0 (R14); PREFETCHT0 LAST(R14); ADDQ R9, R14

// Common prologue: CX = kc, SI/R11/R12/R13 = A row bases, R8 = lda, DX = b,
// DI = c, R9 = ldc, R10 = flags.
#define PROLOGUE \
	MOVQ kc+0(FP), CX; \
	MOVQ a+8(FP), SI; \
	MOVQ lda+16(FP), R8; \
	MOVQ b+24(FP), DX; \
	MOVQ c+32(FP), DI; \
	MOVQ ldc+40(FP), R9; \
	MOVQ flags+48(FP), R10; \
	LEAQ (R8)(R8*2), AX; \
	LEAQ (SI)(AX*1), R11; \
	LEAQ (R11)(AX*1), R12; \
	LEAQ (R12)(AX*1), R13

// func sgemm512(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)
// b is packed as kc rows of 32 float32. In Go:
//
//	for k := 0; k < kc; k++ {
//		for i := 0; i < 12; i++ {
//			for j := 0; j < 32; j++ {
//				acc[i][j] = fma(a[i*lda+k], b[k*32+j], acc[i][j])
//			}
//		}
//	}
TEXT ·sgemm512(SB), NOSPLIT, $8-60
	PROLOGUE
	MOVQ DI, BX
	TESTQ $1, R10
	JZ   zero
	ALLROWS512(LOADROW512)
	JMP  loop
zero:
	ALLROWS512(ZERO2)
loop:
	CNEXT_START(spread)
	MOVQ BX, DI
	MOVQ CX, AX
	SHRQ $2, AX
	JZ   tail
loop4:
	CNEXT_STEP(stay)
	PREFETCHT0 1024(DX)
	PREFETCHT0 1088(DX)
	STEP512(0, 0)
	PREFETCHT0 1152(DX)
	PREFETCHT0 1216(DX)
	STEP512(4, 128)
	PREFETCHT0 1280(DX)
	PREFETCHT0 1344(DX)
	STEP512(8, 256)
	PREFETCHT0 1408(DX)
	PREFETCHT0 1472(DX)
	STEP512(12, 384)
	ADDQ $16, SI
	ADDQ $16, R11
	ADDQ $16, R12
	ADDQ $16, R13
	ADDQ $512, DX
	DECQ AX
	JNZ  loop4
tail:
	ANDQ $3, CX
	JZ   store
loop1:
	STEP512(0, 0)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $128, DX
	DECQ CX
	JNZ  loop1
store:
	TESTQ $2, R10
	JZ   write
	VBROADCASTSS alpha+56(FP), Z24
	ALLROWS512(SCALE512)
write:
	ALLROWS512(STOREROW512)
	VZEROUPPER
	RET

// ---- AVX-512 BF16, 12 x 32, using VDPBF16PS ----------------------------------------
// ROWBF broadcasts the (k, k+1) bfloat16 pair of one A row into Z<tn> and accumulates
// it against the two B vectors Z24, Z25 into Z<c0>, Z<c1>.
#define ROWBF(addr, t, tn, c0, c1) \
	VPBROADCASTD addr, t; \
	DPBF16(24, tn, c0); \
	DPBF16(25, tn, c1)

// STEPBF does one k pair; off is the byte offset of the pair in the A rows, boff in B.
#define STEPBF(off, boff) \
	VMOVUPS boff(DX), Z24; \
	VMOVUPS boff+64(DX), Z25; \
	ROWBF(off(SI), Z26, 26, 0, 1); \
	ROWBF(off(SI)(R8*1), Z27, 27, 2, 3); \
	ROWBF(off(SI)(R8*2), Z28, 28, 4, 5); \
	ROWBF(off(R11), Z29, 29, 6, 7); \
	ROWBF(off(R11)(R8*1), Z30, 30, 8, 9); \
	ROWBF(off(R11)(R8*2), Z31, 31, 10, 11); \
	ROWBF(off(R12), Z26, 26, 12, 13); \
	ROWBF(off(R12)(R8*1), Z27, 27, 14, 15); \
	ROWBF(off(R12)(R8*2), Z28, 28, 16, 17); \
	ROWBF(off(R13), Z29, 29, 18, 19); \
	ROWBF(off(R13)(R8*1), Z30, 30, 20, 21); \
	ROWBF(off(R13)(R8*2), Z31, 31, 22, 23)

// func bgemm512(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)
// kc counts k pairs. A rows hold bfloat16 values; b is packed as kc groups of 32
// columns x 2 bfloat16 (k even, k odd). In Go (the hardware fixes the order within a pair):
//
//	for p := 0; p < kc; p++ {
//		for i := 0; i < 12; i++ {
//			for j := 0; j < 32; j++ {
//				acc[i][j] = dotpair(a[i*lda+2p:], b[(p*32+j)*2:], acc[i][j])
//			}
//		}
//	}
TEXT ·bgemm512(SB), NOSPLIT, $8-60
	PROLOGUE
	MOVQ DI, BX
	TESTQ $1, R10
	JZ   zero
	ALLROWS512(LOADROW512)
	JMP  loop
zero:
	ALLROWS512(ZERO2)
loop:
	CNEXT_START(spread)
	MOVQ BX, DI
	MOVQ CX, AX
	SHRQ $2, AX
	JZ   tail
loop4:
	CNEXT_STEP(stay)
	STEPBF(0, 0)
	STEPBF(4, 128)
	STEPBF(8, 256)
	STEPBF(12, 384)
	ADDQ $16, SI
	ADDQ $16, R11
	ADDQ $16, R12
	ADDQ $16, R13
	ADDQ $512, DX
	DECQ AX
	JNZ  loop4
tail:
	ANDQ $3, CX
	JZ   store
loop1:
	STEPBF(0, 0)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $128, DX
	DECQ CX
	JNZ  loop1
store:
	TESTQ $2, R10
	JZ   write
	VBROADCASTSS alpha+56(FP), Z24
	ALLROWS512(SCALE512)
write:
	ALLROWS512(STOREROW512)
	VZEROUPPER
	RET

// ---- AVX2 + FMA float32, 6 x 16 ----------------------------------------------------
// acc row i lives in Y(2i), Y(2i+1); B in Y12, Y13; broadcasts in Y14, Y15.

#define ROW256(addr, t, c0, c1) \
	VBROADCASTSS addr, t; \
	VFMADD231PS  Y12, t, c0; \
	VFMADD231PS  Y13, t, c1

#define STEP256(off, boff) \
	VMOVUPS boff(DX), Y12; \
	VMOVUPS boff+32(DX), Y13; \
	ROW256(off(SI), Y14, Y0, Y1); \
	ROW256(off(SI)(R8*1), Y15, Y2, Y3); \
	ROW256(off(SI)(R8*2), Y14, Y4, Y5); \
	ROW256(off(R11), Y15, Y6, Y7); \
	ROW256(off(R11)(R8*1), Y14, Y8, Y9); \
	ROW256(off(R11)(R8*2), Y15, Y10, Y11)

#define LOADROW256(c0, c1) \
	VMOVUPS (DI), c0; \
	VMOVUPS 32(DI), c1; \
	ADDQ    R9, DI

#define STOREROW256(c0, c1) \
	VMOVUPS c0, (DI); \
	VMOVUPS c1, 32(DI); \
	ADDQ    R9, DI

#define SCALE256(c0, c1) \
	VMULPS Y12, c0, c0; \
	VMULPS Y12, c1, c1

#define ZERO256(c0, c1) \
	VXORPS c0, c0, c0; \
	VXORPS c1, c1, c1

// PREFETCHNEXT256 asks for the C tile right of this one, as the 12-row kernels do: six
// rows of 64 bytes, each in one line or across two, few enough to ask for at once. One
// thread at 2048³ (MLXP_ISA=avx2): +2.6%, and +1.8% with the other core streaming reads.
#define PREFETCHNEXT256 \
	LEAQ 64(BX), R14; \
	CROW(60); CROW(60); CROW(60); CROW(60); CROW(60); \
	PREFETCHT0 (R14); PREFETCHT0 60(R14)

#define ALLROWS256(op) \
	op(Y0, Y1); op(Y2, Y3); op(Y4, Y5); op(Y6, Y7); op(Y8, Y9); op(Y10, Y11)

// func sgemm256(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)
// b is packed as kc rows of 16 float32. In Go:
//
//	for k := 0; k < kc; k++ {
//		for i := 0; i < 6; i++ {
//			for j := 0; j < 16; j++ {
//				acc[i][j] = fma(a[i*lda+k], b[k*16+j], acc[i][j])
//			}
//		}
//	}
TEXT ·sgemm256(SB), NOSPLIT, $0-60
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ b+24(FP), DX
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), R9
	MOVQ flags+48(FP), R10
	LEAQ (R8)(R8*2), AX
	LEAQ (SI)(AX*1), R11
	MOVQ DI, BX
	TESTQ $1, R10
	JZ   zero
	ALLROWS256(LOADROW256)
	JMP  loop
zero:
	ALLROWS256(ZERO256)
loop:
	PREFETCHNEXT256
	MOVQ BX, DI
	MOVQ CX, AX
	SHRQ $2, AX
	JZ   tail
loop4:
	STEP256(0, 0)
	STEP256(4, 64)
	STEP256(8, 128)
	STEP256(12, 192)
	ADDQ $16, SI
	ADDQ $16, R11
	ADDQ $256, DX
	DECQ AX
	JNZ  loop4
tail:
	ANDQ $3, CX
	JZ   store
loop1:
	STEP256(0, 0)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $64, DX
	DECQ CX
	JNZ  loop1
store:
	TESTQ $2, R10
	JZ   write
	VBROADCASTSS alpha+56(FP), Y12
	ALLROWS256(SCALE256)
write:
	ALLROWS256(STOREROW256)
	VZEROUPPER
	RET

// ---- 4-row variants for short A panels (decode) -------------------------------------
// Same chain per element as the 12-row kernels, so results are bit-identical; they
// only skip the padding rows' work.

#define STEP512x4(off, boff) \
	VMOVUPS boff(DX), Z24; \
	VMOVUPS boff+64(DX), Z25; \
	ROW512(off(SI), Z26, Z0, Z1); \
	ROW512(off(SI)(R8*1), Z27, Z2, Z3); \
	ROW512(off(SI)(R8*2), Z28, Z4, Z5); \
	ROW512(off(R11), Z29, Z6, Z7)

#define STEPBFx4(off, boff) \
	VMOVUPS boff(DX), Z24; \
	VMOVUPS boff+64(DX), Z25; \
	ROWBF(off(SI), Z26, 26, 0, 1); \
	ROWBF(off(SI)(R8*1), Z27, 27, 2, 3); \
	ROWBF(off(SI)(R8*2), Z28, 28, 4, 5); \
	ROWBF(off(R11), Z29, 29, 6, 7)

#define ALLROWS512x4(op) \
	op(Z0, Z1); op(Z2, Z3); op(Z4, Z5); op(Z6, Z7)

// KERNEL4 is the body of a 4 x 32 kernel with step macro STEP (A advances by aStep
// bytes per step).
#define KERNEL4(STEP, aStep) \
	PROLOGUE; \
	MOVQ DI, BX; \
	TESTQ $1, R10; \
	JZ   zero; \
	ALLROWS512x4(LOADROW512); \
	JMP  loop; \
zero: \
	ALLROWS512x4(ZERO2); \
loop: \
	MOVQ BX, DI; \
	MOVQ CX, AX; \
	SHRQ $2, AX; \
	JZ   tail; \
loop4: \
	PREFETCHT0 1024(DX); \
	PREFETCHT0 1088(DX); \
	STEP(0, 0); \
	PREFETCHT0 1152(DX); \
	PREFETCHT0 1216(DX); \
	STEP(aStep, 128); \
	PREFETCHT0 1280(DX); \
	PREFETCHT0 1344(DX); \
	STEP(2*aStep, 256); \
	PREFETCHT0 1408(DX); \
	PREFETCHT0 1472(DX); \
	STEP(3*aStep, 384); \
	ADDQ $(4*aStep), SI; \
	ADDQ $(4*aStep), R11; \
	ADDQ $512, DX; \
	DECQ AX; \
	JNZ  loop4; \
tail: \
	ANDQ $3, CX; \
	JZ   store; \
loop1: \
	STEP(0, 0); \
	ADDQ $aStep, SI; \
	ADDQ $aStep, R11; \
	ADDQ $128, DX; \
	DECQ CX; \
	JNZ  loop1; \
store: \
	TESTQ $2, R10; \
	JZ   write; \
	VBROADCASTSS alpha+56(FP), Z24; \
	ALLROWS512x4(SCALE512); \
write: \
	ALLROWS512x4(STOREROW512); \
	VZEROUPPER; \
	RET

// func sgemm512x4(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)
// sgemm512 for 4 rows of A and C.
TEXT ·sgemm512x4(SB), NOSPLIT, $0-60
	KERNEL4(STEP512x4, 4)

// func bgemm512x4(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)
// bgemm512 for 4 rows of A and C.
TEXT ·bgemm512x4(SB), NOSPLIT, $0-60
	KERNEL4(STEPBFx4, 4)

// ---- AVX-512 float32, 12 x 16, for the transposed schedule with few columns ---------
// acc row i lives in Z(i); B in Z24; broadcasts in Z26..Z31. C tiles of this kernel are
// in the workspace (L2), so it asks for none ahead.

#define ROW512N16(addr, t, c) \
	VBROADCASTSS addr, t; \
	VFMADD231PS  Z24, t, c

#define STEP512N16(off, boff) \
	VMOVUPS boff(DX), Z24; \
	ROW512N16(off(SI), Z26, Z0); \
	ROW512N16(off(SI)(R8*1), Z27, Z1); \
	ROW512N16(off(SI)(R8*2), Z28, Z2); \
	ROW512N16(off(R11), Z29, Z3); \
	ROW512N16(off(R11)(R8*1), Z30, Z4); \
	ROW512N16(off(R11)(R8*2), Z31, Z5); \
	ROW512N16(off(R12), Z26, Z6); \
	ROW512N16(off(R12)(R8*1), Z27, Z7); \
	ROW512N16(off(R12)(R8*2), Z28, Z8); \
	ROW512N16(off(R13), Z29, Z9); \
	ROW512N16(off(R13)(R8*1), Z30, Z10); \
	ROW512N16(off(R13)(R8*2), Z31, Z11)

#define LOADROWN16(c) \
	VMOVUPS (DI), c; \
	ADDQ    R9, DI

#define STOREROWN16(c) \
	VMOVUPS c, (DI); \
	ADDQ    R9, DI

#define SCALEN16(c) VMULPS Z24, c, c

#define ZERON16(c) VPXORD c, c, c

#define ALLROWSN16(op) \
	op(Z0); op(Z1); op(Z2); op(Z3); op(Z4); op(Z5); \
	op(Z6); op(Z7); op(Z8); op(Z9); op(Z10); op(Z11)

// func sgemm512n16(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)
// b is packed as kc rows of 16 float32. In Go:
//
//	for k := 0; k < kc; k++ {
//		for i := 0; i < 12; i++ {
//			for j := 0; j < 16; j++ {
//				acc[i][j] = fma(a[i*lda+k], b[k*16+j], acc[i][j])
//			}
//		}
//	}
TEXT ·sgemm512n16(SB), NOSPLIT, $0-60
	PROLOGUE
	MOVQ DI, BX
	TESTQ $1, R10
	JZ   zero
	ALLROWSN16(LOADROWN16)
	JMP  loop
zero:
	ALLROWSN16(ZERON16)
loop:
	MOVQ BX, DI
	MOVQ CX, AX
	SHRQ $2, AX
	JZ   tail
loop4:
	PREFETCHT0 1024(DX)
	STEP512N16(0, 0)
	PREFETCHT0 1088(DX)
	STEP512N16(4, 64)
	PREFETCHT0 1152(DX)
	STEP512N16(8, 128)
	PREFETCHT0 1216(DX)
	STEP512N16(12, 192)
	ADDQ $16, SI
	ADDQ $16, R11
	ADDQ $16, R12
	ADDQ $16, R13
	ADDQ $256, DX
	DECQ AX
	JNZ  loop4
tail:
	ANDQ $3, CX
	JZ   store
loop1:
	STEP512N16(0, 0)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, R13
	ADDQ $64, DX
	DECQ CX
	JNZ  loop1
store:
	TESTQ $2, R10
	JZ   write
	VBROADCASTSS alpha+56(FP), Z24
	ALLROWSN16(SCALEN16)
write:
	ALLROWSN16(STOREROWN16)
	VZEROUPPER
	RET
