package attention

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// decodeItem is one item of a batch entry during one chunk of runByChunk, with its own
// scratch for the tile being processed.
type decodeItem struct {
	rs     rowSet
	st     state
	tr     itemRows
	a, e   int       // the item's keys in the chunk
	kt, sr []float32 // transposed key tile [dp][tileKeys], scores [16][tileKeys] (in scratch.srs)
	alpha  []float32
}

// decodeBlockBytes bounds the keys (or values) of every head that decodeTile reads in one
// sequential burst before the kernels use them: a quarter of a 2 MiB L2, so the block is
// still there when they do. Longer bursts keep the memory stream going longer between
// the pauses of the kernels. A variable so tests can force every block size.
var decodeBlockBytes = 512 << 10

// decodeBlock returns the number of positions decodeTile reads for every item before
// moving on: the largest of tileKeys, tileKeys/2 and 16 (each a whole number of
// transposed 16-key blocks that divides the tile) within decodeBlockBytes of keys, and
// 16 when none is.
func (pl *plan) decodeBlock() int {
	row := pl.Hkv * pl.dp * pl.k.t.DType.Bits() / 8
	n := tileKeys
	for n > 16 && n*row > decodeBlockBytes {
		n /= 2
	}
	return n
}

// decodeTile is tileStep's row path for every item of a batch entry at once. Keys, and
// values unless streamValues takes them, are read a block of positions (decodeBlock) at
// a time for all items in turn: with the usual [B, S, H, D] layout these are whole rows
// of positions, every KV head of them, taken in address order, instead of one head's
// rows a position apart. Each item gets the same arithmetic, in the same order, as from
// tileStep. Keys are transposed into the item's own kt only when a tile takes several
// blocks; otherwise into sc.kt2, scored at once.
func (pl *plan) decodeTile(sc *scratch, items []decodeItem, ts int) {
	tk := pl.kern.tiles
	on := func(it *decodeItem) bool { return it.a < it.e && ts+tileKeys > it.a && ts < it.e }
	blk := pl.decodeBlock()
	// transpose transposes the item's keys of block [j, j+blk) into kt (row j-ts).
	transpose := func(it *decodeItem, kt []float32, j int) {
		// As in tileStep, blocks after the item's last visible key are not read.
		if n := min(blk, visibleBlocks(ts, it.e)-(j-ts)); on(it) && n > 0 {
			pl.transposeKeys(sc, kt[j-ts:], it.rs.b, it.rs.kvh, j, n)
		}
	}
	// fold folds the item's scores of the tile, in sr, into its state.
	fold := func(it *decodeItem) {
		n := it.rs.n(pl)
		pl.maskTile(sc, it.tr, it.rs, ts, ts+tileKeys, it.sr, 1, tileKeys)
		for r := range n {
			tk.softmaxRow(&it.sr[r*tileKeys], &it.st.m[r], &it.st.l[r], &it.alpha[r])
		}
		pl.rescaleRows(it.st, n, it.alpha)
	}
	// scores folds the item's scores of the tile, from its keys transposed in kt, into
	// its state.
	scores := func(it *decodeItem, kt []float32) {
		tk.qkRows(&it.sr[0], &it.tr.qt[0], &kt[0], pl.D, it.rs.n(pl))
		fold(it)
	}
	if pl.streamKeys(sc, items, ts) {
		for i := range items {
			fold(&items[i])
		}
	} else if blk == tileKeys {
		// One block holds the tile: each item's keys are scored right after they are
		// transposed, into one buffer that stays in L1, rather than read back from L2
		// after every item's transposition.
		pl.touchBlock(pl.k, items, ts, blk)
		for i := range items {
			if it := &items[i]; on(it) {
				transpose(it, sc.kt2, ts)
				scores(it, sc.kt2)
			}
		}
	} else {
		for j := ts; j < ts+tileKeys; j += blk {
			pl.touchBlock(pl.k, items, j, blk)
			for i := range items {
				transpose(&items[i], items[i].kt, j)
			}
		}
		for i := range items {
			if it := &items[i]; on(it) {
				scores(it, it.kt)
			}
		}
	}
	if pl.streamValues(sc, items, ts) {
		return
	}
	for j := ts; j < ts+tileKeys; j += blk {
		pl.touchBlock(pl.v, items, j, blk)
		for i := range items {
			it := &items[i]
			pa, pe := max(it.a, j), min(it.e, j+blk)
			if pa >= pe {
				continue
			}
			pl.accumValues(sc, it.st, it.tr, it.rs.n(pl), it.sr, ts, pa, pe, it.rs.b, it.rs.kvh)
		}
	}
}

