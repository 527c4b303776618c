package tensor

import (
	"slices"

	"github.com/mlxprim/mlxprim/core/errs"
)

// BroadcastShapes returns the NumPy-style broadcast of shapes a and b: shapes are aligned
// at their last dimension, and each pair of sizes must be equal or contain a 1.
func BroadcastShapes(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 1; i <= n; i++ {
		da, db := 1, 1
		if i <= len(a) {
			da = a[len(a)-i]
		}
		if i <= len(b) {
			db = b[len(b)-i]
		}
		switch {
		case da == db || db == 1:
			out[n-i] = da
		case da == 1:
			out[n-i] = db
		default:
			return nil, errs.New(errs.ShapeMismatch, "shapes %v and %v do not broadcast (dimension %d: %d vs %d)", a, b, n-i, da, db)
		}
	}
	return out, nil
}

// BroadcastTo returns a view of t with the given shape: new leading dimensions and
// size-1 dimensions that grow get stride 0, so no data is copied. name is used in errors.
func BroadcastTo(name string, t Tensor, shape []int) (Tensor, error) {
	if len(shape) < len(t.Shape) {
		return Tensor{}, errs.New(errs.ShapeMismatch, "%s: shape %v cannot broadcast to fewer dimensions %v", name, t.Shape, shape)
	}
	lead := len(shape) - len(t.Shape)
	strides := make([]int, len(shape))
	for i := range t.Shape {
		switch d := t.Shape[i]; {
		case d == shape[lead+i]:
			strides[lead+i] = t.Strides[i]
		case d == 1:
			strides[lead+i] = 0
		default:
			return Tensor{}, errs.New(errs.ShapeMismatch, "%s: shape %v does not broadcast to %v", name, t.Shape, shape)
		}
	}
	return Tensor{Data: t.Data, DType: t.DType, Shape: slices.Clone(shape), Strides: strides}, nil
}
