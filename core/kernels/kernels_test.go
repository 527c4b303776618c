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

// Tolerances per dtype, relative to max(1, |reference|): float32 results differ from the
// float64 reference by float32 accumulation over at most ~1000 terms; half types add one
// final rounding (2^-11 for float16, 2^-8 for bfloat16) on top of rounded inputs.
var tolerance = map[tensor.DType]float64{tensor.Float32: 2e-6, tensor.Float16: 1e-3, tensor.BFloat16: 8e-3}

var floatTypes = []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16}

// buffer is a tensor backed by Go memory, laid out either row-major or with a padded,
// reversed last axis (negative stride) to exercise arbitrary strides.
type buffer struct {
	mem []uint32 // backing store; large enough for both layouts
	t   tensor.Tensor
}

func newBuffer(dt tensor.DType, shape []int, strided bool) *buffer {
	n := max(tensor.NumElOf(shape), shape[len(shape)-1])
	b := &buffer{mem: make([]uint32, 2*n+4)}
	base := unsafe.Pointer(&b.mem[0])
	strides := tensor.RowMajorStrides(shape)
	if strided && len(shape) > 0 {
		// Last axis reversed with stride -2; leading axes spaced to fit.
		last := shape[len(shape)-1]
		strides = make([]int, len(shape))
		strides[len(shape)-1] = -2
		acc := 2 * last
		for i := len(shape) - 2; i >= 0; i-- {
			strides[i] = acc
			acc *= shape[i]
		}
		base = unsafe.Add(base, (2*(last-1))*dt.Bits()/8)
	}
	b.t = tensor.Tensor{Data: base, DType: dt, Shape: slices.Clone(shape), Strides: strides}
	return b
}

// fill writes values (rounded to the dtype) in row-major order and returns what was
// stored, widened to float64.
func (b *buffer) fill(values []float64) []float64 {
	stored := make([]float64, len(values))
	n := b.t.Shape[len(b.t.Shape)-1]
	row := make([]float32, n)
	for r := 0; r < b.t.NumRows(); r++ {
		for j := range row {
			row[j] = float32(values[r*n+j])
		}
		b.t.StoreRow(b.t.RowOffset(r), row)
		b.t.LoadRow(b.t.RowOffset(r), row)
		for j := range row {
			stored[r*n+j] = float64(row[j])
		}
	}
	return stored
}

func (b *buffer) read() []float64 {
	n := b.t.Shape[len(b.t.Shape)-1]
	out := make([]float64, 0, b.t.NumEl())
	row := make([]float32, n)
	for r := 0; r < b.t.NumRows(); r++ {
		b.t.LoadRow(b.t.RowOffset(r), row)
		for _, v := range row {
			out = append(out, float64(v))
		}
	}
	return out
}

func randomValues(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

// refSoftmax is the float64 definition: exp(z - max) / sum, z = x / temperature.
func refSoftmax(x []float64, n int, temp float64, log bool) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x)/n; r++ {
		row := x[r*n : (r+1)*n]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v/temp)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v/temp - m)
		}
		for j, v := range row {
			if log {
				out[r*n+j] = v/temp - m - math.Log(s)
			} else {
				out[r*n+j] = math.Exp(v/temp-m) / s
			}
		}
	}
	return out
}

// refRMSNorm is the float64 definition with h rounded to dt as an unfused add would be.
func refRMSNorm(x, res, w []float64, n int, eps float64, dt tensor.DType) (out, h []float64) {
	out = make([]float64, len(x))
	h = slices.Clone(x)
	if res != nil {
		for i := range h {
			h[i] = float64(tensor.Round(float32(x[i]+res[i]), dt))
		}
	}
	for r := 0; r < len(x)/n; r++ {
		var ss float64
		for _, v := range h[r*n : (r+1)*n] {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(n)+eps)
		for j := 0; j < n; j++ {
			g := 1.0
			if w != nil {
				g = w[j]
			}
			out[r*n+j] = h[r*n+j] * inv * g
		}
	}
	return out, h
}

