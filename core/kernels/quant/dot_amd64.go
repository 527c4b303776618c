//go:build !purego

package quant

import (
	"github.com/mlxprim/mlxprim/core/cpu"
	x86 "golang.org/x/sys/cpu"
)

// kernelsFor returns the kernel set of path isa, best first. The table builders and
// widening use AVX2 on both vector paths: they run once per group, not per weight.
func kernelsFor(isa cpu.ISA) *kernelSet {
	switch isa {
	case cpu.AVX512:
		return &avx512Kernels
	case cpu.AVX2:
		return &avx2Kernels
	}
	return &genericKernels
}

// nibbleCodes[n] is n as an int32, for the AVX2 zero-point subtraction.
var nibbleCodes = [16]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// nibbleOffsets[z][n] = float32(n - z): the asymmetric table of zero point z before
// scaling, for every byte value a zeros tensor may hold.
var nibbleOffsets = func() (t [256][16]float32) {
	for z := range t {
		for n := range t[z] {
			t[z][n] = float32(n - z)
		}
	}
	return t
}()

var avx2Kernels = kernelSet{
	dotI8:     dotI8AVX2,
	dotU8:     dotU8AVX2,
	prepI4:    prepI4AVX2,
	dotI4:     dotI4AVX2,
	dotI4x2:   dotI4x2AVX2,
	tabSym:    tabSymAVX2,
	tabAsym:   tabAsymAVX2,
	tabAffine: tabAffineAVX2,
	widenF16:  widenF16Best(),
	widenBF16: widenBF16AVX2,
}

var avx512Kernels = kernelSet{
	dotI8:     dotI8AVX512,
	dotU8:     dotU8AVX512,
	prepI4:    func(*i4Row) {}, // tables are built in registers
	dotI4:     dotI4AVX512,
	dotI4x2:   dotI4x2AVX512,
	tabSym:    tabSymAVX2,
	tabAsym:   tabAsymAVX2,
	tabAffine: tabAffineAVX2,
	widenF16:  widenF16Best(),
	widenBF16: widenBF16AVX2,
}

// widenF16Best uses the F16C conversion when the CPU has it (every AVX2 CPU in practice).
func widenF16Best() func(dst []float32, src []uint16) {
	if x86.X86.HasF16C {
		return widenF16AVX2
	}
	return widenF16Generic
}

// Go wrappers: the assembly handles whole vectors; leftovers use the generic code.

func dotI8AVX512(x []float32, q []int8, s float32, z int32) float32 {
	n := len(q) &^ 15
	var sum float32
	if n > 0 {
		sum = dotI8AVX512Asm(&x[0], &q[0], n, s, z)
	}
	return sum + dotI8Generic(x[n:], q[n:], s, z)
}

func dotI8AVX2(x []float32, q []int8, s float32, z int32) float32 {
	n := len(q) &^ 15
	var sum float32
	if n > 0 {
		sum = dotI8AVX2Asm(&x[0], &q[0], n, s, z)
	}
	return sum + dotI8Generic(x[n:], q[n:], s, z)
}

func dotU8AVX512(x []float32, q []byte, s, b []float32, shift uint) float32 {
	if len(q) == 0 {
		return 0
	}
	_ = x[len(q)-1]
	_ = s[(len(q)-1)>>shift]
	_ = b[(len(q)-1)>>shift]
	return dotU8AVX512Asm(&x[0], &q[0], &s[0], &b[0], len(q), shift)
}

func dotU8AVX2(x []float32, q []byte, s, b []float32, shift uint) float32 {
	if len(q) == 0 {
		return 0
	}
	_ = x[len(q)-1]
	_ = s[(len(q)-1)>>shift]
	_ = b[(len(q)-1)>>shift]
	return dotU8AVX2Asm(&x[0], &q[0], &s[0], &b[0], len(q), shift)
}

func prepI4AVX2(row *i4Row) {
	buildTables(row, tabSymAVX2, tabAsymAVX2, tabAffineAVX2)
}

func dotI4AVX512(xp []float32, w []byte, row *i4Row) float32 {
	nblk := len(w) / 16
	if nblk == 0 {
		return 0
	}
	last := (nblk - 1) >> row.shift
	_ = xp[32*nblk-1]
	_ = row.s[last]
	switch row.kind {
	case i4Sym:
		return dotI4SymAVX512Asm(&xp[0], &w[0], &row.s[0], nblk, row.shift, &signedLevels)
	case i4Asym:
		_ = row.z[last]
		return dotI4AsymAVX512Asm(&xp[0], &w[0], &row.s[0], &row.z[0], nblk, row.shift, &nibbleOffsets)
	}
	_ = row.b[last]
	return dotI4AffAVX512Asm(&xp[0], &w[0], &row.s[0], &row.b[0], nblk, row.shift, &unsignedLevels)
}

