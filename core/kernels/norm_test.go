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

// Shared helpers of the normalization and activation tests, and the RMSNorm tests beyond
// kernels_test.go (backward, wide rows, layouts with guards, determinism).

// layout is how a test tensor lies in memory.
type layout int

const (
	rowMajor   layout = iota // contiguous
	paddedRows               // unit stride along the last axis, gaps between rows
	reversed                 // last axis reversed with stride -2
)

func (l layout) String() string { return [...]string{"contiguous", "padded", "reversed"}[l] }

var layouts = []layout{rowMajor, paddedRows, reversed}

// tbuf is a test tensor inside a buffer whose bytes outside the tensor's elements hold a
// sentinel, so that stray writes show.
type tbuf struct {
	mem    []byte
	isElem []bool
	t      tensor.Tensor
}

const sentinelByte = 0xa5

func newTBuf(dt tensor.DType, shape []int, lay layout) *tbuf {
	size := dt.Bits() / 8
	strides := tensor.RowMajorStrides(shape)
	last := 1
	if len(shape) > 0 {
		last = shape[len(shape)-1]
	}
	if len(shape) > 0 && lay != rowMajor {
		step, rowStride := 1, last+3
		if lay == reversed {
			step, rowStride = -2, 2*last+1
		}
		strides[len(shape)-1] = step
		acc := rowStride
		for i := len(shape) - 2; i >= 0; i-- {
			strides[i] = acc
			acc *= shape[i]
		}
	}
	lo, hi := 0, 0
	for i, d := range shape {
		if d == 0 {
			continue
		}
		if s := (d - 1) * strides[i]; s < 0 {
			lo += s
		} else {
			hi += s
		}
	}
	const guard = 37 // elements of guard on each side
	n := hi - lo + 1 + 2*guard
	b := &tbuf{mem: make([]byte, n*size+8), isElem: make([]bool, n)}
	for i := range b.mem {
		b.mem[i] = sentinelByte
	}
	// Keep element 0 aligned to its size, with the guard before it.
	base := unsafe.Pointer(&b.mem[0])
	align := int(uintptr(base) % uintptr(size))
	if align != 0 {
		align = size - align
	}
	origin := guard - lo
	b.t = tensor.Tensor{Data: unsafe.Add(base, align+origin*size), DType: dt, Shape: slices.Clone(shape), Strides: strides}
	b.mem = b.mem[align : align+n*size]
	if tensor.NumElOf(shape) > 0 {
		idx := make([]int, len(shape))
		for {
			off := 0
			for i := range idx {
				off += idx[i] * strides[i]
			}
			b.isElem[origin+off] = true
			i := len(idx) - 1
			for ; i >= 0; i-- {
				if idx[i]++; idx[i] < shape[i] {
					break
				}
				idx[i] = 0
			}
			if i < 0 {
				break
			}
		}
	}
	return b
}

// set stores values (row-major logical order, rounded to the dtype) and returns what was
// stored, widened to float64.
func (b *tbuf) set(values []float64) []float64 {
	n := 1
	if b.t.NDim() > 0 {
		n = b.t.Shape[b.t.NDim()-1]
	}
	stored := make([]float64, len(values))
	row := make([]float32, n)
	for r := 0; r < b.t.NumRows() && n > 0; r++ {
		for j := range row {
			row[j] = float32(values[r*n+j])
		}
		b.t.StoreRow(b.t.RowOffset(r), row)
		b.t.LoadRow(b.t.RowOffset(r), row)
		for j, v := range row {
			stored[r*n+j] = float64(v)
		}
	}
	return stored
}

// get returns the elements in row-major logical order.
func (b *tbuf) get() []float64 {
	n := 1
	if b.t.NDim() > 0 {
		n = b.t.Shape[b.t.NDim()-1]
	}
	out := make([]float64, 0, b.t.NumEl())
	row := make([]float32, n)
	for r := 0; r < b.t.NumRows() && n > 0; r++ {
		b.t.LoadRow(b.t.RowOffset(r), row)
		for _, v := range row {
			out = append(out, float64(v))
		}
	}
	return out
}

// bytes returns a copy of the whole buffer, guards included.
func (b *tbuf) bytes() []byte { return slices.Clone(b.mem) }

