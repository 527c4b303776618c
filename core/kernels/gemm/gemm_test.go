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

var floatTypes = []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16}

// forEachPath runs body once per ISA path available on this machine.
func forEachPath(t *testing.T, body func(t *testing.T, isa cpu.ISA)) {
	for _, isa := range cpu.Available() {
		t.Run(isa.String(), func(t *testing.T) {
			defer cpu.UseISA(isa)()
			body(t, isa)
		})
	}
}

// mat is a logical (row-major) array of float64 values with its shape.
type mat struct {
	v     []float64
	shape []int
}

// at returns element [batch..., r, c] where batch indexes the output's batch dimensions
// and m's own batch dimensions broadcast against them (right-aligned, size 1 repeats).
func (m mat) at(batch []int, r, c int) float64 {
	nd := len(m.shape)
	off := 0
	for d := 0; d < nd-2; d++ {
		i := batch[len(batch)-(nd-2)+d]
		if m.shape[d] == 1 {
			i = 0
		}
		off = off*m.shape[d] + i
	}
	return m.v[(off*m.shape[nd-2]+r)*m.shape[nd-1]+c]
}

// refMatmul is the float64 definition: for each c element, alpha*sum_k a_ik b_kj + beta*c.
// It also returns the tolerance of each element for output dtype out.
func refMatmul(a, b mat, cold []float64, cshape []int, p Params, out tensor.DType) (ref, tol []float64) {
	nd := len(cshape)
	m, n := cshape[nd-2], cshape[nd-1]
	k := a.shape[len(a.shape)-1]
	if p.TransA {
		k = a.shape[len(a.shape)-2]
	}
	ref = make([]float64, len(cold))
	tol = make([]float64, len(cold))
	batch := make([]int, nd-2)
	for idx := range ref {
		rest := idx / (m * n)
		for d := nd - 3; d >= 0; d-- {
			batch[d] = rest % cshape[d]
			rest /= cshape[d]
		}
		i, j := idx/n%m, idx%n
		var s, sAbs float64
		for kk := range k {
			var av, bv float64
			if p.TransA {
				av = a.at(batch, kk, i)
			} else {
				av = a.at(batch, i, kk)
			}
			if p.TransB {
				bv = b.at(batch, j, kk)
			} else {
				bv = b.at(batch, kk, j)
			}
			s += av * bv
			sAbs += math.Abs(av * bv)
		}
		v := float64(p.Alpha) * s
		extra := 0.0
		if p.Beta != 0 {
			extra = math.Abs(float64(p.Beta) * cold[idx])
			v += float64(p.Beta) * cold[idx]
		}
		ref[idx] = v
		tol[idx] = tolerance(k, math.Abs(float64(p.Alpha))*sAbs, extra, v, out)
	}
	return ref, tol
}

func compareAll(t *testing.T, what string, got, ref, tol []float64) {
	t.Helper()
	for i := range ref {
		if d := math.Abs(got[i] - ref[i]); !(d <= tol[i]) {
			t.Fatalf("%s: element %d = %v, want %v (|diff| %.3g > tolerance %.3g)", what, i, got[i], ref[i], d, tol[i])
		}
	}
}

// matmulCase runs one Matmul against the reference.
type matmulCase struct {
	ashape, bshape, cshape []int
	in, out                tensor.DType
	la, lb, lc             layout
	p                      Params
}

func (tc matmulCase) run(t *testing.T, rng *rand.Rand) {
	t.Helper()
	a := newBuf(tc.in, tc.ashape, tc.la)
	b := newBuf(tc.in, tc.bshape, tc.lb)
	c := newBuf(tc.out, tc.cshape, tc.lc)
	av := a.fill(normals(rng, tensor.NumElOf(tc.ashape)))
	bv := b.fill(normals(rng, tensor.NumElOf(tc.bshape)))
	var cold []float64
	if tc.p.Beta == 0 {
		nan := make([]float64, tensor.NumElOf(tc.cshape))
		for i := range nan {
			nan[i] = math.NaN() // must be ignored
		}
		c.fill(nan)
		cold = make([]float64, len(nan))
	} else {
		cold = c.fill(normals(rng, tensor.NumElOf(tc.cshape)))
	}
	if err := Matmul(a.t, b.t, c.t, tc.p); err != nil {
		t.Fatal(err)
	}
	ref, tol := refMatmul(mat{av, tc.ashape}, mat{bv, tc.bshape}, cold, tc.cshape, tc.p, tc.out)
	compareAll(t, fmt.Sprintf("%+v", tc), c.read(), ref, tol)
	c.checkGuards(t, "c")
}

