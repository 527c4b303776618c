package main

/*
#include "mlxprim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/kernels"
)

//export mlxpgo_norm_params_init
func mlxpgo_norm_params_init(p *C.mlxp_norm_params) (status C.mlxp_status) {
	defer guard(&status)
	if p == nil {
		return invalid("p is NULL")
	}
	*p = C.mlxp_norm_params{struct_size: C.size_t(unsafe.Sizeof(*p)), eps: kernels.DefaultLayerNormEps, num_groups: 1}
	return C.MLXP_OK
}

// normParams reads eps and num_groups over the given defaults.
func normParams(p *C.mlxp_norm_params, eps float32) (float32, int, error) {
	groups := 1
	if p == nil {
		return eps, groups, nil
	}
	if err := checkStructSize("params", p.struct_size); err != nil {
		return 0, 0, err
	}
	if paramsCover(p.struct_size, unsafe.Offsetof(p.eps), unsafe.Sizeof(p.eps)) {
		eps = float32(p.eps)
	}
	if paramsCover(p.struct_size, unsafe.Offsetof(p.num_groups), unsafe.Sizeof(p.num_groups)) {
		groups = int(p.num_groups)
	}
	return eps, groups, nil
}

// normTensors converts the tensors shared by the forward norms.
func normTensors(x, weight, bias, residual, out, residualOut *C.mlxp_tensor) (a kernels.LayerNormArgs, err error) {
	if a.X, err = tensorArg("x", x); err != nil {
		return a, err
	}
	if a.Weight, err = optionalTensorArg("weight", weight); err != nil {
		return a, err
	}
	if a.Bias, err = optionalTensorArg("bias", bias); err != nil {
		return a, err
	}
	if a.Residual, err = optionalTensorArg("residual", residual); err != nil {
		return a, err
	}
	if a.Out, err = tensorArg("out", out); err != nil {
		return a, err
	}
	a.ResidualOut, err = optionalTensorArg("residual_out", residualOut)
	return a, err
}

//export mlxpgo_layer_norm
func mlxpgo_layer_norm(x, weight, bias, residual, out, residualOut *C.mlxp_tensor, params *C.mlxp_norm_params) (status C.mlxp_status) {
	defer guard(&status)
	eps, _, err := normParams(params, kernels.DefaultLayerNormEps)
	if err != nil {
		return fail(err)
	}
	a, err := normTensors(x, weight, bias, residual, out, residualOut)
	if err != nil {
		return fail(err)
	}
	a.Eps = eps
	return result(kernels.LayerNorm(a))
}

//export mlxpgo_group_norm
func mlxpgo_group_norm(x, weight, bias, residual, out, residualOut *C.mlxp_tensor, params *C.mlxp_norm_params) (status C.mlxp_status) {
	defer guard(&status)
	eps, groups, err := normParams(params, kernels.DefaultGroupNormEps)
	if err != nil {
		return fail(err)
	}
	a, err := normTensors(x, weight, bias, residual, out, residualOut)
	if err != nil {
		return fail(err)
	}
	return result(kernels.GroupNorm(kernels.GroupNormArgs{
		X: a.X, Groups: groups, Weight: a.Weight, Bias: a.Bias, Residual: a.Residual,
		Out: a.Out, ResidualOut: a.ResidualOut, Eps: eps,
	}))
}

// backwardArgs converts the tensors shared by the backward norms (dbias may be NULL and
// is not used by RMSNorm).
func backwardArgs(h, weight, dy, dResidualOut, dx, dweight, dbias *C.mlxp_tensor) (a kernels.LayerNormBackwardArgs, err error) {
	if a.H, err = tensorArg("h", h); err != nil {
		return a, err
	}
	if a.Weight, err = optionalTensorArg("weight", weight); err != nil {
		return a, err
	}
	if a.DY, err = tensorArg("dy", dy); err != nil {
		return a, err
	}
	if a.DResidualOut, err = optionalTensorArg("d_residual_out", dResidualOut); err != nil {
		return a, err
	}
	if a.DX, err = tensorArg("dx", dx); err != nil {
		return a, err
	}
	if a.DWeight, err = optionalTensorArg("dweight", dweight); err != nil {
		return a, err
	}
	a.DBias, err = optionalTensorArg("dbias", dbias)
	return a, err
}

//export mlxpgo_rms_norm_backward
func mlxpgo_rms_norm_backward(h, weight, dy, dResidualOut, dx, dweight *C.mlxp_tensor, params *C.mlxp_norm_params) (status C.mlxp_status) {
	defer guard(&status)
	eps, _, err := normParams(params, kernels.DefaultRMSNormEps)
	if err != nil {
		return fail(err)
	}
	a, err := backwardArgs(h, weight, dy, dResidualOut, dx, dweight, nil)
	if err != nil {
		return fail(err)
	}
	return result(kernels.RMSNormBackward(kernels.RMSNormBackwardArgs{
		H: a.H, Weight: a.Weight, DY: a.DY, DResidualOut: a.DResidualOut, DX: a.DX, DWeight: a.DWeight, Eps: eps,
	}))
}

//export mlxpgo_layer_norm_backward
func mlxpgo_layer_norm_backward(h, weight, dy, dResidualOut, dx, dweight, dbias *C.mlxp_tensor, params *C.mlxp_norm_params) (status C.mlxp_status) {
	defer guard(&status)
	eps, _, err := normParams(params, kernels.DefaultLayerNormEps)
	if err != nil {
		return fail(err)
	}
	a, err := backwardArgs(h, weight, dy, dResidualOut, dx, dweight, dbias)
	if err != nil {
		return fail(err)
	}
	a.Eps = eps
	return result(kernels.LayerNormBackward(a))
}

//export mlxpgo_group_norm_backward
func mlxpgo_group_norm_backward(h, weight, dy, dResidualOut, dx, dweight, dbias *C.mlxp_tensor, params *C.mlxp_norm_params) (status C.mlxp_status) {
	defer guard(&status)
	eps, groups, err := normParams(params, kernels.DefaultGroupNormEps)
	if err != nil {
		return fail(err)
	}
	a, err := backwardArgs(h, weight, dy, dResidualOut, dx, dweight, dbias)
	if err != nil {
		return fail(err)
	}
	return result(kernels.GroupNormBackward(kernels.GroupNormBackwardArgs{
		H: a.H, Groups: groups, Weight: a.Weight, DY: a.DY, DResidualOut: a.DResidualOut,
		DX: a.DX, DWeight: a.DWeight, DBias: a.DBias, Eps: eps,
	}))
}

//export mlxpgo_activation
func mlxpgo_activation(activation C.int32_t, x, out *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	act, err := activationArg(activation)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"x", "out"}, x, out)
	if err != nil {
		return fail(err)
	}
	return result(kernels.Activate(act, ts[0], ts[1]))
}

//export mlxpgo_activation_backward
func mlxpgo_activation_backward(activation C.int32_t, x, dy, dx *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	act, err := activationArg(activation)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"x", "dy", "dx"}, x, dy, dx)
	if err != nil {
		return fail(err)
	}
	return result(kernels.ActivateBackward(act, ts[0], ts[1], ts[2]))
}

//export mlxpgo_glu
func mlxpgo_glu(activation C.int32_t, gate, up, out *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	act, err := activationArg(activation)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"gate", "up", "out"}, gate, up, out)
	if err != nil {
		return fail(err)
	}
	return result(kernels.GLU(act, ts[0], ts[1], ts[2]))
}

//export mlxpgo_glu_backward
func mlxpgo_glu_backward(activation C.int32_t, gate, up, dout, dgate, dup *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	act, err := activationArg(activation)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"gate", "up", "dout", "dgate", "dup"}, gate, up, dout, dgate, dup)
	if err != nil {
		return fail(err)
	}
	return result(kernels.GLUBackward(act, ts[0], ts[1], ts[2], ts[3], ts[4]))
}

// activationArg maps an MLXP_ACT_* code to the kernels' activation kind.
func activationArg(code C.int32_t) (kernels.Activation, error) {
	switch code {
	case C.MLXP_ACT_SILU:
		return kernels.SiLU, nil
	case C.MLXP_ACT_GELU:
		return kernels.GELU, nil
	case C.MLXP_ACT_GELU_TANH:
		return kernels.GELUTanh, nil
	}
	return 0, errs.New(errs.InvalidArgument, "activation: unknown kind %d (MLXP_ACT_SILU 1, MLXP_ACT_GELU 2, MLXP_ACT_GELU_TANH 3)", code)
}
