package attention

import (
	"math"
	"strings"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/kernels/rope"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// unrotate64 applies the transpose of the rotation to the logical BSHD rows of g in
// place (row (b, s, h) at position offset + s), in float64 from the definition: the pair
// (x_a, x_b) rotated by angle t and scaled by m is (m(x_a cos t - x_b sin t),
// m(x_a sin t + x_b cos t)), so its transpose maps (g_a, g_b) to (m(g_a cos t + g_b sin t),
// m(-g_a sin t + g_b cos t)). The frequencies come from rope.InvFreq, tested on its own
// against the published formulas.
func unrotate64(t *testing.T, g []float64, B, S, H, D, offset int, rp rope.Params) {
	t.Helper()
	inv, m, err := rope.InvFreq(rp, D)
	if err != nil {
		t.Fatal(err)
	}
	half := len(inv)
	for b := range B {
		for s := range S {
			for h := range H {
				row := g[((b*S+s)*H+h)*D:][:D]
				for i, f := range inv {
					a, c := i, i+half // Half pairing
					if rp.Pairing == rope.Interleaved {
						a, c = 2*i, 2*i+1
					}
					th := float64(offset+s) * f
					cs, sn := math.Cos(th), math.Sin(th)
					ga, gb := row[a], row[c]
					row[a], row[c] = m*(ga*cs+gb*sn), m*(-ga*sn+gb*cs)
				}
			}
		}
	}
}

// ropeBackProblem is a backProblem whose out and lse come from ForwardRoPE.
func ropeBackProblem(t *testing.T, c cfg, rp rope.Params, seed uint64, gdt tensor.DType) *backProblem {
	t.Helper()
	bp := newBackProblem(t, c, seed, gdt)
	if err := ForwardRoPE(bp.q.t, bp.k.t, bp.v.t, bp.o.t, &bp.lse.t, rp, bp.c.p); err != nil {
		t.Fatalf("ForwardRoPE: %v", err)
	}
	return bp
}

func (bp *backProblem) runRoPE(rp rope.Params) error {
	return BackwardRoPE(bp.q.t, bp.k.t, bp.v.t, bp.o.t, bp.do.t, bp.lse.t, bp.dq.t, bp.dk.t, bp.dv.t, rp, bp.c.p)
}

// TestBackwardRoPE: the gradients with respect to the unrotated q and k match the float64
// chain rule (rotate, attend, grads64, rotate back; gradTol), and equal bit for bit the
// composition rope.Apply + Backward into float32 + rope.Backward (+ one rounding).
func TestBackwardRoPE(t *testing.T) {
	f32, bf16 := tensor.Float32, tensor.BFloat16
	cases := []struct {
		name string
		gdt  tensor.DType
		set  func(c *cfg, rp *rope.Params)
	}{
		{"prefill/half", f32, func(c *cfg, rp *rope.Params) { c.p.Causal = true }},
		{"decode rows/interleaved/offset", f32, func(c *cfg, rp *rope.Params) {
			c.Lq, c.p.Causal = 3, true
			rp.Pairing, rp.Offset = rope.Interleaved, 17
		}},
		{"partial rotary/gqa/bhsd/spread", f32, func(c *cfg, rp *rope.Params) {
			c.Hkv, c.layout, c.mode, c.p.Causal = 1, BHSD, spread, true
			rp.RotaryDim = 16
		}},
		{"bf16 grads/yarn/alibi/sinks/keylens", bf16, func(c *cfg, rp *rope.Params) {
			c.dq, c.dk, c.dv, c.do = bf16, bf16, f32, bf16
			c.p.ALiBiSlopes, c.p.Sinks = ALiBiSlopes(4), []float32{0, 1, -1, 2}
			c.p.KeyLengths = []int32{30, 0}
			rp.Scaling = rope.Scaling{Kind: rope.YaRN, Factor: 4, OriginalMaxPositions: 32}
		}},
		{"bias/softcap/window/lq>lk/padded", f32, func(c *cfg, rp *rope.Params) {
			c.Lq, c.mode = 50, padded
			c.biasShape, c.biasMaskFrac = []int{c.B, 1, 50, c.Lk}, 0.05
			c.p.SoftCap, c.p.WindowLeft = 6, 30
			rp.Offset = 5
		}},
	}
	forEachISA(t, func(t *testing.T) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := baseCfg(2, 37, 37, 4, 32)
				c.Hkv = 2
				rp := rope.DefaultParams()
				tc.set(&c, &rp)
				bp := ropeBackProblem(t, c, rp, uint64(40+i), tc.gdt)
				c = bp.c
				if err := bp.runRoPE(rp); err != nil {
					t.Fatal(err)
				}
				// Reference: grads64 on the rotated inputs (as stored by rope.Apply, whose
				// rotation is tested in its package), then the transposed rotation.
				qr := rotated(t, bp.q, c.mode, rp.Offset+c.Lk-c.Lq, rp, c.layout)
				kr := rotated(t, bp.k, c.mode, rp.Offset, rp, c.layout)
				_, dq, dk, dv, _ := bp.grads64(qr.vals, kr.vals, bp.v.vals, bp.do.vals)
				unrotate64(t, dq, c.B, c.Lq, c.Hq, c.D, rp.Offset+c.Lk-c.Lq, rp)
				unrotate64(t, dk, c.B, c.Lk, c.Hkv, c.D, rp.Offset, rp)
				bp.checkGrads(t, dq, dk, dv)
				// The composition, into float32 gradients of the rotated inputs.
				comp := *bp
				comp.problem = &problem{}
				*comp.problem = *bp.problem
				comp.q, comp.k = qr, kr
				perm := layoutPerm(c.layout)
				comp.dq = newBuf(f32, bp.dq.shape, perm, c.mode, guard)
				comp.dk = newBuf(f32, bp.dk.shape, perm, c.mode, guard)
				comp.dv = newBuf(bp.dv.t.DType, bp.dv.shape, perm, c.mode, guard)
				if err := comp.run(); err != nil {
					t.Fatal(err)
				}
				for _, x := range []struct {
					g      *buf
					offset int
				}{{comp.dq, rp.Offset + c.Lk - c.Lq}, {comp.dk, rp.Offset}} {
					r := rp
					r.Offset, r.Layout = x.offset, rope.BSHD
					if c.layout == BHSD {
						r.Layout = rope.BHSD
					}
					if err := rope.Backward(x.g.t, x.g.t, nil, nil, nil, r); err != nil {
						t.Fatal(err)
					}
				}
				for _, x := range []struct {
					name      string
					got, want *buf
				}{{"dq", bp.dq, comp.dq}, {"dk", bp.dk, comp.dk}, {"dv", bp.dv, comp.dv}} {
					dt, bad := x.got.t.DType, 0
					each(x.got.shape, func(idx []int) {
						g := x.got.get(idx...)
						w := float64(tensor.Round(float32(x.want.get(idx...)), dt))
						if math.Float64bits(g) != math.Float64bits(w) {
							if bad++; bad <= 5 {
								t.Errorf("%s%v = %v, the composition gives %v", x.name, idx, g, w)
							}
						}
					})
				}
			})
		}
	})
}

