//go:build !purego

#include "textflag.h"

#include "kernels_amd64.h"

// AVX-512 (F, BW, VL, DQ) attention kernels. Each routine computes the generic Go loop
// named in its comment (kernels_generic.go), 16 float32 lanes at a time. Head-dim
// lengths (len(q), len(o)) are multiples of 16.

// TRH_ARGS loads the arguments of transposeF16TileAVX512 and transposeBF16TileAVX512:
// kt R12, k R8, ksBytes R9, d DX, nkeys CX, tail R13. It is defined before the first
// routine, where go vet's frame check does not take it for part of one.
#define TRH_ARGS \
	MOVQ    kt+0(FP), R12; \
	MOVQ    k+8(FP), R8; \
	MOVQ    ksBytes+16(FP), R9; \
	MOVQ    d+24(FP), DX; \
	MOVQ    nkeys+32(FP), CX; \
	MOVWLZX tail+40(FP), R13

// HEADS_BODY(SHIFT, STEP, LOADV) is the body of accumHeadsAVX512 and its half-precision
// forms, for values of 1<<SHIFT bytes, STEP bytes per vector of 16, LOADV(ZR) loading
// and widening the 16 values at SI. It is defined before the first routine, where go
// vet's frame check does not take it for part of one.
#define HEADS_BODY(SHIFT, STEP, LOADV) \
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
	VBROADCASTSS (SI)(R12*4), Z16; \
	MOVQ 16(DX), SI; \
	SHLQ $SHIFT, SI; \
	ADDQ R8, SI; \
	MOVQ dv+40(FP), R10; \
hvec: \
	PREFETCHT0 (SI)(R11*1); \
	LOADV(Z1); \
	VMOVUPS (DI), Z0; \
	VFMADD231PS Z1, Z16, Z0; \
	VMOVUPS Z0, (DI); \
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

#define HS_F32(ZR) VMOVUPS (SI), ZR
#define HS_F16(ZR) VCVTPH2PS (SI), ZR
#define HS_BF16(ZR) VPMOVZXWD (SI), ZR; VPSLLD $16, ZR, ZR


// SB_BODY(PIECE, MASKS, W1, W2, W3, STEP) is the body of scoresHeadsAVX512 and its
// half-precision forms: STEP bytes per 16 key elements (blocks of four W1, W2 and W3
// bytes after the first), PIECE loading four elements of four rows into the four 128-bit
// lanes of a vector, widened (lanes 1 to 3 under the masks K1..K3 that MASKS sets), and
// asking for the next of the lines ahead at R13 (SB_AHEAD). A group is 16
// consecutive key rows (R9 bytes apart), lane l holding row l. Its columns are taken 16
// at a time, in four blocks of four: lane k of register a gets columns 4b..4b+3 of row
// 4k+a through broadcast loads, which need no shuffle across lanes, and a transposition
// of 4x4 within each 128-bit lane gives columns 4b..4b+3 of the 16 rows in lane order.
// Column t of every lane goes into the lane's chain in Z30, one FMA per column in
// increasing t, with the lane's query element from the lanes vectors at R8. Finished
// chains go to the outputs through the index vector Z31. It is defined before the first
// routine, where go vet's frame check does not take it for part of one.
#define SB_BODY(PIECE, MASKS, W1, W2, W3, STEP) \
	MOVQ      idx+8(FP), R11; \
	VMOVDQU32 (R11), Z31; \
	MASKS; \
	SH_ARGS; \
sbgroup: \
	VXORPS    Z30, Z30, Z30; \
	SB_START; \
sbcols: \
	SB_COLS(PIECE, W1, W2, W3); \
	SB_NEXT_COLS(STEP); \
	JG        sbcols; \
	MOVQ      os+64(FP), DX; \
	KXNORW    K4, K4, K4; \
	VSCATTERDPS Z30, K4, (DI)(Z31*4); \
	LEAQ      (DI)(DX*4), DI; \
	ADDQ      gs+56(FP), SI; \
	DECQ      CX; \
	JNZ       sbgroup; \
sbdone: \
	VZEROUPPER; \
	RET

// SB_START is SH_START with the pointers to rows 8 and 12 too (R14, AX).
#define SB_START \
	SH_START; \
	LEAQ      (R12)(R9*4), R14; \
	LEAQ      (R14)(R9*4), AX

// SB_NEXT_COLS(STEP) moves to the next 16 columns and counts them off (flags for JG).
#define SB_NEXT_COLS(STEP) \
	ADDQ      $1024, R8; \
	ADDQ      $STEP, R10; \
	ADDQ      $STEP, R12; \
	ADDQ      $STEP, R14; \
	ADDQ      $STEP, AX; \
	SUBQ      $16, DX

// SB_FMA(OFF, ZK, ZQ, ACC) adds column ZK times the lanes' query elements at OFF(R8)
// (loaded into ZQ) to ACC, the operands in qkRowsAVX512's order.
#define SB_FMA(OFF, ZK, ZQ, ACC) VMOVUPS OFF(R8), ZQ; VFMADD231PS ZK, ZQ, ACC

// SB_BLOCK(PIECE, O, Q0, Q1, Q2, Q3) is one block of four columns, O bytes into the rows
// (SB_BODY): registers Z0..Z3 get rows a, 4+a, 8+a and 12+a (a = 0..3) in their 128-bit
// lanes, the 4x4 transposition within lanes gives the four columns in Z8..Z11, and each
// goes into the chains with its query lanes at Q0..Q3(R8).
#define SB_BLOCK(PIECE, O, Q0, Q1, Q2, Q3) \
	PIECE(O(R10), O(R12), O(R14), O(AX), Y0, Z0); \
	PIECE(O(R10)(R9*1), O(R12)(R9*1), O(R14)(R9*1), O(AX)(R9*1), Y1, Z1); \
	PIECE(O(R10)(R9*2), O(R12)(R9*2), O(R14)(R9*2), O(AX)(R9*2), Y2, Z2); \
	PIECE(O(R10)(BX*1), O(R12)(BX*1), O(R14)(BX*1), O(AX)(BX*1), Y3, Z3); \
	VUNPCKLPS Z1, Z0, Z4; \
	VUNPCKHPS Z1, Z0, Z5; \
	VUNPCKLPS Z3, Z2, Z6; \
	VUNPCKHPS Z3, Z2, Z7; \
	VSHUFPS $0x44, Z6, Z4, Z8; \
	VSHUFPS $0xEE, Z6, Z4, Z9; \
	VSHUFPS $0x44, Z7, Z5, Z10; \
	VSHUFPS $0xEE, Z7, Z5, Z11; \
	SB_FMA(Q0, Z8, Z16, Z30); \
	SB_FMA(Q1, Z9, Z16, Z30); \
	SB_FMA(Q2, Z10, Z16, Z30); \
	SB_FMA(Q3, Z11, Z16, Z30)

// SB_COLS(PIECE, O1, O2, O3) is the four blocks of 16 columns, the blocks O1, O2 and O3
// bytes after the first: 16, 32 and 48 for float32 rows, 8, 16 and 24 for halves.
#define SB_COLS(PIECE, O1, O2, O3) \
	SB_BLOCK(PIECE, 0, 0, 64, 128, 192); \
	SB_BLOCK(PIECE, O1, 256, 320, 384, 448); \
	SB_BLOCK(PIECE, O2, 512, 576, 640, 704); \
	SB_BLOCK(PIECE, O3, 768, 832, 896, 960)

// PIECE routines: register ZR (through YR for halves) gets the four elements at A0, A1,
// A2 and A3 in its 128-bit lanes 0 to 3.
#define SB_F32(A0, A1, A2, A3, YR, ZR) \
	VBROADCASTF32X4 A0, ZR; \
	VBROADCASTF32X4 A1, K1, ZR; \
	VBROADCASTF32X4 A2, K2, ZR; \
	VBROADCASTF32X4 A3, K3, ZR
#define SB_HALVES(A0, A1, A2, A3, YR) \
	VPBROADCASTQ A0, YR; \
	VPBROADCASTQ A1, K1, YR; \
	VPBROADCASTQ A2, K2, YR; \
	VPBROADCASTQ A3, K3, YR
#define SB_F16(A0, A1, A2, A3, YR, ZR) SB_HALVES(A0, A1, A2, A3, YR); VCVTPH2PS YR, ZR
#define SB_BF16(A0, A1, A2, A3, YR, ZR) SB_HALVES(A0, A1, A2, A3, YR); VPMOVZXWD YR, ZR; VPSLLD $16, ZR, ZR

// The lane masks: 128-bit lanes 1, 2 and 3 of 16 floats, and quadwords 1, 2 and 3.
#define SB_MASKS32 MOVL $0x00f0, DX; KMOVW DX, K1; MOVL $0x0f00, DX; KMOVW DX, K2; MOVL $0xf000, DX; KMOVW DX, K3
#define SB_MASKS16 MOVL $2, DX; KMOVW DX, K1; MOVL $4, DX; KMOVW DX, K2; MOVL $8, DX; KMOVW DX, K3

// SB_AHEAD(BYTES) asks for the line at R13 and moves R13 on by BYTES: 16 columns of 16
// rows are 1024 bytes of float32 and 512 of halves, taken in 16 pieces, so each piece
// asks for 64 or 32 bytes ahead, and the rows lie one after another, so the lines ahead
// run in address order. One request per piece rather than 16 together: with the rows
// from memory on one thread (Lk 16384 and 32768, 8 heads of 128), faster in nine of ten
// alternating rounds, mostly by 3-15%; half-precision keys alike.
#define SB_AHEAD(BYTES) PREFETCHT0 (R13); ADDQ $BYTES, R13
#define SB_F32A(A0, A1, A2, A3, YR, ZR) SB_AHEAD(64); SB_F32(A0, A1, A2, A3, YR, ZR)
#define SB_F16A(A0, A1, A2, A3, YR, ZR) SB_AHEAD(32); SB_F16(A0, A1, A2, A3, YR, ZR)
#define SB_BF16A(A0, A1, A2, A3, YR, ZR) SB_AHEAD(32); SB_BF16(A0, A1, A2, A3, YR, ZR)


// The 16 sums of four output rows (DI, DI+R14, DI+2*R14 and BX) by four vectors, in
// Z0-Z15 (Z4r..Z4r+3 for row r): SUMS4_LOAD and SUMS4_STORE move them, SUMS4_FMA adds the
// four probabilities Z16-Z19 times the four vectors of values Z20-Z23 into them, the
// operands in accumAVX512's order.
#define SUMS4_MOVE(OP) \
	OP(0(DI), Z0); OP(64(DI), Z1); OP(128(DI), Z2); OP(192(DI), Z3); \
	OP(0(DI)(R14*1), Z4); OP(64(DI)(R14*1), Z5); OP(128(DI)(R14*1), Z6); OP(192(DI)(R14*1), Z7); \
	OP(0(DI)(R14*2), Z8); OP(64(DI)(R14*2), Z9); OP(128(DI)(R14*2), Z10); OP(192(DI)(R14*2), Z11); \
	OP(0(BX), Z12); OP(64(BX), Z13); OP(128(BX), Z14); OP(192(BX), Z15)
#define SUM_LOAD(A, Z) VMOVUPS A, Z
#define SUM_STORE(A, Z) VMOVUPS Z, A
#define SUMS4_LOAD SUMS4_MOVE(SUM_LOAD)
#define SUMS4_STORE SUMS4_MOVE(SUM_STORE)
#define SUMS4_PROB PROB4(Z16, Z17, Z18, Z19)
#define SUMS4_FMA \
	VFMADD231PS Z20, Z16, Z0; VFMADD231PS Z20, Z17, Z4; VFMADD231PS Z20, Z18, Z8; VFMADD231PS Z20, Z19, Z12; \
	VFMADD231PS Z21, Z16, Z1; VFMADD231PS Z21, Z17, Z5; VFMADD231PS Z21, Z18, Z9; VFMADD231PS Z21, Z19, Z13; \
	VFMADD231PS Z22, Z16, Z2; VFMADD231PS Z22, Z17, Z6; VFMADD231PS Z22, Z18, Z10; VFMADD231PS Z22, Z19, Z14; \
	VFMADD231PS Z23, Z16, Z3; VFMADD231PS Z23, Z17, Z7; VFMADD231PS Z23, Z18, Z11; VFMADD231PS Z23, Z19, Z15

// Lines asked for ahead of R13 per position of a block of 64 columns: 256 bytes of
// float32 values, 128 of halves.
#define AG_PF32 PREFETCHT0 0(R13); PREFETCHT0 64(R13); PREFETCHT0 128(R13); PREFETCHT0 192(R13); ADDQ $256, R13
#define AG_PF16 PREFETCHT0 0(R13); PREFETCHT0 64(R13); ADDQ $128, R13

// Steps SG_BODY and SGP_BODY share. SG_ARGS loads the output indices (Z31), their
// strides per block and per pass (Z27, Z26), the lane masks (MASKS) and the stream's
// arguments (STREAM_ARGS, to DONE when there are no steps); SG_STEP_START points at the
// first block's queries, outputs and keys of a step, and SG_PASSES sets the local iq to
// the passes of a block: rq >> SHIFT (one per quad, or per pair of quads).
// SG_CHAINS empties four positions' chains;
// SG_SCATTERS stores them (one position each, 4 bytes apart) at the output indices IDX;
// SG_PASS_BACK takes the keys and the lines ahead back to the block's start for the next
// pass; SG_NEXT_BLOCK moves the indices and keys on to the next block of heads (LOOP
// while there is one); SG_NEXT_STEP moves on to the next step of positions.
#define SG_ARGS(MASKS, DONE) \
	MOVQ         idx+8(FP), R11; \
	VMOVDQU32    (R11), Z31; \
	VPBROADCASTD qs+72(FP), Z27; \
	VPBROADCASTD qrs+96(FP), Z26; \
	MASKS; \
	STREAM_ARGS(DONE)
