package attention

import (
	"github.com/mlxprim/mlxprim/core/kernels/rope"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// ForwardRoPE is Forward with rotary position embeddings applied to q and k as they are
// read: the result equals rope.Apply on q and on k followed by Forward, bit for bit
// (the rotation is rope.Apply itself, into scratch of q's and k's dtypes), and q and k
// are left unchanged.
//
// Positions follow Forward's bottom-right alignment: key j has position rp.Offset + j
// and query i has position rp.Offset + (Lk - Lq) + i, so a query and the key at the same
// absolute position share one angle (prefill with Lq == Lk: both rp.Offset + i; decode
// of the last Lq tokens of a cache of Lk keys starting at rp.Offset). rp.Layout is
// ignored: the layout of every tensor is p.Layout. The other fields of rp (base, rotary
// dim, pairing, scaling, inverse) are rope's.
//
// The work is done per KV head group (batch b, KV head): its query heads and its keys
// are rotated into per-call scratch, O((Lq*Hq/Hkv + Lk) * D) elements, and attended with
// Forward's kernels. Arguments and errors follow Forward and rope.Apply; on error
// nothing is written.
func ForwardRoPE(q, k, v, out tensor.Tensor, lse *tensor.Tensor, rp rope.Params, p Params) error {
	pl, err := newPlan(q, k, v, out, lse, p)
	if err != nil {
		return err
	}
	rq, rk, err := pl.ropeParams(rp)
	if err != nil {
		return err
	}
	grp := pl.grp
	qs := scratchTensor(pl.q.t.DType, 1, pl.Lq, grp, pl.D)
	ks := scratchTensor(pl.k.t.DType, 1, pl.Lk, 1, pl.D)
	pg := p
	pg.Layout = BSHD
	for b := range pl.B {
		at := func(t tensor.Tensor, h0, h1 int) tensor.Tensor { return narrow(narrow(t, 0, b, b+1), 2, h0, h1) }
		for kvh := range pl.Hkv {
			h0, h1 := kvh*grp, (kvh+1)*grp
			if err := rope.Apply(at(pl.q.t, h0, h1), qs, nil, nil, nil, rq); err != nil {
				return err
			}
			if err := rope.Apply(at(pl.k.t, kvh, kvh+1), ks, nil, nil, nil, rk); err != nil {
				return err
			}
			var lg *tensor.Tensor
			if lse != nil {
				t := narrow(narrow(*lse, 0, b, b+1), 1, h0, h1)
				lg = &t
			}
			if p.ALiBiSlopes != nil {
				pg.ALiBiSlopes = p.ALiBiSlopes[h0:h1]
			}
			if p.Sinks != nil {
				pg.Sinks = p.Sinks[h0:h1]
			}
			if p.KeyLengths != nil {
				pg.KeyLengths = p.KeyLengths[b : b+1]
			}
			if pl.bias != nil {
				bt := narrow(narrow(*pl.bias, 0, b, b+1), 1, h0, h1)
				pg.Bias = &bt
			}
			if err := Forward(qs, ks, at(pl.v.t, kvh, kvh+1), at(pl.o.t, h0, h1), lg, pg); err != nil {
				return err
			}
		}
	}
	return nil
}

// ropeParams returns the rotations of q and k for the BSHD views of the call (key j at
// rp.Offset + j, query i at rp.Offset + Lk - Lq + i) after rope's own checks (rotary dim,
// pairing, scaling) on empty views of q and k, so that they fail before any write.
func (pl *plan) ropeParams(rp rope.Params) (rq, rk rope.Params, err error) {
	rq, rk = rp, rp
	rq.Layout, rk.Layout = rope.BSHD, rope.BSHD
	rq.Offset = rp.Offset + pl.Lk - pl.Lq
	for _, t := range []tensor.Tensor{pl.q.t, pl.k.t} {
		e := narrow(narrow(t, 0, 0, 0), 1, 0, 0)
		if err := rope.Apply(e, e, nil, nil, nil, rq); err != nil {
			return rq, rk, err
		}
	}
	return rq, rk, nil
}

// scratchTensor allocates a contiguous tensor of dtype dt (float32, float16 or bfloat16).
func scratchTensor(dt tensor.DType, shape ...int) tensor.Tensor {
	n := tensor.NumElOf(shape)
	if dt == tensor.Float32 {
		return tensor.FromFloat32(make([]float32, n), shape...)
	}
	return tensor.FromUint16(make([]uint16, n), dt, shape...)
}
