package attention

import (
	"fmt"
	"math"
	"testing"

	"github.com/mlxprim/mlxprim/core/tensor"
)

func runCheck(t *testing.T, c cfg, seed uint64) *problem {
	t.Helper()
	pr := newProblem(c, seed)
	if err := pr.run(); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	pr.check(t, 1)
	return pr
}

func TestForwardShapes(t *testing.T) {
	shapes := [][4]int{{1, 1, 1, 1}, {1, 16, 2, 32}, {2, 64, 8, 64}, {2, 256, 8, 128}}
	if raceEnabled {
		shapes = shapes[:3]
	}
	forEachISA(t, func(t *testing.T) {
		for _, s := range shapes {
			for _, causal := range []bool{false, true} {
				for _, layout := range []Layout{BSHD, BHSD} {
					t.Run(fmt.Sprintf("%v/causal=%v/layout=%d", s, causal, layout), func(t *testing.T) {
						c := baseCfg(s[0], s[1], s[1], s[2], s[3])
						c.p.Causal, c.layout = causal, layout
						pr := newProblem(c, uint64(s[1]*s[3]))
						if err := pr.run(); err != nil {
							t.Fatal(err)
						}
						stride := 1
						if s[1] >= 256 {
							stride = 7 // the float64 reference on a sample of rows
						}
						pr.check(t, stride)
					})
				}
			}
		}
	})
}

func TestHeadDimsAndLengths(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		for _, d := range []int{32, 64, 80, 96, 128, 256, 5, 512} {
			t.Run(fmt.Sprintf("D=%d", d), func(t *testing.T) {
				c := baseCfg(1, 33, 70, 2, d)
				c.p.Causal = true
				runCheck(t, c, uint64(d))
			})
		}
		lens := [][2]int{{1, 1024}, {17, 512}, {1, 2049}, {3, 2049}, {512, 1024}, {40, 17}}
		if raceEnabled {
			lens = [][2]int{{1, 1024}, {3, 2049}, {40, 17}}
		}
		for _, l := range lens {
			for _, causal := range []bool{false, true} {
				t.Run(fmt.Sprintf("Lq=%d/Lk=%d/causal=%v", l[0], l[1], causal), func(t *testing.T) {
					c := baseCfg(1, l[0], l[1], 2, 64)
					c.p.Causal = causal
					pr := newProblem(c, uint64(l[0]+l[1]))
					if err := pr.run(); err != nil {
						t.Fatal(err)
					}
					pr.check(t, max(1, l[0]/16))
				})
			}
		}
		t.Run("Dv!=D", func(t *testing.T) {
			c := baseCfg(2, 19, 45, 4, 48)
			c.Dv = 80
			runCheck(t, c, 3)
		})
	})
}

func TestDtypesAndStrides(t *testing.T) {
	f32, f16, bf16 := tensor.Float32, tensor.Float16, tensor.BFloat16
	combos := [][4]tensor.DType{{f16, f16, f16, f16}, {bf16, bf16, bf16, bf16}, {f16, bf16, f32, bf16}, {f32, f32, f32, f16}}
	forEachISA(t, func(t *testing.T) {
		for _, dts := range combos {
			for _, mode := range []int{contiguous, padded, spread} {
				for _, layout := range []Layout{BSHD, BHSD} {
					t.Run(fmt.Sprintf("%v/mode=%d/layout=%d", dts, mode, layout), func(t *testing.T) {
						c := baseCfg(2, 37, 131, 4, 64)
						if raceEnabled {
							c = baseCfg(1, 9, 70, 4, 64)
						}
						c.Hkv = 2
						c.dq, c.dk, c.dv, c.do = dts[0], dts[1], dts[2], dts[3]
						c.mode, c.layout = mode, layout
						c.p.Causal = true
						runCheck(t, c, 11)
					})
				}
			}
		}
		t.Run("f32/strided", func(t *testing.T) {
			c := baseCfg(2, 70, 200, 2, 32)
			c.mode, c.layout = spread, BHSD
			runCheck(t, c, 12)
		})
	})
}