// guardsIntact reports whether every byte outside the tensor's elements is still the
// sentinel.
func (b *tbuf) guardsIntact() bool {
	size := b.t.DType.Bits() / 8
	for i, e := range b.isElem {
		if e {
			continue
		}
		for _, c := range b.mem[i*size : (i+1)*size] {
			if c != sentinelByte {
				return false
			}
		}
	}
	return true
}

// Tolerances of the normalizations, relative to max(1, |reference|). float32: sums of up
// to 4096 float32 terms (the sequential generic sum drifts by ~sqrt(n)*2^-24 relative,
// about 4e-6 at n = 4096; the SIMD lane sums by less). Half types: one final rounding
// (2^-11 float16, 2^-8 bfloat16) of a float32 result; inputs are the stored (rounded)
// values on both sides. Backward results subtract terms of similar size, and the
// parameter gradients add up to 64 rows, so they get ten times the room.
var normTol = map[tensor.DType]float64{tensor.Float32: 1e-5, tensor.Float16: 1e-3, tensor.BFloat16: 8e-3}

func backwardTol(dt tensor.DType) float64 { return 10 * normTol[dt] }

func closeTo(t *testing.T, what string, tol float64, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= tol*math.Max(1, math.Abs(want[i]))) {
			t.Fatalf("%s: element %d = %v, want %v (tolerance %v)", what, i, got[i], want[i], tol)
		}
	}
}

// otherType returns a float dtype different from dt, to mix dtypes across arguments.
func otherType(dt tensor.DType, i int) tensor.DType { return floatTypes[(int(dt)+i)%3] }

var normShapes = [][]int{{1}, {7}, {3, 31}, {2, 3, 33}, {1023}, {2, 4096}, {5, 64}, {0, 5}}

// forEachNorm runs body for every ISA path, dtype, shape and layout.
func forEachNorm(t *testing.T, shapes [][]int, body func(t *testing.T, dt tensor.DType, shape []int, lay layout)) {
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for _, dt := range floatTypes {
			for _, shape := range shapes {
				for _, lay := range layouts {
					t.Run(fmt.Sprintf("%v/%v/%v/%v", isa, dt, shape, lay), func(t *testing.T) { body(t, dt, shape, lay) })
				}
			}
		}
		restore()
	}
}

// normVariants are the optional-argument combinations each normalization is tested with.
var normVariants = []struct{ weight, bias, residual, residualOut bool }{
	{false, false, false, false}, {true, false, false, false}, {true, true, false, false},
	{false, true, true, true}, {true, true, true, false}, {false, false, false, true},
}

// roundedSum is h = x + residual rounded to dt as the reference's unfused add.
func roundedSum(x, res []float64, dt tensor.DType) []float64 {
	if res == nil {
		return slices.Clone(x)
	}
	h := make([]float64, len(x))
	for i := range h {
		h[i] = float64(tensor.Round(float32(x[i]+res[i]), dt))
	}
	return h
}

// param returns the parameter value j of an optional parameter (def when absent).
func param(p []float64, j int, def float64) float64 {
	if p == nil {
		return def
	}
	return p[j]
}

// refRMSNormBackward is the float64 gradient of out = h * r * w, r = 1/sqrt(mean(h^2)+eps).
func refRMSNormBackward(h, w, dy, dres []float64, n int, eps float64) (dx, dw []float64) {
	dx, dw = make([]float64, len(h)), make([]float64, n)
	for r := 0; r < len(h)/n; r++ {
		hr, dyr := h[r*n:(r+1)*n], dy[r*n:(r+1)*n]
		var ss, c float64
		for j, v := range hr {
			ss += v * v
			c += dyr[j] * param(w, j, 1) * v
		}
		rs := 1 / math.Sqrt(ss/float64(n)+eps)
		for j, v := range hr {
			dx[r*n+j] = rs*dyr[j]*param(w, j, 1) - v*rs*rs*rs*c/float64(n) + param(dres, r*n+j, 0)
			dw[j] += dyr[j] * v * rs
		}
	}
	return dx, dw
}

// refRMSNormOut is the float64 forward pass used by the finite-difference check.
func refRMSNormOut(h, w []float64, n int, eps float64) []float64 {
	out, _ := refRMSNorm(h, nil, w, n, eps, tensor.Float32)
	return out
}

