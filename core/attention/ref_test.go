package attention

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Test inputs and the float64 reference, written from the formulas of the package doc
// (materialized scores and an explicit mask), independent of the kernels.

// storage modes of a test tensor
const (
	contiguous = iota
	padded     // every dimension padded (sd = 1, gaps between rows)
	spread     // padded and element stride 2 along the head dim
)

const guard = 12288.0 // exact in every float dtype; written around outputs to catch stray writes

// buf is a 4-D test tensor given in logical BSHD order [B, S, H, D] (or any 3/4-D shape
// for lse and bias) with its float64 values.
type buf struct {
	t     tensor.Tensor
	f32   []float32
	u16   []uint16
	shape []int // logical shape
	perm  []int // logical dim i is physical dim perm[i]
	vals  []float64
}

// newBuf allocates a tensor of logical shape (physical axis order given by perm) with the
// given storage mode; every element not part of the tensor holds fill.
func newBuf(dt tensor.DType, shape, perm []int, mode int, fill float32) *buf {
	phys := make([]int, len(shape))
	for i, p := range perm {
		phys[p] = shape[i]
	}
	alloc := slices.Clone(phys)
	mul := 1
	if mode != contiguous {
		for i := range alloc {
			alloc[i]++
		}
		alloc[len(alloc)-1] += 2
	}
	if mode == spread {
		mul = 2
	}
	st := tensor.RowMajorStrides(alloc)
	for i := range st {
		st[i] *= mul
	}
	n := tensor.NumElOf(alloc) * mul
	b := &buf{shape: slices.Clone(shape), perm: slices.Clone(perm)}
	var data unsafe.Pointer
	if dt == tensor.Float32 {
		b.f32 = make([]float32, n+1)
		for i := range b.f32 {
			b.f32[i] = fill
		}
		data = unsafe.Pointer(&b.f32[0])
	} else {
		b.u16 = make([]uint16, n+1)
		h := toBits(dt, fill)
		for i := range b.u16 {
			b.u16[i] = h
		}
		data = unsafe.Pointer(&b.u16[0])
	}
	b.t = tensor.Tensor{Data: data, DType: dt, Shape: phys, Strides: st}
	return b
}

func toBits(dt tensor.DType, v float32) uint16 {
	if dt == tensor.Float16 {
		return tensor.F32ToF16(v)
	}
	return tensor.F32ToBF16(v)
}

func (b *buf) off(idx ...int) int {
	o := 0
	for i, x := range idx {
		o += x * b.t.Strides[b.perm[i]]
	}
	return o
}

func (b *buf) set(v float32, idx ...int) {
	o := b.off(idx...)
	if b.f32 != nil {
		b.f32[o] = v
	} else {
		b.u16[o] = toBits(b.t.DType, v)
	}
}

func (b *buf) get(idx ...int) float64 {
	o := b.off(idx...)
	if b.f32 != nil {
		return float64(b.f32[o])
	}
	if b.t.DType == tensor.Float16 {
		return float64(tensor.F16ToF32(b.u16[o]))
	}
	return float64(tensor.BF16ToF32(b.u16[o]))
}

