package gemm

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// operand is a 2-D view (rows x cols) of a tensor. Batch matrices of equal size may be
// merged into the row dimension: row i then lives in batch matrix i/per at offset
// boff[i/per] + (i%per)*rs. Offsets and strides are in elements and may be negative.
type operand struct {
	p      unsafe.Pointer
	dt     tensor.DType
	rs, cs int
	per    int   // rows per merged batch matrix (only with boff)
	boff   []int // element offset of each merged batch matrix, or nil for one matrix
}

func (o *operand) size() int { return o.dt.Bits() / 8 }

func (o *operand) rowOff(i int) int {
	if o.boff == nil {
		return i * o.rs
	}
	return o.boff[i/o.per] + (i%o.per)*o.rs
}

// at returns the address of element (i, j).
func (o *operand) at(i, j int) unsafe.Pointer {
	return unsafe.Add(o.p, (o.rowOff(i)+j*o.cs)*o.size())
}

// rowStep reports whether rows i0..i0+n-1 are equally spaced, and their spacing.
func (o *operand) rowStep(i0, n int) (int, bool) {
	if o.boff == nil || i0/o.per == (i0+n-1)/o.per {
		return o.rs, true
	}
	step := o.rowOff(i0+1) - o.rowOff(i0)
	for i := 2; i < n; i++ {
		if o.rowOff(i0+i)-o.rowOff(i0) != i*step {
			return 0, false
		}
	}
	return step, true
}

// loadF32 widens len(dst) elements of dtype dt, step elements apart, starting at p.
func loadF32(dst []float32, p unsafe.Pointer, step int, dt tensor.DType) {
	switch dt {
	case tensor.Float32:
		if step == 1 {
			copy(dst, unsafe.Slice((*float32)(p), len(dst)))
			return
		}
		for j := range dst {
			dst[j] = *(*float32)(unsafe.Add(p, j*step*4))
		}
	case tensor.Float16:
		if step == 1 && len(dst) > 0 {
			widenF16(unsafe.Pointer(&dst[0]), p, len(dst))
			return
		}
		for j := range dst {
			dst[j] = tensor.F16ToF32(*(*uint16)(unsafe.Add(p, j*step*2)))
		}
	case tensor.BFloat16:
		if step == 1 && len(dst) > 0 {
			widenBF16(unsafe.Pointer(&dst[0]), p, len(dst))
			return
		}
		for j := range dst {
			dst[j] = tensor.BF16ToF32(*(*uint16)(unsafe.Add(p, j*step*2)))
		}
	}
}

// storeF32 writes src, rounded to dtype dt, to len(src) elements step apart from p.
func storeF32(p unsafe.Pointer, step int, dt tensor.DType, src []float32) {
	switch dt {
	case tensor.Float32:
		if step == 1 {
			copy(unsafe.Slice((*float32)(p), len(src)), src)
			return
		}
		for j, v := range src {
			*(*float32)(unsafe.Add(p, j*step*4)) = v
		}
	case tensor.Float16, tensor.BFloat16:
		if step == 1 && len(src) > 0 {
			kernels.Narrow(unsafe.Slice((*uint16)(p), len(src)), src, dt)
			return
		}
		narrow := tensor.F32ToF16
		if dt == tensor.BFloat16 {
			narrow = tensor.F32ToBF16
		}
		for j, v := range src {
			*(*uint16)(unsafe.Add(p, j*step*2)) = narrow(v)
		}
	}
}

// loadBits copies len(dst) 16-bit elements step apart from p.
func loadBits(dst []uint16, p unsafe.Pointer, step int) {
	if step == 1 {
		copy(dst, unsafe.Slice((*uint16)(p), len(dst)))
		return
	}
	for j := range dst {
		dst[j] = *(*uint16)(unsafe.Add(p, j*step*2))
	}
}

// packA copies rows i0..i0+rows-1, columns k0..k0+kc-1 of a into dst as float32 rows ld
// apart; rows rows..mr-1 are zero (they pad the last micro-panel).
func packA(dst []float32, ld int, a *operand, i0, rows, mr, k0, kc int) {
	if step, ok := a.rowStep(i0, rows); ok && step == 1 && a.cs != 1 && rows > 1 {
		// A transposed in memory: the rows' elements of one k are adjacent, so read them
		// k by k (a line serves many rows) rather than each row's k a line apart.
		var col [maxMR]float32
		for k := range kc {
			loadF32(col[:rows], a.at(i0, k0+k), 1, a.dt)
			for r, v := range col[:rows] {
				dst[r*ld+k] = v
			}
		}
		for r := rows; r < mr; r++ {
			clear(dst[r*ld : r*ld+kc])
		}
		return
	}
	for r := range mr {
		d := dst[r*ld : r*ld+kc]
		if r >= rows {
			clear(d)
			continue
		}
		loadF32(d, a.at(i0+r, k0), a.cs, a.dt)
	}
}

// packABF16 is packA for the bfloat16 kernel: raw bfloat16 rows, with a zero after an
// odd kc so the last pair is complete.
func packABF16(dst []uint16, ld int, a *operand, i0, rows, mr, k0, kc int) {
	for r := range mr {
		d := dst[r*ld : r*ld+kc+(kc&1)]
		if r >= rows {
			clear(d)
			continue
		}
		loadBits(d[:kc], a.at(i0+r, k0), a.cs)
		if kc&1 == 1 {
			d[kc] = 0
		}
	}
}

// rowWise reports whether b is packed row by row (packBRows): its rows are contiguous,
// or neither its rows nor its columns are. Otherwise its columns are contiguous (a
// transposed B, such as Linear's weight) and it is packed panel by panel (packB).
func rowWise(b *operand) bool { return b.cs == 1 || b.rs != 1 }

