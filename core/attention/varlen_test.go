package attention

import (
	"math"
	"strings"
	"testing"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// packed copies the (b = 0) rows of each problem's tensor (picked by get) into one
// [total, H, D] buffer of dtype dt, in sequence order.
func packed(prs []*problem, dt tensor.DType, mode int, get func(*problem) *buf) *buf {
	total := 0
	for _, pr := range prs {
		total += get(pr).shape[1]
	}
	s := get(prs[0]).shape
	out := newBuf(dt, []int{total, s[2], s[3]}, []int{0, 1, 2}, mode, float32(math.NaN()))
	row := 0
	for _, pr := range prs {
		b := get(pr)
		each(b.shape[1:], func(idx []int) {
			out.set(float32(b.get(0, idx[0], idx[1], idx[2])), row+idx[0], idx[1], idx[2])
		})
		row += b.shape[1]
	}
	return out
}

// TestForwardVarlen: each packed sequence equals Forward on that sequence alone, bit for
// bit, and Forward on it matches the float64 reference (check's tolerances).
func TestForwardVarlen(t *testing.T) {
	lens := [][2]int{{5, 5}, {0, 3}, {33, 100}, {1, 64}, {70, 70}, {4, 0}, {40, 17}}
	if !raceEnabled {
		lens = append(lens, [2]int{3, 2100})
	}
	cases := []struct {
		name string
		dt   tensor.DType
		mode int
		set  func(c *cfg)
	}{
		{"plain", tensor.Float32, contiguous, func(c *cfg) {}},
		{"causal/gqa/padded", tensor.Float32, padded, func(c *cfg) { c.p.Causal = true; c.Hkv = 2 }},
		{"window/bf16/spread", tensor.BFloat16, spread, func(c *cfg) { c.p.WindowLeft, c.p.WindowRight = 9, 2 }},
		{"alibi+softcap+sinks/f16", tensor.Float16, contiguous, func(c *cfg) {
			c.p.Causal = true
			c.p.ALiBiSlopes = ALiBiSlopes(4)
			c.p.SoftCap = 4
			c.p.Sinks = []float32{0.5, -1, 2, 0}
		}},
	}
	forEachISA(t, func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var prs []*problem
				cuQ, cuK := []int32{0}, []int32{0}
				for s, l := range lens {
					c := baseCfg(1, l[0], l[1], 4, 40)
					c.dq, c.dk, c.dv, c.do = tc.dt, tc.dt, tc.dt, tc.dt
					tc.set(&c)
					pr := newProblem(c, uint64(100+s))
					if err := pr.run(); err != nil {
						t.Fatalf("Forward on sequence %d: %v", s, err)
					}
					pr.check(t, 1)
					prs = append(prs, pr)
					cuQ = append(cuQ, cuQ[len(cuQ)-1]+int32(l[0]))
					cuK = append(cuK, cuK[len(cuK)-1]+int32(l[1]))
				}
				c := prs[0].c
				q := packed(prs, tc.dt, tc.mode, func(pr *problem) *buf { return pr.q })
				k := packed(prs, tc.dt, tc.mode, func(pr *problem) *buf { return pr.k })
				v := packed(prs, tc.dt, tc.mode, func(pr *problem) *buf { return pr.v })
				totalQ := int(cuQ[len(cuQ)-1])
				o := newBuf(tc.dt, []int{totalQ, c.Hq, c.Dv}, []int{0, 1, 2}, tc.mode, guard)
				lse := newBuf(tensor.Float32, []int{c.Hq, totalQ}, []int{0, 1}, tc.mode, guard)
				if err := ForwardVarlen(q.t, k.t, v.t, o.t, &lse.t, cuQ, cuK, c.p); err != nil {
					t.Fatal(err)
				}
				bad := 0
				for s, pr := range prs {
					row := int(cuQ[s])
					each([]int{pr.c.Lq, c.Hq, c.Dv}, func(idx []int) {
						i, h, d := idx[0], idx[1], idx[2]
						got, want := o.get(row+i, h, d), pr.o.get(0, i, h, d)
						if math.Float64bits(got) != math.Float64bits(want) {
							if bad++; bad <= 5 {
								t.Errorf("seq %d out[%d %d %d] = %v, Forward alone gives %v", s, i, h, d, got, want)
							}
						}
						if d == 0 {
							gl, wl := lse.get(h, row+i), pr.lse.get(0, h, i)
							if math.Float64bits(gl) != math.Float64bits(wl) {
								if bad++; bad <= 5 {
									t.Errorf("seq %d lse[%d %d] = %v, Forward alone gives %v", s, h, i, gl, wl)
								}
							}
						}
					})
				}
				if !o.guardsIntact() || !lse.guardsIntact() {
					t.Errorf("a value outside out or lse was overwritten")
				}
			})
		}
	})
}

