package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// groupIndex lists the row-major indices of the elements of sample n, group g of a
// [N, C, *spatial] tensor.
func groupIndex(shape []int, groups, n, g int) []int {
	c, s := shape[1], tensor.NumElOf(shape[2:])
	per := c / groups
	var idx []int
	for ch := g * per; ch < (g+1)*per; ch++ {
		for p := 0; p < s; p++ {
			idx = append(idx, (n*c+ch)*s+p)
		}
	}
	return idx
}

// channelOf returns the channel of row-major index i of a [N, C, *spatial] tensor.
func channelOf(shape []int, i int) int { return i / tensor.NumElOf(shape[2:]) % shape[1] }

// groupStats returns mean and 1/sqrt(var + eps) (biased variance) over idx.
func groupStats(h []float64, idx []int, eps float64) (mean, rs float64) {
	for _, i := range idx {
		mean += h[i]
	}
	mean /= float64(len(idx))
	var v float64
	for _, i := range idx {
		v += (h[i] - mean) * (h[i] - mean)
	}
	return mean, 1 / math.Sqrt(v/float64(len(idx))+eps)
}

// refGroupNorm is the float64 definition of GroupNorm on row-major data of shape.
func refGroupNorm(x, res, w, b []float64, shape []int, groups int, eps float64, dt tensor.DType) (out, h []float64) {
	h = roundedSum(x, res, dt)
	out = make([]float64, len(x))
	for n := 0; n < shape[0]; n++ {
		for g := 0; g < groups; g++ {
			idx := groupIndex(shape, groups, n, g)
			mean, rs := groupStats(h, idx, eps)
			for _, i := range idx {
				c := channelOf(shape, i)
				out[i] = (h[i]-mean)*rs*param(w, c, 1) + param(b, c, 0)
			}
		}
	}
	return out, h
}

// refGroupNormBackward is the float64 gradient of GroupNorm (see GroupNormBackward).
func refGroupNormBackward(h, w, dy, dres []float64, shape []int, groups int, eps float64) (dx, dw, db []float64) {
	c := shape[1]
	dx, dw, db = make([]float64, len(h)), make([]float64, c), make([]float64, c)
	for n := 0; n < shape[0]; n++ {
		for g := 0; g < groups; g++ {
			idx := groupIndex(shape, groups, n, g)
			mean, rs := groupStats(h, idx, eps)
			var mg, mgx float64
			for _, i := range idx {
				gi := dy[i] * param(w, channelOf(shape, i), 1)
				mg += gi
				mgx += gi * (h[i] - mean) * rs
			}
			mg, mgx = mg/float64(len(idx)), mgx/float64(len(idx))
			for _, i := range idx {
				ch := channelOf(shape, i)
				xhat := (h[i] - mean) * rs
				dx[i] = rs*(dy[i]*param(w, ch, 1)-mg-xhat*mgx) + param(dres, i, 0)
				dw[ch] += dy[i] * xhat
				db[ch] += dy[i]
			}
		}
	}
	return dx, dw, db
}

var groupCases = []struct {
	shape  []int
	groups int
}{
	{[]int{2, 4, 5}, 2}, {[]int{1, 6, 3, 7}, 3}, {[]int{3, 8}, 4}, {[]int{2, 6, 1023}, 3},
	{[]int{2, 32, 2, 33}, 8}, {[]int{1, 3, 1, 1}, 1}, {[]int{0, 4, 3}, 2}, {[]int{2, 4, 0}, 4},
}

func forEachGroupCase(t *testing.T, body func(t *testing.T, dt tensor.DType, shape []int, groups int, lay layout)) {
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for _, dt := range floatTypes {
			for _, c := range groupCases {
				for _, lay := range layouts {
					t.Run(fmt.Sprintf("%v/%v/%v/G=%d/%v", isa, dt, c.shape, c.groups, lay), func(t *testing.T) {
						body(t, dt, c.shape, c.groups, lay)
					})
				}
			}
		}
		restore()
	}
}

