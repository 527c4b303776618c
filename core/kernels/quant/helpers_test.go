package quant

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

var floatTypes = []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16}

// unitRoundoff is half an ulp at 1 for each float dtype (the relative error of one
// rounding to that dtype).
var unitRoundoff = map[tensor.DType]float64{
	tensor.Float32: 0x1p-24, tensor.Float16: 0x1p-11, tensor.BFloat16: 0x1p-8,
}

// tinyAbs is half the smallest subnormal of each dtype: the absolute error of one
// rounding near zero.
var tinyAbs = map[tensor.DType]float64{
	tensor.Float32: 0x1p-150, tensor.Float16: 0x1p-25, tensor.BFloat16: 0x1p-134,
}

// guardByte fills every byte of a test buffer that is not an element of its tensor.
const guardByte = 0xA5

// buf is a tensor in Go memory surrounded (and, when strided, interleaved) with guard
// bytes. Strided buffers reverse the last axis with stride -2 and pad the rows.
type buf struct {
	mem []byte
	t   tensor.Tensor
}

func newBuf(dt tensor.DType, shape []int, strided bool) *buf {
	size := max(dt.Bits()/8, 1)
	n := max(tensor.NumElOf(shape), 1)
	const margin = 64
	words := make([]uint64, (2*n*size+2*margin)/8+2)
	b := &buf{mem: unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)}
	for i := range b.mem {
		b.mem[i] = guardByte
	}
	base := unsafe.Pointer(&b.mem[margin])
	strides := tensor.RowMajorStrides(shape)
	if strided && len(shape) > 0 && dt != tensor.Int4 {
		last := shape[len(shape)-1]
		strides[len(shape)-1] = -2
		acc := 2 * last
		for i := len(shape) - 2; i >= 0; i-- {
			strides[i] = acc
			acc *= shape[i]
		}
		base = unsafe.Add(base, 2*max(last-1, 0)*size)
	}
	b.t = tensor.Tensor{Data: base, DType: dt, Shape: slices.Clone(shape), Strides: strides}
	return b
}

// ptr returns the address of element idx (row-major index over all dimensions).
func (b *buf) ptr(idx int) unsafe.Pointer {
	off := 0
	for i := len(b.t.Shape) - 1; i >= 0; i-- {
		off += idx % b.t.Shape[i] * b.t.Strides[i]
		idx /= b.t.Shape[i]
	}
	return unsafe.Add(b.t.Data, off*b.t.DType.Bits()/8)
}

// setFloats stores values (rounded to the dtype) and returns what was stored.
func (b *buf) setFloats(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		storeF32(tensor.Tensor{Data: b.ptr(i), DType: b.t.DType}, 0, float32(x))
		out[i] = float64(loadF32(tensor.Tensor{Data: b.ptr(i), DType: b.t.DType}, 0))
	}
	return out
}

func (b *buf) floats() []float64 {
	out := make([]float64, b.t.NumEl())
	for i := range out {
		out[i] = float64(loadF32(tensor.Tensor{Data: b.ptr(i), DType: b.t.DType}, 0))
	}
	return out
}

func (b *buf) setInt(i, v int) {
	switch b.t.DType {
	case tensor.Int8:
		*(*int8)(b.ptr(i)) = int8(v)
	case tensor.Uint8:
		*(*uint8)(b.ptr(i)) = uint8(v)
	case tensor.Int32:
		*(*int32)(b.ptr(i)) = int32(v)
	default:
		panic("setInt: " + b.t.DType.String())
	}
}

func (b *buf) int(i int) int {
	switch b.t.DType {
	case tensor.Int8:
		return int(*(*int8)(b.ptr(i)))
	case tensor.Uint8:
		return int(*(*uint8)(b.ptr(i)))
	case tensor.Int32:
		return int(*(*int32)(b.ptr(i)))
	}
	panic("int: " + b.t.DType.String())
}

// bytes returns the packed storage of an Int4 buffer.
func (b *buf) bytes() []byte {
	return unsafe.Slice((*byte)(b.t.Data), (b.t.NumEl()+1)/2)
}

// snapshot copies the whole backing memory (elements and guards).
func (b *buf) snapshot() []byte { return slices.Clone(b.mem) }

// checkGuards fails when a byte outside the tensor's elements differs from the guard.
func (b *buf) checkGuards(t *testing.T, what string) {
	t.Helper()
	inside := make([]bool, len(b.mem))
	size := max(b.t.DType.Bits()/8, 1)
	start := uintptr(unsafe.Pointer(&b.mem[0]))
	if b.t.DType == tensor.Int4 {
		for i := range b.bytes() {
			inside[uintptr(b.t.Data)-start+uintptr(i)] = true
		}
	} else {
		for i := range b.t.NumEl() {
			p := uintptr(b.ptr(i)) - start
			for k := range size {
				inside[p+uintptr(k)] = true
			}
		}
	}
	for i, v := range b.mem {
		if !inside[i] && v != guardByte {
			t.Fatalf("%s: stray write at byte %d of the buffer", what, i)
		}
	}
}

func randNormal(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

// forEachISA runs body once per available kernel path, as subtests.
func forEachISA(t *testing.T, body func(t *testing.T)) {
	for _, isa := range cpu.Available() {
		t.Run(isa.String(), func(t *testing.T) {
			defer cpu.UseISA(isa)()
			body(t)
		})
	}
}

// wantKind fails unless err has the given kind.
func wantKind(t *testing.T, what string, err error, kind errs.Kind) {
	t.Helper()
	if err == nil || errs.KindOf(err) != kind {
		t.Errorf("%s: got %v (kind %v), want kind %v", what, err, errs.KindOf(err), kind)
	}
}

// unchanged fails when any buffer's memory differs from its snapshot.
func unchanged(t *testing.T, what string, bufs []*buf, snaps [][]byte) {
	t.Helper()
	for i, b := range bufs {
		if !bytes.Equal(b.mem, snaps[i]) {
			t.Errorf("%s: buffer %d was written", what, i)
		}
	}
}

func name(parts ...any) string { return fmt.Sprint(parts...) }

func isFinite32(v float32) bool {
	return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
}
