package attention

import (
	"math"
	"sync"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	rowkernels "github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Fixed tile sizes. tileKeys and chunkKeys fix the arithmetic of a row (see the package
// doc) and never depend on the inputs, the batch or the thread count. tileRows only
// groups rows into work items (it changes no result).
const (
	tileRows  = 64   // rows (query positions x heads of a KV group) per work item
	tileKeys  = 64   // keys per tile: one scores/expSum/accum call per row and tile
	chunkKeys = 1024 // keys per chunk: the unit of the split-KV (flash-decoding) merge
)

var negInf = float32(math.Inf(-1))

// state is the online-softmax state of a group of rows: running maximum m, sum l and
// unnormalized output o, whose element (row r, column c) is o[r*rs+c*cs]. A row with
// m = -Inf has seen no key.
type state struct {
	m, l, o []float32
	rs, cs  int
}

// lanes is the number of rows an item of n rows occupies in its state: a whole number of
// 16-row vectors for the tile kernels.
func (pl *plan) lanes(n int) int {
	if pl.kern.tiles != nil {
		return roundUp(n, 16)
	}
	return n
}

// layout sets st's strides for an item of n rows: transposed (column c of the 16-row
// vectors at o[c*lanes:]) when the tile kernels run on at least 16 rows, else one row of
// dvp columns after another.
func (pl *plan) layout(st *state, n int) {
	st.rs, st.cs = pl.dvp, 1
	if pl.kern.tiles != nil && n >= 16 {
		st.rs, st.cs = 1, pl.lanes(n)
	}
}

// reset empties st for an item of n rows and sets its layout.
func (pl *plan) reset(st *state, n int) {
	pl.layout(st, n)
	lanes := pl.lanes(n)
	for r := range lanes {
		st.m[r], st.l[r] = negInf, 0
	}
	clear(st.o[:lanes*pl.dvp])
}

// scratch is one worker's memory for one call; pooled so loops do not allocate.
type scratch struct {
	q      []float32 // packed query rows, dp each, zero padded
	run    state     // the row's running state across chunks
	chunk  state     // the state of the chunk being processed
	s, s2  []float32 // one tile of scores / probabilities (two rows)
	kt, vt []float32 // packed key / value tiles (when not used in place)
	bias   []float32 // one tile of bias values
	// maskTile's rows: their bias values (tileKeys per row), and their visible keys,
	// query positions and ALiBi slopes.
	biasTile []float32
	alibi    alibiRows
	row      []float32 // one output row

	// Tile kernels only: transposed queries [D][lanes] (scaled), the transposed score
	// tile [tileKeys][lanes], each row's rescaling factor and visible key range.
	// Items of fewer than 16 rows use the transposed key tile kt2 [dp][tileKeys] and
	// row-major scores sr [16][tileKeys] instead of st.
	rows      itemRows
	st, alpha []float32
	kt2, sr   []float32
	decode    []decodeItem // runByChunk: every item of a batch entry
	heads     []headRow    // streamValues' rows
	srs       []float32    // every decode item's scores, [items][16][tileKeys]
	qh        []float32    // streamKeys' queries, as laneQueries, groupQueries or pairQueries lay them out

	mergeA, mergeC [16]float32 // mergeRows' factors for one vector of rows
}

var scratchPool sync.Pool

// growRows returns tr with room for an item of n rows.
func (pl *plan) growRows(tr itemRows, n int) itemRows {
	tr.qt = grow(tr.qt, pl.D*pl.lanes(n))
	if cap(tr.lo) < n {
		tr.lo, tr.hi = make([]int, n), make([]int, n)
	}
	tr.lo, tr.hi = tr.lo[:n], tr.hi[:n]
	return tr
}

func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

func (pl *plan) getScratch(rows int) *scratch {
	sc, _ := scratchPool.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	lanes := pl.lanes(rows)
	sc.q = grow(sc.q, rows*pl.dp)
	for _, st := range []*state{&sc.run, &sc.chunk} {
		st.m, st.l, st.o = grow(st.m, lanes), grow(st.l, lanes), grow(st.o, lanes*pl.dvp)
	}
	sc.s, sc.s2 = grow(sc.s, tileKeys), grow(sc.s2, tileKeys)
	sc.bias = grow(sc.bias, tileKeys)
	sc.kt = grow(sc.kt, tileKeys*pl.dp)
	sc.vt = grow(sc.vt, tileKeys*pl.dvp)
	sc.row = grow(sc.row, pl.dvp)
	if pl.kern.tiles != nil {
		sc.rows = pl.growRows(sc.rows, rows)
		sc.st, sc.alpha = grow(sc.st, tileKeys*lanes), grow(sc.alpha, lanes)
		sc.kt2, sc.sr = grow(sc.kt2, pl.dp*tileKeys), grow(sc.sr, 16*tileKeys)
	}
	return sc
}

// rowSet is the rows of one work item: query positions r0..r1-1 of every query head that
// reads KV head kvh of batch b, so that each key and value tile is loaded once for all of
// them. Row r is head kvh*grp + r/n, position r0 + r%n, where n = r1 - r0.
type rowSet struct {
	b, kvh, r0, r1 int
}

func (rs rowSet) n(pl *plan) int { return (rs.r1 - rs.r0) * pl.grp }

func (rs rowSet) row(pl *plan, r int) (h, i int) {
	n := rs.r1 - rs.r0
	return rs.kvh*pl.grp + r/n, rs.r0 + r%n
}

// run computes the whole call. Work items are rowSets; when they are too few to keep the
// workers busy and the keys span several chunks, each chunk becomes an item too
// (split-KV) and a second pass merges the chunk states in order. Both ways give the same
// bits.
func (pl *plan) run() {
	if pl.B == 0 || pl.Lq == 0 || pl.Hq == 0 {
		return
	}
	qr := max(1, tileRows/pl.grp) // query positions per item
	nqt := (pl.Lq + qr - 1) / qr
	nch := max(1, (pl.Lk+chunkKeys-1)/chunkKeys)
	items := pl.B * pl.Hkv * nqt
	set := func(g int) rowSet {
		bh, qt := g/nqt, g%nqt
		return rowSet{b: bh / pl.Hkv, kvh: bh % pl.Hkv, r0: qt * qr, r1: min((qt+1)*qr, pl.Lq)}
	}
	rows := min(qr, pl.Lq) * pl.grp
	// Decode (up to 8 query positions) against enough chunks for every worker: by
	// chunk, every head of a chunk together. A single KV head goes by chunk too once its
	// keys and values outgrow the caches (the decode kernels' streams, with 8 query heads
	// of 128 on one: +25-72% at Lk 32768, -7% to +20% by the run at 16384, 14% slower
	// at 4096).
	decode := rows < 16 || (nqt == 1 && pl.Lq <= 8)
	kvBytes := pl.Lk * (pl.D*pl.k.t.DType.Bits() + pl.Dv*pl.v.t.DType.Bits()) / 8
	if pl.kern.tiles != nil && decode && (pl.Hkv*nqt > 1 || kvBytes > singleHeadStreamBytes) && pl.B*nch >= cpu.NumThreads() {
		pl.runByChunk(pl.Hkv*nqt, nch, rows, set)
		return
	}
	if nch > 1 && items < 4*cpu.NumThreads() {
		pl.runSplit(items, nch, rows, set)
		return
	}
	if pl.packKV(nqt) {
		pl.runPacked(nqt, rows, set)
		return
	}
	pl.prefillItems(0, items, nqt, rows, set)
}

// singleHeadStreamBytes is the size of one batch entry's keys and values above which
// decode with a single KV head goes by chunk. A variable so tests can force both ways.
var singleHeadStreamBytes = 16 << 20

// prefillItems runs the prefill work items [lo, hi) in parallel, each rowSet
// set(g) a whole tile of query rows over all its keys.
func (pl *plan) prefillItems(lo, hi, nqt, rows int, set func(int) rowSet) {
	cpu.ParallelFor(hi-lo, 1, func(a, e int) {
		sc := pl.getScratch(rows)
		defer scratchPool.Put(sc)
		for it := lo + a; it < lo+e; it++ {
			// Last query tiles first: with a causal mask they are the longest.
			rs := set(it - it%nqt + nqt - 1 - it%nqt)
			pl.packQ(sc, rs)
			pl.prefill(sc, rs)
			pl.finish(sc, sc.run, rs)
		}
	})
}

// packKVBytes: above this many bytes of keys and values, prefill reads each KV head's
// rows from packed copies when they are not adjacent in memory (see packKV). A variable
// so that tests can take the packed path on small problems.
var packKVBytes = 16 << 20

// packKV reports whether prefill packs each KV head's keys and values first: their rows
// lie apart (BSHD with several KV heads puts a whole position between two rows of one
// head) and all heads' keys and values exceed packKVBytes, so each pass over one head's
// keys misses the caches, and its widely spaced rows defeat the prefetchers and cost page
// walks (measured at L 8192, H 8, D 128: BHSD-contiguous rows ran 17-20% faster).
func (pl *plan) packKV(nqt int) bool {
	spread := pl.k.ss != pl.D || pl.k.sd != 1 || pl.v.ss != pl.Dv || pl.v.sd != 1
	size := pl.Lk * pl.Hkv * (pl.k.t.DType.Bits()/8*pl.D + pl.v.t.DType.Bits()/8*pl.Dv)
	// One head at a time needs enough query tiles per head to keep every thread busy.
	return spread && size > packKVBytes && nqt >= 2*cpu.NumThreads()
}

// runPacked is prefill one (batch entry, KV head) at a time: its keys and values are
// copied (as float32, rows of dp and dvp, zero padded) into one buffer shared by the
// workers, then its query tiles run on plan hp, which reads them there. The kernels see
// the same values in the same order, so the results are the bits of the in-place path.
// Extra memory: Lk * (dp + dvp) floats.
func (pl *plan) runPacked(nqt, rows int, set func(int) rowSet) {
	kbuf, vbuf := pooledFloats(&packedPool, pl.Lk*pl.dp), pooledFloats(&packedPool, pl.Lk*pl.dvp)
	defer packedPool.Put(kbuf)
	defer packedPool.Put(vbuf)
	kp, vp := *kbuf, *vbuf
	hp := *pl
	hp.k, hp.v = packedView(kp, pl.k.t.Shape, pl.dp), packedView(vp, pl.v.t.Shape, pl.dvp)
	hp.kDirect, hp.vDirect = direct(hp.k, pl.D), direct(hp.v, pl.Dv)
	hp.kRows = true
	for bh := range pl.B * pl.Hkv {
		b, kvh := bh/pl.Hkv, bh%pl.Hkv
		cpu.ParallelFor(pl.Lk, packGrain, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				kr, vr := kp[j*pl.dp:(j+1)*pl.dp], vp[j*pl.dvp:(j+1)*pl.dvp]
				rowkernels.LoadRow(pl.k.t, pl.k.off(b, j, kvh), kr[:pl.D])
				rowkernels.LoadRow(pl.v.t, pl.v.off(b, j, kvh), vr[:pl.Dv])
				clear(kr[pl.D:]) // pooled memory: padding as fresh memory had it
				clear(vr[pl.Dv:])
			}
		})
		hp.prefillItems(bh*nqt, (bh+1)*nqt, nqt, rows, set)
	}
}

