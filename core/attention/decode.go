package attention

import "unsafe"

// decodeItem is one item of a batch entry during one chunk of runByChunk, with its own
// scratch for the tile being processed.
type decodeItem struct {
	rs     rowSet
	st     state
	tr     itemRows
	a, e   int       // the item's keys in the chunk
	kt, sr []float32 // transposed key tile [dp][tileKeys], scores [16][tileKeys]
	alpha  []float32
}

// decodeBlock is the number of positions decodeTile reads for every item before moving on.
const decodeBlock = 16

// decodeTile is tileStep's row path for every item of a batch entry at once. Keys and
// values are read decodeBlock positions at a time for all items in turn: with the usual
// [B, S, H, D] layout these are whole rows of positions, every KV head of them, taken in
// address order, instead of one head's rows a position apart. Each item gets the same
// arithmetic, in the same order, as from tileStep.
func (pl *plan) decodeTile(sc *scratch, items []decodeItem, ts int) {
	tk := pl.kern.tiles
	on := func(it *decodeItem) bool { return it.a < it.e && ts+tileKeys > it.a && ts < it.e }
	for j := ts; j < ts+tileKeys; j += decodeBlock {
		pl.touchBlock(pl.k, items, j)
		for i := range items {
			if it := &items[i]; on(it) {
				kb, ks := tile(pl.k, pl.kDirect, sc.kt, it.rs.b, it.rs.kvh, j, j+decodeBlock, pl.D, pl.dp)
				tk.transpose(&it.kt[j-ts], &kb[0], ks, pl.dp, decodeBlock)
			}
		}
	}
	for i := range items {
		it := &items[i]
		if !on(it) {
			continue
		}
		n := it.rs.n(pl)
		tk.qkRows(&it.sr[0], &it.tr.qt[0], &it.kt[0], pl.D, n)
		pl.maskTile(sc, it.tr, it.rs, ts, ts+tileKeys, it.sr, 1, tileKeys)
		for r := range n {
			tk.softmaxRow(&it.sr[r*tileKeys], &it.st.m[r], &it.st.l[r], &it.alpha[r])
		}
		pl.rescaleRows(it.st, n, it.alpha)
	}
	for j := ts; j < ts+tileKeys; j += decodeBlock {
		pl.touchBlock(pl.v, items, j)
		for i := range items {
			it := &items[i]
			pa, pe := max(it.a, j), min(it.e, j+decodeBlock)
			if pa >= pe {
				continue
			}
			vb, vs := tile(pl.v, pl.vDirect, sc.vt, it.rs.b, it.rs.kvh, pa, pe, pl.Dv, pl.dvp)
			pl.accumRows(it.st, it.tr, it.rs.n(pl), it.sr, ts, pa, pe, vb, vs)
		}
	}
}

// decodeItems returns sc's g decode items, each with room for an item of n rows.
func (pl *plan) decodeItems(sc *scratch, g, n int) []decodeItem {
	if len(sc.decode) < g {
		sc.decode = append(sc.decode, make([]decodeItem, g-len(sc.decode))...)
	}
	items := sc.decode[:g]
	for i := range items {
		it := &items[i]
		it.tr = pl.growRows(it.tr, n)
		it.kt, it.sr = grow(it.kt, pl.dp*tileKeys), grow(it.sr, 16*tileKeys)
		it.alpha = grow(it.alpha, 16)
	}
	return items
}

// touchBlock reads positions [j, j+decodeBlock) of w (keys or values) of the batch entry
// of items, every head, in address order (see touchRows), when they all exist.
func (pl *plan) touchBlock(w view, items []decodeItem, j int) {
	if j+decodeBlock > pl.Lk || w.sh < 0 || w.sd != 1 {
		return
	}
	size := w.t.DType.Bits() / 8
	row := ((pl.Hkv-1)*w.sh + w.t.Shape[3]) * size
	touchRows(unsafe.Add(w.t.Data, w.off(items[0].rs.b, j, 0)*size), w.ss*size, decodeBlock, row)
}
