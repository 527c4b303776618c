package kernels

import "github.com/mlxprim/mlxprim/core/tensor"

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
// The mean square is a float32 sum of squares in a fixed order (rowKernels.sumSqDev).
func RMSNorm(a RMSNormArgs) error {
	if err := checkFloatRows("x", a.X); err != nil {
		return err
	}
	d := a.X.Shape[a.X.NDim()-1]
	if err := checkParams(d, optTensor{"weight", a.Weight}); err != nil {
		return err
	}
	if err := checkNormForward(a.X, []optTensor{{"weight", a.Weight}}, a.Residual, a.Out, a.ResidualOut, a.Eps); err != nil {
		return err
	}
	if a.X.NumEl() == 0 {
		return nil
	}
	w, eps := loadVector(rowOps(), a.Weight, d), a.Eps
	normRows(a.X, a.Residual, a.ResidualOut, a.Out, func(k *rowKernels, dst, h []float32) {
		r := rstd(k.sumSqDev(h, 0)/float32(d), eps)
		if w != nil {
			k.normAffine(dst, h, 0, r, w, nil)
		} else {
			k.scaleShift(dst, h, 0, r, 0)
		}
	})
	return nil
}
