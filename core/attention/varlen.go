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
	lse3, err := checkVarlen(q, k, v, out, lse, cuSeqlensQ, cuSeqlensK, p, "forward")
	if err != nil {
		return err
	}
	// Overlaps between sequences are only visible on the whole tensors.
	if err := checkOverlaps(q, k, v, out, lse); err != nil {
		return err
	}
	// Validate every sequence before writing anything.
	plans := make([]*plan, 0, len(cuSeqlensQ)-1)
	for b := 0; b+1 < len(cuSeqlensQ); b++ {
		sq, sk := seqViews(cuSeqlensQ, cuSeqlensK, b)
		var l *tensor.Tensor
		if lse != nil {
			t := sq(lse3, 2)
			l = &t
		}
		pl, err := newPlan(sq(q, 0), sk(k), sk(v), sq(out, 0), l, p)
		if err != nil {
			return err
		}
		plans = append(plans, pl)
	}
	if len(plans) == 0 {
		if err := checkNoSequence(q, k, v, out, p); err != nil {
			return err
		}
	}
	for _, pl := range plans {
		pl.run()
	}
	return nil
}

// BackwardVarlen is Backward for ForwardVarlen's packed batches: q, k, v, out, lse (not
// optional here), cuSeqlensQ, cuSeqlensK and p as in the ForwardVarlen call, dout with
// out's shape, dq, dk, dv with the shapes of q, k, v. The gradients of each sequence are
// those of Backward on that sequence by itself, bit for bit (a sequence's keys get no
// gradient from another sequence's queries). On error nothing is written.
func BackwardVarlen(q, k, v, out, dout, lse tensor.Tensor, cuSeqlensQ, cuSeqlensK []int32, dq, dk, dv tensor.Tensor, p Params) error {
	lse3, err := checkVarlen(q, k, v, out, &lse, cuSeqlensQ, cuSeqlensK, p, "backward")
	if err != nil {
		return err
	}
	for _, c := range []struct {
		name     string
		got, ref tensor.Tensor
	}{{"dout", dout, out}, {"dq", dq, q}, {"dk", dk, k}, {"dv", dv, v}} {
		if err := c.got.Validate(c.name); err != nil {
			return err
		}
		if c.got.NDim() != 3 || c.got.Shape[0] != c.ref.Shape[0] || c.got.Shape[1] != c.ref.Shape[1] || c.got.Shape[2] != c.ref.Shape[2] {
			return errShape("%s: shape %v, expected %v", c.name, c.got.Shape, c.ref.Shape)
		}
	}
	// Overlaps between sequences are only visible on the whole tensors.
	if err := checkGradOverlaps(q, k, v, out, dout, lse, dq, dk, dv, nil); err != nil {
		return err
	}
	plans := make([]*backPlan, 0, len(cuSeqlensQ)-1)
	for b := 0; b+1 < len(cuSeqlensQ); b++ {
		sq, sk := seqViews(cuSeqlensQ, cuSeqlensK, b)
		bp, err := newBackPlan(sq(q, 0), sk(k), sk(v), sq(out, 0), sq(dout, 0), sq(lse3, 2), sq(dq, 0), sk(dk), sk(dv), p)
		if err != nil {
			return err
		}
		plans = append(plans, bp)
	}
	if len(plans) == 0 {
		if err := checkNoSequence(q, k, v, out, p); err != nil {
			return err
		}
	}
	for _, bp := range plans {
		bp.run()
	}
	return nil
}

// checkVarlen validates the arguments ForwardVarlen and BackwardVarlen share and returns
// lse viewed as [1, Hq, total_q] (when given).
func checkVarlen(q, k, v, out tensor.Tensor, lse *tensor.Tensor, cuSeqlensQ, cuSeqlensK []int32, p Params, pass string) (tensor.Tensor, error) {
	var lse3 tensor.Tensor
	if p.Layout != BSHD {
		return lse3, errInvalid("layout: varlen tensors are [total, heads, head_dim]; layout must be BSHD")
	}
	if p.Bias != nil {
		return lse3, errInvalid("bias: not supported by the varlen %s", pass)
	}
	if p.KeyLengths != nil {
		return lse3, errInvalid("key_lengths: not supported by the varlen %s (use cu_seqlens_k)", pass)
	}
	for _, n := range []tensor.Named{{Name: "q", T: q}, {Name: "k", T: k}, {Name: "v", T: v}, {Name: "out", T: out}} {
		if err := n.T.Validate(n.Name); err != nil {
			return lse3, err
		}
		if n.T.NDim() != 3 {
			return lse3, errShape("%s: expected 3 dimensions [total, heads, head_dim], got shape %v", n.Name, n.T.Shape)
		}
	}
	totalQ, totalK := q.Shape[0], k.Shape[0]
	if v.Shape[0] != totalK {
		return lse3, errShape("v: %d rows, k has %d", v.Shape[0], totalK)
	}
	if out.Shape[0] != totalQ {
		return lse3, errShape("out: %d rows, q has %d", out.Shape[0], totalQ)
	}
	if err := checkCuSeqlens("cu_seqlens_q", cuSeqlensQ, totalQ); err != nil {
		return lse3, err
	}
	if err := checkCuSeqlens("cu_seqlens_k", cuSeqlensK, totalK); err != nil {
		return lse3, err
	}
	if len(cuSeqlensK) != len(cuSeqlensQ) {
		return lse3, errInvalid("cu_seqlens_k: length %d differs from cu_seqlens_q's %d", len(cuSeqlensK), len(cuSeqlensQ))
	}
	if lse != nil {
		if err := lse.Validate("lse"); err != nil {
			return lse3, err
		}
		if lse.DType != tensor.Float32 {
			return lse3, errs.New(errs.UnsupportedDtype, "lse: dtype %v, expected float32", lse.DType)
		}
		if lse.NDim() != 2 || lse.Shape[0] != q.Shape[1] || lse.Shape[1] != totalQ {
			return lse3, errShape("lse: shape %v, expected [%d %d]", lse.Shape, q.Shape[1], totalQ)
		}
		lse3 = unsqueeze0(*lse)
	}
	return lse3, nil
}

// seqViews returns functions giving sequence b's rows of a packed tensor as a batch of
// one: sq for query rows (along dimension dim; lse's rows are its dimension 2), sk for
// key rows.
func seqViews(cuSeqlensQ, cuSeqlensK []int32, b int) (sq func(t tensor.Tensor, dim int) tensor.Tensor, sk func(t tensor.Tensor) tensor.Tensor) {
	q0, q1 := int(cuSeqlensQ[b]), int(cuSeqlensQ[b+1])
	k0, k1 := int(cuSeqlensK[b]), int(cuSeqlensK[b+1])
	sq = func(t tensor.Tensor, dim int) tensor.Tensor {
		if dim == 0 {
			return unsqueeze0(narrow(t, 0, q0, q1))
		}
		return narrow(t, dim, q0, q1)
	}
	sk = func(t tensor.Tensor) tensor.Tensor { return unsqueeze0(narrow(t, 0, k0, k1)) }
	return sq, sk
}

// checkNoSequence checks the heads and head dims of a call without sequences, as a call
// with some would.
func checkNoSequence(q, k, v, out tensor.Tensor, p Params) error {
	z := func(t tensor.Tensor) tensor.Tensor { return unsqueeze0(narrow(t, 0, 0, 0)) }
	_, err := newPlan(z(q), z(k), z(v), z(out), nil, p)
	return err
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