// wideTileBytes bounds the keys and values of every head that wideTile reads ahead of
// a tile: they must still be in the 1 MiB L2 when the items' tile steps read them.
const wideTileBytes = 640 << 10

// wideTile is runByChunk's tile step for items of 16 rows or more (grouped-query decode
// of several query positions): the tile's keys and values of every head are read in
// address order, each as one sequential burst, and then each item's tileStep takes its
// head's rows from the cache, instead of each item reading its head's rows a position
// apart from memory. Each item gets tileStep's arithmetic, hence the same bits.
func (pl *plan) wideTile(sc *scratch, items []decodeItem, ts int) {
	burst := pl.Hkv*(pl.dp*pl.k.t.DType.Bits()+pl.dvp*pl.v.t.DType.Bits())/8*tileKeys <= wideTileBytes
	if burst {
		pl.touchBlock(pl.k, items, ts, tileKeys)
		pl.touchBlock(pl.v, items, ts, tileKeys)
	}
	for i := range items {
		if it := &items[i]; it.a < it.e && ts+tileKeys > it.a && ts < it.e {
			pl.tileStep(sc, it.tr, it.st, it.rs, ts, it.a, it.e, !burst)
		}
	}
}

// groupRows is the number of rows per KV head the grouped-query streams run on: the query
// heads per KV head rounded up to a whole number of quads (3 to 4, 6 and 7 to 8). The
// extra rows have zero queries; their scores and sums go to rows of the item's scores
// and state past its own (which have room for 16), which nothing reads, so the item's
// rows get the bits they get without them. It is 0 when the streams do not take the
// grouping: fewer than 3 rows (2 has scoresPairs), more than 16, no room, or padding
// rows past a quarter of them. The streams are bound by their arithmetic from 8 rows
// on, which padding adds to: with 5 query heads per KV head padded to 8, decode measured
// 3-6% slower than the block reads at Lk 16384 and 32768, where 3 (padded to 4) measured
// 2-31% faster, 6 alike or faster and 7 26-34% faster.
func (pl *plan) groupRows() int {
	g4 := roundUp(pl.grp, 4)
	if pl.grp < 3 || g4 > 16 || 4*pl.grp < 3*g4 || g4 > pl.lanes(pl.grp) {
		return 0
	}
	return g4
}

// keyStream reports how streamKeys can take the keys of items (every item of one batch
// entry, set up for a chunk): heads when each is a single row of its own KV head
// (multi-head attention), groups when each is the query rows of its KV head at one
// position (grouped-query attention with 3 to 16 query heads per KV head, see
// groupRows), none otherwise. Either way the items are in head order with keys to see
// in the chunk, and the keys lie flat: each head's row of D elements (a multiple of 16)
// right after the previous head's and each position right after the previous one.
func (pl *plan) keyStream(items []decodeItem) keyStreamKind {
	w, k := pl.k, pl.kern
	if k.tiles == nil || len(items) != pl.Hkv || w.sd != 1 || pl.D != pl.dp || w.sh != pl.D || w.ss != pl.Hkv*pl.D {
		return noKeyStream
	}
	kind, rows := noKeyStream, 0
	switch {
	case k.scoresHeads != nil && pl.grp == 1:
		kind, rows = headStream, 1
	case k.scoresGroups != nil && pl.groupRows() > 0 && pl.Hkv%(k.headLanes/4) == 0 && pl.D%4 == 0:
		kind, rows = groupStream, pl.grp
	case k.scoresPairs != nil && pl.grp == 2 && pl.Hkv%(k.headLanes/2) == 0 && pl.D%4 == 0:
		kind, rows = pairStream, 2
	default:
		return noKeyStream
	}
	for i := range items {
		if it := &items[i]; it.rs.n(pl) != rows || it.rs.r1-it.rs.r0 != 1 || it.rs.kvh != i || it.a >= it.e {
			return noKeyStream
		}
	}
	return kind
}

