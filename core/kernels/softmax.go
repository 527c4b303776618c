package kernels

import (
	"math"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// SoftmaxParams configures Softmax.
type SoftmaxParams struct {
	Temperature float32 // logits are divided by it; > 0 and finite (1 for plain softmax)
	Log         bool    // compute log-softmax instead
}

// DefaultSoftmaxParams returns temperature 1, plain softmax.
func DefaultSoftmaxParams() SoftmaxParams { return SoftmaxParams{Temperature: 1} }

// Softmax computes softmax (or log-softmax) of x / temperature over the last axis into
// out, which has x's shape and dtype and may be x itself. Arithmetic is float32.
func Softmax(x, out tensor.Tensor, p SoftmaxParams) error {
	if err := checkFloatRows("x", x); err != nil {
		return err
	}
	if err := checkFloatRows("out", out); err != nil {
		return err
	}
	if err := checkSameShape("out", out, "x", x); err != nil {
		return err
	}
	if out.DType != x.DType {
		return errs.New(errs.UnsupportedDtype, "out: dtype %v differs from x dtype %v", out.DType, x.DType)
	}
	t := float64(p.Temperature)
	if !(t > 0) || math.IsInf(t, 0) {
		return errs.New(errs.InvalidArgument, "temperature must be positive and finite, got %v", p.Temperature)
	}
	if err := tensor.CheckOutputOverlap(tensor.Named{Name: "out", T: out}, tensor.Named{Name: "x", T: x}); err != nil {
		return err
	}
	k := rowOps()
	xs, outs := newRowIO(k, x), newRowIO(k, out)
	kOut := k.forOutput(outs)
	n := x.Shape[x.NDim()-1]
	plain := xs.mode == ioF32 && outs.mode == ioF32 && p.Temperature == 1 && !p.Log
	// Rows a fixed step apart, into an output written through the cache: the whole chunk
	// in one kernel call, without a call per step and row.
	fused := plain && k.softmaxRows != nil && kOut == k && xs.uniform && outs.uniform && n > 0
	cpu.ParallelFor(x.NumRows(), rowsPerChunk(n), func(lo, hi int) {
		if fused {
			dst, src := outs.f32(outs.offset(lo), 1), xs.f32(xs.offset(lo), 1)
			k.softmaxRows(&dst[0], &src[0], hi-lo, n, outs.step, xs.step)
			return
		}
		buf := getScratch(3 * n)
		defer putScratch(buf)
		xb, ob, tmp := (*buf)[:n], (*buf)[n:2*n], (*buf)[2*n:]
		for r := lo; r < hi; r++ {
			var next []byte // fetched while this row's exponentials are computed
			if r+1 < hi {
				next = xs.bytes(xs.offset(r+1), n)
			}
			if plain {
				// float32 rows used in place, plain softmax: softmaxRow's steps without
				// its conversions and options (a fifth of the time of rows of 128).
				row := xs.f32(xs.offset(r), n)
				sum := k.expSum(tmp, row, k.max(row), next)
				kOut.scaleShift(outs.f32(outs.offset(r), n), tmp, 0, 1/sum, 0)
				continue
			}
			oo := outs.offset(r)
			o := outs.dst(oo, ob)
			softmaxRow(k, kOut, o, xs.load(xs.offset(r), xb), next, tmp, p)
			outs.store(oo, o)
		}
	})
	return nil
}

// softmaxRow writes the softmax (or log-softmax) of x at temperature p.Temperature into
// dst, which may be x itself; tmp is scratch of x's length, kOut writes dst, and next is
// the memory read after this row (prefetched meanwhile). m is the largest non-NaN logit; a
// NaN or +Inf logit makes the sum, hence the whole row, NaN, and so does a row of -Inf
// only.
func softmaxRow(k, kOut *rowKernels, dst, x []float32, next []byte, tmp []float32, p SoftmaxParams) {
	if p.Temperature != 1 {
		k.div(tmp, x, p.Temperature)
		x = tmp
	}
	m := k.max(x)
	if p.Log {
		sum := k.expSum(nil, x, m, next)
		kOut.scaleShift(dst, x, m+float32(math.Log(float64(sum))), 1, 0)
		return
	}
	sum := k.expSum(tmp, x, m, next)
	kOut.scaleShift(dst, tmp, 0, 1/sum, 0)
}
