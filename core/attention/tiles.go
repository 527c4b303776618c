package attention

import rowkernels "github.com/mlxprim/mlxprim/core/kernels"

// The tile path (kernels with tiles set): for each tile of keys, the scores of all rows of
// an item are computed at once into a transposed tile, 16 rows per vector, so the online
// softmax runs vertically over 16 rows at a time, with no horizontal sums. The keys of a
// tile are taken in whole blocks of 16 counted from the tile start; scores of keys a row
// cannot see are set to -Inf before the softmax and so add exact zeros. Every score is
// one FMA chain over the head dim, every tile's sum adds the tile's 64 probabilities in
// one fixed tree, and every output element is one FMA chain over the keys, so a row gets the same bits whichever
// rows share its item, whether its output is kept transposed (items of 16 rows or more,
// through the pv kernel) or row by row (fewer rows, through the row kernel accum).

// itemRows is what the rows of one item need from tile to tile: their queries,
// transposed and scaled (element t of row r at qt[t*lanes+r], zero rows up to the next
// multiple of 16), and the visible key range [lo[r], hi[r]) of each row.
type itemRows struct {
	qt     []float32
	lo, hi []int
}

// packQT fills tr for the rows of rs.
func (pl *plan) packQT(sc *scratch, tr itemRows, rs rowSet) {
	n := rs.n(pl)
	lanes := pl.lanes(n)
	row := sc.q[:pl.D]
	for r := range n {
		h, i := rs.row(pl, r)
		rowkernels.LoadRow(pl.q.t, pl.q.off(rs.b, i, h), row)
		for t, x := range row {
			tr.qt[t*lanes+r] = x * pl.scale
		}
		lo, hi := pl.keyRange(rs.b, i)
		tr.lo[r], tr.hi[r] = max(lo, 0), min(hi, pl.Lk)
	}
	if n < 16 {
		return // the row kernels (qkRows) read only the rows' own lanes
	}
	for t := range pl.D {
		clear(tr.qt[t*lanes+n : (t+1)*lanes])
	}
}

// chunkTiles is chunk for the tile kernels.
func (pl *plan) chunkTiles(sc *scratch, st state, rs rowSet, c int) {
	lo, hi := pl.keySpan(rs)
	a, e := max(c*chunkKeys, lo), min((c+1)*chunkKeys, hi)
	for ts := a - a%tileKeys; ts < e; ts += tileKeys {
		pl.tileStep(sc, sc.rows, st, rs, ts, a, e, true)
	}
}

