//go:build !purego

#include "textflag.h"

// func prefetchBytes(p unsafe.Pointer, n int)
// for b := 0; b < n; b += 64 { PREFETCHT0 p + b }. A prefetch is only a hint: it never
// faults and changes no value.
TEXT ·prefetchBytes(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	XORQ AX, AX

line:
	CMPQ AX, CX
	JGE  done
	PREFETCHT0 (SI)(AX*1)
	ADDQ $64, AX
	JMP  line

done:
	RET
