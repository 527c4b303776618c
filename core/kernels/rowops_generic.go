package kernels

import (
	"math"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// The plain-Go row primitives: the definition of each kernel in rowKernels and the path
// every machine has. Explicit float32(...) conversions keep the compiler from fusing a
// multiply and an add, so these round exactly like the SIMD versions of the same loops.

var genericKernels = rowKernels{
	f16ToF32:   f16ToF32Generic,
	f32ToF16:   f32ToF16Generic,
	bf16ToF32:  bf16ToF32Generic,
	f32ToBF16:  f32ToBF16Generic,
	sum:        sumGeneric,
	sumSqDev:   sumSqDevGeneric,
	max:        maxGeneric,
	dot:        dotGeneric,
	sumSqDot:   sumSqDotGeneric,
	lnSums:     lnSumsGeneric,
	add:        addGeneric,
	mul:        mulGeneric,
	scaleShift: scaleShiftGeneric,
	normAffine: normAffineGeneric,
	div:        divGeneric,
	axpby:      axpbyGeneric,
	normGrad:   normGradGeneric,
	expSum:     expSumGeneric,
	act: [numActivations]func(dst, x, up []float32){
		SiLU:     actGeneric(siluF64),
		GELU:     actGeneric(geluF64),
		GELUTanh: actGeneric(geluTanhF64),
	},
	actGrad: [numActivations]func(a, da, x []float32){
		SiLU:     actGradGeneric(siluF64, siluGradF64),
		GELU:     actGradGeneric(geluF64, geluGradF64),
		GELUTanh: actGradGeneric(geluTanhF64, geluTanhGradF64),
	},
}

func f16ToF32Generic(dst []float32, src []uint16) {
	for j, h := range src {
		dst[j] = tensor.F16ToF32(h)
	}
}

func f32ToF16Generic(dst []uint16, src []float32) {
	for j, v := range src {
		dst[j] = tensor.F32ToF16(v)
	}
}

func bf16ToF32Generic(dst []float32, src []uint16) {
	for j, h := range src {
		dst[j] = tensor.BF16ToF32(h)
	}
}

func f32ToBF16Generic(dst []uint16, src []float32) {
	for j, v := range src {
		dst[j] = tensor.F32ToBF16(v)
	}
}

func sumGeneric(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

func sumSqDevGeneric(x []float32, c float32) float32 {
	var s float32
	for _, v := range x {
		d := v - c
		s += float32(d * d)
	}
	return s
}

func maxGeneric(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

func dotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var s float32
	for j, v := range x {
		s += float32(v * y[j])
	}
	return s
}

func addGeneric(dst, a, b []float32) {
	dst, b = dst[:len(a)], b[:len(a)]
	for j, v := range a {
		dst[j] = v + b[j]
	}
}

func mulGeneric(dst, a, b []float32) {
	dst, b = dst[:len(a)], b[:len(a)]
	for j, v := range a {
		dst[j] = v * b[j]
	}
}

func scaleShiftGeneric(dst, x []float32, c, s, b float32) {
	dst = dst[:len(x)]
	for j, v := range x {
		y := float32((v - c) * s)
		if b != 0 {
			y += b
		}
		dst[j] = y
	}
}

func normAffineGeneric(dst, x []float32, c, s float32, w, b []float32) {
	dst = dst[:len(x)]
	for j, v := range x {
		y := float32((v - c) * s)
		if w != nil {
			y = float32(y * w[j])
		}
		if b != nil {
			y += b[j]
		}
		dst[j] = y
	}
}

func divGeneric(dst, x []float32, t float32) {
	dst = dst[:len(x)]
	for j, v := range x {
		dst[j] = v / t
	}
}

func axpbyGeneric(dst, x, y []float32, a, b, c float32) {
	dst, y = dst[:len(x)], y[:len(x)]
	for j, v := range x {
		dst[j] = float32(float32(v*a)+float32(y[j]*b)) + c
	}
}

func sumSqDotGeneric(h, dy, w []float32) (ss, c float32) {
	dy = dy[:len(h)]
	for j, v := range h {
		g := dy[j]
		if len(w) > 0 {
			g = float32(g * w[j])
		}
		ss += float32(v * v)
		c += float32(g * v)
	}
	return ss, c
}

func lnSumsGeneric(h, dy, w []float32, mean, r float32) (sg, sgx float32) {
	dy = dy[:len(h)]
	for j, v := range h {
		xh := float32(float32(v-mean) * r)
		g := dy[j]
		if len(w) > 0 {
			g = float32(g * w[j])
		}
		sg += g
		sgx += float32(g * xh)
	}
	return sg, sgx
}

func normGradGeneric(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32) {
	dst, dy = dst[:len(h)], dy[:len(h)]
	for j, v := range h {
		xh := float32(float32(v-mean) * r)
		d := dy[j]
		g := d
		if len(w) > 0 {
			g = float32(d * w[j])
		}
		if len(pw) > 0 {
			pw[j] += float32(d * xh)
		}
		if len(pb) > 0 {
			pb[j] += d
		}
		dst[j] = float32(float32(g*a)+float32(xh*b)) + c
	}
}

func expSumGeneric(dst, x []float32, m float32, _ []byte) float32 {
	var sum float32
	for j, v := range x {
		e := float32(math.Exp(float64(v - m)))
		if dst != nil {
			dst[j] = e
		}
		sum += e
	}
	return sum
}

// The activations and their derivatives in float64, rounded once to float32 by callers.

const (
	sqrt2OverPi = 0.7978845608028654 // sqrt(2/pi)
	geluCubic   = 0.044715           // the cubic coefficient of the tanh approximation
	invSqrt2Pi  = 0.3989422804014327 // 1/sqrt(2*pi)
)

func siluF64(x float64) float64 { return x / (1 + math.Exp(-x)) }

func siluGradF64(x float64) float64 {
	s := 1 / (1 + math.Exp(-x))
	return s * (1 + x*(1-s))
}

// normCDF is the standard normal distribution function Phi(x) = 0.5*erfc(-x/sqrt(2)),
// accurate in relative terms in both tails.
func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

func geluF64(x float64) float64 { return x * normCDF(x) }

func geluGradF64(x float64) float64 {
	return normCDF(x) + x*invSqrt2Pi*math.Exp(-0.5*x*x)
}

func geluTanhF64(x float64) float64 {
	u := sqrt2OverPi * (x + geluCubic*x*x*x)
	return 0.5 * x * (1 + math.Tanh(u))
}

func geluTanhGradF64(x float64) float64 {
	u := sqrt2OverPi * (x + geluCubic*x*x*x)
	t := math.Tanh(u)
	du := sqrt2OverPi * (1 + 3*geluCubic*x*x)
	return 0.5*(1+t) + 0.5*x*(1-t*t)*du
}

// actGeneric builds the plain-Go activation row kernel of f: dst = f(x) (* up).
func actGeneric(f func(float64) float64) func(dst, x, up []float32) {
	return func(dst, x, up []float32) {
		dst = dst[:len(x)]
		for j, v := range x {
			y := float32(f(float64(v)))
			if up != nil {
				y *= up[j]
			}
			dst[j] = y
		}
	}
}

// actGradGeneric builds the plain-Go kernel that sets a = f(x) and da = f'(x).
func actGradGeneric(f, df func(float64) float64) func(a, da, x []float32) {
	return func(a, da, x []float32) {
		a, da = a[:len(x)], da[:len(x)]
		for j, v := range x {
			a[j] = float32(f(float64(v)))
			da[j] = float32(df(float64(v)))
		}
	}
}
