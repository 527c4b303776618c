package attention

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// TestChunkedCrossAttention: several chunk sizes against the float64 reference (check's
// tolerances: the float64 merge adds well under 1e-6 to Forward's error) and against
// Forward (within the same tolerance); chunkSize >= Lk is Forward bit for bit.
func TestChunkedCrossAttention(t *testing.T) {
	lk := 2100
	if raceEnabled {
		lk = 300
	}
	cases := []struct {
		name string
		set  func(c *cfg)
	}{
		{"plain", func(c *cfg) {}},
		{"causal/gqa", func(c *cfg) { c.p.Causal = true; c.Hkv = 1 }},
		{"window", func(c *cfg) { c.p.WindowLeft, c.p.WindowRight = 150, 3 }},
		{"alibi+softcap+sinks", func(c *cfg) {
			c.p.Causal = true
			c.p.ALiBiSlopes = ALiBiSlopes(2)
			c.p.SoftCap = 3
			c.p.Sinks = []float32{1.5, -2}
		}},
		{"bias+keylens/bf16", func(c *cfg) {
			c.biasShape = []int{c.Hq, 1, c.Lk}
			c.biasMaskFrac = 0.1
			c.p.KeyLengths = []int32{int32(c.Lk - 37), 0}
			c.dq, c.do = tensor.BFloat16, tensor.BFloat16
		}},
		{"strided/bhsd", func(c *cfg) { c.mode, c.layout = spread, BHSD; c.p.Causal = true }},
	}
	forEachISA(t, func(t *testing.T) {
		for _, tc := range cases {
			for _, chunk := range []int{0, 1, 7, 64, 100, lk, lk + 5} {
				if raceEnabled && chunk == 1 {
					continue
				}
				t.Run(fmt.Sprintf("%s/chunk=%d", tc.name, chunk), func(t *testing.T) {
					c := baseCfg(2, 21, lk, 2, 32)
					c.withLSE = false
					tc.set(&c)
					pr := newProblem(c, 5)
					if err := pr.run(); err != nil {
						t.Fatal(err)
					}
					fwd := make([]float64, 0, c.B*c.Lq*c.Hq*c.Dv)
					each(pr.o.shape, func(idx []int) { fwd = append(fwd, pr.o.get(idx...)) })
					if err := ChunkedCrossAttention(pr.q.t, pr.k.t, pr.v.t, pr.o.t, chunk, pr.c.p.Causal, pr.c.p); err != nil {
						t.Fatal(err)
					}
					pr.check(t, 3)
					tol := outTol(c.do)
					exact := chunk >= lk
					n, bad := 0, 0
					each(pr.o.shape, func(idx []int) {
						got, want := pr.o.get(idx...), fwd[n]
						n++
						if exact && math.Float64bits(got) != math.Float64bits(want) || math.Abs(got-want) > tol {
							if bad++; bad <= 5 {
								t.Errorf("out%v = %v, Forward gives %v (exact %v)", idx, got, want, exact)
							}
						}
					})
				})
			}
		}
	})
}

func TestChunkedCrossAttentionBadInput(t *testing.T) {
	f32 := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	q, k := f32(1, 3, 2, 8), f32(1, 9, 2, 8)
	outData := make([]float32, 3*2*8)
	out := tensor.FromFloat32(outData, 1, 3, 2, 8)
	for _, tc := range []struct {
		name string
		kind errs.Kind
		call func() error
	}{
		{"chunk size", errs.InvalidArgument, func() error { return ChunkedCrossAttention(q, k, k, out, -1, false, DefaultParams()) }},
		{"shape", errs.ShapeMismatch, func() error { return ChunkedCrossAttention(q, k, f32(1, 8, 2, 8), out, 2, false, DefaultParams()) }},
		{"overlap", errs.InvalidArgument, func() error { return ChunkedCrossAttention(out, k, k, out, 2, false, DefaultParams()) }},
	} {
		for i := range outData {
			outData[i] = guard
		}
		err := ChunkedCrossAttention(q, k, k, out, 2, false, DefaultParams())
		if err != nil {
			t.Fatalf("valid call: %v", err)
		}
		for i := range outData {
			outData[i] = guard
		}
		err = tc.call()
		if errs.KindOf(err) != tc.kind || err == nil {
			t.Errorf("%s: error %v, want kind %v", tc.name, err, tc.kind)
		}
		for _, x := range outData {
			if x != guard {
				t.Fatalf("%s: out was written", tc.name)
			}
		}
	}
}

// TestChunkedThreadCount: 1, 2 and 3 threads give the same bits.
func TestChunkedThreadCount(t *testing.T) {
	defer cpu.SetNumThreads(cpu.NumThreads())
	c := baseCfg(1, 5, 700, 4, 64)
	c.withLSE = false
	c.p.Causal = true
	pr := newProblem(c, 8)
	var ref []float32
	for _, n := range []int{1, 2, 3} {
		if err := cpu.SetNumThreads(n); err != nil {
			t.Fatal(err)
		}
		if err := ChunkedCrossAttention(pr.q.t, pr.k.t, pr.v.t, pr.o.t, 96, true, pr.c.p); err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = slices.Clone(pr.o.f32)
		} else if !slices.Equal(ref, pr.o.f32) {
			t.Errorf("%d threads: output differs from 1 thread", n)
		}
	}
}
