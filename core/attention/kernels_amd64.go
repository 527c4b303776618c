//go:build !purego

package attention

import (
	"math"
	"unsafe"

	xcpu "golang.org/x/sys/cpu"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// AVX-512 and AVX2 kernels (kernels_avx512_amd64.s, kernels_avx2_amd64.s); each routine
// computes the generic loop of the same name. exp in expSum is a polynomial with at most
// 1 ulp error (results >= 2^-126); the sums and dot products are added in the fixed trees
// described in the assembly, so they differ from the generic path only by rounding.
var (
	avx512Kernels = &kernels{scores: scoresAVX512, expSum: expSumAVX512, accum: accumAVX512, accumHeads: accumHeadsOf(accumHeadsAVX512, accumHeadsF16AVX512, accumHeadsBF16AVX512),
		scoresHeads: scoresHeadsOf(16, scoresHeadsAVX512, scoresHeadsF16AVX512, scoresHeadsBF16AVX512), headLanes: 16,
		scoresGroups: scoresGroupsOf(16, scoresGroupsAVX512, scoresGroupsF16AVX512, scoresGroupsBF16AVX512,
			[3]groupsKernel{scoresGroupsPairedAVX512, scoresGroupsPairedF16AVX512, scoresGroupsPairedBF16AVX512}), accumGroups: accumGroupsOf(64, accumGroupsAVX512, accumGroupsF16AVX512, accumGroupsBF16AVX512), groupCols: 64,
		scoresPairs: scoresPairsOf(16, scoresPairsAVX512, scoresPairsF16AVX512, scoresPairsBF16AVX512), accumHalf: accumHalfOf(accumF16AVX512, accumBF16AVX512), accum4Half: accum4HalfOf(accum4F16AVX512, accum4BF16AVX512), scaleDiv: scaleDivAVX512,
		scores2: scores2AVX512Go, accum2: accum2AVX512, accum4: accum4Checked(accum4AVX512), axpyRows: axpyRowsAVX512, axpyRows2: axpyRows2AVX512, softCap: softCapAVX512Go, tanhDiv: tanhDivAVX512Go,
		tiles: &tileKernels{qk: qkTileAVX512, softmax: softmaxTileAVX512, pv: pvTileAVX512,
			transpose: transposeTileAVX512, qkRows: qkRowsAVX512, softmaxRow: softmaxRowAVX512,
			transposeHalf: transposeHalfAVX512,
			mergeLanes:    mergeLanesAVX512, alibi: alibiTileAVX512Go, bias: biasTileAVX512Go}}
	avx2Kernels = &kernels{scores: scoresAVX2, expSum: expSumAVX2, accum: accumAVX2, accumHeads: accumHeadsOf(accumHeadsAVX2, pickHalf(hasF16C, accumHeadsF16AVX2), accumHeadsBF16AVX2),
		scoresHeads: scoresHeadsOf(8, scoresHeadsAVX2, pickHalf(hasF16C, scoresKernel(scoresHeadsF16AVX2)), scoresHeadsBF16AVX2), headLanes: 8,
		scoresGroups: scoresGroupsOf(8, scoresGroupsAVX2, pickHalf(hasF16C, groupsKernel(scoresGroupsF16AVX2)), scoresGroupsBF16AVX2, [3]groupsKernel{}),
		scoresPairs:  scoresPairsOf(8, scoresPairsAVX2, pickHalf(hasF16C, pairsKernel(scoresPairsF16AVX2)), scoresPairsBF16AVX2),
		accumGroups:  accumGroupsOf(16, accumGroupsAVX2, pickHalf(hasF16C, accumGroupsKernel(accumGroupsF16AVX2)), accumGroupsBF16AVX2), groupCols: 16,
		accumHalf:  pickHalf(hasF16C, accumHalfOf(accumF16AVX2, accumBF16AVX2)),
		accum4Half: pickHalf(hasF16C, accum4HalfOf(accum4F16AVX2, accum4BF16AVX2)), scaleDiv: scaleDivAVX2,
		scores2: pairScores(scoresAVX2), accum2: accum2AVX2, accum4: accum4Checked(accum4AVX2), axpyRows: axpyRowsAVX2,
		axpyRows2: axpyRows2AVX2, softCap: softCapAVX2Go, tanhDiv: tanhDivAVX2Go,
		tiles: &tileKernels{qk: qkTileAVX2, softmax: softmaxTileAVX2, pv: pvTileAVX2,
			transpose: transposeTileAVX2, qkRows: qkRowsAVX2, softmaxRow: softmaxRowAVX2,
			transposeHalf: transposeHalfAVX2,
			mergeLanes:    mergeLanesAVX2, alibi: alibiTileGeneric, bias: biasTileGeneric}}
)

//go:noescape
func scoresAVX512(s, q, k []float32, ks int, scale float32) float32

//go:noescape
func expSumAVX512(x []float32, m float32) float32

//go:noescape
func accumAVX512(o, p, v []float32, vs int)

//go:noescape
func accumHeadsAVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ahead int)

