package attention

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// part computes attention of pr's queries over keys [k0, k1) into a fresh out and lse.
func part(t *testing.T, pr *problem, k0, k1 int, p Params) (tensor.Tensor, tensor.Tensor, []float32, []float32) {
	t.Helper()
	c := pr.c
	o := make([]float32, c.B*c.Lq*c.Hq*c.Dv)
	l := make([]float32, c.B*c.Hq*c.Lq)
	ot, lt := tensor.FromFloat32(o, c.B, c.Lq, c.Hq, c.Dv), tensor.FromFloat32(l, c.B, c.Hq, c.Lq)
	if err := Forward(pr.q.t, sub(pr.k.t, 1, k0, k1-k0), sub(pr.v.t, 1, k0, k1-k0), ot, &lt, p); err != nil {
		t.Fatal(err)
	}
	return ot, lt, o, l
}

// TestMergeStates: merging the results over two key ranges equals attention over both
// (float32 parts merged in float64: tolerance 2e-5 on outputs, 1e-5 relative on lse).
func TestMergeStates(t *testing.T) {
	c := baseCfg(2, 20, 300, 3, 32)
	c.p.Causal = false
	pr := runCheck(t, c, 4)
	for _, split := range []int{137, 1, 299} {
		oa, la, _, _ := part(t, pr, 0, split, c.p)
		ob, lb, _, _ := part(t, pr, split, c.Lk, c.p)
		out := make([]float32, c.B*c.Lq*c.Hq*c.Dv)
		lse := make([]float32, c.B*c.Hq*c.Lq)
		ot, lt := tensor.FromFloat32(out, c.B, c.Lq, c.Hq, c.Dv), tensor.FromFloat32(lse, c.B, c.Hq, c.Lq)
		if err := MergeStates(oa, la, ob, lb, ot, &lt); err != nil {
			t.Fatal(err)
		}
		for b := range c.B {
			for i := range c.Lq {
				for h := range c.Hq {
					for d := range c.Dv {
						got, want := float64(out[((b*c.Lq+i)*c.Hq+h)*c.Dv+d]), pr.o.get(b, i, h, d)
						if math.Abs(got-want) > 2e-5 {
							t.Fatalf("split %d: merged out %v, full %v", split, got, want)
						}
					}
					got, want := float64(lse[(b*c.Hq+h)*c.Lq+i]), pr.lse.get(b, h, i)
					if math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
						t.Fatalf("split %d: merged lse %v, full %v", split, got, want)
					}
				}
			}
		}
	}
}

// TestMergeStatesEmpty: a side with lse = -Inf contributes nothing (the other side comes
// out exactly, computed in place); both empty give zeros and -Inf, never NaN.
func TestMergeStatesEmpty(t *testing.T) {
	c := baseCfg(1, 5, 40, 2, 16)
	pr := runCheck(t, c, 6)
	p := c.p
	p.KeyLengths = []int32{0}
	oa, la, oav, lav := part(t, pr, 0, 20, p) // every row empty: zeros, -Inf
	ob, lb, obv, lbv := part(t, pr, 20, 40, c.p)
	wantO, wantL := slices.Clone(obv), slices.Clone(lbv)
	if err := MergeStates(oa, la, ob, lb, ob, &lb); err != nil { // in place into b
		t.Fatal(err)
	}
	if !slices.Equal(obv, wantO) || !slices.Equal(lbv, wantL) {
		t.Fatalf("merging with an empty side changed the other side")
	}
	if err := MergeStates(oa, la, oa, la, oa, &la); err != nil {
		t.Fatal(err)
	}
	for i := range oav {
		if oav[i] != 0 {
			t.Fatalf("two empty sides: out %v", oav[i])
		}
	}
	for i := range lav {
		if !math.IsInf(float64(lav[i]), -1) {
			t.Fatalf("two empty sides: lse %v", lav[i])
		}
	}
}

func TestMergeStatesBadInput(t *testing.T) {
	o := tensor.FromFloat32(make([]float32, 2*3*4*8), 2, 3, 4, 8)
	l := tensor.FromFloat32(make([]float32, 2*4*3), 2, 4, 3)
	out := make([]float32, 2*3*4*8)
	ot := tensor.FromFloat32(out, 2, 3, 4, 8)
	badL := tensor.FromFloat32(make([]float32, 2*3*4), 2, 3, 4)
	badO := tensor.FromFloat32(make([]float32, 2*3*4*4), 2, 3, 4, 4)
	overlap := ot
	overlap.Shape = []int{2, 4, 3}
	overlap.Strides = tensor.RowMajorStrides(overlap.Shape)
	for name, f := range map[string]func() error{
		"lse shape":   func() error { return MergeStates(o, badL, o, l, ot, nil) },
		"o shape":     func() error { return MergeStates(o, l, badO, l, ot, nil) },
		"out overlap": func() error { return MergeStates(o, l, o, l, ot, &overlap) },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		} else if k := errs.KindOf(err); k != errs.ShapeMismatch && k != errs.InvalidArgument {
			t.Errorf("%s: kind %v", name, k)
		}
		for _, v := range out {
			if v != 0 {
				t.Fatalf("%s: out was written", name)
			}
		}
	}
}

// TestChunkMergeRowKinds: within one 16-row vector of a prefill item, a row that saw no
// key of the first chunk (its chunk state is copied) or none of the second (its state is
// kept) sits next to rows that merge, at every lane boundary tried; checked against the
// float64 reference on every path.
func TestChunkMergeRowKinds(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		for _, lane := range []int{0, 7, 8, 14, 15} {
			// Causal, 64 query rows on one head: row r sits at position Lk-64+r.
			// Kept: rows < 32+lane see no key of the second chunk (keys from 1024).
			kept := baseCfg(1, 64, 1024+64-32-lane, 1, 32)
			kept.p.Causal = true
			// Copied: with a window of left keys, rows >= 32+lane see none of the first.
			copied := baseCfg(1, 64, 1100, 1, 32)
			copied.p.Causal = true
			copied.p.WindowLeft = 1100 - 64 + 32 + lane - 1024
			for name, c := range map[string]cfg{"kept": kept, "copied": copied} {
				t.Run(fmt.Sprintf("%s/lane=%d", name, lane), func(t *testing.T) {
					pr := newProblem(c, uint64(40+lane))
					if err := pr.run(); err != nil {
						t.Fatal(err)
					}
					pr.check(t, 1)
				})
			}
		}
	})
}
