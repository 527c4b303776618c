//go:build !purego

#include "textflag.h"
#include "dpbf16_amd64.h"

// Kernels of the few-rows path (gemv.go). Every output element gets the micro-kernels'
// chain: c = fma(a[i][k], b[k][j], c) for k in order, starting from the value in c
// (the driver clears it to +0 first). Accumulators live in memory between K groups
// or tiles; inside one, up to 8 independent chains are interleaved.

// ---- Row-major B ---------------------------------------------------------------------
// Registers: R11 at B rows k..k+3 and R12 at rows k+4..k+7 (current column), R9 = ldb,
// R10 = 3*ldb, R13 = byte offset of the current column in the band, AX/BX the A and c
// rows, a[i][k..k+7] broadcast in 8..15, accumulators in 0..7.

// NFMA8Z(base, bc): accumulators Z0..Z7 (vectors v = 0..7 from the current column)
// += bc * the B row at base, vector v at base + 64*v.
#define NFMA8Z(base, bc) \
	VFMADD231PS 0 base, bc, Z0; \
	VFMADD231PS 64 base, bc, Z1; \
	VFMADD231PS 128 base, bc, Z2; \
	VFMADD231PS 192 base, bc, Z3; \
	VFMADD231PS 256 base, bc, Z4; \
	VFMADD231PS 320 base, bc, Z5; \
	VFMADD231PS 384 base, bc, Z6; \
	VFMADD231PS 448 base, bc, Z7

// func gemvN512(m, k int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, ldb uintptr, c unsafe.Pointer, ldc uintptr, nv int, mask int)
// Row-major B: b points at B[0][j0] (rows ldb bytes apart, unit column stride); the
// band is nv full vectors of 16 columns, then one partial vector of the columns set in
// mask (none when mask is 0). c row i (at c + i*ldc) holds the band's accumulators.
// In Go, with nc = 16*nv (+16 for the partial vector):
//
//	for k0 := 0; k0 < k; k0 += 8 {          // groups of 8 rows of B, then single rows
//		for i := 0; i < m; i++ {
//			for j := 0; j < nc; j++ {
//				for kk := k0; kk < min(k0+8, k); kk++ {
//					c[i*ldc+j] = fma(a[i*lda+kk], b[kk*ldb+j], c[i*ldc+j])
//				}
//			}
//		}
//	}
TEXT ·gemvN512(SB), NOSPLIT, $0-80
	MOVQ a+16(FP), SI
	MOVQ b+32(FP), R11
	MOVQ ldb+40(FP), R9
	MOVQ c+48(FP), DI
	LEAQ (R9)(R9*2), R10
	LEAQ (R11)(R9*4), R12
	MOVQ mask+72(FP), AX
	KMOVW AX, K1
	MOVQ k+8(FP), R8
	SHRQ $3, R8
	JZ   single
group:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ m+0(FP), CX
row:
	VBROADCASTSS 0(AX), Z8
	VBROADCASTSS 4(AX), Z9
	VBROADCASTSS 8(AX), Z10
	VBROADCASTSS 12(AX), Z11
	VBROADCASTSS 16(AX), Z12
	VBROADCASTSS 20(AX), Z13
	VBROADCASTSS 24(AX), Z14
	VBROADCASTSS 28(AX), Z15
	XORQ R13, R13
	MOVQ nv+64(FP), DX
	// While row i runs, AX prefetches B row k+8+i (the next group) along the band.
	MOVQ m+0(FP), AX
	SUBQ CX, AX
	IMULQ R9, AX
	ADDQ R12, AX
	LEAQ (AX)(R9*4), AX
vec8:
	CMPQ DX, $8
	JLT  vec1
	// Eight vectors: eight chains, interleaved.
	PREFETCHT0 0(AX)(R13*1)
	PREFETCHT0 64(AX)(R13*1)
	PREFETCHT0 128(AX)(R13*1)
	PREFETCHT0 192(AX)(R13*1)
	PREFETCHT0 256(AX)(R13*1)
	PREFETCHT0 320(AX)(R13*1)
	PREFETCHT0 384(AX)(R13*1)
	PREFETCHT0 448(AX)(R13*1)
	VMOVUPS 0(BX)(R13*1), Z0
	VMOVUPS 64(BX)(R13*1), Z1
	VMOVUPS 128(BX)(R13*1), Z2
	VMOVUPS 192(BX)(R13*1), Z3
	VMOVUPS 256(BX)(R13*1), Z4
	VMOVUPS 320(BX)(R13*1), Z5
	VMOVUPS 384(BX)(R13*1), Z6
	VMOVUPS 448(BX)(R13*1), Z7
	NFMA8Z((R11), Z8)
	NFMA8Z((R11)(R9*1), Z9)
	NFMA8Z((R11)(R9*2), Z10)
	NFMA8Z((R11)(R10*1), Z11)
	NFMA8Z((R12), Z12)
	NFMA8Z((R12)(R9*1), Z13)
	NFMA8Z((R12)(R9*2), Z14)
	NFMA8Z((R12)(R10*1), Z15)
	VMOVUPS Z0, 0(BX)(R13*1)
	VMOVUPS Z1, 64(BX)(R13*1)
	VMOVUPS Z2, 128(BX)(R13*1)
	VMOVUPS Z3, 192(BX)(R13*1)
	VMOVUPS Z4, 256(BX)(R13*1)
	VMOVUPS Z5, 320(BX)(R13*1)
	VMOVUPS Z6, 384(BX)(R13*1)
	VMOVUPS Z7, 448(BX)(R13*1)
	ADDQ $512, R13
	ADDQ $512, R11
	ADDQ $512, R12
	SUBQ $8, DX
	JMP  vec8
