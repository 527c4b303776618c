package attention

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

// grads64 is the float64 reference: out and the gradients of L = sum(out * dout) of
// softmax(x) v, x the logits of the package doc (soft cap, ALiBi, masks, sinks), written
// from the chain rule on materialized scores. Arrays are logical BSHD, row-major; dx is
// dL/dx, [B, Hq, Lq, Lk] (the gradient of a bias of that full shape).
func (pr *problem) grads64(q, k, v, do []float64) (out, dq, dk, dv, dx []float64) {
	c := pr.c
	grp := c.Hq / c.Hkv
	qi := func(b, i, h int) int { return ((b*c.Lq+i)*c.Hq + h) * c.D }
	ki := func(b, j, h int) int { return ((b*c.Lk+j)*c.Hkv + h) * c.D }
	vi := func(b, j, h int) int { return ((b*c.Lk+j)*c.Hkv + h) * c.Dv }
	oi := func(b, i, h int) int { return ((b*c.Lq+i)*c.Hq + h) * c.Dv }
	out, dq = make([]float64, c.B*c.Lq*c.Hq*c.Dv), make([]float64, len(q))
	dk, dv = make([]float64, len(k)), make([]float64, len(v))
	dx = make([]float64, c.B*c.Hq*c.Lq*c.Lk)
	x, s, p := make([]float64, c.Lk), make([]float64, c.Lk), make([]float64, c.Lk)
	for b := range c.B {
		for h := range c.Hq {
			kvh := h / grp
			for i := range c.Lq {
				m := math.Inf(-1)
				for j := range c.Lk {
					x[j] = math.Inf(-1)
					if !pr.visible(b, i, j) {
						continue
					}
					var dot float64
					for d := range c.D {
						dot += q[qi(b, i, h)+d] * k[ki(b, j, kvh)+d]
					}
					s[j] = pr.scale * dot
					x[j] = s[j]
					if c.p.SoftCap > 0 {
						cp := float64(c.p.SoftCap)
						x[j] = cp * math.Tanh(s[j]/cp)
					}
					if pr.biasFull != nil {
						x[j] += pr.biasFull[((b*c.Hq+h)*c.Lq+i)*c.Lk+j]
					}
					if c.p.ALiBiSlopes != nil {
						x[j] -= float64(c.p.ALiBiSlopes[h]) * float64(i+c.Lk-c.Lq-j)
					}
					m = max(m, x[j])
				}
				if c.p.Sinks != nil {
					m = max(m, float64(c.p.Sinks[h]))
				}
				if math.IsInf(m, -1) {
					continue // no key: out = 0, no gradient
				}
				den := 0.0
				if c.p.Sinks != nil {
					den = math.Exp(float64(c.p.Sinks[h]) - m)
				}
				for j := range c.Lk {
					p[j] = math.Exp(x[j] - m)
					den += p[j]
				}
				o := out[oi(b, i, h) : oi(b, i, h)+c.Dv]
				g := do[oi(b, i, h) : oi(b, i, h)+c.Dv]
				for j := range c.Lk {
					p[j] /= den
					for d := range c.Dv {
						o[d] += p[j] * v[vi(b, j, kvh)+d]
					}
				}
				// dL/dp_j = g·v_j; softmax: dL/dx_j = p_j (g·v_j - sum_k p_k g·v_k).
				var di float64
				for d := range c.Dv {
					di += g[d] * o[d]
				}
				for j := range c.Lk {
					if p[j] == 0 {
						continue
					}
					var dp float64
					for d := range c.Dv {
						dp += g[d] * v[vi(b, j, kvh)+d]
						dv[vi(b, j, kvh)+d] += p[j] * g[d]
					}
					ds := p[j] * (dp - di)
					dx[((b*c.Hq+h)*c.Lq+i)*c.Lk+j] = ds
					if c.p.SoftCap > 0 {
						t := math.Tanh(s[j] / float64(c.p.SoftCap))
						ds *= 1 - t*t
					}
					ds *= pr.scale
					for d := range c.D {
						dq[qi(b, i, h)+d] += ds * k[ki(b, j, kvh)+d]
						dk[ki(b, j, kvh)+d] += ds * q[qi(b, i, h)+d]
					}
				}
			}
		}
	}
	return out, dq, dk, dv, dx
}

