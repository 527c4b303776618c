package gemm

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// The few-rows path (decode shapes): with at most gemvRows rows of A, float32 operands
// and a B whose rows (row-major B) or columns (transposed B, such as Linear's weight)
// are contiguous, B is streamed once, in place, instead of being packed. Each output
// element is still one chain acc = fma(a_ik, b_kj, acc) over k in order, starting
// from +0, so the bits equal the blocked path's on the same ISA path; the finishing
// step (alpha, finisher) is the blocked path's too. On the AVX512-BF16 path, bfloat16
// operands with a transposed B and K even take it too, by k pairs with VDPBF16PS as
// bgemm512 does (the same bits as its blocked path).
//
// The columns are split into bands of gemvBand or gemvBandT (fixed, so independent of
// the thread count), one work item each. A row-major B is read a group of 8 rows at a
// time across the band (4 KiB per row, so each page is visited once per band), the
// accumulators staying in the band's workspace. A transposed B is read as tiles of vec
// columns (W rows) by vec k's (or k pairs), transposed in registers.

// gemvRows is the largest row count that takes the few-rows path.
const gemvRows = 8

// gemvBand is the number of output columns per work item for a row-major B, and
// gemvBandT (a multiple of every vec, at most gemvBand) when every B is transposed:
// smaller items of W rows balance the workers (11008 rows in items of 1024 left one of
// two workers 6 items to the other's 5; items of 256 with the read-ahead of gemvT512:
// decode at 1x4096x11008 +17% from Python on two threads).
const (
	gemvBand  = 1024
	gemvBandT = 256
)

// gemvSpec is the few-rows kernel pair of an ISA path (see gemv_amd64.s): vec 32-bit
// words per vector; n for a row-major B (nil: none), t for a transposed B. On a bf16
// path (kernelSpec.bf16) A and B are bfloat16 and t takes k pairs, each 32-bit word of
// A's tiles and of W's rows holding k even and k odd, as bgemm512 does.
type gemvSpec struct {
	vec int
	n   func(m, k int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, ldb uintptr, c unsafe.Pointer, ldc uintptr, nv int, mask int)
	t   func(m, kt, kr int, a unsafe.Pointer, w unsafe.Pointer, ldw uintptr, c unsafe.Pointer, mask int)
}

// gemvWords is how many 32-bit words hold k values of a row in the few-rows kernels:
// k float32 values, or k/2 pairs of bfloat16 ones on a bf16 path.
func gemvWords(sp *kernelSpec, k int) int {
	if sp.bf16 {
		return k / 2
	}
	return k
}

// gemvFits reports whether the problem can take the few-rows path.
func (p *problem) gemvFits() bool {
	g, pairs := p.spec.gemv, p.spec.bf16
	want := tensor.Float32
	if pairs {
		want = tensor.BFloat16
	}
	if g == nil || p.m > gemvRows || p.k == 0 || p.a.dt != want || pairs && p.k%2 != 0 {
		return false
	}
	for t := range p.nb {
		b := &p.b[t]
		if b.cs == 1 && g.n == nil { // a path without a row-major kernel
			return false
		}
		// The pairs path reads W rows as 32-bit words: their stride must be whole words.
		if pairs && b.cs%2 != 0 {
			return false
		}
		// A transposed B gathers its last k's with 32-bit indices r*cs.
		if b.cs != 1 && (b.rs != 1 || max(b.cs, -b.cs) > (1<<31-1)/g.vec) {
			return false
		}
	}
	return true
}

// gemvWork is the per-call state of the few-rows path.
type gemvWork struct {
	g     *gemvSpec
	rows  []float32    // A as m contiguous rows of k (for a row-major B)
	tiles []float32    // A in tiles of vec k's: tile q, row i at (q*m+i)*vec (for a transposed B)
	ws    [2][]float32 // accumulators per B operand, m*npad each (layout: see accRow)
	npad  int
}

