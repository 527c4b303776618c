// Package quant quantizes weight matrices and multiplies activations by quantized
// weights without ever materializing the float weights.
//
// A weight matrix w is [out, in]: one row per output feature, quantized along in.
// Three formats are supported.
//
// # int8, per output row (QuantizeInt8, DequantizeInt8, Int8Linear)
//
// q is Int8 [out, in], scales Float32 [out], zeros Int32 [out] (asymmetric only).
// Arithmetic is float64 on the float32-widened weights; each scale is rounded once to
// float32; rounding to an integer is to nearest, ties to even.
//
//   - symmetric: a = max|w|, s = max(f32(a/127), 2^-149), q = clamp(round(w/s), -127, 127),
//     and ŵ = f32(q) * s. -128 is never produced, and dequantizes as -128 when present.
//   - asymmetric: the range is widened to include zero, lo = min(0, min w),
//     hi = max(0, max w), so zero is exactly representable and the zero point is an int8
//     value; for rows that straddle zero (every realistic weight row) s is exactly
//     (max-min)/255. s = max(f32((hi-lo)/255), 2^-149), z = clamp(round(-128 - lo/s),
//     -128, 127), q = clamp(round(w/s) + z, -128, 127), and ŵ = f32(q - z) * s.
//     zeros are stored as Int32 holding values in [-128, 127].
//
// # int4, per group of 32, 64 or 128 along in (QuantizeInt4, DequantizeInt4, Int4Linear)
//
// q is Int4 [out, in] (in even, a multiple of the group): element 2i in the low nibble
// and 2i+1 in the high nibble of byte i of the row, (out*in)/2 bytes in all. scales are
// Float32 [out, in/group], zeros Uint8 [out, in/group] (asymmetric only).
//
//   - symmetric: the nibble is two's complement; quantization uses [-7, 7]
//     (s = max(f32(a/7), 2^-149), q = clamp(round(w/s), -7, 7), ŵ = f32(q) * s) so the
//     grid is symmetric; the nibble 0x8 dequantizes as -8.
//   - asymmetric: the nibble is unsigned 0..15 with a zero point z in 0..15, on the range
//     widened to include zero exactly as for int8: s = max(f32((hi-lo)/15), 2^-149),
//     z = clamp(round(-lo/s), 0, 15), q = clamp(round(w/s) + z, 0, 15), ŵ = f32(q - z) * s.
//
// Every code dequantizes to a finite value, even for weights at the top of the float32
// range: a symmetric scale is lowered by one ulp when qmax·s would overflow, and an
// asymmetric grid leaves out an extreme code whose f32(q - z)·s would overflow (such
// weights are then within one step, not half a step, of their code's value).
//
// Degenerate rows (int8) and groups (int4) whose elements are all equal to c get a finite
// scale and dequantize exactly to c: c = 0 gives s = 1, q = 0 (and z = 0); c != 0 gives
// s = |c| and the code one step from the zero point on c's side (symmetric q = ±1;
// int8 asymmetric z = 0, q = ±1; int4 asymmetric z = 0, q = 1 or z = 1, q = 0).
// Weights must be finite; a non-finite weight is an InvalidArgument error.
//
// # MLX affine (QuantizeAffine, DequantizeAffine, AffineLinear)
//
// The layout of mx.quantize(w, group_size, bits) (mode "affine"): wq [out, in*bits/32] of
// 32-bit words, element j of a row in word j/(32/bits) at bits bits*(j%(32/bits)) (bits 4:
// eight per word; bits 8: four per word), scales and biases [out, in/group] in w's float
// dtype, and w ≈ scales*q + biases with q unsigned. The tensor package has no uint32, so
// wq is an Int32 tensor holding the same bits. On a little-endian machine this makes the
// 4-bit layout byte-for-byte the int4 layout above (nibbles unsigned) and the 8-bit layout
// one unsigned byte per element. DequantizeAffine computes f(f(q*s) + b) with each
// operation rounded to the scales' dtype, as mx.dequantize does, bit for bit. Bits 4 and
// 8 and groups of 32, 64 and 128 are implemented (MLX also has 2, 3, 5 and 6 bits), for
// 2-D weights.
//
// # Linear layers
//
// Int8Linear, Int4Linear and AffineLinear compute y[..., r] = Σ_j x[..., j]·ŵ[r, j] + bias[r],
// accumulated in float32 in a fixed order and rounded once to y's dtype. ŵ is exactly the
// float32 value the matching Dequantize produces (for AffineLinear with half-precision
// scales: f32(f32(q*s) + b) with s and b widened to float32, which is how MLX's CPU
// quantized matmul dequantizes). Weights are decoded inside the dot-product kernels: int8
// by sign extension, convert and scale; 4-bit formats through a 16-entry table of the
// dequantized values per group. Work is split over output rows; every output element is
// one fixed-order dot product, so results are bit-identical for any thread count and a row
// of x gives the same bits alone or inside a batch.
package quant

