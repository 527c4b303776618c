package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Row primitive tests: every path of cpu.Available() against plain-Go or float64
// references, at lengths that hit every block size and tail (the AVX-512 loops work in
// blocks of 16 and 64, the AVX2 ones in 8 and 32), with guard elements around outputs.

var rowSizes = []int{0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1023, 4096}

// forEachISA runs body as a subtest for the row kernels of every available path.
func forEachISA(t *testing.T, body func(t *testing.T, k *rowKernels)) {
	for _, isa := range cpu.Available() {
		t.Run(isa.String(), func(t *testing.T) { body(t, kernelsFor(isa)) })
	}
}

const guardLen = 19 // odd, so guards straddle any vector boundary

// guarded returns an n-element slice inside a larger buffer whose other elements hold
// sentinel; intact reports whether they still do.
func guarded[T comparable](n int, sentinel T) (s []T, intact func() bool) {
	buf := make([]T, n+2*guardLen)
	for i := range buf {
		buf[i] = sentinel
	}
	s = buf[guardLen : guardLen+n : guardLen+n]
	return s, func() bool {
		for i, v := range buf {
			if (i < guardLen || i >= guardLen+n) && v != sentinel {
				return false
			}
		}
		return true
	}
}

// f32Sentinel is a NaN bit pattern that no kernel produces.
var f32Sentinel = math.Float32frombits(0x7fa5a5a5)

func guardedF32(n int) ([]float32, func() bool) {
	buf := make([]float32, n+2*guardLen)
	for i := range buf {
		buf[i] = f32Sentinel
	}
	return buf[guardLen : guardLen+n : guardLen+n], func() bool {
		for i, v := range buf {
			if (i < guardLen || i >= guardLen+n) && math.Float32bits(v) != math.Float32bits(f32Sentinel) {
				return false
			}
		}
		return true
	}
}

func randF32(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	return x
}

func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// specialF32 are values every conversion and kernel must handle: zeros, subnormals, the
// float16 range limits and rounding ties, infinities and NaNs with payloads.
var specialF32 = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 0.5, 65504, 65519.996, 65520, -65520, 1e-8, -1e-8,
	5.9604645e-8, 2.9802322e-8, 2.9802326e-8, 8.940697e-8, 6.1035156e-5, 6.1035152e-5,
	1 + 1.0/2048, 1 + 3.0/2048, 1 + 1.0/256, 1 + 3.0/256, 3.3895314e38, -3.4028235e38,
	1.4e-45, -1.4e-45, 1.1754942e-38,
	float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0x7fc00000), math.Float32frombits(0xffc00001), math.Float32frombits(0x7fa00000),
	math.Float32frombits(0x7f800001), math.Float32frombits(0x7fffe000),
}

func TestRowConversions(t *testing.T) {
	// All 2^16 half patterns widen exactly like tensor.F16ToF32/BF16ToF32 (NaNs stay NaN
	// with the same payload; a signaling float16 NaN may come back quieted in hardware).
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		for _, c := range []struct {
			name string
			fn   func([]float32, []uint16)
			ref  func(uint16) float32
		}{{"f16", k.f16ToF32, tensor.F16ToF32}, {"bf16", k.bf16ToF32, tensor.BF16ToF32}} {
			got := make([]float32, len(all))
			c.fn(got, all)
			for i, h := range all {
				want := c.ref(h)
				g := got[i]
				if want != want {
					if g == g || math.Float32bits(g)|0x400000 != math.Float32bits(want)|0x400000 {
						t.Fatalf("%s widen %#04x: %#08x, want NaN %#08x", c.name, h, math.Float32bits(g), math.Float32bits(want))
					}
					continue
				}
				if math.Float32bits(g) != math.Float32bits(want) {
					t.Fatalf("%s widen %#04x: %v, want %v", c.name, h, g, want)
				}
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for _, n := range rowSizes {
			src := make([]float32, n)
			for i := range src {
				switch i % 3 {
				case 0:
					src[i] = math.Float32frombits(rng.Uint32())
				case 1:
					src[i] = specialF32[rng.IntN(len(specialF32))]
				default:
					src[i] = float32(rng.NormFloat64() * 100)
				}
			}
			for _, c := range []struct {
				name string
				fn   func([]uint16, []float32)
				ref  func(float32) uint16
			}{{"f16", k.f32ToF16, tensor.F32ToF16}, {"bf16", k.f32ToBF16, tensor.F32ToBF16}} {
				dst, intact := guarded(n, uint16(0xa5a5))
				c.fn(dst, src)
				for i, v := range src {
					if dst[i] != c.ref(v) {
						t.Fatalf("%s narrow n=%d [%d] %v (%#08x): %#04x, want %#04x", c.name, n, i, v, math.Float32bits(v), dst[i], c.ref(v))
					}
				}
				if !intact() {
					t.Fatalf("%s narrow n=%d wrote outside its output", c.name, n)
				}
			}
			half := make([]uint16, n)
			for i := range half {
				half[i] = uint16(rng.Uint32())
			}
			for _, c := range []struct {
				name string
				fn   func([]float32, []uint16)
			}{{"f16", k.f16ToF32}, {"bf16", k.bf16ToF32}} {
				dst, intact := guardedF32(n)
				c.fn(dst, half)
				if !intact() {
					t.Fatalf("%s widen n=%d wrote outside its output", c.name, n)
				}
			}
		}
	})
}

