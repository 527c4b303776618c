package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// linCase is a quantized weight matrix ready for one of the linear layers, with the
// float64 value of every dequantized weight computed in the test from the format's
// formula (not by the package).
type linCase struct {
	name    string
	in, out int
	what    []float64 // ŵ, [out, in]
	mag     []float64 // bound on |ŵ| and on the parts a kernel may sum apart (see i4Ref)
	run     func(x tensor.Tensor, bias *tensor.Tensor, y tensor.Tensor) error
}

func int8Case(rng *rand.Rand, out, in int, sym bool) linCase {
	wb := newBuf(tensor.Float32, []int{out, in}, false)
	wb.setFloats(testRows(rng, out, in))
	q := newBuf(tensor.Int8, []int{out, in}, false)
	s := newBuf(tensor.Float32, []int{out}, false)
	z := newBuf(tensor.Int32, []int{out}, true)
	zp := &z.t
	if sym {
		zp = nil
	}
	if err := QuantizeInt8(wb.t, q.t, s.t, zp); err != nil {
		panic(err)
	}
	what := make([]float64, out*in)
	scales := s.floats()
	for r := range out {
		zero := 0
		if !sym {
			zero = z.int(r)
		}
		for j := range in {
			what[r*in+j] = float64(float32(float64(q.int(r*in+j)-zero) * scales[r]))
		}
	}
	return linCase{name("int8 sym=", sym), in, out, what, absAll(what), func(x tensor.Tensor, bias *tensor.Tensor, y tensor.Tensor) error {
		return Int8Linear(x, q.t, s.t, zp, bias, y)
	}}
}

// int4Case quantizes random rows to 4 bits; stridedScales stores the scales reversed
// (negative stride) instead of row-major.
func int4Case(rng *rand.Rand, out, in, group int, sym, stridedScales bool) linCase {
	ng := in / group
	wb := newBuf(tensor.BFloat16, []int{out, in}, false)
	wb.setFloats(testRows(rng, out, in))
	q := newBuf(tensor.Int4, []int{out, in}, false)
	s := newBuf(tensor.Float32, []int{out, ng}, stridedScales)
	z := newBuf(tensor.Uint8, []int{out, ng}, !sym && in == 96)
	zp := &z.t
	if sym {
		zp = nil
	}
	if err := QuantizeInt4(wb.t, q.t, s.t, zp, group); err != nil {
		panic(err)
	}
	what, mag := make([]float64, out*in), make([]float64, out*in)
	packed, scales := q.bytes(), s.floats()
	for j := range what {
		r, g := j/in, j%in/group
		code := int(packed[j/2] >> (4 * (j % 2)) & 15)
		sg := scales[r*ng+g]
		mag[j] = float64(code) * math.Abs(sg)
		if sym && code >= 8 {
			code -= 16
		}
		if !sym {
			zero := z.int(r*ng + g)
			code -= zero
			mag[j] += float64(zero) * math.Abs(sg)
		} else {
			mag[j] = math.Abs(float64(code) * sg)
		}
		what[j] = float64(float32(float64(code) * sg))
	}
	return linCase{name("int4 sym=", sym, " group=", group), in, out, what, mag, func(x tensor.Tensor, bias *tensor.Tensor, y tensor.Tensor) error {
		return Int4Linear(x, q.t, s.t, zp, group, bias, y)
	}}
}

func affineCaseOf(rng *rand.Rand, out, in, group, bits int, sdt tensor.DType) linCase {
	ng, words := in/group, in*bits/32
	wb := newBuf(sdt, []int{out, in}, false)
	wb.setFloats(testRows(rng, out, in))
	wq := newBuf(tensor.Int32, []int{out, words}, false)
	s := newBuf(sdt, []int{out, ng}, in == 96)
	b := newBuf(sdt, []int{out, ng}, false)
	if err := QuantizeAffine(wb.t, wq.t, s.t, b.t, group, bits); err != nil {
		panic(err)
	}
	what, mag := make([]float64, out*in), make([]float64, out*in)
	scales, biases := s.floats(), b.floats()
	per := 32 / bits
	for j := range what {
		r, c := j/in, j%in
		code := float64(uint32(wq.int(r*words+c/per)) >> (bits * (c % per)) & (1<<bits - 1))
		g := r*ng + c/group
		what[j] = float64(float32(float64(float32(code*scales[g])) + biases[g]))
		mag[j] = math.Abs(code*scales[g]) + math.Abs(biases[g])
	}
	return linCase{name("affine bits=", bits, " group=", group, " ", sdt), in, out, what, mag, func(x tensor.Tensor, bias *tensor.Tensor, y tensor.Tensor) error {
		return AffineLinear(x, wq.t, s.t, b.t, group, bits, bias, y)
	}}
}