#define SG_STEP_START(SHIFT) \
	MOVQ      qg+16(FP), R8; \
	MOVQ      quads+64(FP), CX; \
	VMOVDQA32 Z31, Z28; \
	MOVQ      SI, R10; \
	SG_PASSES(SHIFT)
#define SG_PASSES(SHIFT) MOVQ rq+88(FP), AX; SHRQ $SHIFT, AX; MOVQ AX, iq-16(SP)
#define SG_CHAINS(A, B, C, D) VXORPS A, A, A; VXORPS B, B, B; VXORPS C, C, C; VXORPS D, D, D
#define SG_SCATTERS(IDX, A, B, C, D) \
	KXNORW K4, K4, K4; VSCATTERDPS A, K4, (DI)(IDX*4); \
	KXNORW K4, K4, K4; VSCATTERDPS B, K4, 4(DI)(IDX*4); \
	KXNORW K4, K4, K4; VSCATTERDPS C, K4, 8(DI)(IDX*4); \
	KXNORW K4, K4, K4; VSCATTERDPS D, K4, 12(DI)(IDX*4)
#define SG_PASS_BACK SUBQ R9, R10; MOVQ R9, AX; SHLQ $4, AX; SUBQ AX, R13
#define SG_NEXT_BLOCK(LOOP) VPADDD Z27, Z28, Z28; ADDQ BX, R10; DECQ CX; JNZ LOOP
#define SG_NEXT_STEP(LOOP) LEAQ (SI)(R11*4), SI; ADDQ $16, DI; DECQ left-8(SP); JNZ LOOP

// SG_PASS_END(LAST, BLOCK, NEXT, SHIFT, STEP, DONE) ends a pass of a grouped key stream:
// while quads of rows remain, another pass over the block's positions (the next output
// indices from LAST's), else the next block, then the next step, then the routine's end.
#define SG_PASS_END(LAST, BLOCK, NEXT, SHIFT, STEP, DONE) \
	DECQ   iq-16(SP); \
	JZ     NEXT; \
	VPADDD Z26, LAST, Z28; \
	SG_PASS_BACK; \
	JMP    BLOCK; \
NEXT: \
	SG_PASSES(SHIFT); \
	SG_NEXT_BLOCK(BLOCK); \
	SG_NEXT_STEP(STEP); \
DONE: \
	VZEROUPPER; \
	RET

// SG_BODY(PIECE, MASKS, W) is the body of scoresGroupsAVX512 and its half-precision
// forms: grouped-query keys, four query rows per KV head, read in steps of four
// positions. Lane 4k+a of a vector is row a of head 4b+k of a block b of four heads: a
// 16-byte broadcast (8 bytes widened for halves, W bytes of a row) puts four columns of
// head 4b+k's row in 128-bit lane k (PIECE, lanes 1 to 3 under the masks K1..K3 that
// MASKS sets), and an in-lane permutation repeats each column over the four rows' lanes.
// Each of the four positions of a step has its own chain (Z20..Z23), one FMA per column
// in increasing order, with the query lanes at R8. With rq quads of rows per head, each
// block of heads takes rq passes, one per quad of rows, over the same keys (from L1
// after the first). Registers: SI the step's first key, R10, R14, AX and R12 the four
// positions' columns of the block (R11 bytes apart), R9 and BX one and three rows, R13
// the lines ahead (each PIECE asks for one, SB_AHEAD, so that every four columns of
// the first pass ask for one step's worth; later passes go back), CX the blocks left (the local iq the passes left), Z28 the
// pass's output indices (Z31, plus Z26 per pass and Z27 per block). It is defined
// before the first routine, where go vet's frame check does not take it for part of
// one.
#define SG_BODY(PIECE, MASKS, W) \
	SG_ARGS(MASKS, sgdone); \
sgstep: \
	SG_STEP_START(0); \
sgblock: \
	POS4_BASES; \
	SG_CHAINS(Z20, Z21, Z22, Z23); \
	MOVQ         d+48(FP), DX; \
sgcols: \
	SG_QUERIES; \
	SG_POS(PIECE, R10, Z20); \
	SG_POS(PIECE, R14, Z21); \
	SG_POS(PIECE, AX, Z22); \
	SG_POS(PIECE, R12, Z23); \
	ADDQ         $256, R8; \
	POS4_NEXT(W); \
	SUBQ         $4, DX; \
	JG           sgcols; \
	SG_SCATTERS(Z28, Z20, Z21, Z22, Z23); \
	SG_PASS_END(Z28, sgblock, sgnext, 0, sgstep, sgdone)

// SGP_BODY(PIECE, MASKS, W) is SG_BODY for an even number rq of quads of rows per
// head, taken in pairs: each pass computes two quads (i, i+1), their queries d*64 bytes
// apart (DX), the second quad's chains in Z9..Z12 and its queries in Z5..Z8. One load
// and one permutation of each column serve both quads, and eight chains are in flight
// instead of four: on one thread at Lk 32768, 28 query heads on 4 (padded to 8 rows)
// decode 15% faster and 64 on 8 9%. The pass's columns end at the local qend; qs counts
// back the rq-2 steps of qrs of the pairs.
#define SGP_BODY(PIECE, MASKS, W) \
	SG_ARGS(MASKS, sgpdone); \
	MOVQ         d+48(FP), DX; \
	SHLQ         $6, DX; \
sgpstep: \
	SG_STEP_START(1); \
sgpblock: \
	POS4_BASES; \
	SG_CHAINS(Z20, Z21, Z22, Z23); \
	SG_CHAINS(Z9, Z10, Z11, Z12); \
	MOVQ         R8, qend-24(SP); \
	ADDQ         DX, qend-24(SP); \
sgpcols: \
	SG_QUERIES; \
	VMOVUPS      0(R8)(DX*1), Z5; \
	VMOVUPS      64(R8)(DX*1), Z6; \
	VMOVUPS      128(R8)(DX*1), Z7; \
	VMOVUPS      192(R8)(DX*1), Z8; \
	SGP_POS(PIECE, R10, Z20, Z9); \
	SGP_POS(PIECE, R14, Z21, Z10); \
	SGP_POS(PIECE, AX, Z22, Z11); \
	SGP_POS(PIECE, R12, Z23, Z12); \
	ADDQ         $256, R8; \
	POS4_NEXT(W); \
	CMPQ         R8, qend-24(SP); \
	JB           sgpcols; \
	VPADDD       Z26, Z28, Z29; \
	SG_SCATTERS(Z28, Z20, Z21, Z22, Z23); \
	SG_SCATTERS(Z29, Z9, Z10, Z11, Z12); \
	ADDQ         DX, R8; \
	SG_PASS_END(Z29, sgpblock, sgpnext, 1, sgpstep, sgpdone)

// SGP_POS(PIECE, P, ACC0, ACC1) is SG_POS for two quads: each permuted column meets the
// first quad's query lanes (Z16..Z19) in ACC0 and the second's (Z5..Z8) in ACC1.
#define SGP_POS(PIECE, P, ACC0, ACC1) \
	PIECE((P), (P)(R9*1), (P)(R9*2), (P)(BX*1), Y0, Z0); \
	VPERMILPS   $0x00, Z0, Z1; \
	VFMADD231PS Z1, Z16, ACC0; \
	VFMADD231PS Z1, Z5, ACC1; \
	VPERMILPS   $0x55, Z0, Z2; \
	VFMADD231PS Z2, Z17, ACC0; \
	VFMADD231PS Z2, Z6, ACC1; \
	VPERMILPS   $0xAA, Z0, Z3; \
	VFMADD231PS Z3, Z18, ACC0; \
	VFMADD231PS Z3, Z7, ACC1; \
	VPERMILPS   $0xFF, Z0, Z4; \
	VFMADD231PS Z4, Z19, ACC0; \
	VFMADD231PS Z4, Z8, ACC1

// SG_QUERIES loads the query lanes of four columns at R8 into Z16..Z19 (SG_BODY and
// SP_BODY).
#define SG_QUERIES VMOVUPS 0(R8), Z16; VMOVUPS 64(R8), Z17; VMOVUPS 128(R8), Z18; VMOVUPS 192(R8), Z19

// SG_POS(PIECE, P, ACC) adds four columns of the block's four heads at position P to the
// position's chains in ACC: Z0 gets the four heads' columns in its 128-bit lanes, and
// each column, repeated over its lane, meets its query lanes in Z16..Z19, the operands in
// qkRowsAVX512's order.
#define SG_POS(PIECE, P, ACC) \
	PIECE((P), (P)(R9*1), (P)(R9*2), (P)(BX*1), Y0, Z0); \
	VPERMILPS   $0x00, Z0, Z1; \
	VFMADD231PS Z1, Z16, ACC; \
	VPERMILPS   $0x55, Z0, Z2; \
	VFMADD231PS Z2, Z17, ACC; \
	VPERMILPS   $0xAA, Z0, Z3; \
	VFMADD231PS Z3, Z18, ACC; \
	VPERMILPS   $0xFF, Z0, Z4; \
	VFMADD231PS Z4, Z19, ACC

// Lines asked for ahead of R13 per four columns of a block (SP_BODY): four positions of
// four heads' 16 bytes (float32), or 8 bytes (halves), in address order over the step.
// SG_BODY and SGP_BODY ask for the same lines one per PIECE (SB_AHEAD) instead of four
// together: on one thread at Lk 32768, medians of nine alternating rounds, 32 query
// heads on 8 from 22.6 to 23.7 GB/s and 28 on 4 from 22.5 to 23.2 (three more rounds:
// alike).
#define SG_PF32 PREFETCHT0 0(R13); PREFETCHT0 64(R13); PREFETCHT0 128(R13); PREFETCHT0 192(R13); ADDQ $256, R13
#define SG_PF16 PREFETCHT0 0(R13); PREFETCHT0 64(R13); ADDQ $128, R13

// SP_BODY(PIECE, W, PF) is the body of scoresPairsAVX512 and its half-precision forms:
// grouped-query keys with two query rows per KV head, read in steps of two positions.
// Lane 2m+a of a vector is row a of head 8b+m of a block b of eight heads: PIECE puts
// two columns (W bytes of a row) of each head m in quadword m (heads 0 to 3 from P, 4
// to 7 from Q, four rows further; quadwords 1 to 7 under the masks K1..K7), and an
// in-lane permutation repeats each column over the head's two lanes. Each position of a
// step has its own chain (Z20, Z21), one FMA per column in increasing order, with the
// query lanes at R8. Registers: SI the step's first key, R10 and R14 (position 0), AX
// and R12 (position 1) the block's columns, R9 and BX one and three rows, R11 the
// position stride, R13 the lines ahead, CX the blocks left, Z28 the block's output
// indices (Z31 plus the block stride Z27 per block); the scatters borrow K1. It is
// defined before the first routine, where go vet's frame check does not take it for
// part of one.
#define SP_BODY(PIECE, W, PF) \
	MOVQ         idx+8(FP), R11; \
	VMOVDQU32    (R11), Z31; \
	VPBROADCASTD qs+72(FP), Z27; \
	SP_MASKS; \
	STREAM_ARGS(spdone); \
spstep: \
	MOVQ         qg+16(FP), R8; \
	MOVQ         blocks+64(FP), CX; \
	VMOVDQA32    Z31, Z28; \
	MOVQ         SI, R10; \
spblock: \
	LEAQ         (R10)(R9*4), R14; \
	LEAQ         (R10)(R11*1), AX; \
	LEAQ         (AX)(R9*4), R12; \
	VXORPS       Z20, Z20, Z20; \
	VXORPS       Z21, Z21, Z21; \
	MOVQ         d+48(FP), DX; \
spcols: \
	PF; \
	SG_QUERIES; \
	SP_POS(PIECE, R10, R14, 0, Z16, Z17, Z20); \
	SP_POS(PIECE, AX, R12, 0, Z16, Z17, Z21); \
	SP_POS(PIECE, R10, R14, W, Z18, Z19, Z20); \
	SP_POS(PIECE, AX, R12, W, Z18, Z19, Z21); \
	ADDQ         $256, R8; \
	POS4_NEXT((2*W)); \
	SUBQ         $4, DX; \
	JG           spcols; \
	KXNORW       K1, K1, K1; \
	VSCATTERDPS  Z20, K1, (DI)(Z28*4); \
	KXNORW       K1, K1, K1; \
	VSCATTERDPS  Z21, K1, 4(DI)(Z28*4); \
	MOVL         $2, AX; \
	KMOVW        AX, K1; \
	VPADDD       Z27, Z28, Z28; \
	LEAQ         (R10)(BX*2), R10; \
	ADDQ         R9, R10; \
	DECQ         CX; \
	JNZ          spblock; \
	LEAQ         (SI)(R11*2), SI; \
	ADDQ         $8, DI; \
	DECQ         left-8(SP); \
	JNZ          spstep; \
spdone: \
	VZEROUPPER; \
	RET

// SP_POS(PIECE, P, Q, O, QA, QB, ACC) adds two columns, O bytes into the rows, of the
// block's eight heads at one position (heads 0 to 3 at P, 4 to 7 at Q) to the position's
// chains in ACC, with the query lanes of the two columns in QA and QB.
#define SP_POS(PIECE, P, Q, O, QA, QB, ACC) \
	PIECE(O(P), O(P)(R9*1), O(P)(R9*2), O(P)(BX*1), O(Q), O(Q)(R9*1), O(Q)(R9*2), O(Q)(BX*1)); \
	VPERMILPS   $0xA0, Z0, Z1; \
	VFMADD231PS Z1, QA, ACC; \
	VPERMILPS   $0xF5, Z0, Z2; \
	VFMADD231PS Z2, QB, ACC