// runGemv runs the problem on the few-rows path; the caller checked gemvFits.
func (p *problem) runGemv() {
	g := p.spec.gemv
	m, n, k, vec := p.m, p.n, p.k, g.vec
	wk := gemvWork{g: g, npad: ceilDiv(n, gemvBand) * gemvBand}
	for t := range p.nb {
		ws := getFloats(m * wk.npad)
		defer putFloats(ws)
		wk.ws[t] = *ws
		if p.b[t].cs == 1 && wk.rows == nil {
			buf := getFloats(m * k)
			defer putFloats(buf)
			wk.rows = *buf
			for i := range m {
				loadF32(wk.rows[i*k:(i+1)*k], p.a.at(i, 0), p.a.cs, p.a.dt)
			}
		}
		if p.b[t].cs != 1 && wk.tiles == nil {
			// Tiles of vec 32-bit words of each row: float32 k's, or on a bf16 path
			// pairs of bfloat16 k's (k even in the low half).
			kw := gemvWords(p.spec, k)
			buf := getFloats(ceilDiv(kw, vec) * m * vec)
			defer putFloats(buf)
			wk.tiles = *buf
			half := unsafe.Slice((*uint16)(unsafe.Pointer(&wk.tiles[0])), 2*len(wk.tiles))
			for i := range m {
				for q := 0; q < kw; q += vec {
					d, n := (q/vec*m+i)*vec, min(vec, kw-q)
					if p.spec.bf16 {
						loadBits(half[2*d:2*(d+n)], p.a.at(i, 2*q), p.a.cs)
					} else {
						loadF32(wk.tiles[d:d+n], p.a.at(i, q), p.a.cs, p.a.dt)
					}
				}
			}
		}
	}
	band := gemvBandT
	for t := range p.nb {
		if p.b[t].cs == 1 {
			band = gemvBand
		}
	}
	items := ceilDiv(n, band)
	grain := 1
	if p.serial || 2*m*n*k < serialFlops {
		grain = items
	}
	cpu.ParallelFor(items, grain, func(lo, hi int) {
		s := scratchPool.Get().(*scratch)
		defer scratchPool.Put(s)
		for it := lo; it < hi; it++ {
			j0 := it * band
			w := min(band, n-j0)
			for t := range p.nb {
				p.gemvBand(&wk, t, j0, w)
			}
			p.gemvFinish(s, &wk, j0, w)
		}
	})
}

// gemvBand computes the accumulators of columns j0..j0+w-1 for B operand t. A row-major
// B keeps them as rows of npad columns; a transposed one as blocks of m rows x vec
// columns, one per vec columns.
func (p *problem) gemvBand(wk *gemvWork, t, j0, w int) {
	g, m, k, vec := wk.g, p.m, p.k, wk.g.vec
	ws, b := wk.ws[t], &p.b[t]
	if b.cs == 1 {
		for i := range m {
			clear(ws[i*wk.npad+j0 : i*wk.npad+j0+ceilDiv(w, vec)*vec])
		}
		mask := 0
		if r := w % vec; r != 0 {
			mask = 1<<r - 1
		}
		g.n(m, k, unsafe.Pointer(&wk.rows[0]), uintptr(k*4), b.at(0, j0), uintptr(b.rs*4),
			unsafe.Pointer(&ws[j0]), uintptr(wk.npad*4), w/vec, mask)
		return
	}
	for j := j0; j < j0+w; j += vec {
		c := ws[j*m : (j+vec)*m]
		clear(c)
		rows := min(vec, j0+w-j)
		kk := gemvWords(p.spec, k)
		kt, kr := kk/vec, kk%vec
		if rows < vec {
			kt, kr = 0, kk // a partial tile is gathered for all k
		}
		g.t(m, kt, kr, unsafe.Pointer(&wk.tiles[0]), b.at(0, j), uintptr(b.cs*b.size()), unsafe.Pointer(&c[0]), 1<<rows-1)
	}
}

// accRow returns the accumulators of row i, columns j0..j0+w-1, for B operand t, copied
// into buf when they are not contiguous.
func (p *problem) accRow(wk *gemvWork, t, i, j0, w int, buf []float32) []float32 {
	ws, vec := wk.ws[t], wk.g.vec
	if p.b[t].cs == 1 {
		return ws[i*wk.npad+j0 : i*wk.npad+j0+w]
	}
	for j := j0; j < j0+w; j += vec {
		n := min(vec, j0+w-j)
		copy(buf[j-j0:j-j0+n], ws[(j/vec*p.m+i)*vec:])
	}
	return buf[:w]
}

// gemvFinish turns the accumulators of columns j0..j0+w-1 into the output, as the
// blocked path does: in direct mode they are scaled by alpha into out (the kernel's
// last K block), then the finisher, if any, runs on each row segment.
func (p *problem) gemvFinish(s *scratch, wk *gemvWork, j0, w int) {
	for i := range p.m {
		var acc [2][]float32
		for t := range p.nb {
			acc[t] = p.accRow(wk, t, i, j0, w, s.gv[t][:])
		}
		if p.direct {
			dst := unsafe.Slice((*float32)(p.out.at(i, j0)), w)
			for j, v := range acc[0] {
				if p.alpha != 1 {
					v *= p.alpha
				}
				dst[j] = v
			}
			acc[0] = dst
		}
		// The finisher's scratch holds maxNC columns.
		for c := 0; p.fin != nil && c < w; c += maxNC {
			e := min(w, c+maxNC)
			var part [2][]float32
			for t := range p.nb {
				part[t] = acc[t][c:e]
			}
			p.fin.finish(&p.out, i, j0+c, part, s.tmp[:e-c])
		}
	}
}