vec1:
	TESTQ DX, DX
	JZ   last
	VMOVUPS (BX)(R13*1), Z0
	VFMADD231PS (R11), Z8, Z0
	VFMADD231PS (R11)(R9*1), Z9, Z0
	VFMADD231PS (R11)(R9*2), Z10, Z0
	VFMADD231PS (R11)(R10*1), Z11, Z0
	VFMADD231PS (R12), Z12, Z0
	VFMADD231PS (R12)(R9*1), Z13, Z0
	VFMADD231PS (R12)(R9*2), Z14, Z0
	VFMADD231PS (R12)(R10*1), Z15, Z0
	VMOVUPS Z0, (BX)(R13*1)
	ADDQ $64, R13
	ADDQ $64, R11
	ADDQ $64, R12
	DECQ DX
	JMP  vec1
last:
	// The partial vector, if any: masked loads of B (columns past the end read as zero).
	CMPQ mask+72(FP), $0
	JEQ  rowend
	VMOVUPS (BX)(R13*1), Z0
	VMOVUPS.Z (R11), K1, Z1
	VFMADD231PS Z1, Z8, Z0
	VMOVUPS.Z (R11)(R9*1), K1, Z2
	VFMADD231PS Z2, Z9, Z0
	VMOVUPS.Z (R11)(R9*2), K1, Z3
	VFMADD231PS Z3, Z10, Z0
	VMOVUPS.Z (R11)(R10*1), K1, Z4
	VFMADD231PS Z4, Z11, Z0
	VMOVUPS.Z (R12), K1, Z1
	VFMADD231PS Z1, Z12, Z0
	VMOVUPS.Z (R12)(R9*1), K1, Z2
	VFMADD231PS Z2, Z13, Z0
	VMOVUPS.Z (R12)(R9*2), K1, Z3
	VFMADD231PS Z3, Z14, Z0
	VMOVUPS.Z (R12)(R10*1), K1, Z4
	VFMADD231PS Z4, Z15, Z0
	VMOVUPS Z0, (BX)(R13*1)
rowend:
	// Back to the band's first column for the next row.
	SUBQ R13, R11
	SUBQ R13, R12
	// AX = the next row of A: a + (m-CX+1)*lda.
	MOVQ m+0(FP), AX
	SUBQ CX, AX
	INCQ AX
	IMULQ lda+24(FP), AX
	ADDQ SI, AX
	ADDQ ldc+56(FP), BX
	DECQ CX
	JNZ  row
	LEAQ (R12)(R9*4), R11
	LEAQ (R11)(R9*4), R12
	ADDQ $32, SI
	DECQ R8
	JNZ  group
single:
	// The last k%8 rows of B, one at a time.
	MOVQ k+8(FP), R8
	ANDQ $7, R8
	JZ   done
k1:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ m+0(FP), CX
row1:
	VBROADCASTSS (AX), Z8
	XORQ R13, R13
	MOVQ nv+64(FP), DX
	TESTQ DX, DX
	JZ   last1
vec1s:
	VMOVUPS (BX)(R13*1), Z0
	VFMADD231PS (R11)(R13*1), Z8, Z0
	VMOVUPS Z0, (BX)(R13*1)
	ADDQ $64, R13
	DECQ DX
	JNZ  vec1s
last1:
	CMPQ mask+72(FP), $0
	JEQ  rowend1
	VMOVUPS (BX)(R13*1), Z0
	VMOVUPS.Z (R11)(R13*1), K1, Z1
	VFMADD231PS Z1, Z8, Z0
	VMOVUPS Z0, (BX)(R13*1)
rowend1:
	ADDQ lda+24(FP), AX
	ADDQ ldc+56(FP), BX
	DECQ CX
	JNZ  row1
	ADDQ R9, R11
	ADDQ $4, SI
	DECQ R8
	JNZ  k1
done:
	VZEROUPPER
	RET

DATA gemvBits<>+0(SB)/4, $1
DATA gemvBits<>+4(SB)/4, $2
DATA gemvBits<>+8(SB)/4, $4
DATA gemvBits<>+12(SB)/4, $8
DATA gemvBits<>+16(SB)/4, $16
DATA gemvBits<>+20(SB)/4, $32
DATA gemvBits<>+24(SB)/4, $64
DATA gemvBits<>+28(SB)/4, $128
GLOBL gemvBits<>(SB), RODATA|NOPTR, $32

// MASK8 sets all bits of lane r of reg when bit r of arg (a mask argument) is set.
#define MASK8(arg, reg) \
	VPBROADCASTD arg, reg; \
	VPAND        gemvBits<>(SB), reg, reg; \
	VPCMPEQD     gemvBits<>(SB), reg, reg

// NFMA8Y(base, bc): accumulators Y0..Y7 (vectors v = 0..7 from the current column)
// += bc * the B row at base, vector v at base + 32*v.
#define NFMA8Y(base, bc) \
	VFMADD231PS 0 base, bc, Y0; \
	VFMADD231PS 32 base, bc, Y1; \
	VFMADD231PS 64 base, bc, Y2; \
	VFMADD231PS 96 base, bc, Y3; \
	VFMADD231PS 128 base, bc, Y4; \
	VFMADD231PS 160 base, bc, Y5; \
	VFMADD231PS 192 base, bc, Y6; \
	VFMADD231PS 224 base, bc, Y7