// PIECE routines for SP_BODY: quadword m of Z0 gets the two float32 columns at Am
// (SP_F32), or the two halves at Am widened (dword m of Y0 first).
#define SP_F32(A0, A1, A2, A3, A4, A5, A6, A7) \
	VPBROADCASTQ A0, Z0; VPBROADCASTQ A1, K1, Z0; VPBROADCASTQ A2, K2, Z0; VPBROADCASTQ A3, K3, Z0; \
	VPBROADCASTQ A4, K4, Z0; VPBROADCASTQ A5, K5, Z0; VPBROADCASTQ A6, K6, Z0; VPBROADCASTQ A7, K7, Z0
#define SP_HALVES(A0, A1, A2, A3, A4, A5, A6, A7) \
	VPBROADCASTD A0, Y0; VPBROADCASTD A1, K1, Y0; VPBROADCASTD A2, K2, Y0; VPBROADCASTD A3, K3, Y0; \
	VPBROADCASTD A4, K4, Y0; VPBROADCASTD A5, K5, Y0; VPBROADCASTD A6, K6, Y0; VPBROADCASTD A7, K7, Y0
#define SP_F16(A0, A1, A2, A3, A4, A5, A6, A7) SP_HALVES(A0, A1, A2, A3, A4, A5, A6, A7); VCVTPH2PS Y0, Z0
#define SP_BF16(A0, A1, A2, A3, A4, A5, A6, A7) SP_HALVES(A0, A1, A2, A3, A4, A5, A6, A7); VPMOVZXWD Y0, Z0; VPSLLD $16, Z0, Z0

// SP_MASKS sets K1..K7 to elements 1 to 7 (quadwords of Z0, dwords of Y0).
#define SP_MASKS \
	MOVL $2, DX; KMOVW DX, K1; MOVL $4, DX; KMOVW DX, K2; MOVL $8, DX; KMOVW DX, K3; \
	MOVL $16, DX; KMOVW DX, K4; MOVL $32, DX; KMOVW DX, K5; MOVL $64, DX; KMOVW DX, K6; \
	MOVL $128, DX; KMOVW DX, K7

DATA a512<>+0(SB)/4, $1.0               // one
DATA a512<>+4(SB)/4, $1.44269504088896341 // log2(e)
DATA a512<>+8(SB)/4, $89.0              // exp input clamp high: exp(89) overflows to +Inf
DATA a512<>+12(SB)/4, $-150.0           // exp input clamp low: exp(-150) rounds to 0
DATA a512<>+16(SB)/4, $0.693359375      // ln2 high part (Cody-Waite)
DATA a512<>+20(SB)/4, $-2.12194440e-4   // ln2 low part
DATA a512<>+24(SB)/4, $1.9875691500e-4  // exp polynomial (Cephes expf), r^7 .. r^2 terms
DATA a512<>+28(SB)/4, $1.3981999507e-3
DATA a512<>+32(SB)/4, $8.3334519073e-3
DATA a512<>+36(SB)/4, $4.1665795894e-2
DATA a512<>+40(SB)/4, $1.6666665459e-1
DATA a512<>+44(SB)/4, $5.0000001201e-1
DATA a512<>+48(SB)/4, $0xff800000       // -Inf
GLOBL a512<>(SB), RODATA|NOPTR, $52

// perm8 gathers the 8 dot products of the SCORES8 reduction into lanes 0..7.
DATA perm8<>+0(SB)/4, $0
DATA perm8<>+4(SB)/4, $4
DATA perm8<>+8(SB)/4, $8
DATA perm8<>+12(SB)/4, $12
DATA perm8<>+16(SB)/4, $2
DATA perm8<>+20(SB)/4, $6
DATA perm8<>+24(SB)/4, $10
DATA perm8<>+28(SB)/4, $14
DATA perm8<>+32(SB)/4, $0
DATA perm8<>+36(SB)/4, $0
DATA perm8<>+40(SB)/4, $0
DATA perm8<>+44(SB)/4, $0
DATA perm8<>+48(SB)/4, $0
DATA perm8<>+52(SB)/4, $0
DATA perm8<>+56(SB)/4, $0
DATA perm8<>+60(SB)/4, $0
GLOBL perm8<>(SB), RODATA|NOPTR, $64

#define BCAST(off, reg) VBROADCASTSS a512<>+off(SB), reg

// TAILMASK sets K1 to the low CX lanes (CX < 16); AX is clobbered.
#define TAILMASK \
	MOVL $1, AX; \
	SHLL CX, AX; \
	DECL AX; \
	KMOVW AX, K1

// EXPCONSTS loads the constants EXP uses into Z20..Z31.
#define EXPCONSTS \
	BCAST(0, Z20); \
	BCAST(44, Z21); \
	BCAST(40, Z22); \
	BCAST(36, Z23); \
	BCAST(32, Z24); \
	BCAST(28, Z25); \
	BCAST(24, Z26); \
	BCAST(20, Z27); \
	BCAST(16, Z28); \
	BCAST(4, Z29); \
	BCAST(12, Z30); \
	BCAST(8, Z31)

// EXP sets x = exp(x) (float32, max error 1 ulp for results >= 2^-126; -Inf gives 0);
// t1 and t2 are clobbered. x is clamped to [-150, 89], split as x = n*ln2 + r with
// |r| <= ln2/2, e^r comes from a degree-7 polynomial and 2^n is applied with VSCALEFPS.
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

// HSUM sets X0 to the sum of the 16 lanes of Z0 by halving: lanes l and l+8, then l and
// l+4, l and l+2, l and l+1. SCORES8 below adds in exactly this tree. Z1 is clobbered.
#define HSUM \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VADDPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VADDSS X1, X0, X0

// HMAX8 sets X0 to the largest of the 8 lanes of Y0; Y1 is clobbered.
#define HMAX8 \
	VEXTRACTF128 $1, Y0, X1; \
	VMAXPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VMAXPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VMAXSS X1, X0, X0

// SCORES8(a0..a7, t0, t1) reduces the 16-lane accumulators a0..a7 (one per key) to
// their 8 sums in the low 256 bits of a0, adding in the HSUM tree for each key, two to
// four keys per instruction; t0, t1 are clobbered.
#define SCORES8(a0, a1, a2, a3, a4, a5, a6, a7, t0, t1) \
	VSHUFF64X2 $0x44, a1, a0, t0; \
	VSHUFF64X2 $0xEE, a1, a0, t1; \
	VADDPS t1, t0, a0; \
	VSHUFF64X2 $0x44, a3, a2, t0; \
	VSHUFF64X2 $0xEE, a3, a2, t1; \
	VADDPS t1, t0, a1; \
	VSHUFF64X2 $0x44, a5, a4, t0; \
	VSHUFF64X2 $0xEE, a5, a4, t1; \
	VADDPS t1, t0, a2; \
	VSHUFF64X2 $0x44, a7, a6, t0; \
	VSHUFF64X2 $0xEE, a7, a6, t1; \
	VADDPS t1, t0, a3; \
	VSHUFF32X4 $0x88, a1, a0, t0; \
	VSHUFF32X4 $0xDD, a1, a0, t1; \
	VADDPS t1, t0, a0; \
	VSHUFF32X4 $0x88, a3, a2, t0; \
	VSHUFF32X4 $0xDD, a3, a2, t1; \
	VADDPS t1, t0, a1; \
	VSHUFPS $0x44, a1, a0, t0; \
	VSHUFPS $0xEE, a1, a0, t1; \
	VADDPS t1, t0, a0; \
	VMOVSHDUP a0, t0; \
	VADDPS t0, a0, a0; \
	VMOVUPS perm8<>(SB), t0; \
	VPERMPS a0, t0, a0

// func scoresAVX512(s, q, k []float32, ks int, scale float32) float32
// for j := range s { acc := 0; for d := range q { acc += q[d]*k[j*ks+d] }; s[j] = acc*scale }
// returns max(s) (-Inf when empty). Each dot product keeps 16 lane sums (one FMA chain
// per lane, d in increasing order) added by the HSUM tree, whether its key is one of a
// group of 8 (8 chains in flight, q loaded once per step) or a leftover one.
TEXT ·scoresAVX512(SB), NOSPLIT, $0-92
	MOVQ s_base+0(FP), DI
	MOVQ s_len+8(FP), CX
	MOVQ q_base+24(FP), SI
	MOVQ q_len+32(FP), DX
	SHLQ $2, DX
	MOVQ k_base+48(FP), R8
	VBROADCASTSS scale+80(FP), Z30
	BCAST(48, Z29)
	BCAST(48, Z28)
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
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	XORQ R10, R10

dloop:
	VMOVUPS (SI)(R10*1), Z8
	VFMADD231PS (R8)(R10*1), Z8, Z0
	VFMADD231PS (R9)(R10*1), Z8, Z1
	VFMADD231PS (R11)(R10*1), Z8, Z2
	VFMADD231PS (R12)(R10*1), Z8, Z3
	VFMADD231PS (R13)(R10*1), Z8, Z4
	VFMADD231PS (R14)(R10*1), Z8, Z5
	VFMADD231PS (AX)(R10*1), Z8, Z6
	VFMADD231PS (BX)(R10*1), Z8, Z7
	ADDQ $64, R10
	CMPQ R10, DX
	JLT dloop

	SCORES8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9)
	VMULPS Y30, Y0, Y0
	VMOVUPS Y0, (DI)
	VMAXPS Y0, Y29, Y29
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
	VXORPS Z0, Z0, Z0
	XORQ R10, R10

d1:
	VMOVUPS (SI)(R10*1), Z8
	VFMADD231PS (R8)(R10*1), Z8, Z0
	ADDQ $64, R10
	CMPQ R10, DX
	JLT d1
	HSUM
	VMULSS X30, X0, X0
	VMOVSS X0, (DI)
	VMAXSS X0, X28, X28
	ADDQ $4, DI
	ADDQ R9, R8
	DECQ CX
	JNZ oneloop

done:
	// Y29 holds the groups' lane-wise maximum, lane 0 of X28 the leftovers'.
	VMOVAPS Y29, Y0
	HMAX8
	VMAXSS X28, X0, X0
	VMOVSS X0, ret+88(FP)
	VZEROUPPER
	RET

// func expSumAVX512(x []float32, m float32) float32
// var s float32; for j, v := range x { e := exp(v - m); x[j] = e; s += e }; return s
// (one 16-lane accumulator, the last partial block masked, then the HSUM tree).
TEXT ·expSumAVX512(SB), NOSPLIT, $0-36
	MOVQ x_base+0(FP), DI
	MOVQ x_len+8(FP), CX
	VBROADCASTSS m+24(FP), Z16
	EXPCONSTS
	VXORPS Z0, Z0, Z0
	CMPQ CX, $16
	JLT tail

loop:
	VMOVUPS (DI), Z2
	VSUBPS Z16, Z2, Z2
	EXP(Z2, Z3, Z4)
	VADDPS Z2, Z0, Z0
	VMOVUPS Z2, (DI)
	ADDQ $64, DI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE loop

tail:
	TESTQ CX, CX
	JLE reduce
	TAILMASK
	VMOVUPS.Z (DI), K1, Z2
	VSUBPS Z16, Z2, Z2
	EXP(Z2, Z3, Z4)
	VMOVAPS.Z Z2, K1, Z2
	VADDPS Z2, Z0, Z0
	VMOVUPS Z2, K1, (DI)

reduce:
	HSUM
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// func accumHeadsAVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ahead int)
// for j < n: for each row r: o_r[d] += p_r[j] * v[j*vs + head_r + d] for d < dv (a
// multiple of 16), as accum gives each row (one FMA per term, in increasing j), with vs
// and head_r in elements. Each vector of o is read and written back once per position:
// the positions come in address order, every row of one before the next. Each line of
// values read has the line ahead bytes past it prefetched.
TEXT ·accumHeadsAVX512(SB), NOSPLIT, $0-56
	HEADS_BODY(2, 64, HS_F32)

// accumHeadsAVX512 for float16 values, each widened as it is loaded (the same bits as on
// the widened values).
TEXT ·accumHeadsF16AVX512(SB), NOSPLIT, $0-56
	HEADS_BODY(1, 32, HS_F16)

// accumHeadsAVX512 for bfloat16 values.
TEXT ·accumHeadsBF16AVX512(SB), NOSPLIT, $0-56
	HEADS_BODY(1, 32, HS_BF16)

// func accumAVX512(o, p, v []float32, vs int)
// for j, pj := range p { for d := range o { o[d] += pj * v[j*vs+d] } }
// o is processed in blocks of 8, 4 and 1 vectors, each block's sums held in registers
// across the whole j loop.
TEXT ·accumAVX512(SB), NOSPLIT, $0-80
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
	CMPQ DX, $512
	JLT blk4
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVUPS 256(DI), Z4
	VMOVUPS 320(DI), Z5
	VMOVUPS 384(DI), Z6
	VMOVUPS 448(DI), Z7
	MOVQ BX, R11
	XORQ R12, R12

j8:
	VBROADCASTSS (SI)(R12*4), Z16
	VFMADD231PS 0(R11), Z16, Z0
	VFMADD231PS 64(R11), Z16, Z1
	VFMADD231PS 128(R11), Z16, Z2
	VFMADD231PS 192(R11), Z16, Z3
	VFMADD231PS 256(R11), Z16, Z4
	VFMADD231PS 320(R11), Z16, Z5
	VFMADD231PS 384(R11), Z16, Z6
	VFMADD231PS 448(R11), Z16, Z7
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT j8
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	ADDQ $512, DI
	ADDQ $512, BX
	SUBQ $512, DX
	JMP blk8

