package attention

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTanhF32 checks tanhF32 against math.Tanh rounded to float32: at most 1 ulp apart,
// odd, and exact at the special values, over every exponent a float32 can have.
func TestTanhF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(60, 61))
	ulp := func(v float32) float64 {
		if v == 0 {
			return math.Float64frombits(1) // any difference from 0 fails
		}
		return float64(math.Nextafter32(float32(math.Abs(float64(v))), float32(math.Inf(1)))) - math.Abs(float64(v))
	}
	check := func(y float32) {
		got, want := tanhF32(y), float32(math.Tanh(float64(y)))
		if math.Abs(float64(got)-float64(want)) > ulp(want) {
			t.Fatalf("tanhF32(%v) = %v, math.Tanh gives %v", y, got, want)
		}
		if neg := tanhF32(-y); neg != -got {
			t.Fatalf("tanhF32(-%v) = %v, want %v", y, neg, -got)
		}
	}
	for e := -149; e <= 127; e++ {
		for range 200 {
			check(float32(math.Ldexp(1+rng.Float64(), e)))
		}
	}
	for i := range 1 << 16 { // around the branch at 2^-12 and the saturation near 9
		check(float32(0x1p-12 * (0.5 + float64(i)/65536)))
		check(float32(8 + 2*float64(i)/65536))
	}
	for _, c := range []struct{ y, want float32 }{{0, 0}, {float32(math.Inf(1)), 1}, {float32(math.Inf(-1)), -1}, {20, 1}} {
		if got := tanhF32(c.y); got != c.want {
			t.Fatalf("tanhF32(%v) = %v, want %v", c.y, got, c.want)
		}
	}
	if got := tanhF32(float32(math.Copysign(0, -1))); math.Float32bits(got) != 1<<31 {
		t.Fatalf("tanhF32(-0) = %v, want -0", got)
	}
	if got := tanhF32(float32(math.NaN())); got == got {
		t.Fatalf("tanhF32(NaN) = %v", got)
	}
}

// TestSoftCapKernels checks that every path's softCap gives softCapGeneric's bits, at
// lengths around its block of 16, on values from tiny to huge and the special ones.
func TestSoftCapKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(62, 63))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		for _, n := range []int{0, 1, 15, 16, 17, 33, 64, 1000} {
			for _, c := range []float32{1, 30, 50} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(math.Ldexp(rng.NormFloat64(), rng.IntN(40)-30))
					switch i % 17 {
					case 3:
						x[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
					case 5:
						x[i] = float32(math.NaN())
					case 7:
						x[i] = float32(math.Copysign(0, -1))
					}
				}
				want := append([]float32(nil), x...)
				softCapGeneric(want, c)
				k.softCap(x, c)
				for i := range x {
					if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d c=%v: [%d] = %v (%#08x), want %v (%#08x)", n, c, i, x[i], math.Float32bits(x[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	})
}