//go:noescape
func accumHeadsF16AVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ahead int)

//go:noescape
func accumHeadsBF16AVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ahead int)

//go:noescape
func scoresPairsAVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)

//go:noescape
func scoresPairsF16AVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)

//go:noescape
func scoresPairsBF16AVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)

//go:noescape
func scoresPairsAVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)

//go:noescape
func scoresPairsF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)

//go:noescape
func scoresPairsBF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)

//go:noescape
func accumGroupsAVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)

//go:noescape
func accumGroupsF16AVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)

//go:noescape
func accumGroupsBF16AVX512(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)

//go:noescape
func scoresGroupsAVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

//go:noescape
func scoresGroupsF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

//go:noescape
func scoresGroupsBF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

//go:noescape
func scoresGroupsPairedAVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

//go:noescape
func scoresGroupsPairedF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

//go:noescape
func scoresGroupsPairedBF16AVX512(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

//go:noescape
func accumGroupsAVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)

//go:noescape
func accumGroupsF16AVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)

//go:noescape
func accumGroupsBF16AVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)

//go:noescape
func scoresGroupsAVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

//go:noescape
func scoresGroupsF16AVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

//go:noescape
func scoresGroupsBF16AVX2(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

//go:noescape
func scoresHeadsAVX512(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)

//go:noescape
func scoresHeadsF16AVX512(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)

//go:noescape
func scoresHeadsBF16AVX512(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)

//go:noescape
func scoresHeadsAVX2(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)

//go:noescape
func scoresHeadsF16AVX2(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)

//go:noescape
func scoresHeadsBF16AVX2(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)

//go:noescape
func accumHeadsAVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ahead int)

//go:noescape
func accumHeadsF16AVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ahead int)

//go:noescape
func accumHeadsBF16AVX2(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ahead int)

// hasF16C says whether the AVX2 path may convert float16 in hardware.
var hasF16C = xcpu.X86.HasF16C

//go:noescape
func scoresAVX2(s, q, k []float32, ks int, scale float32) float32

//go:noescape
func expSumAVX2(x []float32, m float32) float32

//go:noescape
func accumAVX2(o, p, v []float32, vs int)

//go:noescape
func scores2AVX512(s1, s2, q1, q2, k []float32, ks int, scale float32) (m1, m2 float32)

//go:noescape
func accum2AVX512(o1, o2, p1, p2, v []float32, vs int)

//go:noescape
func accum4AVX512(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int)

//go:noescape
func accum2AVX2(o1, o2, p1, p2, v []float32, vs int)

//go:noescape
func accum4AVX2(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int)

// accum4Checked returns accum4 as the assembly asm computes it, after checking the bounds
// the assembly relies on (the last rows of o and p, and the values, lie within the slices).
func accum4Checked(asm func(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int)) func(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int) {
	return func(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int) {
		_, _, _ = o[3*ldo:3*ldo+dv], p[3*ldp:3*ldp+n], v[:max(0, n-1)*vs+dv]
		asm(o, ldo, dv, p, ldp, n, v, vs)
	}
}

