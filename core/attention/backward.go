package attention

import (
	"math"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Backward computes the gradients dq, dk, dv of a loss L given dout = dL/dout, where out
// and lse are the results of Forward(q, k, v, out, &lse, p) with the same p. As in
// FlashAttention-2, no probability matrix is stored: for each query row i the
// probabilities are recomputed from the saved LSE, P_ij = exp(x_ij - lse_i), with x_ij the
// logit of the package doc, and
//
//	D_i   = sum_d dout_id * out_id
//	dV_j += P_ij * dout_i
//	dS_ij = P_ij * (dout_i · v_j - D_i)            (times 1 - tanh²(s/SoftCap) with a soft cap)
//	dQ_i += Scale * dS_ij * k_j
//	dK_j += Scale * dS_ij * q_i
//
// where s = Scale * q_i·k_j. Masks (causal, window, KeyLengths), ALiBi and Bias are
// supported; ALiBi and the bias are constant terms, so they change P only (no gradient is
// produced for the bias: it would be dS itself before the scale). With Sinks, the sink
// logit only enters the denominator (through lse); no gradient is produced for the sink
// logits. A row with no visible key (lse = -Inf, or only the sink) gets dq = 0 and
// contributes nothing to dk and dv.
//
// Shapes and layouts are those of Forward: dq like q, dk like k, dv like v, dout like
// out; lse is float32 [B, Hq, Lq]. Any float dtype per tensor; arithmetic is float32.
// With GQA, dk and dv sum over the query heads that share a KV head. The work is split
// over (batch, KV head) pairs, each summed in a fixed order (query head, then query
// position, then key), so the results are bit-identical for any thread count. dq, dk
// and dv must not overlap each other or any input. On error nothing is written.
func Backward(q, k, v, out, dout, lse tensor.Tensor, dq, dk, dv tensor.Tensor, p Params) error {
	bp, err := newBackPlan(q, k, v, out, dout, lse, dq, dk, dv, p)
	if err != nil {
		return err
	}
	bp.run()
	return nil
}

// newBackPlan validates a Backward call.
func newBackPlan(q, k, v, out, dout, lse tensor.Tensor, dq, dk, dv tensor.Tensor, p Params) (*backPlan, error) {
	pl, err := newPlan(q, k, v, out, &lse, p)
	if err != nil {
		return nil, err
	}
	bp := &backPlan{plan: pl}
	if bp.do, err = asBSHD("dout", dout, p.Layout); err != nil {
		return nil, err
	}
	if bp.dq, err = asBSHD("dq", dq, p.Layout); err != nil {
		return nil, err
	}
	if bp.dk, err = asBSHD("dk", dk, p.Layout); err != nil {
		return nil, err
	}
	if bp.dv, err = asBSHD("dv", dv, p.Layout); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name     string
		got, ref view
	}{{"dout", bp.do, pl.o}, {"dq", bp.dq, pl.q}, {"dk", bp.dk, pl.k}, {"dv", bp.dv, pl.v}} {
		gs, rs := c.got.t.Shape, c.ref.t.Shape
		if gs[0] != rs[0] || gs[1] != rs[1] || gs[2] != rs[2] || gs[3] != rs[3] {
			return nil, errShape("%s: shape %v does not match the expected %v (in the layout's order)", c.name, gs, rs)
		}
	}
	if err := checkGradOverlaps(q, k, v, out, dout, lse, dq, dk, dv, p.Bias); err != nil {
		return nil, err
	}
	return bp, nil
}

// checkGradOverlaps checks that dq, dk and dv overlap neither each other nor any input.
func checkGradOverlaps(q, k, v, out, dout, lse, dq, dk, dv tensor.Tensor, bias *tensor.Tensor) error {
	ins := []tensor.Named{{Name: "q", T: q}, {Name: "k", T: k}, {Name: "v", T: v},
		{Name: "out", T: out}, {Name: "dout", T: dout}, {Name: "lse", T: lse}}
	if bias != nil {
		ins = append(ins, tensor.Named{Name: "bias", T: *bias})
	}
	outs := []tensor.Named{{Name: "dq", T: dq}, {Name: "dk", T: dk}, {Name: "dv", T: dv}}
	for n, o := range outs {
		others := append(append([]tensor.Named{}, ins...), outs[:n]...)
		for _, x := range others {
			// Not even the same view: inputs are read while gradients are written.
			if tensor.SameView(o.T, x.T) && o.T.NumEl() > 0 {
				return errInvalid("%s overlaps %s", o.Name, x.Name)
			}
		}
		if err := tensor.CheckOutputOverlap(o, others...); err != nil {
			return err
		}
	}
	return nil
}

// backPlan is a validated Backward call: the forward plan plus the gradient views.
type backPlan struct {
	*plan
	do, dq, dk, dv view
}

