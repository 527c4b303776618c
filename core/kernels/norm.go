package kernels

import (
	"math"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Pieces shared by RMSNorm, LayerNorm and GroupNorm, forward and backward: argument
// checks, the fused residual add, and the fixed-order reduction of parameter gradients.

// optTensor is an optional argument with its name for error messages.
type optTensor struct {
	name string
	t    *tensor.Tensor
}

// checkFloat validates t and requires a float dtype.
func checkFloat(name string, t tensor.Tensor) error {
	if err := t.Validate(name); err != nil {
		return err
	}
	if !t.DType.IsFloat() {
		return errs.New(errs.UnsupportedDtype, "%s: dtype %v is not float32, float16 or bfloat16", name, t.DType)
	}
	return nil
}

// checkParams validates optional per-channel parameters: float tensors of shape [n].
func checkParams(n int, params ...optTensor) error {
	for _, p := range params {
		if p.t == nil {
			continue
		}
		if err := checkFloat(p.name, *p.t); err != nil {
			return err
		}
		if p.t.NDim() != 1 || p.t.Shape[0] != n {
			return errs.New(errs.ShapeMismatch, "%s: shape %v, want [%d]", p.name, p.t.Shape, n)
		}
	}
	return nil
}

// checkEps requires a finite, non-negative epsilon.
func checkEps(eps float32) error {
	if e := float64(eps); !(e >= 0) || math.IsInf(e, 0) {
		return errs.New(errs.InvalidArgument, "eps must be non-negative and finite, got %v", eps)
	}
	return nil
}

// appendNamed appends the present tensors among opts to dst (which callers back with an
// array on their stack, so that a call's checks allocate nothing).
func appendNamed(dst []tensor.Named, opts ...optTensor) []tensor.Named {
	for _, o := range opts {
		if o.t != nil {
			dst = append(dst, tensor.Named{Name: o.name, T: *o.t})
		}
	}
	return dst
}

// checkDisjoint requires out to share no memory with others, not even as the same view
// (an empty tensor never clashes).
func checkDisjoint(out tensor.Named, others ...tensor.Named) error {
	if err := tensor.CheckOutputOverlap(out, others...); err != nil {
		return err
	}
	for _, o := range others {
		if out.T.NumEl() > 0 && tensor.SameView(out.T, o.T) {
			return errs.New(errs.InvalidArgument, "%s overlaps %s", out.Name, o.Name)
		}
	}
	return nil
}

// checkNormForward checks what the forward normalizations share, after the caller has
// checked x's rank and the parameters: residual, out and residual_out have x's shape,
// the outputs x's dtype; outputs may be inputs exactly but overlap nothing else, and the
// two outputs are disjoint.
func checkNormForward(x tensor.Tensor, inputs []optTensor, residual *tensor.Tensor, out tensor.Tensor, residualOut *tensor.Tensor, eps float32) error {
	if residual != nil {
		if err := checkFloat("residual", *residual); err != nil {
			return err
		}
		if err := checkSameShape("residual", *residual, "x", x); err != nil {
			return err
		}
	}
	var insBuf [8]tensor.Named
	var outBuf [2]tensor.Named
	ins := append(insBuf[:0], tensor.Named{Name: "x", T: x})
	ins = appendNamed(ins, inputs...)
	ins = appendNamed(ins, optTensor{"residual", residual})
	outputs := appendNamed(append(outBuf[:0], tensor.Named{Name: "out", T: out}), optTensor{"residual_out", residualOut})
	for _, o := range outputs {
		if err := checkFloat(o.Name, o.T); err != nil {
			return err
		}
		if err := checkSameShape(o.Name, o.T, "x", x); err != nil {
			return err
		}
		if o.T.DType != x.DType {
			return errs.New(errs.UnsupportedDtype, "%s: dtype %v differs from x dtype %v", o.Name, o.T.DType, x.DType)
		}
		if err := tensor.CheckOutputOverlap(o, ins...); err != nil {
			return err
		}
	}
	if residualOut != nil {
		if err := checkDisjoint(outputs[1], outputs[0]); err != nil {
			return errs.New(errs.InvalidArgument, "residual_out overlaps out")
		}
	}
	return checkEps(eps)
}

// checkNormBackward checks the backward normalizations' tensors, after the caller has
// checked h's rank and the parameters: dy, d_residual_out and dx have h's shape (any float
// dtypes); dx may be h, dy or d_residual_out exactly; the parameter gradients overlap
// nothing.
func checkNormBackward(h, dy tensor.Tensor, dResidualOut *tensor.Tensor, dx tensor.Tensor, params, grads []optTensor, eps float32) error {
	for _, c := range []optTensor{{"dy", &dy}, {"d_residual_out", dResidualOut}, {"dx", &dx}} {
		if c.t == nil {
			continue
		}
		if err := checkFloat(c.name, *c.t); err != nil {
			return err
		}
		if err := checkSameShape(c.name, *c.t, "h", h); err != nil {
			return err
		}
	}
	var insBuf [8]tensor.Named
	ins := appendNamed(insBuf[:0], optTensor{"h", &h}, optTensor{"dy", &dy}, optTensor{"d_residual_out", dResidualOut})
	ins = appendNamed(ins, params...)
	if err := tensor.CheckOutputOverlap(tensor.Named{Name: "dx", T: dx}, ins...); err != nil {
		return err
	}
	taken := append(ins, tensor.Named{Name: "dx", T: dx})
	var gradBuf [4]tensor.Named
	for _, g := range appendNamed(gradBuf[:0], grads...) {
		if err := checkDisjoint(g, taken...); err != nil {
			return err
		}
		taken = append(taken, g)
	}
	return checkEps(eps)
}

// loadVector returns the n float32 values of an optional 1-D parameter (nil when absent):
// the tensor's own memory when it is float32 with unit stride, else a converted copy.
func loadVector(k *rowKernels, t *tensor.Tensor, n int) []float32 {
	if t == nil {
		return nil
	}
	io := rowIOOf(k, *t)
	if io.mode == ioF32 && n > 0 {
		return io.f32(0, n) // no copy, so nothing to allocate
	}
	return io.load(0, make([]float32, n))
}

// rstd returns 1/sqrt(meanSquare + eps), the scale of a normalized row.
func rstd(meanSquare, eps float32) float32 {
	return float32(1 / math.Sqrt(float64(meanSquare+eps)))
}

// sumRows forms the rows of h = x (+ residual) with scratch for rows of length n.
type sumRows struct {
	k           *rowKernels
	x, residual *rowIO // residual may be nil
	hb, rb, tmp []float32
}

// h returns row r of h = x (+ residual, rounded to x's dtype as an unfused add in that
// dtype would be): x's own memory when possible, else scratch.
func (s *sumRows) h(r int) []float32 {
	h := s.x.load(s.x.offset(r), s.hb)
	if s.residual == nil {
		return h
	}
	res := s.residual.load(s.residual.offset(r), s.rb)
	s.k.add(s.hb, h, res)
	s.k.roundTo(s.x.t.DType, s.hb, s.tmp)
	return s.hb
}

// normRows is the row loop of RMSNorm and LayerNorm: for each row it forms h, stores it to
// residualOut when given, and lets row write the normalized values into dst with the
// kernels it is given (streaming ones for a large output).
func normRows(x tensor.Tensor, residual, residualOut *tensor.Tensor, out tensor.Tensor, row func(k *rowKernels, dst, h []float32)) {
	k := rowOps()
	d := x.Shape[x.NDim()-1]
	xs, res, resOut, outs := newRowIO(k, x), optRowIO(k, residual), optRowIO(k, residualOut), newRowIO(k, out)
	kOut := k.forOutput(outs)
	cpu.ParallelFor(x.NumRows(), rowsPerChunk(d), func(lo, hi int) {
		buf := getScratch(4 * d)
		defer putScratch(buf)
		b := *buf
		s := sumRows{k: k, x: xs, residual: res, hb: b[:d], rb: b[d : 2*d], tmp: b[2*d : 3*d]}
		ob := b[3*d:]
		for r := lo; r < hi; r++ {
			h := s.h(r)
			if resOut != nil {
				resOut.store(resOut.offset(r), h)
			}
			oo := outs.offset(r)
			o := outs.dst(oo, ob)
			row(kOut, o, h)
			outs.store(oo, o)
		}
	})
}

// maxGradChunks bounds how many per-chunk partial sums a backward pass keeps for its
// parameter gradients.
const maxGradChunks = 64

// gradChunks splits items (rows or groups) into at most maxGradChunks chunks of at least
// minGrain items: the split depends only on the shape, never on the thread count.
func gradChunks(items, minGrain int) (grain, chunks int) {
	grain = max(minGrain, (items+maxGradChunks-1)/maxGradChunks, 1)
	return grain, (items + grain - 1) / grain
}

// paramGrads accumulates parameter gradients (each of length width) per chunk and then
// adds the chunk partials in chunk order, so the sums are the same for any thread count.
type paramGrads struct {
	width int
	outs  []*tensor.Tensor // the gradient tensors; nil entries are not wanted
	parts []float32        // [chunk][output][width]
}

func newParamGrads(chunks, width int, outs ...*tensor.Tensor) *paramGrads {
	p := &paramGrads{width: width, outs: outs}
	for _, o := range outs {
		if o != nil {
			p.parts = make([]float32, chunks*len(outs)*width)
			break
		}
	}
	return p
}

// part returns chunk c's partial for output i, or nil when that gradient is not wanted.
func (p *paramGrads) part(c, i int) []float32 {
	if p.outs[i] == nil {
		return nil
	}
	at := (c*len(p.outs) + i) * p.width
	return p.parts[at : at+p.width]
}

// finish sums the partials in chunk order and stores each wanted gradient.
func (p *paramGrads) finish(k *rowKernels) {
	for i, o := range p.outs {
		if o == nil {
			continue
		}
		acc := make([]float32, p.width)
		for c := 0; c < len(p.parts)/(len(p.outs)*p.width); c++ {
			k.add(acc, acc, p.part(c, i))
		}
		newRowIO(k, *o).store(0, acc)
	}
}
