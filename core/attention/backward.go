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
// of one (batch, KV head), rows zero padded to dp (keys) or dvp (values), and one query
// row's vectors and per-key values.
type backScratch struct {
	k, v, dk, dv []float32 // Lk rows of dp (k, dk) or dvp (v, dv)
	q, dq, do, o []float32 // padded to dp (q, dq) or dvp (do, o)
	p, dp, th    []float32 // per visible key: probability, dout·v, tanh of the capped logit
	bias         []float32 // one query row's bias over the keys
}

func (bp *backPlan) run() {
	pl := bp.plan
	if pl.B == 0 || pl.Hkv == 0 {
		return
	}
	dp, dvp, lk := pl.dp, pl.dvp, pl.Lk
	cpu.ParallelFor(pl.B*pl.Hkv, 1, func(lo, hi int) {
		sc := backScratch{
			k: make([]float32, lk*dp), dk: make([]float32, lk*dp),
			v: make([]float32, lk*dvp), dv: make([]float32, lk*dvp),
			q: make([]float32, dp), dq: make([]float32, dp),
			do: make([]float32, dvp), o: make([]float32, dvp),
			p: make([]float32, lk), dp: make([]float32, lk), th: make([]float32, lk),
		}
		if pl.bias != nil {
			sc.bias = make([]float32, lk)
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
	D, Dv, dp, dvp := pl.D, pl.Dv, pl.dp, pl.dvp
	for j := range pl.Lk {
		pl.k.t.LoadRow(pl.k.off(b, j, kvh), sc.k[j*dp:j*dp+D])
		pl.v.t.LoadRow(pl.v.off(b, j, kvh), sc.v[j*dvp:j*dvp+Dv])
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
			bp.dq.t.StoreRow(bp.dq.off(b, i, h), sc.dq[:D])
		}
	}
	for j := range pl.Lk {
		bp.dk.t.StoreRow(bp.dk.off(b, j, kvh), sc.dk[j*dp:j*dp+D])
		bp.dv.t.StoreRow(bp.dv.off(b, j, kvh), sc.dv[j*dvp:j*dvp+Dv])
	}
}

// row adds query row (b, h, i)'s terms over its visible keys [lo, hi) to sc.dq, sc.dk
// and sc.dv, each step a vector kernel over all those keys: the logits (q·k), the
// probabilities exp(x - lse), dout·v, then dv += P dout, dk += dS q and dq += dS k.
func (bp *backPlan) row(sc *backScratch, b, h, i, lo, hi int, lse, slope float32) {
	pl := bp.plan
	kern, dp, dvp := pl.kern, pl.dp, pl.dvp
	pl.q.t.LoadRow(pl.q.off(b, i, h), sc.q[:pl.D])
	bp.do.t.LoadRow(bp.do.off(b, i, h), sc.do[:pl.Dv])
	pl.o.t.LoadRow(pl.o.off(b, i, h), sc.o[:pl.Dv])
	var di float32
	for d, x := range sc.do[:pl.Dv] {
		di += x * sc.o[d]
	}
	n := hi - lo
	p, dps, th := sc.p[:n], sc.dp[:n], sc.th[:n]
	kern.scores(p, sc.q, sc.k[lo*dp:], dp, pl.scale)
	pl.finishLogits(p, th, sc.bias, b, h, i, lo, slope)
	kern.expSum(p, lse)
	kern.scores(dps, sc.do, sc.v[lo*dvp:], dvp, 1)
	ds := dps // dS overwrites dout·v
	for j, pj := range p {
		g := pj * (dps[j] - di)
		if pl.cap > 0 {
			g *= 1 - th[j]*th[j]
		}
		ds[j] = g * pl.scale
	}
	kern.axpyRows(sc.dv[lo*dvp:], dvp, p, sc.do)
	kern.axpyRows(sc.dk[lo*dp:], dp, ds, sc.q)
	kern.accum(sc.dq, ds, sc.k[lo*dp:], dp)
}

// finishLogits turns the scaled scores p of query (b, h, i) against keys lo, lo+1, ...
// into the forward pass's logits: soft cap (th receives each tanh), bias (read through
// the scratch row bias), ALiBi with the head's slope.
func (pl *plan) finishLogits(p, th, bias []float32, b, h, i, lo int, slope float32) {
	if !pl.elementwise {
		return
	}
	if pl.bias != nil {
		st := pl.bias.Strides
		pl.bias.LoadRow(b*st[0]+h*st[1]+i*st[2]+lo*st[3], bias[:len(p)])
	}
	if pl.cap == 0 && pl.alibi == nil { // the bias alone: one add per logit
		b := bias[:len(p)]
		for j := range p {
			p[j] += b[j]
		}
		return
	}
	ip := i + pl.offset
	for j, x := range p {
		if pl.cap > 0 {
			th[j] = float32(math.Tanh(float64(x / pl.cap)))
			x = pl.cap * th[j]
		}
		if pl.bias != nil {
			x += bias[j]
		}
		if pl.alibi != nil {
			x -= slope * float32(ip-(lo+j))
		}
		p[j] = x
	}
}
