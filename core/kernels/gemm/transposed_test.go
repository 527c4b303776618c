package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// The transposed schedule (problem.transposed): out^T = W x^T with the weight's rows
// read in place. Shapes (rows of x, in, out) that take it, and the panel widths their
// rows fill well enough (fills): two K blocks and an out that ends in a partial group
// of 16 and a partial work item (300); two row bands of the weight (2100 > mSuper) with
// x at 75% of a 32-column panel (24 rows); and few work items, so that columns are
// shared between items (130 out). Then rows that only 16-column panels suit (AVX-512's
// 16-column kernel): one panel over two K blocks; 12 rows with K not a multiple of 4
// (the kernel's single steps); three panels; 9 rows in one. And 20 rows, which only
// one 32-column panel suits.
type transposedShape struct {
	rows, in, out int
	fills         string // "both", "16" or "32"
}

var transposedShapes = []transposedShape{
	{64, 1100, 300, "both"}, {24, 40, 2100, "both"}, {100, 70, 130, "both"},
	{16, 1100, 300, "16"}, {12, 33, 130, "16"}, {44, 70, 2100, "16"}, {9, 70, 300, "16"},
	{20, 70, 300, "32"},
}

// forEachTransposedCase runs body for every path, input dtype (float32 and bfloat16)
// and shape of transposedShapes, with a generator seeded by seed and the shape's index.
func forEachTransposedCase(t *testing.T, seed uint64, body func(t *testing.T, in tensor.DType, sh transposedShape, rng *rand.Rand)) {
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		for _, in := range []tensor.DType{tensor.Float32, tensor.BFloat16} {
			for i, sh := range transposedShapes {
				t.Run(fmt.Sprintf("%v/%+v", in, sh), func(t *testing.T) {
					body(t, in, sh, rand.New(rand.NewPCG(seed, uint64(i))))
				})
			}
		}
	})
}

// wantTransposed reports whether a shape takes the transposed schedule for inputs of
// dtype in on the selected path: the path must read the weight in place, and offer
// panels of a width the rows fill (16: AVX2, generic, or AVX-512 float32's twin).
func wantTransposed(in tensor.DType, fills string) bool {
	sp := pickKernel(in)
	if in != tensor.Float32 && !sp.bf16 {
		return false
	}
	switch fills {
	case "16":
		return sp.nr == 16 || sp.half != nil
	case "32":
		return sp.nr == 32
	}
	return true
}

// transposedTakes reports whether Linear over x [rows, in] and w [out, in] takes the
// transposed schedule, so that a change of the rule cannot leave these tests on the
// other one unnoticed.
func transposedTakes(x, w tensor.Tensor, y tensor.Tensor) bool {
	pr := linearProblem(x, y, w)
	pr.b[0] = weightT(w)
	_, ok := pr.transposed()
	return ok
}

// TestTransposedLinear compares Linear on the transposed schedule with the float64
// definition (tolerance as in TestLinearMatchesReference) and, bit for bit, with Matmul
// against a contiguous copy of W^T, which packs it and runs the other schedule: every
// element is the same chain either way.
func TestTransposedLinear(t *testing.T) {
	forEachTransposedCase(t, 11, func(t *testing.T, in tensor.DType, sh transposedShape, rng *rand.Rand) {
		// x's rows are padded with its last axis reversed: rows stay evenly
		// spaced, and packing them reads backwards.
		x := newBuf(in, []int{sh.rows, sh.in}, padRev)
		w := newBuf(in, []int{sh.out, sh.in}, rowMajor)
		xv := x.fill(normals(rng, sh.rows*sh.in))
		wv := w.fill(normals(rng, sh.out*sh.in))
		bb := newBuf(tensor.Float32, []int{sh.out}, rowMajor)
		bv := bb.fill(normals(rng, sh.out))
		y := newBuf(tensor.BFloat16, []int{sh.rows, sh.out}, rowMajor)
		plain := newBuf(tensor.Float32, []int{sh.rows, sh.out}, padRev)

		want := wantTransposed(in, sh.fills)
		if got := transposedTakes(x.t, w.t, y.t); got != want {
			t.Fatalf("transposed schedule taken: %v, want %v", got, want)
		}
		if err := Linear(x.t, w.t, &bb.t, y.t); err != nil {
			t.Fatal(err)
		}
		ref, sAbs := refLinear(xv, wv, bv, sh.rows, sh.in, sh.out)
		tol := make([]float64, len(ref))
		for j := range ref {
			tol[j] = tolerance(sh.in, sAbs[j], math.Abs(bv[j%sh.out]), ref[j], tensor.BFloat16)
		}
		compareAll(t, "linear", y.read(), ref, tol)
		y.checkGuards(t, "y")

		if err := Linear(x.t, w.t, nil, plain.t); err != nil {
			t.Fatal(err)
		}
		wt := newBuf(in, []int{sh.in, sh.out}, rowMajor)
		wt.fill(transpose(wv, sh.out, sh.in))
		if !slices.Equal(plain.bits(), product(t, 0, x.t, wt.t, tensor.Float32, DefaultParams())) {
			t.Fatal("Linear differs from Matmul with W^T packed")
		}
		plain.checkGuards(t, "plain")
	})
}

