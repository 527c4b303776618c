//go:build !purego

#include "textflag.h"

// AVX-512 packing helpers. Each is the fast twin of a Go loop in pack_other.go.

// func transpose16(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, blocks int)
// Transposes blocks consecutive 16x16 blocks of 32-bit words. In Go:
//
//	for b := 0; b < blocks; b++ {
//		for r := 0; r < 16; r++ {
//			for k := 0; k < 16; k++ {
//				dst[(b*16+k)*ldd + r] = src[r*lds + b*16+k]
//			}
//		}
//	}
TEXT ·transpose16(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R9
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R8
	MOVQ blocks+32(FP), CX
	TESTQ CX, CX
	JZ   done
	LEAQ (R8)(R8*2), AX
	LEAQ (SI)(AX*1), R11 // rows 3..5
	LEAQ (R11)(AX*1), R12 // rows 6..8
	LEAQ (R12)(AX*1), R13 // rows 9..11
	LEAQ (R13)(AX*1), BX // rows 12..14
	LEAQ (BX)(AX*1), DX // row 15
loop:
	// Each row is a separate short stream: fetch 1 KiB ahead of every one.
	PREFETCHT0 1024(SI)
	PREFETCHT0 1024(SI)(R8*1)
	PREFETCHT0 1024(SI)(R8*2)
	PREFETCHT0 1024(R11)
	PREFETCHT0 1024(R11)(R8*1)
	PREFETCHT0 1024(R11)(R8*2)
	PREFETCHT0 1024(R12)
	PREFETCHT0 1024(R12)(R8*1)
	PREFETCHT0 1024(R12)(R8*2)
	PREFETCHT0 1024(R13)
	PREFETCHT0 1024(R13)(R8*1)
	PREFETCHT0 1024(R13)(R8*2)
	PREFETCHT0 1024(BX)
	PREFETCHT0 1024(BX)(R8*1)
	PREFETCHT0 1024(BX)(R8*2)
	PREFETCHT0 1024(DX)
	VMOVUPS (SI), Z0
	VMOVUPS (SI)(R8*1), Z1
	VMOVUPS (SI)(R8*2), Z2
	VMOVUPS (R11), Z3
	VMOVUPS (R11)(R8*1), Z4
	VMOVUPS (R11)(R8*2), Z5
	VMOVUPS (R12), Z6
	VMOVUPS (R12)(R8*1), Z7
	VMOVUPS (R12)(R8*2), Z8
	VMOVUPS (R13), Z9
	VMOVUPS (R13)(R8*1), Z10
	VMOVUPS (R13)(R8*2), Z11
	VMOVUPS (BX), Z12
	VMOVUPS (BX)(R8*1), Z13
	VMOVUPS (BX)(R8*2), Z14
	VMOVUPS (DX), Z15

	// Interleave row pairs: t(2i), t(2i+1) = unpacklo/hi(r(2i), r(2i+1)).
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31

	// Groups of four rows: each 128-bit lane now holds a 4x4 block's columns.
	VSHUFPS $0x44, Z18, Z16, Z0
	VSHUFPS $0xEE, Z18, Z16, Z1
	VSHUFPS $0x44, Z19, Z17, Z2
	VSHUFPS $0xEE, Z19, Z17, Z3
	VSHUFPS $0x44, Z22, Z20, Z4
	VSHUFPS $0xEE, Z22, Z20, Z5
	VSHUFPS $0x44, Z23, Z21, Z6
	VSHUFPS $0xEE, Z23, Z21, Z7
	VSHUFPS $0x44, Z26, Z24, Z8
	VSHUFPS $0xEE, Z26, Z24, Z9
	VSHUFPS $0x44, Z27, Z25, Z10
	VSHUFPS $0xEE, Z27, Z25, Z11
	VSHUFPS $0x44, Z30, Z28, Z12
	VSHUFPS $0xEE, Z30, Z28, Z13
	VSHUFPS $0x44, Z31, Z29, Z14
	VSHUFPS $0xEE, Z31, Z29, Z15

	// Move 128-bit lanes: first between groups 0/1 and 2/3, then across the halves.
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0x88, Z5, Z1, Z17
	VSHUFF32X4 $0x88, Z6, Z2, Z18
	VSHUFF32X4 $0x88, Z7, Z3, Z19
	VSHUFF32X4 $0xDD, Z4, Z0, Z20
	VSHUFF32X4 $0xDD, Z5, Z1, Z21
	VSHUFF32X4 $0xDD, Z6, Z2, Z22
	VSHUFF32X4 $0xDD, Z7, Z3, Z23
	VSHUFF32X4 $0x88, Z12, Z8, Z24
	VSHUFF32X4 $0x88, Z13, Z9, Z25
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0x88, Z15, Z11, Z27
	VSHUFF32X4 $0xDD, Z12, Z8, Z28
	VSHUFF32X4 $0xDD, Z13, Z9, Z29
	VSHUFF32X4 $0xDD, Z14, Z10, Z30
	VSHUFF32X4 $0xDD, Z15, Z11, Z31

	VSHUFF32X4 $0x88, Z24, Z16, Z0
	VSHUFF32X4 $0x88, Z25, Z17, Z1
	VSHUFF32X4 $0x88, Z26, Z18, Z2
	VSHUFF32X4 $0x88, Z27, Z19, Z3
	VSHUFF32X4 $0x88, Z28, Z20, Z4
	VSHUFF32X4 $0x88, Z29, Z21, Z5
	VSHUFF32X4 $0x88, Z30, Z22, Z6
	VSHUFF32X4 $0x88, Z31, Z23, Z7
	VSHUFF32X4 $0xDD, Z24, Z16, Z8
	VSHUFF32X4 $0xDD, Z25, Z17, Z9
	VSHUFF32X4 $0xDD, Z26, Z18, Z10
	VSHUFF32X4 $0xDD, Z27, Z19, Z11
	VSHUFF32X4 $0xDD, Z28, Z20, Z12
	VSHUFF32X4 $0xDD, Z29, Z21, Z13
	VSHUFF32X4 $0xDD, Z30, Z22, Z14
	VSHUFF32X4 $0xDD, Z31, Z23, Z15

	VMOVUPS Z0, (DI)
	ADDQ    R9, DI
	VMOVUPS Z1, (DI)
	ADDQ    R9, DI
	VMOVUPS Z2, (DI)
	ADDQ    R9, DI
	VMOVUPS Z3, (DI)
	ADDQ    R9, DI
	VMOVUPS Z4, (DI)
	ADDQ    R9, DI
	VMOVUPS Z5, (DI)
	ADDQ    R9, DI
	VMOVUPS Z6, (DI)
	ADDQ    R9, DI
	VMOVUPS Z7, (DI)
	ADDQ    R9, DI
	VMOVUPS Z8, (DI)
	ADDQ    R9, DI
	VMOVUPS Z9, (DI)
	ADDQ    R9, DI
	VMOVUPS Z10, (DI)
	ADDQ    R9, DI
	VMOVUPS Z11, (DI)
	ADDQ    R9, DI
	VMOVUPS Z12, (DI)
	ADDQ    R9, DI
	VMOVUPS Z13, (DI)
	ADDQ    R9, DI
	VMOVUPS Z14, (DI)
	ADDQ    R9, DI
	VMOVUPS Z15, (DI)
	ADDQ    R9, DI

	ADDQ $64, SI
	ADDQ $64, R11
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, BX
	ADDQ $64, DX
	DECQ CX
	JNZ  loop
	VZEROUPPER
done:
	RET

// func pairs32(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, pairs int, panels int)
// Interleaves rows 2p and 2p+1 (lds bytes apart) of bfloat16 columns into panels of 32
// columns x 2 (ldd bytes apart); row pairs are read left to right across the panels. In Go:
//
//	for p := 0; p < pairs; p++ {
//		for q := 0; q < panels; q++ {
//			for j := 0; j < 32; j++ {
//				dst[q*ldd + p*32+j] = uint32(src[2p*lds + q*32+j]) | uint32(src[(2p+1)*lds + q*32+j])<<16
//			}
//		}
//	}
TEXT ·pairs32(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R9
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R8
	MOVQ pairs+32(FP), CX
	MOVQ panels+40(FP), R10
	TESTQ CX, CX
	JZ   done
	TESTQ R10, R10
	JZ   done
pair:
	MOVQ SI, AX  // row 2p, moving across the panels
	MOVQ DI, BX  // this pair's words in panel 0
	MOVQ R10, DX
panel:
	VPMOVZXWD (AX), Z0
	VPMOVZXWD 32(AX), Z1
	VPMOVZXWD (AX)(R8*1), Z2
	VPMOVZXWD 32(AX)(R8*1), Z3
	VPSLLD    $16, Z2, Z2
	VPSLLD    $16, Z3, Z3
	VPORD     Z2, Z0, Z0
	VPORD     Z3, Z1, Z1
	VMOVDQU32 Z0, (BX)
	VMOVDQU32 Z1, 64(BX)
	ADDQ      $64, AX
	ADDQ      R9, BX
	DECQ      DX
	JNZ       panel
	ADDQ      $128, DI
	LEAQ      (SI)(R8*2), SI
	DECQ      CX
	JNZ       pair
	VZEROUPPER
done:
	RET

// func f16ToF32(dst unsafe.Pointer, src unsafe.Pointer, n int)
// Widens n float16 values (n a multiple of 16): dst[i] = F16ToF32(src[i]).
TEXT ·f16ToF32(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   done
loop:
	VCVTPH2PS (SI), Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       loop
	VZEROUPPER
done:
	RET

// func bf16ToF32(dst unsafe.Pointer, src unsafe.Pointer, n int)
// Widens n bfloat16 values (n a multiple of 16): dst[i] = BF16ToF32(src[i]).
TEXT ·bf16ToF32(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   done
loop:
	VPMOVZXWD (SI), Z0
	VPSLLD    $16, Z0, Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       loop
	VZEROUPPER
done:
	RET

// func rows32(dst unsafe.Pointer, ldd uintptr, src unsafe.Pointer, lds uintptr, rows int, panels int)
// Copies rows of float32 (lds bytes apart) into panels of 32 columns (ldd bytes apart),
// reading each row left to right across the panels. Each 128 bytes read request the
// same bytes 8 rows down: rows are a whole row of B apart (often a page or more), a
// pattern the hardware prefetchers do not follow; from memory this copies about a fifth
// faster than requesting only each row's first line. In Go:
//
//	for k := 0; k < rows; k++ {
//		for q := 0; q < panels; q++ {
//			copy(dst[q*ldd + k*32:][:32], src[k*lds + q*32:][:32])
//		}
//	}
TEXT ·rows32(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R9
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R8
	MOVQ rows+32(FP), CX
	MOVQ panels+40(FP), R10
	LEAQ (R8*8), R11 // 8 rows down
	TESTQ CX, CX
	JZ   done
	TESTQ R10, R10
	JZ   done
row:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R10, DX
panel:
	PREFETCHT0 (AX)(R11*1)
	PREFETCHT0 64(AX)(R11*1)
	VMOVUPS (AX), Z0
	VMOVUPS 64(AX), Z1
	VMOVUPS Z0, (BX)
	VMOVUPS Z1, 64(BX)
	ADDQ    $128, AX
	ADDQ    R9, BX
	DECQ    DX
	JNZ     panel
	ADDQ    $128, DI
	ADDQ    R8, SI
	DECQ    CX
	JNZ     row
	VZEROUPPER
done:
	RET