// scores2AVX512Go runs scores2AVX512 on the whole groups of 8 keys and scoresAVX512 on
// the rest of each row.
func scores2AVX512Go(s1, s2, q1, q2, k []float32, ks int, scale float32) (float32, float32) {
	n8 := len(s1) &^ 7
	m1, m2 := negInf, negInf
	if n8 > 0 {
		m1, m2 = scores2AVX512(s1[:n8], s2[:n8], q1, q2, k, ks, scale)
	}
	if n8 < len(s1) {
		m1 = max(m1, scoresAVX512(s1[n8:], q1, k[n8*ks:], ks, scale))
		m2 = max(m2, scoresAVX512(s2[n8:], q2, k[n8*ks:], ks, scale))
	}
	return m1, m2
}

//go:noescape
func qkTileAVX512(st *float32, rs int, qt, k *float32, ks, d, nkeys, nv int)

//go:noescape
func softmaxTileAVX512(st *float32, rs int, m, l, alpha *float32)

//go:noescape
func pvTileAVX512(ot *float32, rs int, pt, v *float32, vs, nkeys, dv int, alpha *float32, nv int)

//go:noescape
func transposeTileAVX512(kt, k *float32, ks, dp, nkeys int)

//go:noescape
func qkRowsAVX512(s, qt, kt *float32, d, nrows int)

//go:noescape
func softmaxRowAVX512(s, m, l, alpha *float32)

//go:noescape
func qkTileAVX2(st *float32, rs int, qt, k *float32, ks, d, nkeys, nv int)

//go:noescape
func softmaxTileAVX2(st *float32, rs int, m, l, alpha *float32)

//go:noescape
func pvTileAVX2(ot *float32, rs int, pt, v *float32, vs, nkeys, dv int, alpha *float32, nv int)

//go:noescape
func transposeTileAVX2(kt, k *float32, ks, dp, nkeys int)

//go:noescape
func qkRowsAVX2(s, qt, kt *float32, d, nrows int)

//go:noescape
func softmaxRowAVX2(s, m, l, alpha *float32)

//go:noescape
func axpyRowsAVX512(dst []float32, ld int, a, x []float32)

//go:noescape
func axpyRowsAVX2(dst []float32, ld int, a, x []float32)

//go:noescape
func axpyRows2AVX512(dst []float32, ld int, a1, x1, a2, x2 []float32)

//go:noescape
func axpyRows2AVX2(dst []float32, ld int, a1, x1, a2, x2 []float32)

//go:noescape
func mergeLanesAVX512(dst, src *float32, lanes, dv int, a, c *[16]float32, merged, taken uint16)

//go:noescape
func scaleDivAVX512(o []float32, scale, l float32)

//go:noescape
func scaleDivAVX2(o []float32, scale, l float32)

//go:noescape
func mergeLanesAVX2(dst, src *float32, lanes, dv int, a, c *[16]float32, merged, taken uint16)

//go:noescape
func tanhCapAVX512(dst, x []float32, c float32, capped bool, k *[19]float64)

//go:noescape
func tanhF64AVX512(y []float64, k *[19]float64)

//go:noescape
func alibiTile16AVX512(st *float32, ldBytes, ja, nk, rows int, slope *float32, dist, lo, hi *int32)

// alibiTileAVX512Go runs the AVX-512 ALiBi kernel on the rows of a, 16 at a time.
func alibiTileAVX512Go(st []float32, ld, ja, nk int, a *alibiRows) {
	n := len(a.slope)
	if nk == 0 || n == 0 {
		return
	}
	_, _, _, _ = st[(nk-1)*ld+n-1], a.dist[n-1], a.lo[n-1], a.hi[n-1]
	for r := 0; r < n; r += 16 {
		alibiTile16AVX512(&st[r], 4*ld, ja, nk, min(16, n-r), &a.slope[r], &a.dist[r], &a.lo[r], &a.hi[r])
	}
}