// checkGradientsByDifferences compares analytic gradients of loss = sum(out * dy) with
// central differences of the float64 forward pass.
func checkGradientsByDifferences(t *testing.T, name string, forward func(h, w, b []float64) []float64,
	h, w, b, dy, dx, dw, db []float64) {
	t.Helper()
	loss := func(h, w, b []float64) float64 {
		var s float64
		for i, v := range forward(h, w, b) {
			s += v * dy[i]
		}
		return s
	}
	const step = 1e-6
	for _, c := range []struct {
		what string
		x    []float64
		grad []float64
	}{{"dx", h, dx}, {"dweight", w, dw}, {"dbias", b, db}} {
		for i := range c.grad {
			orig := c.x[i]
			c.x[i] = orig + step
			up := loss(h, w, b)
			c.x[i] = orig - step
			down := loss(h, w, b)
			c.x[i] = orig
			if fd := (up - down) / (2 * step); math.Abs(fd-c.grad[i]) > 1e-5*math.Max(1, math.Abs(fd)) {
				t.Fatalf("%s %s[%d]: analytic %v, finite difference %v", name, c.what, i, c.grad[i], fd)
			}
		}
	}
}

func TestNormReferenceGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const rows, n = 3, 9
	h, dy := randomValues(rng, rows*n, 1.5), randomValues(rng, rows*n, 1)
	w, b := randomValues(rng, n, 1), randomValues(rng, n, 1)
	dx, dw := refRMSNormBackward(h, w, dy, nil, n, 1e-3)
	checkGradientsByDifferences(t, "rms_norm", func(h, w, _ []float64) []float64 { return refRMSNormOut(h, w, n, 1e-3) },
		h, w, nil, dy, dx, dw, nil)
	dx, dw, db := refLayerNormBackward(h, w, dy, nil, n, 1e-3)
	checkGradientsByDifferences(t, "layer_norm", func(h, w, b []float64) []float64 {
		out, _ := refLayerNorm(h, nil, w, b, n, 1e-3, tensor.Float32)
		return out
	}, h, w, b, dy, dx, dw, db)
	shape := []int{2, 6, 5}
	gh, gdy := randomValues(rng, 60, 1.5), randomValues(rng, 60, 1)
	gw, gb := randomValues(rng, 6, 1), randomValues(rng, 6, 1)
	dx, dw, db = refGroupNormBackward(gh, gw, gdy, nil, shape, 3, 1e-3)
	checkGradientsByDifferences(t, "group_norm", func(h, w, b []float64) []float64 {
		out, _ := refGroupNorm(h, nil, w, b, shape, 3, 1e-3, tensor.Float32)
		return out
	}, gh, gw, gb, gdy, dx, dw, db)
}

// backwardCase builds the tensors of a backward test: h, dy, optional weight and
// d_residual_out (dtypes mixed), dx, and the parameter gradients (float32 or the dtype).
type backwardCase struct {
	h, dy, dres, dx, w, dw, db *tbuf
	hv, dyv, dresv, wv         []float64
}

func newBackwardCase(rng *rand.Rand, dt tensor.DType, shape []int, paramLen int, lay layout, withW, withRes, withDB bool) *backwardCase {
	numel := tensor.NumElOf(shape)
	c := &backwardCase{}
	c.h = newTBuf(dt, shape, lay)
	c.hv = c.h.set(randomValues(rng, numel, 2))
	c.dy = newTBuf(otherType(dt, 1), shape, (lay+1)%3)
	c.dyv = c.dy.set(randomValues(rng, numel, 1))
	if withW {
		c.w = newTBuf(otherType(dt, 2), []int{paramLen}, rowMajor)
		c.wv = c.w.set(randomValues(rng, paramLen, 1))
	}
	if withRes {
		c.dres = newTBuf(dt, shape, (lay+2)%3)
		c.dresv = c.dres.set(randomValues(rng, numel, 1))
	}
	c.dx = newTBuf(dt, shape, (lay+1)%3)
	c.dw = newTBuf(dt, []int{paramLen}, reversed)
	if withDB {
		c.db = newTBuf(otherType(dt, 1), []int{paramLen}, rowMajor)
	}
	return c
}

func tptr(b *tbuf) *tensor.Tensor {
	if b == nil {
		return nil
	}
	return &b.t
}

// checkOutputs verifies the guards of every output buffer.
func checkGuards(t *testing.T, bufs ...*tbuf) {
	t.Helper()
	for i, b := range bufs {
		if b != nil && !b.guardsIntact() {
			t.Fatalf("output %d: a write landed outside the tensor", i)
		}
	}
}