func compare(t *testing.T, what string, dt tensor.DType, got, want []float64) {
	t.Helper()
	tol := tolerance[dt]
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= tol*math.Max(1, math.Abs(want[i]))) {
			t.Fatalf("%s: element %d = %v, want %v (tolerance %v)", what, i, got[i], want[i], tol)
		}
	}
}

var shapes = [][]int{{1}, {7}, {3, 31}, {2, 3, 33}, {1023}, {4, 1024}, {0, 5}}

// forEachCase runs body for every ISA path, dtype, shape and layout.
func forEachCase(t *testing.T, body func(t *testing.T, dt tensor.DType, shape []int, strided bool)) {
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for _, dt := range floatTypes {
			for _, shape := range shapes {
				for _, strided := range []bool{false, true} {
					t.Run(fmt.Sprintf("%v/%v/%v/strided=%v", isa, dt, shape, strided), func(t *testing.T) {
						body(t, dt, shape, strided)
					})
				}
			}
		}
		restore()
	}
}

func TestSoftmaxMatchesReference(t *testing.T) {
	forEachCase(t, func(t *testing.T, dt tensor.DType, shape []int, strided bool) {
		rng := rand.New(rand.NewPCG(7, uint64(len(shape))))
		n := shape[len(shape)-1]
		for _, p := range []SoftmaxParams{{Temperature: 1}, {Temperature: 0.7}, {Temperature: 2.5, Log: true}, {Temperature: 1, Log: true}} {
			x := newBuffer(dt, shape, strided)
			xs := x.fill(randomValues(rng, tensor.NumElOf(shape), 3))
			out := newBuffer(dt, shape, !strided)
			if err := Softmax(x.t, out.t, p); err != nil {
				t.Fatal(err)
			}
			compare(t, fmt.Sprintf("softmax %+v", p), dt, out.read(), refSoftmax(xs, n, float64(p.Temperature), p.Log))
			// In place gives the same bits.
			if err := Softmax(x.t, x.t, p); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x.read(), out.read()) {
				t.Fatal("in-place softmax differs from out-of-place")
			}
		}
	})
}

func TestSoftmaxSpecialRows(t *testing.T) {
	inf := float32(math.Inf(1))
	x := []float32{-inf, -inf, 1, 2, inf, 0, float32(math.NaN()), 0, 1000, 1000, -1000, -1000}
	out := make([]float32, len(x))
	if err := Softmax(tensor.FromFloat32(x, 4, 3), tensor.FromFloat32(out, 4, 3), DefaultSoftmaxParams()); err != nil {
		t.Fatal(err)
	}
	// Row 0 holds -Inf, -Inf, 1: the -Inf entries get exactly 0.
	if out[0] != 0 || out[1] != 0 || out[2] != 1 {
		t.Errorf("row with -Inf entries: %v", out[:3])
	}
	for _, v := range out[3:9] { // +Inf and NaN make their rows NaN
		if v == v {
			t.Errorf("rows with +Inf/NaN: %v", out[3:9])
		}
	}
	// Large logits must not overflow: 1000, -1000, -1000 gives exactly 1, 0, 0.
	if out[9] != 1 || out[10] != 0 || out[11] != 0 {
		t.Errorf("row 1000,-1000,-1000 -> %v", out[9:])
	}
}

