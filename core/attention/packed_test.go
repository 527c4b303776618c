package attention

import (
	"fmt"
	"math"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// TestPackedKVSameBits: prefill from packed copies of each KV head's keys and values
// (forced on small problems by lowering packKVBytes) gives the bits of the in-place path,
// for strided layouts, grouped heads, half-precision keys, head dims off the kernel
// width, masks and logit terms; and matches the float64 reference (check's tolerances).
func TestPackedKVSameBits(t *testing.T) {
	bf16 := tensor.BFloat16
	cases := []struct {
		name string
		set  func(c *cfg)
	}{
		{"bshd/causal", func(c *cfg) { c.p.Causal = true }},
		{"gqa/window/lq<lk", func(c *cfg) { c.Hkv, c.Lq, c.p.Causal, c.p.WindowLeft = 2, 200, true, 40 }},
		{"bf16 kv/d24 dv40/padded", func(c *cfg) { c.dk, c.dv, c.D, c.Dv, c.mode = bf16, bf16, 24, 40, padded }},
		{"bhsd spread/keylens/sinks/lse", func(c *cfg) {
			c.layout, c.mode = BHSD, spread
			c.p.KeyLengths, c.p.Sinks = []int32{190, 5}, []float32{0, 1, -1, 2}
		}},
		{"bias/alibi/softcap", func(c *cfg) {
			c.biasShape, c.p.ALiBiSlopes, c.p.SoftCap, c.p.Causal = []int{2, 1, 300, 300}, ALiBiSlopes(4), 5, true
		}},
	}
	// packKV wants two query tiles per thread; fix the thread count it sees.
	prevThreads := cpu.NumThreads()
	defer cpu.SetNumThreads(prevThreads)
	if err := cpu.SetNumThreads(2); err != nil {
		t.Fatal(err)
	}
	forEachISA(t, func(t *testing.T) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := baseCfg(2, 300, 300, 4, 32)
				tc.set(&c)
				var outs [2][]float64
				for pass, limit := range []int{1 << 40, 0} {
					prev := packKVBytes
					packKVBytes = limit
					pr := newProblem(c, uint64(60+i))
					if pl, err := newPlan(pr.q.t, pr.k.t, pr.v.t, pr.o.t, nil, pr.c.p); err != nil {
						t.Fatal(err)
					} else if got, want := pl.packKV((pl.Lq+tileRows/pl.grp-1)/(tileRows/pl.grp)), pass == 1; got != want {
						t.Fatalf("packKV = %v with limit %d, want %v", got, limit, want)
					}
					err := pr.run()
					packKVBytes = prev
					if err != nil {
						t.Fatal(err)
					}
					if pass == 1 {
						pr.check(t, 1)
					}
					for _, b := range []*buf{pr.o, pr.lse} {
						if b != nil {
							each(b.shape, func(idx []int) { outs[pass] = append(outs[pass], b.get(idx...)) })
						}
					}
				}
				for j := range outs[0] {
					if math.Float64bits(outs[0][j]) != math.Float64bits(outs[1][j]) {
						t.Fatalf("%s: element %d packed %v, in place %v", fmt.Sprint(tc.name), j, outs[1][j], outs[0][j])
					}
				}
			})
		}
	})
}