//go:noescape
func accumF16AVX512(o, p []float32, v *uint16, vsBytes int)

//go:noescape
func accumBF16AVX512(o, p []float32, v *uint16, vsBytes int)

//go:noescape
func accum4F16AVX512(o []float32, ldo, dv int, p []float32, ldp, n int, v []uint16, vs int)

//go:noescape
func accum4BF16AVX512(o []float32, ldo, dv int, p []float32, ldp, n int, v []uint16, vs int)

//go:noescape
func transposeF16TileAVX512(kt *float32, k *uint16, ksBytes, d, nkeys int, tail uint16)

//go:noescape
func transposeBF16TileAVX512(kt *float32, k *uint16, ksBytes, d, nkeys int, tail uint16)

// transposeHalfAVX512 is tileKernels.transposeHalf on AVX-512: the kernel of dt, with the
// columns of the last block of 16 masked when d is not a multiple of 16.
func transposeHalfAVX512(kt *float32, k unsafe.Pointer, ksBytes, d, nkeys int, dt tensor.DType) bool {
	tail := uint16(0xffff)
	if r := d % 16; r != 0 {
		tail = 1<<r - 1
	}
	if dt == tensor.Float16 {
		transposeF16TileAVX512(kt, (*uint16)(k), ksBytes, d, nkeys, tail)
		return true
	}
	transposeBF16TileAVX512(kt, (*uint16)(k), ksBytes, d, nkeys, tail)
	return true
}

//go:noescape
func transposeF16TileAVX2(kt *float32, k *uint16, ksBytes, d8, nkeys int)

//go:noescape
func transposeBF16TileAVX2(kt *float32, k *uint16, ksBytes, d8, nkeys int)

// transposeHalfAVX2 is tileKernels.transposeHalf on AVX2, for head dims that are whole
// blocks of 8 (float16 with F16C): the kernel of dt, then zero columns up to the next
// multiple of 16.
func transposeHalfAVX2(kt *float32, k unsafe.Pointer, ksBytes, d, nkeys int, dt tensor.DType) bool {
	if d%8 != 0 || dt == tensor.Float16 && !hasF16C {
		return false
	}
	if dt == tensor.Float16 {
		transposeF16TileAVX2(kt, (*uint16)(k), ksBytes, d, nkeys)
	} else {
		transposeBF16TileAVX2(kt, (*uint16)(k), ksBytes, d, nkeys)
	}
	if d%16 != 0 { // columns d..d+7 of the padded head dim
		pad := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(kt), d*tileKeys*4)), 7*tileKeys+nkeys)
		for t := range 8 {
			clear(pad[t*tileKeys : t*tileKeys+nkeys])
		}
	}
	return true
}

//go:noescape
func biasTileAVX512(st *float32, ldBytes int, bt *float32, nk, rows int)

// biasTileAVX512Go runs the AVX-512 bias kernel on whole blocks of 16 keys (a tile's are),
// the generic loop otherwise.
func biasTileAVX512Go(st []float32, ld int, bt []float32, nk, rows int) {
	if nk == 0 || rows == 0 {
		return
	}
	if nk%16 != 0 {
		biasTileGeneric(st, ld, bt, nk, rows)
		return
	}
	_, _ = st[(nk-1)*ld+rows-1], bt[(rows+15)&^15*tileKeys-1]
	biasTileAVX512(&st[0], 4*ld, &bt[0], nk, rows)
}

//go:noescape
func tanhCapAVX2(dst, x []float32, c float32, capped bool, k *[20][4]float64)

//go:noescape
func tanhF64AVX2(y []float64, k *[20][4]float64)

