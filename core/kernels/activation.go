package kernels

import (
	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Activation names an elementwise activation function.
type Activation int

// The activations. Values are stable (the C API may pass them through).
const (
	SiLU     Activation = 1 // x * sigmoid(x) = x / (1 + exp(-x)); SwiGLU's gate
	GELU     Activation = 2 // x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), exact; GeGLU's gate
	GELUTanh Activation = 3 // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); GeGLU's too
)

// numActivations sizes tables indexed by Activation (index 0 is unused).
const numActivations = 4

// String returns the activation's name.
func (a Activation) String() string {
	switch a {
	case SiLU:
		return "silu"
	case GELU:
		return "gelu"
	case GELUTanh:
		return "gelu_tanh"
	}
	return "invalid activation"
}

// Check returns an InvalidArgument error unless a is one of the activations.
func (a Activation) Check() error { return checkActivation(a) }

func checkActivation(kind Activation) error {
	if kind < SiLU || kind > GELUTanh {
		return errs.New(errs.InvalidArgument, "kind: unknown activation %d", int(kind))
	}
	return nil
}

// Activate sets out = act(x) elementwise. x and out have the same shape (any, including
// 0-d and empty) and each any float dtype and strides; out may be x itself. Arithmetic is
// float32 (see rowops_amd64.go for the accuracy of the SIMD paths), rounded once into
// out's dtype.
func Activate(kind Activation, x, out tensor.Tensor) error {
	if err := checkActivation(kind); err != nil {
		return err
	}
	if err := checkElementwise([]tensor.Named{{Name: "x", T: x}}, []tensor.Named{{Name: "out", T: out}}); err != nil {
		return err
	}
	k := rowOps()
	sp := newSpans(k, spanLen, x, out)
	xs, outs := sp.io(0), sp.io(1)
	if outs == nil {
		return nil
	}
	f := k.forOutput(outs).act[kind]
	cpu.ParallelFor(sp.count, sp.grain(), func(lo, hi int) {
		buf := getScratch(2 * sp.n)
		defer putScratch(buf)
		var off [2]int
		for i := lo; i < hi; i++ {
			n := sp.at(i, off[:])
			xb, ob := (*buf)[:n], (*buf)[sp.n:sp.n+n]
			o := outs.dst(off[1], ob)
			f(o, xs.load(off[0], xb), nil)
			outs.store(off[1], o)
		}
	})
	return nil
}

// ActivateBackward sets dx = dy * act'(x) elementwise. x, dy and dx have the same shape,
// each any float dtype and strides; dx may be x or dy itself.
func ActivateBackward(kind Activation, x, dy, dx tensor.Tensor) error {
	if err := checkActivation(kind); err != nil {
		return err
	}
	if err := checkElementwise([]tensor.Named{{Name: "x", T: x}, {Name: "dy", T: dy}}, []tensor.Named{{Name: "dx", T: dx}}); err != nil {
		return err
	}
	k := rowOps()
	f := k.actGrad[kind]
	sp := newSpans(k, gradSpanLen, x, dy, dx)
	xs, dys, dxs := sp.io(0), sp.io(1), sp.io(2)
	cpu.ParallelFor(sp.count, sp.grain(), func(lo, hi int) {
		buf := getScratch(5 * sp.n)
		defer putScratch(buf)
		var off [3]int
		for i := lo; i < hi; i++ {
			n := sp.at(i, off[:])
			b := scratchRows(*buf, sp.n, n, 5)
			f(b[0], b[1], xs.load(off[0], b[2]))
			o := dxs.dst(off[2], b[4])
			k.mul(o, dys.load(off[1], b[3]), b[1])
			dxs.store(off[2], o)
		}
	})
	return nil
}

// scratchRows cuts count rows of length n from buf, spaced stride apart.
func scratchRows(buf []float32, stride, n, count int) [5][]float32 {
	var out [5][]float32
	for i := range count {
		out[i] = buf[i*stride : i*stride+n]
	}
	return out
}

// checkElementwise validates the tensors of an elementwise op: all float, all of the first
// input's shape; each output may be an input exactly but overlaps no other input, and the
// outputs are disjoint.
func checkElementwise(inputs, outputs []tensor.Named) error {
	for _, list := range [2][]tensor.Named{inputs, outputs} {
		for _, t := range list {
			if err := checkFloat(t.Name, t.T); err != nil {
				return err
			}
			if err := checkSameShape(t.Name, t.T, inputs[0].Name, inputs[0].T); err != nil {
				return err
			}
		}
	}
	for i, o := range outputs {
		if err := tensor.CheckOutputOverlap(o, inputs...); err != nil {
			return err
		}
		if err := checkDisjoint(o, outputs[:i]...); err != nil {
			return err
		}
	}
	return nil
}

// spanLen is how many elements a forward elementwise op handles per step on contiguous
// tensors. The backward ops take steps of gradSpanLen: they compute act(x) and act'(x)
// into scratch and read them back, and with 1024 elements those rows stay in L1: on
// [4096, 4096] float32 (go test -bench 'Activations|GLUs' ./core/kernels) the backward
// ops went from 24-34 GB/s to 30-55 (+23% to +63%), while the forward ops, which keep
// no such rows, measured 5-20% slower with 1024 than with 8192.
const (
	spanLen     = 1 << 13
	gradSpanLen = 1 << 10
)

// spans splits same-shaped tensors into runs of adjacent elements for elementwise ops:
// fixed runs of the flattened arrays when every tensor is row-major contiguous, else the
// rows of the last axis. Each element's result depends only on its inputs, so the split
// never changes results.
type spans struct {
	ios   []*rowIO // of 1-D views when flat, else of the tensors
	flat  bool
	n     int // elements per span (the last flat span may be shorter)
	count int
	total int
}

// n is the length of a span of the flattened tensors when they are all contiguous.
func newSpans(k *rowKernels, n int, ts ...tensor.Tensor) spans {
	total := ts[0].NumEl()
	if total == 0 {
		return spans{}
	}
	flat := true
	for _, t := range ts {
		flat = flat && t.IsContiguous()
	}
	ios := make([]*rowIO, len(ts))
	if flat {
		shape, strides := []int{total}, []int{1} // shared by the 1-D views, which only read them
		for i, t := range ts {
			ios[i] = newRowIO(k, tensor.Tensor{Data: t.Data, DType: t.DType, Shape: shape, Strides: strides})
		}
		return spans{ios: ios, flat: true, n: n, count: (total + n - 1) / n, total: total}
	}
	for i, t := range ts {
		ios[i] = newRowIO(k, t)
	}
	last := ts[0].Shape[ts[0].NDim()-1] // not flat, so ndim >= 1
	return spans{ios: ios, n: last, count: ts[0].NumRows(), total: total}
}

// io returns the row access of tensor j (nil when there is nothing to do).
func (s spans) io(j int) *rowIO {
	if s.ios == nil {
		return nil
	}
	return s.ios[j]
}

// grain is how many spans one parallel chunk takes.
func (s spans) grain() int {
	if s.flat {
		return max(1, rowGrain/s.n)
	}
	return rowsPerChunk(s.n)
}

// at returns span i's length and sets off[j] to its element offset in tensor j.
func (s spans) at(i int, off []int) int {
	if s.flat {
		for j := range off {
			off[j] = i * s.n
		}
		return min(s.n, s.total-i*s.n)
	}
	for j, io := range s.ios {
		off[j] = io.offset(i)
	}
	return s.n
}
