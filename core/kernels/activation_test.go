package kernels

import (
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

// Elementwise tolerances per output dtype: |got - want| <= tol * scale, where scale is the
// product of max(1, |factor|) over the factors of the result (the activation value and
// the other operands). float32: the SIMD activation bound (rowops_test.go: 3e-7, 4e-7 for
// derivatives) plus one rounding per extra product; half types: one final rounding
// (2^-11 float16, 2^-8 bfloat16) dominates.
var elemTol = map[tensor.DType]float64{tensor.Float32: 8e-7, tensor.Float16: 1e-3, tensor.BFloat16: 8e-3}

func closeScaled(t *testing.T, what string, tol float64, got, want, scale []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= tol*scale[i]) {
			t.Fatalf("%s: element %d = %v, want %v (tolerance %v)", what, i, got[i], want[i], tol*scale[i])
		}
	}
}

// scaleOf returns prod_k max(1, |vs[k][i]|) per element.
func scaleOf(n int, vs ...[]float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 1
		for _, v := range vs {
			s[i] *= math.Max(1, math.Abs(v[i]))
		}
	}
	return s
}

func mapF(f func(float64) float64, x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = f(v)
	}
	return out
}

var elemShapes = [][]int{{}, {1}, {7}, {31}, {33}, {3, 1023}, {4096}, {2, 3, 33}, {0, 5}}

// forEachElem runs body for every ISA path, activation, dtype, shape and layout.
func forEachElem(t *testing.T, body func(t *testing.T, kind Activation, dt tensor.DType, shape []int, lay layout)) {
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for _, kind := range activations {
			for _, dt := range floatTypes {
				for _, shape := range elemShapes {
					for _, lay := range layouts {
						if len(shape) == 0 && lay != rowMajor {
							continue
						}
						t.Run(fmt.Sprintf("%v/%v/%v/%v/%v", isa, kind, dt, shape, lay), func(t *testing.T) {
							body(t, kind, dt, shape, lay)
						})
					}
				}
			}
		}
		restore()
	}
}

func TestActivateMatchesReference(t *testing.T) {
	forEachElem(t, func(t *testing.T, kind Activation, dt tensor.DType, shape []int, lay layout) {
		rng := rand.New(rand.NewPCG(81, uint64(len(shape))))
		numel := tensor.NumElOf(shape)
		ref := activationRefs[kind]
		for _, outType := range []tensor.DType{dt, otherType(dt, 1)} {
			x := newTBuf(dt, shape, lay)
			xs := x.set(randomValues(rng, numel, 3))
			out := newTBuf(outType, shape, (lay+1)%3)
			if err := Activate(kind, x.t, out.t); err != nil {
				t.Fatal(err)
			}
			want := mapF(ref.f, xs)
			closeScaled(t, "activate", elemTol[outType], out.get(), want, scaleOf(numel, want))
			checkGuards(t, out)
			// In place gives the same values when the dtypes agree.
			if outType == dt {
				if err := Activate(kind, x.t, x.t); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(x.get(), out.get()) {
					t.Fatal("in place differs")
				}
				checkGuards(t, x)
			}
		}
	})
}

func TestActivateBackwardMatchesReference(t *testing.T) {
	forEachElem(t, func(t *testing.T, kind Activation, dt tensor.DType, shape []int, lay layout) {
		rng := rand.New(rand.NewPCG(82, uint64(len(shape))))
		numel := tensor.NumElOf(shape)
		x := newTBuf(dt, shape, lay)
		xs := x.set(randomValues(rng, numel, 3))
		dy := newTBuf(otherType(dt, 2), shape, (lay+2)%3)
		dys := dy.set(randomValues(rng, numel, 2))
		dx := newTBuf(otherType(dt, 1), shape, (lay+1)%3)
		if err := ActivateBackward(kind, x.t, dy.t, dx.t); err != nil {
			t.Fatal(err)
		}
		d := mapF(activationRefs[kind].df, xs)
		want := make([]float64, numel)
		for i := range want {
			want[i] = dys[i] * d[i]
		}
		closeScaled(t, "activate backward", elemTol[dx.t.DType], dx.get(), want, scaleOf(numel, d, dys))
		checkGuards(t, dx)
		// dx over x and over dy give the same bits as a separate output (float32 data).
		if dt == tensor.Float32 {
			sep := newTBuf(tensor.Float32, shape, rowMajor)
			xf := newTBuf(tensor.Float32, shape, rowMajor)
			dyf := newTBuf(tensor.Float32, shape, rowMajor)
			xf.set(xs)
			dyf.set(dys)
			if err := ActivateBackward(kind, xf.t, dyf.t, sep.t); err != nil {
				t.Fatal(err)
			}
			if err := ActivateBackward(kind, xf.t, dyf.t, dyf.t); err != nil {
				t.Fatal(err)
			}
			if err := ActivateBackward(kind, xf.t, xf.t, xf.t); err != nil {
				t.Fatal(err)
			}
			xx := newTBuf(tensor.Float32, shape, rowMajor)
			xx.set(xs)
			sq := newTBuf(tensor.Float32, shape, rowMajor)
			if err := ActivateBackward(kind, xx.t, xx.t, sq.t); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dyf.get(), sep.get()) || !slices.Equal(xf.get(), sq.get()) {
				t.Fatal("backward in place differs")
			}
		}
	})
}