// The soft-cap kernels of each path, over whole blocks of 16 (AVX-512) or 8 (AVX2)
// floats, the rest through the Go definitions.
var (
	softCapAVX512Go, tanhDivAVX512Go = tanhKernels(16, func(dst, x []float32, c float32, capped bool) {
		tanhCapAVX512(dst, x, c, capped, &softCapConsts)
	})
	softCapAVX2Go, tanhDivAVX2Go = tanhKernels(8, func(dst, x []float32, c float32, capped bool) {
		tanhCapAVX2(dst, x, c, capped, &softCapConsts4)
	})
)

// tanhKernels returns softCap and tanhDiv (see kernels) on top of kernel, which sets
// dst[j] = tanhF32(x[j]/c), times c when capped, for whole blocks of block floats.
func tanhKernels(block int, kernel func(dst, x []float32, c float32, capped bool)) (softCap func(x []float32, c float32), tanhDiv func(th, x []float32, c float32)) {
	softCap = func(x []float32, c float32) {
		n := len(x) / block * block
		kernel(x, x[:n], c, true)
		softCapGeneric(x[n:], c)
	}
	tanhDiv = func(th, x []float32, c float32) {
		n := len(x) / block * block
		th = th[:len(x)]
		kernel(th, x[:n], c, false)
		tanhDivGeneric(th[n:], x[n:], c)
	}
	return softCap, tanhDiv
}

//go:noescape
func accumF16AVX2(o, p []float32, v *uint16, vsBytes int)

//go:noescape
func accumBF16AVX2(o, p []float32, v *uint16, vsBytes int)

//go:noescape
func accum4F16AVX2(o []float32, ldo, dv int, p []float32, ldp, n int, v []uint16, vs int)

//go:noescape
func accum4BF16AVX2(o []float32, ldo, dv int, p []float32, ldp, n int, v []uint16, vs int)

// pickHalf returns f where the AVX2 path can read both half types (float16 needs F16C,
// which every AVX2 CPU in practice has), else nil: the path then widens half rows first.
func pickHalf[F any](ok bool, f F) F {
	if !ok {
		var none F
		return none
	}
	return f
}

// byDType returns the one of f32, f16 and bf16 for dt, and the zero K for other dtypes.
func byDType[K any](dt tensor.DType, f32, f16, bf16 K) K {
	switch dt {
	case tensor.Float32:
		return f32
	case tensor.Float16:
		return f16
	case tensor.BFloat16:
		return bf16
	}
	var none K
	return none
}

// headsKernel is an accumHeads routine for values of one dtype.
type headsKernel func(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ahead int)

// accumHeadsOf returns kernels.accumHeads from a path's routines for float32, float16 and
// bfloat16 values; f16 is nil where the path cannot read float16 (AVX2 without F16C).
func accumHeadsOf(f32, f16, bf16 headsKernel) func(rows []headRow, v unsafe.Pointer, vs, n, dv, ahead int, dt tensor.DType) bool {
	return func(rows []headRow, v unsafe.Pointer, vs, n, dv, ahead int, dt tensor.DType) bool {
		kernel := byDType(dt, f32, f16, bf16)
		if kernel == nil {
			return false
		}
		if len(rows) > 0 && n > 0 && dv > 0 {
			kernel(&rows[0], len(rows), v, vs, n, dv, ahead)
		}
		return true
	}
}

// scoresKernel is a scoresHeads routine for keys of one dtype: groups of w consecutive
// key rows (w the path's vector width), lane l holding row l.
type scoresKernel func(out *float32, idx *[16]int32, qh *float32, k unsafe.Pointer, rs, d, groups, gs, os, ahead int)

