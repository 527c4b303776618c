//go:build !purego

#include "textflag.h"

// AVX-512 (F, BW, VL, DQ) attention kernels. Each routine computes the generic Go loop
// named in its comment (kernels_generic.go), 16 float32 lanes at a time. Head-dim
// lengths (len(q), len(o)) are multiples of 16.

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