// func gemvN256(m, k int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, ldb uintptr, c unsafe.Pointer, ldc uintptr, nv int, mask int)
// Row-major B: b points at B[0][j0] (rows ldb bytes apart, unit column stride); the
// band is nv full vectors of 8 columns, then one partial vector of the columns set in
// mask (none when mask is 0). c row i (at c + i*ldc) holds the band's accumulators.
// In Go, with nc = 8*nv (+8 for the partial vector):
//
//	for k0 := 0; k0 < k; k0 += 8 {          // groups of 8 rows of B, then single rows
//		for i := 0; i < m; i++ {
//			for j := 0; j < nc; j++ {
//				for kk := k0; kk < min(k0+8, k); kk++ {
//					c[i*ldc+j] = fma(a[i*lda+kk], b[kk*ldb+j], c[i*ldc+j])
//				}
//			}
//		}
//	}
TEXT ·gemvN256(SB), NOSPLIT, $0-80
	MOVQ a+16(FP), SI
	MOVQ b+32(FP), R11
	MOVQ ldb+40(FP), R9
	MOVQ c+48(FP), DI
	LEAQ (R9)(R9*2), R10
	LEAQ (R11)(R9*4), R12
	MOVQ k+8(FP), R8
	SHRQ $3, R8
	JZ   single
group:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ m+0(FP), CX
row:
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10
	VBROADCASTSS 12(AX), Y11
	VBROADCASTSS 16(AX), Y12
	VBROADCASTSS 20(AX), Y13
	VBROADCASTSS 24(AX), Y14
	VBROADCASTSS 28(AX), Y15
	XORQ R13, R13
	MOVQ nv+64(FP), DX
	// While row i runs, AX prefetches B row k+8+i (the next group) along the band.
	MOVQ m+0(FP), AX
	SUBQ CX, AX
	IMULQ R9, AX
	ADDQ R12, AX
	LEAQ (AX)(R9*4), AX
vec8:
	CMPQ DX, $8
	JLT  vec1
	// Eight vectors: eight chains, interleaved.
	PREFETCHT0 0(AX)(R13*1)
	PREFETCHT0 64(AX)(R13*1)
	PREFETCHT0 128(AX)(R13*1)
	PREFETCHT0 192(AX)(R13*1)
	VMOVUPS 0(BX)(R13*1), Y0
	VMOVUPS 32(BX)(R13*1), Y1
	VMOVUPS 64(BX)(R13*1), Y2
	VMOVUPS 96(BX)(R13*1), Y3
	VMOVUPS 128(BX)(R13*1), Y4
	VMOVUPS 160(BX)(R13*1), Y5
	VMOVUPS 192(BX)(R13*1), Y6
	VMOVUPS 224(BX)(R13*1), Y7
	NFMA8Y((R11), Y8)
	NFMA8Y((R11)(R9*1), Y9)
	NFMA8Y((R11)(R9*2), Y10)
	NFMA8Y((R11)(R10*1), Y11)
	NFMA8Y((R12), Y12)
	NFMA8Y((R12)(R9*1), Y13)
	NFMA8Y((R12)(R9*2), Y14)
	NFMA8Y((R12)(R10*1), Y15)
	VMOVUPS Y0, 0(BX)(R13*1)
	VMOVUPS Y1, 32(BX)(R13*1)
	VMOVUPS Y2, 64(BX)(R13*1)
	VMOVUPS Y3, 96(BX)(R13*1)
	VMOVUPS Y4, 128(BX)(R13*1)
	VMOVUPS Y5, 160(BX)(R13*1)
	VMOVUPS Y6, 192(BX)(R13*1)
	VMOVUPS Y7, 224(BX)(R13*1)
	ADDQ $256, R13
	ADDQ $256, R11
	ADDQ $256, R12
	SUBQ $8, DX
	JMP  vec8
vec1:
	TESTQ DX, DX
	JZ   last
	VMOVUPS (BX)(R13*1), Y0
	VFMADD231PS (R11), Y8, Y0
	VFMADD231PS (R11)(R9*1), Y9, Y0
	VFMADD231PS (R11)(R9*2), Y10, Y0
	VFMADD231PS (R11)(R10*1), Y11, Y0
	VFMADD231PS (R12), Y12, Y0
	VFMADD231PS (R12)(R9*1), Y13, Y0
	VFMADD231PS (R12)(R9*2), Y14, Y0
	VFMADD231PS (R12)(R10*1), Y15, Y0
	VMOVUPS Y0, (BX)(R13*1)
	ADDQ $32, R13
	ADDQ $32, R11
	ADDQ $32, R12
	DECQ DX
	JMP  vec1
last:
	// The partial vector, if any: masked loads of B (columns past the end read as zero).
	CMPQ mask+72(FP), $0
	JEQ  rowend
	MASK8(mask+72(FP), Y5)
	VMOVUPS (BX)(R13*1), Y0
	VMASKMOVPS (R11), Y5, Y1
	VFMADD231PS Y1, Y8, Y0
	VMASKMOVPS (R11)(R9*1), Y5, Y2
	VFMADD231PS Y2, Y9, Y0
	VMASKMOVPS (R11)(R9*2), Y5, Y3
	VFMADD231PS Y3, Y10, Y0
	VMASKMOVPS (R11)(R10*1), Y5, Y4
	VFMADD231PS Y4, Y11, Y0
	VMASKMOVPS (R12), Y5, Y1
	VFMADD231PS Y1, Y12, Y0
	VMASKMOVPS (R12)(R9*1), Y5, Y2
	VFMADD231PS Y2, Y13, Y0
	VMASKMOVPS (R12)(R9*2), Y5, Y3
	VFMADD231PS Y3, Y14, Y0
	VMASKMOVPS (R12)(R10*1), Y5, Y4
	VFMADD231PS Y4, Y15, Y0
	VMOVUPS Y0, (BX)(R13*1)
