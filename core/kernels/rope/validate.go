package rope

import (
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// geometry is a q or k tensor's sizes and strides in canonical (b, s, h, d) order,
// whatever its layout.
type geometry struct {
	b, s, h, d int
	str        [4]int // element strides of b, s, h, d
}

func geometryOf(t tensor.Tensor, l Layout) geometry {
	sh, st := t.Shape, t.Strides
	if l == BHSD {
		return geometry{b: sh[0], s: sh[2], h: sh[1], d: sh[3], str: [4]int{st[0], st[2], st[1], st[3]}}
	}
	return geometry{b: sh[0], s: sh[1], h: sh[2], d: sh[3], str: [4]int{st[0], st[1], st[2], st[3]}}
}

// prepare validates a call completely, so that nothing is written on error, and returns
// the job that performs it.
func prepare(q, qOut tensor.Tensor, k, kOut *tensor.Tensor, positions *tensor.Tensor, p Params) (*job, error) {
	if p.Layout != BSHD && p.Layout != BHSD {
		return nil, errs.New(errs.InvalidArgument, "layout: unknown value %d", p.Layout)
	}
	if p.Pairing != Half && p.Pairing != Interleaved {
		return nil, errs.New(errs.InvalidArgument, "pairing: unknown value %d", p.Pairing)
	}
	if err := checkPair("q", q, "q_out", qOut); err != nil {
		return nil, err
	}
	gq := geometryOf(q, p.Layout)
	if (k == nil) != (kOut == nil) {
		return nil, errs.New(errs.InvalidArgument, "k and k_out must both be given or both be nil")
	}
	var gk geometry
	if k != nil {
		if err := checkPair("k", *k, "k_out", *kOut); err != nil {
			return nil, err
		}
		gk = geometryOf(*k, p.Layout)
		if gk.d != gq.d {
			return nil, errs.New(errs.ShapeMismatch, "k: head_dim %d differs from q head_dim %d", gk.d, gq.d)
		}
		if gk.b != gq.b || gk.s != gq.s {
			return nil, errs.New(errs.ShapeMismatch, "k: batch %d and seq %d differ from q's %d and %d", gk.b, gk.s, gq.b, gq.s)
		}
	}
	r, err := checkFreqParams(p, gq.d)
	if err != nil {
		return nil, err
	}
	if positions != nil {
		if err := checkPositions(*positions, gq.b, gq.s); err != nil {
			return nil, err
		}
	}
	if err := checkOverlaps(q, qOut, k, kOut, positions); err != nil {
		return nil, err
	}

	j := newJob()
	j.ops[0] = operandOf(q, qOut, gq, p.Layout)
	if k != nil {
		j.ops[1] = operandOf(*k, *kOut, gk, p.Layout)
	}
	j.b, j.s, j.d, j.r = gq.b, gq.s, gq.d, r
	j.layout, j.offset, j.inverse = p.Layout, p.Offset, p.Inverse
	j.tokens = gq.s
	if positions != nil {
		j.pos, j.hasPos = *positions, true
		if positions.NDim() == 2 {
			j.tokens = gq.b * gq.s
		}
	}
	// A pooled job keeps the frequencies of its previous call: a stream of decode calls
	// with the same parameters computes them once.
	if key := (freqKey{p.Base, p.Scaling, r}); !j.haveFreq || j.freq != key {
		j.inv = grow(j.inv, r/2)
		j.m = invFreqInto(j.inv, p, r)
		j.freq, j.haveFreq = key, true
	}
	j.rotate = rotator(p.Pairing)
	return j, nil
}

// checkPair validates an input and its output: well formed, 4-D, a float dtype, and the
// output with the input's shape and dtype.
func checkPair(name string, in tensor.Tensor, outName string, out tensor.Tensor) error {
	for _, t := range []struct {
		name string
		t    tensor.Tensor
	}{{name, in}, {outName, out}} {
		if err := t.t.Validate(t.name); err != nil {
			return err
		}
		if !t.t.DType.IsFloat() {
			return errs.New(errs.UnsupportedDtype, "%s: dtype %v is not float32, float16 or bfloat16", t.name, t.t.DType)
		}
		if t.t.NDim() != 4 {
			return errs.New(errs.ShapeMismatch, "%s: needs 4 dimensions, got shape %v", t.name, t.t.Shape)
		}
	}
	if !tensor.SameShape(in, out) {
		return errs.New(errs.ShapeMismatch, "%s: shape %v differs from %s shape %v", outName, out.Shape, name, in.Shape)
	}
	if out.DType != in.DType {
		return errs.New(errs.UnsupportedDtype, "%s: dtype %v differs from %s dtype %v", outName, out.DType, name, in.DType)
	}
	return nil
}

func checkPositions(t tensor.Tensor, b, s int) error {
	if err := t.Validate("positions"); err != nil {
		return err
	}
	if t.DType != tensor.Int32 && t.DType != tensor.Int64 {
		return errs.New(errs.UnsupportedDtype, "positions: dtype %v is not int32 or int64", t.DType)
	}
	ok := (t.NDim() == 1 && t.Shape[0] == s) || (t.NDim() == 2 && t.Shape[0] == b && t.Shape[1] == s)
	if !ok {
		return errs.New(errs.ShapeMismatch, "positions: shape %v, want [%d] or [%d, %d]", t.Shape, s, b, s)
	}
	return nil
}

// checkOverlaps allows each output to be its own input's very view and nothing else: an
// output may not share memory with any other tensor of the call, not even as the same view.
func checkOverlaps(q, qOut tensor.Tensor, k, kOut *tensor.Tensor, positions *tensor.Tensor) error {
	var others [3]tensor.Named
	n := 0
	if k != nil {
		others[n], others[n+1] = tensor.Named{Name: "k", T: *k}, tensor.Named{Name: "k_out", T: *kOut}
		n += 2
	}
	if positions != nil {
		others[n] = tensor.Named{Name: "positions", T: *positions}
		n++
	}
	if err := checkOutput(tensor.Named{Name: "q_out", T: qOut}, tensor.Named{Name: "q", T: q}, others[:n]); err != nil {
		return err
	}
	if k == nil {
		return nil
	}
	others[0], others[1] = tensor.Named{Name: "q", T: q}, tensor.Named{Name: "q_out", T: qOut}
	return checkOutput(tensor.Named{Name: "k_out", T: *kOut}, tensor.Named{Name: "k", T: *k}, others[:n])
}

func checkOutput(out, own tensor.Named, others []tensor.Named) error {
	if err := tensor.CheckOutputOverlap(out, own); err != nil {
		return err
	}
	for _, o := range others {
		if out.T.NumEl() > 0 && o.T.NumEl() > 0 && tensor.SameView(out.T, o.T) {
			return errs.New(errs.InvalidArgument, "%s overlaps %s", out.Name, o.Name)
		}
		if err := tensor.CheckOutputOverlap(out, o); err != nil {
			return err
		}
	}
	return nil
}