// TestForwardVarlenNoLSE: lse = nil and zero sequences are accepted.
func TestForwardVarlenNoLSE(t *testing.T) {
	f32 := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	if err := ForwardVarlen(f32(0, 2, 8), f32(0, 1, 8), f32(0, 1, 8), f32(0, 2, 8), nil, []int32{0}, []int32{0}, DefaultParams()); err != nil {
		t.Errorf("no sequence: %v", err)
	}
	q, k := f32(3, 2, 8), f32(4, 1, 8)
	for i := range 4 * 8 {
		(*[32]float32)(k.Data)[i] = float32(i % 5)
	}
	out := f32(3, 2, 8)
	if err := ForwardVarlen(q, k, k, out, nil, []int32{0, 1, 3}, []int32{0, 2, 4}, DefaultParams()); err != nil {
		t.Fatal(err)
	}
	// q = 0: uniform weights, so every row is the mean of its sequence's values.
	o := (*[48]float32)(out.Data)
	kv := (*[32]float32)(k.Data)
	for i, seq := range []int{0, 1, 1} {
		for d := range 8 {
			k0 := 2 * seq
			want := (kv[k0*8+d] + kv[(k0+1)*8+d]) / 2
			for h := range 2 {
				if got := o[(i*2+h)*8+d]; math.Abs(float64(got-want)) > 1e-6 {
					t.Errorf("row %d head %d dim %d = %v, want %v", i, h, d, got, want)
				}
			}
		}
	}
}