func TestRMSNormMatchesReference(t *testing.T) {
	forEachCase(t, func(t *testing.T, dt tensor.DType, shape []int, strided bool) {
		rng := rand.New(rand.NewPCG(11, uint64(len(shape))))
		n := shape[len(shape)-1]
		numel := tensor.NumElOf(shape)
		for _, variant := range []struct{ weight, residual, residualOut bool }{
			{false, false, false}, {true, false, false}, {true, true, true}, {false, true, false}, {true, false, true},
		} {
			x := newBuffer(dt, shape, strided)
			xs := x.fill(randomValues(rng, numel, 2))
			args := RMSNormArgs{X: x.t, Eps: 1e-5}
			var ws, rs []float64
			if variant.weight {
				w := newBuffer(tensor.Float32, []int{n}, false)
				ws = w.fill(randomValues(rng, n, 1))
				args.Weight = &w.t
			}
			if variant.residual {
				r := newBuffer(dt, shape, !strided)
				rs = r.fill(randomValues(rng, numel, 1))
				args.Residual = &r.t
			}
			out := newBuffer(dt, shape, !strided)
			args.Out = out.t
			var ro *buffer
			if variant.residualOut {
				ro = newBuffer(dt, shape, strided)
				args.ResidualOut = &ro.t
			}
			if err := RMSNorm(args); err != nil {
				t.Fatal(err)
			}
			wantOut, wantH := refRMSNorm(xs, rs, ws, n, 1e-5, dt)
			compare(t, fmt.Sprintf("rms_norm %+v", variant), dt, out.read(), wantOut)
			if ro != nil {
				// h is rounded once to dt, exactly like the reference's unfused add.
				if got := ro.read(); !slices.Equal(got, wantH) {
					t.Fatalf("residual_out differs from the rounded sum")
				}
			}
		}
	})
}

