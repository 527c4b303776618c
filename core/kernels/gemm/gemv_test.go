package gemm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// The few-rows path (gemv.go) must give the blocked path's bits: every test below
// computes some rows alone (M <= 8, the few-rows path) and the same rows inside a
// product of 130 rows (the blocked path, whose values TestMatmulMatchesReference checks
// against float64), and compares bits.

// reverseRows turns b into a view of the same memory with its second-to-last axis
// reversed (a negative row stride); call it before filling b.
func reverseRows(b *buf) {
	nd := b.t.NDim()
	if b.t.Shape[nd-2] > 1 {
		b.t.Data = unsafeAdd(b.t.Data, (b.t.Shape[nd-2]-1)*b.t.Strides[nd-2]*b.t.DType.Bits()/8)
	}
	b.t.Strides[nd-2] = -b.t.Strides[nd-2]
}

// gemvProblem sets up the 2-D Matmul problem as Matmul does, to ask gemvFits.
func gemvProblem(a, b tensor.Tensor, p Params) problem {
	m, k := a.Shape[0], a.Shape[1]
	n := b.Shape[1]
	if p.TransB {
		n = b.Shape[0]
	}
	return problem{spec: pickKernel(a.DType), m: m, n: n, k: k, nb: 1,
		a: matrix(a, false), b: [2]operand{matrix(b, p.TransB)}}
}

// TestGemvPathSelection: which calls take the few-rows path on each ISA path.
func TestGemvPathSelection(t *testing.T) {
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		fast := pickKernel(tensor.Float32).name != "generic" // generic under purego too
		f32 := func(l layout, shape ...int) tensor.Tensor { return newBuf(tensor.Float32, shape, l).t }
		cases := []struct {
			name string
			a, b tensor.Tensor
			p    Params
			want bool
		}{
			{"M=1 row-major B", f32(rowMajor, 1, 40), f32(rowMajor, 40, 30), Params{Alpha: 1}, fast},
			{"M=8 transposed B", f32(rowMajor, 8, 40), f32(rowMajor, 30, 40), Params{Alpha: 1, TransB: true}, fast},
			{"M=8 strided A", f32(padRev, 8, 40), f32(rowMajor, 30, 40), Params{Alpha: 1, TransB: true}, fast},
			{"M=9", f32(rowMajor, 9, 40), f32(rowMajor, 40, 30), Params{Alpha: 1}, false},
			{"K=0", f32(rowMajor, 2, 0), f32(rowMajor, 0, 30), Params{Alpha: 1}, false},
			{"B reversed columns", f32(rowMajor, 2, 40), f32(padRev, 40, 30), Params{Alpha: 1}, false},
			{"B strided columns", f32(rowMajor, 2, 40), f32(rowsRev, 40, 30), Params{Alpha: 1}, false},
			{"W reversed k", f32(rowMajor, 2, 40), f32(padRev, 30, 40), Params{Alpha: 1, TransB: true}, false},
			{"float16", newBuf(tensor.Float16, []int{2, 40}, rowMajor).t, newBuf(tensor.Float16, []int{40, 30}, rowMajor).t, Params{Alpha: 1}, false},
			// bfloat16 takes it on the AVX512-BF16 path only, with W transposed (pairs of
			// k's in its rows) and K even.
			{"bfloat16", newBuf(tensor.BFloat16, []int{2, 40}, rowMajor).t, newBuf(tensor.BFloat16, []int{30, 40}, rowMajor).t, Params{Alpha: 1, TransB: true}, pickKernel(tensor.BFloat16).bf16},
			{"bfloat16 odd K", newBuf(tensor.BFloat16, []int{2, 41}, rowMajor).t, newBuf(tensor.BFloat16, []int{30, 41}, rowMajor).t, Params{Alpha: 1, TransB: true}, false},
			{"bfloat16 row-major B", newBuf(tensor.BFloat16, []int{2, 40}, rowMajor).t, newBuf(tensor.BFloat16, []int{40, 30}, rowMajor).t, Params{Alpha: 1}, false},
		}
		for _, c := range cases {
			pr := gemvProblem(c.a, c.b, c.p)
			if got := pr.gemvFits(); got != c.want {
				t.Errorf("%s: few-rows path %v, want %v", c.name, got, c.want)
			}
		}
	})
}

