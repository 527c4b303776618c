package gemm

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// TestBadInput: each bad call returns its typed error naming the argument and leaves
// the output's memory untouched.
func TestBadInput(t *testing.T) {
	f32 := func(shape ...int) *buf { return newBuf(tensor.Float32, shape, rowMajor) }
	a, b, c := f32(4, 5), f32(5, 6), f32(4, 6)
	rng := rand.New(rand.NewPCG(8, 0))
	a.fill(normals(rng, 20))
	b.fill(normals(rng, 30))
	c.fill(normals(rng, 24))
	half := newBuf(tensor.Float16, []int{5, 6}, rowMajor)
	ints := tensor.Tensor{Data: a.t.Data, DType: tensor.Int32, Shape: []int{5, 6}, Strides: []int{6, 1}}
	// A c that aliases a's memory, and a c whose rows overlap each other.
	overA := tensor.Tensor{Data: a.t.Data, DType: tensor.Float32, Shape: []int{4, 6}, Strides: []int{5, 1}}
	selfOver := c.t
	selfOver.Strides = []int{0, 1}
	w := f32(6, 5)
	x := f32(3, 5)
	y := f32(3, 6)
	bias := f32(7)
	cases := []struct {
		name string
		call func() error
		kind errs.Kind
		word string
		out  *buf
	}{
		{"inner mismatch", func() error { return Matmul(a.t, f32(4, 6).t, c.t, DefaultParams()) }, errs.ShapeMismatch, "b", c},
		{"c shape", func() error { return Matmul(a.t, b.t, f32(4, 7).t, DefaultParams()) }, errs.ShapeMismatch, "c", nil},
		{"dtype mismatch", func() error { return Matmul(a.t, half.t, c.t, DefaultParams()) }, errs.UnsupportedDtype, "b", c},
		{"int dtype", func() error { return Matmul(a.t, ints, c.t, DefaultParams()) }, errs.UnsupportedDtype, "b", c},
		{"ndim < 2", func() error { return Matmul(f32(5).t, b.t, c.t, DefaultParams()) }, errs.ShapeMismatch, "a", c},
		{"batch does not broadcast", func() error {
			return Matmul(f32(3, 4, 5).t, b.t, f32(2, 4, 6).t, DefaultParams())
		}, errs.ShapeMismatch, "a", nil},
		{"c overlaps a", func() error { return Matmul(a.t, b.t, overA, DefaultParams()) }, errs.InvalidArgument, "c", nil},
		{"c is a", func() error { return Matmul(a.t, f32(5, 5).t, a.t, DefaultParams()) }, errs.InvalidArgument, "c", a},
		{"c overlaps itself", func() error { return Matmul(a.t, b.t, selfOver, DefaultParams()) }, errs.InvalidArgument, "c", c},
		{"nil data", func() error {
			bad := b.t
			bad.Data = nil
			return Matmul(a.t, bad, c.t, DefaultParams())
		}, errs.InvalidArgument, "b", c},
		{"linear in mismatch", func() error { return Linear(x.t, f32(6, 4).t, nil, y.t) }, errs.ShapeMismatch, "w", y},
		{"linear y shape", func() error { return Linear(x.t, w.t, nil, f32(3, 7).t) }, errs.ShapeMismatch, "y", nil},
		{"linear bias shape", func() error { return Linear(x.t, w.t, &bias.t, y.t) }, errs.ShapeMismatch, "bias", y},
		{"linear dtype", func() error { return Linear(x.t, newBuf(tensor.BFloat16, []int{6, 5}, rowMajor).t, nil, y.t) }, errs.UnsupportedDtype, "w", y},
		{"linear y overlaps x", func() error {
			return Linear(x.t, f32(5, 5).t, nil, x.t)
		}, errs.InvalidArgument, "y", x},
		{"gated nil combine", func() error { return GatedLinear(x.t, w.t, w.t, y.t, nil) }, errs.InvalidArgument, "combine", y},
		{"gated up shape", func() error { return GatedLinear(x.t, w.t, f32(7, 5).t, y.t, swiglu) }, errs.ShapeMismatch, "w_up", y},
		{"gated up dtype", func() error {
			return GatedLinear(x.t, w.t, newBuf(tensor.Float16, []int{6, 5}, rowMajor).t, y.t, swiglu)
		}, errs.UnsupportedDtype, "w_up", y},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before []byte
			if tc.out != nil {
				before = tc.out.snapshot()
			}
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			if k := errs.KindOf(err); k != tc.kind {
				t.Fatalf("kind %v, want %v (%v)", k, tc.kind, err)
			}
			if !strings.Contains(err.Error(), tc.word) {
				t.Fatalf("message %q does not name %q", err, tc.word)
			}
			if tc.out != nil && !slices.Equal(before, tc.out.mem) {
				t.Fatal("output changed")
			}
		})
	}
}

// TestEmptyK: with K = 0 the product is zero, so c = beta*c (alpha*0 adds nothing).
func TestEmptyK(t *testing.T) {
	c := []float32{1, 2, 3, 4, 5, 6}
	a := tensor.Tensor{DType: tensor.Float32, Shape: []int{2, 0}, Strides: []int{0, 1}}
	b := tensor.Tensor{DType: tensor.Float32, Shape: []int{0, 3}, Strides: []int{3, 1}}
	if err := Matmul(a, b, tensor.FromFloat32(c, 2, 3), Params{Alpha: 2, Beta: 0.5}); err != nil {
		t.Fatal(err)
	}
	if want := []float32{0.5, 1, 1.5, 2, 2.5, 3}; !slices.Equal(c, want) {
		t.Fatalf("got %v, want %v", c, want)
	}
}

// TestAllocations: a call allocates a few objects (argument views, batch offsets, its
// one parallel loop's closure and goroutines), never per tile, block, K block or
// element: packing, kernels and the phase tables use pooled buffers.
func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, n := range []int{16, 64, 256, 1024, 1500} {
		a := tensor.FromFloat32(make([]float32, n*n), n, n)
		b := tensor.FromFloat32(make([]float32, n*n), n, n)
		c := tensor.FromFloat32(make([]float32, n*n), n, n)
		Matmul(a, b, c, DefaultParams()) // warm the pools
		allocs := testing.AllocsPerRun(3, func() { Matmul(a, b, c, DefaultParams()) })
		if limit := 20.0; allocs > limit {
			t.Fatalf("n=%d: %v allocations per call, want at most %v", n, allocs, limit)
		}
	}
}
