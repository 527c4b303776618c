package kernels

import (
	"slices"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// DefaultGroupNormEps is the epsilon added to the variance when none is given.
const DefaultGroupNormEps = 1e-5

// GroupNormArgs are the tensors of GroupNorm. Weight, Bias, Residual and ResidualOut are
// optional (nil means absent).
type GroupNormArgs struct {
	X           tensor.Tensor  // [N, C, *spatial], channels first; any strides
	Groups      int            // G >= 1 with C % G == 0
	Weight      *tensor.Tensor // [C], any float dtype; 1 when absent
	Bias        *tensor.Tensor // [C], any float dtype; 0 when absent
	Residual    *tensor.Tensor // X's shape, any float dtype; added to X before normalizing
	Out         tensor.Tensor  // X's shape and dtype; may be X or Residual itself
	ResidualOut *tensor.Tensor // X's shape and dtype; receives h; may be X or Residual itself
	Eps         float32        // >= 0 and finite (DefaultGroupNormEps is the usual value)
}

// GroupNorm normalizes x [N, C, *spatial] over groups of channels: with h = x
// (+ residual, rounded to x's dtype as an unfused add would be), for each sample n and
// group g (channels g*C/G .. (g+1)*C/G - 1), mean and biased variance are taken over those
// channels and all spatial positions, and
//
//	out[n, c, s] = (h[n, c, s] - mean) * (1/sqrt(var + eps) * weight[c]) + bias[c].
//
// Statistics are two-pass float32 sums (mean, then squared deviations) over the group's
// rows in a fixed order, so a sample gives the same bits for any thread count and any
// batch. ResidualOut, when given, receives h. x [N, C] (no spatial axes) is accepted.
func GroupNorm(a GroupNormArgs) error {
	if err := checkGroups("x", a.X, a.Groups); err != nil {
		return err
	}
	c := a.X.Shape[1]
	params := []optTensor{{"weight", a.Weight}, {"bias", a.Bias}}
	if err := checkParams(c, params...); err != nil {
		return err
	}
	if err := checkNormForward(a.X, params, a.Residual, a.Out, a.ResidualOut, a.Eps); err != nil {
		return err
	}
	if a.X.NumEl() == 0 {
		return nil
	}
	k := rowOps()
	w, b := loadVector(k, a.Weight, c), loadVector(k, a.Bias, c)
	l := newGroupLayout(a.Groups, &a.X, a.Residual, &a.Out, a.ResidualOut)
	x, res, out, resOut := optRowIO(k, l.ts[0]), optRowIO(k, l.ts[1]), optRowIO(k, l.ts[2]), optRowIO(k, l.ts[3])
	cpu.ParallelFor(l.numGroups(), l.grain(), func(lo, hi int) {
		buf := getScratch(4 * l.rowLen)
		defer putScratch(buf)
		s := l.sumRows(k, x, res, *buf)
		ob := (*buf)[3*l.rowLen:]
		for gi := lo; gi < hi; gi++ {
			mean, r := l.stats(&s, gi, a.Eps)
			for row := l.firstRow(gi); row < l.firstRow(gi+1); row++ {
				h := s.h(row)
				if resOut != nil {
					resOut.store(resOut.offset(row), h)
				}
				ch := l.channel(row)
				scale, shift := r, float32(0)
				if w != nil {
					scale = r * w[ch]
				}
				if b != nil {
					shift = b[ch]
				}
				oo := out.offset(row)
				o := out.dst(oo, ob)
				k.scaleShift(o, h, mean, scale, shift)
				out.store(oo, o)
			}
		}
	})
	return nil
}

// checkGroups validates a [N, C, *spatial] float tensor and the group count.
func checkGroups(name string, x tensor.Tensor, groups int) error {
	if err := checkFloat(name, x); err != nil {
		return err
	}
	if x.NDim() < 2 {
		return errs.New(errs.ShapeMismatch, "%s: shape %v, want [N, C, *spatial]", name, x.Shape)
	}
	if x.Shape[1] == 0 {
		return errs.New(errs.ShapeMismatch, "%s: has no channels", name)
	}
	if groups < 1 {
		return errs.New(errs.InvalidArgument, "num_groups must be at least 1, got %d", groups)
	}
	if x.Shape[1]%groups != 0 {
		return errs.New(errs.ShapeMismatch, "%s: %d channels do not split into %d groups", name, x.Shape[1], groups)
	}
	return nil
}

// groupLayout views same-shaped [N, C, *spatial] tensors as rows of the last axis: the
// spatial axes are merged wherever every tensor's strides allow (and a missing spatial
// axis becomes one of size 1), so that channel c of sample n is rowsPerChannel
// consecutive rows of rowLen elements, and group g of sample n is the rows
// [(n*G + g) * C/G * rowsPerChannel, ...) — consecutive too.
type groupLayout struct {
	ts             []*tensor.Tensor // the views, in the order given; nil stays nil
	channels       int
	groups         int
	perGroup       int // channels per group
	rowsPerChannel int
	rowLen         int
	samples        int
}

func newGroupLayout(groups int, ts ...*tensor.Tensor) groupLayout {
	x := ts[0]
	shape := slices.Clone(x.Shape)
	strides := make([][]int, len(ts))
	for i, t := range ts {
		if t != nil {
			strides[i] = slices.Clone(t.Strides)
		}
	}
	if len(shape) == 2 {
		shape = append(shape, 1)
		for i := range strides {
			if strides[i] != nil {
				strides[i] = append(strides[i], 1)
			}
		}
	}
	// Merge spatial axis j into axis j-1 when every tensor steps through both as one.
	for j := len(shape) - 1; j >= 3; j-- {
		mergeable := true
		for _, s := range strides {
			if s != nil && shape[j-1] != 1 && shape[j] != 1 && s[j-1] != shape[j]*s[j] {
				mergeable = false
			}
		}
		if !mergeable {
			continue
		}
		for i, s := range strides {
			if s != nil && shape[j] != 1 {
				s[j-1] = s[j]
			}
			if s != nil {
				strides[i] = slices.Delete(s, j, j+1)
			}
		}
		shape[j-1] *= shape[j]
		shape = slices.Delete(shape, j, j+1)
	}
	l := groupLayout{
		ts: make([]*tensor.Tensor, len(ts)), channels: shape[1], groups: groups,
		perGroup: shape[1] / groups, rowsPerChannel: tensor.NumElOf(shape[2 : len(shape)-1]),
		rowLen: shape[len(shape)-1], samples: shape[0],
	}
	for i, t := range ts {
		if t != nil {
			l.ts[i] = &tensor.Tensor{Data: t.Data, DType: t.DType, Shape: shape, Strides: strides[i]}
		}
	}
	return l
}

// numGroups is the number of (sample, group) pairs.
func (l groupLayout) numGroups() int { return l.samples * l.groups }

// firstRow is the first row of (sample, group) pair gi.
func (l groupLayout) firstRow(gi int) int { return gi * l.perGroup * l.rowsPerChannel }

// channel is the channel that row belongs to.
func (l groupLayout) channel(row int) int { return row / l.rowsPerChannel % l.channels }

// grain is how many groups one parallel chunk takes.
func (l groupLayout) grain() int {
	return max(1, rowGrain/max(1, l.perGroup*l.rowsPerChannel*l.rowLen))
}

// sumRows prepares the fused-residual scratch for rows of this layout from buf
// (at least 3*rowLen long).
func (l groupLayout) sumRows(k *rowKernels, x, res *rowIO, buf []float32) sumRows {
	n := l.rowLen
	return sumRows{k: k, x: x, residual: res, hb: buf[:n], rb: buf[n : 2*n], tmp: buf[2*n : 3*n]}
}

// stats returns the mean of h over group gi and 1/sqrt(var + eps), var the biased
// variance: one pass for the sum, one for the squared deviations, rows in order.
func (l groupLayout) stats(s *sumRows, gi int, eps float32) (mean, r float32) {
	count := float32(l.perGroup * l.rowsPerChannel * l.rowLen)
	var sum, sq float32
	for row := l.firstRow(gi); row < l.firstRow(gi+1); row++ {
		sum += s.k.sum(s.h(row))
	}
	mean = sum / count
	for row := l.firstRow(gi); row < l.firstRow(gi+1); row++ {
		sq += s.k.sumSqDev(s.h(row), mean)
	}
	return mean, rstd(sq/count, eps)
}
