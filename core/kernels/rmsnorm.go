package kernels

import (
	"math"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// DefaultRMSNormEps is the epsilon added to the mean square when none is given.
const DefaultRMSNormEps = 1e-6

// RMSNormArgs are the tensors of RMSNorm. Weight, Residual and ResidualOut are optional
// (nil means absent).
type RMSNormArgs struct {
	X           tensor.Tensor // [..., D]
	Weight      *tensor.Tensor
	Residual    *tensor.Tensor // added to X before normalizing
	Out         tensor.Tensor  // X's shape and dtype
	ResidualOut *tensor.Tensor // receives X + Residual (rounded to X's dtype)
	Eps         float32
}

// RMSNorm normalizes each row of the last axis: with h = x (+ residual, rounded to x's
// dtype as an unfused add would be), out = h / sqrt(mean(h^2) + eps) * weight.
// ResidualOut, when given, receives h. Outputs may be the same tensors as inputs.
func RMSNorm(a RMSNormArgs) error {
	if err := checkFloatRows("x", a.X); err != nil {
		return err
	}
	d := a.X.Shape[a.X.NDim()-1]
	inputs := []tensor.Named{{Name: "x", T: a.X}}
	if a.Weight != nil {
		if err := checkFloatRows("weight", *a.Weight); err != nil {
			return err
		}
		if a.Weight.NDim() != 1 || a.Weight.Shape[0] != d {
			return errs.New(errs.ShapeMismatch, "weight: shape %v, want [%d]", a.Weight.Shape, d)
		}
		inputs = append(inputs, tensor.Named{Name: "weight", T: *a.Weight})
	}
	if a.Residual != nil {
		if err := checkFloatRows("residual", *a.Residual); err != nil {
			return err
		}
		if err := checkSameShape("residual", *a.Residual, "x", a.X); err != nil {
			return err
		}
		inputs = append(inputs, tensor.Named{Name: "residual", T: *a.Residual})
	}
	outputs := []tensor.Named{{Name: "out", T: a.Out}}
	if a.ResidualOut != nil {
		outputs = append(outputs, tensor.Named{Name: "residual_out", T: *a.ResidualOut})
	}
	for _, named := range outputs {
		name, o := named.Name, named.T
		if err := checkFloatRows(name, o); err != nil {
			return err
		}
		if err := checkSameShape(name, o, "x", a.X); err != nil {
			return err
		}
		if o.DType != a.X.DType {
			return errs.New(errs.UnsupportedDtype, "%s: dtype %v differs from x dtype %v", name, o.DType, a.X.DType)
		}
		if err := tensor.CheckOutputOverlap(named, inputs...); err != nil {
			return err
		}
	}
	if a.ResidualOut != nil {
		// The two outputs must be disjoint: not even the same view (empty ones never clash).
		sameView := a.Out.NumEl() > 0 && tensor.SameView(outputs[0].T, outputs[1].T)
		if err := tensor.CheckOutputOverlap(outputs[1], outputs[0]); err != nil || sameView {
			return errs.New(errs.InvalidArgument, "residual_out overlaps out")
		}
	}
	if eps := float64(a.Eps); !(eps >= 0) || math.IsInf(eps, 0) {
		return errs.New(errs.InvalidArgument, "eps must be non-negative and finite, got %v", a.Eps)
	}

	var w []float32
	if a.Weight != nil {
		w = make([]float32, d)
		a.Weight.LoadRow(0, w)
	}
	cpu.ParallelFor(a.X.NumRows(), rowsPerChunk(d), func(lo, hi int) {
		h := make([]float32, d)
		var res []float32
		if a.Residual != nil {
			res = make([]float32, d)
		}
		for r := lo; r < hi; r++ {
			a.X.LoadRow(a.X.RowOffset(r), h)
			if res != nil {
				a.Residual.LoadRow(a.Residual.RowOffset(r), res)
				for j := range h {
					h[j] = tensor.Round(h[j]+res[j], a.X.DType)
				}
			}
			if a.ResidualOut != nil {
				a.ResidualOut.StoreRow(a.ResidualOut.RowOffset(r), h)
			}
			rmsNormRow(h, w, a.Eps)
			a.Out.StoreRow(a.Out.RowOffset(r), h)
		}
	})
	return nil
}

// rmsNormRow replaces h with h / sqrt(mean(h^2) + eps) * w (w nil means ones).
func rmsNormRow(h, w []float32, eps float32) {
	var ss float32
	for _, v := range h {
		ss += v * v
	}
	inv := float32(1 / math.Sqrt(float64(ss/float32(len(h))+eps)))
	for j := range h {
		h[j] *= inv
		if w != nil {
			h[j] *= w[j]
		}
	}
}
