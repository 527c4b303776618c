package quant

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// QuantizeInt8 quantizes w [out, in] (float32, float16 or bfloat16) per output row into
// q (Int8 [out, in]) and scales (Float32 [out]). With zeros nil the grid is symmetric;
// with zeros (Int32 [out]) it is asymmetric. The formulas are in the package
// documentation. Outputs may have any strides but must not overlap w or each other;
// nothing is written when an argument is invalid or w holds a non-finite value.
func QuantizeInt8(w, q, scales tensor.Tensor, zeros *tensor.Tensor) error {
	out, in, err := checkWeights("w", w)
	if err != nil {
		return err
	}
	if err := checkTyped("q", q, tensor.Int8, out, in); err != nil {
		return err
	}
	if err := checkTyped("scales", scales, tensor.Float32, out); err != nil {
		return err
	}
	outputs := []tensor.Named{{Name: "q", T: q}, {Name: "scales", T: scales}}
	if zeros != nil {
		if err := checkTyped("zeros", *zeros, tensor.Int32, out); err != nil {
			return err
		}
		outputs = append(outputs, tensor.Named{Name: "zeros", T: *zeros})
	}
	if err := checkOutputs(outputs, []tensor.Named{{Name: "w", T: w}}); err != nil {
		return err
	}
	if err := checkFinite("w", w); err != nil {
		return err
	}
	cpu.ParallelFor(out, max(1, 1<<14/in), func(lo, hi int) {
		v := make([]float32, in)
		codes := make([]int, in)
		for r := lo; r < hi; r++ {
			w.LoadRow(w.RowOffset(r), v)
			var s float32
			if zeros == nil {
				s = quantSym(v, 127, codes)
			} else {
				var z int
				s, z = quantAsym(v, -128, 127, codes)
				*(*int32)(unsafe.Add(zeros.Data, elemOffset(*zeros, r)*4)) = int32(z)
			}
			*(*float32)(unsafe.Add(scales.Data, elemOffset(scales, r)*4)) = s
			for j, c := range codes {
				*(*int8)(unsafe.Add(q.Data, elemOffset(q, r, j))) = int8(c)
			}
		}
	})
	return nil
}

// DequantizeInt8 writes ŵ = f32(q - z) * s (z = 0 when zeros is nil) into w [out, in],
// rounded once to w's float dtype.
func DequantizeInt8(q, scales tensor.Tensor, zeros *tensor.Tensor, w tensor.Tensor) error {
	out, in, err := checkMatrix("q", q, tensor.Int8)
	if err != nil {
		return err
	}
	if err := checkInt8Params(out, scales, zeros); err != nil {
		return err
	}
	if err := checkFloat("w", w); err != nil {
		return err
	}
	if err := checkShape("w", w, out, in); err != nil {
		return err
	}
	inputs := []tensor.Named{{Name: "q", T: q}, {Name: "scales", T: scales}}
	if zeros != nil {
		inputs = append(inputs, tensor.Named{Name: "zeros", T: *zeros})
	}
	if err := checkOutputs([]tensor.Named{{Name: "w", T: w}}, inputs); err != nil {
		return err
	}
	cpu.ParallelFor(out, max(1, 1<<14/max(in, 1)), func(lo, hi int) {
		v := make([]float32, in)
		for r := lo; r < hi; r++ {
			s, z := int8RowParams(r, scales, zeros)
			for j := range v {
				c := int32(*(*int8)(unsafe.Add(q.Data, elemOffset(q, r, j))))
				v[j] = float32(c-z) * s
			}
			w.StoreRow(w.RowOffset(r), v)
		}
	})
	return nil
}

// checkWeights validates a float weight matrix [out, in] with in > 0.
func checkWeights(name string, w tensor.Tensor) (out, in int, err error) {
	if err := checkFloat(name, w); err != nil {
		return 0, 0, err
	}
	if w.NDim() != 2 {
		return 0, 0, errs.New(errs.ShapeMismatch, "%s: shape %v, want [out, in]", name, w.Shape)
	}
	if w.Shape[1] == 0 {
		return 0, 0, errs.New(errs.ShapeMismatch, "%s: in_features must be positive", name)
	}
	return w.Shape[0], w.Shape[1], nil
}

// checkInt8Params validates per-row scales (Float32 [out]) and optional zeros (Int32 [out]).
func checkInt8Params(out int, scales tensor.Tensor, zeros *tensor.Tensor) error {
	if err := checkTyped("scales", scales, tensor.Float32, out); err != nil {
		return err
	}
	if zeros != nil {
		return checkTyped("zeros", *zeros, tensor.Int32, out)
	}
	return nil
}

// int8RowParams reads row r's scale and zero point (0 when zeros is nil).
func int8RowParams(r int, scales tensor.Tensor, zeros *tensor.Tensor) (float32, int32) {
	s := *(*float32)(unsafe.Add(scales.Data, elemOffset(scales, r)*4))
	var z int32
	if zeros != nil {
		z = *(*int32)(unsafe.Add(zeros.Data, elemOffset(*zeros, r)*4))
	}
	return s, z
}
