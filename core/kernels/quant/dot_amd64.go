//go:build !purego

package quant

import (
	"unsafe"

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
	i4XLen:    blockXLen,
	prepXI4:   prepXBlocks,
	dotI8:     dotI8AVX2,
	dotI8Run:  dotI8RunAVX2,
	dotI8Pair: dotI8PairAVX2,
	dotU8:     dotU8AVX2,
	prepI4:    prepI4Blocks,
	dotI4:     dotI4AVX2,
	dotI4Pair: dotI4PairAVX2,
	dotI4Run:  dotI4RunAVX2,
	widenF16:  widenF16Best(),
	widenBF16: widenBF16AVX2,
}

var avx512Kernels = func() kernelSet {
	ks := kernelSet{
		dotI8:     dotI8AVX512,
		dotI8Run:  dotI8RunAVX512,
		dotI8Pair: dotI8PairAVX512,
		dotU8:     dotU8AVX512,
		i4XLen:    blockXLen,
		prepXI4:   prepXVnni,
		prepI4:    prepI4Blocks,
		dotI4:     dotI4Vnni,
		dotI4Pair: dotI4PairOf(dotI4Vnni),
		dotI4Run:  dotI4RunVnni,
		dotI4Run2: dotI4Run2Vnni,
		// The integer kernel's cost is its products, which two rows of x cannot share:
		// runs of weight rows per row of x beat pairs.
		i4RunsAnyRows: true,
		widenF16:      widenF16Best(),
		widenBF16:     widenBF16AVX2,
	}
	if !vnniKernels {
		ks.prepXI4, ks.dotI4, ks.dotI4Pair, ks.dotI4Run = avx2Kernels.prepXI4, avx2Kernels.dotI4, avx2Kernels.dotI4Pair, avx2Kernels.dotI4Run
		ks.dotI4Run2, ks.i4RunsAnyRows = nil, false
	}
	return ks
}()

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
		dotI8RunAVX512Asm(&x[0], unsafe.Pointer(&q[0]), n, &s, &z, &sum, 1)
	}
	return sum + dotI8Generic(x[n:], q[n:], s, z)
}

// dotI8PairAVX512 sets out = {(w0, x0), (w0, x1), (w1, x0), (w1, x1)} as dotI8AVX512
// computes each, for x0 = x[:len(w0)] and x1 = x[ld:], in one pass.
func dotI8PairAVX512(x []float32, ld int, w0, w1 []int8, s0, s1 float32, z0, z1 int32, out []float32) {
	_, _, _ = x[ld+len(w0)-1], w1[len(w0)-1], out[3]
	dotI8Pair2x2AVX512Asm(&x[0], 4*ld, unsafe.Pointer(&w0[0]), unsafe.Pointer(&w1[0]), len(w0), s0, s1, z0, z1, &out[0])
}

// dotI8RunAVX512 is dotI8AVX512 for len(out) consecutive rows in one call.
func dotI8RunAVX512(x []float32, q unsafe.Pointer, in int, s []float32, z []int32, out []float32) {
	_, _, _ = x[in-1], s[len(out)-1], z[len(out)-1]
	dotI8RunAVX512Asm(&x[0], q, in, &s[0], &z[0], &out[0], len(out))
}

func dotI8AVX2(x []float32, q []int8, s float32, z int32) float32 {
	n := len(q) &^ 15
	var sum float32
	if n > 0 {
		dotI8RunAVX2Asm(&x[0], unsafe.Pointer(&q[0]), n, &s, &z, &sum, 1)
	}
	return sum + dotI8Generic(x[n:], q[n:], s, z)
}

// dotI8RunAVX2 is dotI8AVX2 for len(out) consecutive rows in one call.
func dotI8RunAVX2(x []float32, q unsafe.Pointer, in int, s []float32, z []int32, out []float32) {
	_, _, _ = x[in-1], s[len(out)-1], z[len(out)-1]
	dotI8RunAVX2Asm(&x[0], q, in, &s[0], &z[0], &out[0], len(out))
}