// tileStep folds the keys of tile [ts, ts+tileKeys) that lie in [a, e) into st, for the
// rows of rs described by tr; ahead asks for the head's next tile while it computes
// (wideTile reads every head's tiles itself).
func (pl *plan) tileStep(sc *scratch, tr itemRows, st state, rs rowSet, ts, a, e int, ahead bool) {
	tk := pl.kern.tiles
	n := rs.n(pl)
	lanes := pl.lanes(n)
	b, dvp := rs.b, pl.dvp
	// Keys [pa, pe) are visible to some row; scores and probabilities cover the whole
	// tile [ja, jb), so that each row's sum has the same terms in the same tree.
	pa, pe := max(ts, a), min(ts+tileKeys, e)
	ja, jb := ts, ts+tileKeys
	nk := jb - ja
	wide := st.rs == 1
	if next := ts + tileKeys; ahead && next < e {
		pl.prefetch(pl.k, pl.kRows, b, rs.kvh, next, min(next+tileKeys, e), pl.D)
		pl.prefetch(pl.v, pl.vDirect, b, rs.kvh, next, min(next+tileKeys, e), pl.Dv)
	}
	// Probabilities: key j's of row r at p[(j-ja)*pj + r*pr].
	p, pj, pr := sc.st, lanes, 1
	if wide {
		kb, ks := tile(pl.k, pl.kRows, sc.kt, b, rs.kvh, ja, jb, pl.D, pl.dp)
		kp := &kb[0]
		for v := 0; v < lanes; v += 32 {
			tk.qk(&sc.st[v], lanes, &tr.qt[v], kp, ks, pl.D, nk, min(2, (lanes-v)/16))
		}
		pl.maskTile(sc, tr, rs, ja, jb, p, pj, pr)
		for v := 0; v < lanes; v += 16 {
			tk.softmax(&sc.st[v], lanes, &st.m[v], &st.l[v], &sc.alpha[v])
		}
	} else {
		p, pj, pr = sc.sr, 1, tileKeys
		// Only the 16-key blocks up to the last visible key are read: the scores of
		// the others come from stale columns of kt2 and are all masked below.
		kn := visibleBlocks(ja, pe)
		pl.transposeKeys(sc, sc.kt2, b, rs.kvh, ja, kn)
		tk.qkRows(&sc.sr[0], &tr.qt[0], &sc.kt2[0], pl.D, n)
		pl.maskTile(sc, tr, rs, ja, jb, p, pj, pr)
		for r := range n {
			tk.softmaxRow(&sc.sr[r*tileKeys], &st.m[r], &st.l[r], &sc.alpha[r])
		}
	}
	if wide {
		vb, vs := tile(pl.v, pl.vDirect, sc.vt, b, rs.kvh, pa, pe, pl.Dv, dvp)
		p0 := (pa - ja) * lanes // probabilities of key pa
		for v := 0; v < lanes; v += 32 {
			tk.pv(&st.o[v], lanes, &sc.st[p0+v], &vb[0], vs, pe-pa, dvp, &sc.alpha[v], min(2, (lanes-v)/16))
		}
		return
	}
	pl.rescaleRows(st, n, sc.alpha)
	pl.accumValues(sc, st, tr, n, sc.sr, ja, pa, pe, b, rs.kvh)
}

// visibleBlocks returns how many keys from ja, a whole number of 16-key blocks, cover the
// keys before pe (at most a tile).
func visibleBlocks(ja, pe int) int {
	return min(tileKeys, (max(pe-ja, 0)+15)&^15)
}

// rescaleRows multiplies the output of each row r < n of st (row by row) by alpha[r].
func (pl *plan) rescaleRows(st state, n int, alpha []float32) {
	for r := range n {
		if al := alpha[r]; al != 1 {
			// (o·al)/1 in the vector kernel: the bits of o[d] *= al, as division by 1
			// is exact.
			pl.kern.scaleDiv(st.o[r*pl.dvp:(r+1)*pl.dvp], al, 1)
		}
	}
}

// accumRows adds to the output of each row r < n of st (row by row) the products of its
// probabilities of keys [pa, pe) (key j's at p[r*tileKeys+j-ja]) with their values (rows
// of stride vs in vb, key pa first), over the keys the row can see.
func (pl *plan) accumRows(st state, tr itemRows, n int, p []float32, ja, pa, pe int, vb []float32, vs int) {
	dvp := pl.dvp
	prob := func(r, ra, rb int) []float32 { return p[r*tileKeys+(ra-ja) : r*tileKeys+(rb-ja)] }
	accumGroups(tr, n, pa, pe, func(r, ra, rb int) {
		pl.kern.accum4(st.o[r*dvp:], dvp, dvp, p[r*tileKeys+(ra-ja):], tileKeys, rb-ra, vb[(ra-pa)*vs:], vs)
	}, func(r, ra, rb int) {
		pl.kern.accum2(st.o[r*dvp:(r+1)*dvp], st.o[(r+1)*dvp:(r+2)*dvp], prob(r, ra, rb), prob(r+1, ra, rb), vb[(ra-pa)*vs:], vs)
	}, func(r, ra, rb int) {
		pl.kern.accum(st.o[r*dvp:(r+1)*dvp], prob(r, ra, rb), vb[(ra-pa)*vs:], vs)
	})
}