blk4:
	CMPQ DX, $256
	JLT blk1
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	MOVQ BX, R11
	XORQ R12, R12

j4:
	VBROADCASTSS (SI)(R12*4), Z16
	VFMADD231PS 0(R11), Z16, Z0
	VFMADD231PS 64(R11), Z16, Z1
	VFMADD231PS 128(R11), Z16, Z2
	VFMADD231PS 192(R11), Z16, Z3
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT j4
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, DI
	ADDQ $256, BX
	SUBQ $256, DX

blk1:
	CMPQ DX, $64
	JLT done
	VMOVUPS 0(DI), Z0
	MOVQ BX, R11
	XORQ R12, R12

j1:
	VBROADCASTSS (SI)(R12*4), Z16
	VFMADD231PS 0(R11), Z16, Z0
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT j1
	VMOVUPS Z0, 0(DI)
	ADDQ $64, DI
	ADDQ $64, BX
	SUBQ $64, DX
	JMP blk1

done:
	VZEROUPPER
	RET

// Value rows of float16 or bfloat16 accumulated as they are widened: accumAVX512's sums
// (the same bits) without a float32 copy of the rows. HV_F16 and HV_BF16 widen the 16
// halves at OFF(R11) into ZR.
#define HV_F16(OFF, ZR) VCVTPH2PS OFF(R11), ZR
#define HV_BF16(OFF, ZR) VPMOVZXWD OFF(R11), ZR; VPSLLD $16, ZR, ZR

// HFMA(HV, OFF, ACC) adds p (Z16) times the 16 values at OFF(R11) into ACC.
#define HFMA(HV, OFF, ACC) HV(OFF, Z17); VFMADD231PS Z17, Z16, ACC

// HACCUM(HV) is the body of the two kernels below, after HACCUM_ARGS: accumAVX512's
// loops with the value rows read as halves (32 bytes per 16 values).
#define HACCUM(HV) \
	SHLQ $2, DX; \
	TESTQ CX, CX; \
	JLE hdone; \
hblk8: \
	CMPQ DX, $512; \
	JLT hblk1; \
	VMOVUPS 0(DI), Z0; \
	VMOVUPS 64(DI), Z1; \
	VMOVUPS 128(DI), Z2; \
	VMOVUPS 192(DI), Z3; \
	VMOVUPS 256(DI), Z4; \
	VMOVUPS 320(DI), Z5; \
	VMOVUPS 384(DI), Z6; \
	VMOVUPS 448(DI), Z7; \
	MOVQ BX, R11; \
	XORQ R12, R12; \
hj8: \
	VBROADCASTSS (SI)(R12*4), Z16; \
	HFMA(HV, 0, Z0); \
	HFMA(HV, 32, Z1); \
	HFMA(HV, 64, Z2); \
	HFMA(HV, 96, Z3); \
	HFMA(HV, 128, Z4); \
	HFMA(HV, 160, Z5); \
	HFMA(HV, 192, Z6); \
	HFMA(HV, 224, Z7); \
	ADDQ R9, R11; \
	INCQ R12; \
	CMPQ R12, CX; \
	JLT hj8; \
	VMOVUPS Z0, 0(DI); \
	VMOVUPS Z1, 64(DI); \
	VMOVUPS Z2, 128(DI); \
	VMOVUPS Z3, 192(DI); \
	VMOVUPS Z4, 256(DI); \
	VMOVUPS Z5, 320(DI); \
	VMOVUPS Z6, 384(DI); \
	VMOVUPS Z7, 448(DI); \
	ADDQ $512, DI; \
	ADDQ $256, BX; \
	SUBQ $512, DX; \
	JMP hblk8; \
hblk1: \
	CMPQ DX, $64; \
	JLT hdone; \
	VMOVUPS 0(DI), Z0; \
	MOVQ BX, R11; \
	XORQ R12, R12; \
hj1: \
	VBROADCASTSS (SI)(R12*4), Z16; \
	HFMA(HV, 0, Z0); \
	ADDQ R9, R11; \
	INCQ R12; \
	CMPQ R12, CX; \
	JLT hj1; \
	VMOVUPS Z0, 0(DI); \
	ADDQ $64, DI; \
	ADDQ $32, BX; \
	SUBQ $64, DX; \
	JMP hblk1; \
hdone: \
	VZEROUPPER; \
	RET

// func accumF16AVX512(o, p []float32, v *uint16, vsBytes int)
// for j, pj := range p { for d := range o { o[d] += pj * F16ToF32(v[j*vs+d]) } }, vs =
// vsBytes/2, len(o) a multiple of 16: each o[d] the bits accumAVX512 gives on the
// widened rows (blocks of 8 vectors, then single vectors, each held across the j loop).
TEXT ·accumF16AVX512(SB), NOSPLIT, $0-64
	HACCUM_ARGS
	HACCUM(HV_F16)

// func accumBF16AVX512(o, p []float32, v *uint16, vsBytes int)
// accumF16AVX512 for bfloat16 rows.
TEXT ·accumBF16AVX512(SB), NOSPLIT, $0-64
	HACCUM_ARGS
	HACCUM(HV_BF16)

// func scores2AVX512(s1, s2, q1, q2, k []float32, ks int, scale float32) (m1, m2 float32)
// scoresAVX512(s1, q1, k, ks, scale) and scoresAVX512(s2, q2, k, ks, scale) at once, for
// len(s1) == len(s2) a multiple of 8: each key row is loaded once for both queries
// (16 FMA chains in flight); every s[j] gets the same bits as from scoresAVX512.
TEXT ·scores2AVX512(SB), NOSPLIT, $0-144
	MOVQ s1_base+0(FP), DI
	MOVQ s1_len+8(FP), CX
	MOVQ q1_base+48(FP), SI
	MOVQ q2_base+72(FP), DX
	MOVQ k_base+96(FP), R8
	VBROADCASTSS scale+128(FP), Z30
	BCAST(48, Z29)
	BCAST(48, Z28)
	CMPQ CX, $8
	JLT done2

group2:
	MOVQ ks+120(FP), R10
	SHLQ $2, R10
	LEAQ (R8)(R10*1), R9
	LEAQ (R9)(R10*1), R11
	LEAQ (R11)(R10*1), R12
	LEAQ (R12)(R10*1), R13
	LEAQ (R13)(R10*1), R14
	LEAQ (R14)(R10*1), AX
	LEAQ (AX)(R10*1), BX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	XORQ R10, R10

dloop2:
	VMOVUPS (SI)(R10*4), Z16
	VMOVUPS (DX)(R10*4), Z17
	VMOVUPS (R8)(R10*4), Z18
	VMOVUPS (R9)(R10*4), Z19
	VFMADD231PS Z18, Z16, Z0
	VFMADD231PS Z18, Z17, Z8
	VFMADD231PS Z19, Z16, Z1
	VFMADD231PS Z19, Z17, Z9
	VMOVUPS (R11)(R10*4), Z18
	VMOVUPS (R12)(R10*4), Z19
	VFMADD231PS Z18, Z16, Z2
	VFMADD231PS Z18, Z17, Z10
	VFMADD231PS Z19, Z16, Z3
	VFMADD231PS Z19, Z17, Z11
	VMOVUPS (R13)(R10*4), Z18
	VMOVUPS (R14)(R10*4), Z19
	VFMADD231PS Z18, Z16, Z4
	VFMADD231PS Z18, Z17, Z12
	VFMADD231PS Z19, Z16, Z5
	VFMADD231PS Z19, Z17, Z13
	VMOVUPS (AX)(R10*4), Z18
	VMOVUPS (BX)(R10*4), Z19
	VFMADD231PS Z18, Z16, Z6
	VFMADD231PS Z18, Z17, Z14
	VFMADD231PS Z19, Z16, Z7
	VFMADD231PS Z19, Z17, Z15
	ADDQ $16, R10 // elements
	CMPQ R10, q1_len+56(FP)
	JLT dloop2

	SCORES8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z20, Z21)
	SCORES8(Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z20, Z21)
	VMULPS Y30, Y0, Y0
	VMULPS Y30, Y8, Y8
	VMOVUPS Y0, (DI)
	MOVQ DI, R10 // s2's position: the same offset as s1's
	SUBQ s1_base+0(FP), R10
	ADDQ s2_base+24(FP), R10
	VMOVUPS Y8, (R10)
	VMAXPS Y0, Y29, Y29
	VMAXPS Y8, Y28, Y28
	ADDQ $32, DI
	MOVQ ks+120(FP), R10
	SHLQ $2, R10
	LEAQ (BX)(R10*1), R8
	SUBQ $8, CX
	CMPQ CX, $8
	JGE group2

done2:
	VMOVAPS Y29, Y0
	HMAX8
	VMOVSS X0, m1+136(FP)
	VMOVAPS Y28, Y0
	HMAX8
	VMOVSS X0, m2+140(FP)
	VZEROUPPER
	RET

// func accum2AVX512(o1, o2, p1, p2, v []float32, vs int)
// accumAVX512(o1, p1, v, vs) and accumAVX512(o2, p2, v, vs) at once (len(p1) ==
// len(p2), len(o1) == len(o2)): each value row is loaded once for both outputs; every
// o[d] gets the same bits as from accumAVX512.
TEXT ·accum2AVX512(SB), NOSPLIT, $0-128
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
	JLE done

blk8:
	CMPQ DX, $512
	JLT blk4
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVUPS 256(DI), Z4
	VMOVUPS 320(DI), Z5
	VMOVUPS 384(DI), Z6
	VMOVUPS 448(DI), Z7
	VMOVUPS 0(R14), Z8
	VMOVUPS 64(R14), Z9
	VMOVUPS 128(R14), Z10
	VMOVUPS 192(R14), Z11
	VMOVUPS 256(R14), Z12
	VMOVUPS 320(R14), Z13
	VMOVUPS 384(R14), Z14
	VMOVUPS 448(R14), Z15
	MOVQ BX, R11
	XORQ R12, R12

j8:
	VBROADCASTSS (SI)(R12*4), Z16
	VBROADCASTSS (R13)(R12*4), Z17
	VMOVUPS 0(R11), Z18
	VMOVUPS 64(R11), Z19
	VFMADD231PS Z18, Z16, Z0
	VFMADD231PS Z18, Z17, Z8
	VFMADD231PS Z19, Z16, Z1
	VFMADD231PS Z19, Z17, Z9
	VMOVUPS 128(R11), Z18
	VMOVUPS 192(R11), Z19
	VFMADD231PS Z18, Z16, Z2
	VFMADD231PS Z18, Z17, Z10
	VFMADD231PS Z19, Z16, Z3
	VFMADD231PS Z19, Z17, Z11
	VMOVUPS 256(R11), Z18
	VMOVUPS 320(R11), Z19
	VFMADD231PS Z18, Z16, Z4
	VFMADD231PS Z18, Z17, Z12
	VFMADD231PS Z19, Z16, Z5
	VFMADD231PS Z19, Z17, Z13
	VMOVUPS 384(R11), Z18
	VMOVUPS 448(R11), Z19
	VFMADD231PS Z18, Z16, Z6
	VFMADD231PS Z18, Z17, Z14
	VFMADD231PS Z19, Z16, Z7
	VFMADD231PS Z19, Z17, Z15
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT j8
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VMOVUPS Z8, 0(R14)
	VMOVUPS Z9, 64(R14)
	VMOVUPS Z10, 128(R14)
	VMOVUPS Z11, 192(R14)
	VMOVUPS Z12, 256(R14)
	VMOVUPS Z13, 320(R14)
	VMOVUPS Z14, 384(R14)
	VMOVUPS Z15, 448(R14)
	ADDQ $512, DI
	ADDQ $512, R14
	ADDQ $512, BX
	SUBQ $512, DX
	JMP blk8

blk4:
	CMPQ DX, $256
	JLT blk1
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVUPS 0(R14), Z8
	VMOVUPS 64(R14), Z9
	VMOVUPS 128(R14), Z10
	VMOVUPS 192(R14), Z11
	MOVQ BX, R11
	XORQ R12, R12

j4:
	VBROADCASTSS (SI)(R12*4), Z16
	VBROADCASTSS (R13)(R12*4), Z17
	VMOVUPS 0(R11), Z18
	VMOVUPS 64(R11), Z19
	VFMADD231PS Z18, Z16, Z0
	VFMADD231PS Z18, Z17, Z8
	VFMADD231PS Z19, Z16, Z1
	VFMADD231PS Z19, Z17, Z9
	VMOVUPS 128(R11), Z18
	VMOVUPS 192(R11), Z19
	VFMADD231PS Z18, Z16, Z2
	VFMADD231PS Z18, Z17, Z10
	VFMADD231PS Z19, Z16, Z3
	VFMADD231PS Z19, Z17, Z11
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT j4
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z8, 0(R14)
	VMOVUPS Z9, 64(R14)
	VMOVUPS Z10, 128(R14)
	VMOVUPS Z11, 192(R14)
	ADDQ $256, DI
	ADDQ $256, R14
	ADDQ $256, BX
	SUBQ $256, DX

blk1:
	CMPQ DX, $64
	JLT done
	VMOVUPS 0(DI), Z0
	VMOVUPS 0(R14), Z8
	MOVQ BX, R11
	XORQ R12, R12

j1:
	VBROADCASTSS (SI)(R12*4), Z16
	VBROADCASTSS (R13)(R12*4), Z17
	VMOVUPS 0(R11), Z18
	VFMADD231PS Z18, Z16, Z0
	VFMADD231PS Z18, Z17, Z8
	ADDQ R9, R11
	INCQ R12
	CMPQ R12, CX
	JLT j1
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z8, 0(R14)
	ADDQ $64, DI
	ADDQ $64, R14
	ADDQ $64, BX
	SUBQ $64, DX
	JMP blk1

