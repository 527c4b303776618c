package quant

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
)

// The micro-kernels behind the linear layers. Each path (generic, AVX2, AVX-512) provides
// the same set; dot_generic.go holds the definitions, dot_amd64.s the fast versions, and
// kernelsFor (dot_amd64.go, dot_other.go) picks one set at call time from cpu.Selected().
//
// Every dot kernel computes Σ_j x[j]·ŵ[j] in float32 from the exact dequantized weight
// ŵ, or with the weight's scale taken out of the sum (int8: s·Σx·f32(q-z); the AVX2 and
// AVX-512 4-bit kernels: s·Σn·x per group); paths differ only in the (fixed) order of
// the float32 additions and in whether each product is rounded (plain Go) or fused into
// the addition (FMA). The one exception is the AVX-512 4-bit kernels (with VNNI and
// GFNI): they round x to 23-bit fixed point per cell of 8 elements, which adds at most
// 2^-22·max|x_cell|·Σ_cell|ŵ| per cell, then sum each block's products exactly in
// integers (see dotI4VnniRunAsm). An Inf or NaN in x makes their result NaN.
//
// The 4-bit kernels read x as the path's prepXI4 lays it out: on the generic path
// permuted in blocks of 32 (see permute32): the 16 even elements of a block first, then
// the 16 odd ones, so that the low nibbles of the block's 16 bytes meet x's first half and
// the high nibbles its second half; on AVX2 in blocks of 128 (see prepXBlocks); on
// AVX-512 as integers in blocks of 128 (see prepXVnni).
type kernelSet struct {
	// dotI8 returns (Σ_j x[j]·f32(q[j]-z))·s over j < len(q), len(x) >= len(q): the
	// scale multiplies the sum once (the weight itself would be f32(q-z)·s).
	dotI8 func(x []float32, q []int8, s float32, z int32) float32
	// dotI8Run, where a path has it (nil elsewhere), sets out[i] to dotI8(x, q_i, s[i],
	// z[i]) bit for bit for len(out) consecutive weight rows q_i of in bytes (a multiple
	// of 16) from q, in one call instead of one per row.
	dotI8Run func(x []float32, q unsafe.Pointer, in int, s []float32, z []int32, out []float32)
	// dotI8Pair, where a path has it (nil elsewhere), sets out[0..3] to dotI8 of (w0, x0),
	// (w0, x1), (w1, x0), (w1, x1) bit for bit, with x0 = x[:len(w0)], x1 = x[ld:],
	// len(w0) = len(w1) a multiple of 16: two weight rows against two rows of x.
	dotI8Pair func(x []float32, ld int, w0, w1 []int8, s0, s1 float32, z0, z1 int32, out []float32)
	// dotU8 returns Σ_j x[j]·(f32(f32(q[j])·s[g]) + b[g]) with g = j >> shift; len(q) is a
	// multiple of 32 and shift >= 5 (groups of at least 32).
	dotU8 func(x []float32, q []byte, s, b []float32, shift uint) float32
	// prepI4 readies a 4-bit row for dotI4 (paths that read tables from memory build
	// row.tab here; the others need nothing). It is called once per weight row.
	prepI4 func(row *i4Row)
	// i4XLen is the length of an activation row of in elements (a multiple of 32) as the
	// 4-bit kernels read it; prepXI4 writes x (len(x) = in) in that form into dst.
	i4XLen  func(in int) int
	prepXI4 func(dst, x []float32)
	// dotI4 returns Σ_j x[j]·ŵ[j] over the 2·len(w) weights of w (a multiple of 32), where
	// xp = prepXI4(x). The generic definition, over blocks k of 16 bytes of w:
	// Σ_i xp[32k+i]·t[w[16k+i]&15] + xp[32k+16+i]·t[w[16k+i]>>4], where t is the table of
	// the block's group g = k >> row.shift: t[n] = the dequantized value of nibble n (see
	// i4Row). The AVX-512 and AVX2 paths multiply by the group's scale after summing the
	// levels times x (see dotI4AVX2 and dotI4Vnni).
	dotI4 func(xp []float32, w []byte, row *i4Row) float32
	// dotI4Pair sets out0[m] = dotI4(xs[m*ld:], w0, row0) and out1[m] = dotI4(xs[m*ld:],
	// w1, row1) for m < len(out0) = len(out1), bit for bit; paths may use each block of
	// x for both weight rows in one pass and decode each weight block once for two rows
	// of x.
	dotI4Pair func(xs []float32, ld int, w0, w1 []byte, row0, row1 *i4Row, out0, out1 []float32)
	// dotI4Run, where a path has it (nil elsewhere), sets out[i] to dotI4(xp, w_i, row_i)
	// bit for bit for the len(out) consecutive weight rows of run (see i4Run), in one
	// call instead of one per row.
	dotI4Run func(xp []float32, run *i4Run, out []float32)
	// dotI4Run2, where a path has it (nil elsewhere), is dotI4Run for two rows of x, xs
	// and xs[ld:]: out[i] and out[n+i] (len(out) = 2n) get the bits dotI4Run gives each.
	dotI4Run2 func(xs []float32, ld int, run *i4Run, out []float32)
	// i4RunsAnyRows is set where dotI4Run is also the fastest way for several rows of x
	// (one call per row of x and run of weight rows) rather than dotI4Pair.
	i4RunsAnyRows bool
	// widenF16 and widenBF16 convert len(dst) half-precision values to float32 exactly.
	widenF16  func(dst []float32, src []uint16)
	widenBF16 func(dst []float32, src []uint16)
}