// backProblem is a forward problem plus dout and the gradient buffers.
type backProblem struct {
	*problem
	do, dq, dk, dv *buf
}

// newBackProblem runs Forward (with LSE) and prepares random dout and guarded gradients
// of dtype gdt.
func newBackProblem(t testing.TB, c cfg, seed uint64, gdt tensor.DType) *backProblem {
	t.Helper()
	c.withLSE = true
	pr := newProblem(c, seed)
	if err := pr.run(); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	perm := layoutPerm(c.layout)
	r := rand.New(rand.NewPCG(seed, 11))
	bp := &backProblem{problem: pr}
	bp.do = newBuf(c.dq, []int{c.B, c.Lq, c.Hq, c.Dv}, perm, c.mode, float32(math.NaN()))
	bp.do.randomize(r, 1)
	bp.dq = newBuf(gdt, []int{c.B, c.Lq, c.Hq, c.D}, perm, c.mode, guard)
	bp.dk = newBuf(gdt, []int{c.B, c.Lk, c.Hkv, c.D}, perm, c.mode, guard)
	bp.dv = newBuf(gdt, []int{c.B, c.Lk, c.Hkv, c.Dv}, perm, c.mode, guard)
	return bp
}

func (bp *backProblem) run() error {
	return Backward(bp.q.t, bp.k.t, bp.v.t, bp.o.t, bp.do.t, bp.lse.t, bp.dq.t, bp.dk.t, bp.dv.t, bp.c.p)
}

// gradTol: float32 gradients carry the float32 forward's out and lse (a few ulp) and
// float32 sums over at most Lk keys and D dims: 2e-4 * (1 + |want|). bfloat16 gradients
// add one rounding (2^-9 relative): 6e-3 * (1 + |want|).
func gradTol(dt tensor.DType) float64 {
	if dt == tensor.BFloat16 {
		return 6e-3
	}
	return 2e-4
}

// check compares the gradients with grads64 and checks the guards.
func (bp *backProblem) check(t *testing.T) {
	t.Helper()
	_, dq, dk, dv, _ := bp.grads64(bp.q.vals, bp.k.vals, bp.v.vals, bp.do.vals)
	bp.checkGrads(t, dq, dk, dv)
}

// checkGrads compares the gradients with the reference ones (logical BSHD, row-major)
// within gradTol and checks the guards.
func (bp *backProblem) checkGrads(t *testing.T, dq, dk, dv []float64) {
	t.Helper()
	for _, g := range []struct {
		name string
		b    *buf
		want []float64
	}{{"dq", bp.dq, dq}, {"dk", bp.dk, dk}, {"dv", bp.dv, dv}} {
		tol := gradTol(g.b.t.DType)
		bad, n := 0, 0
		each(g.b.shape, func(idx []int) {
			got, want := g.b.get(idx...), g.want[n]
			n++
			if math.IsNaN(got) || math.Abs(got-want) > tol*(1+math.Abs(want)) {
				if bad++; bad <= 5 {
					t.Errorf("%s%v = %v, want %v (tol %v)", g.name, idx, got, want, tol)
				}
			}
		})
		if !g.b.guardsIntact() {
			t.Errorf("%s: a value outside the tensor was overwritten", g.name)
		}
	}
}

