package attention

import (
	"slices"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// narrow returns the view of t restricted to [lo, hi) along dim. An empty range keeps
// t's data pointer, so the view never points past the caller's memory.
func narrow(t tensor.Tensor, dim, lo, hi int) tensor.Tensor {
	v := t
	v.Shape = slices.Clone(t.Shape)
	v.Shape[dim] = hi - lo
	if hi > lo && lo != 0 {
		v.Data = unsafe.Add(t.Data, lo*t.Strides[dim]*t.DType.Bits()/8)
	}
	return v
}

// unsqueeze0 returns t with a leading dimension of size 1.
func unsqueeze0(t tensor.Tensor) tensor.Tensor {
	v := t
	v.Shape = append([]int{1}, t.Shape...)
	v.Strides = append([]int{0}, t.Strides...)
	return v
}