// packedPool recycles runPacked's copies of one head's keys and values (MiB each at long
// lengths). runPacked writes every row the kernels read, its padding as zeros.
var packedPool sync.Pool

// pooledFloats returns a buffer of n floats from pool (of *[]float32), not cleared;
// give it back with pool.Put.
func pooledFloats(pool *sync.Pool, n int) *[]float32 {
	p, _ := pool.Get().(*[]float32)
	if p == nil || cap(*p) < n {
		p = new([]float32)
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

// packGrain is the number of key rows one packing chunk copies.
const packGrain = 256

// packedView is a float32 view of shape (the BSHD shape of k or v) over buf, whose rows
// of ld floats hold every position of one head: batch and head strides are 0, so any
// (b, kvh) reads the packed head.
func packedView(buf []float32, shape []int, ld int) view {
	t := tensor.FromFloat32(buf, len(buf))
	t.Shape = []int{shape[0], shape[1], shape[2], shape[3]}
	t.Strides = []int{0, ld, 0, 1}
	return view{t: t, sb: 0, ss: ld, sh: 0, sd: 1}
}

// prefill folds every chunk of the rows' key range into sc.run, in increasing order.
func (pl *plan) prefill(sc *scratch, rs rowSet) {
	pl.reset(&sc.run, rs.n(pl))
	c0, c1, ok := pl.chunkRange(rs)
	if !ok {
		return
	}
	// The first chunk goes straight into the empty running state, which is what merging
	// it into an empty state would give.
	pl.chunk(sc, sc.run, rs, c0)
	for c := c0 + 1; c <= c1; c++ {
		pl.reset(&sc.chunk, rs.n(pl))
		pl.chunk(sc, sc.chunk, rs, c)
		pl.mergeRows(sc, sc.run, sc.chunk, rs.n(pl))
	}
}

// chunkStates holds one online-softmax state per (item, chunk) for the split passes.
type chunkStates struct {
	buf             []float32
	nch, lanes, per int
	pooled          *[]float32 // buf's storage, returned by release
}

// chunkStatePool recycles the split passes' states: a decode call needs tens to hundreds
// of KiB of them, and allocating them per call made the garbage collector run every few
// calls when the caller's tensors live outside the Go heap (C and Python callers), each
// run also emptying the scratch pools.
var chunkStatePool sync.Pool

// newChunkStates returns room for the states of items x nch chunks of rows rows. Every
// state is reset before use, so the pooled memory is not cleared.
func (pl *plan) newChunkStates(items, nch, rows int) chunkStates {
	lanes := pl.lanes(rows)
	per := lanes * (pl.dvp + 2)
	p := pooledFloats(&chunkStatePool, items*nch*per)
	return chunkStates{buf: *p, nch: nch, lanes: lanes, per: per, pooled: p}
}

// release returns the states' memory to the pool; cs must not be used after.
func (cs chunkStates) release() { chunkStatePool.Put(cs.pooled) }

// at returns the state of chunk c of item g (of n rows), laid out as reset lays it out.
func (cs chunkStates) at(pl *plan, g, c, n int) state {
	p := cs.buf[(g*cs.nch+c)*cs.per : (g*cs.nch+c+1)*cs.per]
	st := state{m: p[:cs.lanes], l: p[cs.lanes : 2*cs.lanes], o: p[2*cs.lanes:]}
	pl.layout(&st, n)
	return st
}

// merge folds the chunk states of every item in increasing chunk order and writes the
// results.
func (pl *plan) merge(cs chunkStates, items, rows int, set func(int) rowSet) {
	cpu.ParallelFor(items, 1, func(lo, hi int) {
		sc := pl.getScratch(rows)
		defer scratchPool.Put(sc)
		for g := lo; g < hi; g++ {
			rs := set(g)
			pl.reset(&sc.run, rs.n(pl))
			for c := range cs.nch {
				pl.mergeRows(sc, sc.run, cs.at(pl, g, c, rs.n(pl)), rs.n(pl))
			}
			pl.finish(sc, sc.run, rs)
		}
	})
}

// runSplit is run with one work item per (rowSet, chunk).
func (pl *plan) runSplit(items, nch, rows int, set func(int) rowSet) {
	cs := pl.newChunkStates(items, nch, rows)
	cpu.ParallelFor(items*nch, streamGrain(items*nch), func(lo, hi int) {
		sc := pl.getScratch(rows)
		defer scratchPool.Put(sc)
		for it := lo; it < hi; it++ {
			g, c := it/nch, it%nch
			rs := set(g)
			st := cs.at(pl, g, c, rs.n(pl))
			pl.reset(&st, rs.n(pl))
			if c0, c1, ok := pl.chunkRange(rs); !ok || c < c0 || c > c1 {
				continue
			}
			pl.packQ(sc, rs)
			pl.chunk(sc, st, rs, c)
		}
	})
	pl.merge(cs, items, rows, set)
	cs.release()
}

// runByChunk is runSplit for the tile kernels on decode items, with one work item per
// (batch entry, chunk) covering the g items of that entry, whose tiles go through
// decodeTile together (items of fewer than 16 rows) or wideTile (more) so that keys and
// values are read in address order. Every item's chunk state is computed as by
// runSplit: the results are the same bits.
func (pl *plan) runByChunk(g, nch, rows int, set func(int) rowSet) {
	cs := pl.newChunkStates(pl.B*g, nch, rows)
	cpu.ParallelFor(pl.B*nch, streamGrain(pl.B*nch), func(lo, hi int) {
		sc := pl.getScratch(rows)
		defer scratchPool.Put(sc)
		items := pl.decodeItems(sc, g, rows)
		for w := lo; w < hi; w++ {
			b, c := w/nch, w%nch
			ca, ce := c*chunkKeys, min((c+1)*chunkKeys, pl.Lk)
			for i := range items {
				it := &items[i]
				it.rs = set(b*g + i)
				n := it.rs.n(pl)
				it.st = cs.at(pl, b*g+i, c, n)
				pl.reset(&it.st, n)
				klo, khi := pl.keySpan(it.rs)
				it.a, it.e = max(ca, klo), min(ce, khi)
				if it.a < it.e {
					pl.packQT(sc, it.tr, it.rs)
				}
			}
			pl.packLaneQueries(sc, items)
			// Only the tiles that hold some item's keys (a window, key lengths or a
			// causal mask leave the others out), still counted from the chunk start.
			lo, hi := ce, ca
			for i := range items {
				if it := &items[i]; it.a < it.e {
					lo, hi = min(lo, it.a), max(hi, it.e)
				}
			}
			for ts := ca + (max(lo, ca)-ca)/tileKeys*tileKeys; ts < hi; ts += tileKeys {
				if rows < 16 {
					pl.decodeTile(sc, items, ts)
				} else {
					pl.wideTile(sc, items, ts)
				}
			}
			if nch == 1 { // the only chunk: merging it into an empty state would copy it
				for i := range items {
					pl.finish(sc, items[i].st, items[i].rs)
				}
			}
		}
	})
	if nch > 1 {
		pl.merge(cs, pl.B*g, rows, set)
	}
	cs.release()
}

// keySpan returns the union [lo, hi) of the key ranges of rs's rows (the ends of a row's
// range do not decrease with its position).
func (pl *plan) keySpan(rs rowSet) (lo, hi int) {
	lo, _ = pl.keyRange(rs.b, rs.r0)
	_, hi = pl.keyRange(rs.b, rs.r1-1)
	return max(lo, 0), min(hi, pl.Lk)
}

// chunkRange returns the chunks [c0, c1] that hold keys visible to rs's rows.
func (pl *plan) chunkRange(rs rowSet) (c0, c1 int, ok bool) {
	lo, hi := pl.keySpan(rs)
	if lo >= hi {
		return 0, 0, false
	}
	return lo / chunkKeys, (hi - 1) / chunkKeys, true
}

// packQ copies the query rows of rs into sc.q as float32, zero padded to dp; for the
// tile kernels, into sc.qt, transposed and multiplied by the scale.
func (pl *plan) packQ(sc *scratch, rs rowSet) {
	if pl.kern.tiles != nil {
		pl.packQT(sc, sc.rows, rs)
		return
	}
	for r := range rs.n(pl) {
		h, i := rs.row(pl, r)
		row := sc.q[r*pl.dp : (r+1)*pl.dp]
		rowkernels.LoadRow(pl.q.t, pl.q.off(rs.b, i, h), row[:pl.D])
		clear(row[pl.D:])
	}
}

// tile returns keys (or values) [pa, pe) of (b, kvh) as float32 rows of stride ld: the
// tensor's own memory when inPlace allows it and every row exists, else a copy packed
// into buf, zero padded to dp columns, with zero rows past the sequence.
func tile(w view, inPlace bool, buf []float32, b, kvh, pa, pe, d, dp int) (rows []float32, ld int) {
	seq := w.t.Shape[1]
	if inPlace && pe <= seq {
		p := unsafe.Add(w.t.Data, w.off(b, pa, kvh)*4)
		return unsafe.Slice((*float32)(p), (pe-pa-1)*w.ss+d), w.ss
	}
	j := pa
	if half := w.t.DType != tensor.Float32; half && w.sd == 1 && pe > pa && pe <= seq {
		// Rows of halves: converted together, one dispatch for the tile.
		size := w.t.DType.Bits() / 8
		rowkernels.WidenRows(buf, dp, unsafe.Add(w.t.Data, w.off(b, pa, kvh)*size), w.ss, pe-pa, d, w.t.DType)
		for r := range pe - pa {
			clear(buf[r*dp+d : (r+1)*dp])
		}
		j = pe
	}
	for ; j < pe; j++ {
		row := buf[(j-pa)*dp : (j-pa+1)*dp]
		if j < seq {
			rowkernels.LoadRow(w.t, w.off(b, j, kvh), row[:d])
			clear(row[d:])
		} else {
			clear(row)
		}
	}
	return buf, dp
}

// prefetch hints that rows [j0, j1) of (b, kvh) of w are needed next (in-place float32
// rows only; packed tiles are copied anyway).
func (pl *plan) prefetch(w view, inPlace bool, b, kvh, j0, j1, d int) {
	// Adjacent rows form one stream, which the hardware prefetches better by itself.
	if inPlace && w.ss != d {
		prefetchRows(unsafe.Add(w.t.Data, w.off(b, j0, kvh)*4), w.ss*4, j1-j0, d*4)
	}
}

// chunk folds chunk c's visible keys into st for the rows of rs: tile by tile, each row
// takes its visible keys of the tile, and updates its online softmax.
func (pl *plan) chunk(sc *scratch, st state, rs rowSet, c int) {
	if pl.kern.tiles != nil {
		pl.chunkTiles(sc, st, rs, c)
		return
	}
	kern, dp, dvp := pl.kern, pl.dp, pl.dvp
	b := rs.b
	lo, hi := pl.keySpan(rs)
	a, e := max(c*chunkKeys, lo), min((c+1)*chunkKeys, hi)
	for ts := a - a%tileKeys; ts < e; ts += tileKeys {
		pa, pe := max(ts, a), min(ts+tileKeys, e)
		kb, ks := tile(pl.k, pl.kDirect, sc.kt, b, rs.kvh, pa, pe, pl.D, dp)
		vb, vs := tile(pl.v, pl.vDirect, sc.vt, b, rs.kvh, pa, pe, pl.Dv, dvp)
		if next := ts + tileKeys; next < e {
			pl.prefetch(pl.k, pl.kDirect, b, rs.kvh, next, min(next+tileKeys, e), pl.D)
			pl.prefetch(pl.v, pl.vDirect, b, rs.kvh, next, min(next+tileKeys, e), pl.Dv)
		}
		kr := func(ra int) []float32 { return kb[(ra-pa)*ks:] }
		vr := func(ra int) []float32 { return vb[(ra-pa)*vs:] }
		// span returns row r's visible keys of the tile.
		span := func(r int) (h, i, ra, rb int) {
			h, i = rs.row(pl, r)
			rlo, rhi := pl.keyRange(b, i)
			return h, i, max(pa, rlo), min(pe, rhi)
		}
		for r, n := 0, rs.n(pl); r < n; r++ {
			h, i, ra, rb := span(r)
			if ra >= rb {
				continue
			}
			q := sc.q[r*dp : (r+1)*dp]
			if r+1 < n {
				// Two rows over the same keys share the key and value loads.
				if h2, i2, ra2, rb2 := span(r + 1); ra2 == ra && rb2 == rb {
					s1, s2 := sc.s[:rb-ra], sc.s2[:rb-ra]
					m1, m2 := kern.scores2(s1, s2, q, sc.q[(r+1)*dp:(r+2)*dp], kr(ra), ks, pl.scale)
					if pl.elementwise {
						m1 = pl.modify(sc, s1, b, h, i, ra)
						m2 = pl.modify(sc, s2, b, h2, i2, ra)
					}
					o1, ok1 := pl.softmaxStep(st, r, s1, m1)
					o2, ok2 := pl.softmaxStep(st, r+1, s2, m2)
					switch {
					case ok1 && ok2:
						kern.accum2(o1, o2, s1, s2, vr(ra), vs)
					case ok1:
						kern.accum(o1, s1, vr(ra), vs)
					case ok2:
						kern.accum(o2, s2, vr(ra), vs)
					}
					r++
					continue
				}
			}
			s := sc.s[:rb-ra]
			mx := kern.scores(s, q, kr(ra), ks, pl.scale)
			if pl.elementwise {
				mx = pl.modify(sc, s, b, h, i, ra)
			}
			if o, ok := pl.softmaxStep(st, r, s, mx); ok {
				kern.accum(o, s, vr(ra), vs)
			}
		}
	}
}

// softmaxStep folds row r's logits s (maximum mx) into its online softmax: it turns s
// into probabilities relative to the new running maximum, rescales the row's sum and
// output when the maximum grows, and returns the output row to which s·V must be added
// (ok = false when the tile adds nothing: every logit -Inf, or the row is NaN).
func (pl *plan) softmaxStep(st state, r int, s []float32, mx float32) (o []float32, ok bool) {
	o = st.o[r*pl.dvp : (r+1)*pl.dvp]
	m := st.m[r]
	mt := max(m, mx)
	if mt != mt {
		// A NaN logit (NaN in q, k or bias) makes the whole row NaN, as in the math.
		st.m[r], st.l[r] = mt, mt
		for d := range o {
			o[d] = mt
		}
		return nil, false
	}
	if mt == negInf {
		return nil, false // every key of the tile is masked by the bias: no term
	}
	sum := pl.kern.expSum(s, mt)
	if mt != m {
		if m != negInf {
			alpha := expf(m - mt)
			for d := range o {
				o[d] *= alpha
			}
			st.l[r] *= alpha
		}
		st.m[r] = mt
	}
	st.l[r] += sum
	return o, true
}

// modify applies the soft cap, bias and ALiBi to the scaled logits s of query i, keys
// ra.., and returns their maximum.
func (pl *plan) modify(sc *scratch, s []float32, b, h, i, ra int) float32 {
	if pl.cap > 0 {
		pl.kern.softCap(s, pl.cap)
	}
	bias := pl.biasRow(sc.bias, len(s), b, h, i, ra)
	var slope float32
	if pl.alibi != nil {
		slope = pl.alibi[h]
	}
	ip := i + pl.offset
	mx := negInf
	for j, x := range s {
		var bj float32
		if bias != nil {
			bj = bias[j]
		}
		x = pl.shiftLogit(x, bj, slope, ip-(ra+j))
		s[j] = x
		mx = max(mx, x)
	}
	return mx
}

// biasRow returns the n bias values of query row i of head h, batch b, from key ra on,
// in buf (nil without a bias tensor).
func (pl *plan) biasRow(buf []float32, n, b, h, i, ra int) []float32 {
	if pl.bias == nil {
		return nil
	}
	st := pl.bias.Strides
	rowkernels.LoadRow(*pl.bias, b*st[0]+h*st[1]+i*st[2]+ra*st[3], buf[:n])
	return buf[:n]
}

// shiftLogit adds the bias value bj (with a bias tensor) and ALiBi (slope times the
// distance d = i' - j) to the score x after its soft cap, each operation rounded to
// float32 on its own: with softCap, the one definition of a logit every path uses.
func (pl *plan) shiftLogit(x, bj, slope float32, d int) float32 {
	if pl.bias != nil {
		x += bj
	}
	if pl.alibi != nil {
		x -= float32(slope * float32(d))
	}
	return x
}

// mergeRow folds row r of src into row r of dst (flash-decoding merge) over the first dv
// columns. An empty src changes nothing; an empty dst takes src as is.
func mergeRow(dst, src state, r, dv int) {
	if a, c, ok := mergeFactors(dst, src, r); ok {
		for d := range dv {
			od := &dst.o[r*dst.rs+d*dst.cs]
			*od = float32(*od*a) + float32(src.o[r*src.rs+d*src.cs]*c)
		}
	} else if src.m[r] != negInf {
		for d := range dv {
			dst.o[r*dst.rs+d*dst.cs] = src.o[r*src.rs+d*src.cs]
		}
	}
}

// mergeFactors updates row r's m and l in dst for merging src into it, and returns the
// factors of dst's and src's outputs; ok is false when the outputs need no arithmetic:
// src has seen no key (dst stays), or dst has seen none (src is copied).
func mergeFactors(dst, src state, r int) (a, c float32, ok bool) {
	ms := src.m[r]
	if ms == negInf {
		return 0, 0, false
	}
	md := dst.m[r]
	if md == negInf {
		dst.m[r], dst.l[r] = ms, src.l[r]
		return 0, 0, false
	}
	m := max(md, ms)
	a, c = expf(md-m), expf(ms-m)
	dst.l[r] = float32(dst.l[r]*a) + float32(src.l[r]*c)
	dst.m[r] = m
	return a, c, true
}

// mergeRows merges rows [0, n) of src into dst (mergeRow for each), 16 rows per kernel
// call when the states are transposed (tile kernels, items of 16 rows or more); the
// kernel's factors live in sc.
func (pl *plan) mergeRows(sc *scratch, dst, src state, n int) {
	ml := pl.kern.tiles
	if dst.rs != 1 || ml == nil {
		for r := range n {
			mergeRow(dst, src, r, pl.Dv)
		}
		return
	}
	a, c := &sc.mergeA, &sc.mergeC
	for v := 0; v < n; v += 16 {
		*a, *c = [16]float32{}, [16]float32{}
		var merged, taken uint16 // rows combining both outputs, rows taking src's
		for l := range min(16, n-v) {
			if src.m[v+l] == negInf {
				continue // dst stays
			}
			var ok bool
			if a[l], c[l], ok = mergeFactors(dst, src, v+l); ok {
				merged |= 1 << l
			} else {
				taken |= 1 << l // dst had seen no key
			}
		}
		ml.mergeLanes(&dst.o[v], &src.o[v], dst.cs, pl.Dv, a, c, merged, taken)
	}
}

// finish normalizes the rows of st (adding the sink when set) and writes out and lse.
func (pl *plan) finish(sc *scratch, st state, rs rowSet) {
	b := rs.b
	for r := range rs.n(pl) {
		h, i := rs.row(pl, r)
		var o []float32
		if st.cs == 1 {
			o = st.o[r*st.rs : r*st.rs+pl.Dv] // the state's last use: normalized in place
		} else {
			o = sc.row[:pl.Dv]
			for d := range o {
				o[d] = st.o[r*st.rs+d*st.cs]
			}
		}
		m, l := st.m[r], st.l[r]
		lse := negInf
		scale := float32(1) // multiplies o before the division by l
		if pl.sinks != nil {
			sink := pl.sinks[h]
			lse = sink
			if m != negInf {
				mn := max(m, sink)
				scale = expf(m - mn)
				l = float32(l*scale) + expf(sink-mn)
				m = mn
			}
		}
		if st.m[r] == negInf {
			clear(o)
		} else {
			pl.kern.scaleDiv(o, scale, l)
			if pl.lse != nil {
				lse = m + float32(math.Log(float64(l)))
			}
		}
		rowkernels.StoreRow(pl.o.t, pl.o.off(b, i, h), o)
		if pl.lse != nil {
			s := pl.lse.Strides
			*(*float32)(unsafe.Add(pl.lse.Data, (b*s[0]+h*s[1]+i*s[2])*4)) = lse
		}
	}
}

// streamGrain is the parallel grain for n work items that each stream their own keys and
// values from memory: a quarter of each thread's share, so that a thread takes runs of
// neighbouring items (long sequential reads) rather than every other one. Results do not
// depend on it.
func streamGrain(n int) int {
	return max(1, (n+4*cpu.NumThreads()-1)/(4*cpu.NumThreads()))
}
