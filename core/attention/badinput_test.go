package attention

import (
	"math"
	"testing"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// TestBadInput: every invalid call returns the documented kind of error and writes
// nothing (out and lse keep their guard values).
func TestBadInput(t *testing.T) {
	f32 := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	q, k, v := f32(2, 5, 4, 8), f32(2, 7, 2, 8), f32(2, 7, 2, 8)
	outData := make([]float32, 2*5*4*8)
	lseData := make([]float32, 2*4*5)
	out := tensor.FromFloat32(outData, 2, 5, 4, 8)
	lse := tensor.FromFloat32(lseData, 2, 4, 5)
	i32 := tensor.Tensor{Data: q.Data, DType: tensor.Int32, Shape: q.Shape, Strides: q.Strides}
	bias := f32(3, 5, 7)
	with := func(f func(p *Params)) Params { p := DefaultParams(); f(&p); return p }
	def := DefaultParams()
	cases := []badCall{
		{"Hq%Hkv", errs.ShapeMismatch, func() error { return Forward(q, f32(2, 7, 3, 8), f32(2, 7, 3, 8), out, &lse, def) }},
		{"head dim", errs.ShapeMismatch, func() error { return Forward(q, f32(2, 7, 2, 6), v, out, &lse, def) }},
		{"v shape", errs.ShapeMismatch, func() error { return Forward(q, k, f32(2, 6, 2, 8), out, &lse, def) }},
		{"out shape", errs.ShapeMismatch, func() error { return Forward(q, k, v, f32(2, 5, 4, 7), &lse, def) }},
		{"batch", errs.ShapeMismatch, func() error { return Forward(q, f32(1, 7, 2, 8), f32(1, 7, 2, 8), out, &lse, def) }},
		{"ndim", errs.ShapeMismatch, func() error { return Forward(f32(2, 5, 32), k, v, out, &lse, def) }},
		{"lse shape", errs.ShapeMismatch, func() error { l := f32(2, 5, 4); return Forward(q, k, v, out, &l, def) }},
		{"dtype", errs.UnsupportedDtype, func() error { return Forward(i32, k, v, out, &lse, def) }},
		{"window", errs.InvalidArgument, func() error { return Forward(q, k, v, out, &lse, with(func(p *Params) { p.WindowLeft = -2 })) }},
		{"sliding window", errs.InvalidArgument, func() error { return SlidingWindow(q, k, v, out, -1, false, def) }},
		{"bias", errs.ShapeMismatch, func() error { return Forward(q, k, v, out, &lse, with(func(p *Params) { p.Bias = &bias })) }},
		{"key lengths range", errs.InvalidArgument, func() error {
			return Forward(q, k, v, out, &lse, with(func(p *Params) { p.KeyLengths = []int32{7, 8} }))
		}},
		{"key lengths negative", errs.InvalidArgument, func() error {
			return Forward(q, k, v, out, &lse, with(func(p *Params) { p.KeyLengths = []int32{-1, 3} }))
		}},
		{"key lengths count", errs.ShapeMismatch, func() error {
			return Forward(q, k, v, out, &lse, with(func(p *Params) { p.KeyLengths = []int32{3} }))
		}},
		{"alibi count", errs.ShapeMismatch, func() error {
			return Forward(q, k, v, out, &lse, with(func(p *Params) { p.ALiBiSlopes = []float32{1, 2} }))
		}},
		{"sinks count", errs.ShapeMismatch, func() error {
			return Forward(q, k, v, out, &lse, with(func(p *Params) { p.Sinks = []float32{1} }))
		}},
		{"softcap", errs.InvalidArgument, func() error {
			return Forward(q, k, v, out, &lse, with(func(p *Params) { p.SoftCap = -1 }))
		}},
		{"scale", errs.InvalidArgument, func() error {
			return Forward(q, k, v, out, &lse, with(func(p *Params) { p.Scale = float32(math.NaN()) }))
		}},
		{"layout", errs.InvalidArgument, func() error { return Forward(q, k, v, out, &lse, with(func(p *Params) { p.Layout = 7 })) }},
		{"out overlaps q", errs.InvalidArgument, func() error { return Forward(out, k, v, out, &lse, def) }},
		{"lse overlaps out", errs.InvalidArgument, func() error {
			l := tensor.FromFloat32(outData[:40], 2, 4, 5)
			return Forward(q, k, v, out, &l, def)
		}},
		{"out overlaps bias", errs.InvalidArgument, func() error {
			bt := tensor.FromFloat32(outData[:35], 5, 7)
			return Forward(q, k, v, out, &lse, with(func(p *Params) { p.Bias = &bt }))
		}},
		{"nil data", errs.InvalidArgument, func() error {
			bad := q
			bad.Data = nil
			return Forward(bad, k, v, out, &lse, def)
		}},
	}
	expectBadCalls(t, cases, outData, lseData)
}

// badCall is an invalid call and the kind of error it must return.
type badCall struct {
	name string
	kind errs.Kind
	call func() error
}

// expectBadCalls runs each call with every output buffer filled with guard values, and
// checks the kind of its error and that no output was written.
func expectBadCalls(t *testing.T, cases []badCall, outs ...[]float32) {
	t.Helper()
	for _, tc := range cases {
		for _, o := range outs {
			for i := range o {
				o[i] = guard
			}
		}
		err := tc.call()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if got := errs.KindOf(err); got != tc.kind {
			t.Errorf("%s: kind %v (%v), want %v", tc.name, got, err, tc.kind)
		}
		for n, o := range outs {
			for _, x := range o {
				if x != guard {
					t.Fatalf("%s: output %d was written", tc.name, n)
				}
			}
		}
	}
}
