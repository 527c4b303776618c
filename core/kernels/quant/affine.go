package quant

import (
	"math"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// QuantizeAffine quantizes w [out, in] into MLX's affine format, as mx.quantize(w,
// group_size=group, bits=bits) does on the CPU: wq (Int32 [out, in*bits/32], the bits of
// MLX's uint32 words), scales and biases ([out, in/group], w's dtype). bits is 4 or 8,
// group 32, 64 or 128. Per group, in float32 (as MLX's CPU kernel):
//
//	mask  = |min| > |max|
//	s     = max((max - min) / (2^bits - 1), 1e-7), negated unless mask
//	edge  = mask ? min : max
//	q0    = rint(edge / s)
//	if q0 != 0 { s = edge / q0; b = edge } else { b = 0 }
//	q     = clamp(rint((w - b) / s), 0, 2^bits - 1)
//
// and scales and biases are s and b rounded to w's dtype. The results equal MLX 0.32.4's
// bit for bit. The one difference: MLX accepts non-finite weights, this function returns
// an InvalidArgument error and writes nothing. Degenerate groups follow MLX too: an
// all-zero or constant group dequantizes exactly, but a group whose values are all far
// below 1e-7 in magnitude dequantizes to zeros.
func QuantizeAffine(w, wq, scales, biases tensor.Tensor, group, bits int) error {
	out, in, err := checkWeights("w", w)
	if err != nil {
		return err
	}
	if err := checkBits(bits); err != nil {
		return err
	}
	if err := checkGroup(group, in); err != nil {
		return err
	}
	if err := checkAffineParams(out, in, group, bits, wq, scales, biases); err != nil {
		return err
	}
	if scales.DType != w.DType {
		return errs.New(errs.UnsupportedDtype, "scales: dtype %v differs from w dtype %v", scales.DType, w.DType)
	}
	outputs := []tensor.Named{{Name: "wq", T: wq}, {Name: "scales", T: scales}, {Name: "biases", T: biases}}
	if err := checkOutputs(outputs, []tensor.Named{{Name: "w", T: w}}); err != nil {
		return err
	}
	if err := checkFinite("w", w); err != nil {
		return err
	}
	nbins := float32(int(1)<<bits - 1)
	perWord := 32 / bits
	cpu.ParallelFor(out, max(1, 1<<14/in), func(lo, hi int) {
		v := make([]float32, in)
		for r := lo; r < hi; r++ {
			w.LoadRow(w.RowOffset(r), v)
			for g := 0; g < in/group; g++ {
				span := v[g*group : (g+1)*group]
				s, b := affineGroupParams(span, nbins)
				for k := 0; k < group/perWord; k++ {
					var word uint32
					for e, x := range span[k*perWord : (k+1)*perWord] {
						q := rint(float32(x-b) / s)
						q = min(max(q, 0), nbins)
						word |= uint32(q) << (e * bits)
					}
					col := (g*group)/perWord + k
					*(*uint32)(unsafe.Add(wq.Data, elemOffset(wq, r, col)*4)) = word
				}
				storeF32(scales, elemOffset(scales, r, g), s)
				storeF32(biases, elemOffset(biases, r, g), b)
			}
		}
	})
	return nil
}

// affineGroupParams is MLX's float32 choice of scale and bias for one group.
func affineGroupParams(v []float32, nbins float32) (s, b float32) {
	wmin, wmax := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, x := range v {
		wmin, wmax = min(wmin, x), max(wmax, x)
	}
	mask := abs32(wmin) > abs32(wmax)
	s = max(float32(wmax-wmin)/nbins, float32(1e-7))
	if !mask {
		s = -s
	}
	edge := wmax
	if mask {
		edge = wmin
	}
	if q0 := rint(edge / s); q0 != 0 {
		s = edge / q0
		b = edge
	}
	return s, b
}

// DequantizeAffine writes w = scales*q + biases into w [out, in] exactly as
// mx.dequantize(wq, scales, biases, group_size=group, bits=bits, dtype=w's dtype) does on
// the CPU: q times s rounded to the scales' dtype, plus b rounded to the scales' dtype,
// then converted to w's dtype. scales and biases share one float dtype, [out, in/group].
func DequantizeAffine(wq, scales, biases tensor.Tensor, group, bits int, w tensor.Tensor) error {
	if err := checkBits(bits); err != nil {
		return err
	}
	out, words, err := checkMatrix("wq", wq, tensor.Int32)
	if err != nil {
		return err
	}
	in := words * 32 / bits
	if err := checkGroup(group, in); err != nil {
		return err
	}
	if err := checkAffineParams(out, in, group, bits, wq, scales, biases); err != nil {
		return err
	}
	if err := checkFloat("w", w); err != nil {
		return err
	}
	if err := checkShape("w", w, out, in); err != nil {
		return err
	}
	inputs := []tensor.Named{{Name: "wq", T: wq}, {Name: "scales", T: scales}, {Name: "biases", T: biases}}
	if err := checkOutputs([]tensor.Named{{Name: "w", T: w}}, inputs); err != nil {
		return err
	}
	mask, perWord := uint32(1)<<bits-1, 32/bits
	dt := scales.DType
	cpu.ParallelFor(out, max(1, 1<<14/in), func(lo, hi int) {
		v := make([]float32, in)
		for r := lo; r < hi; r++ {
			for j := range v {
				word := *(*uint32)(unsafe.Add(wq.Data, elemOffset(wq, r, j/perWord)*4))
				q := float32(word >> (j % perWord * bits) & mask)
				s := loadF32(scales, elemOffset(scales, r, j/group))
				b := loadF32(biases, elemOffset(biases, r, j/group))
				// Two operations, each rounded to the scales' dtype; the explicit conversion
				// keeps the compiler from fusing them into one multiply-add.
				p := tensor.Round(float32(q*s), dt)
				v[j] = tensor.Round(float32(p+b), dt)
			}
			w.StoreRow(w.RowOffset(r), v)
		}
	})
	return nil
}

// checkBits accepts the bit widths the affine kernels implement.
func checkBits(bits int) error {
	if bits != 4 && bits != 8 {
		return errs.New(errs.InvalidArgument, "bits: %d is not 4 or 8", bits)
	}
	return nil
}

// checkAffineParams validates wq (Int32 [out, in*bits/32]) and scales and biases (one
// float dtype, [out, in/group]).
func checkAffineParams(out, in, group, bits int, wq, scales, biases tensor.Tensor) error {
	if err := checkTyped("wq", wq, tensor.Int32, out, in*bits/32); err != nil {
		return err
	}
	if err := checkFloat("scales", scales); err != nil {
		return err
	}
	if err := checkShape("scales", scales, out, in/group); err != nil {
		return err
	}
	if err := checkFloat("biases", biases); err != nil {
		return err
	}
	if biases.DType != scales.DType {
		return errs.New(errs.UnsupportedDtype, "biases: dtype %v differs from scales dtype %v", biases.DType, scales.DType)
	}
	return checkShape("biases", biases, out, in/group)
}

// rint rounds to the nearest integer, ties to even (C's rint in the default mode).
func rint(v float32) float32 { return float32(math.RoundToEven(float64(v))) }

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }
