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

// TestSoftCapKernels checks that every path's softCap and tanhDiv give the Go bits, at
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
				wantTh, th := make([]float32, n), make([]float32, n+3)
				tanhDivGeneric(wantTh, x, c)
				k.tanhDiv(th, x, c)
				for i := range wantTh {
					if math.Float32bits(th[i]) != math.Float32bits(wantTh[i]) {
						t.Fatalf("tanhDiv n=%d c=%v: [%d] = %v, want %v", n, c, i, th[i], wantTh[i])
					}
				}
				if th[n] != 0 || th[n+1] != 0 || th[n+2] != 0 {
					t.Fatalf("tanhDiv n=%d wrote past its length", n)
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

// TestALiBiTile checks every path's ALiBi tile kernel against alibiTileGeneric bit for
// bit, for row counts around its 16 lanes, rows that see no key, and keys beyond a row's
// range, with guards after the rows it may write.
func TestALiBiTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(66, 67))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.tiles == nil {
			t.Skip("no tile kernels on this path")
		}
		for _, n := range []int{1, 5, 16, 17, 31, 32, 40} {
			ld := n + 3 // guard lanes after the rows
			const ja, nk = 1000, 64
			a := &alibiRows{slope: make([]float32, n), dist: make([]int32, n), lo: make([]int32, n), hi: make([]int32, n)}
			for r := range n {
				a.slope[r] = float32(rng.Float64())
				a.dist[r] = int32(ja + rng.IntN(3*nk))
				a.lo[r] = int32(ja - 8 + rng.IntN(nk))
				a.hi[r] = a.lo[r] + int32(rng.IntN(nk))
			}
			st := make([]float32, nk*ld)
			for i := range st {
				st[i] = float32(rng.NormFloat64() * 10)
			}
			want := append([]float32(nil), st...)
			alibiTileGeneric(want, ld, ja, nk, a)
			k.tiles.alibi(st, ld, ja, nk, a)
			for i := range st {
				if math.Float32bits(st[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d: key %d row %d: %v, want %v", n, i/ld, i%ld, st[i], want[i])
				}
			}
		}
	})
}

// TestBiasTile checks every path's bias kernel against biasTileGeneric, bit for bit, on
// rows in whole and partial blocks of 16 (the lanes after them untouched), NaN and
// infinite values included.
func TestBiasTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(68, 69))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.tiles == nil {
			t.Skip("no tile kernels on this path")
		}
		value := func() float32 {
			switch rng.IntN(16) {
			case 0:
				return float32(math.Inf(-1))
			case 1:
				return float32(math.NaN())
			}
			return float32(rng.NormFloat64() * 10)
		}
		for _, n := range []int{1, 5, 16, 17, 31, 32, 40} {
			for _, nk := range []int{16, 64} {
				ld := n + 3 // guard lanes after the rows
				bt := make([]float32, (n+15)&^15*tileKeys)
				for i := range bt {
					bt[i] = value()
				}
				st := make([]float32, nk*ld)
				for i := range st {
					st[i] = value()
				}
				want := append([]float32(nil), st...)
				biasTileGeneric(want, ld, bt, nk, n)
				k.tiles.bias(st, ld, bt, nk, n)
				for i := range st {
					if math.Float32bits(st[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d nk=%d: key %d row %d: %v, want %v", n, nk, i/ld, i%ld, st[i], want[i])
					}
				}
			}
		}
	})
}
