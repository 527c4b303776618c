package gemm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// layout chooses the strides of a test tensor.
type layout int

const (
	rowMajor layout = iota
	padRev          // rows padded, last axis reversed (negative stride)
	rowsRev         // second-to-last axis reversed, last axis with stride 2
	layouts
)

func (l layout) String() string {
	return [...]string{"contiguous", "padded-reversed", "rows-reversed"}[l]
}

const guardByte = 0xA5

// buf is a tensor over Go memory with guard bytes around and between its elements.
type buf struct {
	mem []byte
	t   tensor.Tensor
}

func newBuf(dt tensor.DType, shape []int, l layout) *buf {
	nd := len(shape)
	strides := make([]int, nd)
	acc := 1
	for d := nd - 1; d >= 0; d-- {
		s := acc
		switch {
		case l == padRev && d == nd-1:
			s = -1
		case l == padRev && d == nd-2:
			s = acc + 3
		case l == rowsRev && d == nd-1:
			s = 2
		case l == rowsRev && d == nd-2:
			s = -(acc + 1)
		}
		strides[d] = s
		mag := s
		if mag < 0 {
			mag = -mag
		}
		acc += mag * max(shape[d]-1, 0)
		if l != rowMajor && d == nd-1 {
			acc++ // a gap after each row
		}
	}
	size := dt.Bits() / 8
	const margin = 64
	lo := 0
	for d, s := range strides {
		if s < 0 {
			lo += s * max(shape[d]-1, 0)
		}
	}
	b := &buf{mem: make([]byte, (acc+2*margin)*size+size)}
	for i := range b.mem {
		b.mem[i] = guardByte
	}
	base := unsafe.Pointer(&b.mem[(margin-lo)*size])
	b.t = tensor.Tensor{Data: base, DType: dt, Shape: slices.Clone(shape), Strides: strides}
	return b
}

// offsets returns the element offset of every element in row-major logical order.
func offsets(t tensor.Tensor) []int {
	n := t.NumEl()
	out := make([]int, 0, n)
	idx := make([]int, t.NDim())
	for range n {
		off := 0
		for d, i := range idx {
			off += i * t.Strides[d]
		}
		out = append(out, off)
		for d := t.NDim() - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

func unsafeAdd(p unsafe.Pointer, n int) unsafe.Pointer { return unsafe.Add(p, n) }

func (b *buf) elem(off int) unsafe.Pointer {
	return unsafe.Add(b.t.Data, off*b.t.DType.Bits()/8)
}

// fill stores values (rounded to the dtype) and returns what was stored, as float64.
func (b *buf) fill(values []float64) []float64 {
	for i, off := range offsets(b.t) {
		v := float32(values[i])
		p := b.elem(off)
		switch b.t.DType {
		case tensor.Float32:
			*(*float32)(p) = v
		case tensor.Float16:
			*(*uint16)(p) = tensor.F32ToF16(v)
		case tensor.BFloat16:
			*(*uint16)(p) = tensor.F32ToBF16(v)
		}
	}
	return b.read()
}

// read returns the elements in row-major logical order as float64.
func (b *buf) read() []float64 {
	offs := offsets(b.t)
	out := make([]float64, len(offs))
	for i, off := range offs {
		p := b.elem(off)
		switch b.t.DType {
		case tensor.Float32:
			out[i] = float64(*(*float32)(p))
		case tensor.Float16:
			out[i] = float64(tensor.F16ToF32(*(*uint16)(p)))
		case tensor.BFloat16:
			out[i] = float64(tensor.BF16ToF32(*(*uint16)(p)))
		}
	}
	return out
}

// bits returns the raw element bits in logical order (for bit-identity checks).
func (b *buf) bits() []uint32 {
	offs := offsets(b.t)
	out := make([]uint32, len(offs))
	for i, off := range offs {
		if b.t.DType == tensor.Float32 {
			out[i] = *(*uint32)(b.elem(off))
		} else {
			out[i] = uint32(*(*uint16)(b.elem(off)))
		}
	}
	return out
}

// checkGuards fails if any byte outside the elements changed.
func (b *buf) checkGuards(t *testing.T, name string) {
	t.Helper()
	inside := make([]bool, len(b.mem))
	size := b.t.DType.Bits() / 8
	start := int(uintptr(b.t.Data) - uintptr(unsafe.Pointer(&b.mem[0])))
	for _, off := range offsets(b.t) {
		for k := range size {
			inside[start+off*size+k] = true
		}
	}
	for i, v := range b.mem {
		if !inside[i] && v != guardByte {
			t.Fatalf("%s: guard byte %d changed to %#x", name, i, v)
		}
	}
}

// snapshot copies the whole backing memory (to check that a failed call wrote nothing).
func (b *buf) snapshot() []byte { return slices.Clone(b.mem) }

func normals(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// Tolerances. A float32 chain of K multiply-adds has error at most about K*u*S, with
// u = 2^-24 and S = sum_k |a_ik*b_kj| (each add rounds once, each product once more on
// the generic path); we allow (K+4)*u*S. Scaling by alpha, adding beta*c and the final
// rounding add a few u of the result, and a half-precision output adds its own half ulp
// (2^-11 relative for float16, 2^-8 for bfloat16) plus float16's subnormal spacing.
const u32 = 1.0 / (1 << 24)

func outUlp(dt tensor.DType) float64 {
	switch dt {
	case tensor.Float16:
		return 1.0 / (1 << 11)
	case tensor.BFloat16:
		return 1.0 / (1 << 8)
	}
	return 0
}

func tolerance(k int, sumAbs, extra, result float64, out tensor.DType) float64 {
	return float64(k+4)*u32*sumAbs + 4*u32*(extra+math.Abs(result)) + outUlp(out)*math.Abs(result) + 1e-7
}
