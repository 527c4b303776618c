package kernels

import "github.com/mlxprim/mlxprim/core/tensor"

// LayerNormBackwardArgs are the tensors of LayerNormBackward. Weight, DResidualOut,
// DWeight and DBias are optional (nil means absent).
type LayerNormBackwardArgs struct {
	H            tensor.Tensor  // [..., D]: the rows the forward pass normalized (x, or its residual_out when a residual was fused)
	Weight       *tensor.Tensor // [D] as in the forward pass; 1 when absent
	DY           tensor.Tensor  // H's shape: the gradient of out
	DResidualOut *tensor.Tensor // H's shape: the gradient reaching residual_out from later layers; added to DX
	DX           tensor.Tensor  // H's shape: receives the gradient of h (which is also that of x and of residual)
	DWeight      *tensor.Tensor // [D]: receives sum over rows of dy * xhat
	DBias        *tensor.Tensor // [D]: receives sum over rows of dy
	Eps          float32        // as in the forward pass
}

// LayerNormBackward computes the gradients of out = xhat * weight + bias with
// xhat = (h - mean) * r, r = 1/sqrt(var + eps), row by row (D = row length,
// g = dy * weight):
//
//	dx = r * (g - mean(g) - xhat * mean(g * xhat))   (+ d_residual_out)
//	dweight = sum over rows of dy * xhat,  dbias = sum over rows of dy
//
// Tensors may have any float dtypes and strides; DX may be H, DY or DResidualOut itself;
// DWeight and DBias overlap nothing. Arithmetic is float32; the parameter gradients are
// summed in fixed chunks of rows added in chunk order (the same for any thread count).
func LayerNormBackward(a LayerNormBackwardArgs) error {
	if err := checkFloatRows("h", a.H); err != nil {
		return err
	}
	d := a.H.Shape[a.H.NDim()-1]
	params := []optTensor{{"weight", a.Weight}}
	grads := []optTensor{{"dweight", a.DWeight}, {"dbias", a.DBias}}
	if err := checkParams(d, append(params, grads...)...); err != nil {
		return err
	}
	if err := checkNormBackward(a.H, a.DY, a.DResidualOut, a.DX, params, grads, a.Eps); err != nil {
		return err
	}
	w := loadVector(rowOps(), a.Weight, d)
	n := float32(d)
	normBackwardRows(a.H, a.DY, a.DResidualOut, a.DX, []*tensor.Tensor{a.DWeight, a.DBias},
		func(k *rowKernels, dst, h, dy, _ []float32, parts [][]float32) {
			// Four passes over the row: mean, variance, the two sums of g, then dx and
			// the parameter gradients' parts.
			mean, r := meanRstd(k, h, a.Eps)
			sg, sgx := k.lnSums(h, dy, w, mean, r)
			mg, mgx := sg/n, sgx/n
			k.normGrad(dst, parts[0], parts[1], h, dy, w, mean, r, r, -r*mgx, -r*mg)
		})
	return nil
}
