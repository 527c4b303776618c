//go:build !purego

#include "textflag.h"

// Each routine computes exactly the Go loop quoted above it: products are rounded to
// float32 (VMULPS), then subtracted or added (VSUBPS/VADDPS/VADDSUBPS); no FMA, so the
// results equal the generic kernels bit for bit. Loads of a block precede its stores,
// so o may be x itself.

// func halfAVX512(o, x, cos, sin *float32, n, h int)
// n is a multiple of 16, n <= h; x and o hold 2h floats.
//
//	for i := 0; i < n; i++ {
//		a, b := x[i], x[i+h]
//		o[i] = float32(a*cos[i]) - float32(b*sin[i])
//		o[i+h] = float32(b*cos[i]) + float32(a*sin[i])
//	}
TEXT ·halfAVX512(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ cos+16(FP), DX
	MOVQ sin+24(FP), CX
	MOVQ n+32(FP), BX
	MOVQ h+40(FP), AX
	LEAQ (SI)(AX*4), R8  // &x[h]
	LEAQ (DI)(AX*4), R9  // &o[h]
	SHRQ $4, BX
	JZ   half512done

half512loop:
	VMOVUPS (SI), Z0     // a
	VMOVUPS (R8), Z1     // b
	VMOVUPS (DX), Z2     // cos
	VMOVUPS (CX), Z3     // sin
	VMULPS  Z2, Z0, Z4   // a*cos
	VMULPS  Z3, Z1, Z5   // b*sin
	VSUBPS  Z5, Z4, Z4   // a*cos - b*sin
	VMULPS  Z2, Z1, Z6   // b*cos
	VMULPS  Z3, Z0, Z7   // a*sin
	VADDPS  Z7, Z6, Z6   // b*cos + a*sin
	VMOVUPS Z4, (DI)
	VMOVUPS Z6, (R9)
	ADDQ    $64, SI
	ADDQ    $64, R8
	ADDQ    $64, DI
	ADDQ    $64, R9
	ADDQ    $64, DX
	ADDQ    $64, CX
	DECQ    BX
	JNZ     half512loop

half512done:
	VZEROUPPER
	RET

// func halfAVX2(o, x, cos, sin *float32, n, h int)
// n is a multiple of 8, n <= h; the same loop as halfAVX512.
TEXT ·halfAVX2(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ cos+16(FP), DX
	MOVQ sin+24(FP), CX
	MOVQ n+32(FP), BX
	MOVQ h+40(FP), AX
	LEAQ (SI)(AX*4), R8
	LEAQ (DI)(AX*4), R9
	SHRQ $3, BX
	JZ   half256done

half256loop:
	VMOVUPS (SI), Y0
	VMOVUPS (R8), Y1
	VMOVUPS (DX), Y2
	VMOVUPS (CX), Y3
	VMULPS  Y2, Y0, Y4
	VMULPS  Y3, Y1, Y5
	VSUBPS  Y5, Y4, Y4
	VMULPS  Y2, Y1, Y6
	VMULPS  Y3, Y0, Y7
	VADDPS  Y7, Y6, Y6
	VMOVUPS Y4, (DI)
	VMOVUPS Y6, (R9)
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DI
	ADDQ    $32, R9
	ADDQ    $32, DX
	ADDQ    $32, CX
	DECQ    BX
	JNZ     half256loop

half256done:
	VZEROUPPER
	RET

// func interleavedAVX512(o, x, cos, sin *float32, n int)
// n is a multiple of 8; x and o hold 2n floats.
//
//	for i := 0; i < n; i++ {
//		a, b := x[2*i], x[2*i+1]
//		o[2*i] = float32(a*cos[i]) - float32(b*sin[i])
//		o[2*i+1] = float32(b*cos[i]) + float32(a*sin[i])
//	}
//
// With x = [a0 b0 a1 b1 ...], swapped = [b0 a0 b1 a1 ...], c = [c0 c0 c1 c1 ...] and
// s = [s0 s0 s1 s1 ...]: even lanes are x*c - swapped*s, odd lanes x*c + swapped*s.
TEXT ·interleavedAVX512(SB), NOSPLIT, $0-40
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ cos+16(FP), DX
	MOVQ sin+24(FP), CX
	MOVQ n+32(FP), BX
	MOVL $0x5555, AX
	KMOVW AX, K1         // even lanes
	SHRQ $3, BX
	JZ   inter512done

inter512loop:
	VMOVUPS   (SI), Z0         // a0 b0 a1 b1 ...
	VPERMILPS $0xb1, Z0, Z1    // b0 a0 b1 a1 ...
	VPMOVZXDQ (DX), Z2         // c0 0 c1 0 ...
	VMOVSLDUP Z2, Z2           // c0 c0 c1 c1 ...
	VPMOVZXDQ (CX), Z3
	VMOVSLDUP Z3, Z3           // s0 s0 s1 s1 ...
	VMULPS    Z2, Z0, Z4       // a*c | b*c
	VMULPS    Z3, Z1, Z5       // b*s | a*s
	VADDPS    Z5, Z4, Z6       // odd lanes: b*c + a*s
	VSUBPS    Z5, Z4, K1, Z6   // even lanes: a*c - b*s
	VMOVUPS   Z6, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	ADDQ      $32, DX
	ADDQ      $32, CX
	DECQ      BX
	JNZ       inter512loop

inter512done:
	VZEROUPPER
	RET

// func interleavedAVX2(o, x, cos, sin *float32, n int)
// n is a multiple of 4; the same loop as interleavedAVX512, with VADDSUBPS giving
// the even-subtract / odd-add combination.
TEXT ·interleavedAVX2(SB), NOSPLIT, $0-40
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ cos+16(FP), DX
	MOVQ sin+24(FP), CX
	MOVQ n+32(FP), BX
	SHRQ $2, BX
	JZ   inter256done

inter256loop:
	VMOVUPS   (SI), Y0
	VPERMILPS $0xb1, Y0, Y1
	VPMOVZXDQ (DX), Y2
	VMOVSLDUP Y2, Y2
	VPMOVZXDQ (CX), Y3
	VMOVSLDUP Y3, Y3
	VMULPS    Y2, Y0, Y4
	VMULPS    Y3, Y1, Y5
	VADDSUBPS Y5, Y4, Y6       // even: Y4 - Y5, odd: Y4 + Y5
	VMOVUPS   Y6, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	ADDQ      $16, DX
	ADDQ      $16, CX
	DECQ      BX
	JNZ       inter256loop

inter256done:
	VZEROUPPER
	RET
