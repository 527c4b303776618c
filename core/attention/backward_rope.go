package attention

import (
	rowkernels "github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/kernels/rope"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// BackwardRoPE is Backward for ForwardRoPE: given out and lse from ForwardRoPE(q, k, v,
// out, &lse, rp, p) and dout, it writes the gradients with respect to the unrotated q and
// k, and v. With R_q and R_k the rotations ForwardRoPE applies (same positions),
//
//	dq = R_q^T dq',  dk = R_k^T dk',  dv = dv'
//
// where dq', dk', dv' are Backward's gradients for the rotated inputs R_q q and R_k k.
// Those are rotated exactly as ForwardRoPE rotates them (rope.Apply into scratch of q's
// and k's dtypes), so the logits are the forward call's bits; dq' and dk' are float32
// and rotated back with rope.Backward before one rounding to dq's and dk's dtypes. A
// float32 dq (dk) holds dq' (dk') itself and is rotated back in place; other dtypes use
// a float32 scratch of q's (k's) size. Further scratch: the rotated q and k.
//
// Arguments follow Backward (shapes, dtypes, layouts, masks, ALiBi, bias, sinks, GQA)
// and ForwardRoPE (rp; rp.Layout is ignored, rp.Inverse must match the forward call's).
// The result is bit-identical for any thread count. dq, dk and dv must not overlap each
// other or any input. On error nothing is written.
func BackwardRoPE(q, k, v, out, dout, lse tensor.Tensor, dq, dk, dv tensor.Tensor, rp rope.Params, p Params) error {
	bp, err := newBackPlan(q, k, v, out, dout, lse, dq, dk, dv, p)
	if err != nil {
		return err
	}
	rq, rk, err := bp.ropeParams(rp)
	if err != nil {
		return err
	}
	// From here on every tensor is a BSHD view; rope's checks have passed, so neither
	// rotation nor Backward can fail.
	qs := scratchTensor(bp.q.t.DType, bp.q.t.Shape...)
	ks := scratchTensor(bp.k.t.DType, bp.k.t.Shape...)
	must(rope.Apply(bp.q.t, qs, nil, nil, nil, rq))
	must(rope.Apply(bp.k.t, ks, nil, nil, nil, rk))
	dqs, dqBuf := float32Grad(bp.dq.t)
	dks, dkBuf := float32Grad(bp.dk.t)
	pb := p
	pb.Layout = BSHD
	must(Backward(qs, ks, bp.v.t, bp.o.t, bp.do.t, lse, dqs, dks, bp.dv.t, pb))
	must(rope.Backward(dqs, dqs, nil, nil, nil, rq))
	must(rope.Backward(dks, dks, nil, nil, nil, rk))
	storeRows(bp.dq, dqBuf)
	storeRows(bp.dk, dkBuf)
	return nil
}

// float32Grad returns t itself when it is float32 (buf nil), else a contiguous float32
// tensor of its shape and its elements.
func float32Grad(t tensor.Tensor) (g tensor.Tensor, buf []float32) {
	if t.DType == tensor.Float32 {
		return t, nil
	}
	buf = make([]float32, t.NumEl())
	return tensor.FromFloat32(buf, t.Shape...), buf
}

// storeRows writes src, the elements of a contiguous tensor of dst's BSHD shape, into
// dst row by row, rounding to dst's dtype. Nothing happens when src is nil.
func storeRows(dst view, src []float32) {
	sh := dst.t.Shape
	d := sh[3]
	for r := range len(src) / max(d, 1) {
		b, s, h := r/(sh[1]*sh[2]), r/sh[2]%sh[1], r%sh[2]
		rowkernels.StoreRow(dst.t, dst.off(b, s, h), src[r*d:(r+1)*d])
	}
}

// must panics on an error that earlier validation rules out.
func must(err error) {
	if err != nil {
		panic("attention: " + err.Error())
	}
}