// TestRowElementwiseExact: the elementwise kernels without transcendentals round every
// operation separately, so each path gives exactly the generic bits.
func TestRowElementwiseExact(t *testing.T) {
	g := &genericKernels
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, n := range rowSizes {
			x, y, w, b := randF32(rng, n, 3), randF32(rng, n, 3), randF32(rng, n, 1), randF32(rng, n, 1)
			if n > 3 {
				x[0], x[1], x[2] = float32(math.Inf(1)), float32(math.NaN()), float32(math.Copysign(0, -1))
			}
			cases := []struct {
				name string
				run  func(k *rowKernels, dst []float32)
			}{
				{"add", func(k *rowKernels, d []float32) { k.add(d, x, y) }},
				{"mul", func(k *rowKernels, d []float32) { k.mul(d, x, y) }},
				{"scaleShift", func(k *rowKernels, d []float32) { k.scaleShift(d, x, 0.25, 1.7, 0) }},
				{"scaleShift -0", func(k *rowKernels, d []float32) { k.scaleShift(d, x, 0, 3, float32(math.Copysign(0, -1))) }},
				{"scaleShift b", func(k *rowKernels, d []float32) { k.scaleShift(d, x, -1.5, 0.3, 2.5) }},
				{"normAffine", func(k *rowKernels, d []float32) { k.normAffine(d, x, 0.1, 1.3, nil, nil) }},
				{"normAffine w", func(k *rowKernels, d []float32) { k.normAffine(d, x, 0.1, 1.3, w, nil) }},
				{"normAffine b", func(k *rowKernels, d []float32) { k.normAffine(d, x, 0.1, 1.3, nil, b) }},
				{"normAffine wb", func(k *rowKernels, d []float32) { k.normAffine(d, x, 0.1, 1.3, w, b) }},
				{"div", func(k *rowKernels, d []float32) { k.div(d, x, 0.7) }},
				{"axpby", func(k *rowKernels, d []float32) { k.axpby(d, x, y, 0.3, -1.7, 0.01) }},
				{"normGrad mean 0", func(k *rowKernels, d []float32) { k.normGrad(d, nil, nil, x, y, w, 0, 0.7, 0.7, -0.003, 0) }},
				{"normGrad", func(k *rowKernels, d []float32) { k.normGrad(d, nil, nil, x, y, nil, 0.2, 1.3, 1.3, 0.04, -0.01) }},
				{"normGrad w", func(k *rowKernels, d []float32) { k.normGrad(d, nil, nil, x, y, w, 0.2, 1.3, 1.3, 0.04, -0.01) }},
			}
			for _, c := range cases {
				want := make([]float32, n)
				c.run(g, want)
				got, intact := guardedF32(n)
				c.run(k, got)
				if !sameBits(got, want) {
					t.Fatalf("%s n=%d: %v, want %v", c.name, n, got, want)
				}
				if !intact() {
					t.Fatalf("%s n=%d wrote outside its output", c.name, n)
				}
			}
			// In place (dst is an input) gives the same bits.
			want := make([]float32, n)
			g.axpby(want, x, y, 2, 3, 1)
			in := slices.Clone(x)
			k.axpby(in, in, y, 2, 3, 1)
			if !sameBits(in, want) {
				t.Fatalf("axpby in place n=%d differs", n)
			}
			// normGrad adds to both parts, and may write over h or dy.
			wantD, wantP, wantPB := make([]float32, n), slices.Clone(b), slices.Clone(y)
			g.normGrad(wantD, wantP, wantPB, x, y, w, 0.2, 1.3, 1.3, 0.04, -0.01)
			for _, over := range []string{"h", "dy"} {
				h, dy, pw, pb := slices.Clone(x), slices.Clone(y), slices.Clone(b), slices.Clone(y)
				dst := h
				if over == "dy" {
					dst = dy
				}
				k.normGrad(dst, pw, pb, h, dy, w, 0.2, 1.3, 1.3, 0.04, -0.01)
				if !sameBits(dst, wantD) || !sameBits(pw, wantP) || !sameBits(pb, wantPB) {
					t.Fatalf("normGrad over %s n=%d differs", over, n)
				}
			}
		}
	})
}

// sq0 returns the terms x[j]^2 of a sum of squares, in float64.
func sq0(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) * float64(v)
	}
	return out
}

// sumBound is the classic worst-case bound for a float32 sum of terms: n * 2^-24 * sum|t|,
// plus a little for the final rounding.
func sumBound(terms []float64) float64 {
	var abs float64
	for _, v := range terms {
		abs += math.Abs(v)
	}
	return float64(len(terms)+2)*0x1p-24*abs + 1e-30
}