// TestBackwardRoPEThreads: the gradients are the same bits for 1, 2 and 3 threads.
func TestBackwardRoPEThreads(t *testing.T) {
	c := baseCfg(2, 70, 70, 4, 32)
	c.Hkv, c.p.Causal = 2, true
	rp := rope.DefaultParams()
	rp.Offset = 3
	var first []float64
	for _, n := range []int{1, 2, 3} {
		func() {
			prev := cpu.NumThreads()
			defer cpu.SetNumThreads(prev)
			if err := cpu.SetNumThreads(n); err != nil {
				t.Fatal(err)
			}
			bp := ropeBackProblem(t, c, rp, 7, tensor.Float32)
			if err := bp.runRoPE(rp); err != nil {
				t.Fatal(err)
			}
			var all []float64
			for _, b := range []*buf{bp.dq, bp.dk, bp.dv} {
				each(b.shape, func(idx []int) { all = append(all, b.get(idx...)) })
			}
			if first == nil {
				first = all
				return
			}
			for i := range all {
				if math.Float64bits(all[i]) != math.Float64bits(first[i]) {
					t.Fatalf("threads=%d: element %d = %v, 1 thread gives %v", n, i, all[i], first[i])
				}
			}
		}()
	}
}

// TestBackwardRoPEBadInput: rope's and Backward's errors, with no gradient written.
func TestBackwardRoPEBadInput(t *testing.T) {
	c := baseCfg(1, 5, 5, 2, 8)
	bp := ropeBackProblem(t, c, rope.DefaultParams(), 3, tensor.Float32)
	withRP := func(f func(p *rope.Params)) rope.Params { p := rope.DefaultParams(); f(&p); return p }
	call := func(rp rope.Params, dq tensor.Tensor) error {
		return BackwardRoPE(bp.q.t, bp.k.t, bp.v.t, bp.o.t, bp.do.t, bp.lse.t, dq, bp.dk.t, bp.dv.t, rp, bp.c.p)
	}
	for _, tc := range []struct {
		name, arg string
		kind      errs.Kind
		err       error
	}{
		{"rotary dim", "rotary", errs.InvalidArgument, call(withRP(func(p *rope.Params) { p.RotaryDim = 7 }), bp.dq.t)},
		{"scaling", "factor", errs.InvalidArgument, call(withRP(func(p *rope.Params) { p.Scaling.Kind = rope.Linear }), bp.dq.t)},
		{"dq shape", "dq", errs.ShapeMismatch, call(rope.DefaultParams(), narrow(bp.dq.t, 1, 0, 4))},
		{"dq overlaps q", "dq", errs.InvalidArgument, call(rope.DefaultParams(), bp.q.t)},
	} {
		if tc.err == nil || errs.KindOf(tc.err) != tc.kind {
			t.Errorf("%s: error %v, want kind %v", tc.name, tc.err, tc.kind)
		} else if !strings.Contains(strings.ToLower(tc.err.Error()), tc.arg) {
			t.Errorf("%s: message %q does not name %s", tc.name, tc.err, tc.arg)
		}
	}
	for _, b := range []*buf{bp.dq, bp.dk, bp.dv} {
		each(b.shape, func(idx []int) {
			if b.get(idx...) != float64(guard) {
				t.Fatalf("a gradient was written: %v", idx)
			}
		})
	}
}
