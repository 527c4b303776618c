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

// refLayerNorm is the float64 definition: h = x (+ residual rounded to dt), out =
// (h - mean) / sqrt(var + eps) * w + b with the biased variance.
func refLayerNorm(x, res, w, b []float64, n int, eps float64, dt tensor.DType) (out, h []float64) {
	h = roundedSum(x, res, dt)
	out = make([]float64, len(x))
	for r := 0; r < len(x)/n; r++ {
		row := h[r*n : (r+1)*n]
		var mean, v float64
		for _, e := range row {
			mean += e
		}
		mean /= float64(n)
		for _, e := range row {
			v += (e - mean) * (e - mean)
		}
		v /= float64(n)
		for j, e := range row {
			out[r*n+j] = (e-mean)/math.Sqrt(v+eps)*param(w, j, 1) + param(b, j, 0)
		}
	}
	return out, h
}

// refLayerNormBackward is the float64 gradient of LayerNorm (see LayerNormBackward).
func refLayerNormBackward(h, w, dy, dres []float64, n int, eps float64) (dx, dw, db []float64) {
	dx, dw, db = make([]float64, len(h)), make([]float64, n), make([]float64, n)
	for r := 0; r < len(h)/n; r++ {
		row, dyr := h[r*n:(r+1)*n], dy[r*n:(r+1)*n]
		var mean, v float64
		for _, e := range row {
			mean += e
		}
		mean /= float64(n)
		for _, e := range row {
			v += (e - mean) * (e - mean)
		}
		rs := 1 / math.Sqrt(v/float64(n)+eps)
		var mg, mgx float64
		for j, e := range row {
			g := dyr[j] * param(w, j, 1)
			mg += g
			mgx += g * (e - mean) * rs
		}
		mg, mgx = mg/float64(n), mgx/float64(n)
		for j, e := range row {
			xhat := (e - mean) * rs
			dx[r*n+j] = rs*(dyr[j]*param(w, j, 1)-mg-xhat*mgx) + param(dres, r*n+j, 0)
			dw[j] += dyr[j] * xhat
			db[j] += dyr[j]
		}
	}
	return dx, dw, db
}

func TestLayerNormMatchesReference(t *testing.T) {
	forEachNorm(t, normShapes, func(t *testing.T, dt tensor.DType, shape []int, lay layout) {
		rng := rand.New(rand.NewPCG(61, uint64(len(shape))))
		n := shape[len(shape)-1]
		numel := tensor.NumElOf(shape)
		for i, v := range normVariants {
			x := newTBuf(dt, shape, lay)
			// An offset keeps the mean away from zero, as real activations have.
			xs := x.set(randomValues(rng, numel, 2))
			args := LayerNormArgs{X: x.t, Eps: DefaultLayerNormEps}
			var ws, bs, rs []float64
			if v.weight {
				w := newTBuf(otherType(dt, i), []int{n}, lay)
				ws = w.set(randomValues(rng, n, 1))
				args.Weight = &w.t
			}
			if v.bias {
				b := newTBuf(otherType(dt, i+1), []int{n}, (lay+1)%3)
				bs = b.set(randomValues(rng, n, 1))
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
			if err := LayerNorm(args); err != nil {
				t.Fatal(err)
			}
			wantOut, wantH := refLayerNorm(xs, rs, ws, bs, n, DefaultLayerNormEps, dt)
			closeTo(t, fmt.Sprintf("layer_norm %+v", v), normTol[dt], out.get(), wantOut)
			checkGuards(t, out, ro)
			if ro != nil && !slices.Equal(ro.get(), wantH) {
				t.Fatal("residual_out differs from the rounded sum")
			}
		}
	})
}

// TestLayerNormShiftedMean: rows with a large common offset keep their precision, which a
// one-pass E[x^2] - E[x]^2 variance would lose.
func TestLayerNormShiftedMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(62, 63))
	const rows, n = 4, 1000
	xs := randomValues(rng, rows*n, 1)
	for i := range xs {
		xs[i] += 1000
	}
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		x := newTBuf(tensor.Float32, []int{rows, n}, rowMajor)
		stored := x.set(xs)
		out := newTBuf(tensor.Float32, []int{rows, n}, rowMajor)
		if err := LayerNorm(LayerNormArgs{X: x.t, Out: out.t, Eps: 1e-5}); err != nil {
			t.Fatal(err)
		}
		want, _ := refLayerNorm(stored, nil, nil, nil, n, 1e-5, tensor.Float32)
		// The float32 mean of 1000 values near 1000 is off by up to ~1e-3 in the
		// sequential generic sum (less with SIMD lanes), which shifts every output by that
		// times 1/std = 1; a one-pass variance would be wrong by O(1) here.
		closeTo(t, isa.String(), 1e-3, out.get(), want)
		restore()
	}
}

func TestLayerNormBackward(t *testing.T) {
	forEachNorm(t, normShapes, func(t *testing.T, dt tensor.DType, shape []int, lay layout) {
		rng := rand.New(rand.NewPCG(64, uint64(len(shape))))
		n := shape[len(shape)-1]
		for _, v := range []struct{ w, res, grads bool }{{false, false, false}, {true, false, true}, {true, true, true}, {false, true, true}} {
			c := newBackwardCase(rng, dt, shape, n, lay, v.w, v.res, true)
			args := LayerNormBackwardArgs{H: c.h.t, Weight: tptr(c.w), DY: c.dy.t, DResidualOut: tptr(c.dres), DX: c.dx.t, Eps: 1e-5}
			if v.grads {
				args.DWeight, args.DBias = &c.dw.t, &c.db.t
			}
			if err := LayerNormBackward(args); err != nil {
				t.Fatal(err)
			}
			wantDX, wantDW, wantDB := refLayerNormBackward(c.hv, c.wv, c.dyv, c.dresv, n, 1e-5)
			closeTo(t, fmt.Sprintf("layer_norm dx %+v", v), backwardTol(dt), c.dx.get(), wantDX)
			if v.grads {
				closeTo(t, "layer_norm dweight", backwardTol(dt), c.dw.get(), wantDW)
				closeTo(t, "layer_norm dbias", backwardTol(c.db.t.DType), c.db.get(), wantDB)
			}
			checkGuards(t, c.dx, c.dw, c.db)
		}
	})
}

func TestLayerNormInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	const rows, n = 3, 45
	x, res, w, b := randF32(rng, rows*n, 2), randF32(rng, rows*n, 1), randF32(rng, n, 1), randF32(rng, n, 1)
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		want, wantH := make([]float32, rows*n), make([]float32, rows*n)
		W, B := tensor.FromFloat32(w, n), tensor.FromFloat32(b, n)
		if err := LayerNorm(LayerNormArgs{X: tensor.FromFloat32(x, rows, n), Weight: &W, Bias: &B,
			Residual: ptr(tensor.FromFloat32(res, rows, n)), Out: tensor.FromFloat32(want, rows, n),
			ResidualOut: ptr(tensor.FromFloat32(wantH, rows, n)), Eps: 1e-5}); err != nil {
			t.Fatal(err)
		}
		// The residual stream in place, and the swapped assignment.
		for _, swap := range []bool{false, true} {
			xx, rr := slices.Clone(x), slices.Clone(res)
			tx, tr := tensor.FromFloat32(xx, rows, n), tensor.FromFloat32(rr, rows, n)
			out, ro := tx, tr
			if swap {
				out, ro = tr, tx
			}
			if err := LayerNorm(LayerNormArgs{X: tx, Weight: &W, Bias: &B, Residual: &tr, Out: out, ResidualOut: &ro, Eps: 1e-5}); err != nil {
				t.Fatal(err)
			}
			gotOut, gotH := xx, rr
			if swap {
				gotOut, gotH = rr, xx
			}
			if !sameBits(gotOut, want) || !sameBits(gotH, wantH) {
				t.Fatalf("%v swap=%v: in place differs", isa, swap)
			}
		}
		restore()
	}
}

func TestLayerNormBadInput(t *testing.T) {
	x := newTBuf(tensor.Float32, []int{2, 3}, rowMajor)
	x.set([]float64{1, 2, 3, 4, 5, 6})
	out := newTBuf(tensor.Float32, []int{2, 3}, rowMajor)
	ro := newTBuf(tensor.Float32, []int{2, 3}, rowMajor)
	dx := newTBuf(tensor.Float32, []int{2, 3}, rowMajor)
	db := newTBuf(tensor.Float32, []int{3}, rowMajor)
	other := newTBuf(tensor.Float32, []int{3, 2}, rowMajor)
	half := newTBuf(tensor.Float16, []int{2, 3}, rowMajor)
	i32 := out.t
	i32.DType = tensor.Int32
	ok := LayerNormArgs{X: x.t, Out: out.t, ResidualOut: &ro.t, Eps: 1e-5}
	with := func(f func(a *LayerNormArgs)) func() error {
		return func() error { a := ok; f(&a); return LayerNorm(a) }
	}
	okB := LayerNormBackwardArgs{H: x.t, DY: x.t, DX: dx.t, DBias: &db.t, Eps: 1e-5}
	withB := func(f func(a *LayerNormBackwardArgs)) func() error {
		return func() error { a := okB; f(&a); return LayerNormBackward(a) }
	}
	runBadCalls(t, []badCall{
		{"out shape", with(func(a *LayerNormArgs) { a.Out = other.t }), errs.ShapeMismatch},
		{"out dtype", with(func(a *LayerNormArgs) { a.Out = half.t }), errs.UnsupportedDtype},
		{"int out", with(func(a *LayerNormArgs) { a.Out = i32 }), errs.UnsupportedDtype},
		{"bias shape", with(func(a *LayerNormArgs) { a.Bias = ptr(tensor.FromFloat32(make([]float32, 4), 4)) }), errs.ShapeMismatch},
		{"bias 2-D", with(func(a *LayerNormArgs) { a.Bias = &other.t }), errs.ShapeMismatch},
		{"residual shape", with(func(a *LayerNormArgs) { a.Residual = &other.t }), errs.ShapeMismatch},
		{"eps", with(func(a *LayerNormArgs) { a.Eps = -1e-5 }), errs.InvalidArgument},
		{"eps Inf", with(func(a *LayerNormArgs) { a.Eps = float32(math.Inf(1)) }), errs.InvalidArgument},
		{"outs alias", with(func(a *LayerNormArgs) { a.ResidualOut = &a.Out }), errs.InvalidArgument},
		{"empty last axis", with(func(a *LayerNormArgs) {
			a.X = tensor.Tensor{Data: x.t.Data, DType: tensor.Float32, Shape: []int{2, 0}, Strides: []int{3, 1}}
		}), errs.ShapeMismatch},
		{"backward dbias shape", withB(func(a *LayerNormBackwardArgs) { a.DBias = &other.t }), errs.ShapeMismatch},
		{"backward dbias is dweight", withB(func(a *LayerNormBackwardArgs) { a.DWeight = &db.t }), errs.InvalidArgument},
		{"backward dx dtype", withB(func(a *LayerNormBackwardArgs) { a.DX = i32 }), errs.UnsupportedDtype},
		{"backward d_residual_out shape", withB(func(a *LayerNormBackwardArgs) { a.DResidualOut = &other.t }), errs.ShapeMismatch},
	}, out, ro, dx, db)
}