func TestRowReductions(t *testing.T) {
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, n := range rowSizes {
			x, y := randF32(rng, n+16, 2)[:n], randF32(rng, n, 2)
			var sum, dot []float64
			var sq []float64
			c := float32(0.375)
			wantMax := math.Inf(-1)
			for i, v := range x {
				sum = append(sum, float64(v))
				d := float64(v) - float64(c)
				sq = append(sq, d*d)
				dot = append(dot, float64(v)*float64(y[i]))
				wantMax = math.Max(wantMax, float64(v))
			}
			check := func(name string, got float32, terms []float64) {
				t.Helper()
				var want float64
				for _, v := range terms {
					want += v
				}
				if math.Abs(float64(got)-want) > sumBound(terms) {
					t.Fatalf("%s n=%d: %v, want %v", name, n, got, want)
				}
			}
			check("sum", k.sum(x), sum)
			check("sumSqDev", k.sumSqDev(x, c), sq)
			check("dot", k.dot(x, y), dot)
			ss, c := k.sumSqDot(x, y, nil)
			check("sumSqDot ss", ss, sq0(x))
			check("sumSqDot c", c, dot)
			w := randF32(rng, n, 1)
			var gdot []float64
			for i, v := range x {
				gdot = append(gdot, float64(float32(y[i]*w[i]))*float64(v))
			}
			_, c = k.sumSqDot(x, y, w)
			check("sumSqDot c with w", c, gdot)
			const mean, r = 0.3, 1.7
			var gs, gx []float64
			for i, v := range x {
				g := float64(float32(y[i] * w[i]))
				gs = append(gs, g)
				gx = append(gx, g*float64(float32(float32(v-mean)*r)))
			}
			sg, sgx := k.lnSums(x, y, w, mean, r)
			check("lnSums sg", sg, gs)
			check("lnSums sgx", sgx, gx)
			if got := k.max(x); float64(got) != wantMax {
				t.Fatalf("max n=%d: %v, want %v", n, got, wantMax)
			}
			// The result does not depend on where the row starts (batch invariance).
			big := randF32(rng, n+16, 2)
			for _, shift := range []int{1, 3, 8, 15} {
				moved := big[shift : shift+n]
				copy(moved, x)
				if k.sum(moved) != k.sum(x) || k.sumSqDev(moved, c) != k.sumSqDev(x, c) ||
					k.dot(moved, y) != k.dot(x, y) || k.max(moved) != k.max(x) {
					t.Fatalf("n=%d: reduction depends on the row's address", n)
				}
			}
		}
		// max skips NaN and gives -Inf for an empty or all -Inf/NaN row.
		nan, inf := float32(math.NaN()), float32(math.Inf(1))
		for _, c := range []struct {
			x    []float32
			want float32
		}{
			{nil, -inf}, {[]float32{nan}, -inf}, {[]float32{-inf, nan, -inf}, -inf},
			{append(make([]float32, 40), nan, 3, nan), 3}, {[]float32{1, inf, nan, 2}, inf},
			{append([]float32{-5, -7, -9, -1, -3, -4, -8, -2, -6, -5, -5, -5, -5, -5, -5, -5, -5}, make([]float32, 0)...), -1},
		} {
			if got := k.max(c.x); got != c.want {
				t.Fatalf("max %v = %v, want %v", c.x, got, c.want)
			}
		}
	})
}

// ulpDiff returns how many float32 steps separate got from want (want rounded to float32).
func ulpDiff(got float32, want float64) float64 {
	w := float32(want)
	if got == w {
		return 0
	}
	step := math.Abs(float64(math.Nextafter32(w, float32(math.Inf(1)))) - float64(w))
	if step == 0 || math.IsInf(step, 0) {
		step = math.Abs(float64(w) - float64(math.Nextafter32(w, 0)))
	}
	return math.Abs(float64(got)-want) / step
}

