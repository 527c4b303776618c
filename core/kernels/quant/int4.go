package quant

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// QuantizeInt4 quantizes w [out, in] (float32, float16 or bfloat16) per group of group
// (32, 64 or 128) elements along in into q (Int4 [out, in], two per byte, element 2i in
// the low nibble) and scales (Float32 [out, in/group]). With zeros nil the grid is
// symmetric two's complement [-7, 7]; with zeros (Uint8 [out, in/group]) it is unsigned
// 0..15 with a zero point. in must be even and a multiple of group. Outputs must not
// overlap w or each other; nothing is written when an argument is invalid or w holds a
// non-finite value.
func QuantizeInt4(w, q, scales tensor.Tensor, zeros *tensor.Tensor, group int) error {
	out, in, err := checkWeights("w", w)
	if err != nil {
		return err
	}
	if in%2 != 0 {
		return errs.New(errs.InvalidArgument, "w: in_features %d is odd; int4 packs two elements per byte", in)
	}
	if err := checkGroup(group, in); err != nil {
		return err
	}
	if err := checkInt4Params(out, in, group, q, scales, zeros); err != nil {
		return err
	}
	outputs := []tensor.Named{{Name: "q", T: q}, {Name: "scales", T: scales}}
	if zeros != nil {
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
			for g := 0; g < in/group; g++ {
				span := v[g*group : (g+1)*group]
				c := codes[g*group : (g+1)*group]
				var s float32
				if zeros == nil {
					s = quantSym(span, 7, c)
				} else {
					var z int
					s, z = quantAsym(span, 0, 15, c)
					*(*uint8)(unsafe.Add(zeros.Data, elemOffset(*zeros, r, g))) = uint8(z)
				}
				*(*float32)(unsafe.Add(scales.Data, elemOffset(scales, r, g)*4)) = s
			}
			row := unsafe.Slice((*byte)(unsafe.Add(q.Data, r*in/2)), in/2)
			for i := range row {
				row[i] = byte(codes[2*i])&15 | byte(codes[2*i+1])<<4
			}
		}
	})
	return nil
}

// DequantizeInt4 writes the dequantized weights into w [out, in], rounded once to w's
// float dtype: ŵ = f32(q) * s for the symmetric format (zeros nil, nibbles two's
// complement) and ŵ = f32(q - z) * s for the asymmetric one (nibbles unsigned).
func DequantizeInt4(q, scales tensor.Tensor, zeros *tensor.Tensor, group int, w tensor.Tensor) error {
	out, in, err := checkMatrix("q", q, tensor.Int4)
	if err != nil {
		return err
	}
	if err := checkGroup(group, in); err != nil {
		return err
	}
	if err := checkInt4Params(out, in, group, q, scales, zeros); err != nil {
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
		tab := make([]float32, 16)
		for r := lo; r < hi; r++ {
			row := unsafe.Slice((*byte)(unsafe.Add(q.Data, r*in/2)), in/2)
			for g := 0; g < in/group; g++ {
				int4Table(tab, r, g, scales, zeros)
				for j := g * group; j < (g+1)*group; j += 2 {
					b := row[j/2]
					v[j], v[j+1] = tab[b&15], tab[b>>4]
				}
			}
			w.StoreRow(w.RowOffset(r), v)
		}
	})
	return nil
}

// checkInt4Params validates q (Int4 [out, in]), scales (Float32 [out, in/group]) and the
// optional zeros (Uint8 [out, in/group]).
func checkInt4Params(out, in, group int, q, scales tensor.Tensor, zeros *tensor.Tensor) error {
	if err := checkTyped("q", q, tensor.Int4, out, in); err != nil {
		return err
	}
	if err := checkTyped("scales", scales, tensor.Float32, out, in/group); err != nil {
		return err
	}
	if zeros != nil {
		return checkTyped("zeros", *zeros, tensor.Uint8, out, in/group)
	}
	return nil
}

// int4Table fills tab[k] with the dequantized value of nibble k in group g of row r.
func int4Table(tab []float32, r, g int, scales tensor.Tensor, zeros *tensor.Tensor) {
	s := *(*float32)(unsafe.Add(scales.Data, elemOffset(scales, r, g)*4))
	if zeros == nil {
		for k := range 16 {
			tab[k] = float32(signedNibble(byte(k))) * s
		}
		return
	}
	z := int32(*(*uint8)(unsafe.Add(zeros.Data, elemOffset(*zeros, r, g))))
	for k := range 16 {
		tab[k] = float32(int32(k)-z) * s
	}
}

// signedNibble decodes a two's complement nibble (0x8..0xF are -8..-1).
func signedNibble(n byte) int32 { return int32(int8(n<<4) >> 4) }
