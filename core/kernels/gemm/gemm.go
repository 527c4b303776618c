// Package gemm is the matrix multiply of libmlxprim: C = Alpha*op(A)*op(B) + Beta*C over
// batched, broadcast, arbitrarily strided float32/float16/bfloat16 tensors, and the
// Linear and GatedLinear layers built on it.
//
// It is a packed, blocked GEMM with assembly micro-kernels per ISA path (AVX-512,
// AVX512-BF16, AVX2+FMA) and a plain-Go definition (kernel_generic.go). Products of at
// most 8 rows with float32 operands (decode shapes; bfloat16 with a transposed B on the
// AVX512-BF16 path) instead stream B in place, without packing (gemv.go), with the same
// per-element chain. Accumulation is
// float32. Every output element is one multiply-add chain over k = 0..K-1 in order, so
// its value depends only on its row of A, its column of B, K and the ISA path: results
// are bit-identical for any thread count, batch size, tile position or matrix shape
// (batch invariance), and a row computed alone equals the same row inside a batch.
//
// Per path: generic rounds each product and each sum separately; AVX2 and AVX-512 use
// fused multiply-adds (and give identical bits to each other); the AVX512-BF16 path,
// used for bfloat16 A and B, adds pairs of products (k even, k+1) with VDPBF16PS (which
// treats subnormal inputs and results as zero).
// float16 and bfloat16 inputs are widened to float32 exactly while packing on the other
// paths. The path follows cpu.Selected() at call time.
//
// All functions are safe for concurrent use; scratch memory comes from pools.
package gemm

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Params of Matmul: C = Alpha*op(A)*op(B) + Beta*C, where op transposes the last two
// dimensions when the Trans flag is set. The result is computed as
// round(alpha*acc + beta*c_old) with acc the float32 accumulator; each multiplication and
// the addition are rounded to float32 separately, alpha*acc is skipped when Alpha == 1,
// and with Beta == 0 the old C is never read (NaN or garbage in C is ignored).
type Params struct {
	TransA, TransB bool
	Alpha, Beta    float32
}

// DefaultParams returns Alpha 1, Beta 0, no transposition. (The zero Params has Alpha
// 0 and so computes C = 0.)
func DefaultParams() Params { return Params{Alpha: 1} }

// Matmul computes c = Alpha*op(a)*op(b) + Beta*c.
//
// Shapes: a [..., M, K] ([..., K, M] with TransA), b [..., K, N] ([..., N, K] with
// TransB), c [..., M, N], each with at least 2 dimensions. The batch dimensions of a and
// b broadcast (NumPy rules) to the batch dimensions of c. a and b share one dtype
// (float32, float16 or bfloat16); c is any of the three. Accumulation is float32; a
// half-precision c is rounded once at the end, and with Beta != 0 its old value is read
// as float32. Any strides are accepted (contiguous rows are the fast path); c must not
// overlap a, b or itself. On error nothing is written.
func Matmul(a, b, c tensor.Tensor, p Params) error {
	if err := checkOperands([3]string{"a", "b", "c"}, a, b, c); err != nil {
		return err
	}
	for _, x := range []struct {
		name string
		t    tensor.Tensor
	}{{"a", a}, {"b", b}, {"c", c}} {
		if x.t.NDim() < 2 {
			return errs.New(errs.ShapeMismatch, "%s: needs at least 2 dimensions, got shape %v", x.name, x.t.Shape)
		}
	}
	na, nb, ncd := a.NDim(), b.NDim(), c.NDim()
	m, ka := a.Shape[na-2], a.Shape[na-1]
	if p.TransA {
		m, ka = ka, m
	}
	kb, n := b.Shape[nb-2], b.Shape[nb-1]
	if p.TransB {
		kb, n = n, kb
	}
	if ka != kb {
		return errs.New(errs.ShapeMismatch, "b: inner dimension %d does not match a's %d (a %v, b %v, transA %v, transB %v)", kb, ka, a.Shape, b.Shape, p.TransA, p.TransB)
	}
	if c.Shape[ncd-2] != m || c.Shape[ncd-1] != n {
		return errs.New(errs.ShapeMismatch, "c: shape %v, want [..., %d, %d]", c.Shape, m, n)
	}
	batch := c.Shape[:ncd-2]
	ab, err := tensor.BroadcastTo("a", a, append(append([]int{}, batch...), a.Shape[na-2:]...))
	if err != nil {
		return err
	}
	bb, err := tensor.BroadcastTo("b", b, append(append([]int{}, batch...), b.Shape[nb-2:]...))
	if err != nil {
		return err
	}
	if err := checkOutput("c", c, tensor.Named{Name: "a", T: a}, tensor.Named{Name: "b", T: b}); err != nil {
		return err
	}
	if c.NumEl() == 0 {
		return nil
	}

	nbatch := tensor.NumElOf(batch)
	aOff, bOff, cOff := batchOffsets(ab, batch), batchOffsets(bb, batch), batchOffsets(c, batch)
	ao := matrix(a, p.TransA)
	bo := matrix(b, p.TransB)
	co := matrix(c, false)
	pr := problem{
		spec: pickKernel(a.DType), m: m, n: n, k: ka, nb: 1,
		alpha: p.Alpha, direct: c.DType == tensor.Float32 && co.cs == 1 && p.Beta == 0,
	}
	if !pr.direct {
		pr.fin = matmulFin{alpha: p.Alpha, beta: p.Beta}
	}
	shared := true // b is the same matrix for every batch entry
	for _, o := range bOff {
		shared = shared && o == bOff[0]
	}
	if shared {
		// One problem: the batch matrices of a and c become consecutive row blocks.
		pr.m = nbatch * m
		pr.a, pr.out = ao, co
		if nbatch > 1 {
			pr.a.per, pr.a.boff = m, aOff
			pr.out.per, pr.out.boff = m, cOff
		}
		pr.b[0] = bo.shift(bOff[0])
		pr.run()
		return nil
	}
	runBatches(nbatch, pr, func(q *problem, t int) {
		q.a, q.b[0], q.out = ao.shift(aOff[t]), bo.shift(bOff[t]), co.shift(cOff[t])
	})
	return nil
}

