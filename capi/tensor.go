package main

/*
#include "mlxprim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// tensorArg converts a caller's mlxp_tensor into a core view after checking everything
// the descriptor itself can get wrong. name is the argument name for messages.
func tensorArg(name string, t *C.mlxp_tensor) (tensor.Tensor, error) {
	if t == nil {
		return tensor.Tensor{}, errs.New(errs.InvalidArgument, "%s is NULL", name)
	}
	if t.device.device_type != C.MLXP_DEVICE_CPU {
		return tensor.Tensor{}, errs.New(errs.InvalidArgument, "%s: device type %d is not the CPU (%d)", name, t.device.device_type, C.MLXP_DEVICE_CPU)
	}
	ndim := int(t.ndim)
	if ndim < 0 || ndim > tensor.MaxNDim {
		return tensor.Tensor{}, errs.New(errs.InvalidArgument, "%s: ndim %d is outside 0..%d", name, ndim, tensor.MaxNDim)
	}
	dt, err := tensor.FromDLPack(uint8(t.dtype.code), uint8(t.dtype.bits), uint16(t.dtype.lanes))
	if err != nil {
		return tensor.Tensor{}, errs.New(errs.KindOf(err), "%s: %v", name, err)
	}
	if ndim > 0 && t.shape == nil {
		return tensor.Tensor{}, errs.New(errs.InvalidArgument, "%s: shape is NULL with ndim %d", name, ndim)
	}
	out := tensor.Tensor{DType: dt, Shape: make([]int, ndim)}
	for i, d := range unsafe.Slice((*int64)(unsafe.Pointer(t.shape)), ndim) {
		out.Shape[i] = int(d)
	}
	if t.strides == nil {
		out.Strides = tensor.RowMajorStrides(out.Shape)
	} else {
		out.Strides = make([]int, ndim)
		for i, s := range unsafe.Slice((*int64)(unsafe.Pointer(t.strides)), ndim) {
			out.Strides[i] = int(s)
		}
	}
	if t.data != nil {
		out.Data = unsafe.Add(t.data, uintptr(t.byte_offset))
	}
	if err := out.Validate(name); err != nil {
		return tensor.Tensor{}, err
	}
	return out, nil
}

// optionalTensorArg is tensorArg for arguments that may be NULL (absent).
func optionalTensorArg(name string, t *C.mlxp_tensor) (*tensor.Tensor, error) {
	if t == nil {
		return nil, nil
	}
	v, err := tensorArg(name, t)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// paramsCover reports whether a params struct of structSize bytes, as declared by the
// caller, contains the field at offset with the given size. Fields beyond it keep their
// defaults, so callers built against an older header keep working.
func paramsCover(structSize C.size_t, offset, size uintptr) bool {
	return uintptr(structSize) >= offset+size
}

// checkStructSize rejects a params struct too small to hold even its struct_size field.
func checkStructSize(name string, structSize C.size_t) error {
	if uintptr(structSize) < unsafe.Sizeof(structSize) {
		return errs.New(errs.InvalidArgument, "%s: struct_size %d is too small; initialize it with its _params_init function", name, structSize)
	}
	return nil
}

// boolField reads a 0/1 flag of a params struct; any other value is an error naming it.
func boolField(name string, v C.int32_t) (bool, error) {
	if v != 0 && v != 1 {
		return false, errs.New(errs.InvalidArgument, "params.%s must be 0 or 1, got %d", name, v)
	}
	return v == 1, nil
}

// float32Values reads an optional 1-D float32 tensor argument into a Go slice (nil when
// the argument is NULL).
func float32Values(name string, t *C.mlxp_tensor) ([]float32, error) {
	v, err := vectorArg(name, t, tensor.Float32)
	if v == nil || err != nil {
		return nil, err
	}
	out := make([]float32, v.Shape[0])
	v.LoadRow(0, out)
	return out, nil
}

// int32Values reads an optional 1-D int32 tensor argument into a Go slice (nil when the
// argument is NULL).
func int32Values(name string, t *C.mlxp_tensor) ([]int32, error) {
	v, err := vectorArg(name, t, tensor.Int32)
	if v == nil || err != nil {
		return nil, err
	}
	out := make([]int32, v.Shape[0])
	for i := range out {
		out[i] = *(*int32)(unsafe.Add(v.Data, i*v.Strides[0]*4))
	}
	return out, nil
}

// vectorArg converts an optional 1-D tensor argument of dtype dt.
func vectorArg(name string, t *C.mlxp_tensor, dt tensor.DType) (*tensor.Tensor, error) {
	v, err := optionalTensorArg(name, t)
	if v == nil || err != nil {
		return nil, err
	}
	if v.DType != dt {
		return nil, errs.New(errs.UnsupportedDtype, "%s: dtype %v, want %v", name, v.DType, dt)
	}
	if v.NDim() != 1 {
		return nil, errs.New(errs.ShapeMismatch, "%s: shape %v, want one dimension", name, v.Shape)
	}
	return v, nil
}