func TestRMSNormWideRowsAndLayouts(t *testing.T) {
	forEachNorm(t, normShapes, func(t *testing.T, dt tensor.DType, shape []int, lay layout) {
		rng := rand.New(rand.NewPCG(31, uint64(len(shape))))
		n := shape[len(shape)-1]
		numel := tensor.NumElOf(shape)
		for i, v := range normVariants {
			x := newTBuf(dt, shape, lay)
			xs := x.set(randomValues(rng, numel, 2))
			args := RMSNormArgs{X: x.t, Eps: 1e-5}
			var ws, rs []float64
			if v.weight {
				w := newTBuf(otherType(dt, i), []int{n}, lay)
				ws = w.set(randomValues(rng, n, 1))
				args.Weight = &w.t
			}
			if v.residual {
				r := newTBuf(otherType(dt, i+1), shape, (lay+1)%3)
				rs = r.set(randomValues(rng, numel, 1))
				args.Residual = &r.t
			}
			out := newTBuf(dt, shape, (lay+2)%3)
			args.Out = out.t
			var ro *tbuf
			if v.residualOut {
				ro = newTBuf(dt, shape, (lay+1)%3)
				args.ResidualOut = &ro.t
			}
			if err := RMSNorm(args); err != nil {
				t.Fatal(err)
			}
			wantOut, wantH := refRMSNorm(xs, rs, ws, n, 1e-5, dt)
			closeTo(t, fmt.Sprintf("rms_norm %+v", v), normTol[dt], out.get(), wantOut)
			checkGuards(t, out, ro)
			if ro != nil && !slices.Equal(ro.get(), wantH) {
				t.Fatal("residual_out differs from the rounded sum")
			}
		}
	})
}

func TestRMSNormBackward(t *testing.T) {
	forEachNorm(t, normShapes, func(t *testing.T, dt tensor.DType, shape []int, lay layout) {
		rng := rand.New(rand.NewPCG(41, uint64(len(shape))))
		n := shape[len(shape)-1]
		for _, v := range []struct{ w, res, dw bool }{{false, false, false}, {true, false, true}, {true, true, true}, {false, true, true}} {
			c := newBackwardCase(rng, dt, shape, n, lay, v.w, v.res, false)
			args := RMSNormBackwardArgs{H: c.h.t, Weight: tptr(c.w), DY: c.dy.t, DResidualOut: tptr(c.dres), DX: c.dx.t, Eps: 1e-5}
			if v.dw {
				args.DWeight = &c.dw.t
			}
			if err := RMSNormBackward(args); err != nil {
				t.Fatal(err)
			}
			wantDX, wantDW := refRMSNormBackward(c.hv, c.wv, c.dyv, c.dresv, n, 1e-5)
			closeTo(t, fmt.Sprintf("rms_norm dx %+v", v), backwardTol(dt), c.dx.get(), wantDX)
			if v.dw {
				closeTo(t, "rms_norm dweight", backwardTol(dt), c.dw.get(), wantDW)
			}
			checkGuards(t, c.dx, c.dw)
		}
	})
}

// TestNormBackwardInPlace: dx may be h, dy or d_residual_out itself and gives the same
// bits as a separate output.
func TestNormBackwardInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	const rows, n = 5, 37
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		h, dy, dres := randF32(rng, rows*n, 2), randF32(rng, rows*n, 1), randF32(rng, rows*n, 1)
		w := randF32(rng, n, 1)
		run := func(target int, op string) []float32 {
			hh, dd, rr := slices.Clone(h), slices.Clone(dy), slices.Clone(dres)
			out := make([]float32, rows*n)
			bufs := [][]float32{out, hh, dd, rr}
			ht, dyt, rt := tensor.FromFloat32(hh, rows, n), tensor.FromFloat32(dd, rows, n), tensor.FromFloat32(rr, rows, n)
			dx := tensor.FromFloat32(bufs[target], rows, n)
			wt := tensor.FromFloat32(w, n)
			var err error
			switch op {
			case "rms":
				err = RMSNormBackward(RMSNormBackwardArgs{H: ht, Weight: &wt, DY: dyt, DResidualOut: &rt, DX: dx, Eps: 1e-5})
			case "layer":
				err = LayerNormBackward(LayerNormBackwardArgs{H: ht, Weight: &wt, DY: dyt, DResidualOut: &rt, DX: dx, Eps: 1e-5})
			default:
				err = GroupNormBackward(GroupNormBackwardArgs{H: tensor.FromFloat32(hh, 1, rows, n), Groups: 1,
					DY: tensor.FromFloat32(dd, 1, rows, n), DResidualOut: ptr(tensor.FromFloat32(rr, 1, rows, n)),
					DX: tensor.FromFloat32(bufs[target], 1, rows, n), Eps: 1e-5})
			}
			if err != nil {
				t.Fatal(err)
			}
			return bufs[target]
		}
		for _, op := range []string{"rms", "layer", "group"} {
			want := run(0, op)
			for target := 1; target <= 3; target++ {
				if got := run(target, op); !sameBits(got, want) {
					t.Fatalf("%v %s backward: dx written over input %d differs", isa, op, target)
				}
			}
		}
		restore()
	}
}