// dotI8PairAVX2 sets out = {(w0, x0), (w0, x1), (w1, x0), (w1, x1)} as dotI8AVX2
// computes each, for x0 = x[:len(w0)] and x1 = x[ld:], dequantizing each weight block
// once for both rows of x.
func dotI8PairAVX2(x []float32, ld int, w0, w1 []int8, s0, s1 float32, z0, z1 int32, out []float32) {
	_, _, _ = x[ld+len(w0)-1], w1[len(w0)-1], out[3]
	var o [2]float32
	dotI8TwoAVX2Asm(&x[0], 4*ld, &w0[0], len(w0), s0, z0, &o)
	out[0], out[1] = o[0], o[1]
	dotI8TwoAVX2Asm(&x[0], 4*ld, &w1[0], len(w0), s1, z1, &o)
	out[2], out[3] = o[0], o[1]
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

// i4Groups describes a group size to the block kernels (the field offsets are read by
// the assembly): lane d of a block of 128 takes the parameter lane[d] groups after the
// block's first group; mask has a bit for each group a block spans, step is their size
// in bytes.
type i4Groups struct {
	lane [16]int32
	mask int64
	step int64
}

// blockGroups[shift] is the i4Groups of group size 32 << shift.
var blockGroups = func() (t [3]i4Groups) {
	for shift := range t {
		n := 4 >> shift // groups per block
		for d := range 16 {
			t[shift].lane[d] = int32(8 * d >> (shift + 5))
		}
		t[shift].mask, t[shift].step = 1<<n-1, int64(4*n)
	}
	return t
}()

// prepI4Blocks stores, for the asymmetric format, c[g] = -(z[g]·s[g]) in row.tab[:ng]:
// the block kernels sum ŵ = (n - z)·s as s·Σ n·x + c·Σ x.
func prepI4Blocks(row *i4Row) {
	if row.kind == i4Asym {
		asymOffsets(row.tab, row.s, row.z)
	}
}

// blockXLen is i4XLen of the block kernels: x, then 16 lane sums per whole block of 128.
func blockXLen(in int) int { return in + in/128*16 }

// prepXBlocks writes x as the 4-bit block kernels read it: each whole block of 128 as
// dst[128b+16m+d] = x[128b+8d+m] (lane d of vector m holds the weight that nibble m of
// dword d encodes), the remaining blocks of 32 as permute32, and after them the lane sums
// dst[in+16b+d] = Σ_m x[128b+8d+m], added in increasing m.
func prepXBlocks(dst, x []float32) {
	in := len(x)
	nb := in / 128
	sums := dst[in : in+16*nb]
	for b := range nb {
		xb, db := x[128*b:][:128], dst[128*b:][:128]
		for d := range 16 {
			var sum float32
			for m, v := range xb[8*d : 8*d+8] {
				db[16*m+d] = v
				sum += v
			}
			sums[16*b+d] = sum
		}
	}
	permute32(dst[128*nb:in], x[128*nb:])
}

// vnniKernels reports whether the CPU has the instructions of the AVX-512 4-bit kernels
// (VPDPBUSD and GF2P8AFFINEQB); without them the AVX-512 path uses the AVX2 ones.
var vnniKernels = x86.X86.HasAVX512VNNI && x86.X86.HasAVX512GFNI

// prepXVnni writes x as the AVX-512 4-bit kernels read it: each whole block of 128 as
// prepXVnniAsm lays it out (512 bytes, 128 floats' room), the remaining blocks of 32 as
// permute32, and after them the lane sums of every whole block as prepXBlocks does.
func prepXVnni(dst, x []float32) {
	in := len(x)
	nb := in / 128
	if nb > 0 {
		_ = dst[in+16*nb-1]
		prepXVnniAsm(unsafe.Pointer(&dst[0]), &x[0], &dst[in], nb)
	}
	permute32(dst[128*nb:in], x[128*nb:])
}

// dotI4Vnni takes the whole blocks of 128 through the integer block kernel (see
// dotI4VnniRunAsm) and any last blocks of 32 through the table kernels.
func dotI4Vnni(xp []float32, w []byte, row *i4Row) float32 {
	var sum float32
	if nb := len(w) / 64; nb > 0 {
		gs, c := blockParams(row, nb)
		_ = xp[len(w)*2+16*nb-1]
		dotI4VnniRunAsm(&xp[0], &xp[2*len(w)], unsafe.Pointer(&w[0]), 0, unsafe.Pointer(&row.s[0]), 0, firstOrNil(c), 0, nb, gs, &sum, 1)
	}
	return dotI4Rest(xp, w, row, sum)
}

// dotI4Run2Vnni runs the two-row integer block kernel over every row of run (whole
// blocks only) for x rows xs and xs[ld:].
func dotI4Run2Vnni(xs []float32, ld int, run *i4Run, out []float32) {
	nb, rows := run.in/128, len(out)/2
	_ = xs[ld+run.in+16*nb-1]
	dotI4VnniRun2Asm(&xs[0], &xs[run.in], 4*ld, run.w, run.wld, run.s, run.sld, run.c, run.cld, nb, &blockGroups[run.shift], &out[0], rows)
}

// dotI4RunVnni runs the integer block kernel over every row of run (whole blocks only).
func dotI4RunVnni(xp []float32, run *i4Run, out []float32) {
	nb := run.in / 128
	_ = xp[run.in+16*nb-1]
	dotI4VnniRunAsm(&xp[0], &xp[run.in], run.w, run.wld, run.s, run.sld, run.c, run.cld, nb, &blockGroups[run.shift], &out[0], len(out))
}

// firstOrNil returns the address of c's first element, or nil for an empty c (the
// symmetric format's offsets, which the block kernels then skip).
func firstOrNil(c []float32) unsafe.Pointer {
	if len(c) == 0 {
		return nil
	}
	return unsafe.Pointer(&c[0])
}

// blockParams returns the group description of row's group size for the block kernels,
// and the per-group offsets c (nil for the symmetric format), checking that the nb
// blocks' parameters exist.
func blockParams(row *i4Row, nb int) (*i4Groups, []float32) {
	gs := &blockGroups[row.shift]
	last := (nb-1)*4>>row.shift + int(gs.lane[15])
	_ = row.s[last]
	switch row.kind {
	case i4Asym:
		return gs, row.tab[:last+1]
	case i4Affine:
		return gs, row.b[:last+1]
	}
	return gs, nil
}

// dotI4Rest adds to sum the blocks of 32 after the last whole block of 128.
func dotI4Rest(xp []float32, w []byte, row *i4Row, sum float32) float32 {
	nb := len(w) / 64
	nblk := (len(w) - 64*nb) / 16
	if nblk == 0 {
		return sum
	}
	// The rest starts at group g0 (block 4·nb of 32, a multiple of 1 << shift).
	g0, k0 := 4*nb>>row.shift, 4*nb
	last := g0 + (nblk-1)>>row.shift
	xt, wt := xp[32*k0:2*len(w)], w[16*k0:]
	_ = row.s[last]
	switch row.kind {
	case i4Sym:
		return sum + dotI4SymAVX512Asm(&xt[0], &wt[0], &row.s[g0], nblk, row.shift, &signedLevels)
	case i4Asym:
		_ = row.z[last]
		return sum + dotI4AsymAVX512Asm(&xt[0], &wt[0], &row.s[g0], &row.z[g0], nblk, row.shift, &nibbleOffsets)
	}
	_ = row.b[last]
	return sum + dotI4AffAVX512Asm(&xt[0], &wt[0], &row.s[g0], &row.b[g0], nblk, row.shift, &unsignedLevels)
}

// i4GroupsY is i4Groups for the AVX2 block kernel (field offsets read by the assembly):
// lane as there (the first 8 entries for a block's low half, the last 8 for its high
// half), mask the VMASKMOVPS mask of the groups a block spans, step their size in bytes.
type i4GroupsY struct {
	lane [16]int32
	mask [8]int32
	step int64
}

// blockGroupsY[shift] is the i4GroupsY of group size 32 << shift.
var blockGroupsY = func() (t [3]i4GroupsY) {
	for shift, g := range blockGroups {
		t[shift].lane, t[shift].step = g.lane, g.step
		for i := range 4 >> shift {
			t[shift].mask[i] = -1
		}
	}
	return t
}()

// dotI4AVX2 takes the whole blocks of 128 through the AVX2 block kernel, which sums the
// levels times x per lane and multiplies by the group's scale once per block (the
// asymmetric and affine formats add c·Σx per lane, with c = -z·s or the bias), and any
// last blocks of 32 through dotI4RestGo.
func dotI4AVX2(xp []float32, w []byte, row *i4Row) float32 {
	var sum float32
	if nb := len(w) / 64; nb > 0 {
		_, c := blockParams(row, nb)
		_ = xp[len(w)*2+16*nb-1]
		dotI4BlkRunAVX2Asm(&xp[0], &xp[2*len(w)], unsafe.Pointer(&w[0]), 0, unsafe.Pointer(&row.s[0]), 0, firstOrNil(c), 0, nb, &blockGroupsY[row.shift], &sum, 1)
	}
	return dotI4RestGo(xp, w, row, sum)
}

// dotI4PairAVX2 runs each weight row through the AVX2 pair kernel on pairs of x rows
// (each half block of weights decoded once for both), then any last x row through
// dotI4AVX2: the bits of dotI4AVX2 for every output.
func dotI4PairAVX2(xs []float32, ld int, w0, w1 []byte, row0, row1 *i4Row, out0, out1 []float32) {
	m := 0
	for ; m+2 <= len(out0); m += 2 {
		xp := xs[m*ld:]
		out0[m], out0[m+1] = dotI4TwoAVX2(xp, ld, w0, row0)
		out1[m], out1[m+1] = dotI4TwoAVX2(xp, ld, w1, row1)
	}
	for ; m < len(out0); m++ {
		out0[m], out1[m] = dotI4AVX2(xs[m*ld:], w0, row0), dotI4AVX2(xs[m*ld:], w1, row1)
	}
}

// dotI4TwoAVX2 returns dotI4AVX2(xp, w, row) and dotI4AVX2(xp[ld:], w, row).
func dotI4TwoAVX2(xp []float32, ld int, w []byte, row *i4Row) (float32, float32) {
	var o [2]float32
	if nb := len(w) / 64; nb > 0 {
		_, c := blockParams(row, nb)
		_ = xp[ld+len(w)*2+16*nb-1]
		dotI4BlkPairAVX2Asm(&xp[0], &xp[2*len(w)], 4*ld, unsafe.Pointer(&w[0]), unsafe.Pointer(&row.s[0]), firstOrNil(c), nb, &blockGroupsY[row.shift], &o)
	}
	return dotI4RestGo(xp, w, row, o[0]), dotI4RestGo(xp[ld:], w, row, o[1])
}

// dotI4RestGo adds to sum the blocks of 32 after the last whole block of 128 (at most
// three, in permute32's layout), each weight dequantized exactly and its product added
// in order: the AVX2 path's tail.
func dotI4RestGo(xp []float32, w []byte, row *i4Row, sum float32) float32 {
	k0 := len(w) / 64 * 4
	for k := k0; k < len(w)/16; k++ {
		g := k >> row.shift
		xb := xp[32*k:][:32]
		for i, v := range w[16*k : 16*k+16] {
			sum += xb[i] * dequantI4(row, g, v&15)
			sum += xb[16+i] * dequantI4(row, g, v>>4)
		}
	}
	return sum
}

// dotI4RunAVX2 runs the AVX2 block kernel over every row of run (whole blocks only).
func dotI4RunAVX2(xp []float32, run *i4Run, out []float32) {
	nb := run.in / 128
	_ = xp[run.in+16*nb-1]
	dotI4BlkRunAVX2Asm(&xp[0], &xp[run.in], run.w, run.wld, run.s, run.sld, run.c, run.cld, nb, &blockGroupsY[run.shift], &out[0], len(out))
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
func dotI8RunAVX512Asm(x *float32, q unsafe.Pointer, n int, s *float32, z *int32, out *float32, rows int)

//go:noescape
func dotI8RunAVX2Asm(x *float32, q unsafe.Pointer, n int, s *float32, z *int32, out *float32, rows int)

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
func dotI8TwoAVX2Asm(x *float32, ldx int, q *int8, n int, s float32, z int32, out *[2]float32)

//go:noescape
func dotI4BlkPairAVX2Asm(xp, sx *float32, ld int, w, s, c unsafe.Pointer, nblk int, gs *i4GroupsY, out *[2]float32)

//go:noescape
func dotI4BlkRunAVX2Asm(xp, sx *float32, w unsafe.Pointer, wld int, s unsafe.Pointer, sld int, c unsafe.Pointer, cld int, nblk int, gs *i4GroupsY, out *float32, rows int)

//go:noescape
func widenF16AVX2Asm(dst *float32, src *uint16, n int)

//go:noescape
func widenBF16AVX2Asm(dst *float32, src *uint16, n int)

//go:noescape
func dotI8Pair2x2AVX512Asm(x *float32, ldx int, q0, q1 unsafe.Pointer, n int, s0, s1 float32, z0, z1 int32, out *float32)

//go:noescape
func dotI4VnniRunAsm(xp, sx *float32, w unsafe.Pointer, wld int, s unsafe.Pointer, sld int, c unsafe.Pointer, cld int, nblk int, gs *i4Groups, out *float32, rows int)

//go:noescape
func prepXVnniAsm(dst unsafe.Pointer, x, sums *float32, nblk int)

//go:noescape
func dotI4VnniRun2Asm(xp, sx *float32, ldx int, w unsafe.Pointer, wld int, s unsafe.Pointer, sld int, c unsafe.Pointer, cld int, nblk int, gs *i4Groups, out *float32, rows int)
