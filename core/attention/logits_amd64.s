//go:build !purego

#include "textflag.h"

// Vector kernels of the logit terms (softcap.go, tiles.go): the soft cap and ALiBi.

// SC_TANH64(Y, SKIP) sets Z7 to tanhF64 of the 8 float64 values in Y, with tanhF64's
// operations in its order (softcap.go); SKIP is a label of its own for each use: the
// y - y³/3 branch is skipped when no lane is below 2^-12. Constants: Z30 the |y| mask,
// Z29 -2, Z28 -700, Z27 1/ln 2, Z26 ln2Hi, Z25 ln2Lo, Z24 1, Z23 3, Z22 2^-12, Z10-Z19
// 1/n! for n = 2..11. Scratch: Z6-Z9, K2, K3.
#define SC_TANH64(Y, SKIP) \
	VANDPD      Z30, Y, Z6; \
	VMULPD      Z29, Z6, Z7; \
	VMAXPD      Z28, Z7, Z7; \
	VMULPD      Z27, Z7, Z8; \
	VRNDSCALEPD $0, Z8, Z8; \
	VMULPD      Z26, Z8, Z9; \
	VSUBPD      Z9, Z7, Z7; \
	VMULPD      Z25, Z8, Z9; \
	VSUBPD      Z9, Z7, Z7; \
	VMOVAPD     Z19, Z9; \
	VFMADD213PD Z18, Z7, Z9; \
	VFMADD213PD Z17, Z7, Z9; \
	VFMADD213PD Z16, Z7, Z9; \
	VFMADD213PD Z15, Z7, Z9; \
	VFMADD213PD Z14, Z7, Z9; \
	VFMADD213PD Z13, Z7, Z9; \
	VFMADD213PD Z12, Z7, Z9; \
	VFMADD213PD Z11, Z7, Z9; \
	VFMADD213PD Z10, Z7, Z9; \
	VFMADD213PD Z24, Z7, Z9; \
	VFMADD213PD Z24, Z7, Z9; \
	VSCALEFPD   Z8, Z9, Z9; \
	VSUBPD      Z9, Z24, Z7; \
	VADDPD      Z24, Z9, Z9; \
	VDIVPD      Z9, Z7, Z7; \
	VCMPPD      $1, Z22, Z6, K2; \
	KORTESTW    K2, K2; \
	JZ          SKIP; \
	VMULPD      Z6, Z6, Z9; \
	VMULPD      Z6, Z9, Z9; \
	VDIVPD      Z23, Z9, Z9; \
	VSUBPD      Z9, Z6, Z9; \
	VMOVAPD     Z9, K2, Z7; \
SKIP: \
	VPTERNLOGQ  $0xe4, Z30, Y, Z7; \
	VCMPPD      $3, Y, Y, K3; \
	VMOVAPD     Y, K3, Z7

// SC_TANH(Y, OUT, SKIP) sets OUT (8 float32) to tanhF32 of the 8 values in Y.
#define SC_TANH(Y, OUT, SKIP) \
	SC_TANH64(Y, SKIP); \
	VCVTPD2PS Z7, OUT

// SC_CONSTS loads the constants of SC_TANH64 from the table at AX (softCapConsts).
#define SC_CONSTS \
	VBROADCASTSD (AX), Z30; \
	VBROADCASTSD 8(AX), Z29; \
	VBROADCASTSD 16(AX), Z28; \
	VBROADCASTSD 24(AX), Z27; \
	VBROADCASTSD 32(AX), Z26; \
	VBROADCASTSD 40(AX), Z25; \
	VBROADCASTSD 48(AX), Z24; \
	VBROADCASTSD 56(AX), Z23; \
	VBROADCASTSD 64(AX), Z22; \
	VBROADCASTSD 72(AX), Z10; \
	VBROADCASTSD 80(AX), Z11; \
	VBROADCASTSD 88(AX), Z12; \
	VBROADCASTSD 96(AX), Z13; \
	VBROADCASTSD 104(AX), Z14; \
	VBROADCASTSD 112(AX), Z15; \
	VBROADCASTSD 120(AX), Z16; \
	VBROADCASTSD 128(AX), Z17; \
	VBROADCASTSD 136(AX), Z18; \
	VBROADCASTSD 144(AX), Z19