func TestBackward(t *testing.T) {
	type tc struct {
		name string
		c    cfg
		gdt  tensor.DType
	}
	var cases []tc
	for _, s := range [][4]int{{1, 1, 1, 1}, {1, 16, 2, 32}, {2, 33, 4, 16}} {
		for _, layout := range []Layout{BSHD, BHSD} {
			for _, causal := range []bool{false, true} {
				c := baseCfg(s[0], s[1], s[1], s[2], s[3])
				c.layout, c.p.Causal = layout, causal
				if s[2] == 4 {
					c.Hkv = 2 // GQA
				}
				cases = append(cases, tc{fmt.Sprintf("%v/layout=%d/causal=%v", s, layout, causal), c, tensor.Float32})
			}
		}
	}
	add := func(name string, f func(c *cfg), gdt tensor.DType) {
		c := baseCfg(2, 33, 33, 4, 16)
		c.Hkv = 1
		f(&c)
		cases = append(cases, tc{name, c, gdt})
	}
	add("causal Lq<Lk", func(c *cfg) { c.Lq, c.Lk, c.p.Causal = 9, 40, true }, tensor.Float32)
	add("causal Lq>Lk", func(c *cfg) { c.Lq, c.Lk, c.p.Causal = 40, 9, true }, tensor.Float32)
	add("window", func(c *cfg) { c.p.WindowLeft, c.p.WindowRight = 5, 2 }, tensor.Float32)
	add("causal window", func(c *cfg) { c.Lk, c.p.Causal, c.p.WindowLeft = 50, true, 7 }, tensor.Float32)
	add("alibi", func(c *cfg) { c.p.Causal, c.p.ALiBiSlopes = true, ALiBiSlopes(4) }, tensor.Float32)
	add("key lengths", func(c *cfg) { c.p.KeyLengths = []int32{20, 0} }, tensor.Float32)
	add("softcap", func(c *cfg) { c.p.SoftCap, c.p.Scale = 2, 0.6 }, tensor.Float32)
	add("bias", func(c *cfg) { c.biasShape = []int{2, 1, 33, 33} }, tensor.Float32)
	add("bias masked alibi softcap", func(c *cfg) {
		c.biasShape, c.biasMaskFrac, c.p.Causal = []int{1, 4, 1, 33}, 0.2, true
		c.p.ALiBiSlopes, c.p.SoftCap = ALiBiSlopes(4), 3
	}, tensor.Float32)
	add("sinks", func(c *cfg) { c.p.Sinks = []float32{0.5, -1, 2, float32(math.Inf(-1))} }, tensor.Float32)
	add("sinks empty rows", func(c *cfg) {
		c.p.Sinks, c.p.KeyLengths = []float32{0.5, -1, 2, 1}, []int32{0, 5}
	}, tensor.Float32)
	add("Dv!=D strided", func(c *cfg) { c.Dv, c.mode, c.layout = 24, spread, BHSD }, tensor.Float32)
	add("padded", func(c *cfg) { c.mode, c.p.Causal = padded, true }, tensor.Float32)
	add("bf16", func(c *cfg) {
		c.dq, c.dk, c.dv, c.p.Causal = tensor.BFloat16, tensor.BFloat16, tensor.BFloat16, true
	}, tensor.BFloat16)
	add("bf16 in f32 grads", func(c *cfg) { c.dq, c.dk, c.dv = tensor.BFloat16, tensor.BFloat16, tensor.BFloat16 }, tensor.Float32)
	add("empty window rows", func(c *cfg) { c.Lq, c.Lk, c.p.WindowLeft, c.p.WindowRight = 33, 10, 0, 0 }, tensor.Float32)
	forEachISA(t, func(t *testing.T) {
		for i, x := range cases {
			t.Run(x.name, func(t *testing.T) {
				bp := newBackProblem(t, x.c, uint64(100+i), x.gdt)
				if err := bp.run(); err != nil {
					t.Fatal(err)
				}
				bp.check(t)
			})
		}
	})
}

// TestBackwardEmptyRows: rows without keys give exact zeros (no NaN), and keys no row sees
// get zero dk and dv.
func TestBackwardEmptyRows(t *testing.T) {
	c := baseCfg(2, 6, 8, 2, 8)
	c.p.KeyLengths = []int32{0, 3}
	bp := newBackProblem(t, c, 5, tensor.Float32)
	if err := bp.run(); err != nil {
		t.Fatal(err)
	}
	bp.check(t)
	for _, g := range []*buf{bp.dq, bp.dk, bp.dv} {
		each(g.shape, func(idx []int) {
			zero := idx[0] == 0 || (g != bp.dq && idx[1] >= 3)
			if v := g.get(idx...); zero && v != 0 {
				t.Fatalf("gradient at %v = %v, want 0", idx, v)
			}
		})
	}
}