// TestActivationSpecialValues: NaN propagates, large magnitudes saturate without NaN.
func TestActivationSpecialValues(t *testing.T) {
	x := []float32{float32(math.NaN()), 1e30, -1e30, 3e38, -3e38, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1))}
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for _, kind := range activations {
			out := make([]float32, len(x))
			if err := Activate(kind, tensor.FromFloat32(x, len(x)), tensor.FromFloat32(out, len(x))); err != nil {
				t.Fatal(err)
			}
			want := []float32{float32(math.NaN()), 1e30, 0, 3e38, 0, 0, 0, float32(math.Inf(1))}
			for i, w := range want {
				if (w != w) != (out[i] != out[i]) || (w == w && out[i] != w) {
					t.Fatalf("%v %v(%v) = %v, want %v", isa, kind, x[i], out[i], w)
				}
			}
			dx := make([]float32, len(x))
			ones := []float32{1, 1, 1, 1, 1, 1, 1, 1}
			if err := ActivateBackward(kind, tensor.FromFloat32(x, len(x)), tensor.FromFloat32(ones, 8), tensor.FromFloat32(dx, 8)); err != nil {
				t.Fatal(err)
			}
			wantD := []float32{float32(math.NaN()), 1, 0, 1, 0, 0.5, 0.5}
			for i, w := range wantD {
				if (w != w) != (dx[i] != dx[i]) || (w == w && dx[i] != w) {
					t.Fatalf("%v %v'(%v) = %v, want %v", isa, kind, x[i], dx[i], w)
				}
			}
		}
		restore()
	}
}

// TestActivationThreads: the elementwise ops give the same bits for 1 and 3 threads over
// a large contiguous input (many spans) and a strided one (many rows).
func TestActivationThreads(t *testing.T) {
	defer cpu.SetNumThreads(0)
	rng := rand.New(rand.NewPCG(83, 84))
	const n = 100003
	g, u := randF32(rng, n, 3), randF32(rng, n, 2)
	run := func(threads int) []float32 {
		cpu.SetNumThreads(threads)
		out := make([]float32, n)
		if err := GLU(GELU, tensor.FromFloat32(g, n), tensor.FromFloat32(u, n), tensor.FromFloat32(out, n)); err != nil {
			t.Fatal(err)
		}
		strided := tensor.Tensor{Data: unsafe.Pointer(&out[0]), DType: tensor.Float32, Shape: []int{n / 2, 2}, Strides: []int{2, -1}}
		strided.Data = unsafe.Add(strided.Data, 4)
		if err := Activate(SiLU, strided, strided); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if a, b := run(1), run(3); !sameBits(a, b) {
		t.Fatal("3 threads differ from 1")
	}
}

func TestActivationBadInput(t *testing.T) {
	x := newTBuf(tensor.Float32, []int{2, 3}, rowMajor)
	x.set([]float64{1, 2, 3, 4, 5, 6})
	out := newTBuf(tensor.Float32, []int{2, 3}, rowMajor)
	out2 := newTBuf(tensor.BFloat16, []int{2, 3}, rowMajor)
	other := newTBuf(tensor.Float32, []int{3, 2}, rowMajor)
	i32 := out.t
	i32.DType = tensor.Int32
	shifted := out.t
	shifted.Data = unsafe.Add(x.t.Data, 4)
	runBadCalls(t, []badCall{
		{"kind 0", func() error { return Activate(0, x.t, out.t) }, errs.InvalidArgument},
		{"kind 4", func() error { return Activate(4, x.t, out.t) }, errs.InvalidArgument},
		{"shape", func() error { return Activate(SiLU, x.t, other.t) }, errs.ShapeMismatch},
		{"int out", func() error { return Activate(SiLU, x.t, i32) }, errs.UnsupportedDtype},
		{"int x", func() error { return Activate(SiLU, i32, out.t) }, errs.UnsupportedDtype},
		{"partial overlap", func() error { return Activate(SiLU, x.t, shifted) }, errs.InvalidArgument},
		{"backward kind", func() error { return ActivateBackward(-1, x.t, x.t, out.t) }, errs.InvalidArgument},
		{"backward dy shape", func() error { return ActivateBackward(GELU, x.t, other.t, out.t) }, errs.ShapeMismatch},
		{"glu up shape", func() error { return GLU(SiLU, x.t, other.t, out.t) }, errs.ShapeMismatch},
		{"glu out overlaps", func() error { return GLU(SiLU, x.t, x.t, shifted) }, errs.InvalidArgument},
		{"glu backward outputs alias", func() error { return GLUBackward(SiLU, x.t, x.t, x.t, out.t, out.t) }, errs.InvalidArgument},
		{"glu backward int dup", func() error { return GLUBackward(SiLU, x.t, x.t, x.t, out.t, i32) }, errs.UnsupportedDtype},
		{"glu backward shape", func() error { return GLUBackward(GELUTanh, x.t, x.t, other.t, out.t, out2.t) }, errs.ShapeMismatch},
		{"glu backward kind", func() error { return GLUBackward(7, x.t, x.t, x.t, out.t, out2.t) }, errs.InvalidArgument},
	}, out, out2)
}
