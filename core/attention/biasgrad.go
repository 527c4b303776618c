package attention

import (
	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	rowkernels "github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// BiasGrad computes dbias = dL/dBias for the additive bias p.Bias of a Forward call, given
// dout = dL/dout, out and lse of that call with the same p. With x the logits (soft cap,
// then bias, ALiBi and masks) and P = exp(x - lse),
//
//	dL/dx_ij = P_ij * (dout_i · v_j - D_i),   D_i = dout_i · out_i
//
// which is Backward's dS before the scale and before the soft cap's derivative (the bias
// is added after the cap). dbias sums dL/dx over the dimensions along which the bias is
// broadcast to [B, Hq, Lq, Lk]; masked keys and rows with no visible key add nothing.
//
// dbias has exactly p.Bias's shape, any float dtype and strides, and must not overlap any
// input. Every element adds its terms in a fixed order (batch, query head, query
// position, and key when the bias is broadcast along the keys), so the result is
// bit-identical for any thread count. The work is split over the bias's batch and head
// entries and blocks of keys, each recomputing its logits and dout·v (about 70% of the
// time of Backward). On error nothing is written.
func BiasGrad(q, k, v, out, dout, lse, dbias tensor.Tensor, p Params) error {
	bg, err := newBiasGrad(q, k, v, out, dout, lse, dbias, p)
	if err != nil {
		return err
	}
	bg.run()
	return nil
}

// biasGrad is a validated BiasGrad call.
type biasGrad struct {
	*plan
	do view
	db tensor.Tensor
	// dims is the bias's shape aligned right to [B, Hq, Lq, Lk] (1 where it is
	// broadcast), strides dbias's element strides for those dims (0 where absent).
	dims, strides [4]int
	block         int // keys per work item
}

// Work items when the bias has a key axis cover multiples of biasGradBlock keys, and keep
// at most maxBiasSums partial sums.
const (
	biasGradBlock = 128
	maxBiasSums   = 1 << 20
)

func newBiasGrad(q, k, v, out, dout, lse, dbias tensor.Tensor, p Params) (*biasGrad, error) {
	if p.Bias == nil {
		return nil, errInvalid("bias: BiasGrad needs the forward call's bias in the parameters")
	}
	pl, err := newPlan(q, k, v, out, &lse, p)
	if err != nil {
		return nil, err
	}
	bg := &biasGrad{plan: pl, db: dbias}
	if bg.do, err = asBSHD("dout", dout, p.Layout); err != nil {
		return nil, err
	}
	gs, rs := bg.do.t.Shape, pl.o.t.Shape
	if gs[0] != rs[0] || gs[1] != rs[1] || gs[2] != rs[2] || gs[3] != rs[3] {
		return nil, errShape("dout: shape %v does not match the expected %v (in the layout's order)", gs, rs)
	}
	if err := dbias.Validate("dbias"); err != nil {
		return nil, err
	}
	if !dbias.DType.IsFloat() {
		return nil, errs.New(errs.UnsupportedDtype, "dbias: dtype %v is not a float type", dbias.DType)
	}
	bs := p.Bias.Shape
	if len(dbias.Shape) != len(bs) {
		return nil, errShape("dbias: shape %v, expected the bias's shape %v", dbias.Shape, bs)
	}
	for d := range bs {
		if dbias.Shape[d] != bs[d] {
			return nil, errShape("dbias: shape %v, expected the bias's shape %v", dbias.Shape, bs)
		}
	}
	ins := []tensor.Named{{Name: "q", T: q}, {Name: "k", T: k}, {Name: "v", T: v},
		{Name: "out", T: out}, {Name: "dout", T: dout}, {Name: "lse", T: lse}, {Name: "bias", T: *p.Bias}}
	for _, x := range ins {
		if tensor.SameView(dbias, x.T) && dbias.NumEl() > 0 {
			return nil, errInvalid("dbias overlaps %s", x.Name)
		}
	}
	if err := tensor.CheckOutputOverlap(tensor.Named{Name: "dbias", T: dbias}, ins...); err != nil {
		return nil, err
	}
	for d := range bg.dims {
		bg.dims[d] = 1
	}
	for d := range bs {
		bg.dims[4-len(bs)+d] = bs[d]
		bg.strides[4-len(bs)+d] = dbias.Strides[d]
	}
	bg.block = pl.Lk
	if bg.dims[3] > 1 {
		bg.block = bg.keyBlock(cpu.NumThreads())
	}
	return bg, nil
}

// keyBlock is the number of keys of one work item when the bias has a key axis: as many
// as still give every thread four items (each item reloads its query rows), within a
// sums buffer of maxBiasSums floats, in multiples of biasGradBlock. The results do not
// depend on it: each element's terms are added in the same order whatever the item.
func (bg *biasGrad) keyBlock(threads int) int {
	per := bg.dims[0] * bg.dims[1]
	blocks := max(1, (4*threads+per-1)/per)
	block := roundUp((bg.Lk+blocks-1)/blocks, biasGradBlock)
	return max(biasGradBlock, min(block, maxBiasSums/max(1, bg.dims[2])/biasGradBlock*biasGradBlock))
}

// biasScratch is one worker's float32 memory.
type biasScratch struct {
	k, v        []float32 // a block of keys and values of one (batch, KV head), padded rows
	rows        [2]backRow
	acc         []float32 // the item's sums, one row per bias query row
	loadedB     int       // the (batch, KV head) whose keys and values are in k and v
	loadedH     int
	loadedBlock int
}

func (bg *biasGrad) run() {
	if bg.db.NumEl() == 0 {
		return
	}
	blocks := max(1, (bg.Lk+bg.block-1)/bg.block)
	items := bg.dims[0] * bg.dims[1] * blocks
	n, accW := min(bg.block, bg.Lk), 1
	if bg.dims[3] > 1 {
		accW = n
	}
	cpu.ParallelFor(items, 1, func(lo, hi int) {
		sc := biasScratch{
			k: make([]float32, n*bg.dp), v: make([]float32, n*bg.dvp),
			rows: [2]backRow{bg.newBackRow(n), bg.newBackRow(n)},
			acc:  make([]float32, bg.dims[2]*accW),
		}
		for it := lo; it < hi; it++ {
			bb, rest := it/(bg.dims[1]*blocks), it%(bg.dims[1]*blocks)
			bg.item(&sc, bb, rest/blocks, rest%blocks)
		}
	})
}

// item sums the terms of dbias entries (bb, bh, every query row, keys of block blk) and
// stores them.
func (bg *biasGrad) item(sc *biasScratch, bb, bh, blk int) {
	j0 := blk * bg.block
	j1 := min(j0+bg.block, bg.Lk)
	clear(sc.acc)
	sc.loadedB = -1
	bLo, bHi := bb, bb+1
	if bg.dims[0] == 1 {
		bLo, bHi = 0, bg.B
	}
	hLo, hHi := bh, bh+1
	if bg.dims[1] == 1 {
		hLo, hHi = 0, bg.Hq
	}
	for b := bLo; b < bHi; b++ {
		for h := hLo; h < hHi; h++ {
			bg.load(sc, b, h/bg.grp, blk, j0, j1)
			bg.rowsOf(sc, b, h, j0, j1)
		}
	}
	// Store row by row: dbias element (bb, bh, r, j) for r < dims[2], j in the block.
	base := bb*bg.strides[0] + bh*bg.strides[1]
	for r := range bg.dims[2] {
		off := base + r*bg.strides[2]
		if bg.dims[3] == 1 {
			bg.db.StoreRow(off, sc.acc[r:r+1])
			continue
		}
		bg.db.StoreRow(off+j0*bg.strides[3], sc.acc[r*(j1-j0):(r+1)*(j1-j0)]) // the key axis is dbias's last
	}
}

// load puts keys and values [j0, j1) of (b, kvh) in the scratch, zero padded, unless
// they are there already.
func (bg *biasGrad) load(sc *biasScratch, b, kvh, blk, j0, j1 int) {
	if sc.loadedB == b && sc.loadedH == kvh && sc.loadedBlock == blk {
		return
	}
	for j := j0; j < j1; j++ {
		r := j - j0
		rowkernels.LoadRow(bg.k.t, bg.k.off(b, j, kvh), sc.k[r*bg.dp:r*bg.dp+bg.D])
		rowkernels.LoadRow(bg.v.t, bg.v.off(b, j, kvh), sc.v[r*bg.dvp:r*bg.dvp+bg.Dv])
	}
	sc.loadedB, sc.loadedH, sc.loadedBlock = b, kvh, blk
}

// rowsOf adds the terms of every query row of (b, h) for keys [j0, j1) to the sums, two
// rows at a time where they share keys (their scores through pairScores, the sums still
// row by row in order).
func (bg *biasGrad) rowsOf(sc *biasScratch, b, h, j0, j1 int) {
	var slope float32
	if bg.alibi != nil {
		slope = bg.alibi[h]
	}
	r0, r1 := &sc.rows[0], &sc.rows[1]
	for i := 0; i < bg.Lq; {
		if !bg.setRow(bg.do, r0, b, h, i, j0, j1) {
			i++
			continue
		}
		if i+1 < bg.Lq && bg.setRow(bg.do, r1, b, h, i+1, j0, j1) {
			if cl, ch := overlap(r0, r1); cl < ch {
				bg.pairScores(r0, r1, r0.p, r1.p, r0.q, r1.q, sc.k, j0, bg.dp, bg.scale)
				bg.pairScores(r0, r1, r0.dp, r1.dp, r0.do, r1.do, sc.v, j0, bg.dvp, 1)
				bg.add(sc, r0, b, h, slope, j0, j1)
				bg.add(sc, r1, b, h, slope, j0, j1)
				i += 2
				continue
			}
		}
		n := r0.hi - r0.lo
		bg.kern.scores(r0.p[:n], r0.q, sc.k[(r0.lo-j0)*bg.dp:], bg.dp, bg.scale)
		bg.kern.scores(r0.dp[:n], r0.do, sc.v[(r0.lo-j0)*bg.dvp:], bg.dvp, 1)
		bg.add(sc, r0, b, h, slope, j0, j1)
		i++
	}
}

// add turns row r's scores into probabilities and adds P (dout·v - di) to the sums.
func (bg *biasGrad) add(sc *biasScratch, r *backRow, b, h int, slope float32, j0, j1 int) {
	n := r.hi - r.lo
	p, dps := r.p[:n], r.dp[:n]
	bg.finishLogits(p, r.th[:n], r.bias, b, h, r.i, r.lo, slope)
	bg.kern.expSum(p, r.lse)
	row := 0
	if bg.dims[2] > 1 {
		row = r.i
	}
	if bg.dims[3] == 1 {
		sum := sc.acc[row]
		for j, pj := range p {
			sum += pj * (dps[j] - r.di)
		}
		sc.acc[row] = sum
		return
	}
	acc := sc.acc[row*(j1-j0)+(r.lo-j0) : row*(j1-j0)+(r.hi-j0)]
	acc = acc[:len(p)]
	for j, pj := range p {
		acc[j] += pj * (dps[j] - r.di)
	}
}