// TestGrads64FiniteDifference checks the float64 reference itself: central differences
// of L = sum(out * dout) (step 1e-5, truncation ~1e-10) match its analytic gradient to
// 1e-6 * (1 + |g|).
func TestGrads64FiniteDifference(t *testing.T) {
	c := baseCfg(1, 5, 7, 2, 3)
	c.Hkv = 1
	c.p.Causal, c.p.SoftCap, c.p.Scale = true, 1.5, 0.9
	c.p.ALiBiSlopes = ALiBiSlopes(2)
	c.p.Sinks = []float32{0.3, -0.2}
	c.biasShape = []int{1, 2, 5, 7}
	bp := newBackProblem(t, c, 9, tensor.Float32)
	q, k, v, do := bp.q.vals, bp.k.vals, bp.v.vals, bp.do.vals
	loss := func() float64 {
		out, _, _, _, _ := bp.grads64(q, k, v, do)
		var l float64
		for i, o := range out {
			l += o * do[i]
		}
		return l
	}
	_, dq, dk, dv, dx := bp.grads64(q, k, v, do)
	const h = 1e-5
	for _, g := range []struct {
		name string
		x    []float64
		grad []float64
	}{{"q", q, dq}, {"k", k, dk}, {"v", v, dv}, {"bias", bp.biasFull, dx}} {
		for n := range g.x {
			x0 := g.x[n]
			g.x[n] = x0 + h
			lp := loss()
			g.x[n] = x0 - h
			lm := loss()
			g.x[n] = x0
			fd := (lp - lm) / (2 * h)
			if math.Abs(fd-g.grad[n]) > 1e-6*(1+math.Abs(fd)) {
				t.Errorf("d%s[%d]: analytic %v, finite difference %v", g.name, n, g.grad[n], fd)
			}
		}
	}
	var nonzero int
	for _, x := range dq {
		if x != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("dq is all zero: the check would be vacuous")
	}
}

// TestBackwardThreadCountInvariance: 1, 2 and 3 threads give bit-identical gradients.
func TestBackwardThreadCountInvariance(t *testing.T) {
	defer cpu.SetNumThreads(cpu.NumThreads())
	c := baseCfg(3, 37, 45, 6, 16)
	c.Hkv = 3
	c.p.Causal, c.p.SoftCap, c.p.ALiBiSlopes = true, 4, ALiBiSlopes(6)
	bp := newBackProblem(t, c, 21, tensor.Float32)
	var ref [][]float32
	for _, n := range []int{1, 2, 3} {
		if err := cpu.SetNumThreads(n); err != nil {
			t.Fatal(err)
		}
		if err := bp.run(); err != nil {
			t.Fatal(err)
		}
		got := [][]float32{slices.Clone(bp.dq.f32), slices.Clone(bp.dk.f32), slices.Clone(bp.dv.f32)}
		if ref == nil {
			ref = got
			continue
		}
		for g := range got {
			for i := range got[g] {
				if math.Float32bits(got[g][i]) != math.Float32bits(ref[g][i]) {
					t.Fatalf("threads=%d: gradient %d element %d differs: %v vs %v", n, g, i, got[g][i], ref[g][i])
				}
			}
		}
	}
	bp.check(t)
}