rowend:
	// Back to the band's first column for the next row.
	SUBQ R13, R11
	SUBQ R13, R12
	// AX = the next row of A: a + (m-CX+1)*lda.
	MOVQ m+0(FP), AX
	SUBQ CX, AX
	INCQ AX
	IMULQ lda+24(FP), AX
	ADDQ SI, AX
	ADDQ ldc+56(FP), BX
	DECQ CX
	JNZ  row
	LEAQ (R12)(R9*4), R11
	LEAQ (R11)(R9*4), R12
	ADDQ $32, SI
	DECQ R8
	JNZ  group
single:
	// The last k%8 rows of B, one at a time.
	MOVQ k+8(FP), R8
	ANDQ $7, R8
	JZ   done
k1:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ m+0(FP), CX
row1:
	VBROADCASTSS (AX), Y8
	XORQ R13, R13
	MOVQ nv+64(FP), DX
	TESTQ DX, DX
	JZ   last1
vec1s:
	VMOVUPS (BX)(R13*1), Y0
	VFMADD231PS (R11)(R13*1), Y8, Y0
	VMOVUPS Y0, (BX)(R13*1)
	ADDQ $32, R13
	DECQ DX
	JNZ  vec1s
last1:
	CMPQ mask+72(FP), $0
	JEQ  rowend1
	MASK8(mask+72(FP), Y5)
	VMOVUPS (BX)(R13*1), Y0
	VMASKMOVPS (R11)(R13*1), Y5, Y1
	VFMADD231PS Y1, Y8, Y0
	VMOVUPS Y0, (BX)(R13*1)
rowend1:
	ADDQ lda+24(FP), AX
	ADDQ ldc+56(FP), BX
	DECQ CX
	JNZ  row1
	ADDQ R9, R11
	ADDQ $4, SI
	DECQ R8
	JNZ  k1
done:
	VZEROUPPER
	RET

// ---- Transposed B (W rows j, unit stride along k) ------------------------------------
// A tile of W rows is loaded and transposed in registers so that one register holds
// W[j0..][k] for one k; then each row of A takes the tile's k's in order, with several
// rows interleaved.

// TRANSPOSE16 transposes Z0..Z15 (row r = W[j0+r][k0..k0+15]) in place, so that Zk
// holds W[j0..j0+15][k0+k]; Z16..Z31 are scratch (the steps of transpose16 in
// pack_amd64.s).
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
	VSHUFF32X4 $0x88, Z5, Z1, Z17; \
	VSHUFF32X4 $0x88, Z6, Z2, Z18; \
	VSHUFF32X4 $0x88, Z7, Z3, Z19; \
	VSHUFF32X4 $0xDD, Z4, Z0, Z20; \
	VSHUFF32X4 $0xDD, Z5, Z1, Z21; \
	VSHUFF32X4 $0xDD, Z6, Z2, Z22; \
	VSHUFF32X4 $0xDD, Z7, Z3, Z23; \
	VSHUFF32X4 $0x88, Z12, Z8, Z24; \
	VSHUFF32X4 $0x88, Z13, Z9, Z25; \
	VSHUFF32X4 $0x88, Z14, Z10, Z26; \
	VSHUFF32X4 $0x88, Z15, Z11, Z27; \
	VSHUFF32X4 $0xDD, Z12, Z8, Z28; \
	VSHUFF32X4 $0xDD, Z13, Z9, Z29; \
	VSHUFF32X4 $0xDD, Z14, Z10, Z30; \
	VSHUFF32X4 $0xDD, Z15, Z11, Z31; \
	VSHUFF32X4 $0x88, Z24, Z16, Z0; \
	VSHUFF32X4 $0x88, Z25, Z17, Z1; \
	VSHUFF32X4 $0x88, Z26, Z18, Z2; \
	VSHUFF32X4 $0x88, Z27, Z19, Z3; \
	VSHUFF32X4 $0x88, Z28, Z20, Z4; \
	VSHUFF32X4 $0x88, Z29, Z21, Z5; \
	VSHUFF32X4 $0x88, Z30, Z22, Z6; \
	VSHUFF32X4 $0x88, Z31, Z23, Z7; \
	VSHUFF32X4 $0xDD, Z24, Z16, Z8; \
	VSHUFF32X4 $0xDD, Z25, Z17, Z9; \
	VSHUFF32X4 $0xDD, Z26, Z18, Z10; \
	VSHUFF32X4 $0xDD, Z27, Z19, Z11; \
	VSHUFF32X4 $0xDD, Z28, Z20, Z12; \
	VSHUFF32X4 $0xDD, Z29, Z21, Z13; \
	VSHUFF32X4 $0xDD, Z30, Z22, Z14; \
	VSHUFF32X4 $0xDD, Z31, Z23, Z15