func TestMasks(t *testing.T) {
	keyLens := []int32{150, 0, 77}
	cases := []struct {
		name string
		set  func(c *cfg)
	}{
		{"causal", func(c *cfg) { c.p.Causal = true }},
		{"window", func(c *cfg) { c.p.WindowLeft, c.p.WindowRight = 20, 5 }},
		{"window-left", func(c *cfg) { c.p.WindowLeft = 70 }},
		{"window-right", func(c *cfg) { c.p.WindowRight = 0 }},
		{"window0", func(c *cfg) { c.p.WindowLeft, c.p.WindowRight = 0, 0 }},
		{"keylengths", func(c *cfg) { c.p.KeyLengths = keyLens }},
		{"bias-full", func(c *cfg) { c.biasShape = []int{c.B, c.Hq, c.Lq, c.Lk} }},
		{"bias-bcast", func(c *cfg) { c.biasShape = []int{1, c.Hq, 1, c.Lk}; c.biasDT = tensor.Float16 }},
		{"bias-2d", func(c *cfg) { c.biasShape = []int{c.Lq, c.Lk}; c.biasDT = tensor.BFloat16 }},
		{"bias-mask", func(c *cfg) { c.biasShape = []int{c.B, 1, c.Lq, c.Lk}; c.biasMaskFrac = 0.5 }},
		{"bias-allmask", func(c *cfg) { c.biasShape = []int{c.B, 1, c.Lq, c.Lk}; c.biasMaskFrac = 1 }},
		{"alibi", func(c *cfg) { c.p.ALiBiSlopes = ALiBiSlopes(c.Hq) }},
		{"alibi-custom", func(c *cfg) { c.p.ALiBiSlopes = []float32{0.3, -0.1, 0.02, 1} }},
		{"softcap", func(c *cfg) { c.p.SoftCap = 1.5 }},
		{"sinks", func(c *cfg) { c.p.Sinks = []float32{0.5, -1, 3, float32(math.Inf(-1))} }},
		{"scale", func(c *cfg) { c.p.Scale = 0.37 }},
		{"combined", func(c *cfg) {
			c.p.Causal = true
			c.p.WindowLeft = 90
			c.p.KeyLengths = keyLens
			c.biasShape = []int{c.B, c.Hq, c.Lq, c.Lk}
			c.biasMaskFrac = 0.1
			c.p.ALiBiSlopes = ALiBiSlopes(c.Hq)
			c.p.SoftCap = 2
			c.p.Sinks = []float32{0.5, -1, 3, 0}
		}},
		{"sinks-empty-rows", func(c *cfg) {
			c.p.KeyLengths = []int32{0, 5, 0}
			c.p.Sinks = []float32{0.5, -1, 3, 0}
		}},
	}
	forEachISA(t, func(t *testing.T) {
		for _, tc := range cases {
			lens := [][2]int{{60, 150}, {150, 150}, {1, 150}}
			if raceEnabled {
				lens = [][2]int{{20, 150}, {1, 150}}
			}
			for _, lens := range lens {
				t.Run(fmt.Sprintf("%s/Lq=%d", tc.name, lens[0]), func(t *testing.T) {
					c := baseCfg(3, lens[0], lens[1], 4, 32)
					c.Hkv = 2
					tc.set(&c)
					runCheck(t, c, 21)
				})
			}
		}
	})
}

// TestEmptyRows: rows that see no key get zeros and lse = -Inf, never NaN.
func TestEmptyRows(t *testing.T) {
	cases := []struct {
		name   string
		lq, lk int
		set    func(c *cfg)
	}{
		{"causal-Lq>Lk", 40, 10, func(c *cfg) { c.p.Causal = true }},
		{"window-beyond", 20, 20, func(c *cfg) { c.p.WindowLeft, c.p.WindowRight = -1, -1; c.p.KeyLengths = []int32{0, 0} }},
		{"Lk=0", 5, 0, func(c *cfg) {}},
		{"window-outside", 30, 300, func(c *cfg) { c.p.Causal = true; c.p.WindowLeft = 10; c.p.KeyLengths = []int32{200, 300} }},
	}
	forEachISA(t, func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := baseCfg(2, tc.lq, tc.lk, 2, 16)
				tc.set(&c)
				pr := runCheck(t, c, 5)
				// At least one row is empty in each case: check its exact values.
				found := false
				for b := range c.B {
					for i := range c.Lq {
						for h := range c.Hq {
							if _, lse := pr.refRow(b, i, h); !math.IsInf(lse, -1) {
								continue
							}
							found = true
							if got := pr.lse.get(b, h, i); !math.IsInf(got, -1) {
								t.Fatalf("lse of an empty row = %v", got)
							}
							for d := range c.Dv {
								if got := pr.o.get(b, i, h, d); got != 0 {
									t.Fatalf("out of an empty row = %v", got)
								}
							}
						}
					}
				}
				if !found {
					t.Fatalf("case has no empty row")
				}
			})
		}
	})
}

func TestGQA(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		for _, hkv := range []int{1, 2, 4, 8} {
			t.Run(fmt.Sprintf("Hkv=%d", hkv), func(t *testing.T) {
				c := baseCfg(2, 20, 90, 8, 32)
				c.Hkv = hkv
				c.p.Causal = true
				runCheck(t, c, uint64(hkv))
			})
		}
		t.Run("decode-MQA", func(t *testing.T) {
			c := baseCfg(1, 4, 3000, 8, 64)
			c.Hkv = 1
			c.p.Causal = true
			runCheck(t, c, 9)
		})
	})
}

