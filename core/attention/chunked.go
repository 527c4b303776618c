package attention

import (
	"math"

	"github.com/mlxprim/mlxprim/core/cpu"
	rowkernels "github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// DefaultCrossChunk is the number of keys per chunk of ChunkedCrossAttention when
// chunkSize is 0.
const DefaultCrossChunk = 1024

// ChunkedCrossAttention is Forward (without LSE) computed over the keys chunkSize at a
// time (DefaultCrossChunk when 0): each chunk [c0, c0+chunkSize) is attended on its own,
// giving a normalized partial output and its LSE, and the partials are combined in
// increasing chunk order as MergeStates does (in float64). Besides Forward's per-worker
// memory it keeps one partial and one running result of q's size, whatever the number of
// keys. Masks, windows, ALiBi, bias, key lengths and soft cap keep their meaning over the
// whole key axis (positions are those of the full call); sinks are added once, at the
// end. p.Causal is replaced by causal.
//
// When chunkSize >= Lk there is one chunk and the call is Forward itself (same bits);
// otherwise results differ from Forward only by rounding (the merge order differs).
// Arguments follow Forward; chunkSize < 0 is invalid. On error nothing is written.
func ChunkedCrossAttention(q, k, v, out tensor.Tensor, chunkSize int, causal bool, p Params) error {
	if chunkSize < 0 {
		return errInvalid("chunk_size: %d is negative", chunkSize)
	}
	if chunkSize == 0 {
		chunkSize = DefaultCrossChunk
	}
	p.Causal = causal
	pl, err := newPlan(q, k, v, out, nil, p)
	if err != nil {
		return err
	}
	if pl.Lk <= chunkSize || pl.B == 0 || pl.Lq == 0 || pl.Hq == 0 {
		pl.run()
		return nil
	}
	rows := pl.B * pl.Lq * pl.Hq
	part := make([]float32, rows*pl.Dv)
	partLse := make([]float32, rows)
	acc := make([]float64, rows*pl.Dv)
	accLse := make([]float64, rows)
	for r := range accLse {
		accLse[r] = math.Inf(-1)
	}
	// part is [B, Lq, Hq, Dv] and partLse [B, Hq, Lq], both row-major.
	partT := tensor.FromFloat32(part, pl.B, pl.Lq, pl.Hq, pl.Dv)
	lseT := tensor.FromFloat32(partLse, pl.B, pl.Hq, pl.Lq)
	var keyLen []int32
	if pl.keyLen != nil {
		keyLen = make([]int32, pl.B)
	}
	for c0 := 0; c0 < pl.Lk; c0 += chunkSize {
		c1 := min(c0+chunkSize, pl.Lk)
		pc := pl.keyChunk(c0, c1, keyLen)
		pc.o = view{t: partT, sb: pl.Lq * pl.Hq * pl.Dv, ss: pl.Hq * pl.Dv, sh: pl.Dv, sd: 1}
		pc.lse = &lseT
		pc.run()
		pl.mergeChunk(acc, accLse, part, partLse)
	}
	pl.storeMerged(acc, accLse)
	return nil
}

// keyChunk returns the plan of keys [c0, c1) of pl: the same rows and options, with
// positions kept global (the query offset shifted by c0) and no sinks.
func (pl *plan) keyChunk(c0, c1 int, keyLen []int32) *plan {
	pc := *pl
	pc.k.t = narrow(pl.k.t, 1, c0, c1)
	pc.v.t = narrow(pl.v.t, 1, c0, c1)
	pc.Lk = c1 - c0
	pc.offset = pl.offset - c0
	pc.sinks = nil
	if pl.keyLen != nil {
		for b, n := range pl.keyLen {
			keyLen[b] = int32(min(max(int(n)-c0, 0), c1-c0))
		}
		pc.keyLen = keyLen
	}
	if pl.bias != nil {
		bt := narrow(*pl.bias, 3, c0, c1)
		pc.bias = &bt
	}
	return &pc
}

// mergeChunk folds a chunk's normalized rows and LSE into the running result, with
// MergeStates' formula. Row (b, i, h) of part and acc is at ((b*Lq+i)*Hq+h)*Dv; its LSE
// at (b*Hq+h)*Lq+i.
func (pl *plan) mergeChunk(acc, accLse []float64, part, partLse []float32) {
	Lq, Hq, Dv := pl.Lq, pl.Hq, pl.Dv
	cpu.ParallelFor(pl.B*Lq, 16, func(lo, hi int) {
		for bi := lo; bi < hi; bi++ {
			b, i := bi/Lq, bi%Lq
			for h := range Hq {
				li := (b*Hq+h)*Lq + i
				la, lb := accLse[li], float64(partLse[li])
				lse := logAddExp(la, lb)
				if math.IsInf(lse, -1) {
					continue // nothing visible so far: acc stays zero
				}
				wa, wb := math.Exp(la-lse), math.Exp(lb-lse)
				o := acc[(bi*Hq+h)*Dv : (bi*Hq+h+1)*Dv]
				p := part[(bi*Hq+h)*Dv : (bi*Hq+h+1)*Dv]
				for d := range o {
					x := 0.0
					if wa != 0 {
						x += o[d] * wa
					}
					if wb != 0 {
						x += float64(p[d]) * wb
					}
					o[d] = x
				}
				accLse[li] = lse
			}
		}
	})
}

// storeMerged adds the sinks to the merged rows and writes them to out.
func (pl *plan) storeMerged(acc, accLse []float64) {
	Lq, Hq, Dv := pl.Lq, pl.Hq, pl.Dv
	cpu.ParallelFor(pl.B*Lq, 16, func(lo, hi int) {
		row := make([]float32, Dv)
		for bi := lo; bi < hi; bi++ {
			b, i := bi/Lq, bi%Lq
			for h := range Hq {
				lse := accLse[(b*Hq+h)*Lq+i]
				w := 1.0
				if pl.sinks != nil && !math.IsInf(lse, -1) {
					w = math.Exp(lse - logAddExp(lse, float64(pl.sinks[h])))
				}
				o := acc[(bi*Hq+h)*Dv : (bi*Hq+h+1)*Dv]
				for d := range row {
					row[d] = float32(o[d] * w)
				}
				rowkernels.StoreRow(pl.o.t, pl.o.off(b, i, h), row)
			}
		}
	})
}
