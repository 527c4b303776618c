package kernels

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// FuzzValidation feeds arbitrary shapes, strides, offsets and dtypes through the ops'
// argument checks. Views that the harness itself proves lie inside its buffer are run;
// every call must either succeed or return a typed error, never panic.
// Run longer with: go test ./core/kernels -fuzz FuzzValidation -fuzztime 60s
func FuzzValidation(f *testing.F) {
	f.Add(uint8(1), int64(2), int64(3), int64(3), int64(1), int64(0), int64(0), false, float32(1))
	f.Add(uint8(2), int64(4), int64(8), int64(-8), int64(1), int64(56), int64(0), true, float32(0.5))
	f.Add(uint8(3), int64(0), int64(5), int64(5), int64(-1), int64(4), int64(2), true, float32(-1))
	f.Add(uint8(9), int64(1), int64(1), int64(0), int64(0), int64(0), int64(0), false, float32(2))
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, dt uint8, d0, d1, s0, s1, off, outShift int64, log bool, temp float32) {
	{
		const bytes = 2048
		buf := make([]uint32, bytes/4)
		base := unsafe.Pointer(&buf[0])
		x := tensor.Tensor{
			DType: tensor.DType(dt % 10), Shape: []int{int(d0 % 64), int(d1 % 64)},
			Strides: []int{int(s0 % 128), int(s1 % 128)},
		}
		size := max(x.DType.Bits()/8, 1)
		// Offsets stay integers until the harness has proven the view fits: a Go pointer
		// outside its allocation is itself invalid.
		xOff := int(uint64(off)%bytes) / size * size
		if !insideBuffer(x, xOff, bytes) {
			return
		}
		x.Data = unsafe.Add(base, xOff)
		out := x
		if outOff := xOff + int(uint64(outShift)%8)*size; insideBuffer(x, outOff, bytes) {
			out.Data = unsafe.Add(base, outOff)
		}
		check := func(err error) {
			var e *errs.Error
			if err != nil && !errors.As(err, &e) {
				t.Fatalf("untyped error %v", err)
			}
		}
		check(Softmax(x, out, SoftmaxParams{Temperature: temp, Log: log}))
		check(RMSNorm(RMSNormArgs{X: x, Out: out, Eps: temp}))
		check(LayerNorm(LayerNormArgs{X: x, Out: out, Eps: temp}))
		check(GroupNorm(GroupNormArgs{X: x, Groups: int(d1 % 4), Out: out, Eps: temp}))
		check(RMSNormBackward(RMSNormBackwardArgs{H: x, DY: x, DX: out, Eps: temp}))
		check(LayerNormBackward(LayerNormBackwardArgs{H: x, DY: x, DX: out, Eps: temp}))
		check(GroupNormBackward(GroupNormBackwardArgs{H: x, Groups: int(d0 % 3), DY: x, DX: out, Eps: temp}))
		check(Activate(GELU, x, out))
		check(ActivateBackward(SiLU, x, x, out))
		check(GLU(SiLU, x, x, out))
	}
}

// insideBuffer reports whether every element of t, placed at byte offset start of a
// buffer of n bytes, lies inside it: written independently of the library's own checks.
func insideBuffer(t tensor.Tensor, start, n int) bool {
	if start < 0 || start >= n {
		return false
	}
	if t.DType.Bits() == 0 { // unknown dtypes are rejected before any access
		return true
	}
	if t.DType.Bits() < 8 {
		return false
	}
	lo, hi := 0, 0
	for i, d := range t.Shape {
		if d < 0 {
			return true // rejected before any access
		}
		if d == 0 {
			return true // no element is accessed
		}
		span := (d - 1) * t.Strides[i]
		if span < 0 {
			lo += span
		} else {
			hi += span
		}
	}
	size := t.DType.Bits() / 8
	return start+lo*size >= 0 && start+(hi+1)*size <= n
}