func TestSlidingWindow(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		for _, w := range []int{0, 3, 64, 200} {
			for _, causal := range []bool{false, true} {
				t.Run(fmt.Sprintf("w=%d/causal=%v", w, causal), func(t *testing.T) {
					l := 300
					if raceEnabled {
						l = 130
					}
					c := baseCfg(2, l, l, 2, 32)
					c.withLSE = false
					pr := newProblem(c, uint64(w))
					if err := SlidingWindow(pr.q.t, pr.k.t, pr.v.t, pr.o.t, w, causal, c.p); err != nil {
						t.Fatal(err)
					}
					// The reference mask written out: |i - j| <= w, and j <= i when causal.
					pr.c.p.WindowLeft, pr.c.p.WindowRight, pr.c.p.Causal = -1, -1, false
					ref := &windowRef{pr, w, causal}
					ref.check(t)
				})
			}
		}
	})
}

// windowRef checks a SlidingWindow result against an explicit |i - j| <= w mask.
type windowRef struct {
	pr     *problem
	w      int
	causal bool
}

func (r *windowRef) check(t *testing.T) {
	pr, c := r.pr, r.pr.c
	for b := range c.B {
		for i := range c.Lq {
			for h := range c.Hq {
				// Reference with KeyLengths-free masking: recompute with the explicit window.
				x := make([]float64, c.Lk)
				m := math.Inf(-1)
				for j := range c.Lk {
					if abs(i-j) > r.w || (r.causal && j > i) {
						x[j] = math.Inf(-1)
						continue
					}
					var dot float64
					for d := range c.D {
						dot += pr.q.at(b, i, h, d) * pr.k.at(b, j, h, d)
					}
					x[j] = pr.scale * dot
					m = max(m, x[j])
				}
				den := 0.0
				out := make([]float64, c.Dv)
				for j := range c.Lk {
					if math.IsInf(x[j], -1) {
						continue
					}
					e := math.Exp(x[j] - m)
					den += e
					for d := range out {
						out[d] += e * pr.v.at(b, j, h, d)
					}
				}
				for d := range out {
					if got := pr.o.get(b, i, h, d); math.Abs(got-out[d]/den) > outTol(c.do) {
						t.Fatalf("out[%d %d %d %d] = %v, want %v", b, i, h, d, got, out[d]/den)
					}
				}
			}
		}
	}
}

func abs(x int) int { return max(x, -x) }

func TestALiBiSlopes(t *testing.T) {
	// Hand-checked: 8 heads: 2^-1 .. 2^-8; 12 heads: the 8-head slopes, then every other
	// slope of 16 heads (2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5).
	want8 := []float64{0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625}
	want12 := append(append([]float64{}, want8...), math.Pow(2, -0.5), math.Pow(2, -1.5), math.Pow(2, -2.5), math.Pow(2, -3.5))
	for _, tc := range []struct {
		h    int
		want []float64
	}{{8, want8}, {12, want12}, {1, []float64{1.0 / 256}}} {
		got := ALiBiSlopes(tc.h)
		if len(got) != len(tc.want) {
			t.Fatalf("ALiBiSlopes(%d): %d slopes", tc.h, len(got))
		}
		for i := range got {
			if math.Abs(float64(got[i])-tc.want[i]) > 1e-7*tc.want[i] {
				t.Errorf("ALiBiSlopes(%d)[%d] = %v, want %v", tc.h, i, got[i], tc.want[i])
			}
		}
	}
	if ALiBiSlopes(0) != nil {
		t.Errorf("ALiBiSlopes(0) is not nil")
	}
}

// TestNaNPropagates: a NaN in one query row makes that row's output and lse NaN (it is
// never dropped as if masked) and leaves the other rows finite; also across chunks.
func TestNaNPropagates(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		for _, lk := range []int{50, 2100} {
			c := baseCfg(1, 4, lk, 2, 32)
			pr := newProblem(c, 8)
			pr.q.set(float32(math.NaN()), 0, 2, 1, 5)
			if err := pr.run(); err != nil {
				t.Fatal(err)
			}
			for i := range c.Lq {
				for h := range c.Hq {
					nan := i == 2 && h == 1
					if got := pr.lse.get(0, h, i); math.IsNaN(got) != nan {
						t.Fatalf("Lk=%d: lse[%d %d] = %v", lk, h, i, got)
					}
					for d := range c.Dv {
						if got := pr.o.get(0, i, h, d); math.IsNaN(got) != nan {
							t.Fatalf("Lk=%d: out[%d %d %d] = %v", lk, i, h, d, got)
						}
					}
				}
			}
		}
	})
}

// TestManyHeadsPerKV: 71 query heads on one KV head (Falcon-7B's MQA): a work item holds
// more than 64 rows, so the transposed tiles are 80 lanes wide (two double-vector passes
// and a single-vector one), and decode items hold 71 rows.
func TestManyHeadsPerKV(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		for _, lq := range []int{1, 3, 40} {
			c := baseCfg(1, lq, 300, 71, 64)
			c.Hkv = 1
			c.p.Causal = true
			pr := newProblem(c, 9)
			if err := pr.run(); err != nil {
				t.Fatal(err)
			}
			pr.check(t, 1)
		}
	})
}
