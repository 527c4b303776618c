package attention

import "math"

// The soft cap c·tanh(x/c) (Gemma 2) on every score. tanh is defined here, not by
// math.Tanh, so that the vector kernels (tanhCapAVX512, tanhCapAVX2 in logits_amd64.s)
// can compute the very same bits eight or four at a time: in float64, as (1-t)/(1+t)
// with t = exp(-2|y|), and y - y³/3 below 2^-12, then rounded once to float32. Its
// error is at most 1 ulp of the float32 result (TestTanhF32 checks it against
// math.Tanh).
//
// exp(x) = 2^k·exp(r) with |r| <= ln 2/2 takes a Taylor polynomial of degree 11 by
// Horner's rule in fused multiply-adds: its truncation error, below 7e-15 relative,
// grows to 2^-35 relative in 1-t at the smallest |y| (2^-12), far below float32's 2^-24.

// Constants of tanhF32's exp: 1/ln 2, ln 2 in two parts (the first with trailing zeros,
// so that k·ln2Hi is exact), and the Taylor coefficients 1/n! for n = 0..11.
const (
	invLn2 = 1.44269504088896338700e+00
	ln2Hi  = 6.93147180369123816490e-01
	ln2Lo  = 1.90821492927058770002e-10
)

var expTaylor = func() (c [12]float64) {
	c[0] = 1
	for n := 1; n < len(c); n++ {
		c[n] = c[n-1] / float64(n)
	}
	return c
}()

// tanhF32 returns tanh(y) rounded to float32 (see the file comment); NaN for NaN.
func tanhF32(y float32) float32 { return float32(tanhF64(float64(y))) }

// tanhF64 is tanhF32 before its rounding to float32, for float64 values of float32
// numbers. Every operation is rounded on its own (the explicit conversions forbid fused
// multiply-adds), except the polynomial's fused ones, in the order the vector kernels
// perform them.
func tanhF64(y float64) float64 {
	if y != y {
		return y
	}
	a := math.Abs(y)
	var v float64
	if a < 0x1p-12 {
		v = float64(a - float64(float64(float64(a*a)*a)/3))
	} else {
		x := max(float64(-2*a), -700) // exp(-700) leaves (1-t)/(1+t) = 1 already
		k := math.RoundToEven(float64(x * invLn2))
		r := float64(x - float64(k*ln2Hi))
		r = float64(r - float64(k*ln2Lo))
		p := expTaylor[len(expTaylor)-1]
		for n := len(expTaylor) - 2; n >= 0; n-- {
			p = math.FMA(p, r, expTaylor[n])
		}
		t := math.Ldexp(p, int(k))
		v = float64(float64(1-t) / float64(1+t))
	}
	return math.Copysign(v, y)
}

// softCap is c·tanh(x/c), each operation rounded to float32.
func softCap(x, c float32) float32 { return float32(c * tanhF32(x/c)) }

// tanhDivGeneric sets th[j] = tanhF32(x[j]/c) for j < len(x).
func tanhDivGeneric(th, x []float32, c float32) {
	for j, v := range x {
		th[j] = tanhF32(v / c)
	}
}

// softCapGeneric applies softCap to every x[j].
func softCapGeneric(x []float32, c float32) {
	for j, v := range x {
		x[j] = softCap(v, c)
	}
}

// softCapConsts are tanhF32's constants as tanhCapAVX512 reads them (offsets in the
// assembly): the |y| mask, -2, -700, 1/ln 2, ln2Hi, ln2Lo, 1, 3, 2^-12, then 1/n! for
// n = 2..11.
var softCapConsts = func() (k [19]float64) {
	copy(k[:], []float64{math.Float64frombits(1<<63 - 1), -2, -700, invLn2, ln2Hi, ln2Lo, 1, 3, 0x1p-12})
	copy(k[9:], expTaylor[2:])
	return k
}()

// softCapConsts4 is softCapConsts for the AVX2 kernel (tanhCapAVX2), each constant four
// times, then 1023 (the exponent bias) as four int64.
var softCapConsts4 = func() (k [20][4]float64) {
	for i, v := range softCapConsts {
		k[i] = [4]float64{v, v, v, v}
	}
	b := math.Float64frombits(1023)
	k[19] = [4]float64{b, b, b, b}
	return k
}()
