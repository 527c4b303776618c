package main

/*
#include "mlxprim.h"
*/
import "C"

import (
	"github.com/mlxprim/mlxprim/core/kernels/quant"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// tensorArgs converts several required tensor arguments at once, in order.
func tensorArgs(names []string, ts ...*C.mlxp_tensor) ([]tensor.Tensor, error) {
	out := make([]tensor.Tensor, len(ts))
	for i, t := range ts {
		v, err := tensorArg(names[i], t)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

//export mlxpgo_quantize_int8
func mlxpgo_quantize_int8(w, q, scales, zeros *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"w", "q", "scales"}, w, q, scales)
	if err != nil {
		return fail(err)
	}
	z, err := optionalTensorArg("zeros", zeros)
	if err != nil {
		return fail(err)
	}
	return result(quant.QuantizeInt8(ts[0], ts[1], ts[2], z))
}

//export mlxpgo_dequantize_int8
func mlxpgo_dequantize_int8(q, scales, zeros, w *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"q", "scales", "w"}, q, scales, w)
	if err != nil {
		return fail(err)
	}
	z, err := optionalTensorArg("zeros", zeros)
	if err != nil {
		return fail(err)
	}
	return result(quant.DequantizeInt8(ts[0], ts[1], z, ts[2]))
}

//export mlxpgo_quantize_int4
func mlxpgo_quantize_int4(w *C.mlxp_tensor, group C.int32_t, q, scales, zeros *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"w", "q", "scales"}, w, q, scales)
	if err != nil {
		return fail(err)
	}
	z, err := optionalTensorArg("zeros", zeros)
	if err != nil {
		return fail(err)
	}
	return result(quant.QuantizeInt4(ts[0], ts[1], ts[2], z, int(group)))
}

//export mlxpgo_dequantize_int4
func mlxpgo_dequantize_int4(q, scales, zeros *C.mlxp_tensor, group C.int32_t, w *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"q", "scales", "w"}, q, scales, w)
	if err != nil {
		return fail(err)
	}
	z, err := optionalTensorArg("zeros", zeros)
	if err != nil {
		return fail(err)
	}
	return result(quant.DequantizeInt4(ts[0], ts[1], z, int(group), ts[2]))
}

//export mlxpgo_quantize_affine
func mlxpgo_quantize_affine(w *C.mlxp_tensor, group, bits C.int32_t, wq, scales, biases *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"w", "wq", "scales", "biases"}, w, wq, scales, biases)
	if err != nil {
		return fail(err)
	}
	return result(quant.QuantizeAffine(ts[0], ts[1], ts[2], ts[3], int(group), int(bits)))
}

//export mlxpgo_dequantize_affine
func mlxpgo_dequantize_affine(wq, scales, biases *C.mlxp_tensor, group, bits C.int32_t, w *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"wq", "scales", "biases", "w"}, wq, scales, biases, w)
	if err != nil {
		return fail(err)
	}
	return result(quant.DequantizeAffine(ts[0], ts[1], ts[2], int(group), int(bits), ts[3]))
}

//export mlxpgo_int8_linear
func mlxpgo_int8_linear(x, q, scales, zeros, bias, y *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"x", "q", "scales", "y"}, x, q, scales, y)
	if err != nil {
		return fail(err)
	}
	z, err := optionalTensorArg("zeros", zeros)
	if err != nil {
		return fail(err)
	}
	b, err := optionalTensorArg("bias", bias)
	if err != nil {
		return fail(err)
	}
	return result(quant.Int8Linear(ts[0], ts[1], ts[2], z, b, ts[3]))
}

//export mlxpgo_int4_linear
func mlxpgo_int4_linear(x, q, scales, zeros *C.mlxp_tensor, group C.int32_t, bias, y *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"x", "q", "scales", "y"}, x, q, scales, y)
	if err != nil {
		return fail(err)
	}
	z, err := optionalTensorArg("zeros", zeros)
	if err != nil {
		return fail(err)
	}
	b, err := optionalTensorArg("bias", bias)
	if err != nil {
		return fail(err)
	}
	return result(quant.Int4Linear(ts[0], ts[1], ts[2], z, int(group), b, ts[3]))
}

//export mlxpgo_affine_linear
func mlxpgo_affine_linear(x, wq, scales, biases *C.mlxp_tensor, group, bits C.int32_t, bias, y *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"x", "wq", "scales", "biases", "y"}, x, wq, scales, biases, y)
	if err != nil {
		return fail(err)
	}
	b, err := optionalTensorArg("bias", bias)
	if err != nil {
		return fail(err)
	}
	return result(quant.AffineLinear(ts[0], ts[1], ts[2], ts[3], int(group), int(bits), b, ts[4]))
}