func shapeAB(m, n, k int, p Params) (as, bs []int) {
	as, bs = []int{m, k}, []int{k, n}
	if p.TransA {
		as = []int{k, m}
	}
	if p.TransB {
		bs = []int{n, k}
	}
	return as, bs
}

var scales = []Params{{Alpha: 1}, {Alpha: 0.5}, {Alpha: 1.5, Beta: -0.75}, {Alpha: -1, Beta: 1}}

// TestMatmulMatchesReference covers every path x input dtype x size x transposition,
// cycling output dtype, layouts and alpha/beta. Sizes hit edge tiles (M, N not multiples
// of any tile), K not a multiple of any K block (256, 512, 1024), more than one work
// item's columns in the few-rows schedule, more than one column block (128, 256 or 512
// columns) and K block in the blocked schedule (also under the race detector) and,
// through the batch test, more than one row band.
func TestMatmulMatchesReference(t *testing.T) {
	sizes := [][3]int{ // M, N, K
		{1, 1, 1}, {1, 7, 31}, {7, 33, 33}, {31, 31, 7}, {33, 64, 127}, {64, 1, 64},
		{127, 127, 300}, {13, 70, 513}, {1023, 33, 20}, {5, 1023, 1023}, {2, 17, 1023},
		{20, 600, 40}, {3, 2, 0}, {97, 129, 1025},
	}
	if !raceEnabled {
		// Two N blocks of the blocked schedule on every path; its float64 reference is
		// too slow under the race detector, and the schedule is the one of the other sizes.
		sizes = append(sizes, [3]int{100, 1040, 260})
		// Three K blocks or more of the blocked schedule on every path, the last one
		// short.
		sizes = append(sizes, [3]int{110, 300, 2100})
		// The few-rows schedule with items of 16 panels on two threads, the last one
		// short and its last panel partial.
		sizes = append(sizes, [3]int{40, 2100, 70})
	}
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		count := 0
		for _, in := range floatTypes {
			t.Run(fmt.Sprintf("%v(%s)", in, pickKernel(in).name), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, uint64(in)))
				for _, sz := range sizes {
					for tr := range 4 {
						count++
						p := scales[count%len(scales)]
						p.TransA, p.TransB = tr&1 == 1, tr&2 == 2
						as, bs := shapeAB(sz[0], sz[1], sz[2], p)
						tc := matmulCase{
							ashape: as, bshape: bs, cshape: []int{sz[0], sz[1]},
							in: in, out: floatTypes[count%3],
							la: layout(count % 3), lb: layout(count / 3 % 3), lc: layout(count / 9 % 3),
							p: p,
						}
						tc.run(t, rng)
					}
				}
			})
		}
	})
}