// TestRowExp: expSum gives exp(x - m) within 1 ulp of math.Exp for normal results (the
// generic path rounds math.Exp once: within 0.5 ulp), exact specials, and the sum, which a
// prefetch hint does not change.
func TestRowExp(t *testing.T) {
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		var x []float32
		for v := -104.0; v <= 89; v += 0.0137 {
			x = append(x, float32(v))
		}
		rng := rand.New(rand.NewPCG(7, 8))
		for range 20000 {
			x = append(x, float32(rng.Float64()*0.7-0.35))
		}
		got, intact := guardedF32(len(x))
		s := k.expSum(got, x, 0, nil)
		if !intact() {
			t.Fatal("expSum wrote outside its output")
		}
		var maxULP, want float64
		for i, v := range x {
			e := math.Exp(float64(v))
			want += float64(float32(e))
			if e < 0x1p-126 {
				if math.Abs(float64(got[i])-e) > 0x1p-149 {
					t.Fatalf("exp(%v) = %v, want %v (subnormal)", v, got[i], e)
				}
				continue
			}
			if float32(e) > math.MaxFloat32 {
				if !math.IsInf(float64(got[i]), 1) {
					t.Fatalf("exp(%v) = %v, want +Inf", v, got[i])
				}
				continue
			}
			maxULP = math.Max(maxULP, ulpDiff(got[i], e))
		}
		if maxULP > 1 {
			t.Fatalf("exp max error %v ulp, want <= 1", maxULP)
		}
		t.Logf("exp max error %.2f ulp", maxULP)
		next := make([]byte, 4*len(x))
		if ns := k.expSum(nil, x, 0, next); ns != s {
			t.Fatalf("sum without dst %v differs from %v", ns, s)
		}
		if math.IsInf(want, 0) != math.IsInf(float64(s), 0) {
			t.Fatalf("sum %v, want %v", s, want)
		}
		// Shifted inputs: exp(x - m) with the specials softmax relies on.
		inf := float32(math.Inf(1))
		sp := []float32{-inf, inf, float32(math.NaN()), 0, -1000, 1000, 3}
		out := make([]float32, len(sp))
		k.expSum(out, sp, 3, nil)
		if out[0] != 0 || !math.IsInf(float64(out[1]), 1) || out[2] == out[2] || ulpDiff(out[3], math.Exp(-3)) > 2 ||
			out[4] != 0 || !math.IsInf(float64(out[5]), 1) || out[6] != 1 {
			t.Fatalf("specials: %v", out)
		}
		// The four-vector loop gives an element the bits of the one-vector loop (16 at a
		// time), specials included.
		blocks := append(slices.Repeat(sp, 19)[:128], x[:272]...)
		all := make([]float32, len(blocks))
		k.expSum(all, blocks, 3, nil)
		one := make([]float32, 16)
		for i := 0; i < len(blocks); i += 16 {
			k.expSum(one, blocks[i:i+16], 3, nil)
			for j, v := range one {
				if a := all[i+j]; math.Float32bits(a) != math.Float32bits(v) && !(a != a && v != v) {
					t.Fatalf("exp(%v - 3): %v in a block of %d, %v alone", blocks[i+j], a, len(blocks), v)
				}
			}
		}
		for _, n := range rowSizes {
			xs := randF32(rng, n, 3)
			var terms []float64
			for _, v := range xs {
				terms = append(terms, math.Exp(float64(v)-1))
			}
			got := k.expSum(nil, xs, 1, make([]byte, 2*n))
			var want float64
			for _, v := range terms {
				want += v
			}
			// 2 ulp per term plus the summation bound.
			if math.Abs(float64(got)-want) > sumBound(terms)+want*3*0x1p-24 {
				t.Fatalf("expSum n=%d: %v, want %v", n, got, want)
			}
		}
	})
}

// TestSoftmaxRows: every path's softmaxRows, where there is one, gives each row the bits
// of Softmax's steps one call at a time (max, expSum into a scratch row with the next row
// as the prefetch, scaleShift by 1/sum), for row lengths around every vector and block
// boundary, rows further apart than their length (the gaps must stay untouched), rows
// with -Inf, +Inf and NaN, and dst the same memory as x.
func TestSoftmaxRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	inf := float32(math.Inf(1))
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		if k.softmaxRows == nil {
			t.Skip("no fused softmax rows on this path")
		}
		for _, n := range rowSizes[1:] {
			for _, rows := range []int{1, 3} {
				ld := n + 5
				x := randF32(rng, rows*ld, 4)
				if n > 2 && rows == 3 { // a row with -Inf entries, one with +Inf, one with NaN
					x[0], x[ld+1], x[2*ld+2] = -inf, inf, float32(math.NaN())
					// Two NaN patterns in one row: a quiet NaN with a payload and, from
					// +Inf - +Inf, the default NaN. The result keeps the exponential's.
					x[ld+n-1] = math.Float32frombits(0x7fc00001)
				}
				want := make([]float32, len(x))
				for i := range want {
					want[i] = f32Sentinel
				}
				tmp := make([]float32, n)
				for r := range rows {
					row := x[r*ld : r*ld+n]
					var next []byte
					if r+1 < rows {
						next = unsafe.Slice((*byte)(unsafe.Pointer(&x[(r+1)*ld])), 4*n)
					}
					sum := k.expSum(tmp, row, k.max(row), next)
					k.scaleShift(want[r*ld:r*ld+n], tmp, 0, 1/sum, 0)
				}
				ldd := n + 3 // the output's rows at their own step
				got := make([]float32, rows*ldd)
				for i := range got {
					got[i] = f32Sentinel
				}
				k.softmaxRows(&got[0], &x[0], rows, n, ldd, ld)
				inPlace := slices.Clone(x)
				k.softmaxRows(&inPlace[0], &inPlace[0], rows, n, ld, ld)
				same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
				for r := range rows {
					for j := range ld {
						i := r*ld + j
						if j >= n {
							if !same(inPlace[i], x[i]) || j < ldd && !same(got[r*ldd+j], f32Sentinel) {
								t.Fatalf("n=%d rows=%d: wrote the gap after row %d", n, rows, r)
							}
							continue
						}
						if !same(got[r*ldd+j], want[i]) || !same(inPlace[i], want[i]) {
							t.Fatalf("n=%d rows=%d: row %d [%d] = %v (in place %v), want %v", n, rows, r, j, got[r*ldd+j], inPlace[i], want[i])
						}
					}
				}
			}
		}
	})
}

// activationRefs are the float64 definitions, written from the formulas (erf from
// math.Erf), with their derivatives.
var activationRefs = map[Activation]struct{ f, df func(float64) float64 }{
	SiLU: {
		func(x float64) float64 { return x / (1 + math.Exp(-x)) },
		func(x float64) float64 { s := 1 / (1 + math.Exp(-x)); return s + x*s*(1-s) },
	},
	GELU: {
		func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
		func(x float64) float64 {
			return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
		},
	},
	GELUTanh: {
		func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		},
		func(x float64) float64 {
			c := math.Sqrt(2 / math.Pi)
			th := math.Tanh(c * (x + 0.044715*x*x*x))
			return 0.5*(1+th) + 0.5*x*(1-th*th)*c*(1+3*0.044715*x*x)
		},
	},
}

var activations = []Activation{SiLU, GELU, GELUTanh}

// Tolerances of the SIMD activations, relative to max(1, |reference|): the exp error
// (1 ulp) plus a division for SiLU and GELU-tanh; the erfc approximation (1.2e-7 relative)
// evaluated in float32 for GELU. Measured worst cases over 4M random inputs: 1.4e-7 for
// the functions, 2.3e-7 for the derivatives. The generic path rounds a float64 evaluation
// once (6e-8).
var actTol = map[Activation]struct{ f, df float64 }{
	SiLU: {3e-7, 4e-7}, GELU: {3e-7, 4e-7}, GELUTanh: {3e-7, 4e-7},
}

// TestFiniteDifferenceOfReferences checks the analytic float64 derivatives used as
// references against central differences of the float64 forward formulas.
func TestFiniteDifferenceOfReferences(t *testing.T) {
	for _, kind := range activations {
		ref := activationRefs[kind]
		for x := -8.0; x <= 8; x += 0.173 {
			const h = 1e-5
			fd := (ref.f(x+h) - ref.f(x-h)) / (2 * h)
			if math.Abs(fd-ref.df(x)) > 1e-8 {
				t.Fatalf("%v'(%v): analytic %v, finite difference %v", kind, x, ref.df(x), fd)
			}
		}
	}
}

func TestRowActivations(t *testing.T) {
	var xs []float32
	for v := -30.0; v <= 30; v += 0.00731 {
		xs = append(xs, float32(v))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-6, -1e-6, 100, -100, 1e10, -1e10,
		1e30, -1e30, 3e38, -3e38)
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		for _, kind := range activations {
			ref, tol := activationRefs[kind], actTol[kind]
			got, intact := guardedF32(len(xs))
			k.act[kind](got, xs, nil)
			a, aIntact := guardedF32(len(xs))
			da, daIntact := guardedF32(len(xs))
			k.actGrad[kind](a, da, xs)
			if !intact() || !aIntact() || !daIntact() {
				t.Fatalf("%v wrote outside its output", kind)
			}
			var worst, worstD float64
			for i, v := range xs {
				want, wantD := ref.f(float64(v)), ref.df(float64(v))
				e := math.Abs(float64(got[i])-want) / math.Max(1, math.Abs(want))
				eD := math.Abs(float64(da[i])-wantD) / math.Max(1, math.Abs(wantD))
				if !(e <= tol.f) || !(eD <= tol.df) {
					t.Fatalf("%v(%v) = %v, %v'= %v; want %v, %v", kind, v, got[i], kind, da[i], want, wantD)
				}
				if a[i] != got[i] {
					t.Fatalf("%v(%v): gradient kernel's value %v differs from %v", kind, v, a[i], got[i])
				}
				worst, worstD = math.Max(worst, e), math.Max(worstD, eD)
			}
			t.Logf("%v: max error %.3g, derivative %.3g (relative to max(1,|ref|))", kind, worst, worstD)
			// NaN in, NaN out.
			nan := []float32{float32(math.NaN())}
			out := []float32{0}
			k.act[kind](out, nan, nil)
			k.actGrad[kind](a[:1], da[:1], nan)
			if out[0] == out[0] || a[0] == a[0] || da[0] == da[0] {
				t.Fatalf("%v(NaN) = %v, %v", kind, out[0], da[0])
			}
		}
	})
}

// TestRowGLU: act(x)*up per element equals the activation times up, rounded once more,
// at every tail length, in place on either input.
func TestRowGLU(t *testing.T) {
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, kind := range activations {
			for _, n := range rowSizes {
				x, up := randF32(rng, n, 3), randF32(rng, n, 2)
				a := make([]float32, n)
				k.act[kind](a, x, nil)
				got, intact := guardedF32(n)
				k.act[kind](got, x, up)
				if !intact() {
					t.Fatalf("%v n=%d wrote outside its output", kind, n)
				}
				for i := range got {
					if got[i] != a[i]*up[i] {
						t.Fatalf("%v glu n=%d [%d]: %v, want %v", kind, n, i, got[i], a[i]*up[i])
					}
				}
				inG, inU := slices.Clone(x), slices.Clone(up)
				k.act[kind](inG, inG, up)
				k.act[kind](inU, x, inU)
				if !sameBits(inG, got) || !sameBits(inU, got) {
					t.Fatalf("%v n=%d: in place differs", kind, n)
				}
			}
		}
	})
}