// gemvLayout is a storage of B for the few-rows tests.
type gemvLayout int

const (
	bContiguous   gemvLayout = iota
	bReversedRows            // negative stride between rows (rows of B, or of W)
	bPadded                  // rows longer than needed (a column range of a wider matrix)
	bReversedCols            // unit stride lost: the blocked path handles it
	gemvLayouts
)

// newB returns B (shape [k, n], or the weight [n, k] with trans) stored as l.
func newB(dt tensor.DType, k, n int, trans bool, l gemvLayout) *buf {
	shape := []int{k, n}
	if trans {
		shape = []int{n, k}
	}
	switch l {
	case bReversedRows:
		b := newBuf(dt, shape, rowMajor)
		reverseRows(b)
		return b
	case bPadded:
		b := newBuf(dt, []int{shape[0], shape[1] + 5}, rowMajor)
		b.t = colsView(b.t, 3, shape[1])
		return b
	case bReversedCols:
		return newBuf(dt, shape, padRev)
	}
	return newBuf(dt, shape, rowMajor)
}

// TestGemvMatchesBlocked: for M = 1..9 rows at every ISA path, float32 and bfloat16
// inputs (the AVX512-BF16 path's pairs kernel with even K, the blocked path otherwise),
// both layouts of B, N and K at and around the vector, tile and band sizes (and a band
// wider than a finisher call), strided A and B, and alpha/beta with half-precision
// outputs, rows computed alone equal the same rows of a 130-row product bit for bit,
// and match the float64 reference.
func TestGemvMatchesBlocked(t *testing.T) {
	const big = 130
	type nk struct{ n, k int }
	sizes := []nk{{1, 1}, {7, 9}, {8, 8}, {16, 16}, {17, 33}, {31, 15}, {33, 600}, {255, 17}, {256, 64}, {300, 100}, {520, 47}, {1100, 40}}
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		count := 0
		for _, in := range []tensor.DType{tensor.Float32, tensor.BFloat16} {
			for _, sz := range sizes {
				for _, trans := range []bool{false, true} {
					count++
					n, k := sz.n, sz.k
					lb := gemvLayout(count % int(gemvLayouts))
					la := layout(count % 2) // contiguous or padded with reversed columns
					rng := rand.New(rand.NewPCG(11, uint64(count)))
					a := newBuf(in, []int{big, k}, la)
					av := a.fill(normals(rng, big*k))
					b := newB(in, k, n, trans, lb)
					bv := b.fill(normals(rng, k*n))
					p := scales[count%len(scales)]
					p.TransB = trans
					out := floatTypes[count%3]
					cold := newBuf(out, []int{big, n}, rowMajor)
					coldv := cold.fill(normals(rng, big*n))
					full := newBuf(out, []int{big, n}, rowMajor)
					copy(full.mem, cold.mem)
					if err := Matmul(a.t, b.t, full.t, p); err != nil {
						t.Fatal(err)
					}
					fullBits := full.bits()
					name := fmt.Sprintf("%v/N=%d/K=%d/trans=%v/%d/%v", in, n, k, trans, lb, out)
					for m := 1; m <= 9; m++ {
						r0 := (m * 13) % (big - m)
						c := newBuf(out, []int{m, n}, layout(m%2))
						c.fill(coldv[r0*n : (r0+m)*n])
						if err := Matmul(rowsView(a.t, r0, m), b.t, c.t, p); err != nil {
							t.Fatal(err)
						}
						if got := c.bits(); !slices.Equal(got, fullBits[r0*n:(r0+m)*n]) {
							t.Fatalf("%s: rows %d..%d alone differ from the same rows of the %d-row product", name, r0, r0+m-1, big)
						}
						c.checkGuards(t, "c")
						bshape := []int{k, n}
						if trans {
							bshape = []int{n, k}
						}
						ref, tol := refMatmul(mat{av[r0*k : (r0+m)*k], []int{m, k}}, mat{bv, bshape},
							coldv[r0*n:(r0+m)*n], []int{m, n}, p, out)
						compareAll(t, name, c.read(), ref, tol)
					}
				}
			}
		}
	})
}

