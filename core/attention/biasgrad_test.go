package attention

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// biasGradProblem is a backward problem with a dbias buffer of the bias's shape.
type biasGradProblem struct {
	*backProblem
	db *buf
}

func newBiasGradProblem(t testing.TB, c cfg, seed uint64, dt tensor.DType) *biasGradProblem {
	t.Helper()
	bp := newBackProblem(t, c, seed, tensor.Float32)
	nd := len(c.biasShape)
	return &biasGradProblem{bp, newBuf(dt, c.biasShape, []int{0, 1, 2, 3}[:nd], c.mode, guard)}
}

func (bg *biasGradProblem) run() error {
	return BiasGrad(bg.q.t, bg.k.t, bg.v.t, bg.o.t, bg.do.t, bg.lse.t, bg.db.t, bg.c.p)
}

// want sums the reference dL/dx over the dimensions the bias is broadcast along.
func (bg *biasGradProblem) want() []float64 {
	c := bg.c
	_, _, _, _, dx := bg.grads64(bg.q.vals, bg.k.vals, bg.v.vals, bg.do.vals)
	nd := len(c.biasShape)
	want := make([]float64, tensor.NumElOf(c.biasShape))
	n := 0
	each([]int{c.B, c.Hq, c.Lq, c.Lk}, func(idx []int) {
		off := 0
		for i := range nd {
			x := idx[4-nd+i]
			if c.biasShape[i] == 1 {
				x = 0
			}
			off = off*c.biasShape[i] + x
		}
		want[off] += dx[n]
		n++
	})
	return want
}

func (bg *biasGradProblem) check(t *testing.T) {
	t.Helper()
	want := bg.want()
	// A dbias entry sums up to B·Hq·Lq·Lk terms (when broadcast over everything): allow
	// the float32 error of that many additions on top of gradTol.
	terms := float64(tensor.NumElOf([]int{bg.c.B, bg.c.Hq, bg.c.Lq, bg.c.Lk})) / float64(len(want))
	tol := gradTol(bg.db.t.DType) * max(1, terms/64)
	n, bad := 0, 0
	each(bg.db.shape, func(idx []int) {
		got := bg.db.get(idx...)
		if w := want[n]; math.IsNaN(got) || math.Abs(got-w) > tol*(1+math.Abs(w)) {
			if bad++; bad <= 5 {
				t.Errorf("dbias%v = %v, want %v (tol %v)", idx, got, w, tol)
			}
		}
		n++
	})
	if !bg.db.guardsIntact() {
		t.Error("dbias: a value outside the tensor was overwritten")
	}
}

func TestBiasGrad(t *testing.T) {
	type tc struct {
		name  string
		shape []int
		f     func(c *cfg)
		dt    tensor.DType
	}
	none := func(*cfg) {}
	cases := []tc{
		{"full", []int{2, 4, 9, 33}, none, tensor.Float32},
		{"shared over batch", []int{1, 4, 9, 33}, none, tensor.Float32},
		{"per head 3-D", []int{4, 1, 33}, none, tensor.Float32},
		{"one matrix", []int{9, 33}, func(c *cfg) { c.p.Causal = true }, tensor.Float32},
		{"key padding", []int{2, 1, 1, 33}, func(c *cfg) { c.biasMaskFrac = 0.3 }, tensor.Float32},
		{"keys only", []int{33}, none, tensor.Float32},
		{"per query row", []int{2, 4, 9, 1}, none, tensor.Float32},
		{"scalar", []int{}, none, tensor.Float32},
		{"one element", []int{1}, func(c *cfg) { c.p.Causal = true }, tensor.Float32},
		{"softcap alibi sinks window", []int{1, 4, 9, 33}, func(c *cfg) {
			c.p.SoftCap, c.p.ALiBiSlopes, c.p.Sinks = 2.5, ALiBiSlopes(4), []float32{0.5, -1, 2, 0}
			c.p.WindowLeft, c.p.WindowRight, c.biasMaskFrac = 6, 3, 0.1
		}, tensor.Float32},
		{"key lengths, empty rows", []int{2, 1, 9, 33}, func(c *cfg) { c.p.KeyLengths = []int32{0, 20} }, tensor.Float32},
		{"long keys (several blocks)", []int{1, 4, 3, 300}, func(c *cfg) { c.Lq, c.Lk, c.p.Causal = 3, 300, true }, tensor.Float32},
		{"bf16 dbias, BHSD strided", []int{1, 4, 9, 33}, func(c *cfg) { c.layout, c.mode = BHSD, spread }, tensor.BFloat16},
		{"MHA D 80", []int{2, 4, 9, 33}, func(c *cfg) { c.Hkv, c.D, c.Dv = 4, 80, 40 }, tensor.Float32},
	}
	forEachISA(t, func(t *testing.T) {
		for i, x := range cases {
			t.Run(x.name, func(t *testing.T) {
				c := baseCfg(2, 9, 33, 4, 16)
				c.Hkv = 2
				c.biasShape = x.shape
				x.f(&c)
				bg := newBiasGradProblem(t, c, uint64(300+i), x.dt)
				if err := bg.run(); err != nil {
					t.Fatal(err)
				}
				bg.check(t)
			})
		}
	})
}

