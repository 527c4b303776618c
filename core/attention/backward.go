package attention

import (
	"sync"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	rowkernels "github.com/mlxprim/mlxprim/core/kernels"
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
	singleRows     bool // take query rows one at a time (tests compare with the pairs)
}

// backScratch is one worker's float32 memory: the keys, values and their gradient sums
// of one (batch, KV head), rows zero padded to dp (keys) or dvp (values), and two query
// rows' vectors and per-key values.
type backScratch struct {
	k, v, dk, dv []float32 // Lk rows of dp (k, dk) or dvp (v, dv)
	rows         [2]backRow
}

// backRow is one query row in the backward pass: its visible keys [lo, hi), its lse, its
// vectors (padded to dp or dvp) and its values over the visible keys.
type backRow struct {
	i, lo, hi    int
	lse, di      float32 // di = dout·out
	q, dq, do, o []float32
	p, dp, th    []float32 // probability, dout·v then dS, tanh of the capped logit
	bias         []float32 // the row's bias over the keys
}

func (bp *backPlan) run() {
	pl := bp.plan
	if pl.B == 0 || pl.Hkv == 0 {
		return
	}
	dp, dvp, lk := pl.dp, pl.dvp, pl.Lk
	cpu.ParallelFor(pl.B*pl.Hkv, 1, func(lo, hi int) {
		sc, _ := backScratchPool.Get().(*backScratch)
		if sc == nil {
			sc = new(backScratch)
		}
		defer backScratchPool.Put(sc)
		sc.k, sc.dk = grow(sc.k, lk*dp), grow(sc.dk, lk*dp)
		sc.v, sc.dv = grow(sc.v, lk*dvp), grow(sc.dv, lk*dvp)
		sc.rows = [2]backRow{pl.newBackRow(lk), pl.newBackRow(lk)}
		for it := lo; it < hi; it++ {
			bp.group(sc, it/pl.Hkv, it%pl.Hkv)
		}
	})
}

// backScratchPool recycles the workers' key, value and gradient rows (MiB per call at
// long lengths; allocated per call, they made callers whose tensors live outside the Go
// heap collect garbage every call). group writes every row it reads, padding included.
var backScratchPool sync.Pool

// group computes dq for every query row reading KV head kvh of batch b, and dk, dv of
// that KV head, in a fixed order: query head, then query position, then key. Two
// consecutive rows that share keys go through the paired kernels, which give every
// element the terms it would get from the rows one at a time, in the same order.
func (bp *backPlan) group(sc *backScratch, b, kvh int) {
	pl := bp.plan
	D, Dv, dp, dvp := pl.D, pl.Dv, pl.dp, pl.dvp
	for j := range pl.Lk {
		kr, vr := sc.k[j*dp:(j+1)*dp], sc.v[j*dvp:(j+1)*dvp]
		rowkernels.LoadRow(pl.k.t, pl.k.off(b, j, kvh), kr[:D])
		rowkernels.LoadRow(pl.v.t, pl.v.off(b, j, kvh), vr[:Dv])
		clear(kr[D:]) // pooled memory: zero padding, as the kernels' padded rows need
		clear(vr[Dv:])
	}
	clear(sc.dk)
	clear(sc.dv)
	r0, r1 := &sc.rows[0], &sc.rows[1]
	for h := kvh * pl.grp; h < (kvh+1)*pl.grp; h++ {
		var slope float32
		if pl.alibi != nil {
			slope = pl.alibi[h]
		}
		for i := 0; i < pl.Lq; {
			n := 1
			active := pl.setRow(bp.do, r0, b, h, i, 0, pl.Lk)
			if active && i+1 < pl.Lq && !bp.singleRows && pl.setRow(bp.do, r1, b, h, i+1, 0, pl.Lk) {
				if cl, ch := overlap(r0, r1); cl < ch {
					n = 2
				}
			}
			switch {
			case n == 2:
				bp.rowPair(sc, b, h, r0, r1, slope)
			case active:
				bp.row(sc, b, h, r0, slope)
			}
			for _, r := range sc.rows[:n] {
				rowkernels.StoreRow(bp.dq.t, bp.dq.off(b, r.i, h), r.dq[:D])
			}
			i += n
		}
	}
	for j := range pl.Lk {
		rowkernels.StoreRow(bp.dk.t, bp.dk.off(b, j, kvh), sc.dk[j*dp:j*dp+D])
		rowkernels.StoreRow(bp.dv.t, bp.dv.off(b, j, kvh), sc.dv[j*dvp:j*dvp+Dv])
	}
}

