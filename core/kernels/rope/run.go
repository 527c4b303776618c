package rope

import (
	"math"
	"sync"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	rowkernels "github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// A call runs in two parallel phases: the cos/sin table, one row of R float32 per token
// (S rows, shared by the batch, unless positions are [B, S]: then B*S rows), holding cos
// for the R/2 pairs, then sin, both times the attention factor and sin negated for
// Inverse; then the rows (token, head) of q and k. Every table row and
// every output row is written by exactly one chunk from its own inputs only, so the
// chunking (and the thread count) cannot change a bit of the result.

const (
	// rowGrain is the number of elements one row chunk should cover at least: below it,
	// spreading rows across threads costs more than it saves.
	rowGrain = 1 << 14
	// tableGrain is the number of cos/sin evaluations one table chunk should cover.
	tableGrain = 1 << 11
)

// operand is q or k with its output.
type operand struct {
	in, out tensor.Tensor
	g       geometry
	outStr  [4]int // out's strides in (b, s, h, d) order
	rows    int    // b*s*h
	fast    bool   // float32 with unit-stride rows: rotate in memory, no scratch
	inPlace bool   // out is in's very view: pass-through dims need no copy
}

func operandOf(in, out tensor.Tensor, g geometry, l Layout) operand {
	og := geometryOf(out, l)
	return operand{
		in: in, out: out, g: g, outStr: og.str, rows: g.b * g.s * g.h,
		fast:    in.DType == tensor.Float32 && g.str[3] == 1 && og.str[3] == 1,
		inPlace: tensor.SameView(in, out),
	}
}

// freqKey is everything the inverse frequencies depend on.
type freqKey struct {
	base float64
	sc   Scaling
	r    int
}

// job holds one call's state. Jobs are pooled with their buffers and bound methods, so
// a steady stream of calls (decode) allocates nothing.
type job struct {
	ops        [2]operand // q, then k (rows == 0 when absent)
	b, s, d, r int
	layout     Layout
	offset     int
	inverse    bool
	pos        tensor.Tensor
	hasPos     bool
	tokens     int       // table rows: S, or B*S for [B, S] positions
	inv        []float64 // R/2 inverse frequencies
	m          float64   // attention factor
	freq       freqKey   // what inv and m were computed from
	haveFreq   bool
	tab        []float32 // tokens rows of R: cos, then sin
	rotate     rotateFunc

	tableBody, rowBody func(lo, hi int)
}

var jobs = sync.Pool{New: func() any {
	j := new(job)
	j.tableBody, j.rowBody = j.fillTable, j.rotateRows
	return j
}}

func newJob() *job { return jobs.Get().(*job) }

// release drops the references to caller memory and returns j to the pool.
func (j *job) release() {
	j.ops = [2]operand{}
	j.pos, j.hasPos = tensor.Tensor{}, false
	jobs.Put(j)
}

// run performs a prepared call.
func run(j *job) {
	defer j.release()
	rows := j.ops[0].rows + j.ops[1].rows
	if rows == 0 {
		return
	}
	h := j.r / 2
	j.tab = grow(j.tab, j.tokens*j.r)
	cpu.ParallelFor(j.tokens, max(1, tableGrain/h), j.tableBody)
	cpu.ParallelFor(rows, max(1, rowGrain/j.d), j.rowBody)
}

// position returns the position of table row t.
func (j *job) position(t int) float64 {
	if !j.hasPos {
		return float64(j.offset + t)
	}
	var off int
	if j.pos.NDim() == 1 {
		off = t * j.pos.Strides[0]
	} else {
		off = (t/j.s)*j.pos.Strides[0] + (t%j.s)*j.pos.Strides[1]
	}
	if j.pos.DType == tensor.Int32 {
		return float64(*(*int32)(unsafe.Add(j.pos.Data, off*4)))
	}
	return float64(*(*int64)(unsafe.Add(j.pos.Data, off*8)))
}

// fillTable computes table rows [lo, hi): angle = position * f_i in float64, cos and sin
// in float64 times the attention factor, rounded once to float32.
func (j *job) fillTable(lo, hi int) {
	h := j.r / 2
	sign := 1.0
	if j.inverse {
		sign = -1
	}
	for t := lo; t < hi; t++ {
		p := j.position(t)
		row := j.tab[t*j.r : (t+1)*j.r]
		for i, f := range j.inv {
			sin, cos := math.Sincos(p * f)
			row[i] = float32(j.m * cos)
			row[h+i] = float32(sign * j.m * sin)
		}
	}
}

// rotateRows rotates rows [lo, hi) of the concatenation of q's rows and k's rows. Rows
// are enumerated in the layout's memory order: (b, s, h) for BSHD, (b, h, s) for BHSD.
func (j *job) rotateRows(lo, hi int) {
	var scratch *[]float32
	h := j.r / 2
	for r := lo; r < hi; r++ {
		op, i := &j.ops[0], r
		if i >= op.rows {
			i -= op.rows
			op = &j.ops[1]
		}
		b, s, hd := j.split(i, op.g.h)
		tok := s
		if j.hasPos && j.pos.NDim() == 2 {
			tok = b*j.s + s
		}
		cs := j.tab[tok*j.r : (tok+1)*j.r]
		inOff := b*op.g.str[0] + s*op.g.str[1] + hd*op.g.str[2]
		outOff := b*op.outStr[0] + s*op.outStr[1] + hd*op.outStr[2]
		if op.fast {
			x := unsafe.Slice((*float32)(unsafe.Add(op.in.Data, inOff*4)), j.d)
			o := unsafe.Slice((*float32)(unsafe.Add(op.out.Data, outOff*4)), j.d)
			j.rotate(o[:j.r], x[:j.r], cs[:h], cs[h:])
			if !op.inPlace {
				copy(o[j.r:], x[j.r:])
			}
			continue
		}
		if scratch == nil {
			scratch = getScratch(j.r)
		}
		row := (*scratch)[:j.r]
		rowkernels.LoadRow(op.in, inOff, row)
		j.rotate(row, row, cs[:h], cs[h:])
		rowkernels.StoreRow(op.out, outOff, row)
		if !op.inPlace {
			copyPassThrough(op, inOff, outOff, j.r, j.d)
		}
	}
	if scratch != nil {
		scratches.Put(scratch)
	}
}

// split maps a row index of an operand with `heads` heads to (b, s, h).
func (j *job) split(r, heads int) (b, s, h int) {
	if j.layout == BHSD {
		s, r = r%j.s, r/j.s
		return r / heads, s, r % heads
	}
	h, r = r%heads, r/heads
	return r / j.s, r % j.s, h
}

// copyPassThrough copies elements [from, to) of a row bit for bit (any float dtype).
func copyPassThrough(op *operand, inOff, outOff, from, to int) {
	size := op.in.DType.Bits() / 8
	si, so := op.g.str[3], op.outStr[3]
	for e := from; e < to; e++ {
		src := unsafe.Add(op.in.Data, (inOff+e*si)*size)
		dst := unsafe.Add(op.out.Data, (outOff+e*so)*size)
		if size == 4 {
			*(*uint32)(dst) = *(*uint32)(src)
		} else {
			*(*uint16)(dst) = *(*uint16)(src)
		}
	}
}

// scratches holds float32 row buffers for rows that are not float32 unit-stride.
var scratches = sync.Pool{New: func() any { return new([]float32) }}

func getScratch(n int) *[]float32 {
	p := scratches.Get().(*[]float32)
	*p = grow(*p, n)
	return p
}

// grow returns a slice of length n, reusing buf's storage when it is large enough.
func grow[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}