// allCases builds every format at sizes that reach each kernel's tails.
func allCases(rng *rand.Rand) []linCase {
	var cases []linCase
	for i, in := range []int{1, 7, 31, 33, 1023, 64, 1024, 80, 1040} {
		out := []int{1, 7, 33}[i%3]
		cases = append(cases, int8Case(rng, out, in, i%2 == 0), int8Case(rng, out+2, in, i%2 == 1))
	}
	for i, tc := range []struct{ in, group int }{{32, 32}, {64, 32}, {96, 32}, {160, 32}, {128, 64}, {1024, 128}, {1056, 32}} {
		cases = append(cases, int4Case(rng, 5+i, tc.in, tc.group, true, i%2 == 0), int4Case(rng, 3, tc.in, tc.group, false, i%2 == 1))
	}
	sdts := floatTypes
	i := 0
	for _, bits := range []int{4, 8} {
		for _, tc := range []struct{ in, group int }{{32, 32}, {96, 32}, {160, 32}, {64, 64}, {192, 64}, {128, 128}, {384, 128}} {
			cases = append(cases, affineCaseOf(rng, 3+i%5, tc.in, tc.group, bits, sdts[i%3]))
			i++
		}
	}
	return cases
}

// refLinear is Σ_j x[m, j]·ŵ[r, j] + bias[r] in float64, with the sum of magnitudes
// (|x|·mag) used for the tolerance.
func refLinear(c linCase, x []float64, rows int, bias []float64) (want, abs []float64) {
	want, abs = make([]float64, rows*c.out), make([]float64, rows*c.out)
	for m := range rows {
		for r := range c.out {
			var s, a float64
			for j := range c.in {
				s += x[m*c.in+j] * c.what[r*c.in+j]
				a += math.Abs(x[m*c.in+j]) * c.mag[r*c.in+j]
			}
			if bias != nil {
				s += bias[r]
				a += math.Abs(bias[r])
			}
			want[m*c.out+r], abs[m*c.out+r] = s, a
		}
	}
	return want, abs
}

// Tolerance of a linear output: the float32 accumulation bound γ(in+8)·Σ|terms| (any
// fixed order, fused or not, bias included), plus one final rounding to y's dtype.
func linTol(in int, abs, want float64, dt tensor.DType) float64 {
	return float64(in+8)*0x1p-24*abs + unitRoundoff[dt]*math.Abs(want) + tinyAbs[dt]
}

func TestLinearMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 21))
	cases := allCases(rng)
	leads := [][]int{{}, {3}, {2, 2}}
	forEachISA(t, func(t *testing.T) {
		for ci, c := range cases {
			for _, dt := range floatTypes {
				lead := leads[(ci+int(dt))%3]
				strided := (ci+int(dt))%2 == 1
				xb := newBuf(dt, append(slices.Clone(lead), c.in), strided)
				x := xb.setFloats(randNormal(rng, tensor.NumElOf(lead)*c.in, 1))
				yb := newBuf(dt, append(slices.Clone(lead), c.out), !strided)
				var biasT *tensor.Tensor
				var bias []float64
				if ci%2 == 0 {
					bb := newBuf([]tensor.DType{tensor.Float32, tensor.BFloat16}[ci%4/2], []int{c.out}, false)
					bias = bb.setFloats(randNormal(rng, c.out, 0.5))
					biasT = &bb.t
				}
				if err := c.run(xb.t, biasT, yb.t); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				yb.checkGuards(t, c.name)
				got := yb.floats()
				want, abs := refLinear(c, x, tensor.NumElOf(lead), bias)
				for i := range want {
					if tol := linTol(c.in, abs[i], want[i], dt); !(math.Abs(got[i]-want[i]) <= tol) {
						t.Fatalf("%s x=%v %v: y[%d] = %v, want %v (tolerance %v)", c.name, dt, lead, i, got[i], want[i], tol)
					}
				}
			}
		}
	})
}