import (
	"math"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Supported group sizes for the grouped formats (int4 and MLX affine).
var groupSizes = []int{32, 64, 128}

// minScale keeps every scale strictly positive (the smallest float32 subnormal, 2^-149).
const minScale = math.SmallestNonzeroFloat32

// checkGroup validates a group size against in_features.
func checkGroup(group, in int) error {
	ok := false
	for _, g := range groupSizes {
		ok = ok || g == group
	}
	if !ok {
		return errs.New(errs.InvalidArgument, "group_size: group size %d is not 32, 64 or 128", group)
	}
	if in%group != 0 {
		return errs.New(errs.InvalidArgument, "group_size: in_features %d is not a multiple of group size %d", in, group)
	}
	return nil
}

// checkMatrix validates a 2-D tensor of dtype dt and returns its shape.
func checkMatrix(name string, t tensor.Tensor, dt tensor.DType) (rows, cols int, err error) {
	if err := t.Validate(name); err != nil {
		return 0, 0, err
	}
	if t.DType != dt {
		return 0, 0, errs.New(errs.UnsupportedDtype, "%s: dtype %v, want %v", name, t.DType, dt)
	}
	if t.NDim() != 2 {
		return 0, 0, errs.New(errs.ShapeMismatch, "%s: shape %v, want 2 dimensions", name, t.Shape)
	}
	return t.Shape[0], t.Shape[1], nil
}

// checkFloat validates a tensor with a float dtype.
func checkFloat(name string, t tensor.Tensor) error {
	if err := t.Validate(name); err != nil {
		return err
	}
	if !t.DType.IsFloat() {
		return errs.New(errs.UnsupportedDtype, "%s: dtype %v is not float32, float16 or bfloat16", name, t.DType)
	}
	return nil
}

// checkShape reports a ShapeMismatch when t's shape is not want.
func checkShape(name string, t tensor.Tensor, want ...int) error {
	if len(t.Shape) != len(want) {
		return errs.New(errs.ShapeMismatch, "%s: shape %v, want %v", name, t.Shape, want)
	}
	for i := range want {
		if t.Shape[i] != want[i] {
			return errs.New(errs.ShapeMismatch, "%s: shape %v, want %v", name, t.Shape, want)
		}
	}
	return nil
}

// checkTyped validates t as dtype dt with the given shape.
func checkTyped(name string, t tensor.Tensor, dt tensor.DType, shape ...int) error {
	if err := t.Validate(name); err != nil {
		return err
	}
	if t.DType != dt {
		return errs.New(errs.UnsupportedDtype, "%s: dtype %v, want %v", name, t.DType, dt)
	}
	return checkShape(name, t, shape...)
}

// checkContiguous requires row-major contiguous storage (packed weights are read as rows
// of bytes).
func checkContiguous(name string, t tensor.Tensor) error {
	if !t.IsContiguous() {
		return errs.New(errs.InvalidArgument, "%s: must be row-major contiguous", name)
	}
	return nil
}

// checkOutputs rejects any output that overlaps an input or another output.
func checkOutputs(outputs []tensor.Named, inputs []tensor.Named) error {
	for i, o := range outputs {
		others := append(append([]tensor.Named{}, inputs...), outputs[:i]...)
		for _, p := range others {
			if o.T.NumEl() > 0 && p.T.NumEl() > 0 && tensor.SameView(o.T, p.T) {
				return errs.New(errs.InvalidArgument, "%s overlaps %s", o.Name, p.Name)
			}
		}
		if err := tensor.CheckOutputOverlap(o, others...); err != nil {
			return err
		}
	}
	return nil
}

// checkFinite scans a float matrix and reports its first non-finite element.
func checkFinite(name string, w tensor.Tensor) error {
	rows, cols := w.Shape[0], w.Shape[1]
	row := make([]float32, cols)
	for r := 0; r < rows; r++ {
		w.LoadRow(w.RowOffset(r), row)
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return errs.New(errs.InvalidArgument, "%s: element [%d, %d] is %v; weights must be finite", name, r, j, v)
			}
		}
	}
	return nil
}

// elemOffset returns the element offset of t at a 1-D or 2-D index.
func elemOffset(t tensor.Tensor, idx ...int) int {
	off := 0
	for i, v := range idx {
		off += v * t.Strides[i]
	}
	return off
}

// loadF32 reads one float element (any float dtype) at an element offset.
func loadF32(t tensor.Tensor, off int) float32 {
	switch t.DType {
	case tensor.Float16:
		return tensor.F16ToF32(*(*uint16)(unsafe.Add(t.Data, off*2)))
	case tensor.BFloat16:
		return tensor.BF16ToF32(*(*uint16)(unsafe.Add(t.Data, off*2)))
	}
	return *(*float32)(unsafe.Add(t.Data, off*4))
}

// storeF32 writes one float element at an element offset, rounding to t's dtype.
func storeF32(t tensor.Tensor, off int, v float32) {
	switch t.DType {
	case tensor.Float16:
		*(*uint16)(unsafe.Add(t.Data, off*2)) = tensor.F32ToF16(v)
	case tensor.BFloat16:
		*(*uint16)(unsafe.Add(t.Data, off*2)) = tensor.F32ToBF16(v)
	default:
		*(*float32)(unsafe.Add(t.Data, off*4)) = v
	}
}

// roundClamp rounds v to the nearest integer, ties to even, and clamps it to [lo, hi].
func roundClamp(v float64, lo, hi int) int {
	r := math.RoundToEven(v)
	if r < float64(lo) {
		return lo
	}
	if r > float64(hi) {
		return hi
	}
	return int(r)
}

// rowStats returns the minimum, maximum and maximum magnitude of a row, and whether all
// of its elements are equal.
func rowStats(v []float32) (lo, hi, amax float64, constant bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	constant = true
	for _, x := range v {
		f := float64(x)
		lo, hi = math.Min(lo, f), math.Max(hi, f)
		amax = math.Max(amax, math.Abs(f))
		constant = constant && x == v[0]
	}
	return lo, hi, amax, constant
}
