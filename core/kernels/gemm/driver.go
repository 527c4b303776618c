package gemm

import (
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// The blocked driver (Goto/BLIS). The columns are taken in blocks of the path's nc and
// K in blocks of its fixed kc. For each K block the B panels (kc x nr) are packed into
// a shared buffer, then work items (mc rows by a share of the columns) run in parallel:
// each takes micro-panels of mr rows of A (read in place when they are float32/bfloat16
// rows with unit stride, packed otherwise) and runs the micro-kernel against every
// packed B panel. One parallel loop covers the whole problem: packing the next block's
// panels (the next K block, or the next column block's first) is appended to the
// current block's work items, into a second buffer. Problems with few rows (runNarrow)
// instead give each worker its own columns for all of K. A problem whose B columns are
// contiguous rows of a larger matrix (a layer's weight) and whose A is a few dozen to a
// few hundred rows runs transposed (problem.transposed): the weight's rows are then the
// A rows read in place, and only A is packed.
//
// Accumulators live as float32 either in C itself (direct) or in a workspace, and carry
// over between K blocks, so each element is one chain over k whatever the schedule;
// after the last K block a finisher turns each row segment into the output.

// mSuper bounds the rows of a row band (the rows one block covers), and so the
// workspace size.
const mSuper = 2048

// serialFlops: below this many flops per pass a problem runs on the calling goroutine.
const serialFlops = 1 << 21

// finisher writes row i of out, columns j0..j0+len(acc[0])-1, from the float32
// accumulators of each B operand. tmp is scratch of len(acc[0]) elements.
type finisher interface {
	finish(out *operand, i, j0 int, acc [2][]float32, tmp []float32)
}

// problem is one blocked GEMM: out[m x n] from a[m x k] and each b[t] (k x n).
type problem struct {
	spec    *kernelSpec
	m, n, k int
	a       operand
	b       [2]operand
	nb      int // number of B operands (2 for GatedLinear)
	// a2, when set, is a second A operand (a transposed GatedLinear's up weight): then
	// there is one B operand, and accumulator t = 1 takes a2 times it.
	a2  operand
	out operand
	// direct: accumulate straight into out (float32, unit column stride). The kernel then
	// applies alpha itself; fin, if set, post-processes out in place.
	direct bool
	alpha  float32
	fin    finisher
	serial bool // run on the caller's goroutine (small problems, or inside a parallel batch)
	// transOut: the problem computes out^T (its rows are out's columns), through the
	// workspace; finishing gathers finishRows of its rows at a time, so that fin
	// writes segments of out's rows.
	transOut bool
}

// finishRows is how many rows of a transposed problem one finisher call covers: the
// side of the blocks transposeBlocks turns.
const finishRows = 16

// transItemRows: the rows of a transposed problem's work item (out's columns), a
// multiple of 16 and of every path's mr.
const transItemRows = 48

// scratch is one worker's buffers, reused through a pool.
type scratch struct {
	a    [2][maxMR * maxKC / 2]float32 // packed A micro-panels (float32 rows, or bfloat16 rows), of a and a2
	tile [maxMR * maxNR]float32        // edge tile in direct mode
	tmp  [maxNC]float32                // finisher row
	bt   [maxPanel]float32             // widened columns of a transposed B
	gv   [2][gemvBand]float32          // accumulator rows (runGemv)
	col  [2][finishRows]float32        // gathered accumulators (transOut)
}

// maxNC bounds every path's nc, and so the columns one finisher call covers.
const maxNC = 1024

// Problems with at most narrowRows rows run in runNarrow, where a work item packs and
// covers up to narrowPanels B panels of the path's narrowKC rows (1 MiB of float32 for
// 512 rows).
const (
	narrowRows   = 96
	narrowPanels = 16
)

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// narrowB is one runNarrow worker's B panels, for each B operand (2 MiB: pooled apart
// from scratch, which every call takes).
type narrowB [2][narrowPanels * maxNarrowPanel]float32

var narrowPool = sync.Pool{New: func() any { return new(narrowB) }}

// floatPool hands out float32 buffers for packed B blocks and workspaces.
var floatPool sync.Pool

func getFloats(n int) *[]float32 {
	if p, ok := floatPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

func putFloats(p *[]float32) { floatPool.Put(p) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// run executes the problem.
func (p *problem) run() {
	if q, ok := p.transposed(); ok {
		q.run()
		return
	}
	sp := p.spec
	if p.gemvFits() {
		p.runGemv()
		return
	}
	if p.m <= narrowRows {
		p.runNarrow()
		return
	}
	nPmax := ceilDiv(min(sp.nc, p.n), sp.nr)
	var packed [2][2]*[]float32 // [slot][operand]: two slots, one being packed while the other is used
	var ws [2]*[]float32
	for t := range p.nb {
		for slot := range 2 {
			if t < p.packedOps() {
				packed[slot][t] = getFloats(sp.panel() * nPmax)
				defer putFloats(packed[slot][t])
			}
		}
		if !p.direct {
			ws[t] = getFloats(ceilDiv(min(mSuper, p.m), sp.mr) * sp.mr * nPmax * sp.nr)
			defer putFloats(ws[t])
		}
	}
	// Every column block of every row band at every K block, in that order, as the
	// steps of one pass.
	plan := planPool.Get().(*passPlan)
	defer planPool.Put(plan)
	blocks := plan.blocks[:0]
	for jc := 0; jc < p.n; jc += sp.nc {
		nc := min(sp.nc, p.n-jc)
		for i0 := 0; i0 < p.m; i0 += mSuper {
			b := block{i0: i0, mm: min(mSuper, p.m-i0), jc: jc, nc: nc, wld: ceilDiv(nc, sp.nr) * sp.nr}
			for t := range p.nb {
				if ws[t] != nil {
					b.ws[t] = *ws[t]
				}
			}
			for pc := 0; pc == 0 || pc < p.k; pc += sp.kc {
				var slot [2][]float32
				for t := range p.packedOps() {
					slot[t] = *packed[len(blocks)%2][t]
				}
				blocks = append(blocks, p.atK(b, pc, slot))
			}
		}
	}
	plan.blocks = blocks
	p.pass(plan)
	clear(plan.blocks) // drop the buffers' references before pooling
}

// transposed returns the problem out^T = B^T A^T for p, when that runs faster: A has a
// few dozen to a few hundred rows that nearly fill whole B panels, and B's columns are
// contiguous in the dtype the micro-kernel reads in place (a Linear layer's weight
// rows, GatedLinear's two weights, or Matmul's b with TransB). B's columns are then the
// kernel's A rows, read in place, instead of being transposed into packed panels (a
// third of the time at 64 rows of 4096 on AVX-512, more on AVX2, whose transposes are
// in Go); only the rows of A, the smaller operand, are packed, once for both weights.
// Every element keeps its chain, since fma(b, a, acc) = fma(a, b, acc), so the bits
// are the same. The accumulators go through the workspace, and p's finisher writes
// segments of out's rows from it.
func (p *problem) transposed() (problem, bool) {
	sp := p.spec
	filled := func(sp *kernelSpec) bool {
		return float64(p.m) >= transposedFill*float64(ceilDiv(p.m, sp.nr)*sp.nr)
	}
	// The transposed problem's rows (p.n) must take the blocked schedule, which
	// finishes through finishT.
	if p.transOut || p.m <= gemvRows || p.m > p.n || p.n <= narrowRows {
		return problem{}, false
	}
	// Rows that fit one panel need only fill more than half of it: the other schedule
	// is slowest there.
	if !filled(sp) && !(p.m <= sp.nr && 2*p.m > sp.nr) {
		h := sp.half
		if h == nil || p.m > h.nr && ceilDiv(p.m, h.nr)*h.nr-p.m > halfWidthPad {
			return problem{}, false
		}
		sp = h
	}
	for t := range p.nb {
		b := &p.b[t]
		readable := b.dt == tensor.Float32 && !sp.bf16 || b.dt == tensor.BFloat16 && sp.bf16 && p.k%2 == 0
		if !readable || b.rs != 1 {
			return problem{}, false
		}
	}
	step, ok := p.a.rowStep(0, p.m)
	if !ok {
		return problem{}, false
	}
	q := *p
	q.spec, q.m, q.n = sp, p.n, p.m
	weightRows := func(b *operand) operand { return operand{p: b.p, dt: b.dt, rs: b.cs, cs: 1} }
	q.a = weightRows(&p.b[0])
	if p.nb == 2 {
		q.a2, q.b[1] = weightRows(&p.b[1]), operand{}
	}
	q.b[0] = operand{p: p.a.at(0, 0), dt: p.a.dt, rs: p.a.cs, cs: step}
	q.direct, q.transOut, q.alpha = false, true, 1
	if q.fin == nil { // direct: the kernel would have applied alpha
		q.fin = matmulFin{alpha: p.alpha}
	}
	return q, true
}

// transposedFill: the transposed schedule pads A's rows to whole B panels; below this
// share of real columns the padding costs more than packing B (AVX-512 at 4096x4096:
// 40 rows, 63% filled, 6-12% slower transposed; 24 rows, 75%, 27% faster), except
// within one panel, where more than half is enough (17 to 22 rows: 27-29% faster).
const transposedFill = 0.7

// halfWidthPad: a path with a 16-column twin (kernelSpec.half) uses it instead when the rows
// fit one of its panels or pad at most this many rows. The twin does half the work per
// loaded value of B, so it gains only where the other schedules are slow or wasteful
// (AVX-512 at 4096x4096: 9 to 11 rows +20-32%, 12 rows +20%, 16 rows +44%, 44 rows
// +1-11%; 40 rows alike, 36 rows 8% slower).
const halfWidthPad = 4

// block is one step of a pass: rows i0..i0+mm-1 (a row band), columns jc..jc+nc-1
// (a column block), and the K block pc..pc+kc-1.
type block struct {
	i0, mm, jc, nc int
	pc, kc         int
	last           bool         // the last K block
	packed         [2][]float32 // packed B panels of the block, from panel index jp0
	jp0            int
	panel          int          // float32 words from one packed panel to the next
	ws             [2][]float32 // workspaces (not direct): row r, column j at r*wld+j
	wld            int
}

// atK returns the block for the K block starting at pc.
func (p *problem) atK(b block, pc int, packed [2][]float32) block {
	b.pc, b.kc = pc, min(p.spec.kc, p.k-pc)
	b.last = pc+p.spec.kc >= p.k
	b.packed = packed
	b.panel = p.spec.panel()
	return b
}

// passPlan holds a pass's steps and phase table; pooled, so that a call allocates
// none of it however many steps it has.
type passPlan struct {
	blocks []block
	steps  []passStep
	starts []int // first task of each phase; starts[q+1] ends phase q
}

var planPool = sync.Pool{New: func() any { return new(passPlan) }}

// passStep is one step of pass: a block at one K block, with its work division.
type passStep struct {
	b      *block
	mP, nP int    // A micro-panels and B panels of the block
	nSplit int    // column shares per row item
	items  int    // work items (row items times column shares)
	packN  [2]int // packing tasks for operand 0, for both operands
}

// pass runs the steps (blocks at one K block each) in one parallel loop of ordered
// phases: phase 0 packs the first step's B panels; phase q >= 1 runs the work items of
// step q-1 (mc rows, and when rows are few a share of the columns) and then packs step
// q's into the other buffer slot. A task starts only when every task of the earlier
// phases has finished; those were handed out first, so waiting never deadlocks, and the
// workers stay awake across phases instead of being started again for each block. So
// the next column block's first B panels are packed while the current one's last K
// block runs.
func (p *problem) pass(plan *passPlan) {
	sp := p.spec
	perItem := sp.mc / sp.mr
	if p.transOut {
		// Items of 48 of out's columns: whole 64-byte runs of a float32 out's rows (64-byte
		// aligned), so that no two workers write the same line there. A 16-bit out's
		// items share a line with their neighbours (false sharing, not a race).
		perItem = transItemRows / sp.mr
	}
	threads := cpu.NumThreads()
	blocks := plan.blocks
	steps := slices.Grow(plan.steps[:0], len(blocks))[:len(blocks)]
	starts := slices.Grow(plan.starts[:0], len(blocks)+2)[:len(blocks)+2]
	plan.steps, plan.starts = steps, starts
	flops := 0
	for q := range steps {
		st := &steps[q]
		st.b = &blocks[q]
		st.mP, st.nP = ceilDiv(st.b.mm, sp.mr), ceilDiv(st.b.nc, sp.nr)
		mItems := ceilDiv(st.mP, perItem)
		st.nSplit = 1
		if mItems < 4*threads {
			st.nSplit = min(st.nP, ceilDiv(4*threads, mItems))
		}
		st.items = mItems * st.nSplit
		n0 := p.packTasks(st.b, 0, st.nP)
		n := n0
		if p.packedOps() == 2 {
			n += p.packTasks(st.b, 1, st.nP)
		}
		st.packN = [2]int{n0, n}
		flops += 2 * st.b.mm * st.b.nc * st.b.kc
	}
	starts[1] = steps[0].packN[1]
	for q := 1; q <= len(steps); q++ {
		starts[q+1] = starts[q] + steps[q-1].items
		if q < len(steps) {
			starts[q+1] += steps[q].packN[1]
		}
	}
	total := starts[len(steps)+1]
	grain := 1
	if p.serial || flops < serialFlops {
		grain = total
	}
	var done atomic.Int64
	cpu.ParallelFor(total, grain, func(lo, hi int) {
		s := scratchPool.Get().(*scratch)
		defer scratchPool.Put(s)
		q := sort.SearchInts(starts, lo+1) - 1
		for x := lo; x < hi; x++ {
			for x >= starts[q+1] {
				q++
			}
			waitFor(&done, int64(starts[q]))
			p.passTask(s, steps, q, x-starts[q], perItem)
			done.Add(1)
		}
	})
}

// waitFor returns once n tasks are done. The wait is normally short (the other workers
// finishing the previous phase), so it spins on the counter first and yields only after
// that, which also lets a single OS thread run the other goroutines.
func waitFor(done *atomic.Int64, n int64) {
	for spins := 0; done.Load() < n; spins++ {
		if spins >= 1<<14 {
			runtime.Gosched()
		}
	}
}

// passTask runs task i of phase q of pass: a work item of step q-1, or a packing task
// of step q.
func (p *problem) passTask(s *scratch, steps []passStep, q, i, perItem int) {
	if q > 0 && i < steps[q-1].items {
		st := &steps[q-1]
		mi, ni := i/st.nSplit, i%st.nSplit
		p.tiles(s, st.b, mi*perItem, min(st.mP, (mi+1)*perItem), ni*st.nP/st.nSplit, (ni+1)*st.nP/st.nSplit)
		return
	}
	if q > 0 {
		i -= steps[q-1].items
	}
	st := &steps[q]
	t := 0
	if n0 := st.packN[0]; i >= n0 {
		t, i = 1, i-n0
	}
	p.packTask(s, st.b, t, i, 0, st.nP)
}

// runNarrow handles problems with few rows (decode-like shapes): the
// columns are split into chunks, and each worker packs its own chunk's B panels and
// walks all of K, so one parallel loop covers the whole call. The per-element chain is
// the same as in pass, so results are bit-identical.
func (p *problem) runNarrow() {
	sp := p.spec
	nP := ceilDiv(p.n, sp.nr)
	var ws [2]*[]float32
	if !p.direct {
		for t := range p.nb {
			ws[t] = getFloats(ceilDiv(p.m, sp.mr) * sp.mr * nP * sp.nr)
			defer putFloats(ws[t])
		}
	}
	// Few rows: one panel per item, so each item reads its 32 columns of B as long
	// streams. More rows: items as wide as leaves two per worker, up to narrowPanels
	// (2 KiB of each row of B for float32 on AVX-512, 1 MiB of packed B), so rows of A
	// are reused across more panels, and packing B, which reads its rows far apart (a
	// TLB miss for each), reads more of each. From 4 to 32 panels: +16% at 64x4096x4096; 16 panels measured 8-10% faster
	// than 32 there, and faster than 8, 12 or 24 at 32 to 96 rows.
	per := 1
	if p.m > 16 {
		per = max(4, min(narrowPanels, nP/(2*cpu.NumThreads())))
	}
	items := ceilDiv(nP, per)
	grain := 1
	if p.serial || 2*p.m*p.n*p.k < serialFlops {
		grain = items
	}
	cpu.ParallelFor(items, grain, func(lo, hi int) {
		s := scratchPool.Get().(*scratch)
		defer scratchPool.Put(s)
		nb := narrowPool.Get().(*narrowB)
		defer narrowPool.Put(nb)
		for it := lo; it < hi; it++ {
			jp0, jp1 := it*per, min(nP, (it+1)*per)
			b := block{mm: p.m, nc: p.n, jp0: jp0, wld: nP * sp.nr, panel: sp.panelOf(sp.narrowKC)}
			for t := range p.nb {
				b.packed[t] = nb[t][:]
				if ws[t] != nil {
					b.ws[t] = *ws[t]
				}
			}
			for b.pc = 0; ; b.pc += sp.narrowKC {
				b.kc = min(sp.narrowKC, p.k-b.pc)
				b.last = b.pc+sp.narrowKC >= p.k
				for t := range p.nb {
					for x := range p.packTasks(&b, t, jp1-jp0) {
						p.packTask(s, &b, t, x, jp0, jp1)
					}
				}
				p.tiles(s, &b, 0, ceilDiv(p.m, sp.mr), jp0, jp1)
				if b.last {
					break
				}
			}
		}
	})
}

// packRows is how many rows of B one row-wise packing task covers.
const packRows = 32

// rowPacked reports whether B operand t is packed by rows, all panels at once.
func (p *problem) rowPacked(t int) bool {
	if p.spec.bf16 {
		return p.b[t].cs == 1
	}
	return rowWise(&p.b[t])
}

// packTasks returns how many packing tasks operand t needs for np panels of the block:
// groups of packRows rows when it is packed by rows, else one per panel.
func (p *problem) packTasks(b *block, t, np int) int {
	if p.rowPacked(t) {
		return max(1, ceilDiv(b.kc, packRows))
	}
	return np
}

// packTask runs packing task x of operand t over panels jpa..jpb-1 of the block.
func (p *problem) packTask(s *scratch, b *block, t, x, jpa, jpb int) {
	sp := p.spec
	if !p.rowPacked(t) {
		p.packPanel(s, b, t, jpa+x)
		return
	}
	j0 := b.jc + jpa*sp.nr
	cols := min((jpb-jpa)*sp.nr, b.jc+b.nc-j0)
	buf := b.packed[t][(jpa-b.jp0)*b.panel:]
	kb, ke := x*packRows, min(b.kc, (x+1)*packRows)
	if sp.bf16 {
		half := unsafe.Slice((*uint16)(unsafe.Pointer(&buf[0])), 2*len(buf))
		packBRowsBF16(half, 2*b.panel, sp.nr, &p.b[t], b.pc, b.kc, kb/2, ceilDiv(ke, 2), j0, cols)
		return
	}
	packBRows(buf, b.panel, sp.nr, &p.b[t], b.pc, kb, ke, j0, cols)
}

// packPanel packs B panel jp of operand t for the block's K block into b.packed[t].
func (p *problem) packPanel(s *scratch, b *block, t, jp int) {
	sp := p.spec
	panel := b.panel
	j0 := b.jc + jp*sp.nr
	cols := min(sp.nr, b.jc+b.nc-j0)
	buf := b.packed[t][(jp-b.jp0)*panel : (jp-b.jp0+1)*panel]
	if sp.bf16 {
		packBBF16(unsafe.Slice((*uint16)(unsafe.Pointer(&buf[0])), 2*panel), sp.nr, &p.b[t], b.pc, b.kc, j0, cols)
		return
	}
	packB(buf, sp.nr, &p.b[t], b.pc, b.kc, j0, cols, s.bt[:])
}

// tiles runs A micro-panels pr0..pr1-1 against B panels pc0..pc1-1 for the block's K
// block and, after the last one, finishes those rows and columns.
func (p *problem) tiles(s *scratch, b *block, pr0, pr1, pc0, pc1 int) {
	sp := p.spec
	mr, nr := sp.mr, sp.nr
	panel := b.panel
	flags := uintptr(0)
	if b.pc > 0 {
		flags |= flagLoad
	}
	if b.last && p.direct && p.alpha != 1 {
		flags |= flagAlpha
	}
	kk := b.kc
	if sp.bf16 {
		kk = (b.kc + 1) / 2
	}
	for ip := pr0; ip < pr1; ip++ {
		r0 := ip * mr
		rows := min(mr, b.mm-r0)
		i := b.i0 + r0
		kmr, run := mr, sp.run // a short panel takes the short kernel when there is one
		if sp.small != nil && rows <= sp.smallMR {
			kmr, run = sp.smallMR, sp.small
		}
		var aPtrs [2]unsafe.Pointer
		var ldas [2]uintptr
		aPtrs[0], ldas[0] = p.aPanel(&p.a, s.a[0][:], i, rows, kmr, b.pc, b.kc)
		aPtrs[1], ldas[1] = aPtrs[0], ldas[0]
		if p.a2.p != nil {
			aPtrs[1], ldas[1] = p.aPanel(&p.a2, s.a[1][:], i, rows, kmr, b.pc, b.kc)
		}
		for jp := pc0; jp < pc1; jp++ {
			j0 := jp * nr // relative to jc
			cols := min(nr, b.nc-j0)
			for t := range p.nb {
				// With a2, both accumulators take the one packed operand.
				bp := unsafe.Pointer(&b.packed[min(t, p.packedOps()-1)][(jp-b.jp0)*panel])
				aPtr, lda := aPtrs[t], ldas[t]
				if !p.direct {
					c := unsafe.Pointer(&b.ws[t][r0*b.wld+j0])
					run(kk, aPtr, lda, bp, c, uintptr(b.wld*4), flags, p.alpha)
					continue
				}
				if step, ok := p.out.rowStep(i, rows); ok && rows == kmr && cols == nr {
					run(kk, aPtr, lda, bp, p.out.at(i, b.jc+j0), uintptr(step*4), flags, p.alpha)
					continue
				}
				// Edge or irregular tile: go through a full-size scratch tile.
				tile := s.tile[:kmr*nr]
				if flags&flagLoad != 0 {
					for r := range rows {
						copy(tile[r*nr:r*nr+cols], unsafe.Slice((*float32)(p.out.at(i+r, b.jc+j0)), cols))
					}
				}
				run(kk, aPtr, lda, bp, unsafe.Pointer(&tile[0]), uintptr(nr*4), flags, p.alpha)
				for r := range rows {
					copy(unsafe.Slice((*float32)(p.out.at(i+r, b.jc+j0)), cols), tile[r*nr:r*nr+cols])
				}
			}
		}
	}
	if !b.last || p.fin == nil {
		return
	}
	c0, c1 := pc0*nr, min(b.nc, pc1*nr)
	if p.transOut {
		p.finishT(s, b, pr0*mr, min(b.mm, pr1*mr), c0, c1)
		return
	}
	w := c1 - c0
	for r := pr0 * mr; r < min(b.mm, pr1*mr); r++ {
		var acc [2][]float32
		for t := range p.nb {
			if p.direct {
				acc[t] = unsafe.Slice((*float32)(p.out.at(b.i0+r, b.jc+c0)), w)
			} else {
				acc[t] = b.ws[t][r*b.wld+c0 : r*b.wld+c1]
			}
		}
		p.fin.finish(&p.out, b.i0+r, b.jc+c0, acc, s.tmp[:w])
	}
}

// finishT finishes rows r0..r1-1 and columns c0..c1-1 of a block of a transposed
// problem: each column becomes a segment of a row of out. Whole groups of finishRows
// rows are transposed from the workspace into s.bt (16x16 blocks, whole ones: the
// workspace's rows are padded to a multiple of nr columns); a last, shorter group is
// gathered value by value.
func (p *problem) finishT(s *scratch, b *block, r0, r1, c0, c1 int) {
	blocks := ceilDiv(c1-c0, 16)
	for r := r0; r < r1; r += finishRows {
		h := min(finishRows, r1-r)
		if h == finishRows {
			for t := range p.nb {
				transposeBlocks(unsafe.Pointer(&s.bt[t*len(s.bt)/2]), finishRows*4, unsafe.Pointer(&b.ws[t][r*b.wld+c0]), uintptr(b.wld*4), blocks)
			}
		}
		for c := c0; c < c1; c++ {
			var acc [2][]float32
			for t := range p.nb {
				if h == finishRows {
					o := t*len(s.bt)/2 + (c-c0)*finishRows
					acc[t] = s.bt[o : o+finishRows]
					continue
				}
				g := s.col[t][:h]
				for q := range g {
					g[q] = b.ws[t][(r+q)*b.wld+c]
				}
				acc[t] = g
			}
			p.fin.finish(&p.out, b.jc+c, b.i0+r, acc, s.tmp[:h])
		}
	}
}

// packedOps returns how many B operands are packed: one when a2 shares it.
func (p *problem) packedOps() int {
	if p.a2.p != nil {
		return 1
	}
	return p.nb
}

// aPanel returns the micro-panel of A operand a of kmr rows for rows i..i+rows-1 and K
// block k0..k0+kc-1: the rows in place when the kernel can read them directly, else a
// packed copy in buf (zero rows pad it to kmr).
func (p *problem) aPanel(a *operand, buf []float32, i, rows, kmr, k0, kc int) (unsafe.Pointer, uintptr) {
	sp := p.spec
	if kc == 0 {
		return unsafe.Pointer(&buf[0]), 0 // nothing is read
	}
	want := tensor.Float32
	if sp.bf16 {
		want = tensor.BFloat16
	}
	if a.dt == want && a.cs == 1 && rows == kmr && (!sp.bf16 || kc%2 == 0) {
		if step, ok := a.rowStep(i, rows); ok {
			return a.at(i, k0), uintptr(step * a.size())
		}
	}
	if sp.bf16 {
		ld := sp.kc
		half := unsafe.Slice((*uint16)(unsafe.Pointer(&buf[0])), kmr*ld)
		packABF16(half, ld, a, i, rows, kmr, k0, kc)
		return unsafe.Pointer(&half[0]), uintptr(ld * 2)
	}
	ld := sp.kc
	packA(buf, ld, a, i, rows, kmr, k0, kc)
	return unsafe.Pointer(&buf[0]), uintptr(ld * 4)
}
