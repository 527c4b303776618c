// Package kernels holds the numerical building blocks (softmax, normalization, ...).
// Each op validates its tensors, then runs a row kernel over the last axis in parallel.
// Rows are independent and each row is reduced in a fixed order, so results are
// bit-identical for any thread count and any batch composition.
package kernels

import (
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// rowGrain is how many elements one parallel chunk should cover at least. Waking a
// parked worker thread costs tens of microseconds when calls arrive from another runtime
// (a Python or C caller), so a chunk should hold more work than that: 64K elements take
// about 20 us for the memory-bound row ops.
const rowGrain = 1 << 16

// rowsPerChunk returns how many rows of length n make one parallel chunk.
func rowsPerChunk(n int) int { return max(1, rowGrain/max(n, 1)) }

// checkFloatRows validates a tensor used as a row input or output: well formed, a float
// dtype, at least one dimension and a non-empty last axis.
func checkFloatRows(name string, t tensor.Tensor) error {
	if err := t.Validate(name); err != nil {
		return err
	}
	if !t.DType.IsFloat() {
		return errs.New(errs.UnsupportedDtype, "%s: dtype %v is not float32, float16 or bfloat16", name, t.DType)
	}
	if t.NDim() == 0 {
		return errs.New(errs.ShapeMismatch, "%s: needs at least one dimension", name)
	}
	if t.Shape[t.NDim()-1] == 0 {
		return errs.New(errs.ShapeMismatch, "%s: the last axis is empty", name)
	}
	return nil
}

// checkSameShape reports a ShapeMismatch naming both tensors when their shapes differ.
func checkSameShape(name string, t tensor.Tensor, refName string, ref tensor.Tensor) error {
	if !tensor.SameShape(t, ref) {
		return errs.New(errs.ShapeMismatch, "%s: shape %v differs from %s shape %v", name, t.Shape, refName, ref.Shape)
	}
	return nil
}