done:
	VZEROUPPER
	RET

// ACCUM4_BODY(LOAD4, LOAD1, STEP4, STEP1) is the body of accum4AVX512 and of its half
// versions, after ACCUM4_ARGS: LOAD4 loads the 64 values of a block of four vectors at
// R11 into Z20-Z23, LOAD1 one vector into Z20; STEP4 and STEP1 are the bytes of values
// they cover in one row.
#define ACCUM4_BODY(LOAD4, LOAD1, STEP4, STEP1) \
	TESTQ CX, CX; \
	JLE h4done; \
h4blk4: \
	CMPQ DX, $256; \
	JLT h4blk1; \
	SUMS4_LOAD; \
	MOVQ R13, R11; \
	XORQ R12, R12; \
h4j4: \
	PROB4(Z16, Z17, Z18, Z19); \
	LOAD4; \
	SUMS4_FMA; \
	ADDQ R9, R11; \
	INCQ R12; \
	CMPQ R12, CX; \
	JLT h4j4; \
	SUMS4_STORE; \
	ADDQ $256, DI; \
	ADDQ $256, BX; \
	ADDQ STEP4, R13; \
	SUBQ $256, DX; \
	JMP h4blk4; \
h4blk1: \
	CMPQ DX, $64; \
	JLT h4done; \
	VMOVUPS (DI), Z0; \
	VMOVUPS (DI)(R14*1), Z4; \
	VMOVUPS (DI)(R14*2), Z8; \
	VMOVUPS (BX), Z12; \
	MOVQ R13, R11; \
	XORQ R12, R12; \
h4j1: \
	PROB4(Z16, Z17, Z18, Z19); \
	LOAD1; \
	VFMADD231PS Z20, Z16, Z0; \
	VFMADD231PS Z20, Z17, Z4; \
	VFMADD231PS Z20, Z18, Z8; \
	VFMADD231PS Z20, Z19, Z12; \
	ADDQ R9, R11; \
	INCQ R12; \
	CMPQ R12, CX; \
	JLT h4j1; \
	VMOVUPS Z0, (DI); \
	VMOVUPS Z4, (DI)(R14*1); \
	VMOVUPS Z8, (DI)(R14*2); \
	VMOVUPS Z12, (BX); \
	ADDQ $64, DI; \
	ADDQ $64, BX; \
	ADDQ STEP1, R13; \
	SUBQ $64, DX; \
	JMP h4blk1; \
h4done: \
	VZEROUPPER; \
	RET

// The value loads of ACCUM4_BODY: float32, float16 and bfloat16 rows.
#define V4_F32 VMOVUPS 0(R11), Z20; VMOVUPS 64(R11), Z21; VMOVUPS 128(R11), Z22; VMOVUPS 192(R11), Z23
#define V1_F32 VMOVUPS (R11), Z20
#define V4_F16 HV_F16(0, Z20); HV_F16(32, Z21); HV_F16(64, Z22); HV_F16(96, Z23)
#define V1_F16 HV_F16(0, Z20)
#define V4_BF16 HV_BF16(0, Z20); HV_BF16(32, Z21); HV_BF16(64, Z22); HV_BF16(96, Z23)
#define V1_BF16 HV_BF16(0, Z20)

// func accum4AVX512(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int)
// accumAVX512(o[r*ldo:r*ldo+dv], p[r*ldp:r*ldp+n], v, vs) for the four rows r < 4, dv a
// multiple of 16: each value row is loaded once for the four outputs, and every o
// element gets accumAVX512's bits (one FMA per key, in increasing j). Blocks of 4
// vectors keep the 16 sums in Z0-Z15, the four probabilities in Z16-Z19 and the values
// in Z20-Z23.
TEXT ·accum4AVX512(SB), NOSPLIT, $0-112
	ACCUM4_ARGS
	ACCUM4_BODY(V4_F32, V1_F32, $256, $64)

// func accum4F16AVX512(o []float32, ldo, dv int, p []float32, ldp, n int, v []uint16, vs int)
// accum4AVX512 for value rows of float16 (vs halves apart), each widened as it is loaded:
// every o element gets accum4AVX512's bits on the widened rows.
TEXT ·accum4F16AVX512(SB), NOSPLIT, $0-112
	ACCUM4_ARGS
	SHRQ $1, R9 // halves: ACCUM4_ARGS took the stride in float32
	ACCUM4_BODY(V4_F16, V1_F16, $128, $32)

// func accum4BF16AVX512(o []float32, ldo, dv int, p []float32, ldp, n int, v []uint16, vs int)
// accum4F16AVX512 for bfloat16 rows.
TEXT ·accum4BF16AVX512(SB), NOSPLIT, $0-112
	ACCUM4_ARGS
	SHRQ $1, R9
	ACCUM4_BODY(V4_BF16, V1_BF16, $128, $32)

// PROB(addr, x) sets x = exp(addr - Z5), stores it back to addr, and clobbers Z10, Z11.
#define PROB(addr, x) \
	VMOVUPS addr, x; \
	VSUBPS Z5, x, x; \
	EXP(x, Z10, Z11); \
	VMOVUPS x, addr

// WTREE(w) is one step of softmaxTileAVX512's tree: with SI at key i and R12 at key
// 32+i, it sets the probabilities of keys i, 16+i, 32+i, 48+i and of the same plus 8, sets
// w = u[i] + u[i+8], and moves SI and R12 on by one key.
#define WTREE(w) \
	LEAQ (SI)(DX*8), R13; \
	PROB(0(SI), Z0); \
	PROB(0(SI)(R11*1), Z1); \
	VADDPS Z1, Z0, Z2; \
	PROB(0(R12), Z0); \
	PROB(0(R12)(R11*1), Z1); \
	VADDPS Z1, Z0, Z0; \
	VADDPS Z0, Z2, w; \
	LEAQ (R12)(DX*8), R14; \
	PROB(0(R13), Z0); \
	PROB(0(R13)(R11*1), Z1); \
	VADDPS Z1, Z0, Z2; \
	PROB(0(R14), Z0); \
	PROB(0(R14)(R11*1), Z1); \
	VADDPS Z1, Z0, Z0; \
	VADDPS Z0, Z2, Z2; \
	VADDPS Z2, w, w; \
	ADDQ DX, SI; \
	ADDQ DX, R12

// Tile kernels of the AVX-512 path (tiles.go). A tile holds the scores of up to 64 keys
// for a block of query rows, transposed: st[j*rs + l] is key j's score for row lane l, so
// every softmax step is a vertical operation over 16 rows at a time. Each call works on
// one vector of 16 row lanes; rs (in floats) is the row-block width of the tile and of
// the transposed queries and outputs.

// func qkTileAVX512(st *float32, rs int, qt *float32, k *float32, ks int, d int, nkeys int, nv int)
// for j < nkeys (a multiple of 8), l < 16*nv (nv is 1 or 2):
//     st[j*rs+l] = sum over t < d of k[j*ks+t]*qt[t*rs+l], one FMA chain in increasing t.
// 8 keys per pass, so that the key rows read together fit in the ways of one L1 set even
// when they lie 4 KiB apart; each k[j*ks+t] is broadcast once for both vectors. Key rows
// are reached from three bases (keys 0, 3 and 6) with index scales 1, 2 and 4 of ks.
TEXT ·qkTileAVX512(SB), NOSPLIT, $0-64
	MOVQ st+0(FP), DI
	MOVQ rs+8(FP), DX
	SHLQ $2, DX
	MOVQ k+24(FP), R8
	MOVQ ks+32(FP), R9
	SHLQ $2, R9
	MOVQ nkeys+48(FP), CX
	TESTQ CX, CX
	JLE qkdone
	CMPQ nv+56(FP), $2
	JLT qk1block

qk2block:
	MOVQ R8, R10
	LEAQ (R8)(R9*2), R11
	ADDQ R9, R11
	LEAQ (R11)(R9*2), R12
	ADDQ R9, R12
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	MOVQ qt+16(FP), SI
	MOVQ d+40(FP), AX
	TESTQ AX, AX
	JLE qk2store

qk2t:
	VMOVUPS (SI), Z16
	VMOVUPS 64(SI), Z17
	VBROADCASTSS (R10), Z18
	VBROADCASTSS (R10)(R9*1), Z19
	VBROADCASTSS (R10)(R9*2), Z20
	VBROADCASTSS (R11), Z21
	VBROADCASTSS (R10)(R9*4), Z22
	VBROADCASTSS (R11)(R9*2), Z23
	VBROADCASTSS (R12), Z24
	VBROADCASTSS (R11)(R9*4), Z25
	VFMADD231PS Z16, Z18, Z0
	VFMADD231PS Z17, Z18, Z1
	VFMADD231PS Z16, Z19, Z2
	VFMADD231PS Z17, Z19, Z3
	VFMADD231PS Z16, Z20, Z4
	VFMADD231PS Z17, Z20, Z5
	VFMADD231PS Z16, Z21, Z6
	VFMADD231PS Z17, Z21, Z7
	VFMADD231PS Z16, Z22, Z8
	VFMADD231PS Z17, Z22, Z9
	VFMADD231PS Z16, Z23, Z10
	VFMADD231PS Z17, Z23, Z11
	VFMADD231PS Z16, Z24, Z12
	VFMADD231PS Z17, Z24, Z13
	VFMADD231PS Z16, Z25, Z14
	VFMADD231PS Z17, Z25, Z15
	ADDQ $4, R10
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ DX, SI
	DECQ AX
	JNZ qk2t

qk2store:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z10, (DI)
	VMOVUPS Z11, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z12, (DI)
	VMOVUPS Z13, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z14, (DI)
	VMOVUPS Z15, 64(DI)
	ADDQ DX, DI
	LEAQ (R8)(R9*8), R8
	SUBQ $8, CX
	JG qk2block
	JMP qkdone

qk1block:
	MOVQ R8, R10
	LEAQ (R8)(R9*2), R11
	ADDQ R9, R11
	LEAQ (R11)(R9*2), R12
	ADDQ R9, R12
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	MOVQ qt+16(FP), SI
	MOVQ d+40(FP), AX
	TESTQ AX, AX
	JLE qk1store

qk1t:
	VMOVUPS (SI), Z16
	VFMADD231PS.BCST (R10), Z16, Z0
	VFMADD231PS.BCST (R10)(R9*1), Z16, Z1
	VFMADD231PS.BCST (R10)(R9*2), Z16, Z2
	VFMADD231PS.BCST (R11), Z16, Z3
	VFMADD231PS.BCST (R10)(R9*4), Z16, Z4
	VFMADD231PS.BCST (R11)(R9*2), Z16, Z5
	VFMADD231PS.BCST (R12), Z16, Z6
	VFMADD231PS.BCST (R11)(R9*4), Z16, Z7
	ADDQ $4, R10
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ DX, SI
	DECQ AX
	JNZ qk1t

qk1store:
	VMOVUPS Z0, (DI)
	ADDQ DX, DI
	VMOVUPS Z1, (DI)
	ADDQ DX, DI
	VMOVUPS Z2, (DI)
	ADDQ DX, DI
	VMOVUPS Z3, (DI)
	ADDQ DX, DI
	VMOVUPS Z4, (DI)
	ADDQ DX, DI
	VMOVUPS Z5, (DI)
	ADDQ DX, DI
	VMOVUPS Z6, (DI)
	ADDQ DX, DI
	VMOVUPS Z7, (DI)
	ADDQ DX, DI
	LEAQ (R8)(R9*8), R8
	SUBQ $8, CX
	JG qk1block

qkdone:
	VZEROUPPER
	RET

// func softmaxTileAVX512(st *float32, rs int, m, l, alpha *float32)
// The online-softmax step of 16 row lanes over the 64 keys of a tile:
//     mn = max(m, max_j st[j*rs+l]); z = mn, or 0 when mn = -Inf (a row with no key yet)
//     st[j*rs+l] = exp(st[j*rs+l] - z); alpha = exp(m - z); l = l*alpha + sum; m = mn
// where sum adds the 64 probabilities in the fixed tree of SUMTREE below. Masked scores
// are -Inf and become exactly 0, which leaves the sum unchanged. When the new l is NaN
// (a NaN score), m is set to NaN too.
//
// The tree: u[i] = (p[i] + p[16+i]) + (p[32+i] + p[48+i]) for i < 16, then halving:
// u[i] + u[i+8], then i and i+4, i and i+2, i and i+1 — the same tree as a 64-key row
// summed as four 16-lane vectors added pairwise and reduced by HSUM.
TEXT ·softmaxTileAVX512(SB), NOSPLIT, $0-40
	MOVQ st+0(FP), DI
	MOVQ rs+8(FP), DX
	SHLQ $2, DX
	MOVQ m+16(FP), R8
	MOVQ l+24(FP), R9
	MOVQ alpha+32(FP), R10
	EXPCONSTS
	BCAST(48, Z6)
	VMOVAPS Z6, Z0
	VMOVAPS Z6, Z1
	MOVQ DI, SI
	MOVQ $32, AX

	// Maxima in two independent chains (the order of max does not matter).