// func tanhCapAVX512(dst, x []float32, c float32, capped bool, k *[19]float64)
//
//	for j := range len(x) &^ 15 {
//		dst[j] = tanhF32(x[j]/c)
//		if capped { dst[j] = float32(c * dst[j]) }   // softCap
//	}
//
// 16 floats per step, as two vectors of 8 float64; len(dst) >= len(x).
TEXT ·tanhCapAVX512(SB), NOSPLIT, $0-64
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	SHRQ         $4, CX
	JZ           done
	VBROADCASTSS c+48(FP), Z31
	MOVBLZX      capped+52(FP), BX
	MOVQ         k+56(FP), AX
	SC_CONSTS

loop:
	VMOVUPS       (SI), Z0
	VDIVPS        Z31, Z0, Z0
	VEXTRACTF32X8 $1, Z0, Y1
	VCVTPS2PD     Y0, Z2
	VCVTPS2PD     Y1, Z3
	SC_TANH(Z2, Y4, small0)
	SC_TANH(Z3, Y5, small1)
	VINSERTF32X8  $1, Y5, Z4, Z4
	TESTQ         BX, BX
	JZ            store
	VMULPS        Z31, Z4, Z4

store:
	VMOVUPS       Z4, (DI)
	ADDQ          $64, SI
	ADDQ          $64, DI
	DECQ          CX
	JNZ           loop
	VZEROUPPER

done:
	RET

// func tanhF64AVX512(y []float64, k *[19]float64)
//
//	for j := range len(y) &^ 7 { y[j] = tanhF64(y[j]) }
//
// tanhCapAVX512's tanh before its rounding to float32, for the tests.
TEXT ·tanhF64AVX512(SB), NOSPLIT, $0-32
	MOVQ  y_base+0(FP), SI
	MOVQ  y_len+8(FP), CX
	SHRQ  $3, CX
	JZ    tdone
	MOVQ  k+24(FP), AX
	SC_CONSTS

tloop:
	VMOVUPD (SI), Z2
	SC_TANH64(Z2, tsmall)
	VMOVUPD Z7, (SI)
	ADDQ    $64, SI
	DECQ    CX
	JNZ     tloop
	VZEROUPPER

tdone:
	RET

// func alibiTile16AVX512(st *float32, ldBytes, ja, nk, rows int, slope *float32, dist, lo, hi *int32)
//
// alibiTileGeneric for rows [0, rows) (rows <= 16) of a tile whose keys are ldBytes apart:
// for each key j = ja+t, the lanes of the visible rows get x - float32(slope*float32(dist-j)).
TEXT ·alibiTile16AVX512(SB), NOSPLIT, $0-72
	MOVQ         st+0(FP), DI
	MOVQ         ldBytes+8(FP), DX
	MOVQ         ja+16(FP), AX
	MOVQ         rows+32(FP), CX
	MOVQ         $1, R8
	SHLQ         CX, R8
	DECQ         R8
	KMOVW        R8, K1
	MOVQ         nk+24(FP), CX
	MOVQ         slope+40(FP), R9
	VMOVUPS.Z    (R9), K1, Z0
	MOVQ         dist+48(FP), R9
	VMOVDQU32.Z  (R9), K1, Z1
	MOVQ         lo+56(FP), R9
	VMOVDQU32.Z  (R9), K1, Z2
	MOVQ         hi+64(FP), R9
	VMOVDQU32.Z  (R9), K1, Z3
	TESTQ        CX, CX
	JZ           adone

aloop:
	VPBROADCASTD AX, Z4
	VPCMPD       $5, Z2, Z4, K1, K2 // j >= lo
	VPCMPD       $1, Z3, Z4, K2, K2 // and j < hi
	VPSUBD       Z4, Z1, Z5         // dist - j
	VCVTDQ2PS    Z5, Z5
	VMULPS       Z0, Z5, Z5
	VMOVUPS.Z    (DI), K2, Z6
	VSUBPS       Z5, Z6, Z6
	VMOVUPS      Z6, K2, (DI)
	ADDQ         DX, DI
	INCQ         AX
	DECQ         CX
	JNZ          aloop
	VZEROUPPER

adone:
	RET

// ---- AVX2 -----------------------------------------------------------------------------