// TestMatmulBatchBroadcast covers broadcast batch dimensions: a shared b (rows of all
// batch matrices merged into one problem, beyond one 2048-row pass), a shared a, both
// broadcast, and large per-batch problems.
func TestMatmulBatchBroadcast(t *testing.T) {
	cases := []struct{ a, b, c []int }{
		{[]int{2, 1, 13, 37}, []int{3, 37, 40}, []int{2, 3, 13, 40}},
		{[]int{4, 13, 37}, []int{37, 40}, []int{4, 13, 40}},
		{[]int{3, 700, 9}, []int{9, 5}, []int{3, 700, 5}},
		{[]int{13, 37}, []int{2, 37, 40}, []int{2, 13, 40}},
		{[]int{1, 13, 37}, []int{2, 1, 37, 40}, []int{2, 1, 13, 40}},
		{[]int{2, 160, 160}, []int{2, 160, 160}, []int{2, 160, 160}},
	}
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		rng := rand.New(rand.NewPCG(2, 0))
		for i, cs := range cases {
			for _, in := range floatTypes {
				tc := matmulCase{ashape: cs.a, bshape: cs.b, cshape: cs.c, in: in, out: floatTypes[i%3],
					la: layout(i % 3), lb: layout((i + 1) % 3), lc: layout((i + 2) % 3), p: scales[i%len(scales)]}
				t.Run(fmt.Sprintf("%v/%v", in, cs), func(t *testing.T) { tc.run(t, rng) })
			}
		}
	})
}

// product computes c = a*b with the given thread count and returns c's bits.
func product(t *testing.T, threads int, a, b tensor.Tensor, out tensor.DType, p Params) []uint32 {
	t.Helper()
	if err := cpu.SetNumThreads(threads); err != nil {
		t.Fatal(err)
	}
	defer cpu.SetNumThreads(0)
	nd := a.NDim()
	m, n := a.Shape[nd-2], b.Shape[b.NDim()-1]
	if p.TransA {
		m = a.Shape[nd-1]
	}
	if p.TransB {
		n = b.Shape[b.NDim()-2]
	}
	shape := append(slices.Clone(a.Shape[:nd-2]), m, n)
	c := newBuf(out, shape, rowMajor)
	if err := Matmul(a, b, c.t, p); err != nil {
		t.Fatal(err)
	}
	return c.bits()
}

// rowsView returns rows r0..r0+n-1 of a 2-D tensor as a view.
func rowsView(x tensor.Tensor, r0, n int) tensor.Tensor {
	v := x
	v.Data = unsafeAdd(x.Data, r0*x.Strides[0]*x.DType.Bits()/8)
	v.Shape = []int{n, x.Shape[1]}
	return v
}

// colsView returns columns c0..c0+n-1 of a 2-D tensor as a view.
func colsView(x tensor.Tensor, c0, n int) tensor.Tensor {
	v := x
	v.Data = unsafeAdd(x.Data, c0*x.Strides[1]*x.DType.Bits()/8)
	v.Shape = []int{x.Shape[0], n}
	return v
}

// TestDeterminism checks bit-identical results for 1, 2 and 3 threads, and batch
// invariance: a row computed alone (M=1, the decode schedule and short kernel), a few
// rows, a column subset, the same rows as a batch of matrices, transposed storage and
// Linear all give the bits of the full product, for M=64 (few-rows schedule) and M=130
// (blocked schedule). K=1100 spans two K blocks or more on every path.
func TestDeterminism(t *testing.T) {
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		for _, in := range []tensor.DType{tensor.Float32, tensor.BFloat16} {
			for _, m := range []int{64, 130} {
				t.Run(fmt.Sprintf("%v/M=%d", in, m), func(t *testing.T) { checkDeterminism(t, in, m) })
			}
		}
	})
}