func TestForwardVarlenBadInput(t *testing.T) {
	f32 := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	q, k, v := f32(6, 4, 8), f32(9, 2, 8), f32(9, 2, 8)
	outData := make([]float32, 6*4*8)
	lseData := make([]float32, 4*6)
	out := tensor.FromFloat32(outData, 6, 4, 8)
	lse := tensor.FromFloat32(lseData, 4, 6)
	cq, ck := []int32{0, 2, 6}, []int32{0, 5, 9}
	def := DefaultParams()
	with := func(f func(p *Params)) Params { p := DefaultParams(); f(&p); return p }
	bias := f32(1, 4, 6, 9)
	cases := []struct {
		name, arg string
		kind      errs.Kind
		call      func() error
	}{
		{"q start", "cu_seqlens_q", errs.InvalidArgument, func() error { return ForwardVarlen(q, k, v, out, &lse, []int32{1, 2, 6}, ck, def) }},
		{"q decreasing", "cu_seqlens_q", errs.InvalidArgument, func() error { return ForwardVarlen(q, k, v, out, &lse, []int32{0, 4, 3, 6}, []int32{0, 1, 2, 9}, def) }},
		{"q last", "cu_seqlens_q", errs.InvalidArgument, func() error { return ForwardVarlen(q, k, v, out, &lse, []int32{0, 2, 5}, ck, def) }},
		{"q empty", "cu_seqlens_q", errs.InvalidArgument, func() error { return ForwardVarlen(q, k, v, out, &lse, nil, ck, def) }},
		{"k start", "cu_seqlens_k", errs.InvalidArgument, func() error { return ForwardVarlen(q, k, v, out, &lse, cq, []int32{2, 5, 9}, def) }},
		{"k decreasing", "cu_seqlens_k", errs.InvalidArgument, func() error { return ForwardVarlen(q, k, v, out, &lse, cq, []int32{0, 10, 9}, def) }},
		{"k last", "cu_seqlens_k", errs.InvalidArgument, func() error { return ForwardVarlen(q, k, v, out, &lse, cq, []int32{0, 5, 8}, def) }},
		{"k count", "cu_seqlens_k", errs.InvalidArgument, func() error { return ForwardVarlen(q, k, v, out, &lse, cq, []int32{0, 9}, def) }},
		{"bias", "bias", errs.InvalidArgument, func() error {
			return ForwardVarlen(q, k, v, out, &lse, cq, ck, with(func(p *Params) { p.Bias = &bias }))
		}},
		{"key lengths", "key_lengths", errs.InvalidArgument, func() error {
			return ForwardVarlen(q, k, v, out, &lse, cq, ck, with(func(p *Params) { p.KeyLengths = []int32{1, 1} }))
		}},
		{"layout", "layout", errs.InvalidArgument, func() error {
			return ForwardVarlen(q, k, v, out, &lse, cq, ck, with(func(p *Params) { p.Layout = BHSD }))
		}},
		{"ndim", "q", errs.ShapeMismatch, func() error { return ForwardVarlen(f32(1, 6, 4, 8), k, v, out, &lse, cq, ck, def) }},
		{"v rows", "v", errs.ShapeMismatch, func() error { return ForwardVarlen(q, k, f32(8, 2, 8), out, &lse, cq, ck, def) }},
		{"out rows", "out", errs.ShapeMismatch, func() error { return ForwardVarlen(q, k, v, f32(5, 4, 8), &lse, cq, ck, def) }},
		{"lse shape", "lse", errs.ShapeMismatch, func() error { l := f32(6, 4); return ForwardVarlen(q, k, v, out, &l, cq, ck, def) }},
		{"heads", "k", errs.ShapeMismatch, func() error { return ForwardVarlen(q, f32(9, 3, 8), f32(9, 3, 8), out, &lse, cq, ck, def) }},
		{"sinks", "sinks", errs.ShapeMismatch, func() error {
			return ForwardVarlen(q, k, v, out, &lse, cq, ck, with(func(p *Params) { p.Sinks = []float32{1} }))
		}},
		{"out overlaps q", "out", errs.InvalidArgument, func() error { return ForwardVarlen(out, k, v, out, &lse, cq, ck, def) }},
		{"heads, no sequence", "k", errs.ShapeMismatch, func() error {
			return ForwardVarlen(f32(0, 4, 8), f32(0, 3, 8), f32(0, 3, 8), f32(0, 4, 8), nil, []int32{0}, []int32{0}, def)
		}},
	}
	for _, tc := range cases {
		for i := range outData {
			outData[i] = guard
		}
		for i := range lseData {
			lseData[i] = guard
		}
		err := tc.call()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if got := errs.KindOf(err); got != tc.kind {
			t.Errorf("%s: kind %v (%v), want %v", tc.name, got, err, tc.kind)
		}
		if !strings.Contains(err.Error(), tc.arg) {
			t.Errorf("%s: message %q does not name %s", tc.name, err, tc.arg)
		}
		for _, x := range append(append([]float32{}, outData...), lseData...) {
			if x != guard {
				t.Fatalf("%s: out or lse was written", tc.name)
			}
		}
	}
}