// scoresHeadsOf returns kernels.scoresHeads from a path's routines for float32, float16
// and bfloat16 keys, groups of w rows (f16 is nil where the path cannot read float16). A
// group is the keys of w/heads positions (heads <= w), or w heads of one position
// (heads a multiple of w), which take one call per block of w heads, each with its
// lanes of queries, over every position.
func scoresHeadsOf(w int, f32, f16, bf16 scoresKernel) func(out []float32, ld int, qh []float32, k unsafe.Pointer, heads, n, d, ahead int, dt tensor.DType) bool {
	return func(out []float32, ld int, qh []float32, k unsafe.Pointer, heads, n, d, ahead int, dt tensor.DType) bool {
		kernel := byDType(dt, f32, f16, bf16)
		if kernel == nil || heads <= 0 || (w%heads != 0 && heads%w != 0) || d <= 0 || d%16 != 0 {
			return false
		}
		p, m := max(1, w/heads), max(1, heads/w)
		if n <= 0 {
			return true
		}
		if n%p != 0 {
			return false
		}
		var idx [16]int32
		for l := range w {
			idx[l] = int32((l%heads)*ld + l/heads) // l/heads is 0 when heads >= w
		}
		_, _ = out[(heads-1)*ld+n-1], qh[m*d*w-1]
		rs := d * dt.Bits() / 8
		for b := range m {
			kernel(&out[b*w*ld], &idx, &qh[b*d*w], unsafe.Add(k, b*w*rs), rs, d, n/p, m*w*rs, p, ahead)
		}
		return true
	}
}

// accumGroupsKernel is an accumGroups routine for values of one dtype.
type accumGroupsKernel func(rows *headRow, nrows int, v unsafe.Pointer, vs, n, dv, ldo, ahead, ldp int)

// accumGroupsOf returns kernels.accumGroups from a path's routines for float32, float16
// and bfloat16 values (f16 is nil where the path cannot read float16), which take
// blocks of cols columns.
func accumGroupsOf(cols int, f32, f16, bf16 accumGroupsKernel) func(rows []headRow, ldo, ldp int, v unsafe.Pointer, vs, n, dv, ahead int, dt tensor.DType) bool {
	return func(rows []headRow, ldo, ldp int, v unsafe.Pointer, vs, n, dv, ahead int, dt tensor.DType) bool {
		kernel := byDType(dt, f32, f16, bf16)
		if kernel == nil || dv <= 0 || dv%cols != 0 {
			return false
		}
		if len(rows) > 0 && n > 0 {
			kernel(&rows[0], len(rows), v, vs, n, dv, ldo, ahead, ldp)
		}
		return true
	}
}

// laneOutputs returns the output index of each of w lanes that hold rows query rows of
// consecutive heads (the grouped key streams): lane l is row l%rows of head l/rows, whose
// outputs start at (l/rows)*ld + (l%rows)*lr.
func laneOutputs(w, rows, ld, lr int) (idx [16]int32) {
	for l := range w {
		idx[l] = int32((l/rows)*ld + (l%rows)*lr)
	}
	return idx
}

// pairsKernel is a scoresPairs routine for keys of one dtype: blocks of w/2 heads (w the
// path's vector width), steps of 16/w positions.
type pairsKernel func(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, blocks, qs, ahead int)

// scoresPairsOf returns kernels.scoresPairs from a path's routines for float32, float16
// and bfloat16 keys, on vectors of w lanes (f16 is nil where the path cannot read
// float16).
func scoresPairsOf(w int, f32, f16, bf16 pairsKernel) func(out []float32, ld, lr int, qg []float32, k unsafe.Pointer, heads, n, d, ahead int, dt tensor.DType) bool {
	hb, step := w/2, 32/w // heads per block, positions per step
	return func(out []float32, ld, lr int, qg []float32, k unsafe.Pointer, heads, n, d, ahead int, dt tensor.DType) bool {
		kernel := byDType(dt, f32, f16, bf16)
		if kernel == nil || heads <= 0 || heads%hb != 0 || d <= 0 || d%4 != 0 || n%step != 0 ||
			ld < 0 || lr < 0 || int64(heads)*int64(ld)+int64(lr)+int64(n) > math.MaxInt32 {
			return false
		}
		if n <= 0 {
			return true
		}
		idx := laneOutputs(w, 2, ld, lr)
		_, _ = out[(heads-1)*ld+lr+n-1], qg[2*heads*d-1]
		rs := d * dt.Bits() / 8
		kernel(&out[0], &idx, &qg[0], k, rs, heads*rs, d, n/step, heads/hb, hb*ld, ahead)
		return true
	}
}