// runBatches runs one problem per batch entry; set fills in the operands of entry t.
// Small problems run one per worker, large ones one after another, each in parallel.
func runBatches(nbatch int, pr problem, set func(q *problem, t int)) {
	if 2*pr.m*pr.n*pr.k >= 4*serialFlops {
		for t := range nbatch {
			q := pr
			set(&q, t)
			q.run()
		}
		return
	}
	cpu.ParallelFor(nbatch, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			q := pr
			q.serial = true
			set(&q, t)
			q.run()
		}
	})
}

// matrix views the last two dimensions of t as a (rows x cols) operand, transposed when
// trans is set. The batch offset is added by the caller.
func matrix(t tensor.Tensor, trans bool) operand {
	nd := t.NDim()
	o := operand{p: t.Data, dt: t.DType, rs: t.Strides[nd-2], cs: t.Strides[nd-1]}
	if trans {
		o.rs, o.cs = o.cs, o.rs
	}
	return o
}

// shift returns o moved by off elements.
func (o operand) shift(off int) operand {
	o.p = unsafe.Add(o.p, off*o.size())
	return o
}

// batchOffsets returns the element offset of each batch matrix of t (whose leading
// dimensions equal batch), in row-major batch order.
func batchOffsets(t tensor.Tensor, batch []int) []int {
	n := tensor.NumElOf(batch)
	offs := make([]int, n)
	idx := make([]int, len(batch))
	off := 0
	for i := range n {
		offs[i] = off
		for d := len(batch) - 1; d >= 0; d-- {
			idx[d]++
			off += t.Strides[d]
			if idx[d] < batch[d] {
				break
			}
			off -= idx[d] * t.Strides[d]
			idx[d] = 0
		}
	}
	return offs
}

// checkOperands validates two inputs and the output (named by names): well formed, float dtypes, and one
// dtype for both inputs.
func checkOperands(names [3]string, a, b, c tensor.Tensor) error {
	for i, t := range [3]tensor.Tensor{a, b, c} {
		if err := checkFloat(names[i], t); err != nil {
			return err
		}
	}
	if a.DType != b.DType {
		return errs.New(errs.UnsupportedDtype, "%s: dtype %v differs from %s's %v", names[1], b.DType, names[0], a.DType)
	}
	return nil
}

func checkFloat(name string, t tensor.Tensor) error {
	if err := t.Validate(name); err != nil {
		return err
	}
	if !t.DType.IsFloat() {
		return errs.New(errs.UnsupportedDtype, "%s: dtype %v is not float32, float16 or bfloat16", name, t.DType)
	}
	return nil
}

// checkOutput rejects an output that overlaps any input (even as the same view: a
// product cannot be computed in place) or whose elements overlap each other.
func checkOutput(name string, out tensor.Tensor, inputs ...tensor.Named) error {
	if out.NumEl() == 0 {
		return nil
	}
	for _, in := range inputs {
		if in.T.NumEl() > 0 && tensor.SameView(out, in.T) {
			return errs.New(errs.InvalidArgument, "%s overlaps %s", name, in.Name)
		}
	}
	if err := tensor.CheckOutputOverlap(tensor.Named{Name: name, T: out}, inputs...); err != nil {
		return err
	}
	if selfOverlaps(out) {
		return errs.New(errs.InvalidArgument, "%s: strides %v make elements of shape %v overlap", name, out.Strides, out.Shape)
	}
	return nil
}

// selfOverlaps reports whether two elements of t may share memory: sorted by |stride|,
// each dimension of size > 1 must step past the whole extent of the smaller ones.
func selfOverlaps(t tensor.Tensor) bool {
	type dim struct{ size, stride int }
	var dims []dim
	for i, d := range t.Shape {
		if d > 1 {
			s := t.Strides[i]
			if s < 0 {
				s = -s
			}
			dims = append(dims, dim{d, s})
		}
	}
	for i := 1; i < len(dims); i++ {
		for j := i; j > 0 && dims[j].stride < dims[j-1].stride; j-- {
			dims[j], dims[j-1] = dims[j-1], dims[j]
		}
	}
	extent := 0 // largest offset reachable by the smaller dimensions
	for _, d := range dims {
		if d.stride <= extent {
			return true
		}
		extent += d.stride * (d.size - 1)
	}
	return false
}