// i4Kind names the three 4-bit formats.
type i4Kind int

const (
	i4Sym    i4Kind = iota // ŵ = f32(signed nibble)·s
	i4Asym                 // ŵ = f32(nibble - z)·s
	i4Affine               // ŵ = f32(f32(nibble)·s) + b (MLX)
)

// i4Run is a run of weight rows of one 4-bit format for dotI4Run, every row of in
// weights (a multiple of 128): row i's packed weights at w + i·wld bytes, its float32
// group scales at s + i·sld and, for the asymmetric and affine formats, its float32
// group offsets c at c + i·cld: -z·s (as prepI4 makes them on AVX-512), or the bias.
type i4Run struct {
	kind          i4Kind
	shift         uint
	in            int
	w, s, c       unsafe.Pointer
	wld, sld, cld int
}

// asymOffsets sets c[g] = -(z[g]·s[g]) for g < len(s): the asymmetric format's ŵ = (n -
// z)·s summed as s·Σ n·x + c·Σ x by the AVX-512 block kernels.
func asymOffsets(c, s []float32, z []byte) {
	for g, sg := range s {
		c[g] = -(float32(z[g]) * sg)
	}
}

// i4Row is one weight row of a 4-bit format: per-group parameters and table scratch.
type i4Row struct {
	kind  i4Kind
	s, b  []float32 // per-group scale, and bias for i4Affine
	z     []byte    // per-group zero point for i4Asym
	shift uint      // log2(group) - 5: the block-to-group shift
	tab   []float32 // 16 floats per group, filled by prepI4 where a path needs it
}

// dequantI4 is ŵ of nibble n in group g of row (see i4Kind): the one definition the
// generic tables and the AVX2 tail use.
func dequantI4(row *i4Row, g int, n byte) float32 {
	switch row.kind {
	case i4Sym:
		return signedLevels[n] * row.s[g]
	case i4Asym:
		return float32(int32(n)-int32(row.z[g])) * row.s[g]
	}
	return float32(float32(n)*row.s[g]) + row.b[g]
}

// selectKernels returns the kernel set of the path in use now.
func selectKernels() *kernelSet { return kernelsFor(cpu.Selected()) }

// genericKernels is the plain-Go set: the definition of every kernel and the test oracle.
var genericKernels = kernelSet{
	dotI8:     dotI8Generic,
	dotU8:     dotU8Generic,
	i4XLen:    func(in int) int { return in },
	prepXI4:   permute32,
	prepI4:    prepI4Generic,
	dotI4:     dotI4Generic,
	dotI4Pair: dotI4PairOf(dotI4Generic),
	widenF16:  widenF16Generic,
	widenBF16: widenBF16Generic,
}

// dotI4PairOf is dotI4Pair made of one dot call per output.
func dotI4PairOf(dot func(xp []float32, w []byte, row *i4Row) float32) func(xs []float32, ld int, w0, w1 []byte, row0, row1 *i4Row, out0, out1 []float32) {
	return func(xs []float32, ld int, w0, w1 []byte, row0, row1 *i4Row, out0, out1 []float32) {
		for m := range out0 {
			out0[m], out1[m] = dot(xs[m*ld:], w0, row0), dot(xs[m*ld:], w1, row1)
		}
	}
}

// permute32 writes src into dst with each block of 32 reordered as the 4-bit kernels read
// it: dst[32k+i] = src[32k+2i] and dst[32k+16+i] = src[32k+2i+1] for i < 16. len(src)
// is a multiple of 32.
func permute32(dst, src []float32) {
	for k := 0; k+32 <= len(src); k += 32 {
		d, s := dst[k:k+32], src[k:k+32]
		for i := range 16 {
			d[i], d[16+i] = s[2*i], s[2*i+1]
		}
	}
}

// Nibble values the table builders start from.
var (
	// signedLevels[k] is the two's complement value of nibble k.
	signedLevels = [16]float32{0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1}
	// unsignedLevels[k] is k.
	unsignedLevels = [16]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)