// packBRows packs rows k0+kb..k0+ke-1 and columns j0..j0+cols-1 of b into consecutive
// panels (panel q at dst[q*panel:]) of nr float32 per row; columns past cols are zero.
// Each row of B is read once, left to right across the panels.
func packBRows(dst []float32, panel, nr int, b *operand, k0, kb, ke, j0, cols int) {
	q0 := 0 // panels done by the fast copy
	if b.dt == tensor.Float32 && b.cs == 1 && nr == 32 && cols >= nr && ke > kb {
		q0 = cols / nr
		copyRows32(unsafe.Pointer(&dst[kb*nr]), uintptr(panel*4), b.at(k0+kb, j0), uintptr(b.rs*4), ke-kb, q0)
	}
	for k := kb; k < ke; k++ {
		for q := q0; q*nr < cols; q++ {
			n := min(nr, cols-q*nr)
			d := dst[q*panel+k*nr : q*panel+(k+1)*nr]
			loadF32(d[:n], b.at(k0+k, j0+q*nr), b.cs, b.dt)
			clear(d[n:])
		}
	}
}

// packBRowsBF16 packs pairs pb..pe-1 of rows (k0+2p, k0+2p+1) of the row-major bfloat16
// b (unit column stride) into consecutive panels (panel q at dst[q*panel:], in uint16
// units) of nr = 32 columns x 2; a missing odd row and columns past cols are zero.
func packBRowsBF16(dst []uint16, panel, nr int, b *operand, k0, kc, pb, pe, j0, cols int) {
	full := cols / nr
	whole := min(pe, kc/2) // pairs with both rows present
	if full > 0 && whole > pb {
		interleavePairs(unsafe.Pointer(&dst[pb*nr*2]), uintptr(panel*2), b.at(k0+2*pb, j0), uintptr(b.rs*2), whole-pb, full)
	}
	for p := pb; p < pe; p++ {
		for q := 0; q*nr < cols; q++ {
			if q < full && p < whole {
				continue
			}
			d := dst[q*panel+p*nr*2 : q*panel+(p+1)*nr*2]
			clear(d)
			for h := range 2 {
				if 2*p+h >= kc {
					break
				}
				src := b.at(k0+2*p+h, j0+q*nr)
				for j := range min(nr, cols-q*nr) {
					d[2*j+h] = *(*uint16)(unsafe.Add(src, j*2))
				}
			}
		}
	}
}

// packB packs rows k0..k0+kc-1 and columns j0..j0+cols-1 of a b with contiguous columns
// into the panel dst as kc rows of nr float32; columns cols..nr-1 are zero. tmp (nr*kc
// floats) is scratch. The columns are widened to float32 rows if needed, then 16x16
// blocks are transposed.
func packB(dst []float32, nr int, b *operand, k0, kc, j0, cols int, tmp []float32) {
	if kc == 0 {
		return
	}
	src, lds := b.at(k0, j0), b.cs*4
	if b.dt != tensor.Float32 {
		for j := range cols {
			loadF32(tmp[j*kc:(j+1)*kc], b.at(k0, j0+j), 1, b.dt)
		}
		src, lds = unsafe.Pointer(&tmp[0]), kc*4
	}
	done := 0
	if cols == nr && nr%16 == 0 {
		done = kc &^ 15
		for h := 0; h < nr; h += 16 {
			transposeBlocks(unsafe.Pointer(&dst[h]), uintptr(nr*4), unsafe.Add(src, h*lds), uintptr(lds), done/16)
		}
	}
	for j := range nr {
		for k := done; k < kc; k++ {
			v := float32(0)
			if j < cols {
				v = *(*float32)(unsafe.Add(src, j*lds+k*4))
			}
			dst[k*nr+j] = v
		}
	}
}

// packBBF16 packs one panel of a bfloat16 b that is not row-major (see packBRowsBF16)
// for the bfloat16 kernel: for each pair p of rows
// (k0+2p, k0+2p+1), nr columns of two bfloat16 each (low half from the even row);
// a missing odd row and columns cols..nr-1 are zero.
func packBBF16(dst []uint16, nr int, b *operand, k0, kc, j0, cols int) {
	if kc == 0 {
		return
	}
	pairs, full := (kc+1)/2, kc/2
	d32 := unsafe.Slice((*uint32)(unsafe.Pointer(&dst[0])), pairs*nr)
	if cols == nr && nr%16 == 0 && b.rs == 1 {
		// Columns are contiguous: each (k, k+1) pair is one 32-bit word of a column.
		done := full &^ 15
		for h := 0; h < nr; h += 16 {
			transposeBlocks(unsafe.Pointer(&d32[h]), uintptr(nr*4), b.at(k0, j0+h), uintptr(b.cs*2), done/16)
		}
		for j := range nr {
			src := b.at(k0, j0+j)
			for p := done; p < pairs; p++ {
				lo := uint32(*(*uint16)(unsafe.Add(src, 2*p*2)))
				hi := uint32(0)
				if 2*p+1 < kc {
					hi = uint32(*(*uint16)(unsafe.Add(src, (2*p+1)*2)))
				}
				d32[p*nr+j] = lo | hi<<16
			}
		}
		return
	}
	clear(dst[:pairs*nr*2])
	for k := range kc {
		src := b.at(k0+k, j0)
		d := dst[(k/2)*nr*2+(k&1):]
		for j := range cols {
			d[j*2] = *(*uint16)(unsafe.Add(src, j*b.cs*2))
		}
	}
}
