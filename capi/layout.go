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
	return map[string]uintptr{
		"mlxp_device.size":                 unsafe.Sizeof(d),
		"mlxp_device.device_type":          unsafe.Offsetof(d.device_type),
		"mlxp_device.device_id":            unsafe.Offsetof(d.device_id),
		"mlxp_dtype.size":                  unsafe.Sizeof(dt),
		"mlxp_dtype.code":                  unsafe.Offsetof(dt.code),
		"mlxp_dtype.bits":                  unsafe.Offsetof(dt.bits),
		"mlxp_dtype.lanes":                 unsafe.Offsetof(dt.lanes),
		"mlxp_tensor.size":                 unsafe.Sizeof(t),
		"mlxp_tensor.data":                 unsafe.Offsetof(t.data),
		"mlxp_tensor.device":               unsafe.Offsetof(t.device),
		"mlxp_tensor.ndim":                 unsafe.Offsetof(t.ndim),
		"mlxp_tensor.dtype":                unsafe.Offsetof(t.dtype),
		"mlxp_tensor.shape":                unsafe.Offsetof(t.shape),
		"mlxp_tensor.strides":              unsafe.Offsetof(t.strides),
		"mlxp_tensor.byte_offset":          unsafe.Offsetof(t.byte_offset),
		"mlxp_softmax_params.size":         unsafe.Sizeof(sp),
		"mlxp_softmax_params.struct_size":  unsafe.Offsetof(sp.struct_size),
		"mlxp_softmax_params.temperature":  unsafe.Offsetof(sp.temperature),
		"mlxp_softmax_params.log":          unsafe.Offsetof(sp.log),
		"mlxp_rms_norm_params.size":        unsafe.Sizeof(rp),
		"mlxp_rms_norm_params.struct_size": unsafe.Offsetof(rp.struct_size),
		"mlxp_rms_norm_params.eps":         unsafe.Offsetof(rp.eps),
	}
}