func checkDeterminism(t *testing.T, in tensor.DType, m int) {
	const n, k = 100, 1100
	rng := rand.New(rand.NewPCG(3, uint64(in)))
	a := newBuf(in, []int{m, k}, rowMajor)
	av := a.fill(normals(rng, m*k))
	b := newBuf(in, []int{k, n}, rowMajor)
	bv := b.fill(normals(rng, k*n))
	p := DefaultParams()
	full := product(t, 2, a.t, b.t, tensor.Float32, p)
	for _, threads := range []int{1, 3} {
		if got := product(t, threads, a.t, b.t, tensor.Float32, p); !slices.Equal(got, full) {
			t.Fatalf("%d threads differ from 2 threads", threads)
		}
	}
	for _, r := range [][2]int{{0, 1}, {5, 1}, {m - 1, 1}, {3, 8}, {11, 13}, {20, m - 33}} {
		got := product(t, 2, rowsView(a.t, r[0], r[1]), b.t, tensor.Float32, p)
		if !slices.Equal(got, full[r[0]*n:(r[0]+r[1])*n]) {
			t.Fatalf("rows %d..%d computed alone differ from the full product", r[0], r[0]+r[1]-1)
		}
	}
	got := product(t, 2, a.t, colsView(b.t, 7, 33), tensor.Float32, p)
	for i := range m {
		if !slices.Equal(got[i*33:(i+1)*33], full[i*n+7:i*n+40]) {
			t.Fatalf("row %d of a column subset differs", i)
		}
	}
	batched := a.t
	batched.Shape, batched.Strides = []int{2, m / 2, k}, []int{m / 2 * k, k, 1}
	if got := product(t, 2, batched, b.t, tensor.Float32, p); !slices.Equal(got, full) {
		t.Fatal("the same rows as a batch of 2 matrices differ")
	}
	// Transposed storage of both operands holds the same values.
	at := newBuf(in, []int{k, m}, padRev)
	bt := newBuf(in, []int{n, k}, rowsRev)
	at.fill(transpose(av, m, k))
	bt.fill(transpose(bv, k, n))
	pt := Params{TransA: true, TransB: true, Alpha: 1}
	if got := product(t, 2, at.t, bt.t, tensor.Float32, pt); !slices.Equal(got, full) {
		t.Fatal("transposed storage gives different bits")
	}
	// Linear with W = B^T gives the same bits.
	y := newBuf(tensor.Float32, []int{m, n}, rowMajor)
	if err := Linear(a.t, bt.t, nil, y.t); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(y.bits(), full) {
		t.Fatal("Linear differs from Matmul")
	}
}

// TestNarrowItemWidths: on the few-rows schedule the width of a work item follows the
// thread count (32, 16 and 11 panels of B for 1, 2 and 3 threads here); every width
// gives the same bits.
func TestNarrowItemWidths(t *testing.T) {
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		for _, in := range []tensor.DType{tensor.Float32, tensor.BFloat16} {
			const m, n, k = 40, 2100, 300
			rng := rand.New(rand.NewPCG(5, uint64(in)))
			a := newBuf(in, []int{m, k}, rowMajor)
			a.fill(normals(rng, m*k))
			b := newBuf(in, []int{k, n}, rowMajor)
			b.fill(normals(rng, k*n))
			want := product(t, 1, a.t, b.t, tensor.Float32, DefaultParams())
			for _, threads := range []int{2, 3} {
				if got := product(t, threads, a.t, b.t, tensor.Float32, DefaultParams()); !slices.Equal(got, want) {
					t.Fatalf("%v: %d threads differ from 1 thread", in, threads)
				}
			}
		}
	})
}

// TestFMAPathsAgree: the AVX2 and AVX-512 float32 kernels run the same fused chain, so
// their bits agree exactly (the package doc promises it).
func TestFMAPathsAgree(t *testing.T) {
	if cpu.Best() < cpu.AVX512 {
		t.Skip("needs AVX-512 and AVX2")
	}
	rng := rand.New(rand.NewPCG(4, 0))
	a := newBuf(tensor.Float32, []int{37, 300}, rowMajor)
	a.fill(normals(rng, 37*300))
	b := newBuf(tensor.Float32, []int{300, 45}, padRev)
	b.fill(normals(rng, 300*45))
	var res [2][]uint32
	for i, isa := range []cpu.ISA{cpu.AVX2, cpu.AVX512} {
		restore := cpu.UseISA(isa)
		res[i] = product(t, 2, a.t, b.t, tensor.Float32, DefaultParams())
		restore()
	}
	if !slices.Equal(res[0], res[1]) {
		t.Fatal("AVX2 and AVX-512 results differ")
	}
}

func transpose(v []float64, r, c int) []float64 {
	out := make([]float64, len(v))
	for i := range r {
		for j := range c {
			out[j*r+i] = v[i*c+j]
		}
	}
	return out
}