func TestRMSNormInPlace(t *testing.T) {
	x := []float32{1, 2, 3, 4, -1, 0.5, 2, 8}
	res := []float32{0.5, 0.5, 0.5, 0.5, 1, 1, 1, 1}
	xr, rr := slices.Clone(x), slices.Clone(res)
	want := make([]float32, 8)
	wantH := make([]float32, 8)
	tx, tres := tensor.FromFloat32(xr, 2, 4), tensor.FromFloat32(rr, 2, 4)
	if err := RMSNorm(RMSNormArgs{X: tensor.FromFloat32(x, 2, 4), Residual: ptr(tensor.FromFloat32(res, 2, 4)),
		Out: tensor.FromFloat32(want, 2, 4), ResidualOut: ptr(tensor.FromFloat32(wantH, 2, 4)), Eps: 1e-6}); err != nil {
		t.Fatal(err)
	}
	// out written over x and the sum over residual: the usual in-place residual stream.
	if err := RMSNorm(RMSNormArgs{X: tx, Residual: &tres, Out: tx, ResidualOut: &tres, Eps: 1e-6}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(xr, want) || !slices.Equal(rr, wantH) {
		t.Fatalf("in place: %v %v, want %v %v", xr, rr, want, wantH)
	}
}

func ptr[T any](v T) *T { return &v }

// TestThreadAndBatchInvariance checks bit-identical results for any thread count and for
// a row computed alone versus inside a larger batch.
func TestThreadAndBatchInvariance(t *testing.T) {
	defer cpu.SetNumThreads(0)
	rng := rand.New(rand.NewPCG(3, 4))
	const rows, n = 64, 777
	x := make([]float32, rows*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	run := func(threads int, data []float32, r int) ([]float32, []float32) {
		cpu.SetNumThreads(threads)
		sm, rn := make([]float32, len(data)), make([]float32, len(data))
		if err := Softmax(tensor.FromFloat32(data, r, n), tensor.FromFloat32(sm, r, n), DefaultSoftmaxParams()); err != nil {
			t.Fatal(err)
		}
		if err := RMSNorm(RMSNormArgs{X: tensor.FromFloat32(data, r, n), Out: tensor.FromFloat32(rn, r, n), Eps: 1e-6}); err != nil {
			t.Fatal(err)
		}
		return sm, rn
	}
	sm1, rn1 := run(1, x, rows)
	for _, threads := range []int{2, 5} {
		sm, rn := run(threads, x, rows)
		if !slices.Equal(sm, sm1) || !slices.Equal(rn, rn1) {
			t.Fatalf("%d threads differ from 1 thread", threads)
		}
	}
	smAlone, rnAlone := run(2, x[13*n:14*n], 1)
	if !slices.Equal(smAlone, sm1[13*n:14*n]) || !slices.Equal(rnAlone, rn1[13*n:14*n]) {
		t.Fatal("a row computed alone differs from the same row in a batch")
	}
}

func TestBadInput(t *testing.T) {
	x := tensor.FromFloat32(make([]float32, 6), 2, 3)
	out := tensor.FromFloat32(make([]float32, 6), 2, 3)
	other := tensor.FromFloat32(make([]float32, 6), 3, 2)
	half := tensor.FromUint16(make([]uint16, 6), tensor.Float16, 2, 3)
	shifted := x
	shifted.Data = unsafe.Add(x.Data, 4)
	shifted.Shape = []int{1, 3}
	shifted.Strides = []int{3, 1}
	i32 := x
	i32.DType = tensor.Int32
	cases := []struct {
		name string
		err  error
		kind errs.Kind
	}{
		{"shape", Softmax(x, other, DefaultSoftmaxParams()), errs.ShapeMismatch},
		{"dtype", Softmax(x, half, DefaultSoftmaxParams()), errs.UnsupportedDtype},
		{"int dtype", Softmax(i32, i32, DefaultSoftmaxParams()), errs.UnsupportedDtype},
		{"temperature 0", Softmax(x, out, SoftmaxParams{Temperature: 0}), errs.InvalidArgument},
		{"temperature NaN", Softmax(x, out, SoftmaxParams{Temperature: float32(math.NaN())}), errs.InvalidArgument},
		{"temperature Inf", Softmax(x, out, SoftmaxParams{Temperature: float32(math.Inf(1))}), errs.InvalidArgument},
		{"view shape", Softmax(x, shifted, DefaultSoftmaxParams()), errs.ShapeMismatch},
		{"scalar", Softmax(tensor.FromFloat32([]float32{1}), tensor.FromFloat32([]float32{1}), DefaultSoftmaxParams()), errs.ShapeMismatch},
		{"eps", RMSNorm(RMSNormArgs{X: x, Out: out, Eps: -1}), errs.InvalidArgument},
		{"weight", RMSNorm(RMSNormArgs{X: x, Out: out, Weight: ptr(tensor.FromFloat32(make([]float32, 2), 2)), Eps: 1}), errs.ShapeMismatch},
		{"residual", RMSNorm(RMSNormArgs{X: x, Out: out, Residual: &other, Eps: 1}), errs.ShapeMismatch},
		{"outs alias", RMSNorm(RMSNormArgs{X: x, Out: out, ResidualOut: &out, Eps: 1}), errs.InvalidArgument},
		{"out overlaps weight", RMSNorm(RMSNormArgs{X: x, Out: out, Weight: ptr(tensor.FromFloat32(unsafe.Slice((*float32)(out.Data), 3), 3)), Eps: 1}), errs.InvalidArgument},
	}
	for _, c := range cases {
		if c.err == nil || errs.KindOf(c.err) != c.kind {
			t.Errorf("%s: got %v (kind %v), want kind %v", c.name, c.err, errs.KindOf(c.err), c.kind)
		}
	}
	// Empty outputs at one address do not overlap: they hold no element.
	empty := tensor.Tensor{Data: x.Data, DType: tensor.Float32, Shape: []int{0, 3}, Strides: []int{3, 1}}
	if err := RMSNorm(RMSNormArgs{X: empty, Out: empty, ResidualOut: &empty, Eps: 1}); err != nil {
		t.Errorf("empty outputs at one address: %v", err)
	}
	// Overlap of same-shaped views at a different offset.
	big := make([]float32, 12)
	a := tensor.FromFloat32(big[:6], 2, 3)
	b := tensor.FromFloat32(big[2:8], 2, 3)
	if err := Softmax(a, b, DefaultSoftmaxParams()); errs.KindOf(err) != errs.InvalidArgument {
		t.Errorf("overlapping out: %v", err)
	}
}
