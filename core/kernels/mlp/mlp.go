// Package mlp holds the gradients of the fused gated MLP input of libmlxprim
// (gemm.GatedLinear, mlxp_gated_linear): out = act(x Wg^T) * (x Wu^T).
package mlp

import (
	"slices"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/kernels/gemm"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// GatedLinearBackward computes the gradients of out = act(x Wg^T) * (x Wu^T) given
// dout = dL/dout. With gate = x Wg^T and up = x Wu^T (recomputed in float32):
//
//	dgate = dout * up * act'(gate),   dup = dout * act(gate)
//	dx  = dgate Wg + dup Wu,   dWg = dgate^T x,   dWu = dup^T x
//
// x is [..., in], wGate and wUp [hidden, in], dout [..., hidden] (x's leading dims);
// dx (x's shape) and dwGate, dwUp ([hidden, in]) are each optional (nil: not computed;
// with all three nil the call only validates its arguments).
// Any float dtype and strides for every tensor; arithmetic is float32 through Matmul (the
// weight gradients sum over all rows of x), each output rounded once, bit-identical for
// any thread count. The outputs must not overlap each other or any input. Scratch is
// float32: copies of x (unless 2-D row-major float32), of dout and of weights that are not
// row-major float32, gate and up [rows, hidden], and [rows, in] for dx. On error nothing
// is written.
func GatedLinearBackward(kind kernels.Activation, x, wGate, wUp, dout tensor.Tensor, dx, dwGate, dwUp *tensor.Tensor) error {
	if err := kind.Check(); err != nil {
		return err
	}
	rows, in, hidden, err := checkShapes(x, wGate, wUp, dout, dx, dwGate, dwUp)
	if err != nil || (dx == nil && dwGate == nil && dwUp == nil) {
		return err
	}
	// x and dout as float32 rows [rows, in] and [rows, hidden].
	x2 := asF32(x, rows, in)
	wGate, wUp = asF32(wGate, hidden, in), asF32(wUp, hidden, in)
	d2 := tensor.FromFloat32(loadRows(dout, rows, hidden), rows, hidden)
	gate := tensor.FromFloat32(make([]float32, rows*hidden), rows, hidden)
	up := tensor.FromFloat32(make([]float32, rows*hidden), rows, hidden)
	if err := gemm.Linear(x2, wGate, nil, gate); err != nil {
		return err
	}
	if err := gemm.Linear(x2, wUp, nil, up); err != nil {
		return err
	}
	// In place: gate becomes dgate and up dup.
	if err := kernels.GLUBackward(kind, gate, up, d2, gate, up); err != nil {
		return err
	}
	if dx != nil {
		accData := make([]float32, rows*in)
		acc := tensor.FromFloat32(accData, rows, in)
		if err := gemm.Matmul(gate, wGate, acc, gemm.DefaultParams()); err != nil {
			return err
		}
		if err := gemm.Matmul(up, wUp, acc, gemm.Params{Alpha: 1, Beta: 1}); err != nil {
			return err
		}
		storeRows(*dx, accData, rows, in)
	}
	for _, g := range []struct {
		d  tensor.Tensor
		dw *tensor.Tensor
	}{{gate, dwGate}, {up, dwUp}} {
		if g.dw != nil {
			if err := gemm.Matmul(g.d, x2, *g.dw, gemm.Params{TransA: true, Alpha: 1}); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkShapes validates every tensor and returns the number of rows of x, in and hidden.
func checkShapes(x, wGate, wUp, dout tensor.Tensor, dx, dwGate, dwUp *tensor.Tensor) (rows, in, hidden int, err error) {
	ins := []tensor.Named{{Name: "x", T: x}, {Name: "w_gate", T: wGate}, {Name: "w_up", T: wUp}, {Name: "dout", T: dout}}
	var outs []tensor.Named
	for _, o := range []struct {
		name string
		t    *tensor.Tensor
	}{{"dx", dx}, {"dw_gate", dwGate}, {"dw_up", dwUp}} {
		if o.t != nil {
			outs = append(outs, tensor.Named{Name: o.name, T: *o.t})
		}
	}
	for _, t := range append(slices.Clone(ins), outs...) {
		if err := t.T.Validate(t.Name); err != nil {
			return 0, 0, 0, err
		}
		if !t.T.DType.IsFloat() {
			return 0, 0, 0, errs.New(errs.UnsupportedDtype, "%s: dtype %v is not a float type", t.Name, t.T.DType)
		}
	}
	if x.NDim() < 1 {
		return 0, 0, 0, errs.New(errs.ShapeMismatch, "x: needs at least 1 dimension")
	}
	in = x.Shape[x.NDim()-1]
	if wGate.NDim() != 2 || wGate.Shape[1] != in {
		return 0, 0, 0, errs.New(errs.ShapeMismatch, "w_gate: shape %v, want [hidden, %d]", wGate.Shape, in)
	}
	hidden = wGate.Shape[0]
	if !slices.Equal(wUp.Shape, wGate.Shape) {
		return 0, 0, 0, errs.New(errs.ShapeMismatch, "w_up: shape %v, want w_gate's %v", wUp.Shape, wGate.Shape)
	}
	want := append(slices.Clone(x.Shape[:x.NDim()-1]), hidden)
	if !slices.Equal(dout.Shape, want) {
		return 0, 0, 0, errs.New(errs.ShapeMismatch, "dout: shape %v, want %v", dout.Shape, want)
	}
	if dx != nil && !slices.Equal(dx.Shape, x.Shape) {
		return 0, 0, 0, errs.New(errs.ShapeMismatch, "dx: shape %v, want x's %v", dx.Shape, x.Shape)
	}
	for _, o := range []struct {
		name string
		t    *tensor.Tensor
	}{{"dw_gate", dwGate}, {"dw_up", dwUp}} {
		if o.t != nil && !slices.Equal(o.t.Shape, wGate.Shape) {
			return 0, 0, 0, errs.New(errs.ShapeMismatch, "%s: shape %v, want %v", o.name, o.t.Shape, wGate.Shape)
		}
	}
	for n, o := range outs {
		others := append(slices.Clone(ins), outs[:n]...)
		for _, y := range others {
			if tensor.SameView(o.T, y.T) && o.T.NumEl() > 0 {
				return 0, 0, 0, errs.New(errs.InvalidArgument, "%s overlaps %s", o.Name, y.Name)
			}
		}
		if err := tensor.CheckOutputOverlap(o, others...); err != nil {
			return 0, 0, 0, err
		}
	}
	return x.NumRows(), in, hidden, nil
}

// asF32 returns t as a row-major float32 [rows, n] tensor: t itself when it is one, a
// widened copy otherwise.
func asF32(t tensor.Tensor, rows, n int) tensor.Tensor {
	if t.DType == tensor.Float32 && t.NDim() == 2 && t.Strides[1] == 1 && t.Strides[0] == n {
		return t
	}
	return tensor.FromFloat32(loadRows(t, rows, n), rows, n)
}

// loadRows returns the rows of t (n elements each) as contiguous float32.
func loadRows(t tensor.Tensor, rows, n int) []float32 {
	out := make([]float32, rows*n)
	for r := range rows {
		t.LoadRow(t.RowOffset(r), out[r*n:(r+1)*n])
	}
	return out
}

// storeRows writes the float32 rows of src into t, rounding once to t's dtype.
func storeRows(t tensor.Tensor, src []float32, rows, n int) {
	for r := range rows {
		t.StoreRow(t.RowOffset(r), src[r*n:(r+1)*n])
	}
}
