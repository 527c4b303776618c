package tensor

import (
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
)

func TestFromDLPack(t *testing.T) {
	for _, dt := range []DType{Float32, Float16, BFloat16, Int8, Uint8, Int32, Int64, Bool, Int4} {
		code, bits := dt.DLPack()
		got, err := FromDLPack(code, bits, 1)
		if err != nil || got != dt {
			t.Errorf("%v: round trip gave %v, %v", dt, got, err)
		}
	}
	if _, err := FromDLPack(2, 64, 1); errs.KindOf(err) != errs.UnsupportedDtype {
		t.Errorf("float64: %v", err)
	}
	if _, err := FromDLPack(2, 32, 4); errs.KindOf(err) != errs.InvalidArgument {
		t.Errorf("lanes 4: %v", err)
	}
}

func TestValidate(t *testing.T) {
	buf := make([]float32, 16)
	good := FromFloat32(buf, 4, 4)
	if err := good.Validate("x"); err != nil {
		t.Fatal(err)
	}
	bad := map[string]struct {
		t    Tensor
		kind errs.Kind
	}{
		"negative size": {Tensor{Data: good.Data, DType: Float32, Shape: []int{-1, 4}, Strides: []int{4, 1}}, errs.InvalidArgument},
		"nil data":      {Tensor{DType: Float32, Shape: []int{2}, Strides: []int{1}}, errs.InvalidArgument},
		"stride count":  {Tensor{Data: good.Data, DType: Float32, Shape: []int{2}, Strides: nil}, errs.InvalidArgument},
		"huge stride":   {Tensor{Data: good.Data, DType: Float32, Shape: []int{2}, Strides: []int{1 << 60}}, errs.InvalidArgument},
		// 256 * 2^56 is 2^64, which wraps to 0 in 64 bits.
		"wrapping span": {Tensor{Data: good.Data, DType: Float32, Shape: []int{257}, Strides: []int{1 << 56}}, errs.InvalidArgument},
		"long span":     {Tensor{Data: good.Data, DType: Float32, Shape: []int{3, 1 << 55}, Strides: []int{1 << 55, 1}}, errs.InvalidArgument},
		"overflow":      {Tensor{Data: good.Data, DType: Float32, Shape: []int{1 << 40, 1 << 40}, Strides: []int{0, 0}}, errs.OutOfMemory},
		"dtype":         {Tensor{Data: good.Data, Shape: []int{2}, Strides: []int{1}}, errs.UnsupportedDtype},
		"ndim":          {Tensor{Data: good.Data, DType: Float32, Shape: make([]int, 17), Strides: make([]int, 17)}, errs.InvalidArgument},
		"int4 odd":      {Tensor{Data: good.Data, DType: Int4, Shape: []int{3}, Strides: []int{1}}, errs.InvalidArgument},
	}
	for name, c := range bad {
		if err := c.t.Validate("x"); errs.KindOf(err) != c.kind {
			t.Errorf("%s: %v, want kind %v", name, err, c.kind)
		}
	}
	// A span of exactly 2^56 elements is the largest accepted.
	edge := Tensor{Data: good.Data, DType: Float32, Shape: []int{2}, Strides: []int{1 << 56}}
	if err := edge.Validate("x"); err != nil {
		t.Errorf("span at the limit: %v", err)
	}
	// Zero elements need no data.
	empty := Tensor{DType: Float32, Shape: []int{0, 3}, Strides: []int{3, 1}}
	if err := empty.Validate("x"); err != nil {
		t.Errorf("empty tensor: %v", err)
	}
}

func TestContiguityAndOverlap(t *testing.T) {
	buf := make([]float32, 32)
	a := FromFloat32(buf[:16], 4, 4)
	if !a.IsContiguous() {
		t.Error("row-major view not contiguous")
	}
	tr := Tensor{Data: a.Data, DType: Float32, Shape: []int{4, 4}, Strides: []int{1, 4}}
	if tr.IsContiguous() {
		t.Error("transposed view reported contiguous")
	}
	b := FromFloat32(buf[16:], 4, 4)
	named := func(n string, v Tensor) Named { return Named{Name: n, T: v} }
	if err := CheckOutputOverlap(named("out", b), named("x", a)); err != nil {
		t.Errorf("disjoint halves: %v", err)
	}
	if err := CheckOutputOverlap(named("out", a), named("x", a)); err != nil {
		t.Errorf("same view (in place): %v", err)
	}
	if err := CheckOutputOverlap(named("out", tr), named("x", a)); errs.KindOf(err) != errs.InvalidArgument {
		t.Errorf("transposed alias: %v", err)
	}
	shifted := Tensor{Data: unsafe.Add(a.Data, 4), DType: Float32, Shape: []int{4, 4}, Strides: []int{4, 1}}
	if err := CheckOutputOverlap(named("out", shifted), named("x", a)); errs.KindOf(err) != errs.InvalidArgument {
		t.Errorf("shifted by one element: %v", err)
	}
	neg := Tensor{Data: unsafe.Add(b.Data, 15*4), DType: Float32, Shape: []int{16}, Strides: []int{-1}}
	if err := CheckOutputOverlap(named("out", neg), named("x", a)); err != nil {
		t.Errorf("reversed view of the other half: %v", err)
	}
}