// backScratch is one worker's float32 memory: the keys, values and their gradient sums
// of one (batch, KV head), and one query row's vectors.
type backScratch struct {
	k, v, dk, dv []float32 // Lk rows of D (k, dk) or Dv (v, dv)
	q, dq, do, o []float32
	bias         []float32 // one query row's bias over the keys
}

func (bp *backPlan) run() {
	pl := bp.plan
	if pl.B == 0 || pl.Hkv == 0 {
		return
	}
	cpu.ParallelFor(pl.B*pl.Hkv, 1, func(lo, hi int) {
		sc := backScratch{
			k: make([]float32, pl.Lk*pl.D), dk: make([]float32, pl.Lk*pl.D),
			v: make([]float32, pl.Lk*pl.Dv), dv: make([]float32, pl.Lk*pl.Dv),
			q: make([]float32, pl.D), dq: make([]float32, pl.D),
			do: make([]float32, pl.Dv), o: make([]float32, pl.Dv),
		}
		if pl.bias != nil {
			sc.bias = make([]float32, pl.Lk)
		}
		for it := lo; it < hi; it++ {
			bp.group(&sc, it/pl.Hkv, it%pl.Hkv)
		}
	})
}

// group computes dq for every query row reading KV head kvh of batch b, and dk, dv of
// that KV head, in a fixed order.
func (bp *backPlan) group(sc *backScratch, b, kvh int) {
	pl := bp.plan
	D, Dv := pl.D, pl.Dv
	for j := range pl.Lk {
		pl.k.t.LoadRow(pl.k.off(b, j, kvh), sc.k[j*D:(j+1)*D])
		pl.v.t.LoadRow(pl.v.off(b, j, kvh), sc.v[j*Dv:(j+1)*Dv])
	}
	clear(sc.dk)
	clear(sc.dv)
	ls := pl.lse.Strides
	for h := kvh * pl.grp; h < (kvh+1)*pl.grp; h++ {
		var slope float32
		if pl.alibi != nil {
			slope = pl.alibi[h]
		}
		for i := range pl.Lq {
			clear(sc.dq)
			lse := *(*float32)(unsafe.Add(pl.lse.Data, (b*ls[0]+h*ls[1]+i*ls[2])*4))
			lo, hi := pl.keyRange(b, i)
			lo, hi = max(lo, 0), min(hi, pl.Lk)
			if lo < hi && lse != negInf {
				bp.row(sc, b, h, i, lo, hi, lse, slope)
			}
			bp.dq.t.StoreRow(bp.dq.off(b, i, h), sc.dq)
		}
	}
	for j := range pl.Lk {
		bp.dk.t.StoreRow(bp.dk.off(b, j, kvh), sc.dk[j*D:(j+1)*D])
		bp.dv.t.StoreRow(bp.dv.off(b, j, kvh), sc.dv[j*Dv:(j+1)*Dv])
	}
}

// row adds query row (b, h, i)'s terms over its visible keys [lo, hi) to sc.dq, sc.dk
// and sc.dv.
func (bp *backPlan) row(sc *backScratch, b, h, i, lo, hi int, lse, slope float32) {
	pl := bp.plan
	D, Dv := pl.D, pl.Dv
	pl.q.t.LoadRow(pl.q.off(b, i, h), sc.q)
	bp.do.t.LoadRow(bp.do.off(b, i, h), sc.do)
	pl.o.t.LoadRow(pl.o.off(b, i, h), sc.o)
	var di float32
	for d, x := range sc.do {
		di += x * sc.o[d]
	}
	if pl.bias != nil {
		st := pl.bias.Strides
		pl.bias.LoadRow(b*st[0]+h*st[1]+i*st[2]+lo*st[3], sc.bias[lo:hi])
	}
	ip := i + pl.offset
	for j := lo; j < hi; j++ {
		kj, vj := sc.k[j*D:(j+1)*D], sc.v[j*Dv:(j+1)*Dv]
		var dot float32
		for d, x := range sc.q {
			dot += x * kj[d]
		}
		x := dot * pl.scale
		var th float32
		if pl.cap > 0 {
			th = float32(math.Tanh(float64(x / pl.cap)))
			x = pl.cap * th
		}
		if pl.bias != nil {
			x += sc.bias[j]
		}
		if pl.alibi != nil {
			x -= slope * float32(ip-j)
		}
		pj := expf(x - lse)
		var dp float32
		for d, g := range sc.do {
			dp += g * vj[d]
		}
		ds := pj * (dp - di)
		if pl.cap > 0 {
			ds *= 1 - th*th
		}
		ds *= pl.scale
		dvj := sc.dv[j*Dv : (j+1)*Dv]
		for d, g := range sc.do {
			dvj[d] += pj * g
		}
		dkj := sc.dk[j*D : (j+1)*D]
		for d, x := range sc.q {
			dkj[d] += ds * x
			sc.dq[d] += ds * kj[d]
		}
	}
}