func TestGroupNormMatchesReference(t *testing.T) {
	forEachGroupCase(t, func(t *testing.T, dt tensor.DType, shape []int, groups int, lay layout) {
		rng := rand.New(rand.NewPCG(71, uint64(len(shape))))
		c, numel := shape[1], tensor.NumElOf(shape)
		for i, v := range normVariants {
			x := newTBuf(dt, shape, lay)
			xs := x.set(randomValues(rng, numel, 2))
			args := GroupNormArgs{X: x.t, Groups: groups, Eps: DefaultGroupNormEps}
			var ws, bs, rs []float64
			if v.weight {
				w := newTBuf(otherType(dt, i), []int{c}, lay)
				ws = w.set(randomValues(rng, c, 1))
				args.Weight = &w.t
			}
			if v.bias {
				b := newTBuf(otherType(dt, i+1), []int{c}, rowMajor)
				bs = b.set(randomValues(rng, c, 1))
				args.Bias = &b.t
			}
			if v.residual {
				r := newTBuf(otherType(dt, i+2), shape, (lay+1)%3)
				rs = r.set(randomValues(rng, numel, 1))
				args.Residual = &r.t
			}
			out := newTBuf(dt, shape, (lay+2)%3)
			args.Out = out.t
			var ro *tbuf
			if v.residualOut {
				ro = newTBuf(dt, shape, lay)
				args.ResidualOut = &ro.t
			}
			if err := GroupNorm(args); err != nil {
				t.Fatal(err)
			}
			wantOut, wantH := refGroupNorm(xs, rs, ws, bs, shape, groups, DefaultGroupNormEps, dt)
			closeTo(t, fmt.Sprintf("group_norm %+v", v), normTol[dt], out.get(), wantOut)
			checkGuards(t, out, ro)
			if ro != nil && !slices.Equal(ro.get(), wantH) {
				t.Fatal("residual_out differs from the rounded sum")
			}
		}
	})
}

// TestGroupNormChannelsLast: a channels-last buffer viewed as [N, C, H, W] (channel stride
// 1) normalizes like the same values laid out channels first.
func TestGroupNormChannelsLast(t *testing.T) {
	const n, c, hh, ww, groups = 2, 6, 3, 5, 3
	rng := rand.New(rand.NewPCG(72, 73))
	vals := randF32(rng, n*c*hh*ww, 2)
	// nhwc[n][h][w][c] = vals in NCHW order.
	nhwc := make([]float32, len(vals))
	for i, v := range vals {
		b, ch, y, x := i/(c*hh*ww), i/(hh*ww)%c, i/ww%hh, i%ww
		nhwc[((b*hh+y)*ww+x)*c+ch] = v
	}
	view := tensor.Tensor{Data: tensor.FromFloat32(nhwc, len(nhwc)).Data, DType: tensor.Float32,
		Shape: []int{n, c, hh, ww}, Strides: []int{hh * ww * c, 1, ww * c, c}}
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		want := make([]float32, len(vals))
		if err := GroupNorm(GroupNormArgs{X: tensor.FromFloat32(vals, n, c, hh, ww), Groups: groups,
			Out: tensor.FromFloat32(want, n, c, hh, ww), Eps: 1e-5}); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(vals))
		if err := GroupNorm(GroupNormArgs{X: view, Groups: groups, Out: tensor.FromFloat32(got, n, c, hh, ww), Eps: 1e-5}); err != nil {
			t.Fatal(err)
		}
		ref, _ := refGroupNorm(f64s(vals), nil, nil, nil, []int{n, c, hh, ww}, groups, 1e-5, tensor.Float32)
		closeTo(t, "channels first", normTol[tensor.Float32], f64s(want), ref)
		closeTo(t, "channels last", normTol[tensor.Float32], f64s(got), ref)
		restore()
	}
}

