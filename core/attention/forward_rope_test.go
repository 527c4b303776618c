package attention

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/kernels/rope"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// rotated returns a copy of b (same dtype, layout and storage mode) rotated by rope.Apply
// with positions offset + s, with its stored values recorded for the reference.
func rotated(t *testing.T, b *buf, mode int, offset int, rp rope.Params, layout Layout) *buf {
	t.Helper()
	r := newBuf(b.t.DType, b.shape, b.perm, mode, float32(math.NaN()))
	rp.Offset = offset
	rp.Layout = rope.BSHD
	if layout == BHSD {
		rp.Layout = rope.BHSD
	}
	if err := rope.Apply(b.t, r.t, nil, nil, nil, rp); err != nil {
		t.Fatalf("rope.Apply: %v", err)
	}
	each(r.shape, func(idx []int) { r.vals = append(r.vals, r.get(idx...)) })
	return r
}

// TestForwardRoPE: ForwardRoPE equals rope.Apply on q and k followed by Forward bit for
// bit, matches the float64 reference computed from the rotated inputs (check's
// tolerances), and leaves q and k unchanged.
func TestForwardRoPE(t *testing.T) {
	f32, bf16, f16 := tensor.Float32, tensor.BFloat16, tensor.Float16
	cases := []struct {
		name string
		set  func(c *cfg, rp *rope.Params)
	}{
		{"prefill/half", func(c *cfg, rp *rope.Params) { c.p.Causal = true }},
		{"decode/interleaved/offset", func(c *cfg, rp *rope.Params) {
			c.Lq, c.p.Causal = 3, true
			rp.Pairing, rp.Offset = rope.Interleaved, 17
		}},
		{"partial rotary/gqa/bhsd/spread", func(c *cfg, rp *rope.Params) {
			c.Hkv, c.layout, c.mode, c.p.Causal = 1, BHSD, spread, true
			rp.RotaryDim = 16
		}},
		{"bf16/yarn/alibi/sinks/keylens", func(c *cfg, rp *rope.Params) {
			c.dq, c.dk, c.dv, c.do = bf16, f16, f32, bf16
			c.p.ALiBiSlopes, c.p.Sinks = ALiBiSlopes(4), []float32{0, 1, -1, 2}
			c.p.KeyLengths = []int32{40, 0}
			rp.Scaling = rope.Scaling{Kind: rope.YaRN, Factor: 4, OriginalMaxPositions: 32}
		}},
		{"bias/softcap/window/lq>lk", func(c *cfg, rp *rope.Params) {
			c.Lq = 90
			c.biasShape, c.biasMaskFrac = []int{c.B, 1, 90, c.Lk}, 0.05
			c.p.SoftCap, c.p.WindowLeft = 6, 30
			rp.Offset = 5
		}},
	}
	forEachISA(t, func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := baseCfg(2, 77, 77, 4, 32)
				c.Hkv = 2
				rp := rope.DefaultParams()
				tc.set(&c, &rp)
				pr := newProblem(c, 9)
				c = pr.c
				qIn := fmt.Sprint(pr.q.vals)
				kIn := fmt.Sprint(pr.k.vals)
				if err := ForwardRoPE(pr.q.t, pr.k.t, pr.v.t, pr.o.t, &pr.lse.t, rp, c.p); err != nil {
					t.Fatal(err)
				}
				// The reference: rotate, then the float64 attention of the rotated inputs.
				ref := *pr
				ref.q = rotated(t, pr.q, c.mode, rp.Offset+c.Lk-c.Lq, rp, c.layout)
				ref.k = rotated(t, pr.k, c.mode, rp.Offset, rp, c.layout)
				ref.check(t, 1)
				// rope.Apply then Forward, into fresh outputs.
				fwd := ref
				fwd.o = newBuf(c.do, pr.o.shape, pr.o.perm, c.mode, guard)
				fwd.lse = newBuf(tensor.Float32, pr.lse.shape, pr.lse.perm, c.mode, guard)
				if err := fwd.run(); err != nil {
					t.Fatal(err)
				}
				bad := 0
				cmp := func(what string, got, want *buf) {
					each(got.shape, func(idx []int) {
						if g, w := got.get(idx...), want.get(idx...); math.Float64bits(g) != math.Float64bits(w) {
							if bad++; bad <= 5 {
								t.Errorf("%s%v = %v, rope.Apply + Forward gives %v", what, idx, g, w)
							}
						}
					})
				}
				cmp("out", pr.o, fwd.o)
				cmp("lse", pr.lse, fwd.lse)
				var qNow, kNow []float64
				each(pr.q.shape, func(idx []int) { qNow = append(qNow, pr.q.get(idx...)) })
				each(pr.k.shape, func(idx []int) { kNow = append(kNow, pr.k.get(idx...)) })
				if fmt.Sprint(qNow) != qIn || fmt.Sprint(kNow) != kIn {
					t.Errorf("q or k was modified")
				}
			})
		}
	})
}

func TestForwardRoPEBadInput(t *testing.T) {
	f32 := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	q, k := f32(1, 3, 2, 8), f32(1, 5, 1, 8)
	outData := make([]float32, 3*2*8)
	out := tensor.FromFloat32(outData, 1, 3, 2, 8)
	rp := rope.DefaultParams()
	withRP := func(f func(p *rope.Params)) rope.Params { p := rope.DefaultParams(); f(&p); return p }
	for _, tc := range []struct {
		name, arg string
		kind      errs.Kind
		call      func() error
	}{
		{"rotary dim", "rotary", errs.InvalidArgument, func() error {
			return ForwardRoPE(q, k, k, out, nil, withRP(func(p *rope.Params) { p.RotaryDim = 7 }), DefaultParams())
		}},
		{"pairing", "pairing", errs.InvalidArgument, func() error {
			return ForwardRoPE(q, k, k, out, nil, withRP(func(p *rope.Params) { p.Pairing = 9 }), DefaultParams())
		}},
		{"base", "base", errs.InvalidArgument, func() error {
			return ForwardRoPE(q, k, k, out, nil, withRP(func(p *rope.Params) { p.Base = -1 }), DefaultParams())
		}},
		{"shape", "v", errs.ShapeMismatch, func() error { return ForwardRoPE(q, k, f32(1, 4, 1, 8), out, nil, rp, DefaultParams()) }},
		{"overlap", "out", errs.InvalidArgument, func() error { return ForwardRoPE(out, k, k, out, nil, rp, DefaultParams()) }},
	} {
		for i := range outData {
			outData[i] = guard
		}
		err := tc.call()
		if err == nil || errs.KindOf(err) != tc.kind {
			t.Errorf("%s: error %v, want kind %v", tc.name, err, tc.kind)
		} else if !strings.Contains(strings.ToLower(err.Error()), tc.arg) {
			t.Errorf("%s: message %q does not name %s", tc.name, err, tc.arg)
		}
		for _, x := range outData {
			if x != guard {
				t.Fatalf("%s: out was written", tc.name)
			}
		}
	}
}