// SC2_TANH64(Y, SKIP) sets Y7 to tanhF64 of the 4 float64 values in Y, with tanhF64's
// operations in its order; SKIP as for SC_TANH64. Constants come from the table at AX
// (softCapConsts4: each constant of softCapConsts four times, 32 bytes apart; then 1023
// as four int64). Scratch: Y6-Y9, Y12-Y13.
#define SC2_TANH64(Y, SKIP) \
	VANDPD      (AX), Y, Y6; \
	VMULPD      32(AX), Y6, Y7; \
	VMAXPD      64(AX), Y7, Y7; \
	VMULPD      96(AX), Y7, Y8; \
	VROUNDPD    $0, Y8, Y8; \
	VMULPD      128(AX), Y8, Y9; \
	VSUBPD      Y9, Y7, Y7; \
	VMULPD      160(AX), Y8, Y9; \
	VSUBPD      Y9, Y7, Y7; \
	VMOVUPD     576(AX), Y9; \
	VFMADD213PD 544(AX), Y7, Y9; \
	VFMADD213PD 512(AX), Y7, Y9; \
	VFMADD213PD 480(AX), Y7, Y9; \
	VFMADD213PD 448(AX), Y7, Y9; \
	VFMADD213PD 416(AX), Y7, Y9; \
	VFMADD213PD 384(AX), Y7, Y9; \
	VFMADD213PD 352(AX), Y7, Y9; \
	VFMADD213PD 320(AX), Y7, Y9; \
	VFMADD213PD 288(AX), Y7, Y9; \
	VFMADD213PD 192(AX), Y7, Y9; \
	VFMADD213PD 192(AX), Y7, Y9; \
	VCVTPD2DQY  Y8, X12; \
	VPMOVSXDQ   X12, Y12; \
	VPADDQ      608(AX), Y12, Y12; \
	VPSLLQ      $52, Y12, Y12; \
	VMULPD      Y12, Y9, Y9; \
	VMOVUPD     192(AX), Y13; \
	VSUBPD      Y9, Y13, Y7; \
	VADDPD      Y13, Y9, Y9; \
	VDIVPD      Y9, Y7, Y7; \
	VCMPPD      $1, 256(AX), Y6, Y12; \
	VTESTPD     Y12, Y12; \
	JZ          SKIP; \
	VMULPD      Y6, Y6, Y9; \
	VMULPD      Y6, Y9, Y9; \
	VDIVPD      224(AX), Y9, Y9; \
	VSUBPD      Y9, Y6, Y9; \
	VBLENDVPD   Y12, Y9, Y7, Y7; \
SKIP: \
	VMOVUPD     (AX), Y13; \
	VANDPD      Y13, Y7, Y7; \
	VANDNPD     Y, Y13, Y12; \
	VORPD       Y12, Y7, Y7; \
	VCMPPD      $3, Y, Y, Y12; \
	VBLENDVPD   Y12, Y, Y7, Y7

// func tanhCapAVX2(dst, x []float32, c float32, capped bool, k *[20][4]float64)
//
// tanhCapAVX512 on AVX2, 8 floats per step (two vectors of 4 float64).
TEXT ·tanhCapAVX2(SB), NOSPLIT, $0-64
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	SHRQ         $3, CX
	JZ           done2
	VBROADCASTSS c+48(FP), Y15
	MOVBLZX      capped+52(FP), BX
	MOVQ         k+56(FP), AX

loop2:
	VMOVUPS      (SI), Y0
	VDIVPS       Y15, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VCVTPS2PD    X0, Y2
	VCVTPS2PD    X1, Y3
	SC2_TANH64(Y2, small20)
	VCVTPD2PSY   Y7, X4
	SC2_TANH64(Y3, small21)
	VCVTPD2PSY   Y7, X5
	VINSERTF128  $1, X5, Y4, Y4
	TESTQ        BX, BX
	JZ           store2
	VMULPS       Y15, Y4, Y4

store2:
	VMOVUPS      Y4, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          loop2
	VZEROUPPER

done2:
	RET

// func tanhF64AVX2(y []float64, k *[20][4]float64)
//
// tanhCapAVX2's tanh before its rounding to float32, for the tests (len(y) &^ 3).
TEXT ·tanhF64AVX2(SB), NOSPLIT, $0-32
	MOVQ    y_base+0(FP), SI
	MOVQ    y_len+8(FP), CX
	SHRQ    $2, CX
	JZ      tdone2
	MOVQ    k+24(FP), AX

tloop2:
	VMOVUPD (SI), Y2
	SC2_TANH64(Y2, tsmall2)
	VMOVUPD Y7, (SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     tloop2
	VZEROUPPER

tdone2:
	RET
