package main

/*
#include "mlxprim.h"
*/
import "C"

import (
	"math"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/kernels/gemm"
	"github.com/mlxprim/mlxprim/core/kernels/mlp"
	"github.com/mlxprim/mlxprim/core/tensor"
)

//export mlxpgo_matmul_params_init
func mlxpgo_matmul_params_init(p *C.mlxp_matmul_params) (status C.mlxp_status) {
	defer guard(&status)
	if p == nil {
		return invalid("p is NULL")
	}
	d := gemm.DefaultParams()
	*p = C.mlxp_matmul_params{struct_size: C.size_t(unsafe.Sizeof(*p)), alpha: C.float(d.Alpha), beta: C.float(d.Beta)}
	return C.MLXP_OK
}

// matmulParams reads the fields the caller's struct_size covers over the defaults.
func matmulParams(p *C.mlxp_matmul_params) (gemm.Params, error) {
	out := gemm.DefaultParams()
	if p == nil {
		return out, nil
	}
	if err := checkStructSize("params", p.struct_size); err != nil {
		return out, err
	}
	var err error
	if paramsCover(p.struct_size, unsafe.Offsetof(p.trans_a), unsafe.Sizeof(p.trans_a)) {
		if out.TransA, err = boolField("trans_a", p.trans_a); err != nil {
			return out, err
		}
	}
	if paramsCover(p.struct_size, unsafe.Offsetof(p.trans_b), unsafe.Sizeof(p.trans_b)) {
		if out.TransB, err = boolField("trans_b", p.trans_b); err != nil {
			return out, err
		}
	}
	if paramsCover(p.struct_size, unsafe.Offsetof(p.alpha), unsafe.Sizeof(p.alpha)) {
		out.Alpha = float32(p.alpha)
	}
	if paramsCover(p.struct_size, unsafe.Offsetof(p.beta), unsafe.Sizeof(p.beta)) {
		out.Beta = float32(p.beta)
	}
	if !finite(out.Alpha) || !finite(out.Beta) {
		return out, errs.New(errs.InvalidArgument, "params.alpha and params.beta must be finite, got %v and %v", out.Alpha, out.Beta)
	}
	return out, nil
}

//export mlxpgo_matmul
func mlxpgo_matmul(a, b, c *C.mlxp_tensor, params *C.mlxp_matmul_params) (status C.mlxp_status) {
	defer guard(&status)
	p, err := matmulParams(params)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"a", "b", "c"}, a, b, c)
	if err != nil {
		return fail(err)
	}
	return result(gemm.Matmul(ts[0], ts[1], ts[2], p))
}

//export mlxpgo_linear
func mlxpgo_linear(x, w, bias, y *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"x", "w", "y"}, x, w, y)
	if err != nil {
		return fail(err)
	}
	b, err := optionalTensorArg("bias", bias)
	if err != nil {
		return fail(err)
	}
	return result(gemm.Linear(ts[0], ts[1], b, ts[2]))
}

//export mlxpgo_gated_linear
func mlxpgo_gated_linear(x, wGate, wUp *C.mlxp_tensor, activation C.int32_t, out *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	act, err := activationArg(activation)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"x", "w_gate", "w_up", "out"}, x, wGate, wUp, out)
	if err != nil {
		return fail(err)
	}
	return result(gemm.GatedLinear(ts[0], ts[1], ts[2], ts[3], kernels.GLURow(act)))
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

//export mlxpgo_gated_linear_backward
func mlxpgo_gated_linear_backward(x, wGate, wUp, dout *C.mlxp_tensor, activation C.int32_t, dx, dwGate, dwUp *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	act, err := activationArg(activation)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"x", "w_gate", "w_up", "dout"}, x, wGate, wUp, dout)
	if err != nil {
		return fail(err)
	}
	var outs [3]*tensor.Tensor
	for i, o := range []struct {
		name string
		t    *C.mlxp_tensor
	}{{"dx", dx}, {"dw_gate", dwGate}, {"dw_up", dwUp}} {
		if outs[i], err = optionalTensorArg(o.name, o.t); err != nil {
			return fail(err)
		}
	}
	return result(mlp.GatedLinearBackward(act, ts[0], ts[1], ts[2], ts[3], outs[0], outs[1], outs[2]))
}