func f64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func TestGroupNormBackward(t *testing.T) {
	forEachGroupCase(t, func(t *testing.T, dt tensor.DType, shape []int, groups int, lay layout) {
		rng := rand.New(rand.NewPCG(74, uint64(len(shape))))
		for _, v := range []struct{ w, res, grads bool }{{false, false, false}, {true, false, true}, {true, true, true}, {false, true, true}} {
			c := newBackwardCase(rng, dt, shape, shape[1], lay, v.w, v.res, true)
			args := GroupNormBackwardArgs{H: c.h.t, Groups: groups, Weight: tptr(c.w), DY: c.dy.t,
				DResidualOut: tptr(c.dres), DX: c.dx.t, Eps: 1e-5}
			if v.grads {
				args.DWeight, args.DBias = &c.dw.t, &c.db.t
			}
			if err := GroupNormBackward(args); err != nil {
				t.Fatal(err)
			}
			wantDX, wantDW, wantDB := refGroupNormBackward(c.hv, c.wv, c.dyv, c.dresv, shape, groups, 1e-5)
			closeTo(t, fmt.Sprintf("group_norm dx %+v", v), backwardTol(dt), c.dx.get(), wantDX)
			if v.grads {
				closeTo(t, "group_norm dweight", backwardTol(dt), c.dw.get(), wantDW)
				closeTo(t, "group_norm dbias", backwardTol(c.db.t.DType), c.db.get(), wantDB)
			}
			checkGuards(t, c.dx, c.dw, c.db)
		}
	})
}

// groupRun computes GroupNorm forward and backward on [n, 16, 9, 11] data (4 groups).
func groupRun(t *testing.T, x, res, dy, w, b []float32, n int) [][]float32 {
	t.Helper()
	shape := []int{n, 16, 9, 11}
	numel := tensor.NumElOf(shape)
	out, h, dx := make([]float32, numel), make([]float32, numel), make([]float32, numel)
	dw, db := make([]float32, 16), make([]float32, 16)
	X, R, DY := tensor.FromFloat32(x, shape...), tensor.FromFloat32(res, shape...), tensor.FromFloat32(dy, shape...)
	W, B := tensor.FromFloat32(w, 16), tensor.FromFloat32(b, 16)
	if err := GroupNorm(GroupNormArgs{X: X, Groups: 4, Weight: &W, Bias: &B, Residual: &R,
		Out: tensor.FromFloat32(out, shape...), ResidualOut: ptr(tensor.FromFloat32(h, shape...)), Eps: 1e-5}); err != nil {
		t.Fatal(err)
	}
	if err := GroupNormBackward(GroupNormBackwardArgs{H: tensor.FromFloat32(h, shape...), Groups: 4, Weight: &W, DY: DY,
		DX: tensor.FromFloat32(dx, shape...), DWeight: ptr(tensor.FromFloat32(dw, 16)), DBias: ptr(tensor.FromFloat32(db, 16)), Eps: 1e-5}); err != nil {
		t.Fatal(err)
	}
	return [][]float32{out, h, dx, dw, db}
}

// TestGroupNormDeterminism: bit-identical for 1, 2 and 3 threads (parameter gradients
// included), and a sample alone equals the same sample in a batch.
func TestGroupNormDeterminism(t *testing.T) {
	defer cpu.SetNumThreads(0)
	rng := rand.New(rand.NewPCG(75, 76))
	const n, per = 300, 16 * 9 * 11
	x, res, dy := randF32(rng, n*per, 2), randF32(rng, n*per, 1), randF32(rng, n*per, 1)
	w, b := randF32(rng, 16, 1), randF32(rng, 16, 1)
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		cpu.SetNumThreads(1)
		want := groupRun(t, x, res, dy, w, b, n)
		for _, threads := range []int{2, 3} {
			cpu.SetNumThreads(threads)
			for i, got := range groupRun(t, x, res, dy, w, b, n) {
				if !sameBits(got, want[i]) {
					t.Fatalf("%v: output %d with %d threads differs from 1 thread", isa, i, threads)
				}
			}
		}
		const s = 211
		alone := groupRun(t, x[s*per:(s+1)*per], res[s*per:(s+1)*per], dy[s*per:(s+1)*per], w, b, 1)
		for i := 0; i < 3; i++ {
			if !sameBits(alone[i], want[i][s*per:(s+1)*per]) {
				t.Fatalf("%v: output %d of a sample alone differs from the sample in a batch", isa, i)
			}
		}
		restore()
	}
}

func TestGroupNormInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(77, 78))
	shape := []int{2, 6, 13}
	numel := tensor.NumElOf(shape)
	x, res := randF32(rng, numel, 2), randF32(rng, numel, 1)
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		want, wantH := make([]float32, numel), make([]float32, numel)
		if err := GroupNorm(GroupNormArgs{X: tensor.FromFloat32(x, shape...), Groups: 3, Residual: ptr(tensor.FromFloat32(res, shape...)),
			Out: tensor.FromFloat32(want, shape...), ResidualOut: ptr(tensor.FromFloat32(wantH, shape...)), Eps: 1e-5}); err != nil {
			t.Fatal(err)
		}
		xx, rr := slices.Clone(x), slices.Clone(res)
		tx, tr := tensor.FromFloat32(xx, shape...), tensor.FromFloat32(rr, shape...)
		if err := GroupNorm(GroupNormArgs{X: tx, Groups: 3, Residual: &tr, Out: tx, ResidualOut: &tr, Eps: 1e-5}); err != nil {
			t.Fatal(err)
		}
		if !sameBits(xx, want) || !sameBits(rr, wantH) {
			t.Fatalf("%v: in place differs", isa)
		}
		restore()
	}
}

func TestGroupNormBadInput(t *testing.T) {
	x := newTBuf(tensor.Float32, []int{2, 4, 3}, rowMajor)
	x.set(randomValues(rand.New(rand.NewPCG(1, 1)), 24, 1))
	out := newTBuf(tensor.Float32, []int{2, 4, 3}, rowMajor)
	dx := newTBuf(tensor.Float32, []int{2, 4, 3}, rowMajor)
	dw := newTBuf(tensor.Float32, []int{4}, rowMajor)
	ok := GroupNormArgs{X: x.t, Groups: 2, Out: out.t, Eps: 1e-5}
	with := func(f func(a *GroupNormArgs)) func() error {
		return func() error { a := ok; f(&a); return GroupNorm(a) }
	}
	okB := GroupNormBackwardArgs{H: x.t, Groups: 2, DY: x.t, DX: dx.t, DWeight: &dw.t, Eps: 1e-5}
	withB := func(f func(a *GroupNormBackwardArgs)) func() error {
		return func() error { a := okB; f(&a); return GroupNormBackward(a) }
	}
	runBadCalls(t, []badCall{
		{"groups 0", with(func(a *GroupNormArgs) { a.Groups = 0 }), errs.InvalidArgument},
		{"groups -1", with(func(a *GroupNormArgs) { a.Groups = -1 }), errs.InvalidArgument},
		{"groups do not divide", with(func(a *GroupNormArgs) { a.Groups = 3 }), errs.ShapeMismatch},
		{"1-D x", with(func(a *GroupNormArgs) { a.X = tensor.FromFloat32(make([]float32, 4), 4) }), errs.ShapeMismatch},
		{"no channels", with(func(a *GroupNormArgs) {
			a.X = tensor.Tensor{Data: x.t.Data, DType: tensor.Float32, Shape: []int{2, 0, 3}, Strides: []int{12, 3, 1}}
		}), errs.ShapeMismatch},
		{"weight [3]", with(func(a *GroupNormArgs) { a.Weight = ptr(tensor.FromFloat32(make([]float32, 3), 3)) }), errs.ShapeMismatch},
		{"out shape", with(func(a *GroupNormArgs) { a.Out = tensor.FromFloat32(make([]float32, 24), 2, 12) }), errs.ShapeMismatch},
		{"eps NaN", with(func(a *GroupNormArgs) { a.Eps = float32(math.NaN()) }), errs.InvalidArgument},
		{"backward groups", withB(func(a *GroupNormBackwardArgs) { a.Groups = 5 }), errs.ShapeMismatch},
		{"backward dweight shape", withB(func(a *GroupNormBackwardArgs) { a.DWeight = ptr(tensor.FromFloat32(make([]float32, 3), 3)) }), errs.ShapeMismatch},
		{"backward dx overlaps dweight", withB(func(a *GroupNormBackwardArgs) {
			v := dx.t
			v.Shape, v.Strides = []int{4}, []int{1}
			a.DWeight = &v
		}), errs.InvalidArgument},
	}, out, dx, dw)
}
