package kernels

import "github.com/mlxprim/mlxprim/core/tensor"

// DefaultLayerNormEps is the epsilon added to the variance when none is given.
const DefaultLayerNormEps = 1e-5

// LayerNormArgs are the tensors of LayerNorm. Weight, Bias, Residual and ResidualOut are
// optional (nil means absent).
type LayerNormArgs struct {
	X           tensor.Tensor  // [..., D]
	Weight      *tensor.Tensor // [D], any float dtype; 1 when absent
	Bias        *tensor.Tensor // [D], any float dtype; 0 when absent
	Residual    *tensor.Tensor // X's shape, any float dtype; added to X before normalizing
	Out         tensor.Tensor  // X's shape and dtype; may be X or Residual itself
	ResidualOut *tensor.Tensor // X's shape and dtype; receives h; may be X or Residual itself
	Eps         float32        // >= 0 and finite (DefaultLayerNormEps is the usual value)
}

// LayerNorm normalizes each row of the last axis: with h = x (+ residual, rounded to x's
// dtype as an unfused add would be),
//
//	out = (h - mean(h)) / sqrt(var(h) + eps) * weight + bias
//
// where var is the biased (population) variance. Statistics are two-pass float32 sums
// in a fixed order (mean first, then the sum of squared deviations from it), so a row
// gives the same bits for any thread count and any batch. ResidualOut, when given,
// receives h. The result is rounded once into out's dtype.
func LayerNorm(a LayerNormArgs) error {
	if err := checkFloatRows("x", a.X); err != nil {
		return err
	}
	d := a.X.Shape[a.X.NDim()-1]
	params := []optTensor{{"weight", a.Weight}, {"bias", a.Bias}}
	if err := checkParams(d, params...); err != nil {
		return err
	}
	if err := checkNormForward(a.X, params, a.Residual, a.Out, a.ResidualOut, a.Eps); err != nil {
		return err
	}
	if a.X.NumEl() == 0 {
		return nil
	}
	k := rowOps()
	w, b, eps := loadVector(k, a.Weight, d), loadVector(k, a.Bias, d), a.Eps
	normRows(a.X, a.Residual, a.ResidualOut, a.Out, func(k *rowKernels, dst, h []float32) {
		mean, r := meanRstd(k, h, eps)
		k.normAffine(dst, h, mean, r, w, b)
	})
	return nil
}

// meanRstd returns the mean of h and 1/sqrt(var + eps), var the biased variance,
// computed in two passes.
func meanRstd(k *rowKernels, h []float32, eps float32) (mean, r float32) {
	n := float32(len(h))
	mean = k.sum(h) / n
	return mean, rstd(k.sumSqDev(h, mean)/n, eps)
}
