package kernels

import (
	"sync"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Row primitives: the float32 loops every row kernel (norms, softmax, activations) is built
// from. rowops_generic.go defines each one in plain Go; rowops_amd64.go adds AVX2 and
// AVX-512 versions. rowOps picks the implementation at call time from cpu.Selected().
//
// Contract shared by every implementation:
//   - All slices passed together have the length of the input (x, src or a); the kernel
//     reads and writes exactly that many elements. dst may be an input slice itself (the
//     same elements, not a shifted view): element j of dst depends only on element j of
//     the inputs.
//   - Reductions (sum, sumSqDev, max, dot, sumSqDot, lnSums) visit the elements in an
//     order that depends only on the length, never on the address, so a row gives the
//     same bits wherever it sits in a batch. The order differs between implementations (lane-wise partial sums
//     in SIMD), so results agree across paths only to rounding.
//   - Elementwise arithmetic without transcendentals (conversions, add, mul, scaleShift,
//     normAffine, div, axpby, normGrad) rounds each operation separately and never fuses
//     a multiply-add, so every path gives bit-identical results for those.
//   - exp, SiLU, GELU and their gradients are approximations in SIMD; their maximum
//     errors are stated in rowops_amd64.go and checked by rowops_test.go.
type rowKernels struct {
	f16ToF32  func(dst []float32, src []uint16) // IEEE binary16 -> float32 (exact)
	f32ToF16  func(dst []uint16, src []float32) // round to nearest even, NaN stays NaN
	bf16ToF32 func(dst []float32, src []uint16) // bfloat16 -> float32 (exact)
	f32ToBF16 func(dst []uint16, src []float32) // round to nearest even, NaN stays NaN

	// f16ToF32Rows and bf16ToF32Rows are f16ToF32 and bf16ToF32 on rows rows of cols
	// elements, lddBytes apart in dst and ldsBytes apart in src; nil where the path has
	// none (WidenRows then converts row by row).
	f16ToF32Rows, bf16ToF32Rows func(dst *float32, lddBytes int, src unsafe.Pointer, ldsBytes, rows, cols int)

	// f32ToF16NT and f32ToBF16NT are f32ToF16 and f32ToBF16 with non-temporal stores,
	// for outputs too large to stay in the cache; nil where the path has none.
	f32ToF16NT, f32ToBF16NT func(dst []uint16, src []float32)

	sum      func(x []float32) float32            // sum_j x[j]
	sumSqDev func(x []float32, c float32) float32 // sum_j (x[j]-c)^2
	max      func(x []float32) float32            // max over non-NaN x[j]; -Inf if none
	dot      func(x, y []float32) float32         // sum_j x[j]*y[j]
	// sumSqDot returns sum_j h[j]^2 and sum_j g[j]*h[j] with g[j] = dy[j]*w[j] rounded (dy[j]
	// when w is empty): RMSNorm backward's two sums in one pass over h and dy.
	sumSqDot func(h, dy, w []float32) (ss, c float32)
	// lnSums returns sum_j g[j] and sum_j g[j]*xhat[j] with xhat[j] = (h[j]-mean)*r (as
	// scaleShift rounds it) and g as in sumSqDot: LayerNorm backward's sums in one pass.
	lnSums func(h, dy, w []float32, mean, r float32) (sg, sgx float32)

	add        func(dst, a, b []float32)                            // dst = a + b
	mul        func(dst, a, b []float32)                            // dst = a * b
	scaleShift func(dst, x []float32, c, s, b float32)              // dst = (x-c)*s (+b when b != 0)
	normAffine func(dst, x []float32, c, s float32, w, b []float32) // dst = (x-c)*s (*w) (+b); w, b may be nil
	div        func(dst, x []float32, t float32)                    // dst = x / t
	axpby      func(dst, x, y []float32, a, b, c float32)           // dst = x*a + y*b + c
	// normGrad is the norms' backward pass over a row (LayerNorm's, and RMSNorm's with
	// mean 0): with xhat and g as in lnSums, dst = (g*a + xhat*b) + c (axpby's rounding),
	// pw += dy*xhat and pb += dy where those are not empty. dst may be h or dy.
	normGrad func(dst, pw, pb, h, dy, w []float32, mean, r, a, b, c float32)

	// expSum sets dst[j] = exp(x[j]-m) (dst may be nil) and returns the sum of those
	// values. next is memory the caller reads afterwards (the next row, or nil): the SIMD
	// versions prefetch it into L2, one line per block, so that reading it overlaps the
	// exponentials. It changes no result.
	expSum func(dst, x []float32, m float32, next []byte) float32
	// softmaxRows is Softmax's float32 steps for rows rows of n floats (ldx and ldd apart)
	// in one call: max, expSum into the dst row (the next x row as next), then the dst
	// row times 1/sum, as scaleShift gives it. dst may be x. nil where the path has none.
	softmaxRows func(dst, x *float32, rows, n, ldd, ldx int)

	// act[k] sets dst = act_k(x), times up elementwise when up is not nil (a GLU).
	act [numActivations]func(dst, x, up []float32)
	// actGrad[k] sets a = act_k(x) and da = act_k'(x).
	actGrad [numActivations]func(a, da, x []float32)

	// stream is the same set of kernels except that the ones writing a line's final values
	// (scaleShift, normAffine, axpby, normGrad, act) bypass the cache with non-temporal
	// stores; nil when the path has no such stores.
	stream *rowKernels
}

// rowOps returns the row kernels of the selected path.
func rowOps() *rowKernels { return kernelsFor(cpu.Selected()) }

// LoadRow is t.LoadRow(off, dst) with the path's vector conversions when t is float16 or
// bfloat16 with unit stride along its last axis: dst gets the len(dst) elements at
// element offset off as float32, exactly.
func LoadRow(t tensor.Tensor, off int, dst []float32) {
	if n := len(t.Strides); n > 0 && t.Strides[n-1] == 1 && len(dst) > 0 {
		src := unsafe.Slice((*uint16)(unsafe.Add(t.Data, off*2)), len(dst))
		switch t.DType {
		case tensor.Float16:
			rowOps().f16ToF32(dst, src)
			return
		case tensor.BFloat16:
			rowOps().bf16ToF32(dst, src)
			return
		}
	}
	t.LoadRow(off, dst)
}

// StoreRow is t.StoreRow(off, src) with the path's vector conversions when t is float16
// or bfloat16 with unit stride along its last axis: the len(src) elements at element
// offset off get src rounded to nearest even (NaN stays NaN), bit for bit as t.StoreRow.
func StoreRow(t tensor.Tensor, off int, src []float32) {
	if n := len(t.Strides); n > 0 && t.Strides[n-1] == 1 && len(src) > 0 && (t.DType == tensor.Float16 || t.DType == tensor.BFloat16) {
		Narrow(unsafe.Slice((*uint16)(unsafe.Add(t.Data, off*2)), len(src)), src, t.DType)
		return
	}
	t.StoreRow(off, src)
}

// WidenRows converts rows float16 or bfloat16 (dt) rows of cols elements, lds elements
// apart from src, into float32 rows ldd apart in dst, exactly, with the path's vector
// conversions: one dispatch for all the rows.
func WidenRows(dst []float32, ldd int, src unsafe.Pointer, lds, rows, cols int, dt tensor.DType) {
	k := rowOps()
	conv, convRows := k.bf16ToF32, k.bf16ToF32Rows
	if dt == tensor.Float16 {
		conv, convRows = k.f16ToF32, k.f16ToF32Rows
	}
	if convRows != nil && rows > 0 && cols > 0 {
		_ = dst[(rows-1)*ldd+cols-1]
		convRows(&dst[0], 4*ldd, src, 2*lds, rows, cols)
		return
	}
	for r := range rows {
		conv(dst[r*ldd:r*ldd+cols], unsafe.Slice((*uint16)(unsafe.Add(src, r*lds*2)), cols))
	}
}

// Narrow sets dst to src rounded to dt, float16 or bfloat16 (nearest even, NaN stays
// NaN), bit for bit as tensor.F32ToF16 and tensor.F32ToBF16, with the path's vector
// conversions; len(dst) = len(src).
func Narrow(dst []uint16, src []float32, dt tensor.DType) {
	if dt == tensor.Float16 {
		rowOps().f32ToF16(dst, src)
		return
	}
	rowOps().f32ToBF16(dst, src)
}

// streamMinBytes is the output size from which ops write their final values with
// non-temporal stores: such an output cannot stay in the cache anyway, and skipping the
// read-for-ownership of every line saves a third of the memory traffic.
const streamMinBytes = 16 << 20

// forOutput returns the kernels to write the final values of out with: the streaming set
// when out is a float32 tensor of unit stride (computed in place) and at least
// streamMinBytes large, else k.
func (k *rowKernels) forOutput(out *rowIO) *rowKernels {
	if k.stream != nil && out.mode == ioF32 && out.t.NumEl()*4 >= streamMinBytes {
		return k.stream
	}
	return k
}

// --- scratch -----------------------------------------------------------------------------

// scratchPool recycles float32 scratch so that row loops do not allocate per call chunk.
var scratchPool sync.Pool

// getScratch returns a pooled buffer of at least n float32s; release it with putScratch.
func getScratch(n int) *[]float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

func putScratch(p *[]float32) { scratchPool.Put(p) }

// --- moving rows between tensors and float32 ---------------------------------------------

// ioMode is how a tensor's lines are read and written.
type ioMode uint8

const (
	ioStrided ioMode = iota // any dtype and stride: tensor.LoadRow / StoreRow
	ioF32                   // float32 with unit stride: used in place, no copy
	ioF16                   // float16 with unit stride: SIMD conversion
	ioBF16                  // bfloat16 with unit stride: SIMD conversion
)

// rowIO reads and writes the lines (runs along the last axis) of one tensor through the
// row kernels k. What does not change from row to row (the mode, whether rows are evenly
// spaced) is worked out once, when the op starts.
type rowIO struct {
	k       *rowKernels
	t       tensor.Tensor
	mode    ioMode
	uniform bool // row r starts at element r*step
	step    int
	narrow  func(dst []uint16, src []float32) // store's conversion (ioF16, ioBF16)
}

func newRowIO(k *rowKernels, t tensor.Tensor) *rowIO {
	io := rowIOOf(k, t)
	return &io
}

// rowIOOf is newRowIO as a value, for readers that do not outlive the call.
func rowIOOf(k *rowKernels, t tensor.Tensor) rowIO {
	io := rowIO{k: k, t: t}
	n, step := 1, 1
	if d := t.NDim(); d > 0 {
		n, step = t.Shape[d-1], t.Strides[d-1]
	}
	if n == 1 || step == 1 {
		switch t.DType {
		case tensor.Float32:
			io.mode = ioF32
		case tensor.Float16:
			io.mode, io.narrow = ioF16, pickNarrow(k.f32ToF16, k.f32ToF16NT, t)
		case tensor.BFloat16:
			io.mode, io.narrow = ioBF16, pickNarrow(k.f32ToBF16, k.f32ToBF16NT, t)
		}
	}
	io.step, io.uniform = rowStride(t)
	return io
}

// pickNarrow returns the conversion that stores into t: the non-temporal one (when the
// path has it) for a t of at least streamMinBytes, which written through the cache would
// first be read from memory line by line.
func pickNarrow(plain, nt func(dst []uint16, src []float32), t tensor.Tensor) func(dst []uint16, src []float32) {
	if nt != nil && t.NumEl()*2 >= streamMinBytes {
		return nt
	}
	return plain
}

// optRowIO is newRowIO for an optional tensor (nil stays nil).
func optRowIO(k *rowKernels, t *tensor.Tensor) *rowIO {
	if t == nil {
		return nil
	}
	return newRowIO(k, *t)
}

// rowStride returns s such that row r of t starts at element r*s, when t's row axes (all
// but the last) step through memory as one; ok is false otherwise.
func rowStride(t tensor.Tensor) (s int, ok bool) {
	span := 1 // rows covered by the axes after i
	for i := t.NDim() - 2; i >= 0; i-- {
		d := t.Shape[i]
		if d == 1 {
			continue
		}
		if span == 1 {
			s = t.Strides[i]
		} else if t.Strides[i] != s*span {
			return 0, false
		}
		span *= d
	}
	return s, true
}

// bytes returns the memory of the n-element line at element offset off when its elements
// are adjacent (for a prefetch hint), else nil.
func (io *rowIO) bytes(off, n int) []byte {
	if io.mode == ioStrided || n == 0 {
		return nil
	}
	size := io.t.DType.Bits() / 8
	return unsafe.Slice((*byte)(unsafe.Add(io.t.Data, off*size)), n*size)
}

// offset returns the element offset of row r.
func (io *rowIO) offset(r int) int {
	if io.uniform {
		return r * io.step
	}
	return io.t.RowOffset(r)
}

// f32 returns the tensor's own n float32 elements from element offset off.
func (io *rowIO) f32(off, n int) []float32 {
	return unsafe.Slice((*float32)(unsafe.Add(io.t.Data, off*4)), n)
}

// u16 returns the tensor's own n 16-bit elements from element offset off.
func (io *rowIO) u16(off, n int) []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Add(io.t.Data, off*2)), n)
}