// TestGemvThreadsAndLinear: on the few-rows path, 1, 2 and 3 threads give the same bits
// (several column bands), and Linear, GatedLinear and Matmul agree with each other and
// with the rows of a 130-row product.
func TestGemvThreadsAndLinear(t *testing.T) {
	const n, k, big = 2100, 333, 130
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		rng := rand.New(rand.NewPCG(12, 0))
		x := newBuf(tensor.Float32, []int{big, k}, rowMajor)
		x.fill(normals(rng, big*k))
		w := newBuf(tensor.Float32, []int{n, k}, rowMajor)
		w.fill(normals(rng, n*k))
		w2 := newBuf(tensor.Float32, []int{n, k}, rowMajor)
		w2.fill(normals(rng, n*k))
		pt := Params{Alpha: 1, TransB: true}
		full := product(t, 2, x.t, w.t, tensor.Float32, pt)
		for _, m := range []int{1, 5, 8} {
			xs := rowsView(x.t, 3, m)
			want := full[3*n : (3+m)*n]
			for _, threads := range []int{1, 2, 3} {
				if got := product(t, threads, xs, w.t, tensor.Float32, pt); !slices.Equal(got, want) {
					t.Fatalf("M=%d, %d threads: differs from the full product", m, threads)
				}
			}
			y := newBuf(tensor.Float32, []int{m, n}, rowMajor)
			if err := Linear(xs, w.t, nil, y.t); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(y.bits(), want) {
				t.Fatalf("M=%d: Linear differs from Matmul", m)
			}
			lin2 := newBuf(tensor.Float32, []int{m, n}, rowMajor)
			if err := Linear(xs, w2.t, nil, lin2.t); err != nil {
				t.Fatal(err)
			}
			full2 := product(t, 2, x.t, w2.t, tensor.Float32, pt)
			if !slices.Equal(lin2.bits(), full2[3*n:(3+m)*n]) {
				t.Fatalf("M=%d: Linear with the second weight differs from the full product", m)
			}
			for which := range 2 {
				got := newBuf(tensor.Float32, []int{m, n}, rowMajor)
				pick := func(dst, gate, up []float32) { copy(dst, [2][]float32{gate, up}[which]) }
				if err := GatedLinear(xs, w.t, w2.t, got.t, pick); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.bits(), [2][]uint32{y.bits(), lin2.bits()}[which]) {
					t.Fatalf("M=%d: GatedLinear operand %d differs from Linear", m, which)
				}
			}
		}
	})
}

// TestGemvAllocations: a few-rows call allocates a bounded number of objects (argument
// views and the parallel loop), independent of the size: buffers come from pools.
func TestGemvAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, n := range []int{64, 1024, 3000} {
		x := tensor.FromFloat32(make([]float32, 4*n), 4, n)
		w := tensor.FromFloat32(make([]float32, n*n), n, n)
		y := tensor.FromFloat32(make([]float32, 4*n), 4, n)
		Linear(x, w, nil, y) // warm the pools
		if allocs := testing.AllocsPerRun(3, func() { Linear(x, w, nil, y) }); allocs > 16 {
			t.Fatalf("n=%d: %v allocations per call, want at most 16", n, allocs)
		}
	}
}