// accumGroups visits the rows r < n that see some keys [ra, rb) of [pa, pe), in order:
// four rows that see the same keys through four(r, ra, rb) (rows r..r+3), else two
// through two, else one through one, so that rows with the same keys share the value
// loads.
func accumGroups(tr itemRows, n, pa, pe int, four, two, one func(r, ra, rb int)) {
	same := func(r, ra, rb int) bool { return r < n && max(pa, tr.lo[r]) == ra && min(pe, tr.hi[r]) == rb }
	for r := 0; r < n; r++ {
		ra, rb := max(pa, tr.lo[r]), min(pe, tr.hi[r])
		switch {
		case ra >= rb:
		case same(r+1, ra, rb) && same(r+2, ra, rb) && same(r+3, ra, rb):
			four(r, ra, rb)
			r += 3
		case same(r+1, ra, rb):
			two(r, ra, rb)
			r++
		default:
			one(r, ra, rb)
		}
	}
}

// maskTile sets the scores of keys [ja, jb) that a row cannot see to -Inf, and applies
// the soft cap, bias and ALiBi to the others; key j's score of row r is at
// st[(j-ja)*sj + r*sr].
func (pl *plan) maskTile(sc *scratch, tr itemRows, rs rowSet, ja, jb int, st []float32, sj, sr int) {
	n := rs.n(pl)
	if pl.cap > 0 && n > 0 { // every score of the tile, before the masks overwrite some
		pl.kern.softCap(st[:(jb-ja-1)*sj+(n-1)*sr+1], pl.cap)
	}
	// The rows' visible keys [lo, hi), query positions i' (dist) and slopes, in the form
	// the ALiBi kernel reads.
	a := &sc.alibi
	sc.biasTile = grow(sc.biasTile, (n+15)&^15*tileKeys) // whole blocks of 16 rows for the bias kernel
	a.slope, a.dist, a.lo, a.hi = grow(a.slope, n), grow(a.dist, n), grow(a.lo, n), grow(a.hi, n)
	any := false
	for r := range n {
		va, vb := max(ja, tr.lo[r]), min(jb, tr.hi[r])
		if va >= vb {
			va, vb = jb, jb
		}
		a.lo[r], a.hi[r] = int32(va), int32(vb)
		for j := ja; j < va; j++ {
			st[(j-ja)*sj+r*sr] = negInf
		}
		for j := vb; j < jb; j++ {
			st[(j-ja)*sj+r*sr] = negInf
		}
		if (pl.bias != nil || pl.alibi != nil) && va < vb {
			any = true
			h, i := rs.row(pl, r)
			a.dist[r] = int32(i + pl.offset)
			if pl.alibi != nil {
				a.slope[r] = pl.alibi[h]
			}
			pl.biasRow(sc.biasTile[r*tileKeys+(va-ja):], vb-va, rs.b, h, i, va)
		}
	}
	if !any {
		return
	}
	if sr == 1 {
		// The transposed tile: the bias key by key over all rows, with zeros where a row
		// sees no key (a masked -Inf stays -Inf), then ALiBi by the vector kernel.
		if pl.bias != nil {
			for r := range n {
				bt := sc.biasTile[r*tileKeys : (r+1)*tileKeys]
				clear(bt[:int(a.lo[r])-ja])
				clear(bt[int(a.hi[r])-ja : jb-ja])
			}
			pl.kern.tiles.bias(st, sj, sc.biasTile, jb-ja, n)
		}
		if pl.alibi != nil {
			pl.kern.tiles.alibi(st, sj, ja, jb-ja, a)
		}
		return
	}
	// Rows of contiguous scores (decode's row path): row by row.
	for r := range n {
		for j := int(a.lo[r]); j < int(a.hi[r]); j++ {
			p := &st[(j-ja)*sj+r*sr]
			*p = pl.shiftLogit(*p, sc.biasTile[r*tileKeys+(j-ja)], a.slope[r], int(a.dist[r])-j)
		}
	}
}