// keyStreamKind is how streamKeys takes a tile's keys: not at all, with scoresHeads,
// with scoresGroups or with scoresPairs.
type keyStreamKind int

const (
	noKeyStream keyStreamKind = iota
	headStream
	groupStream
	pairStream
)

// packLaneQueries sets sc.qh to the queries of items as scoresHeads or scoresGroups reads
// them, when keyStream can take the items.
func (pl *plan) packLaneQueries(sc *scratch, items []decodeItem) {
	lanes := pl.lanes(pl.grp)
	switch pl.keyStream(items) {
	case headStream:
		w := pl.kern.headLanes
		sc.qh = grow(sc.qh, max(w, pl.Hkv)*pl.D)
		laneQueries(sc.qh, pl.Hkv, pl.D, w, func(h, t int) float32 { return items[h].tr.qt[t*lanes] })
	case groupStream:
		g4 := pl.groupRows()
		sc.qh = grow(sc.qh, g4*pl.Hkv*pl.D)
		groupQueries(sc.qh, pl.Hkv, g4, pl.D, pl.kern.headLanes, func(h, a, t int) float32 {
			if a >= pl.grp {
				return 0 // a padding row
			}
			return items[h].tr.qt[t*lanes+a]
		})
	case pairStream:
		sc.qh = grow(sc.qh, 2*pl.Hkv*pl.D)
		pairQueries(sc.qh, pl.Hkv, pl.D, pl.kern.headLanes, func(h, a, t int) float32 { return items[h].tr.qt[t*lanes+a] })
	}
}

// streamKeys is decodeTile's key step when keyStream can take the items: scoresHeads
// (or scoresGroups) then reads the tile's keys of every head as one stream in address
// order, asking for its lines ahead while it computes, instead of a burst read ahead and
// then one head's rows a position apart, transposed. It scores the keys the rows see
// (they share their query position, as in streamValues), from the start of a step of
// positions, into each item's sr with qkRows' bits; the scores of the other keys of the
// tile are left for maskTile to overwrite. It reports whether it did the step.
func (pl *plan) streamKeys(sc *scratch, items []decodeItem, ts int) bool {
	kind := pl.keyStream(items)
	if kind == noKeyStream {
		return false
	}
	it0, w := &items[0], pl.k
	ra, rb := max(ts, it0.a, it0.tr.lo[0]), min(ts+tileKeys, it0.e, it0.tr.hi[0])
	if ra >= rb {
		return false // no key to score (decode only visits tiles with some)
	}
	step := 4
	switch kind {
	case headStream:
		step = max(1, pl.kern.headLanes/pl.Hkv)
	case pairStream:
		step = 32 / pl.kern.headLanes
	}
	ra -= (ra - ts) % step
	n := (rb - ra + step - 1) / step * step
	if ra+n > w.t.Shape[1] {
		return false // the last step would read past the keys
	}
	size := w.t.DType.Bits() / 8
	k := unsafe.Add(w.t.Data, w.off(it0.rs.b, ra, 0)*size)
	switch kind {
	case groupStream:
		return pl.kern.scoresGroups(sc.srs[ra-ts:], 16*tileKeys, tileKeys, sc.qh, k, pl.Hkv, pl.groupRows(), n, pl.D, streamAhead, w.t.DType)
	case pairStream:
		return pl.kern.scoresPairs(sc.srs[ra-ts:], 16*tileKeys, tileKeys, sc.qh, k, pl.Hkv, n, pl.D, streamAhead, w.t.DType)
	}
	return pl.kern.scoresHeads(sc.srs[ra-ts:], 16*tileKeys, sc.qh, k, pl.Hkv, n, pl.D, streamAhead, w.t.DType)
}