smmax:
	VMAXPS (SI), Z0, Z0
	VMAXPS (SI)(DX*1), Z1, Z1
	LEAQ (SI)(DX*2), SI
	DECQ AX
	JNZ smmax

	VMAXPS Z1, Z0, Z0
	VMOVUPS (R8), Z4
	VMAXPS Z0, Z4, Z5
	VMOVAPS Z5, Z7
	VCMPPS $0, Z6, Z5, K1
	VXORPS Z8, Z8, Z8
	VMOVAPS Z8, K1, Z5
	VSUBPS Z5, Z4, Z9
	EXP(Z9, Z10, Z11)
	VMOVUPS Z9, (R10)

	// Probabilities, and the tree: step i (0..7) handles keys i, 16+i, 32+i, 48+i and
	// the same plus 8, leaving u[i] + u[i+8] in Z(12+i). R11 = 16 rows in bytes.
	MOVQ DX, R11
	SHLQ $4, R11
	MOVQ DI, SI
	LEAQ (SI)(R11*2), R12
	WTREE(Z12)
	WTREE(Z13)
	WTREE(Z14)
	WTREE(Z15)
	WTREE(Z16)
	WTREE(Z17)
	WTREE(Z18)
	WTREE(Z19)

	VADDPS Z16, Z12, Z12
	VADDPS Z17, Z13, Z13
	VADDPS Z18, Z14, Z14
	VADDPS Z19, Z15, Z15
	VADDPS Z14, Z12, Z12
	VADDPS Z15, Z13, Z13
	VADDPS Z13, Z12, Z12

	VMULPS (R9), Z9, Z14
	VADDPS Z12, Z14, Z14
	VMOVUPS Z14, (R9)

	// A NaN score may be dropped by VMAXPS but always reaches the sum: a row whose sum is
	// NaN gets m = NaN, so it is never mistaken for a row without keys.
	VCMPPS $3, Z14, Z14, K2
	VMOVAPS Z14, K2, Z7
	VMOVUPS Z7, (R8)
	VZEROUPPER
	RET

// func pvTileAVX512(ot *float32, rs int, pt *float32, v *float32, vs int, nkeys int, dv int, alpha *float32, nv int)
// for c < dv (a multiple of 16), l < 16*nv (nv is 1 or 2):
//     o = ot[c*rs+l] * alpha[l]; for j < nkeys { o = fma(pt[j*rs+l], v[j*vs+c], o) }
//     ot[c*rs+l] = o
// The outputs of 8 columns (two vectors) or 16 columns (one vector) stay in registers
// across the whole j loop; each value v[j*vs+c] is broadcast once for both vectors.
TEXT ·pvTileAVX512(SB), NOSPLIT, $0-72
	MOVQ ot+0(FP), DI
	MOVQ rs+8(FP), DX
	SHLQ $2, DX
	MOVQ v+24(FP), R8
	MOVQ vs+32(FP), R9
	SHLQ $2, R9
	MOVQ dv+48(FP), BX
	MOVQ alpha+56(FP), AX
	VMOVUPS (AX), Z17
	VMOVUPS 64(AX), Z18
	TESTQ BX, BX
	JLE pvdone
	CMPQ nv+64(FP), $2
	JLT pv1block

pv2block:
	MOVQ DI, R10
	VMULPS (R10), Z17, Z0
	VMULPS 64(R10), Z18, Z1
	ADDQ DX, R10
	VMULPS (R10), Z17, Z2
	VMULPS 64(R10), Z18, Z3
	ADDQ DX, R10
	VMULPS (R10), Z17, Z4
	VMULPS 64(R10), Z18, Z5
	ADDQ DX, R10
	VMULPS (R10), Z17, Z6
	VMULPS 64(R10), Z18, Z7
	ADDQ DX, R10
	VMULPS (R10), Z17, Z8
	VMULPS 64(R10), Z18, Z9
	ADDQ DX, R10
	VMULPS (R10), Z17, Z10
	VMULPS 64(R10), Z18, Z11
	ADDQ DX, R10
	VMULPS (R10), Z17, Z12
	VMULPS 64(R10), Z18, Z13
	ADDQ DX, R10
	VMULPS (R10), Z17, Z14
	VMULPS 64(R10), Z18, Z15
	MOVQ pt+16(FP), SI
	MOVQ R8, R11
	MOVQ nkeys+40(FP), CX
	TESTQ CX, CX
	JLE pv2store

pv2j:
	VMOVUPS (SI), Z16
	VMOVUPS 64(SI), Z19
	VBROADCASTSS 0(R11), Z20
	VBROADCASTSS 4(R11), Z21
	VBROADCASTSS 8(R11), Z22
	VBROADCASTSS 12(R11), Z23
	VBROADCASTSS 16(R11), Z24
	VBROADCASTSS 20(R11), Z25
	VBROADCASTSS 24(R11), Z26
	VBROADCASTSS 28(R11), Z27
	VFMADD231PS Z16, Z20, Z0
	VFMADD231PS Z19, Z20, Z1
	VFMADD231PS Z16, Z21, Z2
	VFMADD231PS Z19, Z21, Z3
	VFMADD231PS Z16, Z22, Z4
	VFMADD231PS Z19, Z22, Z5
	VFMADD231PS Z16, Z23, Z6
	VFMADD231PS Z19, Z23, Z7
	VFMADD231PS Z16, Z24, Z8
	VFMADD231PS Z19, Z24, Z9
	VFMADD231PS Z16, Z25, Z10
	VFMADD231PS Z19, Z25, Z11
	VFMADD231PS Z16, Z26, Z12
	VFMADD231PS Z19, Z26, Z13
	VFMADD231PS Z16, Z27, Z14
	VFMADD231PS Z19, Z27, Z15
	ADDQ DX, SI
	ADDQ R9, R11
	DECQ CX
	JNZ pv2j

pv2store:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z10, (DI)
	VMOVUPS Z11, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z12, (DI)
	VMOVUPS Z13, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z14, (DI)
	VMOVUPS Z15, 64(DI)
	ADDQ DX, DI
	ADDQ $32, R8
	SUBQ $8, BX
	JG pv2block
	JMP pvdone

pv1block:
	MOVQ DI, R10
	VMULPS (R10), Z17, Z0
	ADDQ DX, R10
	VMULPS (R10), Z17, Z1
	ADDQ DX, R10
	VMULPS (R10), Z17, Z2
	ADDQ DX, R10
	VMULPS (R10), Z17, Z3
	ADDQ DX, R10
	VMULPS (R10), Z17, Z4
	ADDQ DX, R10
	VMULPS (R10), Z17, Z5
	ADDQ DX, R10
	VMULPS (R10), Z17, Z6
	ADDQ DX, R10
	VMULPS (R10), Z17, Z7
	ADDQ DX, R10
	VMULPS (R10), Z17, Z8
	ADDQ DX, R10
	VMULPS (R10), Z17, Z9
	ADDQ DX, R10
	VMULPS (R10), Z17, Z10
	ADDQ DX, R10
	VMULPS (R10), Z17, Z11
	ADDQ DX, R10
	VMULPS (R10), Z17, Z12
	ADDQ DX, R10
	VMULPS (R10), Z17, Z13
	ADDQ DX, R10
	VMULPS (R10), Z17, Z14
	ADDQ DX, R10
	VMULPS (R10), Z17, Z15
	MOVQ pt+16(FP), SI
	MOVQ R8, R11
	MOVQ nkeys+40(FP), CX
	TESTQ CX, CX
	JLE pv1store

pv1j:
	VMOVUPS (SI), Z16
	VFMADD231PS.BCST 0(R11), Z16, Z0
	VFMADD231PS.BCST 4(R11), Z16, Z1
	VFMADD231PS.BCST 8(R11), Z16, Z2
	VFMADD231PS.BCST 12(R11), Z16, Z3
	VFMADD231PS.BCST 16(R11), Z16, Z4
	VFMADD231PS.BCST 20(R11), Z16, Z5
	VFMADD231PS.BCST 24(R11), Z16, Z6
	VFMADD231PS.BCST 28(R11), Z16, Z7
	VFMADD231PS.BCST 32(R11), Z16, Z8
	VFMADD231PS.BCST 36(R11), Z16, Z9
	VFMADD231PS.BCST 40(R11), Z16, Z10
	VFMADD231PS.BCST 44(R11), Z16, Z11
	VFMADD231PS.BCST 48(R11), Z16, Z12
	VFMADD231PS.BCST 52(R11), Z16, Z13
	VFMADD231PS.BCST 56(R11), Z16, Z14
	VFMADD231PS.BCST 60(R11), Z16, Z15
	ADDQ DX, SI
	ADDQ R9, R11
	DECQ CX
	JNZ pv1j

pv1store:
	VMOVUPS Z0, (DI)
	ADDQ DX, DI
	VMOVUPS Z1, (DI)
	ADDQ DX, DI
	VMOVUPS Z2, (DI)
	ADDQ DX, DI
	VMOVUPS Z3, (DI)
	ADDQ DX, DI
	VMOVUPS Z4, (DI)
	ADDQ DX, DI
	VMOVUPS Z5, (DI)
	ADDQ DX, DI
	VMOVUPS Z6, (DI)
	ADDQ DX, DI
	VMOVUPS Z7, (DI)
	ADDQ DX, DI
	VMOVUPS Z8, (DI)
	ADDQ DX, DI
	VMOVUPS Z9, (DI)
	ADDQ DX, DI
	VMOVUPS Z10, (DI)
	ADDQ DX, DI
	VMOVUPS Z11, (DI)
	ADDQ DX, DI
	VMOVUPS Z12, (DI)
	ADDQ DX, DI
	VMOVUPS Z13, (DI)
	ADDQ DX, DI
	VMOVUPS Z14, (DI)
	ADDQ DX, DI
	VMOVUPS Z15, (DI)
	ADDQ DX, DI
	ADDQ $64, R8
	SUBQ $16, BX
	JG pv1block

pvdone:
	VZEROUPPER
	RET

// Row kernels of the tile path for items of fewer than 16 rows (decode): the same scores,
// probabilities and sums as the transposed kernels above, bit for bit, with the keys in
// the vector lanes instead of the rows.

// TRANSPOSE16 transposes the 16x16 block held in Z0..Z15 (row i in Zi) into Z0..Z15
// (column i in Zi), through Z16..Z31.
#define TRANSPOSE16 \
	VUNPCKLPS Z1, Z0, Z16; \
	VUNPCKHPS Z1, Z0, Z17; \
	VUNPCKLPS Z3, Z2, Z18; \
	VUNPCKHPS Z3, Z2, Z19; \
	VUNPCKLPS Z5, Z4, Z20; \
	VUNPCKHPS Z5, Z4, Z21; \
	VUNPCKLPS Z7, Z6, Z22; \
	VUNPCKHPS Z7, Z6, Z23; \
	VUNPCKLPS Z9, Z8, Z24; \
	VUNPCKHPS Z9, Z8, Z25; \
	VUNPCKLPS Z11, Z10, Z26; \
	VUNPCKHPS Z11, Z10, Z27; \
	VUNPCKLPS Z13, Z12, Z28; \
	VUNPCKHPS Z13, Z12, Z29; \
	VUNPCKLPS Z15, Z14, Z30; \
	VUNPCKHPS Z15, Z14, Z31; \
	VSHUFPS $0x44, Z18, Z16, Z0; \
	VSHUFPS $0xEE, Z18, Z16, Z1; \
	VSHUFPS $0x44, Z19, Z17, Z2; \
	VSHUFPS $0xEE, Z19, Z17, Z3; \
	VSHUFPS $0x44, Z22, Z20, Z4; \
	VSHUFPS $0xEE, Z22, Z20, Z5; \
	VSHUFPS $0x44, Z23, Z21, Z6; \
	VSHUFPS $0xEE, Z23, Z21, Z7; \
	VSHUFPS $0x44, Z26, Z24, Z8; \
	VSHUFPS $0xEE, Z26, Z24, Z9; \
	VSHUFPS $0x44, Z27, Z25, Z10; \
	VSHUFPS $0xEE, Z27, Z25, Z11; \
	VSHUFPS $0x44, Z30, Z28, Z12; \
	VSHUFPS $0xEE, Z30, Z28, Z13; \
	VSHUFPS $0x44, Z31, Z29, Z14; \
	VSHUFPS $0xEE, Z31, Z29, Z15; \
	VSHUFF32X4 $0x88, Z4, Z0, Z16; \
	VSHUFF32X4 $0xDD, Z4, Z0, Z17; \
	VSHUFF32X4 $0x88, Z5, Z1, Z18; \
	VSHUFF32X4 $0xDD, Z5, Z1, Z19; \
	VSHUFF32X4 $0x88, Z6, Z2, Z20; \
	VSHUFF32X4 $0xDD, Z6, Z2, Z21; \
	VSHUFF32X4 $0x88, Z7, Z3, Z22; \
	VSHUFF32X4 $0xDD, Z7, Z3, Z23; \
	VSHUFF32X4 $0x88, Z12, Z8, Z24; \
	VSHUFF32X4 $0xDD, Z12, Z8, Z25; \
	VSHUFF32X4 $0x88, Z13, Z9, Z26; \
	VSHUFF32X4 $0xDD, Z13, Z9, Z27; \
	VSHUFF32X4 $0x88, Z14, Z10, Z28; \
	VSHUFF32X4 $0xDD, Z14, Z10, Z29; \
	VSHUFF32X4 $0x88, Z15, Z11, Z30; \
	VSHUFF32X4 $0xDD, Z15, Z11, Z31; \
	VSHUFF32X4 $0x88, Z24, Z16, Z0; \
	VSHUFF32X4 $0xDD, Z24, Z16, Z8; \
	VSHUFF32X4 $0x88, Z25, Z17, Z4; \
	VSHUFF32X4 $0xDD, Z25, Z17, Z12; \
	VSHUFF32X4 $0x88, Z26, Z18, Z1; \
	VSHUFF32X4 $0xDD, Z26, Z18, Z9; \
	VSHUFF32X4 $0x88, Z27, Z19, Z5; \
	VSHUFF32X4 $0xDD, Z27, Z19, Z13; \
	VSHUFF32X4 $0x88, Z28, Z20, Z2; \
	VSHUFF32X4 $0xDD, Z28, Z20, Z10; \
	VSHUFF32X4 $0x88, Z29, Z21, Z6; \
	VSHUFF32X4 $0xDD, Z29, Z21, Z14; \
	VSHUFF32X4 $0x88, Z30, Z22, Z3; \
	VSHUFF32X4 $0xDD, Z30, Z22, Z11; \
	VSHUFF32X4 $0x88, Z31, Z23, Z7; \
	VSHUFF32X4 $0xDD, Z31, Z23, Z15