// normRun computes every normalization op, forward and backward, on the same data and
// returns all outputs concatenated, for the determinism and batch tests.
func normRun(t *testing.T, x, res, dy []float32, w, b []float32, rows, n int) [][]float32 {
	t.Helper()
	var outs [][]float32
	mk := func() []float32 { s := make([]float32, rows*n); outs = append(outs, s); return s }
	mkp := func() []float32 { s := make([]float32, n); outs = append(outs, s); return s }
	X, R, DY := tensor.FromFloat32(x, rows, n), tensor.FromFloat32(res, rows, n), tensor.FromFloat32(dy, rows, n)
	W, B := tensor.FromFloat32(w, n), tensor.FromFloat32(b, n)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	o, h := mk(), mk()
	check(RMSNorm(RMSNormArgs{X: X, Weight: &W, Residual: &R, Out: tensor.FromFloat32(o, rows, n), ResidualOut: ptr(tensor.FromFloat32(h, rows, n)), Eps: 1e-6}))
	o = mk()
	check(LayerNorm(LayerNormArgs{X: X, Weight: &W, Bias: &B, Residual: &R, Out: tensor.FromFloat32(o, rows, n), Eps: 1e-5}))
	dx, dw := mk(), mkp()
	check(RMSNormBackward(RMSNormBackwardArgs{H: X, Weight: &W, DY: DY, DX: tensor.FromFloat32(dx, rows, n), DWeight: ptr(tensor.FromFloat32(dw, n)), Eps: 1e-6}))
	dx, dw, db := mk(), mkp(), mkp()
	check(LayerNormBackward(LayerNormBackwardArgs{H: X, Weight: &W, DY: DY, DResidualOut: &R, DX: tensor.FromFloat32(dx, rows, n),
		DWeight: ptr(tensor.FromFloat32(dw, n)), DBias: ptr(tensor.FromFloat32(db, n)), Eps: 1e-5}))
	return outs
}

// TestNormDeterminism: every normalization output, parameter gradients included, is
// bit-identical for 1, 2 and 3 threads; and a row computed alone equals the same row in a
// batch (forward outputs and dx; the parameter gradients sum over the batch).
func TestNormDeterminism(t *testing.T) {
	defer cpu.SetNumThreads(0)
	rng := rand.New(rand.NewPCG(51, 52))
	const rows, n = 1000, 203 // many chunks of rows, odd width
	x, res, dy := randF32(rng, rows*n, 2), randF32(rng, rows*n, 1), randF32(rng, rows*n, 1)
	w, b := randF32(rng, n, 1), randF32(rng, n, 1)
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		cpu.SetNumThreads(1)
		want := normRun(t, x, res, dy, w, b, rows, n)
		for _, threads := range []int{2, 3} {
			cpu.SetNumThreads(threads)
			for i, got := range normRun(t, x, res, dy, w, b, rows, n) {
				if !sameBits(got, want[i]) {
					t.Fatalf("%v: output %d with %d threads differs from 1 thread", isa, i, threads)
				}
			}
		}
		const r = 577
		alone := normRun(t, x[r*n:(r+1)*n], res[r*n:(r+1)*n], dy[r*n:(r+1)*n], w, b, 1, n)
		for _, i := range []int{0, 1, 2, 3, 5} { // the row-shaped outputs
			if !sameBits(alone[i], want[i][r*n:(r+1)*n]) {
				t.Fatalf("%v: output %d of a row alone differs from the row in a batch", isa, i)
			}
		}
		restore()
	}
}