// TestBackwardBadInput: invalid calls return the documented kind and write nothing.
func TestBackwardBadInput(t *testing.T) {
	f32 := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	q, k, v, out, dout, lse := f32(2, 5, 4, 8), f32(2, 7, 2, 8), f32(2, 7, 2, 8), f32(2, 5, 4, 8), f32(2, 5, 4, 8), f32(2, 4, 5)
	dqData, dkData, dvData := make([]float32, 2*5*4*8), make([]float32, 2*7*2*8), make([]float32, 2*7*2*8)
	dq, dk, dv := tensor.FromFloat32(dqData, 2, 5, 4, 8), tensor.FromFloat32(dkData, 2, 7, 2, 8), tensor.FromFloat32(dvData, 2, 7, 2, 8)
	def := DefaultParams()
	bias := f32(3, 7) // does not broadcast to [2, 4, 5, 7]
	i32 := tensor.Tensor{Data: dq.Data, DType: tensor.Int32, Shape: dq.Shape, Strides: dq.Strides}
	cases := []badCall{
		{"bias shape", errs.ShapeMismatch, func() error {
			p := def
			p.Bias = &bias
			return Backward(q, k, v, out, dout, lse, dq, dk, dv, p)
		}},
		{"dq overlaps bias", errs.InvalidArgument, func() error {
			p := def
			b := tensor.FromFloat32(dqData[:35], 5, 7)
			p.Bias = &b
			return Backward(q, k, v, out, dout, lse, dq, dk, dv, p)
		}},
		{"dq shape", errs.ShapeMismatch, func() error { return Backward(q, k, v, out, dout, lse, f32(2, 5, 4, 7), dk, dv, def) }},
		{"dk shape", errs.ShapeMismatch, func() error { return Backward(q, k, v, out, dout, lse, dq, f32(2, 6, 2, 8), dv, def) }},
		{"dv shape", errs.ShapeMismatch, func() error { return Backward(q, k, v, out, dout, lse, dq, dk, f32(2, 7, 2, 9), def) }},
		{"dout shape", errs.ShapeMismatch, func() error { return Backward(q, k, v, out, f32(1, 5, 4, 8), lse, dq, dk, dv, def) }},
		{"lse shape", errs.ShapeMismatch, func() error { return Backward(q, k, v, out, dout, f32(2, 5, 4), dq, dk, dv, def) }},
		{"dq dtype", errs.UnsupportedDtype, func() error { return Backward(q, k, v, out, dout, lse, i32, dk, dv, def) }},
		{"dq is q", errs.InvalidArgument, func() error { return Backward(dq, k, v, out, dout, lse, dq, dk, dv, def) }},
		{"dk overlaps dq", errs.InvalidArgument, func() error {
			return Backward(q, k, v, out, dout, lse, dq, tensor.FromFloat32(dqData[:2*7*2*8], 2, 7, 2, 8), dv, def)
		}},
		{"dv is dk", errs.InvalidArgument, func() error { return Backward(q, k, v, out, dout, lse, dq, dk, dk, def) }},
		{"softcap", errs.InvalidArgument, func() error {
			p := def
			p.SoftCap = -1
			return Backward(q, k, v, out, dout, lse, dq, dk, dv, p)
		}},
		{"layout", errs.InvalidArgument, func() error {
			p := def
			p.Layout = 5
			return Backward(q, k, v, out, dout, lse, dq, dk, dv, p)
		}},
	}
	expectBadCalls(t, cases, dqData, dkData, dvData)
}

// TestBackwardPairedRows: taking two query rows at a time (the paired kernels over their
// shared keys) gives the bits of taking them one at a time, with shifted and partly
// empty key ranges, on every ISA path.
func TestBackwardPairedRows(t *testing.T) {
	add := func(f func(c *cfg)) cfg {
		c := baseCfg(2, 37, 45, 4, 16)
		c.Hkv = 2
		f(&c)
		return c
	}
	cases := []cfg{
		add(func(c *cfg) {}),
		add(func(c *cfg) { c.p.Causal = true }),
		add(func(c *cfg) { c.p.Causal, c.p.WindowLeft = true, 5 }),
		add(func(c *cfg) { c.p.WindowLeft, c.p.WindowRight = 3, 2 }),
		add(func(c *cfg) { c.p.KeyLengths = []int32{0, 20}; c.p.Causal = true }),
		add(func(c *cfg) {
			c.p.SoftCap, c.p.ALiBiSlopes, c.biasShape = 3, ALiBiSlopes(4), []int{1, 4, 37, 45}
			c.biasMaskFrac, c.p.Causal = 0.2, true
		}),
		add(func(c *cfg) { c.Lq, c.Lk, c.p.Causal, c.Dv = 40, 9, true, 24 }),
	}
	forEachISA(t, func(t *testing.T) {
		for n, c := range cases {
			bp := newBackProblem(t, c, uint64(60+n), tensor.Float32)
			var got [2][][]float32
			for k, single := range []bool{false, true} {
				plan, err := newBackPlan(bp.q.t, bp.k.t, bp.v.t, bp.o.t, bp.do.t, bp.lse.t, bp.dq.t, bp.dk.t, bp.dv.t, bp.c.p)
				if err != nil {
					t.Fatal(err)
				}
				plan.singleRows = single
				plan.run()
				got[k] = [][]float32{slices.Clone(bp.dq.f32), slices.Clone(bp.dk.f32), slices.Clone(bp.dv.f32)}
			}
			for g := range got[0] {
				expectSameBits(t, fmt.Sprintf("case %d, gradient %d, pairs against single rows", n, g), got[0][g], got[1][g])
			}
			bp.check(t)
		}
	})
}
