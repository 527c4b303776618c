//go:build !purego

package attention

import (
	"math"
	"math/rand/v2"
	"testing"

	x86 "golang.org/x/sys/cpu"
)

// TestTanhF64AVX512 checks the AVX-512 soft cap's tanh before its rounding to float32
// against tanhF64, bit for bit: a difference there would only rarely show in float32.
// Values of every float32 exponent, both signs, the branch point 2^-12 and its
// neighbours, the saturation region, and the special values.
func TestTanhF64AVX512(t *testing.T) {
	if !x86.X86.HasAVX512F || !x86.X86.HasAVX512DQ {
		t.Skip("no AVX-512")
	}
	checkTanhF64(t, func(y []float64) { tanhF64AVX512(y, &softCapConsts) })
}

// TestTanhF64AVX2 is TestTanhF64AVX512 for the AVX2 kernel.
func TestTanhF64AVX2(t *testing.T) {
	if !x86.X86.HasAVX2 {
		t.Skip("no AVX2")
	}
	checkTanhF64(t, func(y []float64) { tanhF64AVX2(y, &softCapConsts4) })
}

// checkTanhF64 runs kernel (which covers whole blocks of 8) on the test values and
// compares each with tanhF64.
func checkTanhF64(t *testing.T, kernel func(y []float64)) {
	rng := rand.New(rand.NewPCG(64, 65))
	var y []float64
	for e := -149; e <= 127; e++ {
		for range 64 {
			v := float64(float32(math.Ldexp(1+rng.Float64(), e)))
			y = append(y, v, -v)
		}
	}
	b := float64(float32(0x1p-12))
	y = append(y, b, -b, float64(math.Nextafter32(float32(b), 0)), float64(math.Nextafter32(float32(b), 1)),
		0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 9, 19, 350, 351, 1e30)
	for len(y)%8 != 0 {
		y = append(y, 0.5)
	}
	got := append([]float64(nil), y...)
	kernel(got)
	for i, v := range y {
		want := tanhF64(v)
		if math.Float64bits(got[i]) != math.Float64bits(want) && !(got[i] != got[i] && want != want) {
			t.Fatalf("tanh(%v) = %v (%#016x), tanhF64 gives %v (%#016x)", v, got[i], math.Float64bits(got[i]), want, math.Float64bits(want))
		}
	}
}