// setRow readies r for query (b, h, i) of the keys in [j0, j1): its visible keys there
// and its lse, a cleared dq, and, when it sees a key, its q, dout (from do), out and di.
// It reports whether the row sees a key (a row that does not gets dq = 0 and adds
// nothing to dk and dv).
func (pl *plan) setRow(do view, r *backRow, b, h, i, j0, j1 int) bool {
	ls := pl.lse.Strides
	r.i, r.lse = i, *(*float32)(unsafe.Add(pl.lse.Data, (b*ls[0]+h*ls[1]+i*ls[2])*4))
	r.lo, r.hi = pl.keyRange(b, i)
	r.lo, r.hi = max(r.lo, 0, j0), min(r.hi, pl.Lk, j1)
	clear(r.dq)
	if r.lo >= r.hi || r.lse == negInf {
		return false
	}
	rowkernels.LoadRow(pl.q.t, pl.q.off(b, i, h), r.q[:pl.D])
	rowkernels.LoadRow(do.t, do.off(b, i, h), r.do[:pl.Dv])
	rowkernels.LoadRow(pl.o.t, pl.o.off(b, i, h), r.o[:pl.Dv])
	r.di = 0
	for d, x := range r.do[:pl.Dv] {
		r.di += x * r.o[d]
	}
	return true
}

// newBackRow returns a row with scratch for head dims dp, dvp and lk keys.
func (pl *plan) newBackRow(lk int) backRow {
	r := backRow{
		q: make([]float32, pl.dp), dq: make([]float32, pl.dp),
		do: make([]float32, pl.dvp), o: make([]float32, pl.dvp),
		p: make([]float32, lk), dp: make([]float32, lk), th: make([]float32, lk),
	}
	if pl.bias != nil {
		r.bias = make([]float32, lk)
	}
	return r
}

// overlap returns the keys [cl, ch) both rows see (empty when cl >= ch).
func overlap(ra, rb *backRow) (cl, ch int) { return max(ra.lo, rb.lo), min(ra.hi, rb.hi) }

// pairScores sets sa[j-ra.lo] = scale·xa·k_j over the keys of ra and sb[j-rb.lo] =
// scale·xb·k_j over those of rb, with k_j at k[(j-base)*ks]: the keys both rows see
// through scores2 (each key row read once), the others through scores; each score has
// the same bits either way.
func (pl *plan) pairScores(ra, rb *backRow, sa, sb, xa, xb, k []float32, base, ks int, scale float32) {
	cl, ch := overlap(ra, rb)
	pl.kern.scores2(sa[cl-ra.lo:ch-ra.lo], sb[cl-rb.lo:ch-rb.lo], xa, xb, k[(cl-base)*ks:], ks, scale)
	for _, x := range []struct {
		r    *backRow
		s, v []float32
	}{{ra, sa, xa}, {rb, sb, xb}} {
		if x.r.lo < cl {
			pl.kern.scores(x.s[:cl-x.r.lo], x.v, k[(x.r.lo-base)*ks:], ks, scale)
		}
		if ch < x.r.hi {
			pl.kern.scores(x.s[ch-x.r.lo:x.r.hi-x.r.lo], x.v, k[(ch-base)*ks:], ks, scale)
		}
	}
}