// TestBackwardVarlen: each packed sequence's gradients equal Backward on that sequence
// alone, bit for bit (Backward itself is checked against the float64 reference).
func TestBackwardVarlen(t *testing.T) {
	lens := [][2]int{{5, 5}, {0, 3}, {33, 60}, {1, 20}, {4, 0}, {17, 9}}
	cases := []struct {
		name string
		dt   tensor.DType
		mode int
		set  func(c *cfg)
	}{
		{"plain", tensor.Float32, contiguous, func(c *cfg) {}},
		{"causal/gqa/padded", tensor.Float32, padded, func(c *cfg) { c.p.Causal = true; c.Hkv = 2 }},
		{"window/alibi/softcap/sinks/bf16", tensor.BFloat16, spread, func(c *cfg) {
			c.p.WindowLeft, c.p.WindowRight = 9, 2
			c.p.ALiBiSlopes, c.p.SoftCap = ALiBiSlopes(4), 4
			c.p.Sinks = []float32{0.5, -1, 2, 0}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var bps []*backProblem
			cuQ, cuK := []int32{0}, []int32{0}
			for s, l := range lens {
				c := baseCfg(1, l[0], l[1], 4, 24)
				c.dq, c.dk, c.dv, c.do = tc.dt, tc.dt, tc.dt, tc.dt
				tc.set(&c)
				bp := newBackProblem(t, c, uint64(300+s), tc.dt)
				if err := bp.run(); err != nil {
					t.Fatalf("Backward on sequence %d: %v", s, err)
				}
				bp.check(t)
				bps = append(bps, bp)
				cuQ = append(cuQ, cuQ[len(cuQ)-1]+int32(l[0]))
				cuK = append(cuK, cuK[len(cuK)-1]+int32(l[1]))
			}
			prs := make([]*problem, len(bps))
			for i, bp := range bps {
				prs[i] = bp.problem
			}
			get := func(f func(bp *backProblem) *buf) func(*problem) *buf {
				return func(pr *problem) *buf {
					for _, bp := range bps {
						if bp.problem == pr {
							return f(bp)
						}
					}
					return nil
				}
			}
			c := prs[0].c
			q := packed(prs, tc.dt, tc.mode, func(pr *problem) *buf { return pr.q })
			k := packed(prs, tc.dt, tc.mode, func(pr *problem) *buf { return pr.k })
			v := packed(prs, tc.dt, tc.mode, func(pr *problem) *buf { return pr.v })
			o := packed(prs, tensor.Float32, tc.mode, func(pr *problem) *buf { return pr.o })
			do := packed(prs, tc.dt, tc.mode, get(func(bp *backProblem) *buf { return bp.do }))
			totalQ, totalK := int(cuQ[len(cuQ)-1]), int(cuK[len(cuK)-1])
			lse := newBuf(tensor.Float32, []int{c.Hq, totalQ}, []int{0, 1}, tc.mode, guard)
			row := 0
			for _, pr := range prs {
				for h := range c.Hq {
					for i := range pr.c.Lq {
						lse.set(float32(pr.lse.get(0, h, i)), h, row+i)
					}
				}
				row += pr.c.Lq
			}
			dq := newBuf(tc.dt, []int{totalQ, c.Hq, c.D}, []int{0, 1, 2}, tc.mode, guard)
			dk := newBuf(tc.dt, []int{totalK, c.Hkv, c.D}, []int{0, 1, 2}, tc.mode, guard)
			dv := newBuf(tc.dt, []int{totalK, c.Hkv, c.Dv}, []int{0, 1, 2}, tc.mode, guard)
			if err := BackwardVarlen(q.t, k.t, v.t, o.t, do.t, lse.t, cuQ, cuK, dq.t, dk.t, dv.t, c.p); err != nil {
				t.Fatal(err)
			}
			for _, g := range []struct {
				name string
				all  *buf
				one  func(bp *backProblem) *buf
				cu   []int32
			}{{"dq", dq, func(bp *backProblem) *buf { return bp.dq }, cuQ},
				{"dk", dk, func(bp *backProblem) *buf { return bp.dk }, cuK},
				{"dv", dv, func(bp *backProblem) *buf { return bp.dv }, cuK}} {
				for s, bp := range bps {
					one := g.one(bp)
					each(one.shape[1:], func(idx []int) {
						r := int(g.cu[s]) + idx[0]
						if got, want := g.all.get(r, idx[1], idx[2]), one.get(0, idx[0], idx[1], idx[2]); math.Float64bits(got) != math.Float64bits(want) {
							t.Fatalf("sequence %d: %s%v = %v packed, %v alone", s, g.name, idx, got, want)
						}
					})
				}
			}
		})
	}
}

