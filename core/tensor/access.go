package tensor

import "unsafe"

// Element access for the plain-Go kernels: rows of the last axis are gathered into
// float32 scratch and scattered back, so every float dtype and any strides share one path.

// RowOffset returns the element offset of the first element of row r, where rows
// enumerate all dimensions but the last in row-major order.
func (t Tensor) RowOffset(r int) int {
	off := 0
	for i := len(t.Shape) - 2; i >= 0; i-- {
		d := t.Shape[i]
		off += (r % d) * t.Strides[i]
		r /= d
	}
	return off
}

// NumRows returns the number of rows of the last axis (the product of all other sizes).
func (t Tensor) NumRows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return NumElOf(t.Shape[:len(t.Shape)-1])
}

// LoadRow reads the n elements of the last axis starting at element offset off into dst,
// widened to float32. t must have a float dtype.
func (t Tensor) LoadRow(off int, dst []float32) {
	step := 0
	if len(t.Strides) > 0 {
		step = t.Strides[len(t.Strides)-1]
	}
	switch t.DType {
	case Float32:
		if step == 1 && len(dst) > 0 {
			copy(dst, unsafe.Slice((*float32)(unsafe.Add(t.Data, off*4)), len(dst)))
			return
		}
		for j := range dst {
			dst[j] = *(*float32)(unsafe.Add(t.Data, (off+j*step)*4))
		}
	case Float16:
		for j := range dst {
			dst[j] = F16ToF32(*(*uint16)(unsafe.Add(t.Data, (off+j*step)*2)))
		}
	case BFloat16:
		for j := range dst {
			dst[j] = BF16ToF32(*(*uint16)(unsafe.Add(t.Data, (off+j*step)*2)))
		}
	default:
		panic("tensor: LoadRow needs a float dtype")
	}
}

// StoreRow writes src into the row starting at element offset off, rounding to t's dtype.
func (t Tensor) StoreRow(off int, src []float32) {
	step := 0
	if len(t.Strides) > 0 {
		step = t.Strides[len(t.Strides)-1]
	}
	switch t.DType {
	case Float32:
		if step == 1 && len(src) > 0 {
			copy(unsafe.Slice((*float32)(unsafe.Add(t.Data, off*4)), len(src)), src)
			return
		}
		for j, v := range src {
			*(*float32)(unsafe.Add(t.Data, (off+j*step)*4)) = v
		}
	case Float16:
		for j, v := range src {
			*(*uint16)(unsafe.Add(t.Data, (off+j*step)*2)) = F32ToF16(v)
		}
	case BFloat16:
		for j, v := range src {
			*(*uint16)(unsafe.Add(t.Data, (off+j*step)*2)) = F32ToBF16(v)
		}
	default:
		panic("tensor: StoreRow needs a float dtype")
	}
}

// Round returns v rounded to the precision of the float dtype dt (identity for Float32).
func Round(v float32, dt DType) float32 {
	switch dt {
	case Float16:
		return F16ToF32(F32ToF16(v))
	case BFloat16:
		return BF16ToF32(F32ToBF16(v))
	}
	return v
}