// row adds query row r's terms over its visible keys to r.dq, sc.dk and sc.dv, each
// step a vector kernel over all those keys: the logits (q·k), the probabilities
// exp(x - lse), dout·v, then dv += P dout, dk += dS q and dq += dS k.
func (bp *backPlan) row(sc *backScratch, b, h int, r *backRow, slope float32) {
	pl := bp.plan
	kern, dp, dvp := pl.kern, pl.dp, pl.dvp
	n := r.hi - r.lo
	kern.scores(r.p[:n], r.q, sc.k[r.lo*dp:], dp, pl.scale)
	bp.probs(r, b, h, slope)
	kern.scores(r.dp[:n], r.do, sc.v[r.lo*dvp:], dvp, 1)
	bp.dS(r)
	kern.axpyRows(sc.dv[r.lo*dvp:], dvp, r.p[:n], r.do)
	kern.axpyRows(sc.dk[r.lo*dp:], dp, r.dp[:n], r.q)
	kern.accum(r.dq, r.dp[:n], sc.k[r.lo*dp:], dp)
}

// rowPair is row for two rows whose keys overlap: the shared keys [cl, ch) go through
// the paired kernels (each key or value row read once for both, each dk and dv row
// updated once, row a's term before row b's), the others through the single ones.
func (bp *backPlan) rowPair(sc *backScratch, b, h int, ra, rb *backRow, slope float32) {
	pl := bp.plan
	kern, dp, dvp := pl.kern, pl.dp, pl.dvp
	cl, ch := overlap(ra, rb)
	shared := func(x []float32, r *backRow) []float32 { return x[cl-r.lo : ch-r.lo] }
	// eachOther calls f on the keys of r outside [cl, ch), as ranges [a, e).
	eachOther := func(r *backRow, f func(a, e int)) {
		if r.lo < cl {
			f(r.lo, cl)
		}
		if ch < r.hi {
			f(ch, r.hi)
		}
	}
	pl.pairScores(ra, rb, ra.p, rb.p, ra.q, rb.q, sc.k, 0, dp, pl.scale)
	pl.pairScores(ra, rb, ra.dp, rb.dp, ra.do, rb.do, sc.v, 0, dvp, 1)
	for _, r := range []*backRow{ra, rb} {
		bp.probs(r, b, h, slope)
		bp.dS(r)
	}
	kern.axpyRows2(sc.dv[cl*dvp:], dvp, shared(ra.p, ra), ra.do, shared(rb.p, rb), rb.do)
	kern.axpyRows2(sc.dk[cl*dp:], dp, shared(ra.dp, ra), ra.q, shared(rb.dp, rb), rb.q)
	for _, r := range []*backRow{ra, rb} {
		eachOther(r, func(a, e int) {
			kern.axpyRows(sc.dv[a*dvp:], dvp, r.p[a-r.lo:e-r.lo], r.do)
			kern.axpyRows(sc.dk[a*dp:], dp, r.dp[a-r.lo:e-r.lo], r.q)
		})
		kern.accum(r.dq, r.dp[:r.hi-r.lo], sc.k[r.lo*dp:], dp)
	}
}

// probs turns r's scaled scores into probabilities: the forward pass's logits, then
// exp(x - lse).
func (bp *backPlan) probs(r *backRow, b, h int, slope float32) {
	n := r.hi - r.lo
	bp.finishLogits(r.p[:n], r.th[:n], r.bias, b, h, r.i, r.lo, slope)
	bp.kern.expSum(r.p[:n], r.lse)
}

// dS overwrites r's dout·v with dS times the scale: P (dout·v - di), times the soft
// cap's derivative 1 - tanh² when there is a cap.
func (bp *backPlan) dS(r *backRow) {
	n := r.hi - r.lo
	p, ds, th := r.p[:n], r.dp[:n], r.th[:n]
	for j, pj := range p {
		g := pj * (ds[j] - r.di)
		if bp.cap > 0 {
			g *= 1 - th[j]*th[j]
		}
		ds[j] = g * bp.scale
	}
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
	if pl.cap > 0 { // softCap, keeping tanh for the gradient
		pl.kern.tanhDiv(th[:len(p)], p, pl.cap)
	}
	for j, x := range p {
		if pl.cap > 0 {
			x = pl.cap * th[j]
		}
		var bj float32
		if pl.bias != nil {
			bj = bias[j]
		}
		p[j] = pl.shiftLogit(x, bj, slope, ip-(lo+j))
	}
}