// TestLinearDeterminism checks bit-identical outputs for 1, 2 and 3 threads, and that a
// row of x gives the same bits alone as inside a batch; with several parallel chunks. The
// int8 cases at in = 272 end with a block of 16 after the steps of 64.
func TestLinearDeterminism(t *testing.T) {
	defer cpu.SetNumThreads(0)
	rng := rand.New(rand.NewPCG(22, 23))
	const out, rows = 700, 5
	const in = 256
	cases := []linCase{
		int8Case(rng, out, in, false), int8Case(rng, out, in, true), int4Case(rng, out, in, 32, true, true), int4Case(rng, out, in, 64, false, true),
		int4Case(rng, out, in, 64, true, false), int4Case(rng, out, in, 128, false, false),
		affineCaseOf(rng, out, in, 64, 4, tensor.Float16), affineCaseOf(rng, out, in, 32, 8, tensor.BFloat16),
		int8Case(rng, out, in+16, false), int8Case(rng, out, in+16, true),
	}
	x := make([]float32, rows*(in+16))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	forEachISA(t, func(t *testing.T) {
		for _, c := range cases {
			in := c.in
			run := func(threads int, xs []float32, m int) []float32 {
				cpu.SetNumThreads(threads)
				y := make([]float32, m*out)
				if err := c.run(tensor.FromFloat32(xs, m, in), nil, tensor.FromFloat32(y, m, out)); err != nil {
					t.Fatal(err)
				}
				return y
			}
			y1 := run(1, x[:rows*in], rows)
			for _, threads := range []int{2, 3} {
				if !slices.Equal(run(threads, x[:rows*in], rows), y1) {
					t.Fatalf("%s: %d threads differ from 1", c.name, threads)
				}
			}
			for m := range rows {
				if !slices.Equal(run(2, x[m*in:(m+1)*in], 1), y1[m*out:(m+1)*out]) {
					t.Fatalf("%s: row %d alone differs from the batch", c.name, m)
				}
			}
		}
	})
}

// TestLinearNonFinite checks that an Inf or a NaN in a row of x makes every output of
// that row non-finite (NaN on the AVX-512 4-bit kernels, which round x to integers per
// cell) and leaves the other rows of the batch with their bits.
func TestLinearNonFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 25))
	const out, in = 40, 256
	cases := []linCase{
		int8Case(rng, out, in, false), int4Case(rng, out, in, 64, true, false), int4Case(rng, out, in, 32, false, false),
		affineCaseOf(rng, out, in, 64, 4, tensor.Float32), affineCaseOf(rng, out, in, 128, 8, tensor.Float16),
	}
	x := make([]float32, 3*in)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	x[in+77], x[2*in+200] = float32(math.Inf(-1)), float32(math.NaN())
	forEachISA(t, func(t *testing.T) {
		for _, c := range cases {
			y := make([]float32, 3*out)
			if err := c.run(tensor.FromFloat32(x, 3, in), nil, tensor.FromFloat32(y, 3, out)); err != nil {
				t.Fatal(err)
			}
			alone := make([]float32, out)
			if err := c.run(tensor.FromFloat32(x[:in], 1, in), nil, tensor.FromFloat32(alone, 1, out)); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(y[:out], alone) {
				t.Fatalf("%s: the finite row changed beside non-finite ones", c.name)
			}
			for i, v := range y[out:] {
				if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
					t.Fatalf("%s: y[%d, %d] = %v from a non-finite x", c.name, 1+i/out, i%out, v)
				}
			}
		}
	})
}

// TestLinearInPlace computes into the very view of x (in == out).
func TestLinearInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 25))
	const n = 64
	for _, c := range []linCase{int8Case(rng, n, n, true), int4Case(rng, n, n, 32, false, true), affineCaseOf(rng, n, n, 32, 4, tensor.Float32)} {
		x := randX(rng, 3*n)
		y := make([]float32, 3*n)
		if err := c.run(tensor.FromFloat32(x, 3, n), nil, tensor.FromFloat32(y, 3, n)); err != nil {
			t.Fatal(err)
		}
		xt := tensor.FromFloat32(x, 3, n)
		if err := c.run(xt, nil, xt); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(x, y) {
			t.Fatalf("%s: in place differs from out of place", c.name)
		}
	}
}

// TestLinearAllocations checks that allocations per call do not grow with the number of
// weight rows (scratch is pooled; only a few per-call objects are allocated).
func TestLinearAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	defer cpu.SetNumThreads(0)
	cpu.SetNumThreads(1)
	rng := rand.New(rand.NewPCG(26, 27))
	for _, mk := range []func(out int) linCase{
		func(out int) linCase { return int8Case(rng, out, 128, true) },
		func(out int) linCase { return int4Case(rng, out, 128, 32, false, true) },
		func(out int) linCase { return affineCaseOf(rng, out, 128, 64, 8, tensor.Float16) },
	} {
		var allocs []float64
		for _, out := range []int{64, 4096} {
			c := mk(out)
			x := tensor.FromFloat32(randX(rng, 2*128), 2, 128)
			y := tensor.FromFloat32(make([]float32, 2*out), 2, out)
			allocs = append(allocs, testing.AllocsPerRun(20, func() {
				if err := c.run(x, nil, y); err != nil {
					t.Fatal(err)
				}
			}))
		}
		t.Logf("%s: %v allocations per call for 64 and 4096 rows", mk(1).name, allocs)
		if allocs[0] != allocs[1] || allocs[1] > 16 {
			t.Errorf("%s: %v allocations per call for 64 and 4096 rows", mk(1).name, allocs)
		}
	}
}