func dotI4x2AVX512(xp []float32, w0, w1 []byte, row0, row1 *i4Row) (float32, float32) {
	nblk := len(w0) / 16
	if nblk == 0 || len(w1) != len(w0) || row0.kind != row1.kind || row0.shift != row1.shift {
		return dotI4AVX512(xp, w0, row0), dotI4AVX512(xp, w1, row1)
	}
	last := (nblk - 1) >> row0.shift
	_ = xp[32*nblk-1]
	_, _ = row0.s[last], row1.s[last]
	var out [2]float32
	switch row0.kind {
	case i4Sym:
		dotI4SymX2AVX512Asm(&xp[0], &w0[0], &w1[0], &row0.s[0], &row1.s[0], nblk, row0.shift, &signedLevels, &out)
	case i4Asym:
		_, _ = row0.z[last], row1.z[last]
		dotI4AsymX2AVX512Asm(&xp[0], &w0[0], &w1[0], &row0.s[0], &row1.s[0], &row0.z[0], &row1.z[0], nblk, row0.shift, &nibbleOffsets, &out)
	default:
		_, _ = row0.b[last], row1.b[last]
		dotI4AffX2AVX512Asm(&xp[0], &w0[0], &w1[0], &row0.s[0], &row1.s[0], &row0.b[0], &row1.b[0], nblk, row0.shift, &unsignedLevels, &out)
	}
	return out[0], out[1]
}

func dotI4x2AVX2(xp []float32, w0, w1 []byte, row0, row1 *i4Row) (float32, float32) {
	return dotI4AVX2(xp, w0, row0), dotI4AVX2(xp, w1, row1)
}

func dotI4AVX2(xp []float32, w []byte, row *i4Row) float32 {
	nblk := len(w) / 16
	if nblk == 0 {
		return 0
	}
	_ = xp[32*nblk-1]
	_ = row.tab[16*((nblk-1)>>row.shift)+15]
	return dotI4AVX2Asm(&xp[0], &w[0], &row.tab[0], nblk, row.shift)
}

func tabSymAVX2(tab, s []float32) {
	if len(s) > 0 {
		_ = tab[16*len(s)-1]
		tabSymAVX2Asm(&tab[0], &s[0], len(s), &signedLevels)
	}
}

func tabAsymAVX2(tab, s []float32, z []byte) {
	if len(s) > 0 {
		_ = tab[16*len(s)-1]
		_ = z[len(s)-1]
		tabAsymAVX2Asm(&tab[0], &s[0], &z[0], len(s), &nibbleCodes)
	}
}

func tabAffineAVX2(tab, s, b []float32) {
	if len(s) > 0 {
		_ = tab[16*len(s)-1]
		_ = b[len(s)-1]
		tabAffineAVX2Asm(&tab[0], &s[0], &b[0], len(s), &unsignedLevels)
	}
}

func widenF16AVX2(dst []float32, src []uint16) {
	n := len(dst) &^ 7
	if n > 0 {
		_ = src[n-1]
		widenF16AVX2Asm(&dst[0], &src[0], n)
	}
	widenF16Generic(dst[n:], src[n:])
}

func widenBF16AVX2(dst []float32, src []uint16) {
	n := len(dst) &^ 7
	if n > 0 {
		_ = src[n-1]
		widenBF16AVX2Asm(&dst[0], &src[0], n)
	}
	widenBF16Generic(dst[n:], src[n:])
}

// Assembly routines (dot_amd64.s). Each is documented there by the Go loop it computes.

//go:noescape
func dotI8AVX512Asm(x *float32, q *int8, n int, s float32, z int32) float32

//go:noescape
func dotI8AVX2Asm(x *float32, q *int8, n int, s float32, z int32) float32

//go:noescape
func dotU8AVX512Asm(x *float32, q *byte, s, b *float32, n int, shift uint) float32

//go:noescape
func dotU8AVX2Asm(x *float32, q *byte, s, b *float32, n int, shift uint) float32

//go:noescape
func dotI4SymAVX512Asm(xp *float32, w *byte, s *float32, nblk int, shift uint, levels *[16]float32) float32

//go:noescape
func dotI4AsymAVX512Asm(xp *float32, w *byte, s *float32, z *byte, nblk int, shift uint, offsets *[256][16]float32) float32

//go:noescape
func dotI4AffAVX512Asm(xp *float32, w *byte, s, b *float32, nblk int, shift uint, levels *[16]float32) float32

//go:noescape
func dotI4SymX2AVX512Asm(xp *float32, w, w2 *byte, s, s2 *float32, nblk int, shift uint, levels *[16]float32, out *[2]float32)

//go:noescape
func dotI4AsymX2AVX512Asm(xp *float32, w, w2 *byte, s, s2 *float32, z, z2 *byte, nblk int, shift uint, offsets *[256][16]float32, out *[2]float32)

//go:noescape
func dotI4AffX2AVX512Asm(xp *float32, w, w2 *byte, s, s2, b, b2 *float32, nblk int, shift uint, levels *[16]float32, out *[2]float32)

//go:noescape
func dotI4AVX2Asm(xp *float32, w *byte, tab *float32, nblk int, shift uint) float32

//go:noescape
func tabSymAVX2Asm(tab, s *float32, ng int, levels *[16]float32)

//go:noescape
func tabAsymAVX2Asm(tab, s *float32, z *byte, ng int, codes *[16]int32)

//go:noescape
func tabAffineAVX2Asm(tab, s, b *float32, ng int, levels *[16]float32)

//go:noescape
func widenF16AVX2Asm(dst *float32, src *uint16, n int)

//go:noescape
func widenBF16AVX2Asm(dst *float32, src *uint16, n int)