// TestSoftmaxWideRowsAndLayouts runs Softmax (built on these kernels) at the norms' shapes,
// 4096-wide rows included, in every layout with guards around the output.
func TestSoftmaxWideRowsAndLayouts(t *testing.T) {
	forEachNorm(t, normShapes, func(t *testing.T, dt tensor.DType, shape []int, lay layout) {
		rng := rand.New(rand.NewPCG(13, uint64(len(shape))))
		n := shape[len(shape)-1]
		for _, p := range []SoftmaxParams{{Temperature: 1}, {Temperature: 0.6, Log: true}, {Temperature: 1.7}} {
			x := newTBuf(dt, shape, lay)
			xs := x.set(randomValues(rng, tensor.NumElOf(shape), 3))
			out := newTBuf(dt, shape, (lay+1)%3)
			if err := Softmax(x.t, out.t, p); err != nil {
				t.Fatal(err)
			}
			// The float32 sum over up to 4096 terms: the norms' tolerances.
			closeTo(t, fmt.Sprintf("softmax %+v", p), normTol[dt], out.get(), refSoftmax(xs, n, float64(p.Temperature), p.Log))
			checkGuards(t, out)
		}
	})
}

// TestRowStreamingKernels: the non-temporal variants give the plain kernels' bits at every
// length and alignment of dst, and write nothing outside it.
func TestRowStreamingKernels(t *testing.T) {
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		if k.stream == nil {
			t.Skip("no streaming stores on this path")
		}
		s := k.stream
		rng := rand.New(rand.NewPCG(17, 18))
		for _, n := range append(rowSizes, 4096+13) {
			x, w, b := randF32(rng, n, 2), randF32(rng, n, 1), randF32(rng, n, 1)
			for shift := 0; shift < 16; shift++ {
				check := func(name string, plain, streamed func(dst []float32)) {
					t.Helper()
					want := make([]float32, n)
					plain(want)
					buf := make([]float32, n+64)
					base := int((64 - uintptr(unsafe.Pointer(&buf[0]))%64) % 64 / 4)
					for i := range buf {
						buf[i] = f32Sentinel
					}
					got := buf[base+shift : base+shift+n]
					streamed(got)
					if !sameBits(got, want) {
						t.Fatalf("%s n=%d shift=%d: streaming differs", name, n, shift)
					}
					for i, v := range buf {
						if (i < base+shift || i >= base+shift+n) && math.Float32bits(v) != math.Float32bits(f32Sentinel) {
							t.Fatalf("%s n=%d shift=%d: wrote outside dst", name, n, shift)
						}
					}
				}
				check("scaleShift", func(d []float32) { k.scaleShift(d, x, 0.5, 3, 0.25) }, func(d []float32) { s.scaleShift(d, x, 0.5, 3, 0.25) })
				check("normAffine", func(d []float32) { k.normAffine(d, x, 0.5, 3, w, b) }, func(d []float32) { s.normAffine(d, x, 0.5, 3, w, b) })
				check("normAffine nil", func(d []float32) { k.normAffine(d, x, 0, 3, nil, nil) }, func(d []float32) { s.normAffine(d, x, 0, 3, nil, nil) })
				check("axpby", func(d []float32) { k.axpby(d, x, w, 0.5, -3, 0.25) }, func(d []float32) { s.axpby(d, x, w, 0.5, -3, 0.25) })
				check("normGrad", func(d []float32) { k.normGrad(d, nil, nil, x, w, b, 0.1, 2, 0.5, -3, 0.25) },
					func(d []float32) { s.normGrad(d, nil, nil, x, w, b, 0.1, 2, 0.5, -3, 0.25) })
				// normGrad's parts (ordinary stores) too.
				wantW, wantB, gotW, gotB := slices.Clone(b), slices.Clone(x), slices.Clone(b), slices.Clone(x)
				k.normGrad(make([]float32, n), wantW, wantB, x, w, b, 0.1, 2, 0.5, -3, 0.25)
				s.normGrad(make([]float32, n), gotW, gotB, x, w, b, 0.1, 2, 0.5, -3, 0.25)
				if !sameBits(gotW, wantW) || !sameBits(gotB, wantB) {
					t.Fatalf("normGrad parts n=%d: streaming differs", n)
				}
				for _, kind := range activations {
					check(kind.String(), func(d []float32) { k.act[kind](d, x, w) }, func(d []float32) { s.act[kind](d, x, w) })
					check(kind.String()+" no up", func(d []float32) { k.act[kind](d, x, nil) }, func(d []float32) { s.act[kind](d, x, nil) })
				}
			}
		}
	})
}