// TestBackwardVarlenBadInput: the varlen checks and Backward's, nothing written.
func TestBackwardVarlenBadInput(t *testing.T) {
	f32 := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	q, k, v, o, do, lse := f32(7, 4, 8), f32(9, 2, 8), f32(9, 2, 8), f32(7, 4, 8), f32(7, 4, 8), f32(4, 7)
	dqd, dkd, dvd := make([]float32, 7*4*8), make([]float32, 9*2*8), make([]float32, 9*2*8)
	for _, s := range [][]float32{dqd, dkd, dvd} {
		for i := range s {
			s[i] = guard
		}
	}
	dq, dk, dv := tensor.FromFloat32(dqd, 7, 4, 8), tensor.FromFloat32(dkd, 9, 2, 8), tensor.FromFloat32(dvd, 9, 2, 8)
	cuQ, cuK := []int32{0, 3, 7}, []int32{0, 5, 9}
	def := DefaultParams()
	cases := []struct {
		name string
		kind errs.Kind
		want string
		call func() error
	}{
		{"cu_seqlens_q", errs.InvalidArgument, "cu_seqlens_q", func() error {
			return BackwardVarlen(q, k, v, o, do, lse, []int32{0, 8, 7}, cuK, dq, dk, dv, def)
		}},
		{"cu_seqlens_k length", errs.InvalidArgument, "cu_seqlens_k", func() error {
			return BackwardVarlen(q, k, v, o, do, lse, cuQ, []int32{0, 9}, dq, dk, dv, def)
		}},
		{"dk shape", errs.ShapeMismatch, "dk", func() error {
			return BackwardVarlen(q, k, v, o, do, lse, cuQ, cuK, dq, f32(8, 2, 8), dv, def)
		}},
		{"dout shape", errs.ShapeMismatch, "dout", func() error {
			return BackwardVarlen(q, k, v, o, f32(7, 4, 9), lse, cuQ, cuK, dq, dk, dv, def)
		}},
		{"lse shape", errs.ShapeMismatch, "lse", func() error {
			return BackwardVarlen(q, k, v, o, do, f32(4, 6), cuQ, cuK, dq, dk, dv, def)
		}},
		{"dq overlaps q", errs.InvalidArgument, "dq", func() error {
			return BackwardVarlen(q, k, v, o, do, lse, cuQ, cuK, q, dk, dv, def)
		}},
		{"layout", errs.InvalidArgument, "layout", func() error {
			p := def
			p.Layout = BHSD
			return BackwardVarlen(q, k, v, o, do, lse, cuQ, cuK, dq, dk, dv, p)
		}},
		{"key_lengths", errs.InvalidArgument, "key_lengths", func() error {
			p := def
			p.KeyLengths = []int32{1, 1}
			return BackwardVarlen(q, k, v, o, do, lse, cuQ, cuK, dq, dk, dv, p)
		}},
		{"heads", errs.ShapeMismatch, "heads", func() error {
			return BackwardVarlen(f32(7, 3, 8), k, v, f32(7, 3, 8), f32(7, 3, 8), f32(3, 7), cuQ, cuK, f32(7, 3, 8), dk, dv, def)
		}},
	}
	for _, c := range cases {
		err := c.call()
		if errs.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want kind %v mentioning %q", c.name, err, c.kind, c.want)
		}
		for _, s := range [][]float32{dqd, dkd, dvd} {
			for _, x := range s {
				if x != guard {
					t.Fatalf("%s: a gradient was written", c.name)
				}
			}
		}
	}
}