DATA gemvIota<>+0(SB)/4, $0
DATA gemvIota<>+4(SB)/4, $1
DATA gemvIota<>+8(SB)/4, $2
DATA gemvIota<>+12(SB)/4, $3
DATA gemvIota<>+16(SB)/4, $4
DATA gemvIota<>+20(SB)/4, $5
DATA gemvIota<>+24(SB)/4, $6
DATA gemvIota<>+28(SB)/4, $7
DATA gemvIota<>+32(SB)/4, $8
DATA gemvIota<>+36(SB)/4, $9
DATA gemvIota<>+40(SB)/4, $10
DATA gemvIota<>+44(SB)/4, $11
DATA gemvIota<>+48(SB)/4, $12
DATA gemvIota<>+52(SB)/4, $13
DATA gemvIota<>+56(SB)/4, $14
DATA gemvIota<>+60(SB)/4, $15
GLOBL gemvIota<>(SB), RODATA|NOPTR, $64

// TFMA<n>Z(off, col): one k step for n rows of A (row r at AX + 64*r, a[k] at off):
// accumulator Z(16+r) += a[r][k] * col.
#define TFMA8Z(off, col, coln) \
	VFMADD231PS.BCST off+0(AX), col, Z16; \
	VFMADD231PS.BCST off+64(AX), col, Z17; \
	VFMADD231PS.BCST off+128(AX), col, Z18; \
	VFMADD231PS.BCST off+192(AX), col, Z19; \
	VFMADD231PS.BCST off+256(AX), col, Z20; \
	VFMADD231PS.BCST off+320(AX), col, Z21; \
	VFMADD231PS.BCST off+384(AX), col, Z22; \
	VFMADD231PS.BCST off+448(AX), col, Z23
#define TFMA4Z(off, col, coln) \
	VFMADD231PS.BCST off+0(AX), col, Z16; \
	VFMADD231PS.BCST off+64(AX), col, Z17; \
	VFMADD231PS.BCST off+128(AX), col, Z18; \
	VFMADD231PS.BCST off+192(AX), col, Z19
#define TFMA2Z(off, col, coln) \
	VFMADD231PS.BCST off+0(AX), col, Z16; \
	VFMADD231PS.BCST off+64(AX), col, Z17
#define TFMA1Z(off, col, coln) \
	VFMADD231PS.BCST off+0(AX), col, Z16

// ALLCOLS(F) runs the step macro F on the 16 transposed columns Z0..Z15 (a's word c
// at byte 4c of each row's tile).
#define ALLCOLS(F) \
	F(0, Z0, 0); \
	F(4, Z1, 1); \
	F(8, Z2, 2); \
	F(12, Z3, 3); \
	F(16, Z4, 4); \
	F(20, Z5, 5); \
	F(24, Z6, 6); \
	F(28, Z7, 7); \
	F(32, Z8, 8); \
	F(36, Z9, 9); \
	F(40, Z10, 10); \
	F(44, Z11, 11); \
	F(48, Z12, 12); \
	F(52, Z13, 13); \
	F(56, Z14, 14); \
	F(60, Z15, 15)