// streamAhead is how far ahead of the values it reads accumHeads asks for lines: enough
// to cover the memory's latency at one core's share of the bandwidth. Distances of 16 to
// 128 KiB measured alike (Lk 32768, 8 heads of 128).
const streamAhead = 32 << 10

// streamValues is decodeTile's value step when every item is a single row of its own KV
// head (multi-head attention), or the query rows of its KV head at one position
// (grouped-query attention with 3 to 16 query heads per KV head as groupRows pads them,
// Dv in whole blocks of the path's accumGroups), and
// they all see the same keys of the tile, with values whose heads lie side by side
// within a position. accumHeads then takes every head of a position in address order as
// one stream, and accumGroups every head of a step of 8 positions, keeping four rows'
// sums in registers over the step (reading and writing them for each value made decode
// 2.3x slower where the cache holds the values); both ask for their lines ahead while
// they compute, instead of a burst read ahead and then one head's rows a position apart.
// It reports whether it did the step; each row gets the bits of accumValues.
func (pl *plan) streamValues(sc *scratch, items []decodeItem, ts int) bool {
	w, k := pl.v, pl.kern
	if k.accumHeads == nil || w.sd != 1 || pl.Dv != pl.dvp ||
		w.sh < 0 || (pl.Hkv-1)*w.sh+pl.Dv > w.ss {
		return false
	}
	rows, quads := 1, false
	switch {
	case pl.groupRows() > 0 && k.accumGroups != nil && pl.Dv%k.groupCols == 0 && items[0].st.cs == 1:
		rows, quads = pl.grp, true
	case pl.grp == 2 && items[0].st.cs == 1:
		rows = 2
	}
	for i := range items {
		if it := &items[i]; it.rs.n(pl) != rows || it.rs.r1-it.rs.r0 != 1 || it.a >= it.e {
			return false
		}
	}
	// Rows of one batch entry and one position share their query position, hence the keys they see
	// (which depend on the batch entry and the position, never on the head).
	it0 := &items[0]
	ra, rb := max(ts, it0.a, it0.tr.lo[0]), min(ts+tileKeys, it0.e, it0.tr.hi[0])
	if ra >= rb { // no key of the tile (decode only visits tiles with some): no address past the values
		return true
	}
	b := items[0].rs.b
	hr := sc.heads[:0]
	rstep := 1
	if quads {
		rstep = 4
	}
	for i := range items {
		// One headRow per row, or per four rows of a grouped item: each loads the head's
		// values again, from L1 after the first. The padding rows of the last quad
		// (groupRows) take their scores for probabilities and add into state rows that
		// nothing reads.
		it := &items[i]
		for r := 0; r < rows; r += rstep {
			hr = append(hr, headRow{o: &it.st.o[r*it.st.rs], p: &it.sr[r*tileKeys+ra-ts], head: it.rs.kvh * w.sh})
		}
	}
	sc.heads = hr
	size := w.t.DType.Bits() / 8
	v := unsafe.Add(w.t.Data, w.off(b, ra, 0)*size)
	if quads {
		return k.accumGroups(hr, items[0].st.rs, tileKeys, v, w.ss, rb-ra, pl.Dv, streamAhead, w.t.DType)
	}
	return k.accumHeads(hr, v, w.ss, rb-ra, pl.Dv, streamAhead, w.t.DType)
}

// transposeKeys sets kt to keys [j, j+n) of (b, kvh) transposed (n a multiple of 16), as
// tiles.transpose gives them from the rows tile returns: straight from rows of halves
// where the path can widen them as it transposes, through float32 rows otherwise.
func (pl *plan) transposeKeys(sc *scratch, kt []float32, b, kvh, j, n int) {
	tk, w := pl.kern.tiles, pl.k
	if tk.transposeHalf != nil && w.t.DType != tensor.Float32 && w.sd == 1 && j+n <= w.t.Shape[1] &&
		tk.transposeHalf(&kt[0], unsafe.Add(w.t.Data, w.off(b, j, kvh)*2), w.ss*2, pl.D, n, w.t.DType) {
		return
	}
	kb, ks := tile(w, pl.kDirect, sc.kt, b, kvh, j, j+n, pl.D, pl.dp)
	tk.transpose(&kt[0], &kb[0], ks, pl.dp, n)
}

