package rope

import (
	"math"
	"slices"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// TestErrors checks that each kind of bad input returns its typed error and writes
// nothing: the outputs keep their sentinel contents.
func TestErrors(t *testing.T) {
	const B, S, H, D = 1, 2, 2, 8
	mk := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	q, k := mk(B, S, H, D), mk(B, S, 1, D)
	qOut, kOut := mk(B, S, H, D), mk(B, S, 1, D)
	sentinel := func() {
		for _, o := range []tensor.Tensor{qOut, kOut} {
			s := unsafe.Slice((*float32)(o.Data), o.NumEl())
			for i := range s {
				s[i] = 42
			}
		}
	}
	written := func() bool {
		for _, o := range []tensor.Tensor{qOut, kOut} {
			if slices.ContainsFunc(unsafe.Slice((*float32)(o.Data), o.NumEl()), func(v float32) bool { return v != 42 }) {
				return true
			}
		}
		return false
	}
	p32 := make([]int32, 8)
	pos := func(dt tensor.DType, shape ...int) *tensor.Tensor {
		return &tensor.Tensor{Data: unsafe.Pointer(&p32[0]), DType: dt, Shape: shape, Strides: tensor.RowMajorStrides(shape)}
	}
	with := func(f func(p *Params)) Params {
		p := DefaultParams()
		f(&p)
		return p
	}
	sc := func(s Scaling) Params { return with(func(p *Params) { p.Scaling = s }) }
	i32 := q
	i32.DType = tensor.Int32
	f16Out := tensor.FromUint16(make([]uint16, B*S*H*D), tensor.Float16, B, S, H, D)
	// qShifted overlaps qOut's memory without being the same view.
	qShifted := qOut
	qShifted.Data = unsafe.Add(qOut.Data, 4)
	qShifted.Shape = []int{B, S, H, D - 2}
	qSmall := mk(B, S, H, D-2)
	posOverlap := tensor.Tensor{Data: qOut.Data, DType: tensor.Int32, Shape: []int{S}, Strides: []int{1}}

	type call struct {
		q, qOut tensor.Tensor
		k, kOut *tensor.Tensor
		pos     *tensor.Tensor
		p       Params
	}
	base := func() call { return call{q: q, qOut: qOut, k: &k, kOut: &kOut, p: DefaultParams()} }
	edit := func(f func(c *call)) call {
		c := base()
		f(&c)
		return c
	}
	nan := math.NaN()
	cases := []struct {
		name string
		c    call
		kind errs.Kind
	}{
		{"odd rotary dim", edit(func(c *call) { c.p.RotaryDim = 3 }), errs.InvalidArgument},
		{"rotary dim > head dim", edit(func(c *call) { c.p.RotaryDim = 10 }), errs.InvalidArgument},
		{"negative rotary dim", edit(func(c *call) { c.p.RotaryDim = -2 }), errs.InvalidArgument},
		{"odd head dim", edit(func(c *call) { c.q, c.qOut, c.k, c.kOut = mk(1, 2, 2, 7), mk(1, 2, 2, 7), nil, nil }), errs.InvalidArgument},
		{"head dim 0", edit(func(c *call) { c.q, c.qOut, c.k, c.kOut = mk(1, 2, 2, 0), mk(1, 2, 2, 0), nil, nil }), errs.ShapeMismatch},
		{"head dims differ", edit(func(c *call) { k6, k6o := mk(B, S, 1, 6), mk(B, S, 1, 6); c.k, c.kOut = &k6, &k6o }), errs.ShapeMismatch},
		{"k seq differs", edit(func(c *call) { k3, k3o := mk(B, 3, 1, D), mk(B, 3, 1, D); c.k, c.kOut = &k3, &k3o }), errs.ShapeMismatch},
		{"k without k_out", edit(func(c *call) { c.kOut = nil }), errs.InvalidArgument},
		{"k_out without k", edit(func(c *call) { c.k = nil }), errs.InvalidArgument},
		{"q_out shape", edit(func(c *call) { c.qOut = qSmall }), errs.ShapeMismatch},
		{"q_out dtype", edit(func(c *call) { c.qOut = f16Out }), errs.UnsupportedDtype},
		{"int q", edit(func(c *call) { c.q, c.qOut = i32, i32 }), errs.UnsupportedDtype},
		{"3-D q", edit(func(c *call) { c.q, c.qOut = mk(2, 2, 8), mk(2, 2, 8) }), errs.ShapeMismatch},
		{"bad strides", edit(func(c *call) { c.q.Strides = []int{1} }), errs.InvalidArgument},
		{"base 0", edit(func(c *call) { c.p.Base = 0 }), errs.InvalidArgument},
		{"base NaN", edit(func(c *call) { c.p.Base = nan }), errs.InvalidArgument},
		{"base Inf", edit(func(c *call) { c.p.Base = math.Inf(1) }), errs.InvalidArgument},
		{"unknown pairing", edit(func(c *call) { c.p.Pairing = 2 }), errs.InvalidArgument},
		{"unknown layout", edit(func(c *call) { c.p.Layout = 5 }), errs.InvalidArgument},
		{"unknown scaling", edit(func(c *call) { c.p = sc(Scaling{Kind: 9, Factor: 2}) }), errs.InvalidArgument},
		{"negative scaling", edit(func(c *call) { c.p = sc(Scaling{Kind: -1, Factor: 2}) }), errs.InvalidArgument},
		{"linear factor 0", edit(func(c *call) { c.p = sc(Scaling{Kind: Linear}) }), errs.InvalidArgument},
		{"linear factor < 0", edit(func(c *call) { c.p = sc(Scaling{Kind: Linear, Factor: -2}) }), errs.InvalidArgument},
		{"ntk factor NaN", edit(func(c *call) { c.p = sc(Scaling{Kind: NTK, Factor: nan}) }), errs.InvalidArgument},
		{"ntk R=2", edit(func(c *call) { c.p = sc(Scaling{Kind: NTK, Factor: 2}); c.p.RotaryDim = 2 }), errs.InvalidArgument},
		{"dynamic R=2", edit(func(c *call) {
			c.p = sc(Scaling{Kind: DynamicNTK, Factor: 2, OriginalMaxPositions: 8})
			c.p.RotaryDim = 2
		}), errs.InvalidArgument},
		{"dynamic no original", edit(func(c *call) { c.p = sc(Scaling{Kind: DynamicNTK, Factor: 2}) }), errs.InvalidArgument},
		{"dynamic seq_len < 0", edit(func(c *call) { c.p = sc(Scaling{Kind: DynamicNTK, Factor: 2, OriginalMaxPositions: 8, SeqLen: -1}) }), errs.InvalidArgument},
		{"yarn factor 0", edit(func(c *call) { c.p = sc(Scaling{Kind: YaRN, OriginalMaxPositions: 8}) }), errs.InvalidArgument},
		{"yarn no original", edit(func(c *call) { c.p = sc(Scaling{Kind: YaRN, Factor: 4}) }), errs.InvalidArgument},
		{"yarn base 1", edit(func(c *call) { c.p = sc(Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 8}); c.p.Base = 1 }), errs.InvalidArgument},
		{"yarn beta < 0", edit(func(c *call) { c.p = sc(Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 8, BetaFast: -1}) }), errs.InvalidArgument},
		{"yarn attention NaN", edit(func(c *call) { c.p = sc(Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 8, AttentionFactor: nan}) }), errs.InvalidArgument},
		{"yarn mscale < 0", edit(func(c *call) {
			c.p = sc(Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 8, Mscale: -1, MscaleAllDim: 1})
		}), errs.InvalidArgument},
		{"llama3 factor < 0", edit(func(c *call) {
			c.p = sc(Scaling{Kind: Llama3, Factor: -8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8})
		}), errs.InvalidArgument},
		{"llama3 low 0", edit(func(c *call) {
			c.p = sc(Scaling{Kind: Llama3, Factor: 8, HighFreqFactor: 4, OriginalMaxPositions: 8})
		}), errs.InvalidArgument},
		{"llama3 high <= low", edit(func(c *call) {
			c.p = sc(Scaling{Kind: Llama3, Factor: 8, LowFreqFactor: 4, HighFreqFactor: 4, OriginalMaxPositions: 8})
		}), errs.InvalidArgument},
		{"positions length", edit(func(c *call) { c.pos = pos(tensor.Int32, 3) }), errs.ShapeMismatch},
		{"positions batch", edit(func(c *call) { c.pos = pos(tensor.Int32, 2, S) }), errs.ShapeMismatch},
		{"positions 3-D", edit(func(c *call) { c.pos = pos(tensor.Int32, 1, 1, S) }), errs.ShapeMismatch},
		{"positions float", edit(func(c *call) { c.pos = pos(tensor.Float32, S) }), errs.UnsupportedDtype},
		{"positions int8", edit(func(c *call) { c.pos = pos(tensor.Int8, S) }), errs.UnsupportedDtype},
		{"q_out partially overlaps q", edit(func(c *call) {
			c.q = qShifted
			c.qOut = qOut
			c.qOut.Shape = []int{B, S, H, D - 2}
			c.k, c.kOut = nil, nil
		}), errs.InvalidArgument},
		{"q_out is k", edit(func(c *call) { c.q, c.qOut = mk(B, S, 1, D), k }), errs.InvalidArgument},
		{"k_out is q_out", edit(func(c *call) { c.q, c.qOut = mk(B, S, 1, D), kOut }), errs.InvalidArgument},
		{"q_out overlaps positions", edit(func(c *call) { c.pos = &posOverlap }), errs.InvalidArgument},
	}
	for _, c := range cases {
		sentinel()
		err := Apply(c.c.q, c.c.qOut, c.c.k, c.c.kOut, c.c.pos, c.c.p)
		if err == nil || errs.KindOf(err) != c.kind {
			t.Errorf("%s: got %v (kind %v), want kind %v", c.name, err, errs.KindOf(err), c.kind)
		}
		if written() {
			t.Errorf("%s: an output was written despite the error", c.name)
		}
	}
	// Scaling fields of an unused kind are ignored: None with factor 0 is fine.
	if err := Apply(q, qOut, &k, &kOut, nil, sc(Scaling{Kind: None})); err != nil {
		t.Errorf("no scaling: %v", err)
	}
	// The same view as input and output computes in place.
	if err := Apply(q, q, &k, &k, nil, DefaultParams()); err != nil {
		t.Errorf("in place: %v", err)
	}
}