// GEMVT512 is the body of the 16-row transposed kernels: FMA<n>(off, col, coln)
// takes one k (or k pair) of n rows of A against the transposed W column col (Z<coln>),
// GFMA one gathered column (Z16) into the accumulator row Z18. The 16 W rows are read
// 64 bytes from each per tile. Ahead of that, each tile asks for the next KiB of one
// row, 1 KiB ahead, taking the rows in turn (row kt mod 16): one run of 16 lines at a
// time instead of 16 streams 64 bytes apart, without keeping them in the outer caches
// (PREFETCHNTA). Decode at 1x4096x11008 on one thread: +14% in Go, +18% from Python
// (2 MiB pages).
#define GEMVT512(FMA8, FMA4, FMA2, FMA1, GFMA) \
	MOVQ a+24(FP), SI; \
	MOVQ w+32(FP), R11; \
	MOVQ ldw+40(FP), R9; \
	MOVQ c+48(FP), DI; \
	LEAQ (R9)(R9*2), R10; \
	LEAQ (R11)(R9*4), R12; \
	LEAQ (R12)(R9*4), R13; \
	LEAQ (R13)(R9*4), DX; \
	MOVQ kt+8(FP), R8; \
	TESTQ R8, R8; \
	JZ   gather; \
	tile: \
	MOVQ R8, AX; \
	ANDQ $15, AX; \
	IMULQ R9, AX; \
	ADDQ R11, AX; \
	PREFETCHNTA 1024(AX); \
	PREFETCHNTA 1088(AX); \
	PREFETCHNTA 1152(AX); \
	PREFETCHNTA 1216(AX); \
	PREFETCHNTA 1280(AX); \
	PREFETCHNTA 1344(AX); \
	PREFETCHNTA 1408(AX); \
	PREFETCHNTA 1472(AX); \
	PREFETCHNTA 1536(AX); \
	PREFETCHNTA 1600(AX); \
	PREFETCHNTA 1664(AX); \
	PREFETCHNTA 1728(AX); \
	PREFETCHNTA 1792(AX); \
	PREFETCHNTA 1856(AX); \
	PREFETCHNTA 1920(AX); \
	PREFETCHNTA 1984(AX); \
	VMOVUPS (R11), Z0; \
	VMOVUPS (R11)(R9*1), Z1; \
	VMOVUPS (R11)(R9*2), Z2; \
	VMOVUPS (R11)(R10*1), Z3; \
	VMOVUPS (R12), Z4; \
	VMOVUPS (R12)(R9*1), Z5; \
	VMOVUPS (R12)(R9*2), Z6; \
	VMOVUPS (R12)(R10*1), Z7; \
	VMOVUPS (R13), Z8; \
	VMOVUPS (R13)(R9*1), Z9; \
	VMOVUPS (R13)(R9*2), Z10; \
	VMOVUPS (R13)(R10*1), Z11; \
	VMOVUPS (DX), Z12; \
	VMOVUPS (DX)(R9*1), Z13; \
	VMOVUPS (DX)(R9*2), Z14; \
	VMOVUPS (DX)(R10*1), Z15; \
	TRANSPOSE16; \
	MOVQ SI, AX; \
	MOVQ DI, BX; \
	MOVQ m+0(FP), CX; \
	rows8: \
	CMPQ CX, $8; \
	JLT  rows4; \
	VMOVUPS 0(BX), Z16; \
	VMOVUPS 64(BX), Z17; \
	VMOVUPS 128(BX), Z18; \
	VMOVUPS 192(BX), Z19; \
	VMOVUPS 256(BX), Z20; \
	VMOVUPS 320(BX), Z21; \
	VMOVUPS 384(BX), Z22; \
	VMOVUPS 448(BX), Z23; \
	ALLCOLS(FMA8); \
	VMOVUPS Z16, 0(BX); \
	VMOVUPS Z17, 64(BX); \
	VMOVUPS Z18, 128(BX); \
	VMOVUPS Z19, 192(BX); \
	VMOVUPS Z20, 256(BX); \
	VMOVUPS Z21, 320(BX); \
	VMOVUPS Z22, 384(BX); \
	VMOVUPS Z23, 448(BX); \
	ADDQ $512, AX; \
	ADDQ $512, BX; \
	SUBQ $8, CX; \
	JMP  rows8; \
	rows4: \
	CMPQ CX, $4; \
	JLT  rows2; \
	VMOVUPS 0(BX), Z16; \
	VMOVUPS 64(BX), Z17; \
	VMOVUPS 128(BX), Z18; \
	VMOVUPS 192(BX), Z19; \
	ALLCOLS(FMA4); \
	VMOVUPS Z16, 0(BX); \
	VMOVUPS Z17, 64(BX); \
	VMOVUPS Z18, 128(BX); \
	VMOVUPS Z19, 192(BX); \
	ADDQ $256, AX; \
	ADDQ $256, BX; \
	SUBQ $4, CX; \
	rows2: \
	CMPQ CX, $2; \
	JLT  rows1; \
	VMOVUPS 0(BX), Z16; \
	VMOVUPS 64(BX), Z17; \
	ALLCOLS(FMA2); \
	VMOVUPS Z16, 0(BX); \
	VMOVUPS Z17, 64(BX); \
	ADDQ $128, AX; \
	ADDQ $128, BX; \
	SUBQ $2, CX; \
	rows1: \
	CMPQ CX, $1; \
	JLT  tilend; \
	VMOVUPS 0(BX), Z16; \
	ALLCOLS(FMA1); \
	VMOVUPS Z16, 0(BX); \
	ADDQ $64, AX; \
	ADDQ $64, BX; \
	SUBQ $1, CX; \
	tilend: \
	MOVQ AX, SI; \
	ADDQ $64, R11; \
	ADDQ $64, R12; \
	ADDQ $64, R13; \
	ADDQ $64, DX; \
	DECQ R8; \
	JNZ  tile; \
	gather: \
	MOVQ kr+16(FP), R8; \
	TESTQ R8, R8; \
	JZ   done; \
	MOVQ R9, AX; \
	SARQ $2, AX; \
	VPBROADCASTD AX, Z17; \
	VPMULLD gemvIota<>(SB), Z17, Z17; \
	XORQ R13, R13; \
	MOVQ m+0(FP), R12; \
	SHLQ $6, R12; \
	gk: \
	MOVQ mask+56(FP), BX; \
	KMOVW BX, K1; \
	VPXORD Z16, Z16, Z16; \
	VGATHERDPS (R11)(Z17*4), K1, Z16; \
	LEAQ (SI)(R13*1), AX; \
	MOVQ DI, BX; \
	MOVQ m+0(FP), CX; \
	grow: \
	VMOVUPS (BX), Z18; \
	GFMA; \
	VMOVUPS Z18, (BX); \
	ADDQ $64, AX; \
	ADDQ $64, BX; \
	DECQ CX; \
	JNZ  grow; \
	ADDQ $4, R11; \
	ADDQ $4, R13; \
	CMPQ R13, $64; \
	JLT  gnext; \
	XORQ R13, R13; \
	ADDQ R12, SI; \
	gnext: \
	DECQ R8; \
	JNZ  gk; \
	done: \
	VZEROUPPER; \
	RET

#define GFMAZ VFMADD231PS.BCST (AX), Z16, Z18

