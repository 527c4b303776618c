package main

/*
#include "mlxprim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/kernels"
)

//export mlxpgo_softmax_params_init
func mlxpgo_softmax_params_init(p *C.mlxp_softmax_params) (status C.mlxp_status) {
	defer guard(&status)
	if p == nil {
		return invalid("p is NULL")
	}
	d := kernels.DefaultSoftmaxParams()
	*p = C.mlxp_softmax_params{struct_size: C.size_t(unsafe.Sizeof(*p)), temperature: C.float(d.Temperature)}
	return C.MLXP_OK
}

// softmaxParams reads the fields the caller's struct_size covers over the defaults.
func softmaxParams(p *C.mlxp_softmax_params) (kernels.SoftmaxParams, error) {
	out := kernels.DefaultSoftmaxParams()
	if p == nil {
		return out, nil
	}
	if err := checkStructSize("params", p.struct_size); err != nil {
		return out, err
	}
	if paramsCover(p.struct_size, unsafe.Offsetof(p.temperature), unsafe.Sizeof(p.temperature)) {
		out.Temperature = float32(p.temperature)
	}
	if paramsCover(p.struct_size, unsafe.Offsetof(p.log), unsafe.Sizeof(p.log)) {
		v, err := boolField("log", p.log)
		if err != nil {
			return out, err
		}
		out.Log = v
	}
	return out, nil
}

//export mlxpgo_softmax
func mlxpgo_softmax(x, out *C.mlxp_tensor, params *C.mlxp_softmax_params) (status C.mlxp_status) {
	defer guard(&status)
	p, err := softmaxParams(params)
	if err != nil {
		return fail(err)
	}
	xt, err := tensorArg("x", x)
	if err != nil {
		return fail(err)
	}
	ot, err := tensorArg("out", out)
	if err != nil {
		return fail(err)
	}
	return result(kernels.Softmax(xt, ot, p))
}

//export mlxpgo_rms_norm_params_init
func mlxpgo_rms_norm_params_init(p *C.mlxp_rms_norm_params) (status C.mlxp_status) {
	defer guard(&status)
	if p == nil {
		return invalid("p is NULL")
	}
	*p = C.mlxp_rms_norm_params{struct_size: C.size_t(unsafe.Sizeof(*p)), eps: kernels.DefaultRMSNormEps}
	return C.MLXP_OK
}

//export mlxpgo_rms_norm
func mlxpgo_rms_norm(x, weight, residual, out, residualOut *C.mlxp_tensor, params *C.mlxp_rms_norm_params) (status C.mlxp_status) {
	defer guard(&status)
	args := kernels.RMSNormArgs{Eps: kernels.DefaultRMSNormEps}
	if params != nil {
		if err := checkStructSize("params", params.struct_size); err != nil {
			return fail(err)
		}
		if paramsCover(params.struct_size, unsafe.Offsetof(params.eps), unsafe.Sizeof(params.eps)) {
			args.Eps = float32(params.eps)
		}
	}
	var err error
	if args.X, err = tensorArg("x", x); err != nil {
		return fail(err)
	}
	if args.Weight, err = optionalTensorArg("weight", weight); err != nil {
		return fail(err)
	}
	if args.Residual, err = optionalTensorArg("residual", residual); err != nil {
		return fail(err)
	}
	if args.Out, err = tensorArg("out", out); err != nil {
		return fail(err)
	}
	if args.ResidualOut, err = optionalTensorArg("residual_out", residualOut); err != nil {
		return fail(err)
	}
	return result(kernels.RMSNorm(args))
}
