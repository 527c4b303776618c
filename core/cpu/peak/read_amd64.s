//go:build !purego

#include "textflag.h"

// The read-bandwidth loops: sequential vector loads added into independent uint64
// accumulators (integer adds wrap, so the order of the additions does not change the sum).

// func sumAVX512(p *byte, blocks int, out *[4]uint64)
//
//	for i := range blocks * 32 { s += le64(p[8*i:]) }  // then out[0]+out[1]+out[2]+out[3] == s
TEXT ·sumAVX512(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ blocks+8(FP), CX
	MOVQ out+16(FP), DI
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3

sum512_loop:
	VPADDQ 0(SI), Z0, Z0
	VPADDQ 64(SI), Z1, Z1
	VPADDQ 128(SI), Z2, Z2
	VPADDQ 192(SI), Z3, Z3
	ADDQ $256, SI
	DECQ CX
	JNZ sum512_loop

	VPADDQ Z1, Z0, Z0
	VPADDQ Z3, Z2, Z2
	VPADDQ Z2, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDQ Y1, Y0, Y0
	VMOVDQU Y0, (DI)
	VZEROUPPER
	RET

// func sumAVX2(p *byte, blocks int, out *[4]uint64)
//
//	for i := range blocks * 32 { s += le64(p[8*i:]) }  // then out[0]+out[1]+out[2]+out[3] == s
TEXT ·sumAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ blocks+8(FP), CX
	MOVQ out+16(FP), DI
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3

sum256_loop:
	VPADDQ 0(SI), Y0, Y0
	VPADDQ 32(SI), Y1, Y1
	VPADDQ 64(SI), Y2, Y2
	VPADDQ 96(SI), Y3, Y3
	VPADDQ 128(SI), Y0, Y0
	VPADDQ 160(SI), Y1, Y1
	VPADDQ 192(SI), Y2, Y2
	VPADDQ 224(SI), Y3, Y3
	ADDQ $256, SI
	DECQ CX
	JNZ sum256_loop

	VPADDQ Y1, Y0, Y0
	VPADDQ Y3, Y2, Y2
	VPADDQ Y2, Y0, Y0
	VMOVDQU Y0, (DI)
	VZEROUPPER
	RET