// TestNormAllocations: the row loops allocate nothing per row.
func TestNormAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	defer cpu.SetNumThreads(0)
	cpu.SetNumThreads(1)
	const n = 64
	allocs := func(rows int) float64 {
		x, out := make([]float32, rows*n), make([]float32, rows*n)
		w := make([]float32, n)
		X, O, W := tensor.FromFloat32(x, rows, n), tensor.FromFloat32(out, rows, n), tensor.FromFloat32(w, n)
		return testing.AllocsPerRun(20, func() {
			_ = RMSNorm(RMSNormArgs{X: X, Weight: &W, Out: O, Eps: 1e-6})
			_ = LayerNorm(LayerNormArgs{X: X, Weight: &W, Out: O, Eps: 1e-5})
			_ = Softmax(X, O, DefaultSoftmaxParams())
			_ = GLU(SiLU, X, X, O)
			_ = Activate(GELU, X, O)
		})
	}
	if few, many := allocs(4), allocs(4096); many > few {
		t.Fatalf("%v allocations for 4096 rows, %v for 4: the row loop allocates", many, few)
	}
}

// badCall is one invalid call and the error kind it must give.
type badCall struct {
	name string
	call func() error
	kind errs.Kind
}

// runBadCalls checks each call's error kind and that it wrote nothing into the buffers.
func runBadCalls(t *testing.T, cases []badCall, outputs ...*tbuf) {
	t.Helper()
	before := make([][]byte, len(outputs))
	for i, o := range outputs {
		before[i] = o.bytes()
	}
	for _, c := range cases {
		err := c.call()
		if err == nil || errs.KindOf(err) != c.kind {
			t.Errorf("%s: got %v (kind %v), want kind %v", c.name, err, errs.KindOf(err), c.kind)
		}
		for i, o := range outputs {
			if !slices.Equal(o.mem, before[i]) {
				t.Fatalf("%s: the failed call wrote into buffer %d", c.name, i)
			}
		}
	}
}

func TestRMSNormBackwardBadInput(t *testing.T) {
	h := newTBuf(tensor.Float32, []int{2, 3}, rowMajor)
	h.set([]float64{1, 2, 3, 4, 5, 6})
	dy := newTBuf(tensor.Float32, []int{2, 3}, rowMajor)
	dx := newTBuf(tensor.Float32, []int{2, 3}, rowMajor)
	dw := newTBuf(tensor.Float32, []int{3}, rowMajor)
	other := newTBuf(tensor.Float32, []int{3, 2}, rowMajor)
	i32 := dx.t
	i32.DType = tensor.Int32
	ok := RMSNormBackwardArgs{H: h.t, DY: dy.t, DX: dx.t, DWeight: &dw.t, Eps: 1e-6}
	with := func(f func(a *RMSNormBackwardArgs)) func() error {
		return func() error { a := ok; f(&a); return RMSNormBackward(a) }
	}
	runBadCalls(t, []badCall{
		{"dy shape", with(func(a *RMSNormBackwardArgs) { a.DY = other.t }), errs.ShapeMismatch},
		{"dx shape", with(func(a *RMSNormBackwardArgs) { a.DX = other.t }), errs.ShapeMismatch},
		{"dx dtype", with(func(a *RMSNormBackwardArgs) { a.DX = i32 }), errs.UnsupportedDtype},
		{"dweight shape", with(func(a *RMSNormBackwardArgs) { a.DWeight = &other.t }), errs.ShapeMismatch},
		{"weight shape", with(func(a *RMSNormBackwardArgs) { a.Weight = ptr(tensor.FromFloat32(make([]float32, 2), 2)) }), errs.ShapeMismatch},
		{"eps", with(func(a *RMSNormBackwardArgs) { a.Eps = float32(math.NaN()) }), errs.InvalidArgument},
		{"dweight overlaps dx", with(func(a *RMSNormBackwardArgs) {
			v := dx.t
			v.Shape, v.Strides = []int{3}, []int{1}
			a.DWeight = &v
		}), errs.InvalidArgument},
		{"dweight is h", with(func(a *RMSNormBackwardArgs) { a.DWeight = &a.H }), errs.ShapeMismatch},
		{"dx overlaps dy", with(func(a *RMSNormBackwardArgs) {
			v := dy.t
			v.Data = unsafe.Add(v.Data, 4)
			a.DX = v
		}), errs.InvalidArgument},
		{"scalar", with(func(a *RMSNormBackwardArgs) { a.H = tensor.FromFloat32([]float32{1}) }), errs.ShapeMismatch},
	}, dx, dw)
}