// TestTransposedMatmul: Matmul with TransB takes the transposed schedule too, with a
// batch of a's (rows of all batch matrices merged), and alpha and beta applied by the
// finisher: with beta (old c read, float16 c with strides) and without (float32 c,
// where the other schedule has the kernel apply alpha); bits as with b transposed into
// a contiguous copy.
func TestTransposedMatmul(t *testing.T) {
	cases := []struct {
		p   Params
		out tensor.DType
		lc  layout
	}{
		{Params{TransB: true, Alpha: 0.75, Beta: -0.5}, tensor.Float16, padRev},
		{Params{TransB: true, Alpha: 0.75}, tensor.Float32, rowMajor},
	}
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		rng := rand.New(rand.NewPCG(12, 0))
		const batch, rows, k, n = 2, 32, 300, 200
		a := newBuf(tensor.Float32, []int{batch, rows, k}, rowMajor)
		b := newBuf(tensor.Float32, []int{n, k}, rowMajor)
		a.fill(normals(rng, batch*rows*k))
		bv := b.fill(normals(rng, n*k))
		bt := newBuf(tensor.Float32, []int{k, n}, rowMajor)
		bt.fill(transpose(bv, n, k))
		pr := problem{spec: pickKernel(tensor.Float32), m: batch * rows, n: n, k: k, nb: 1, alpha: 1,
			a: operand{p: a.t.Data, dt: tensor.Float32, rs: k, cs: 1}, b: [2]operand{matrix(b.t, true)}}
		if _, ok := pr.transposed(); !ok {
			t.Fatal("transposed schedule not taken")
		}
		for _, tc := range cases {
			old := normals(rng, batch*rows*n)
			got := newBuf(tc.out, []int{batch, rows, n}, tc.lc)
			got.fill(old)
			if err := Matmul(a.t, b.t, got.t, tc.p); err != nil {
				t.Fatal(err)
			}
			want := newBuf(tc.out, []int{batch, rows, n}, rowMajor)
			want.fill(old)
			q := tc.p
			q.TransB = false
			if err := Matmul(a.t, bt.t, want.t, q); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.bits(), want.bits()) {
				t.Fatalf("%+v: TransB differs from b transposed into a copy", tc.p)
			}
			got.checkGuards(t, "c")
		}
	})
}

// TestTransposedGatedLinear: GatedLinear on the transposed schedule (both weights read
// in place, x packed once) hands combine gate and up values bit-identical to Matmul
// against contiguous copies of each W^T, which runs the other schedule.
func TestTransposedGatedLinear(t *testing.T) {
	forEachTransposedCase(t, 13, func(t *testing.T, in tensor.DType, sh transposedShape, rng *rand.Rand) {
		x := newBuf(in, []int{sh.rows, sh.in}, padRev)
		x.fill(normals(rng, sh.rows*sh.in))
		var w, wt [2]*buf
		for j := range w {
			w[j] = newBuf(in, []int{sh.out, sh.in}, rowMajor)
			wv := w[j].fill(normals(rng, sh.out*sh.in))
			wt[j] = newBuf(in, []int{sh.in, sh.out}, rowMajor)
			wt[j].fill(transpose(wv, sh.out, sh.in))
		}
		out := newBuf(tensor.Float32, []int{sh.rows, sh.out}, rowMajor)
		pr := linearProblem(x.t, out.t, w[0].t)
		pr.nb = 2
		pr.b[0], pr.b[1] = weightT(w[0].t), weightT(w[1].t)
		want := wantTransposed(in, sh.fills)
		if _, got := pr.transposed(); got != want {
			t.Fatalf("transposed schedule taken: %v, want %v", got, want)
		}
		for which := range 2 {
			got := newBuf(tensor.Float32, []int{sh.rows, sh.out}, padRev)
			pick := func(dst, gate, up []float32) {
				copy(dst, [2][]float32{gate, up}[which])
			}
			if err := GatedLinear(x.t, w[0].t, w[1].t, got.t, pick); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.bits(), product(t, 0, x.t, wt[which].t, tensor.Float32, DefaultParams())) {
				t.Fatalf("operand %d differs from Matmul with W^T packed", which)
			}
			got.checkGuards(t, "out")
		}
	})
}
