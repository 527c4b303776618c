package gemm

import (
	"slices"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Linear computes y = x W^T (+ bias) in float32 and rounds once into y.
//
// Shapes: x [..., in] (at least 1 dimension), w [out, in], bias [out] or nil, y [...,
// out] with x's leading dimensions. x and w share one dtype (float32, float16 or
// bfloat16); bias and y may be any of the three. Any strides; y must not overlap x, w,
// bias or itself. Each element of y is bit-identical to the same element computed by
// Matmul with TransB (then plus bias). On error nothing is written.
func Linear(x, w tensor.Tensor, bias *tensor.Tensor, y tensor.Tensor) error {
	if err := checkOperands([3]string{"x", "w", "y"}, x, w, y); err != nil {
		return err
	}
	if err := checkLinearShapes(x, w, "w", y, "y"); err != nil {
		return err
	}
	out := w.Shape[0]
	inputs := []tensor.Named{{Name: "x", T: x}, {Name: "w", T: w}}
	var b []float32
	if bias != nil {
		if err := checkFloat("bias", *bias); err != nil {
			return err
		}
		if !slices.Equal(bias.Shape, []int{out}) {
			return errs.New(errs.ShapeMismatch, "bias: shape %v, want [%d]", bias.Shape, out)
		}
		inputs = append(inputs, tensor.Named{Name: "bias", T: *bias})
	}
	if err := checkOutput("y", y, inputs...); err != nil {
		return err
	}
	if y.NumEl() == 0 {
		return nil
	}
	if bias != nil {
		b = make([]float32, out)
		loadF32(b, bias.Data, bias.Strides[0], bias.DType)
	}
	pr := linearProblem(x, y, w)
	pr.b[0] = weightT(w)
	pr.direct = y.DType == tensor.Float32 && pr.out.cs == 1
	if bias != nil || !pr.direct {
		pr.fin = linearFin{bias: b}
	}
	pr.run()
	return nil
}

// GatedLinear computes out = combine(x Wg^T, x Wu^T) in one pass over x: every packed
// panel of x is multiplied by the matching panels of both weights, and combine(dst,
// gate, up) turns each output row segment (float32) into dst, which is then rounded
// into out. combine must write every dst[i] and read only gate[i], up[i] for the same i.
//
// Shapes: x [..., in], wGate and wUp [hidden, in], out [..., hidden]. x, wGate and wUp
// share one dtype; out is any float dtype. Each gate and up value is bit-identical to
// the one Linear computes. On error nothing is written.
func GatedLinear(x, wGate, wUp tensor.Tensor, out tensor.Tensor, combine func(dst, gate, up []float32)) error {
	if combine == nil {
		return errs.New(errs.InvalidArgument, "combine: function is nil")
	}
	if err := checkOperands([3]string{"x", "w_gate", "out"}, x, wGate, out); err != nil {
		return err
	}
	if err := checkFloat("w_up", wUp); err != nil {
		return err
	}
	if wUp.DType != x.DType {
		return errs.New(errs.UnsupportedDtype, "w_up: dtype %v differs from x's %v", wUp.DType, x.DType)
	}
	if err := checkLinearShapes(x, wGate, "w_gate", out, "out"); err != nil {
		return err
	}
	if !slices.Equal(wUp.Shape, wGate.Shape) {
		return errs.New(errs.ShapeMismatch, "w_up: shape %v differs from w_gate's %v", wUp.Shape, wGate.Shape)
	}
	if err := checkOutput("out", out, tensor.Named{Name: "x", T: x}, tensor.Named{Name: "w_gate", T: wGate}, tensor.Named{Name: "w_up", T: wUp}); err != nil {
		return err
	}
	if out.NumEl() == 0 {
		return nil
	}
	pr := linearProblem(x, out, wGate)
	pr.nb = 2
	pr.b[0], pr.b[1] = weightT(wGate), weightT(wUp)
	pr.fin = gatedFin{combine: combine}
	pr.run()
	return nil
}

// checkLinearShapes checks x [..., in], w [out, in] and y [..., out].
func checkLinearShapes(x, w tensor.Tensor, wName string, y tensor.Tensor, yName string) error {
	if x.NDim() < 1 {
		return errs.New(errs.ShapeMismatch, "x: needs at least 1 dimension")
	}
	if w.NDim() != 2 {
		return errs.New(errs.ShapeMismatch, "%s: shape %v, want [out, in]", wName, w.Shape)
	}
	in := x.Shape[x.NDim()-1]
	if w.Shape[1] != in {
		return errs.New(errs.ShapeMismatch, "%s: shape %v, want [%d, %d] to match x's last dimension", wName, w.Shape, w.Shape[0], in)
	}
	want := append(slices.Clone(x.Shape[:x.NDim()-1]), w.Shape[0])
	if !slices.Equal(y.Shape, want) {
		return errs.New(errs.ShapeMismatch, "%s: shape %v, want %v", yName, y.Shape, want)
	}
	return nil
}

// linearProblem sets up the problem for rows of x (all leading dimensions merged) into
// rows of y, with the weight's geometry giving n and k.
func linearProblem(x, y, w tensor.Tensor) problem {
	a, rows := rowsOf(x)
	o, _ := rowsOf(y)
	return problem{
		spec: pickKernel(x.DType), m: rows, n: w.Shape[0], k: w.Shape[1],
		a: a, out: o, nb: 1, alpha: 1,
	}
}

// weightT views w [out, in] as the (in x out) operand W^T.
func weightT(w tensor.Tensor) operand {
	return operand{p: w.Data, dt: w.DType, rs: w.Strides[1], cs: w.Strides[0]}
}

// rowsOf views t [..., cols] as a (rows x cols) operand, all leading dimensions merged.
func rowsOf(t tensor.Tensor) (operand, int) {
	nd := t.NDim()
	o := operand{p: t.Data, dt: t.DType, cs: t.Strides[nd-1]}
	if nd == 1 {
		return o, 1
	}
	o.rs = t.Strides[nd-2]
	rows := t.NumRows()
	if nd > 2 && rows > 0 {
		batch := t.Shape[:nd-2]
		o.per, o.boff = t.Shape[nd-2], batchOffsets(t, batch)
	}
	return o, rows
}