func TestLinearBadInput(t *testing.T) {
	const out, in = 4, 64
	x := newBuf(tensor.Float32, []int{2, in}, false)
	x.setFloats(make([]float64, 2*in))
	y := newBuf(tensor.Float32, []int{2, out}, false)
	q8 := newBuf(tensor.Int8, []int{out, in}, false)
	q8s := newBuf(tensor.Int8, []int{out, in}, true)
	s8 := newBuf(tensor.Float32, []int{out}, false)
	q4 := newBuf(tensor.Int4, []int{out, in}, false)
	s4 := newBuf(tensor.Float32, []int{out, 2}, false)
	wq := newBuf(tensor.Int32, []int{out, 8}, false)
	sa := newBuf(tensor.Float16, []int{out, 2}, false)
	ba := newBuf(tensor.Float16, []int{out, 2}, false)
	snap := y.snapshot()
	xi := x.t
	xi.DType = tensor.Int32
	wrongY := tensor.FromFloat32(make([]float32, 2*(out+1)), 2, out+1)
	shortX := tensor.FromFloat32(make([]float32, 2*(in-1)), 2, in-1)
	bias := tensor.FromFloat32(make([]float32, out+1), out+1)
	yOverS := tensor.Tensor{Data: s8.t.Data, DType: tensor.Float32, Shape: []int{1, out}, Strides: []int{out, 1}}
	x1 := tensor.Tensor{Data: x.t.Data, DType: tensor.Float32, Shape: []int{1, in}, Strides: []int{in, 1}}
	cases := []struct {
		name string
		err  error
		kind errs.Kind
	}{
		{"x dtype", Int8Linear(xi, q8.t, s8.t, nil, nil, y.t), errs.UnsupportedDtype},
		{"x last dim", Int8Linear(shortX, q8.t, s8.t, nil, nil, y.t), errs.ShapeMismatch},
		{"y shape", Int8Linear(x.t, q8.t, s8.t, nil, nil, wrongY), errs.ShapeMismatch},
		{"q strided", Int8Linear(x.t, q8s.t, s8.t, nil, nil, y.t), errs.InvalidArgument},
		{"q dtype", Int8Linear(x.t, wq.t, s8.t, nil, nil, y.t), errs.UnsupportedDtype},
		{"scales shape", Int8Linear(x.t, q8.t, s4.t, nil, nil, y.t), errs.ShapeMismatch},
		{"zeros dtype", Int8Linear(x.t, q8.t, s8.t, &s8.t, nil, y.t), errs.UnsupportedDtype},
		{"bias shape", Int8Linear(x.t, q8.t, s8.t, nil, &bias, y.t), errs.ShapeMismatch},
		{"y overlaps scales", Int8Linear(x1, q8.t, s8.t, nil, nil, yOverS), errs.InvalidArgument},
		{"int4 group", Int4Linear(x.t, q4.t, s4.t, nil, 48, nil, y.t), errs.InvalidArgument},
		{"int4 scales", Int4Linear(x.t, q4.t, s8.t, nil, 32, nil, y.t), errs.ShapeMismatch},
		{"int4 zeros dtype", Int4Linear(x.t, q4.t, s4.t, &s4.t, 32, nil, y.t), errs.UnsupportedDtype},
		{"int4 q dtype", Int4Linear(x.t, q8.t, s4.t, nil, 32, nil, y.t), errs.UnsupportedDtype},
		{"affine bits", AffineLinear(x.t, wq.t, sa.t, ba.t, 32, 2, nil, y.t), errs.InvalidArgument},
		{"affine group", AffineLinear(x.t, wq.t, sa.t, ba.t, 64, 4, nil, y.t), errs.ShapeMismatch},
		{"affine biases dtype", AffineLinear(x.t, wq.t, sa.t, s4.t, 32, 4, nil, y.t), errs.UnsupportedDtype},
		{"affine in mismatch for bits 8", AffineLinear(x.t, wq.t, sa.t, ba.t, 32, 8, nil, y.t), errs.ShapeMismatch},
	}
	for _, c := range cases {
		wantKind(t, c.name, c.err, c.kind)
	}
	if string(y.snapshot()) != string(snap) {
		t.Error("bad input wrote y")
	}
	// Empty batches and zero output rows are fine and write nothing.
	empty := tensor.Tensor{Data: nil, DType: tensor.Float32, Shape: []int{0, in}, Strides: []int{in, 1}}
	emptyY := tensor.Tensor{Data: nil, DType: tensor.Float32, Shape: []int{0, out}, Strides: []int{out, 1}}
	if err := Int8Linear(empty, q8.t, s8.t, nil, nil, emptyY); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

// absAll returns |v| element by element.
func absAll(v []float64) []float64 {
	a := make([]float64, len(v))
	for i, x := range v {
		a[i] = math.Abs(x)
	}
	return a
}
