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
	n := x.Shape[x.NDim()-1]
	cpu.ParallelFor(x.NumRows(), rowsPerChunk(n), func(lo, hi int) {
		row := make([]float32, n)
		for r := lo; r < hi; r++ {
			x.LoadRow(x.RowOffset(r), row)
			softmaxRow(row, p)
			out.StoreRow(out.RowOffset(r), row)
		}
	})
	return nil
}

// softmaxRow replaces row with its softmax (or log-softmax) at temperature p.Temperature.
func softmaxRow(row []float32, p SoftmaxParams) {
	if p.Temperature != 1 {
		for j := range row {
			row[j] /= p.Temperature
		}
	}
	m := float32(math.Inf(-1))
	for _, v := range row {
		if v > m || v != v {
			m = v
		}
		if m != m {
			break
		}
	}
	var sum float32
	for _, v := range row {
		sum += float32(math.Exp(float64(v - m)))
	}
	if p.Log {
		shift := m + float32(math.Log(float64(sum)))
		for j := range row {
			row[j] -= shift
		}
		return
	}
	inv := 1 / sum
	for j, v := range row {
		row[j] = float32(math.Exp(float64(v-m))) * inv
	}
}