// func transposeTileAVX512(kt *float32, k *float32, ks int, dp int, nkeys int)
// kt[t*64+j] = k[j*ks+t] for j < nkeys and t < dp (both multiples of 16).
TEXT ·transposeTileAVX512(SB), NOSPLIT, $0-40
	MOVQ k+8(FP), R8
	MOVQ ks+16(FP), R9
	SHLQ $2, R9
	MOVQ nkeys+32(FP), CX
	MOVQ kt+0(FP), R12
	TESTQ CX, CX
	JLE trdone

trkeys:
	MOVQ dp+24(FP), BX
	MOVQ R8, SI
	MOVQ R12, DI

trcols:
	MOVQ SI, R10
	VMOVUPS (R10), Z0
	VMOVUPS (R10)(R9*1), Z1
	VMOVUPS (R10)(R9*2), Z2
	LEAQ (R10)(R9*2), R10
	ADDQ R9, R10
	VMOVUPS (R10), Z3
	VMOVUPS (R10)(R9*1), Z4
	VMOVUPS (R10)(R9*2), Z5
	LEAQ (R10)(R9*2), R10
	ADDQ R9, R10
	VMOVUPS (R10), Z6
	VMOVUPS (R10)(R9*1), Z7
	VMOVUPS (R10)(R9*2), Z8
	LEAQ (R10)(R9*2), R10
	ADDQ R9, R10
	VMOVUPS (R10), Z9
	VMOVUPS (R10)(R9*1), Z10
	VMOVUPS (R10)(R9*2), Z11
	LEAQ (R10)(R9*2), R10
	ADDQ R9, R10
	VMOVUPS (R10), Z12
	VMOVUPS (R10)(R9*1), Z13
	VMOVUPS (R10)(R9*2), Z14
	LEAQ (R10)(R9*2), R10
	ADDQ R9, R10
	VMOVUPS (R10), Z15
	TRANSPOSE16
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 256(DI)
	VMOVUPS Z2, 512(DI)
	VMOVUPS Z3, 768(DI)
	VMOVUPS Z4, 1024(DI)
	VMOVUPS Z5, 1280(DI)
	VMOVUPS Z6, 1536(DI)
	VMOVUPS Z7, 1792(DI)
	VMOVUPS Z8, 2048(DI)
	VMOVUPS Z9, 2304(DI)
	VMOVUPS Z10, 2560(DI)
	VMOVUPS Z11, 2816(DI)
	VMOVUPS Z12, 3072(DI)
	VMOVUPS Z13, 3328(DI)
	VMOVUPS Z14, 3584(DI)
	VMOVUPS Z15, 3840(DI)
	ADDQ $64, SI
	ADDQ $4096, DI
	SUBQ $16, BX
	JG trcols

	MOVQ R9, AX
	SHLQ $4, AX
	ADDQ AX, R8
	ADDQ $64, R12
	SUBQ $16, CX
	JG trkeys

trdone:
	VZEROUPPER
	RET

// Half-precision keys transposed as they are widened: transposeTileAVX512's output from
// rows of float16 or bfloat16, without a float32 copy of the rows first.

#define CONV_F16(YR, ZR) VCVTPH2PS YR, ZR
#define CONV_BF16(YR, ZR) VPMOVZXWD YR, ZR; VPSLLD $16, ZR, ZR

// HROW(CONV, ADDR, YR, ZR) loads the 16 halves of one row at ADDR (lanes outside K2
// zero) and widens them into ZR.
#define HROW(CONV, ADDR, YR, ZR) VMOVDQU16.Z ADDR, K2, YR; CONV(YR, ZR)

// HROW3(CONV, YA, ZA, YB, ZB, YC, ZC) loads rows R10, R10+R9 and R10+2*R9 into ZA, ZB
// and ZC through HROW, and moves R10 three rows on.
#define HROW3(CONV, YA, ZA, YB, ZB, YC, ZC) \
	HROW(CONV, (R10), YA, ZA); \
	HROW(CONV, (R10)(R9*1), YB, ZB); \
	HROW(CONV, (R10)(R9*2), YC, ZC); \
	LEAQ  (R10)(R9*2), R10; \
	ADDQ  R9, R10

// TRH_BODY(CONV) is the body of the two kernels below, after TRH_ARGS.
#define TRH_BODY(CONV) \
	MOVL  $0xffff, R14; \
	TESTQ CX, CX; \
	JLE   trhdone; \
trhkeys: \
	MOVQ  DX, BX; \
	MOVQ  R8, SI; \
	MOVQ  R12, DI; \
trhcols: \
	KMOVW R14, K2; \
	CMPQ  BX, $16; \
	JGE   trhload; \
	KMOVW R13, K2; \
trhload: \
	MOVQ  SI, R10; \
	HROW3(CONV, Y0, Z0, Y1, Z1, Y2, Z2); \
	HROW3(CONV, Y3, Z3, Y4, Z4, Y5, Z5); \
	HROW3(CONV, Y6, Z6, Y7, Z7, Y8, Z8); \
	HROW3(CONV, Y9, Z9, Y10, Z10, Y11, Z11); \
	HROW3(CONV, Y12, Z12, Y13, Z13, Y14, Z14); \
	HROW(CONV, (R10), Y15, Z15); \
	TRANSPOSE16; \
	VMOVUPS Z0, 0(DI); \
	VMOVUPS Z1, 256(DI); \
	VMOVUPS Z2, 512(DI); \
	VMOVUPS Z3, 768(DI); \
	VMOVUPS Z4, 1024(DI); \
	VMOVUPS Z5, 1280(DI); \
	VMOVUPS Z6, 1536(DI); \
	VMOVUPS Z7, 1792(DI); \
	VMOVUPS Z8, 2048(DI); \
	VMOVUPS Z9, 2304(DI); \
	VMOVUPS Z10, 2560(DI); \
	VMOVUPS Z11, 2816(DI); \
	VMOVUPS Z12, 3072(DI); \
	VMOVUPS Z13, 3328(DI); \
	VMOVUPS Z14, 3584(DI); \
	VMOVUPS Z15, 3840(DI); \
	ADDQ  $32, SI; \
	ADDQ  $4096, DI; \
	SUBQ  $16, BX; \
	JG    trhcols; \
	MOVQ  R9, AX; \
	SHLQ  $4, AX; \
	ADDQ  AX, R8; \
	ADDQ  $64, R12; \
	SUBQ  $16, CX; \
	JG    trhkeys; \
trhdone: \
	VZEROUPPER; \
	RET

// func transposeF16TileAVX512(kt *float32, k *uint16, ksBytes, d, nkeys int, tail uint16)
// kt[t*64+j] = F16ToF32(k[j*ks+t]) for j < nkeys (a multiple of 16) and t < d, and 0 for
// d <= t < dp (d rounded up to 16); ks = ksBytes/2. tail masks the columns of the last
// block of 16 (all 16 when d is a multiple of 16). Only the d halves of each row are read.
TEXT ·transposeF16TileAVX512(SB), NOSPLIT, $0-42
	TRH_ARGS
	TRH_BODY(CONV_F16)

// func transposeBF16TileAVX512(kt *float32, k *uint16, ksBytes, d, nkeys int, tail uint16)
// transposeF16TileAVX512 for bfloat16 rows.
TEXT ·transposeBF16TileAVX512(SB), NOSPLIT, $0-42
	TRH_ARGS
	TRH_BODY(CONV_BF16)

// BIAS_ADD(COL) adds the bias column in COL to the visible lanes (K1) of the key at (DI)
// and moves DI to the next key (R9 bytes on).
#define BIAS_ADD(COL) \
	VMOVUPS.Z (DI), K1, Z16; \
	VADDPS    COL, Z16, Z16; \
	VMOVUPS   Z16, K1, (DI); \
	ADDQ      R9, DI

// func biasTileAVX512(st *float32, ldBytes int, bt *float32, nk, rows int)
// st[t*ld+r] += bt[r*64+t] for t < nk (a multiple of 16) and r < rows: a row-major tile
// of bias values added to a transposed score tile (keys ldBytes apart), 16 rows by 16
// keys at a time through TRANSPOSE16. bt holds rows rounded up to 16 (the extra rows
// are read, not used); lanes at and past rows are neither read nor written in st.
TEXT ·biasTileAVX512(SB), NOSPLIT, $0-40
	MOVQ ldBytes+8(FP), R9
	MOVQ rows+32(FP), R11
	XORQ R12, R12 // r0

brows:
	MOVQ  R11, CX
	SUBQ  R12, CX
	MOVL  $0xffff, AX
	CMPQ  CX, $16
	JGE   bmask
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX

bmask:
	KMOVW AX, K1
	MOVQ  bt+16(FP), SI
	MOVQ  R12, AX
	SHLQ  $8, AX        // r0 rows of 64 floats
	ADDQ  AX, SI        // bt + r0*64
	MOVQ  st+0(FP), DI
	LEAQ  (DI)(R12*4), DI // st + r0
	MOVQ  nk+24(FP), BX

bkeys:
	MOVQ SI, R10
	VMOVUPS (R10), Z0
	VMOVUPS 256(R10), Z1
	VMOVUPS 512(R10), Z2
	VMOVUPS 768(R10), Z3
	VMOVUPS 1024(R10), Z4
	VMOVUPS 1280(R10), Z5
	VMOVUPS 1536(R10), Z6
	VMOVUPS 1792(R10), Z7
	VMOVUPS 2048(R10), Z8
	VMOVUPS 2304(R10), Z9
	VMOVUPS 2560(R10), Z10
	VMOVUPS 2816(R10), Z11
	VMOVUPS 3072(R10), Z12
	VMOVUPS 3328(R10), Z13
	VMOVUPS 3584(R10), Z14
	VMOVUPS 3840(R10), Z15
	TRANSPOSE16
	BIAS_ADD(Z0)
	BIAS_ADD(Z1)
	BIAS_ADD(Z2)
	BIAS_ADD(Z3)
	BIAS_ADD(Z4)
	BIAS_ADD(Z5)
	BIAS_ADD(Z6)
	BIAS_ADD(Z7)
	BIAS_ADD(Z8)
	BIAS_ADD(Z9)
	BIAS_ADD(Z10)
	BIAS_ADD(Z11)
	BIAS_ADD(Z12)
	BIAS_ADD(Z13)
	BIAS_ADD(Z14)
	BIAS_ADD(Z15)
	ADDQ $64, SI // the next 16 keys of the rows
	SUBQ $16, BX
	JG   bkeys

	ADDQ $16, R12
	CMPQ R12, R11
	JLT  brows
	VZEROUPPER
	RET

// func qkRowsAVX512(s *float32, qt *float32, kt *float32, d int, nrows int)
// for r < nrows (at most 16), j < 64:
//     s[r*64+j] = sum over t < d of kt[t*64+j]*qt[t*16+r], one FMA chain in increasing t
// (the scores of qkTileAVX512 with the keys in the lanes). Four rows per pass, then the
// remaining rows one at a time.
TEXT ·qkRowsAVX512(SB), NOSPLIT, $0-40
	MOVQ s+0(FP), DI
	MOVQ qt+8(FP), R8
	MOVQ nrows+32(FP), CX

qrpass:
	CMPQ CX, $4
	JLT qrone
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	MOVQ kt+16(FP), SI
	MOVQ R8, R10
	MOVQ d+24(FP), AX
	TESTQ AX, AX
	JLE qrstore

qrt:
	VMOVUPS 0(SI), Z16
	VMOVUPS 64(SI), Z17
	VMOVUPS 128(SI), Z18
	VMOVUPS 192(SI), Z19
	VBROADCASTSS 0(R10), Z20
	VBROADCASTSS 4(R10), Z21
	VBROADCASTSS 8(R10), Z22
	VBROADCASTSS 12(R10), Z23
	VFMADD231PS Z16, Z20, Z0
	VFMADD231PS Z17, Z20, Z1
	VFMADD231PS Z18, Z20, Z2
	VFMADD231PS Z19, Z20, Z3
	VFMADD231PS Z16, Z21, Z4
	VFMADD231PS Z17, Z21, Z5
	VFMADD231PS Z18, Z21, Z6
	VFMADD231PS Z19, Z21, Z7
	VFMADD231PS Z16, Z22, Z8
	VFMADD231PS Z17, Z22, Z9
	VFMADD231PS Z18, Z22, Z10
	VFMADD231PS Z19, Z22, Z11
	VFMADD231PS Z16, Z23, Z12
	VFMADD231PS Z17, Z23, Z13
	VFMADD231PS Z18, Z23, Z14
	VFMADD231PS Z19, Z23, Z15
	ADDQ $256, SI
	ADDQ $64, R10
	DECQ AX
	JNZ qrt

qrstore:
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VMOVUPS Z8, 512(DI)
	VMOVUPS Z9, 576(DI)
	VMOVUPS Z10, 640(DI)
	VMOVUPS Z11, 704(DI)
	VMOVUPS Z12, 768(DI)
	VMOVUPS Z13, 832(DI)
	VMOVUPS Z14, 896(DI)
	VMOVUPS Z15, 960(DI)
	ADDQ $1024, DI
	ADDQ $16, R8
	SUBQ $4, CX
	JMP qrpass