// groupsKernel is a scoresGroups routine for keys of one dtype: blocks of w/4 heads (w
// the path's vector width), one pass per quad of rows, steps of four positions.
type groupsKernel func(out *float32, idx *[16]int32, qg *float32, k unsafe.Pointer, rs, ps, d, steps, quads, qs, ahead, rq, qrs int)

// scoresGroupsOf returns kernels.scoresGroups from a path's routines for float32, float16
// and bfloat16 keys, on vectors of w lanes (f16 is nil where the path cannot read
// float16). paired, where the path has them, are the same routines taking the quads of
// rows in pairs (rows a multiple of 8): the same sums.
func scoresGroupsOf(w int, f32, f16, bf16 groupsKernel, paired [3]groupsKernel) func(out []float32, ld, lr int, qg []float32, k unsafe.Pointer, heads, rows, n, d, ahead int, dt tensor.DType) bool {
	hb := w / 4 // heads per block
	return func(out []float32, ld, lr int, qg []float32, k unsafe.Pointer, heads, rows, n, d, ahead int, dt tensor.DType) bool {
		kernel, back := byDType(dt, f32, f16, bf16), rows/4-1 // back: the steps of qrs qs counts back
		if pk := byDType(dt, paired[0], paired[1], paired[2]); pk != nil && rows%8 == 0 {
			kernel, back = pk, rows/4-2
		}
		if kernel == nil || heads <= 0 || heads%hb != 0 || rows <= 0 || rows%4 != 0 || d <= 0 || d%4 != 0 || n%4 != 0 ||
			ld < 0 || lr < 0 || int64(heads)*int64(ld)+int64(rows)*int64(lr)+int64(n) > math.MaxInt32 {
			return false
		}
		if n <= 0 {
			return true
		}
		idx := laneOutputs(w, 4, ld, lr)
		_, _ = out[(heads-1)*ld+(rows-1)*lr+n-1], qg[rows*heads*d-1]
		rs, rq := d*dt.Bits()/8, rows/4
		kernel(&out[0], &idx, &qg[0], k, rs, heads*rs, d, n/4, heads/hb, hb*ld-back*4*lr, ahead, rq, 4*lr)
		return true
	}
}

// accumHalfOf returns kernels.accumHalf from a path's float16 and bfloat16 routines.
func accumHalfOf(f16, bf16 func(o, p []float32, v *uint16, vsBytes int)) func(o, p []float32, v unsafe.Pointer, vs int, dt tensor.DType) {
	return func(o, p []float32, v unsafe.Pointer, vs int, dt tensor.DType) {
		kernel := bf16
		if dt == tensor.Float16 {
			kernel = f16
		}
		kernel(o, p, (*uint16)(v), 2*vs)
	}
}

// accum4HalfOf returns kernels.accum4Half from a path's float16 and bfloat16 routines,
// their slices checked as accum4Checked checks accum4's.
func accum4HalfOf(f16, bf16 func(o []float32, ldo, dv int, p []float32, ldp, n int, v []uint16, vs int)) func(o []float32, ldo, dv int, p []float32, ldp, n int, v unsafe.Pointer, vs int, dt tensor.DType) {
	return func(o []float32, ldo, dv int, p []float32, ldp, n int, v unsafe.Pointer, vs int, dt tensor.DType) {
		if n == 0 || dv == 0 {
			return
		}
		_, _ = o[3*ldo+dv-1], p[3*ldp+n-1]
		kernel := bf16
		if dt == tensor.Float16 {
			kernel = f16
		}
		kernel(o, ldo, dv, p, ldp, n, unsafe.Slice((*uint16)(v), (n-1)*vs+dv), vs)
	}
}