// TDP<n>(off, col, coln): one k pair for n rows of A (row r at AX + 64*r, the pair
// a[r][2p], a[r][2p+1] at off): accumulator Z(16+r) += the pair's dot product with
// column pair coln (VDPBF16PS, as bgemm512 does).
#define TDP8(off, col, coln) \
	VPBROADCASTD off+0(AX), Z24; DPBF16(coln, 24, 16); \
	VPBROADCASTD off+64(AX), Z25; DPBF16(coln, 25, 17); \
	VPBROADCASTD off+128(AX), Z26; DPBF16(coln, 26, 18); \
	VPBROADCASTD off+192(AX), Z27; DPBF16(coln, 27, 19); \
	VPBROADCASTD off+256(AX), Z28; DPBF16(coln, 28, 20); \
	VPBROADCASTD off+320(AX), Z29; DPBF16(coln, 29, 21); \
	VPBROADCASTD off+384(AX), Z30; DPBF16(coln, 30, 22); \
	VPBROADCASTD off+448(AX), Z31; DPBF16(coln, 31, 23)
#define TDP4(off, col, coln) \
	VPBROADCASTD off+0(AX), Z24; DPBF16(coln, 24, 16); \
	VPBROADCASTD off+64(AX), Z25; DPBF16(coln, 25, 17); \
	VPBROADCASTD off+128(AX), Z26; DPBF16(coln, 26, 18); \
	VPBROADCASTD off+192(AX), Z27; DPBF16(coln, 27, 19)
#define TDP2(off, col, coln) \
	VPBROADCASTD off+0(AX), Z24; DPBF16(coln, 24, 16); \
	VPBROADCASTD off+64(AX), Z25; DPBF16(coln, 25, 17)
#define TDP1(off, col, coln) \
	VPBROADCASTD off+0(AX), Z24; DPBF16(coln, 24, 16)
#define GDP VPBROADCASTD (AX), Z24; DPBF16(16, 24, 18)

// func gemvT512(m, kt, kr int, a unsafe.Pointer, w unsafe.Pointer, ldw uintptr, c unsafe.Pointer, mask int)
// Transposed B: output columns j0..j0+15 from W rows j0..j0+15 (w points at W[j0][0],
// rows ldw bytes apart, unit stride along k). A is packed in tiles of 16 k's: a[i][k]
// at a + ((k/16)*m + i)*64 + (k%16)*4; c row i (16 accumulators) at c + i*64. The first
// kt*16 k's go in 16x16 tiles (all 16 W rows must exist), the next kr one at a time,
// gathering the W rows set in mask. In Go:
//
//	for k := 0; k < 16*kt+kr; k++ {   // a tile: transpose, then its k's in order
//		for i := 0; i < m; i++ {
//			for r := 0; r < 16; r++ {
//				c[i][r] = fma(a[i][k], w[r*ldw+k], c[i][r])
//			}
//		}
//	}
TEXT ·gemvT512(SB), NOSPLIT, $0-64
	GEMVT512(TFMA8Z, TFMA4Z, TFMA2Z, TFMA1Z, GFMAZ)

// TFMA<n>Y(off, col): one k step for n rows of A (row r at AX + 32*r, a[k] at off):
// accumulator Yr += a[r][k] * col, with a[r][k] broadcast in Y(4+r).
#define TFMA4Y(off, col) \
	VBROADCASTSS off+0(AX), Y4; \
	VFMADD231PS  col, Y4, Y0; \
	VBROADCASTSS off+32(AX), Y5; \
	VFMADD231PS  col, Y5, Y1; \
	VBROADCASTSS off+64(AX), Y6; \
	VFMADD231PS  col, Y6, Y2; \
	VBROADCASTSS off+96(AX), Y7; \
	VFMADD231PS  col, Y7, Y3
#define TFMA2Y(off, col) \
	VBROADCASTSS off+0(AX), Y4; \
	VFMADD231PS  col, Y4, Y0; \
	VBROADCASTSS off+32(AX), Y5; \
	VFMADD231PS  col, Y5, Y1
#define TFMA1Y(off, col) \
	VBROADCASTSS off+0(AX), Y4; \
	VFMADD231PS  col, Y4, Y0

// The 8x8 transpose of Y0..Y7 into Y8..Y15 (Y8+k holds W[j0..j0+7][k0+k]): row pairs,
// then groups of four rows per 128-bit lane, then the lanes.

// func gemvT256(m, kt, kr int, a unsafe.Pointer, w unsafe.Pointer, ldw uintptr, c unsafe.Pointer, mask int)
// Transposed B: output columns j0..j0+7 from W rows j0..j0+7 (w points at W[j0][0],
// rows ldw bytes apart, unit stride along k). A is packed in tiles of 8 k's: a[i][k]
// at a + ((k/8)*m + i)*32 + (k%8)*4; c row i (8 accumulators) at c + i*32. The first
// kt*8 k's go in 8x8 tiles (all 8 W rows must exist), the next kr one at a time,
// gathering the W rows set in mask. In Go:
//
//	for k := 0; k < 8*kt+kr; k++ {   // a tile: transpose, then its k's in order
//		for i := 0; i < m; i++ {
//			for r := 0; r < 8; r++ {
//				c[i][r] = fma(a[i][k], w[r*ldw+k], c[i][r])
//			}
//		}
//	}
TEXT ·gemvT256(SB), NOSPLIT, $0-64
	MOVQ a+24(FP), SI
	MOVQ w+32(FP), R11
	MOVQ ldw+40(FP), R9
	MOVQ c+48(FP), DI
	LEAQ (R9)(R9*2), R10
	LEAQ (R11)(R9*4), R12 // rows 4..7
	MOVQ kt+8(FP), R8
	TESTQ R8, R8
	JZ   gather
