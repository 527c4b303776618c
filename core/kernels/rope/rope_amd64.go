//go:build !purego

package rope

import "github.com/mlxprim/mlxprim/core/cpu"

// rotator returns the row kernel for the pairing on the selected path, best first.
func rotator(pr Pairing) rotateFunc {
	switch cpu.Selected() {
	case cpu.AVX512:
		if pr == Interleaved {
			return rotateInterleavedAVX512
		}
		return rotateHalfAVX512
	case cpu.AVX2:
		if pr == Interleaved {
			return rotateInterleavedAVX2
		}
		return rotateHalfAVX2
	}
	return genericRotator(pr)
}

// The assembly routines handle whole blocks of pairs (n is a multiple of the block: 16
// pairs for AVX-512, 8 for AVX2 Half, 8 and 4 for Interleaved); the wrappers check the
// lengths and finish the tail with the generic loop.

//go:noescape
func halfAVX512(o, x, cos, sin *float32, n, h int)

//go:noescape
func halfAVX2(o, x, cos, sin *float32, n, h int)

//go:noescape
func interleavedAVX512(o, x, cos, sin *float32, n int)

//go:noescape
func interleavedAVX2(o, x, cos, sin *float32, n int)

func rotateHalfAVX512(o, x, cos, sin []float32) {
	h := len(cos)
	_, _, _ = o[2*h-1], x[2*h-1], sin[h-1]
	n := h &^ 15
	if n > 0 {
		halfAVX512(&o[0], &x[0], &cos[0], &sin[0], n, h)
	}
	rotateHalfFrom(o, x, cos, sin, n)
}

func rotateHalfAVX2(o, x, cos, sin []float32) {
	h := len(cos)
	_, _, _ = o[2*h-1], x[2*h-1], sin[h-1]
	n := h &^ 7
	if n > 0 {
		halfAVX2(&o[0], &x[0], &cos[0], &sin[0], n, h)
	}
	rotateHalfFrom(o, x, cos, sin, n)
}

func rotateInterleavedAVX512(o, x, cos, sin []float32) {
	h := len(cos)
	_, _, _ = o[2*h-1], x[2*h-1], sin[h-1]
	n := h &^ 7
	if n > 0 {
		interleavedAVX512(&o[0], &x[0], &cos[0], &sin[0], n)
	}
	rotateInterleavedGeneric(o[2*n:], x[2*n:], cos[n:], sin[n:])
}

func rotateInterleavedAVX2(o, x, cos, sin []float32) {
	h := len(cos)
	_, _, _ = o[2*h-1], x[2*h-1], sin[h-1]
	n := h &^ 3
	if n > 0 {
		interleavedAVX2(&o[0], &x[0], &cos[0], &sin[0], n)
	}
	rotateInterleavedGeneric(o[2*n:], x[2*n:], cos[n:], sin[n:])
}