// each calls f for every logical index.
func each(shape []int, f func(idx []int)) {
	idx := make([]int, len(shape))
	if tensor.NumElOf(shape) == 0 {
		return
	}
	for {
		f(idx)
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// randomize fills the tensor and records the stored values (after rounding) in b.vals,
// in logical row-major order, for the reference.
func (b *buf) randomize(r *rand.Rand, amp float64) {
	b.vals = b.vals[:0]
	each(b.shape, func(idx []int) {
		b.set(float32((r.Float64()*2-1)*amp), idx...)
		b.vals = append(b.vals, b.get(idx...))
	})
}

// at returns the stored value of logical element [i0, i1, i2, i3] (after randomize).
func (b *buf) at(i0, i1, i2, i3 int) float64 {
	return b.vals[((i0*b.shape[1]+i1)*b.shape[2]+i2)*b.shape[3]+i3]
}

// guardsIntact reports whether every element outside the tensor still holds guard.
func (b *buf) guardsIntact() bool {
	n := max(len(b.f32), len(b.u16))
	in := make([]bool, n)
	each(b.shape, func(idx []int) { in[b.off(idx...)] = true })
	for o := range n {
		if in[o] {
			continue
		}
		var v float32
		if b.f32 != nil {
			v = b.f32[o]
		} else if b.t.DType == tensor.Float16 {
			v = tensor.F16ToF32(b.u16[o])
		} else {
			v = tensor.BF16ToF32(b.u16[o])
		}
		if v != guard {
			return false
		}
	}
	return true
}

// layoutPerm maps logical BSHD dims to the physical order of layout.
func layoutPerm(l Layout) []int {
	if l == BHSD {
		return []int{0, 2, 1, 3}
	}
	return []int{0, 1, 2, 3}
}

// cfg describes one attention problem.
type cfg struct {
	B, Lq, Lk, Hq, Hkv, D, Dv int
	dq, dk, dv, do            tensor.DType
	layout                    Layout
	mode                      int
	p                         Params
	biasShape                 []int // nil: no bias
	biasDT                    tensor.DType
	biasMaskFrac              float64 // fraction of bias entries set to -Inf
	withLSE                   bool
}

func baseCfg(B, Lq, Lk, H, D int) cfg {
	return cfg{B: B, Lq: Lq, Lk: Lk, Hq: H, Hkv: H, D: D, Dv: D, dq: tensor.Float32, dk: tensor.Float32,
		dv: tensor.Float32, do: tensor.Float32, p: DefaultParams(), biasDT: tensor.Float32, withLSE: true}
}

// problem is an instantiated cfg: inputs, outputs and the bias.
type problem struct {
	c          cfg
	q, k, v, o *buf
	lse, bias  *buf
	biasFull   []float64 // bias broadcast to [B, Hq, Lq, Lk]
	scale      float64
}

func newProblem(c cfg, seed uint64) *problem {
	r := rand.New(rand.NewPCG(seed, 7))
	perm := layoutPerm(c.layout)
	c.p.Layout = c.layout
	pr := &problem{c: c}
	pr.q = newBuf(c.dq, []int{c.B, c.Lq, c.Hq, c.D}, perm, c.mode, float32(math.NaN()))
	pr.k = newBuf(c.dk, []int{c.B, c.Lk, c.Hkv, c.D}, perm, c.mode, float32(math.NaN()))
	pr.v = newBuf(c.dv, []int{c.B, c.Lk, c.Hkv, c.Dv}, perm, c.mode, float32(math.NaN()))
	pr.o = newBuf(c.do, []int{c.B, c.Lq, c.Hq, c.Dv}, perm, c.mode, guard)
	pr.q.randomize(r, 2)
	pr.k.randomize(r, 2)
	pr.v.randomize(r, 1)
	if c.withLSE {
		pr.lse = newBuf(tensor.Float32, []int{c.B, c.Hq, c.Lq}, []int{0, 1, 2}, c.mode, guard)
	}
	if c.biasShape != nil {
		nd := len(c.biasShape)
		pr.bias = newBuf(c.biasDT, c.biasShape, []int{0, 1, 2, 3}[:nd], c.mode, float32(math.NaN()))
		each(c.biasShape, func(idx []int) {
			v := float32(r.Float64()*4 - 2)
			if r.Float64() < c.biasMaskFrac {
				v = float32(math.Inf(-1))
			}
			pr.bias.set(v, idx...)
		})
		full := []int{c.B, c.Hq, c.Lq, c.Lk}
		pr.biasFull = make([]float64, tensor.NumElOf(full))
		n := 0
		each(full, func(idx []int) {
			bi := make([]int, nd)
			for i := range nd {
				x := idx[4-nd+i]
				if c.biasShape[i] == 1 {
					x = 0
				}
				bi[i] = x
			}
			pr.biasFull[n] = pr.bias.get(bi...)
			n++
		})
		bt := pr.bias.t
		pr.c.p.Bias = &bt
	}
	pr.scale = float64(c.p.Scale)
	if pr.scale == 0 {
		pr.scale = 1 / math.Sqrt(float64(c.D))
	}
	return pr
}

func (pr *problem) run() error {
	var lse *tensor.Tensor
	if pr.lse != nil {
		lse = &pr.lse.t
	}
	return Forward(pr.q.t, pr.k.t, pr.v.t, pr.o.t, lse, pr.c.p)
}

// visible is the mask of the package doc, from the formula.
func (pr *problem) visible(b, i, j int) bool {
	c := pr.c
	ip := i + c.Lk - c.Lq
	if c.p.KeyLengths != nil && j >= int(c.p.KeyLengths[b]) {
		return false
	}
	if c.p.Causal && j > ip {
		return false
	}
	if c.p.WindowLeft >= 0 && j < ip-c.p.WindowLeft {
		return false
	}
	if c.p.WindowRight >= 0 && j > ip+c.p.WindowRight {
		return false
	}
	return true
}

// refRow computes the float64 reference output row (Dv values) and LSE of (b, i, h).
func (pr *problem) refRow(b, i, h int) ([]float64, float64) {
	c := pr.c
	kvh := h / (c.Hq / c.Hkv)
	x := make([]float64, c.Lk)
	m := math.Inf(-1)
	for j := range c.Lk {
		if !pr.visible(b, i, j) {
			x[j] = math.Inf(-1)
			continue
		}
		var dot float64
		for d := range c.D {
			dot += pr.q.at(b, i, h, d) * pr.k.at(b, j, kvh, d)
		}
		s := pr.scale * dot
		if c.p.SoftCap > 0 {
			cp := float64(c.p.SoftCap)
			s = cp * math.Tanh(s/cp)
		}
		if pr.biasFull != nil {
			s += pr.biasFull[((b*c.Hq+h)*c.Lq+i)*c.Lk+j]
		}
		if c.p.ALiBiSlopes != nil {
			s -= float64(c.p.ALiBiSlopes[h]) * float64(i+c.Lk-c.Lq-j)
		}
		x[j] = s
		m = max(m, s)
	}
	if c.p.Sinks != nil {
		m = max(m, float64(c.p.Sinks[h]))
	}
	out := make([]float64, c.Dv)
	if math.IsInf(m, -1) {
		return out, m
	}
	den := 0.0
	for j := range c.Lk {
		if math.IsInf(x[j], -1) {
			continue
		}
		e := math.Exp(x[j] - m)
		den += e
		for d := range c.Dv {
			out[d] += e * pr.v.at(b, j, kvh, d)
		}
	}
	if c.p.Sinks != nil {
		den += math.Exp(float64(c.p.Sinks[h]) - m)
	}
	if den == 0 {
		return out, math.Inf(-1)
	}
	for d := range out {
		out[d] /= den
	}
	return out, m + math.Log(den)
}

// tolerances per output dtype: the output is a convex combination of v (|v| <= 1), so
// the error is absolute. float32: float32 accumulation and the polynomial exp (~1e-6
// relative per term); float16 / bfloat16: one final rounding (2^-11, 2^-8 relative).
func outTol(dt tensor.DType) float64 {
	switch dt {
	case tensor.Float16:
		return 2e-3
	case tensor.BFloat16:
		return 1.6e-2
	}
	return 2e-5
}

// check compares the output (and LSE) with the reference on every row, or on every
// stride-th row when stride > 1 (large problems).
func (pr *problem) check(t *testing.T, stride int) {
	t.Helper()
	c := pr.c
	tol := outTol(c.do)
	bad := 0
	row := 0
	for b := range c.B {
		for i := range c.Lq {
			for h := range c.Hq {
				row++
				if stride > 1 && row%stride != 0 {
					continue
				}
				want, wlse := pr.refRow(b, i, h)
				for d := range c.Dv {
					got := pr.o.get(b, i, h, d)
					if math.IsNaN(got) || math.Abs(got-want[d]) > tol {
						if bad++; bad <= 5 {
							t.Errorf("out[b=%d i=%d h=%d d=%d] = %v, want %v (tol %v)", b, i, h, d, got, want[d], tol)
						}
					}
				}
				if pr.lse != nil {
					got := pr.lse.get(b, h, i)
					// float32 sums and logs: a few ulp of the magnitude of lse.
					ok := got == wlse || math.Abs(got-wlse) <= 4e-6*(1+math.Abs(wlse))
					if !ok {
						if bad++; bad <= 5 {
							t.Errorf("lse[b=%d h=%d i=%d] = %v, want %v", b, h, i, got, wlse)
						}
					}
				}
			}
		}
	}
	if !pr.o.guardsIntact() {
		t.Errorf("out: a value outside the tensor was overwritten")
	}
	if pr.lse != nil && !pr.lse.guardsIntact() {
		t.Errorf("lse: a value outside the tensor was overwritten")
	}
}

// forEachISA runs f once per available kernel path, as subtests.
func forEachISA(t *testing.T, f func(t *testing.T)) {
	for _, isa := range cpu.Available() {
		t.Run(isa.String(), func(t *testing.T) {
			defer cpu.UseISA(isa)()
			f(t)
		})
	}
}