// TestStreamedOutputs: ops whose output is large enough to be written with non-temporal
// stores give, row for row, the bits of the same rows computed in a small batch.
func TestStreamedOutputs(t *testing.T) {
	const n = 4096
	rows := streamMinBytes/(4*n) + 3
	rng := rand.New(rand.NewPCG(19, 20))
	x, y, w := randF32(rng, rows*n, 2), randF32(rng, rows*n, 1), randF32(rng, n, 1)
	W := tensor.FromFloat32(w, n)
	ops := map[string]func(x, y, out []float32, rows int) error{
		"rms_norm": func(x, _, out []float32, r int) error {
			return RMSNorm(RMSNormArgs{X: tensor.FromFloat32(x, r, n), Weight: &W, Out: tensor.FromFloat32(out, r, n), Eps: 1e-6})
		},
		"layer_norm": func(x, _, out []float32, r int) error {
			return LayerNorm(LayerNormArgs{X: tensor.FromFloat32(x, r, n), Bias: &W, Out: tensor.FromFloat32(out, r, n), Eps: 1e-5})
		},
		"softmax": func(x, _, out []float32, r int) error {
			return Softmax(tensor.FromFloat32(x, r, n), tensor.FromFloat32(out, r, n), DefaultSoftmaxParams())
		},
		"glu": func(x, y, out []float32, r int) error {
			return GLU(SiLU, tensor.FromFloat32(x, r, n), tensor.FromFloat32(y, r, n), tensor.FromFloat32(out, r, n))
		},
		"gelu": func(x, _, out []float32, r int) error {
			return Activate(GELU, tensor.FromFloat32(x, r, n), tensor.FromFloat32(out, r, n))
		},
		"rms_norm_backward": func(x, y, out []float32, r int) error {
			return RMSNormBackward(RMSNormBackwardArgs{H: tensor.FromFloat32(x, r, n), Weight: &W,
				DY: tensor.FromFloat32(y, r, n), DX: tensor.FromFloat32(out, r, n), Eps: 1e-6})
		},
		"group_norm_backward": func(x, y, out []float32, r int) error {
			one := tensor.FromFloat32(w[:1], 1)
			return GroupNormBackward(GroupNormBackwardArgs{H: tensor.FromFloat32(x, r, 1, n), Groups: 1, Weight: &one,
				DY: tensor.FromFloat32(y, r, 1, n), DX: tensor.FromFloat32(out, r, 1, n), Eps: 1e-5})
		},
		"layer_norm_backward": func(x, y, out []float32, r int) error {
			return LayerNormBackward(LayerNormBackwardArgs{H: tensor.FromFloat32(x, r, n), Weight: &W,
				DY: tensor.FromFloat32(y, r, n), DX: tensor.FromFloat32(out, r, n), Eps: 1e-5})
		},
	}
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for name, op := range ops {
			big := make([]float32, rows*n)
			if err := op(x, y, big, rows); err != nil {
				t.Fatal(err)
			}
			const r0, count = 1000, 7
			small := make([]float32, count*n)
			if err := op(x[r0*n:(r0+count)*n], y[r0*n:(r0+count)*n], small, count); err != nil {
				t.Fatal(err)
			}
			if !sameBits(big[r0*n:(r0+count)*n], small) {
				t.Fatalf("%v %s: rows of a streamed output differ from the same rows in a small batch", isa, name)
			}
		}
		restore()
	}
}

// TestLoadRow checks that LoadRow and StoreRow give tensor.LoadRow's values and
// tensor.StoreRow's bits for float16, bfloat16 and float32 rows, of unit stride (the
// vector conversions) and strided, on every path.
func TestLoadRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(50, 51))
	const n = 300
	f32 := make([]float32, 2*n)
	h16, b16 := make([]uint16, 2*n), make([]uint16, 2*n)
	for i := range f32 {
		f32[i] = float32(rng.NormFloat64() * 100)
		h16[i], b16[i] = tensor.F32ToF16(f32[i]), tensor.F32ToBF16(f32[i])
	}
	for _, isa := range cpu.Available() {
		t.Run(isa.String(), func(t *testing.T) {
			defer cpu.UseISA(isa)()
			for _, step := range []int{1, 2} {
				for _, x := range []tensor.Tensor{
					tensor.FromFloat32(f32, 2*n/step, step), tensor.FromUint16(h16, tensor.Float16, 2*n/step, step),
					tensor.FromUint16(b16, tensor.BFloat16, 2*n/step, step),
				} {
					row := x // a 1-D view of every step-th element
					row.Shape, row.Strides = []int{2 * n / step}, []int{step}
					for _, c := range []struct{ off, len int }{{0, 0}, {0, 7}, {3, 33}, {5, 257}} {
						got, want := make([]float32, c.len), make([]float32, c.len)
						LoadRow(row, c.off, got)
						row.LoadRow(c.off, want)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%v step %d off %d len %d: [%d] = %v, want %v", x.DType, step, c.off, c.len, i, got[i], want[i])
							}
						}
						// Store values that need rounding into copies of the row's memory.
						vals := make([]float32, c.len)
						for i := range vals {
							vals[i] = float32(rng.NormFloat64()) / 3
						}
						a, b := row, row
						a.Data, b.Data = cloneBytes(row, 2*n), cloneBytes(row, 2*n)
						StoreRow(a, c.off, vals)
						b.StoreRow(c.off, vals)
						if !slices.Equal(unsafe.Slice((*byte)(a.Data), 2*n*x.DType.Bits()/8), unsafe.Slice((*byte)(b.Data), 2*n*x.DType.Bits()/8)) {
							t.Fatalf("%v step %d off %d len %d: StoreRow differs from tensor's", x.DType, step, c.off, c.len)
						}
					}
				}
			}
		})
	}
}

