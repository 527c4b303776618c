// Package tensor describes strided views of memory: element types, shapes, strides,
// validation with typed errors, overlap checks, and float16/bfloat16 conversion.
// A Tensor never owns its memory; kernels read and write through it.
package tensor

import (
	"math"
	"slices"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
)

// MaxNDim is the largest number of dimensions a Tensor may have (MLXP_MAX_NDIM).
const MaxNDim = 16

// Tensor is a strided view of memory. Element [i0, ..., in] lives at
// Data + (i0*Strides[0] + ... + in*Strides[n]) * elementBytes. Strides are in elements
// and may be negative or zero. Int4 tensors are row-major contiguous, two per byte.
type Tensor struct {
	Data    unsafe.Pointer // address of element [0, ..., 0]; may be nil when NumEl() == 0
	DType   DType
	Shape   []int
	Strides []int // one per dimension, in elements
}

// RowMajorStrides returns the contiguous row-major strides of shape.
func RowMajorStrides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// FromFloat32 views a float32 slice as a row-major tensor of the given shape.
// It panics if len(data) differs from the product of shape (a programming error).
func FromFloat32(data []float32, shape ...int) Tensor {
	return fromSlice(unsafe.Pointer(unsafe.SliceData(data)), len(data), Float32, shape)
}

// FromUint16 views raw float16 or bfloat16 bit patterns as a row-major tensor.
func FromUint16(data []uint16, dt DType, shape ...int) Tensor {
	if dt != Float16 && dt != BFloat16 {
		panic("tensor: FromUint16 needs Float16 or BFloat16")
	}
	return fromSlice(unsafe.Pointer(unsafe.SliceData(data)), len(data), dt, shape)
}

func fromSlice(p unsafe.Pointer, n int, dt DType, shape []int) Tensor {
	if NumElOf(shape) != n {
		panic("tensor: slice length does not match shape")
	}
	return Tensor{Data: p, DType: dt, Shape: slices.Clone(shape), Strides: RowMajorStrides(shape)}
}

// NumElOf returns the product of shape (1 for an empty shape).
func NumElOf(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// NumEl returns the number of elements.
func (t Tensor) NumEl() int { return NumElOf(t.Shape) }

// NDim returns the number of dimensions.
func (t Tensor) NDim() int { return len(t.Shape) }

// Validate checks that t is well formed: a known dtype, at most MaxNDim dimensions,
// non-negative sizes, one stride per dimension, an addressable extent that does not
// overflow, non-nil data when there are elements, and int4 contiguity. name is the
// argument name used in error messages.
func (t Tensor) Validate(name string) error {
	if t.DType.Bits() == 0 {
		return errs.New(errs.UnsupportedDtype, "%s: unknown dtype", name)
	}
	if len(t.Shape) > MaxNDim {
		return errs.New(errs.InvalidArgument, "%s: ndim %d exceeds the maximum %d", name, len(t.Shape), MaxNDim)
	}
	if len(t.Strides) != len(t.Shape) {
		return errs.New(errs.InvalidArgument, "%s: %d strides for %d dimensions", name, len(t.Strides), len(t.Shape))
	}
	n := 1
	for i, d := range t.Shape {
		if d < 0 {
			return errs.New(errs.InvalidArgument, "%s: dimension %d has negative size %d", name, i, d)
		}
		if d != 0 && n > math.MaxInt64/d {
			return errs.New(errs.OutOfMemory, "%s: element count overflows", name)
		}
		n *= d
	}
	if n == 0 {
		return nil
	}
	if t.Data == nil {
		return errs.New(errs.InvalidArgument, "%s: data is NULL", name)
	}
	// The extent reachable from Data, in elements, must fit the address space
	// comfortably: 2^56 elements of at most 8 bytes stay below 2^63 bytes. Each term is
	// checked before it is formed, so that no product wraps around.
	const limit = 1 << 56
	var span uint64
	for i, d := range t.Shape {
		s := t.Strides[i]
		if s < -limit || s > limit {
			return errs.New(errs.InvalidArgument, "%s: stride %d of dimension %d is out of range", name, s, i)
		}
		if s < 0 {
			s = -s
		}
		if s != 0 && uint64(d-1) > limit/uint64(s) {
			return errs.New(errs.InvalidArgument, "%s: strides reach beyond the address space", name)
		}
		span += uint64(d-1) * uint64(s)
		if span > limit {
			return errs.New(errs.InvalidArgument, "%s: strides reach beyond the address space", name)
		}
	}
	if t.DType == Int4 {
		if !t.IsContiguous() || t.Shape[len(t.Shape)-1]%2 != 0 {
			return errs.New(errs.InvalidArgument, "%s: int4 tensors must be row-major contiguous with an even innermost size", name)
		}
	}
	return nil
}

// IsContiguous reports whether t is row-major contiguous (size-1 dimensions may have any
// stride).
func (t Tensor) IsContiguous() bool {
	acc := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] != 1 && t.Strides[i] != acc {
			return false
		}
		acc *= t.Shape[i]
	}
	return true
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b Tensor) bool { return slices.Equal(a.Shape, b.Shape) }

// SameView reports whether a and b describe exactly the same elements in the same order.
func SameView(a, b Tensor) bool {
	return a.Data == b.Data && a.DType == b.DType && slices.Equal(a.Shape, b.Shape) &&
		slices.Equal(a.Strides, b.Strides)
}

// byteRange returns the half-open address range [lo, hi) that t's elements occupy, or
// ok=false when t has no elements.
func (t Tensor) byteRange() (lo, hi uintptr, ok bool) {
	if t.NumEl() == 0 {
		return 0, 0, false
	}
	if t.DType == Int4 {
		base := uintptr(t.Data)
		return base, base + uintptr((t.NumEl()+1)/2), true
	}
	minOff, maxOff := 0, 0
	for i, d := range t.Shape {
		if s := t.Strides[i] * (d - 1); s < 0 {
			minOff += s
		} else {
			maxOff += s
		}
	}
	size := t.DType.Bits() / 8
	base := uintptr(t.Data)
	return base + uintptr(minOff*size), base + uintptr((maxOff+1)*size), true
}

// Named pairs a tensor with the argument name used in error messages.
type Named struct {
	Name string
	T    Tensor
}

// CheckOutputOverlap returns an InvalidArgument error when output out shares memory with
// any of others, unless it is the very same view (which computes in place). Overlap is
// judged on address ranges, so interleaved views of one buffer count as overlapping.
func CheckOutputOverlap(out Named, others ...Named) error {
	lo, hi, ok := out.T.byteRange()
	if !ok {
		return nil
	}
	for _, o := range others {
		olo, ohi, ok := o.T.byteRange()
		if !ok || SameView(out.T, o.T) {
			continue
		}
		if lo < ohi && olo < hi {
			return errs.New(errs.InvalidArgument, "%s overlaps %s without being the same tensor", out.Name, o.Name)
		}
	}
	return nil
}
