package rope

// The row kernels. They define the arithmetic every path reproduces bit for bit: each
// product is rounded to float32 before the sum (the explicit conversions forbid fusing
// them into an FMA), and the two terms are combined as written.

// rotateFunc rotates the R rotary values of one row: x (len R) into o (len R; o may be x
// itself, never a partial overlap) with the row's cos and sin (len R/2 each, already
// scaled by the attention factor and signed for the direction).
type rotateFunc func(o, x, cos, sin []float32)

func genericRotator(pr Pairing) rotateFunc {
	if pr == Interleaved {
		return rotateInterleavedGeneric
	}
	return rotateHalfGeneric
}

// rotateHalfGeneric pairs x[i] with x[i+R/2].
func rotateHalfGeneric(o, x, cos, sin []float32) { rotateHalfFrom(o, x, cos, sin, 0) }

// rotateHalfFrom rotates pairs i >= from (the fast paths finish their tails with it).
func rotateHalfFrom(o, x, cos, sin []float32, from int) {
	h := len(cos)
	x, o, sin = x[:2*h], o[:2*h], sin[:h]
	for i := from; i < h; i++ {
		a, b := x[i], x[i+h]
		o[i] = float32(a*cos[i]) - float32(b*sin[i])
		o[i+h] = float32(b*cos[i]) + float32(a*sin[i])
	}
}

// rotateInterleavedGeneric pairs x[2i] with x[2i+1].
func rotateInterleavedGeneric(o, x, cos, sin []float32) {
	h := len(cos)
	x, o, sin = x[:2*h], o[:2*h], sin[:h]
	for i := range h {
		a, b := x[2*i], x[2*i+1]
		o[2*i] = float32(a*cos[i]) - float32(b*sin[i])
		o[2*i+1] = float32(b*cos[i]) + float32(a*sin[i])
	}
}