// accumValues is accumRows over values [pa, pe) of (b, kvh), read as tile gives them, or
// in place when accumHalfRows can take them.
func (pl *plan) accumValues(sc *scratch, st state, tr itemRows, n int, p []float32, ja, pa, pe, b, kvh int) {
	if pl.accumHalfRows(st, tr, n, p, ja, pa, pe, b, kvh) {
		return
	}
	vb, vs := tile(pl.v, pl.vDirect, sc.vt, b, kvh, pa, pe, pl.Dv, pl.dvp)
	pl.accumRows(st, tr, n, p, ja, pa, pe, vb, vs)
}

// accumHalfRows is accumRows for values [pa, pe) of (b, kvh) stored as float16 or
// bfloat16, read in place and widened as they are accumulated, where the path can and
// each row holds whole vectors; it reports whether it did. The bits are accumRows': four
// rows that see the same keys go through accum4Half, the others one at a time through
// accumHalf (accum2 gives each of its rows accum's bits).
func (pl *plan) accumHalfRows(st state, tr itemRows, n int, p []float32, ja, pa, pe, b, kvh int) bool {
	w, k := pl.v, pl.kern
	if k.accumHalf == nil || w.t.DType == tensor.Float32 || w.sd != 1 || pl.Dv != pl.dvp || pe > w.t.Shape[1] {
		return false
	}
	dvp, dt := pl.dvp, w.t.DType
	row := func(j int) unsafe.Pointer { return unsafe.Add(w.t.Data, w.off(b, j, kvh)*2) }
	one := func(r, ra, rb int) {
		k.accumHalf(st.o[r*dvp:(r+1)*dvp], p[r*tileKeys+(ra-ja):r*tileKeys+(rb-ja)], row(ra), w.ss, dt)
	}
	accumGroups(tr, n, pa, pe, func(r, ra, rb int) {
		k.accum4Half(st.o[r*dvp:], dvp, dvp, p[r*tileKeys+(ra-ja):], tileKeys, rb-ra, row(ra), w.ss, dt)
	}, func(r, ra, rb int) {
		one(r, ra, rb)
		one(r+1, ra, rb)
	}, one)
	return true
}

// decodeItems returns sc's g decode items, each with room for an item of n rows.
func (pl *plan) decodeItems(sc *scratch, g, n int) []decodeItem {
	if len(sc.decode) < g {
		sc.decode = append(sc.decode, make([]decodeItem, g-len(sc.decode))...)
	}
	items := sc.decode[:g]
	// One block for every item's scores, where streamKeys writes them all.
	sc.srs = grow(sc.srs, g*16*tileKeys)
	for i := range items {
		it := &items[i]
		it.tr = pl.growRows(it.tr, n)
		it.kt = grow(it.kt, pl.dp*tileKeys)
		it.sr = sc.srs[i*16*tileKeys : (i+1)*16*tileKeys]
		it.alpha = grow(it.alpha, 16)
	}
	return items
}

// touchBlock reads positions [j, j+n) of w (keys or values) of the batch entry of items,
// every head, in address order (see touchRows), when they all exist: one run of rows, a
// position each, when the heads of a position lie side by side (BSHD), and one run per
// head otherwise (BHSD: each head's positions side by side).
func (pl *plan) touchBlock(w view, items []decodeItem, j, n int) {
	if j+n > pl.Lk || w.sh < 0 || w.sd != 1 {
		return
	}
	size, d := w.t.DType.Bits()/8, w.t.Shape[3]
	base := unsafe.Add(w.t.Data, w.off(items[0].rs.b, j, 0)*size)
	if span := (pl.Hkv-1)*w.sh + d; span <= w.ss {
		touch(base, w.ss*size, n, span*size)
		return
	}
	for h := range pl.Hkv {
		touch(unsafe.Add(base, h*w.sh*size), w.ss*size, n, d*size)
	}
}

// touch is touchRows; tests replace it to see what decode reads ahead.
var touch = touchRows