// TestBiasGradThreadCountInvariance: 1, 2 and 3 threads give bit-identical dbias, for a
// bias summed over batch and heads and for one per (batch, head).
func TestBiasGradThreadCountInvariance(t *testing.T) {
	defer cpu.SetNumThreads(cpu.NumThreads())
	for _, shape := range [][]int{{37, 300}, {3, 6, 37, 300}, {3, 1, 1, 1}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			c := baseCfg(3, 37, 300, 6, 16)
			c.Hkv = 3
			c.p.Causal, c.p.SoftCap, c.biasShape = true, 4, shape
			bg := newBiasGradProblem(t, c, 23, tensor.Float32)
			var ref []float32
			for _, n := range []int{1, 2, 3} {
				if err := cpu.SetNumThreads(n); err != nil {
					t.Fatal(err)
				}
				if err := bg.run(); err != nil {
					t.Fatal(err)
				}
				got := slices.Clone(bg.db.f32)
				if ref == nil {
					ref = got
					continue
				}
				expectSameBits(t, fmt.Sprintf("threads=%d", n), got, ref)
			}
			bg.check(t)
		})
	}
}

// TestBiasGradBadInput: invalid calls return the documented kind and write nothing.
func TestBiasGradBadInput(t *testing.T) {
	f32 := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	q, k, v, out, dout, lse := f32(2, 5, 4, 8), f32(2, 7, 2, 8), f32(2, 7, 2, 8), f32(2, 5, 4, 8), f32(2, 5, 4, 8), f32(2, 4, 5)
	biasData := make([]float32, 4*5*7)
	bias := tensor.FromFloat32(biasData, 4, 5, 7)
	dbData := make([]float32, 4*5*7)
	db := tensor.FromFloat32(dbData, 4, 5, 7)
	withBias := DefaultParams()
	withBias.Bias = &bias
	cases := []badCall{
		{"no bias", errs.InvalidArgument, func() error { return BiasGrad(q, k, v, out, dout, lse, db, DefaultParams()) }},
		{"dbias shape", errs.ShapeMismatch, func() error { return BiasGrad(q, k, v, out, dout, lse, f32(1, 4, 5, 7), withBias) }},
		{"dbias dims", errs.ShapeMismatch, func() error { return BiasGrad(q, k, v, out, dout, lse, f32(4, 5, 6), withBias) }},
		{"dbias dtype", errs.UnsupportedDtype, func() error {
			return BiasGrad(q, k, v, out, dout, lse, tensor.Tensor{Data: db.Data, DType: tensor.Int32, Shape: db.Shape, Strides: db.Strides}, withBias)
		}},
		{"dbias is bias", errs.InvalidArgument, func() error { return BiasGrad(q, k, v, out, dout, lse, bias, withBias) }},
		{"dbias overlaps dout", errs.InvalidArgument, func() error {
			return BiasGrad(q, k, v, out, dout, lse, tensor.FromFloat32(unsafe.Slice((*float32)(dout.Data), 140), 4, 5, 7), withBias)
		}},
		{"dout shape", errs.ShapeMismatch, func() error { return BiasGrad(q, k, v, out, f32(2, 5, 4, 7), lse, db, withBias) }},
		{"lse shape", errs.ShapeMismatch, func() error { return BiasGrad(q, k, v, out, dout, f32(2, 4, 6), db, withBias) }},
	}
	expectBadCalls(t, cases, dbData)
}

// TestBiasGradBlockInvariance: the number of keys per work item does not change a bit.
func TestBiasGradBlockInvariance(t *testing.T) {
	c := baseCfg(2, 9, 300, 4, 16)
	c.Hkv, c.p.Causal, c.biasShape = 2, true, []int{1, 4, 9, 300}
	bg := newBiasGradProblem(t, c, 29, tensor.Float32)
	var ref []float32
	for _, block := range []int{128, 256, 384} {
		plan, err := newBiasGrad(bg.q.t, bg.k.t, bg.v.t, bg.o.t, bg.do.t, bg.lse.t, bg.db.t, bg.c.p)
		if err != nil {
			t.Fatal(err)
		}
		plan.block = block
		plan.run()
		got := slices.Clone(bg.db.f32)
		if ref == nil {
			ref = got
			continue
		}
		expectSameBits(t, fmt.Sprintf("block %d", block), got, ref)
	}
	bg.check(t)
}

// expectSameBits fails unless got and want hold the same float32 bits.
func expectSameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %v, want %v bit for bit", what, i, got[i], want[i])
		}
	}
}
