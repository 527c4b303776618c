//go:build !purego

#include "textflag.h"

// func prefetchRows(p unsafe.Pointer, stride, rows, rowBytes int)
// for r := 0; r < rows; r++ { for b := 0; b < rowBytes; b += 64 { PREFETCHT0 p + r*stride + b } }
// stride is in bytes. A prefetch is only a hint: it never faults and changes no value.
TEXT ·prefetchRows(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ stride+8(FP), R8
	MOVQ rows+16(FP), CX
	MOVQ rowBytes+24(FP), DX
	TESTQ CX, CX
	JLE done

row:
	XORQ AX, AX

line:
	PREFETCHT1 (SI)(AX*1)
	ADDQ $64, AX
	CMPQ AX, DX
	JLT line
	ADDQ R8, SI
	DECQ CX
	JNZ row

done:
	RET

// func touchRows(p unsafe.Pointer, stride, rows, rowBytes int)
// Reads one word of every 64-byte line of each row (as prefetchRows walks them), in
// address order: plain independent loads, which the hardware follows as one sequential
// stream when the rows are adjacent, unlike scattered prefetches or transposing reads.
TEXT ·touchRows(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ stride+8(FP), R8
	MOVQ rows+16(FP), CX
	MOVQ rowBytes+24(FP), DX
	TESTQ CX, CX
	JLE tdone

trow:
	XORQ AX, AX

tline:
	MOVL (SI)(AX*1), BX
	ADDQ $64, AX
	CMPQ AX, DX
	JLT tline
	ADDQ R8, SI
	DECQ CX
	JNZ trow

tdone:
	RET