// load returns the len(buf) elements of the line at element offset off as float32: the
// tensor's own memory when it is float32 with unit stride (read only; no copy), else buf
// filled by conversion.
func (io *rowIO) load(off int, buf []float32) []float32 {
	if len(buf) == 0 {
		return buf
	}
	switch io.mode {
	case ioF32:
		return io.f32(off, len(buf))
	case ioF16:
		io.prefetchNext(off, len(buf))
		io.k.f16ToF32(buf, io.u16(off, len(buf)))
	case ioBF16:
		io.prefetchNext(off, len(buf))
		io.k.bf16ToF32(buf, io.u16(off, len(buf)))
	default:
		io.t.LoadRow(off, buf)
	}
	return buf
}

// prefetchNext asks for the line after the one at off (n half-precision elements, when
// rows are evenly spaced) while this one is widened and computed: the conversion would
// otherwise read each line from memory in a burst with nothing to overlap it.
func (io *rowIO) prefetchNext(off, n int) {
	if io.uniform {
		Prefetch(uintptr(io.t.Data)+uintptr((off+io.step)*2), 2*n) // past the last line too
	}
}

// dst returns where to compute the len(buf) values of the line at element offset off: the
// tensor's own memory when it is float32 with unit stride (store then has nothing to do),
// else buf.
func (io *rowIO) dst(off int, buf []float32) []float32 {
	if io.mode == ioF32 && len(buf) > 0 {
		return io.f32(off, len(buf))
	}
	return buf
}

// store writes src into the line at element offset off, rounding to the tensor's dtype.
// It does nothing when src already is that memory (see dst).
func (io *rowIO) store(off int, src []float32) {
	if len(src) == 0 {
		return
	}
	switch io.mode {
	case ioF32:
		if v := io.f32(off, len(src)); &v[0] != &src[0] {
			copy(v, src)
		}
	case ioF16, ioBF16:
		io.narrow(io.u16(off, len(src)), src)
	default:
		io.t.StoreRow(off, src)
	}
}

// roundTo rounds x in place to the precision of dt, using tmp (at least len(x)/2 long)
// as scratch for the narrow values.
func (k *rowKernels) roundTo(dt tensor.DType, x, tmp []float32) {
	if dt == tensor.Float32 || len(x) == 0 {
		return
	}
	u16 := unsafe.Slice((*uint16)(unsafe.Pointer(&tmp[0])), len(x))
	switch dt {
	case tensor.Float16:
		k.f32ToF16(u16, x)
		k.f16ToF32(x, u16)
	case tensor.BFloat16:
		k.f32ToBF16(u16, x)
		k.bf16ToF32(x, u16)
	}
}
