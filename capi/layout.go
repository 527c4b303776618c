package main

/*
#include "mlxprim.h"
*/
import "C"

import "unsafe"

// cLayout lists the size of each public struct and the offset of each field as the Go
// toolchain's cgo sees them. A test compares it with a standalone C compile of the header
// (tests/c/abi_layout.c), so Go, C and C++ agree on every field the library reads.
func cLayout() map[string]uintptr {
	var t C.mlxp_tensor
	var d C.mlxp_device
	var dt C.mlxp_dtype
	var sp C.mlxp_softmax_params
	var rp C.mlxp_rms_norm_params
	var ro C.mlxp_rope_params
	var np C.mlxp_norm_params
	var mp C.mlxp_matmul_params
	var ap C.mlxp_attention_params
	return map[string]uintptr{
		"mlxp_device.size":                        unsafe.Sizeof(d),
		"mlxp_device.device_type":                 unsafe.Offsetof(d.device_type),
		"mlxp_device.device_id":                   unsafe.Offsetof(d.device_id),
		"mlxp_dtype.size":                         unsafe.Sizeof(dt),
		"mlxp_dtype.code":                         unsafe.Offsetof(dt.code),
		"mlxp_dtype.bits":                         unsafe.Offsetof(dt.bits),
		"mlxp_dtype.lanes":                        unsafe.Offsetof(dt.lanes),
		"mlxp_tensor.size":                        unsafe.Sizeof(t),
		"mlxp_tensor.data":                        unsafe.Offsetof(t.data),
		"mlxp_tensor.device":                      unsafe.Offsetof(t.device),
		"mlxp_tensor.ndim":                        unsafe.Offsetof(t.ndim),
		"mlxp_tensor.dtype":                       unsafe.Offsetof(t.dtype),
		"mlxp_tensor.shape":                       unsafe.Offsetof(t.shape),
		"mlxp_tensor.strides":                     unsafe.Offsetof(t.strides),
		"mlxp_tensor.byte_offset":                 unsafe.Offsetof(t.byte_offset),
		"mlxp_softmax_params.size":                unsafe.Sizeof(sp),
		"mlxp_softmax_params.struct_size":         unsafe.Offsetof(sp.struct_size),
		"mlxp_softmax_params.temperature":         unsafe.Offsetof(sp.temperature),
		"mlxp_softmax_params.log":                 unsafe.Offsetof(sp.log),
		"mlxp_rms_norm_params.size":               unsafe.Sizeof(rp),
		"mlxp_rms_norm_params.struct_size":        unsafe.Offsetof(rp.struct_size),
		"mlxp_rms_norm_params.eps":                unsafe.Offsetof(rp.eps),
		"mlxp_rope_params.size":                   unsafe.Sizeof(ro),
		"mlxp_rope_params.struct_size":            unsafe.Offsetof(ro.struct_size),
		"mlxp_rope_params.base":                   unsafe.Offsetof(ro.base),
		"mlxp_rope_params.rotary_dim":             unsafe.Offsetof(ro.rotary_dim),
		"mlxp_rope_params.pairing":                unsafe.Offsetof(ro.pairing),
		"mlxp_rope_params.layout":                 unsafe.Offsetof(ro.layout),
		"mlxp_rope_params.scaling":                unsafe.Offsetof(ro.scaling),
		"mlxp_rope_params.offset":                 unsafe.Offsetof(ro.offset),
		"mlxp_rope_params.factor":                 unsafe.Offsetof(ro.factor),
		"mlxp_rope_params.original_max_positions": unsafe.Offsetof(ro.original_max_positions),
		"mlxp_rope_params.beta_fast":              unsafe.Offsetof(ro.beta_fast),
		"mlxp_rope_params.beta_slow":              unsafe.Offsetof(ro.beta_slow),
		"mlxp_rope_params.attention_factor":       unsafe.Offsetof(ro.attention_factor),
		"mlxp_rope_params.mscale":                 unsafe.Offsetof(ro.mscale),
		"mlxp_rope_params.mscale_all_dim":         unsafe.Offsetof(ro.mscale_all_dim),
		"mlxp_rope_params.yarn_no_truncate":       unsafe.Offsetof(ro.yarn_no_truncate),
		"mlxp_rope_params.low_freq_factor":        unsafe.Offsetof(ro.low_freq_factor),
		"mlxp_rope_params.high_freq_factor":       unsafe.Offsetof(ro.high_freq_factor),
		"mlxp_rope_params.seq_len":                unsafe.Offsetof(ro.seq_len),
		"mlxp_rope_params.inverse":                unsafe.Offsetof(ro.inverse),
		"mlxp_norm_params.size":                   unsafe.Sizeof(np),
		"mlxp_norm_params.struct_size":            unsafe.Offsetof(np.struct_size),
		"mlxp_norm_params.eps":                    unsafe.Offsetof(np.eps),
		"mlxp_norm_params.num_groups":             unsafe.Offsetof(np.num_groups),
		"mlxp_matmul_params.size":                 unsafe.Sizeof(mp),
		"mlxp_matmul_params.struct_size":          unsafe.Offsetof(mp.struct_size),
		"mlxp_matmul_params.trans_a":              unsafe.Offsetof(mp.trans_a),
		"mlxp_matmul_params.trans_b":              unsafe.Offsetof(mp.trans_b),
		"mlxp_matmul_params.alpha":                unsafe.Offsetof(mp.alpha),
		"mlxp_matmul_params.beta":                 unsafe.Offsetof(mp.beta),
		"mlxp_attention_params.size":              unsafe.Sizeof(ap),
		"mlxp_attention_params.struct_size":       unsafe.Offsetof(ap.struct_size),
		"mlxp_attention_params.scale":             unsafe.Offsetof(ap.scale),
		"mlxp_attention_params.causal":            unsafe.Offsetof(ap.causal),
		"mlxp_attention_params.window_left":       unsafe.Offsetof(ap.window_left),
		"mlxp_attention_params.window_right":      unsafe.Offsetof(ap.window_right),
		"mlxp_attention_params.layout":            unsafe.Offsetof(ap.layout),
		"mlxp_attention_params.softcap":           unsafe.Offsetof(ap.softcap),
		"mlxp_attention_params.bias":              unsafe.Offsetof(ap.bias),
		"mlxp_attention_params.alibi_slopes":      unsafe.Offsetof(ap.alibi_slopes),
		"mlxp_attention_params.key_lengths":       unsafe.Offsetof(ap.key_lengths),
		"mlxp_attention_params.sinks":             unsafe.Offsetof(ap.sinks),
	}
}