qrone:
	TESTQ CX, CX
	JLE qrdone
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	MOVQ kt+16(FP), SI
	MOVQ R8, R10
	MOVQ d+24(FP), AX
	TESTQ AX, AX
	JLE qronestore

qronet:
	VBROADCASTSS 0(R10), Z20
	VFMADD231PS 0(SI), Z20, Z0
	VFMADD231PS 64(SI), Z20, Z1
	VFMADD231PS 128(SI), Z20, Z2
	VFMADD231PS 192(SI), Z20, Z3
	ADDQ $256, SI
	ADDQ $64, R10
	DECQ AX
	JNZ qronet

qronestore:
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, DI
	ADDQ $4, R8
	DECQ CX
	JMP qrone

qrdone:
	VZEROUPPER
	RET

// func softmaxRowAVX512(s *float32, m, l, alpha *float32)
// softmaxTileAVX512 for one row whose 64 scores s[j] are contiguous: the same maximum,
// exponentials and factors, and the same sum tree: the four 16-key vectors added as
// (0+1)+(2+3), then reduced by halving (lanes l and l+8, l+4, l+2, l+1).
TEXT ·softmaxRowAVX512(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ m+8(FP), R8
	MOVQ l+16(FP), R9
	MOVQ alpha+24(FP), R10
	EXPCONSTS
	BCAST(48, Z6)
	VMAXPS (DI), Z6, Z0
	VMAXPS 64(DI), Z6, Z1
	VMAXPS 128(DI), Z0, Z0
	VMAXPS 192(DI), Z1, Z1
	VMAXPS Z1, Z0, Z0

	// The largest lane of Z0, into every lane.
	VSHUFF32X4 $0x4E, Z0, Z0, Z1
	VMAXPS Z1, Z0, Z0
	VSHUFF32X4 $0xB1, Z0, Z0, Z1
	VMAXPS Z1, Z0, Z0
	VSHUFPS $0x4E, Z0, Z0, Z1
	VMAXPS Z1, Z0, Z0
	VSHUFPS $0xB1, Z0, Z0, Z1
	VMAXPS Z1, Z0, Z0
	VBROADCASTSS (R8), Z4
	VMAXPS Z0, Z4, Z5
	VMOVAPS Z5, Z7
	VCMPPS $0, Z6, Z5, K1
	VXORPS Z8, Z8, Z8
	VMOVAPS Z8, K1, Z5
	VSUBPS Z5, Z4, Z9
	EXP(Z9, Z10, Z11)
	VMOVSS X9, (R10)

	PROB(0(DI), Z0)
	PROB(64(DI), Z1)
	PROB(128(DI), Z2)
	PROB(192(DI), Z3)
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X12

	VMULSS (R9), X9, X14
	VADDSS X12, X14, X14
	VMOVSS X14, (R9)
	VCMPSS $3, X14, X14, K2
	VMOVAPS Z14, K2, Z7
	VMOVSS X7, (R8)
	VZEROUPPER
	RET

// func axpyRowsAVX512(dst []float32, ld int, a, x []float32)
// for j := range a { for d := range x { dst[j*ld+d] += a[j]*x[d] } }, one FMA per
// element; len(x) is a multiple of 16.
TEXT ·axpyRowsAVX512(SB), NOSPLIT, $0-80
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
	VBROADCASTSS (SI), Z16
	XORQ AX, AX

axcol:
	VMOVUPS (BX)(AX*1), Z0
	VFMADD213PS (DI)(AX*1), Z16, Z0
	VMOVUPS Z0, (DI)(AX*1)
	ADDQ $64, AX
	CMPQ AX, DX
	JLT axcol
	ADDQ $4, SI
	ADDQ R9, DI
	DECQ CX
	JNZ axrow

axdone:
	VZEROUPPER
	RET

// func axpyRows2AVX512(dst []float32, ld int, a1, x1, a2, x2 []float32)
// for j := range a1 { for d := range x1 { dst[j*ld+d] += a1[j]*x1[d]; dst[j*ld+d] += a2[j]*x2[d] } },
// one FMA per term in that order (the bits of axpyRows with a1, x1 then with a2, x2), each
// destination row loaded and stored once; len(a2) = len(a1), len(x2) = len(x1), a
// multiple of 16.
TEXT ·axpyRows2AVX512(SB), NOSPLIT, $0-128
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
	VBROADCASTSS (SI), Z16
	VBROADCASTSS (R10), Z17
	XORQ AX, AX

ax2col:
	VMOVUPS (DI)(AX*1), Z0
	VFMADD231PS (BX)(AX*1), Z16, Z0
	VFMADD231PS (R11)(AX*1), Z17, Z0
	VMOVUPS Z0, (DI)(AX*1)
	ADDQ $64, AX
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

// func mergeLanesAVX512(dst, src *float32, lanes, dv int, a, c *[16]float32, merged, taken uint16)
// For the 16 rows l of one vector of a transposed state (column d of row l at d*lanes+l):
//     rows in merged: dst = dst*a[l] + src*c[l]   (two products, then their sum, each rounded)
//     rows in taken:  dst = src
//     other rows: unchanged
// for every column d < dv (mergeRow on 16 rows at once, with its bits).
TEXT ·mergeLanesAVX512(SB), NOSPLIT, $0-52
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    lanes+16(FP), R8
	SHLQ    $2, R8
	MOVQ    dv+24(FP), CX
	MOVQ    a+32(FP), AX
	VMOVUPS (AX), Z30
	MOVQ    c+40(FP), AX
	VMOVUPS (AX), Z31
	KMOVW   merged+48(FP), K1
	KMOVW   taken+50(FP), K2
	TESTQ   CX, CX
	JLE     mldone

mlcol:
	VMOVUPS (DI), Z0
	VMOVUPS (SI), Z1
	VMULPS  Z30, Z0, Z2
	VMULPS  Z31, Z1, Z3
	VADDPS  Z3, Z2, K1, Z0
	VMOVAPS Z1, K2, Z0
	VMOVUPS Z0, (DI)
	ADDQ    R8, DI
	ADDQ    R8, SI
	DECQ    CX
	JNZ     mlcol

mldone:
	VZEROUPPER
	RET

// func scaleDivAVX512(o []float32, scale, l float32)
// for d := range o { o[d] = (o[d] * scale) / l }, each operation rounded (finish's
// normalization of an output row).
TEXT ·scaleDivAVX512(SB), NOSPLIT, $0-32
	MOVQ         o_base+0(FP), DI
	MOVQ         o_len+8(FP), CX
	VBROADCASTSS scale+24(FP), Z1
	VBROADCASTSS l+28(FP), Z2

sdloop:
	CMPQ    CX, $16
	JLT     sdtail
	VMULPS  (DI), Z1, Z0
	VDIVPS  Z2, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     sdloop

sdtail:
	TESTQ     CX, CX
	JLE       sddone
	MOVL      $1, AX
	SHLL      CX, AX
	DECL      AX
	KMOVW     AX, K1
	VMOVUPS.Z (DI), K1, Z0
	VMULPS    Z1, Z0, Z0
	VDIVPS    Z2, Z0, Z0
	VMOVUPS   Z0, K1, (DI)

sddone:
	VZEROUPPER
	RET

// func scoresHeadsAVX512(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)
// Scores of groups of 16 consecutive float32 key rows, rs bytes apart (rs = 4*d, d a
// multiple of 16), the groups gs bytes apart: lane l of a group holds row l and gets
// chain_l = sum over t < d of qh[t*16+l] * row element t, one FMA chain in increasing t
// (qkRowsAVX512's bits), stored at out[idx[l]]; each group's outputs start os elements
// after the previous group's. It asks for the line ahead bytes past each line of the
// group.
TEXT ·scoresHeadsAVX512(SB), NOSPLIT, $0-80
	SB_BODY(SB_F32A, SB_MASKS32, 16, 32, 48, 64)

// func scoresHeadsF16AVX512(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)
// scoresHeadsAVX512 for rows of float16 keys (rs = 2*d), widened as they are loaded.
TEXT ·scoresHeadsF16AVX512(SB), NOSPLIT, $0-80
	SB_BODY(SB_F16A, SB_MASKS16, 8, 16, 24, 32)

// func scoresHeadsBF16AVX512(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)
// scoresHeadsAVX512 for rows of bfloat16 keys (rs = 2*d), widened as they are loaded.
TEXT ·scoresHeadsBF16AVX512(SB), NOSPLIT, $0-80
	SB_BODY(SB_BF16A, SB_MASKS16, 8, 16, 24, 32)

// func scoresGroupsAVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)
// Scores of grouped-query decode, 4*rq query rows per KV head, for steps of four
// positions of float32 keys laid flat: position p at k + p*ps bytes, head h's row of d
// elements (a multiple of 4) rs = 4*d bytes after head h-1's, quads blocks of four heads
// (ps = 16*quads*d). Lane l = 4k+a of pass i of block b gets chain_l = sum over t < d of
// qg[((b*rq+i)*d+t)*16+l] * row element t of head 4b+k, one FMA chain in increasing t
// (qkRowsAVX512's bits), stored at out[idx[l] + b*qs + i*qrs + p] for the step's
// positions p (qs counts back the rq-1 steps of qrs). It asks for the line ahead bytes
// past each line of the keys it reads.
TEXT ·scoresGroupsAVX512(SB), NOSPLIT, $16-104
	SG_BODY(SB_F32A, SB_MASKS32, 16)

// func scoresGroupsF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)
// scoresGroupsAVX512 for float16 keys (rs = 2*d), widened as they are loaded.
TEXT ·scoresGroupsF16AVX512(SB), NOSPLIT, $16-104
	SG_BODY(SB_F16A, SB_MASKS16, 8)

// func scoresGroupsBF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)
// scoresGroupsAVX512 for bfloat16 keys (rs = 2*d), widened as they are loaded.
TEXT ·scoresGroupsBF16AVX512(SB), NOSPLIT, $16-104
	SG_BODY(SB_BF16A, SB_MASKS16, 8)

// func scoresGroupsPairedAVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)
// scoresGroupsAVX512 for an even rq, two quads of rows per pass (SGP_BODY): the same
// sums, with qs counting back rq-2 steps of qrs.
TEXT ·scoresGroupsPairedAVX512(SB), NOSPLIT, $24-104
	SGP_BODY(SB_F32A, SB_MASKS32, 16)

// func scoresGroupsPairedF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)
// scoresGroupsPairedAVX512 for float16 keys (rs = 2*d).
TEXT ·scoresGroupsPairedF16AVX512(SB), NOSPLIT, $24-104
	SGP_BODY(SB_F16A, SB_MASKS16, 8)

// func scoresGroupsPairedBF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)
// scoresGroupsPairedAVX512 for bfloat16 keys (rs = 2*d).
TEXT ·scoresGroupsPairedBF16AVX512(SB), NOSPLIT, $24-104
	SGP_BODY(SB_BF16A, SB_MASKS16, 8)

// func accumGroupsAVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)
// Grouped-query values, four output rows per head: for each headRow, output rows
// o + r*ldo and probability rows p + r*ldp (r < 4), and positions j < n of float32 values
// vs elements apart, o_r[c] += p_r[j] * v[j*vs+head+c] for c < dv (a multiple of 64), in
// increasing j, each output with accumAVX512's bits. It reads the heads of each step of
// positions in turn and asks for the line ahead bytes past each line it reads in
// address order.
TEXT ·accumGroupsAVX512(SB), NOSPLIT, $48-72
	AG_BODY(2, V4_F32, 256, 64, AG_PF32, SUMS4_PROB, SUMS4_LOAD, SUMS4_FMA, SUMS4_STORE)

// func accumGroupsF16AVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)
// accumGroupsAVX512 for float16 values, each widened as it is loaded.
TEXT ·accumGroupsF16AVX512(SB), NOSPLIT, $48-72
	AG_BODY(1, V4_F16, 128, 64, AG_PF16, SUMS4_PROB, SUMS4_LOAD, SUMS4_FMA, SUMS4_STORE)

// func accumGroupsBF16AVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)
// accumGroupsAVX512 for bfloat16 values.
TEXT ·accumGroupsBF16AVX512(SB), NOSPLIT, $48-72
	AG_BODY(1, V4_BF16, 128, 64, AG_PF16, SUMS4_PROB, SUMS4_LOAD, SUMS4_FMA, SUMS4_STORE)

// func scoresPairsAVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)
// Scores of grouped-query decode, two query rows per KV head, for steps of two positions
// of float32 keys laid flat: position p at k + p*ps bytes, head h's row of d elements (a
// multiple of 4) rs = 4*d bytes after head h-1's, blocks of eight heads (ps =
// 32*blocks*d). Lane l = 2m+a of block b gets chain_l = sum over t < d of
// qg[(b*d+t)*16+l] * row element t of head 8b+m, one FMA chain in increasing t
// (qkRowsAVX512's bits), stored at out[idx[l] + b*qs + p] for the step's positions p. It
// asks for the line ahead bytes past each line of the keys it reads.
TEXT ·scoresPairsAVX512(SB), NOSPLIT, $8-88
	SP_BODY(SP_F32, 8, SG_PF32)

// func scoresPairsF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)
// scoresPairsAVX512 for float16 keys (rs = 2*d), widened as they are loaded.
TEXT ·scoresPairsF16AVX512(SB), NOSPLIT, $8-88
	SP_BODY(SP_F16, 4, SG_PF16)

// func scoresPairsBF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)
// scoresPairsAVX512 for bfloat16 keys.
TEXT ·scoresPairsBF16AVX512(SB), NOSPLIT, $8-88
	SP_BODY(SP_BF16, 4, SG_PF16)