// cloneBytes returns a copy of the first n elements of t's memory.
func cloneBytes(t tensor.Tensor, n int) unsafe.Pointer {
	size := n * t.DType.Bits() / 8
	b := make([]byte, size)
	copy(b, unsafe.Slice((*byte)(t.Data), size))
	return unsafe.Pointer(&b[0])
}

// TestWidenRows checks WidenRows against tensor's conversions for rows with gaps on both
// sides, on every path, and that it writes nothing between the rows.
func TestWidenRows(t *testing.T) {
	for _, cols := range []int{1, 16, 37, 128} {
		testWidenRows(t, cols)
	}
}

func testWidenRows(t *testing.T, cols int) {
	rng := rand.New(rand.NewPCG(52, 53))
	const rows = 5
	lds, ldd := cols+13, cols+4
	src := make([]uint16, rows*lds)
	for i := range src {
		src[i] = uint16(rng.Uint32()) &^ 0x7c00 // finite float16 (and finite bfloat16 mostly)
	}
	for _, isa := range cpu.Available() {
		t.Run(isa.String(), func(t *testing.T) {
			defer cpu.UseISA(isa)()
			for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
				dst := make([]float32, rows*ldd)
				for i := range dst {
					dst[i] = -7
				}
				WidenRows(dst, ldd, unsafe.Pointer(&src[0]), lds, rows, cols, dt)
				for r := range rows {
					for c := range ldd {
						want := float32(-7)
						if c < cols {
							h := src[r*lds+c]
							want = tensor.F16ToF32(h)
							if dt == tensor.BFloat16 {
								want = tensor.BF16ToF32(h)
							}
						}
						if got := dst[r*ldd+c]; math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
							t.Fatalf("%v row %d col %d: %v, want %v", dt, r, c, got, want)
						}
					}
				}
			}
		})
	}
}

// TestNarrowNonTemporal checks the non-temporal narrowing conversions of every path that
// has them against the reference roundings, bit for bit, for outputs starting at every
// 2-byte offset of a 64-byte line (the cached head before the aligned part).
func TestNarrowNonTemporal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		for _, c := range []struct {
			name string
			fn   func([]uint16, []float32)
			ref  func(float32) uint16
		}{{"f16", k.f32ToF16NT, tensor.F32ToF16}, {"bf16", k.f32ToBF16NT, tensor.F32ToBF16}} {
			if c.fn == nil {
				continue
			}
			for _, n := range rowSizes {
				src := make([]float32, n)
				for i := range src {
					if i%2 == 0 {
						src[i] = math.Float32frombits(rng.Uint32())
					} else {
						src[i] = specialF32[rng.IntN(len(specialF32))]
					}
				}
				for off := range 32 {
					buf, intact := guarded(n+32, uint16(0xa5a5))
					dst := buf[off : off+n]
					c.fn(dst, src)
					for i, v := range src {
						if dst[i] != c.ref(v) {
							t.Fatalf("%s n=%d offset %d [%d] %v: %#04x, want %#04x", c.name, n, off, i, v, dst[i], c.ref(v))
						}
					}
					for i, v := range buf {
						if (i < off || i >= off+n) && v != 0xa5a5 {
							t.Fatalf("%s n=%d offset %d wrote outside its output at %d", c.name, n, off, i)
						}
					}
					if !intact() {
						t.Fatalf("%s n=%d offset %d wrote outside its buffer", c.name, n, off)
					}
				}
			}
		}
	})
}

// TestLargeHalfOutput: a half-precision output of streamMinBytes, which takes the
// non-temporal conversions, gets the bits of the same rows computed one by one (small
// outputs, cached conversions), on every path.
func TestLargeHalfOutput(t *testing.T) {
	const rows, cols = streamMinBytes / 2 / 4096, 4096
	for _, isa := range cpu.Available() {
		t.Run(isa.String(), func(t *testing.T) {
			defer cpu.UseISA(isa)()
			for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
				narrow := tensor.F32ToBF16
				if dt == tensor.Float16 {
					narrow = tensor.F32ToF16
				}
				xs := make([]uint16, rows*cols)
				for i := range xs {
					xs[i] = narrow(float32(i%1013)/100 - 5)
				}
				x := tensor.FromUint16(xs, dt, rows, cols)
				big := tensor.FromUint16(make([]uint16, rows*cols), dt, rows, cols)
				if err := Activate(SiLU, x, big); err != nil {
					t.Fatal(err)
				}
				one := tensor.FromUint16(make([]uint16, cols), dt, cols)
				for r := range rows {
					row := x
					row.Data, row.Shape, row.Strides = unsafe.Add(x.Data, r*cols*2), []int{cols}, []int{1}
					if err := Activate(SiLU, row, one); err != nil {
						t.Fatal(err)
					}
					want := unsafe.Slice((*uint16)(one.Data), cols)
					got := unsafe.Slice((*uint16)(unsafe.Add(big.Data, r*cols*2)), cols)
					if !slices.Equal(got, want) {
						t.Fatalf("%v row %d differs from the row computed alone", dt, r)
					}
				}
			}
		})
	}
}