tile:
	// Each W row is a stream of its own: fetch 512 bytes ahead in every one.
	PREFETCHT0 512(R11)
	PREFETCHT0 512(R11)(R9*1)
	PREFETCHT0 512(R11)(R9*2)
	PREFETCHT0 512(R11)(R10*1)
	PREFETCHT0 512(R12)
	PREFETCHT0 512(R12)(R9*1)
	PREFETCHT0 512(R12)(R9*2)
	PREFETCHT0 512(R12)(R10*1)
	VMOVUPS (R11), Y0
	VMOVUPS (R11)(R9*1), Y1
	VMOVUPS (R11)(R9*2), Y2
	VMOVUPS (R11)(R10*1), Y3
	VMOVUPS (R12), Y4
	VMOVUPS (R12)(R9*1), Y5
	VMOVUPS (R12)(R9*2), Y6
	VMOVUPS (R12)(R10*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ m+0(FP), CX
rows4:
	CMPQ CX, $4
	JLT  rows2
	VMOVUPS 0(BX), Y0
	VMOVUPS 32(BX), Y1
	VMOVUPS 64(BX), Y2
	VMOVUPS 96(BX), Y3
	TFMA4Y(0, Y8)
	TFMA4Y(4, Y9)
	TFMA4Y(8, Y10)
	TFMA4Y(12, Y11)
	TFMA4Y(16, Y12)
	TFMA4Y(20, Y13)
	TFMA4Y(24, Y14)
	TFMA4Y(28, Y15)
	VMOVUPS Y0, 0(BX)
	VMOVUPS Y1, 32(BX)
	VMOVUPS Y2, 64(BX)
	VMOVUPS Y3, 96(BX)
	ADDQ $128, AX
	ADDQ $128, BX
	SUBQ $4, CX
	JMP  rows4
rows2:
	CMPQ CX, $2
	JLT  rows1
	VMOVUPS 0(BX), Y0
	VMOVUPS 32(BX), Y1
	TFMA2Y(0, Y8)
	TFMA2Y(4, Y9)
	TFMA2Y(8, Y10)
	TFMA2Y(12, Y11)
	TFMA2Y(16, Y12)
	TFMA2Y(20, Y13)
	TFMA2Y(24, Y14)
	TFMA2Y(28, Y15)
	VMOVUPS Y0, 0(BX)
	VMOVUPS Y1, 32(BX)
	ADDQ $64, AX
	ADDQ $64, BX
	SUBQ $2, CX
rows1:
	CMPQ CX, $1
	JLT  tilend
	VMOVUPS 0(BX), Y0
	TFMA1Y(0, Y8)
	TFMA1Y(4, Y9)
	TFMA1Y(8, Y10)
	TFMA1Y(12, Y11)
	TFMA1Y(16, Y12)
	TFMA1Y(20, Y13)
	TFMA1Y(24, Y14)
	TFMA1Y(28, Y15)
	VMOVUPS Y0, 0(BX)
	ADDQ $32, AX
	ADDQ $32, BX
	SUBQ $1, CX
tilend:
	MOVQ AX, SI // the next A tile
	ADDQ $32, R11
	ADDQ $32, R12
	DECQ R8
	JNZ  tile
gather:
	MOVQ kr+16(FP), R8
	TESTQ R8, R8
	JZ   done
	// Lane r gathers from R11 + r*ldw: indices r*(ldw/4), scaled by 4.
	MOVQ R9, AX
	SARQ $2, AX
	MASK8(mask+56(FP), Y6)
	MOVQ AX, X4
	VPBROADCASTD X4, Y4
	VPMULLD gemvIota<>(SB), Y4, Y4
	XORQ R13, R13 // byte offset of k in the A tile
	MOVQ m+0(FP), R12
	SHLQ $5, R12 // bytes per A tile
gk:
	VMOVAPS Y6, Y5
	VXORPS Y3, Y3, Y3
	VGATHERDPS Y5, (R11)(Y4*4), Y3
	LEAQ (SI)(R13*1), AX
	MOVQ DI, BX
	MOVQ m+0(FP), CX
grow:
	VMOVUPS (BX), Y0
	VBROADCASTSS (AX), Y1
	VFMADD231PS Y3, Y1, Y0
	VMOVUPS Y0, (BX)
	ADDQ $32, AX
	ADDQ $32, BX
	DECQ CX
	JNZ  grow
	ADDQ $4, R11
	ADDQ $4, R13
	CMPQ R13, $32
	JLT  gnext
	XORQ R13, R13
	ADDQ R12, SI
gnext:
	DECQ R8
	JNZ  gk
done:
	VZEROUPPER
	RET

// func bgemvT512(m, kt, kr int, a unsafe.Pointer, w unsafe.Pointer, ldw uintptr, c unsafe.Pointer, mask int)
// gemvT512 for bfloat16 A and W, by k pairs: a tile is 16 pairs (32 k's) of 16 W rows
// (each 32-bit word of a row is the pair k, k+1), transposed as words; A is packed in
// tiles of 16 pairs: pair p of row i at a + ((p/16)*m + i)*64 + (p%16)*4. kt tiles,
// then kr single pairs. In Go (dotpair as in bgemm512):
//
//	for p := 0; p < 16*kt+kr; p++ {
//		for i := 0; i < m; i++ {
//			for r := 0; r < 16; r++ {
//				c[i][r] = dotpair(a[i][2p:], w[r*ldw+2p:], c[i][r])
//			}
//		}
//	}
TEXT ·bgemvT512(SB), NOSPLIT, $0-64
	GEMVT512(TDP8, TDP4, TDP2, TDP1, GDP)
