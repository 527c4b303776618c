package attention

import (
	"math"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	rowkernels "github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// MergeStates combines two partial attention results over disjoint key sets into the
// result over their union: with lse = log(exp(lseA) + exp(lseB)),
//
//	out = oA * exp(lseA - lse) + oB * exp(lseB - lse)
//
// computed stably in float64 from the larger of the two. A side with lse = -Inf (no
// visible key) contributes nothing; both -Inf give zeros and -Inf.
//
// Shapes: oA, oB, out [B, L, H, D] (any float dtype, any strides; a BHSD tensor can be
// passed as a permuted view), lseA, lseB float32 [B, H, L], lseOut float32 [B, H, L] or
// nil. out may be the very same view as oA or oB, and lseOut as lseA or lseB (in place);
// other overlaps are rejected. On error nothing is written.
func MergeStates(oA, lseA, oB, lseB, out tensor.Tensor, lseOut *tensor.Tensor) error {
	ts := []tensor.Named{{Name: "o_a", T: oA}, {Name: "o_b", T: oB}, {Name: "out", T: out}}
	for _, n := range ts {
		if err := n.T.Validate(n.Name); err != nil {
			return err
		}
		if !n.T.DType.IsFloat() {
			return errs.New(errs.UnsupportedDtype, "%s: dtype %v is not a float type", n.Name, n.T.DType)
		}
		if n.T.NDim() != 4 {
			return errShape("%s: expected 4 dimensions [B, L, H, D], got %v", n.Name, n.T.Shape)
		}
		if !tensor.SameShape(n.T, oA) {
			return errShape("%s: shape %v differs from o_a's %v", n.Name, n.T.Shape, oA.Shape)
		}
	}
	B, L, H := oA.Shape[0], oA.Shape[1], oA.Shape[2]
	ls := []tensor.Named{{Name: "lse_a", T: lseA}, {Name: "lse_b", T: lseB}}
	if lseOut != nil {
		ls = append(ls, tensor.Named{Name: "lse_out", T: *lseOut})
	}
	for _, n := range ls {
		if err := n.T.Validate(n.Name); err != nil {
			return err
		}
		if n.T.DType != tensor.Float32 {
			return errs.New(errs.UnsupportedDtype, "%s: dtype %v, expected float32", n.Name, n.T.DType)
		}
		if n.T.NDim() != 3 || n.T.Shape[0] != B || n.T.Shape[1] != H || n.T.Shape[2] != L {
			return errShape("%s: shape %v, expected [%d %d %d]", n.Name, n.T.Shape, B, H, L)
		}
	}
	ins := append([]tensor.Named{ts[0], ts[1]}, ls[:2]...)
	if err := tensor.CheckOutputOverlap(ts[2], ins...); err != nil {
		return err
	}
	if lseOut != nil {
		if err := tensor.CheckOutputOverlap(ls[2], append(ins, ts[2])...); err != nil {
			return err
		}
	}
	D := oA.Shape[3]
	a, bb := make([]float32, D), make([]float32, D)
	for b := range B {
		for i := range L {
			for h := range H {
				la, lb := lseAt(lseA, b, h, i), lseAt(lseB, b, h, i)
				lse := logAddExp(la, lb)
				oA.LoadRow(rowOff(oA, b, i, h), a)
				oB.LoadRow(rowOff(oB, b, i, h), bb)
				if math.IsInf(lse, -1) {
					clear(a)
				} else {
					wa, wb := math.Exp(la-lse), math.Exp(lb-lse)
					for d := range a {
						x := 0.0
						if wa != 0 {
							x += float64(a[d]) * wa
						}
						if wb != 0 {
							x += float64(bb[d]) * wb
						}
						a[d] = float32(x)
					}
				}
				rowkernels.StoreRow(out, rowOff(out, b, i, h), a)
				if lseOut != nil {
					*lsePtr(*lseOut, b, h, i) = float32(lse)
				}
			}
		}
	}
	return nil
}

// logAddExp returns log(exp(x) + exp(y)) without overflow; -Inf when both are -Inf.
func logAddExp(x, y float64) float64 {
	m := max(x, y)
	if math.IsInf(m, -1) {
		return m
	}
	return m + math.Log(math.Exp(x-m)+math.Exp(y-m))
}

func rowOff(t tensor.Tensor, b, i, h int) int {
	return b*t.Strides[0] + i*t.Strides[1] + h*t.Strides[2]
}

func lsePtr(t tensor.Tensor, b, h, i int) *float32 {
	s := t.Strides
	return (*float32)(unsafe.Add(t.Data, (b*s[0]+h*s[1]+i*s[2])*4))
}

func lseAt(t tensor.Tensor, b, h, i int) float64 { return float64(*lsePtr(t, b, h, i)) }
