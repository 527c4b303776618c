package attention

import (
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// ForwardVarlen is Forward over a packed batch of sequences of different lengths, as
// FlashAttention's varlen API: q [total_q, Hq, D], k [total_k, Hkv, D], v [total_k, Hkv,
// Dv], out [total_q, Hq, Dv] (any float dtypes, any strides), lse float32 [Hq, total_q]
// or nil. Sequence b owns query rows cuSeqlensQ[b]..cuSeqlensQ[b+1]-1 and key rows
// cuSeqlensK[b]..cuSeqlensK[b+1]-1; both arrays start at 0, do not decrease, have the
// same length (number of sequences + 1, at least 1) and end at total_q and total_k.
//
// Each sequence is attended alone, with the causal mask, window and ALiBi positions
// aligned bottom-right to its own lengths (query i of a sequence with lengths Lq, Lk is
// at position i + Lk - Lq), so its rows are bit-identical to Forward on that sequence
// by itself. SoftCap, Sinks, Scale and ALiBiSlopes apply as in Forward; p.Layout must be
// BSHD (the only packed layout); Bias and KeyLengths are not supported (the lengths are
// the cu_seqlens). On error nothing is written.
func ForwardVarlen(q, k, v, out tensor.Tensor, lse *tensor.Tensor, cuSeqlensQ, cuSeqlensK []int32, p Params) error {
	if p.Layout != BSHD {
		return errInvalid("layout: varlen tensors are [total, heads, head_dim]; layout must be BSHD")
	}
	if p.Bias != nil {
		return errInvalid("bias: not supported by the varlen forward")
	}
	if p.KeyLengths != nil {
		return errInvalid("key_lengths: not supported by the varlen forward (use cu_seqlens_k)")
	}
	for _, n := range []tensor.Named{{Name: "q", T: q}, {Name: "k", T: k}, {Name: "v", T: v}, {Name: "out", T: out}} {
		if err := n.T.Validate(n.Name); err != nil {
			return err
		}
		if n.T.NDim() != 3 {
			return errShape("%s: expected 3 dimensions [total, heads, head_dim], got shape %v", n.Name, n.T.Shape)
		}
	}
	totalQ, totalK := q.Shape[0], k.Shape[0]
	if v.Shape[0] != totalK {
		return errShape("v: %d rows, k has %d", v.Shape[0], totalK)
	}
	if out.Shape[0] != totalQ {
		return errShape("out: %d rows, q has %d", out.Shape[0], totalQ)
	}
	if err := checkCuSeqlens("cu_seqlens_q", cuSeqlensQ, totalQ); err != nil {
		return err
	}
	if err := checkCuSeqlens("cu_seqlens_k", cuSeqlensK, totalK); err != nil {
		return err
	}
	if len(cuSeqlensK) != len(cuSeqlensQ) {
		return errInvalid("cu_seqlens_k: length %d differs from cu_seqlens_q's %d", len(cuSeqlensK), len(cuSeqlensQ))
	}
	var lse3 tensor.Tensor
	if lse != nil {
		if err := lse.Validate("lse"); err != nil {
			return err
		}
		if lse.DType != tensor.Float32 {
			return errs.New(errs.UnsupportedDtype, "lse: dtype %v, expected float32", lse.DType)
		}
		if lse.NDim() != 2 || lse.Shape[0] != q.Shape[1] || lse.Shape[1] != totalQ {
			return errShape("lse: shape %v, expected [%d %d]", lse.Shape, q.Shape[1], totalQ)
		}
		lse3 = unsqueeze0(*lse)
	}
	// Overlaps between sequences are only visible on the whole tensors.
	if err := checkOverlaps(q, k, v, out, lse); err != nil {
		return err
	}
	// Validate every sequence before writing anything.
	plans := make([]*plan, 0, len(cuSeqlensQ)-1)
	for b := 0; b+1 < len(cuSeqlensQ); b++ {
		q0, q1 := int(cuSeqlensQ[b]), int(cuSeqlensQ[b+1])
		k0, k1 := int(cuSeqlensK[b]), int(cuSeqlensK[b+1])
		var l *tensor.Tensor
		if lse != nil {
			t := narrow(lse3, 2, q0, q1)
			l = &t
		}
		pl, err := newPlan(unsqueeze0(narrow(q, 0, q0, q1)), unsqueeze0(narrow(k, 0, k0, k1)),
			unsqueeze0(narrow(v, 0, k0, k1)), unsqueeze0(narrow(out, 0, q0, q1)), l, p)
		if err != nil {
			return err
		}
		plans = append(plans, pl)
	}
	if len(plans) == 0 {
		// No sequence: still check the heads and head dims like Forward would.
		z := func(t tensor.Tensor) tensor.Tensor { return unsqueeze0(narrow(t, 0, 0, 0)) }
		if _, err := newPlan(z(q), z(k), z(v), z(out), nil, p); err != nil {
			return err
		}
	}
	for _, pl := range plans {
		pl.run()
	}
	return nil
}

// checkCuSeqlens checks that cu starts at 0, does not decrease and ends at total.
func checkCuSeqlens(name string, cu []int32, total int) error {
	if len(cu) < 1 {
		return errInvalid("%s: empty, needs at least one entry (0)", name)
	}
	if cu[0] != 0 {
		return errInvalid("%s: first entry is %d, must be 0", name, cu[0])
	}
	for i := 1; i < len(cu); i++ {
		if cu[i] < cu[i-1] {
			return errInvalid("%s: entry %d (%d) is below entry %d (%d)", name, i, cu[i], i-1, cu[i-1])
		}
	}
	if last := cu[len(cu)-1]; int(last) != total {
		return errInvalid("%s: last entry %d differs from the %d packed rows", name, last, total)
	}
	return nil
}
