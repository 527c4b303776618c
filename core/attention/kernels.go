package attention

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// kernels are the float32 loops of one ISA path. kernels_generic.go defines each in plain
// Go; kernels_amd64.go adds AVX2 and AVX-512 versions. All slices of q and o rows have a
// length that is a multiple of 16 (the padded head dims dp and dvp).
//
// Determinism contract shared by every implementation: a result element depends only on
// its own inputs and on the length of the loop, never on addresses, strides, or which
// other elements are computed in the same call. In particular scores gives each s[j] the
// same bits whether key j is computed alone or among others, and accum adds the terms of
// each o[d] in increasing j, one rounding (or one fused multiply-add) per term.
type kernels struct {
	// scores sets s[j] = scale * dot(q, k[j*ks : j*ks+len(q)]) for j < len(s) and returns
	// the largest s[j] (-Inf when s is empty). When some s[j] are NaN the result may be
	// NaN or the largest other value, but it is NaN when all are; callers see any NaN
	// through expSum's sum.
	scores func(s, q, k []float32, ks int, scale float32) float32
	// expSum sets x[j] = exp(x[j] - m) and returns the sum of the new x[j].
	expSum func(x []float32, m float32) float32
	// accum adds sum_j p[j] * v[j*vs : j*vs+len(o)] to o, in increasing j.
	accum func(o, p, v []float32, vs int)
	// accumHeads is accum for rows that each take the values of one head, position by
	// position in address order: for j < n, for each row r in turn,
	// rows[r].o[d] += rows[r].p[j] * v[j*vs+rows[r].head+d] for d < dv (a multiple of
	// 16), with the values of dt (float32, float16 or bfloat16, widened as they are read)
	// counted in elements from position 0. Each row gets accum's bits on the widened
	// values. It asks for the line ahead bytes past each one it reads, so that the
	// memory stream runs while it computes (a hint: any ahead is valid). It reports
	// false, and computes nothing, for a dtype the path cannot read (float16 without
	// F16C on AVX2). nil where the path has none.
	accumHeads func(rows []headRow, v unsafe.Pointer, vs, n, dv, ahead int, dt tensor.DType) bool
	// scoresHeads is qkRows for rows that each take the keys of one head, read position by
	// position in address order: the keys are rows of d elements (a multiple of 16) of dt,
	// laid flat (position j, head h at k + (j*heads+h)*d elements) for j < n, and it sets
	// out[h*ld+j] = sum_{t<d} q_h[t]*key(j, h)[t] in increasing t, one FMA per term (the
	// bits of qkRows from the transposed keys), for the queries q_h given as laneQueries
	// lays them out for headLanes lanes. heads must divide headLanes or be a multiple of
	// it, and n a multiple of max(1, headLanes/heads). It asks for the line ahead bytes
	// past each one it reads. It reports false, and computes nothing, for a dt, heads or
	// d it cannot take (float16 without F16C on AVX2). nil where the path has none.
	scoresHeads func(out []float32, ld int, qh []float32, k unsafe.Pointer, heads, n, d, ahead int, dt tensor.DType) bool
	// headLanes is the number of key rows scoresHeads reads at once, one per vector lane.
	headLanes int
	// scoresGroups is scoresHeads for grouped-query decode with rows query rows per KV
	// head (a multiple of 4): for keys laid as for scoresHeads (d a multiple of 4) it
	// sets out[h*ld+a*lr+j] = sum_{t<d} q_{h,a}[t]*key(j, h)[t] for row a of head h and
	// j < n, one FMA per term in increasing t (qkRows' bits), for the queries q_{h,a} as
	// groupQueries lays them out for headLanes lanes. heads must be a multiple of
	// headLanes/4 and n of 4. It asks for
	// the line ahead bytes past each one it reads, and reports false, computing nothing,
	// for a dt, heads, n or d it cannot take. nil where the path has none.
	scoresGroups func(out []float32, ld, lr int, qg []float32, k unsafe.Pointer, heads, rows, n, d, ahead int, dt tensor.DType) bool
	// scoresPairs is scoresGroups for two query rows per KV head (rows 2): heads must be
	// a multiple of headLanes/2 and n of 32/headLanes, the queries as pairQueries lays
	// them out for headLanes lanes. nil where the path has none.
	scoresPairs func(out []float32, ld, lr int, qg []float32, k unsafe.Pointer, heads, n, d, ahead int, dt tensor.DType) bool
	// accumGroups is accumHeads for grouped-query decode with four query rows per KV
	// head: rows[i] gives four output rows o+r*ldo and probability rows p+r*ldp (r < 4),
	// and for each it adds p_r[j]*v[j*vs+head+c] to o_r[c] for c < dv and j < n, in
	// increasing j (accum's bits). It reads the heads of a few positions
	// at a time and asks for the line ahead bytes past each one it reads. It reports
	// false, computing nothing, for a dt or dv it cannot take (dv off the blocks of
	// groupCols columns, float16 without F16C on AVX2). nil where the path has none.
	accumGroups func(rows []headRow, ldo, ldp int, v unsafe.Pointer, vs, n, dv, ahead int, dt tensor.DType) bool
	// groupCols is the block of columns of accumGroups: it takes dv in whole blocks.
	groupCols int
	// accumHalf is accum for value rows of float16 or bfloat16 (dt), vs elements apart,
	// each widened as it is read (the same bits); nil where the path has none.
	accumHalf func(o, p []float32, v unsafe.Pointer, vs int, dt tensor.DType)
	// accum4Half is accum4 for value rows of float16 or bfloat16 (dt), vs elements apart,
	// widened as they are read (the same bits); nil where the path has none (then
	// accumHalf is nil too).
	accum4Half func(o []float32, ldo, dv int, p []float32, ldp, n int, v unsafe.Pointer, vs int, dt tensor.DType)
	// scaleDiv sets o[d] = (o[d]*scale) / l, each operation rounded: the normalization of
	// a finished output row (any length).
	scaleDiv func(o []float32, scale, l float32)

	// scores2 and accum2 are scores and accum for two rows over the same keys (equal
	// lengths), giving each row the very bits of the single-row kernel; the fast paths
	// load each key or value row once for both.
	scores2 func(s1, s2, q1, q2, k []float32, ks int, scale float32) (m1, m2 float32)
	accum2  func(o1, o2, p1, p2, v []float32, vs int)
	// accum4 is accum for the four rows o[r*ldo : r*ldo+dv] with p[r*ldp : r*ldp+n]
	// (r < 4) over the same values, giving each row accum's bits; the fast
	// path loads each value row once for all four (grouped-query decode).
	accum4 func(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int)

	// axpyRows adds a[j]*x to row j of dst (rows ld apart) for j < len(a): the backward
	// pass's per-key gradient updates.
	axpyRows func(dst []float32, ld int, a, x []float32)
	// axpyRows2 is axpyRows with a1, x1 then with a2, x2 (len(a2) = len(a1), len(x2) =
	// len(x1)), each element getting the two terms in that order: the bits of the two
	// calls, with each destination row read and written once.
	axpyRows2 func(dst []float32, ld int, a1, x1, a2, x2 []float32)

	// softCap sets x[j] = softCap(x[j], c) (softcap.go), and tanhDiv th[j] =
	// tanhF32(x[j]/c) for j < len(x) (the backward pass's tanh), the same bits on every
	// path.
	softCap func(x []float32, c float32)
	tanhDiv func(th, x []float32, c float32)

	// tiles, when set, replaces scores, expSum and scores2 in the forward pass with the
	// transposed tile kernels of tiles.go (accum and accum2 stay in use there; the
	// backward pass uses the row kernels).
	tiles *tileKernels
}

// laneQueries sets qh to the queries of scoresHeads: for heads query rows q(h) of d
// elements, the lanes of the w key rows read at once (lane l is head l mod heads, or
// head w*b+l in block b of w heads when heads exceeds w), element t of every lane
// together: qh[(b*d+t)*w+l] = q(head of lane l)[t]. qh has room for max(w, heads)*d
// elements.
func laneQueries(qh []float32, heads, d, w int, q func(h, t int) float32) {
	for b := range max(1, heads/w) {
		for t := range d {
			lanes := qh[(b*d+t)*w : (b*d+t+1)*w]
			for l := range lanes {
				lanes[l] = q((b*w+l)%heads, t)
			}
		}
	}
}

// groupQueries sets qg to the queries of scoresGroups on vectors of w lanes: for heads
// KV heads (a multiple of w/4) with rows query rows q(h, a) of d elements each (a
// multiple of 4), pass i of block b of w/4 heads holds element t of row 4i+a of head
// (w/4)b+k in lane 4k+a: qg[((b*rows/4+i)*d+t)*w+4k+a] = q((w/4)b+k, 4i+a)[t]. qg has
// room for rows*heads*d elements.
func groupQueries(qg []float32, heads, rows, d, w int, q func(h, a, t int) float32) {
	hb, rq := w/4, rows/4
	for b := range heads / hb {
		for i := range rq {
			for t := range d {
				lanes := qg[((b*rq+i)*d+t)*w : ((b*rq+i)*d+t+1)*w]
				for l := range lanes {
					lanes[l] = q(hb*b+l/4, 4*i+l%4, t)
				}
			}
		}
	}
}

// pairQueries sets qg to the queries of scoresPairs on vectors of w lanes: for heads KV
// heads (a multiple of w/2) with two query rows q(h, a) of d elements each, block b of
// w/2 heads holds element t of row a of head (w/2)b+m in lane 2m+a:
// qg[(b*d+t)*w+2m+a] = q((w/2)b+m, a)[t]. qg has room for 2*heads*d elements.
func pairQueries(qg []float32, heads, d, w int, q func(h, a, t int) float32) {
	hb := w / 2
	for b := range heads / hb {
		for t := range d {
			lanes := qg[(b*d+t)*w : (b*d+t+1)*w]
			for l := range lanes {
				lanes[l] = q(hb*b+l/2, l%2, t)
			}
		}
	}
}

// headRow is one row of accumHeads: its output o (dv elements) and probabilities p (one
// per position), and its value head's first element within a position.
type headRow struct {
	o, p *float32
	head int
}

// tileKernels work on transposed score tiles: 16 query rows per vector, rs floats between
// consecutive keys (or head-dim elements) of a tile. Every element is one FMA chain, so
// a row's bits never depend on the other rows of its vector.
type tileKernels struct {
	// qk sets st[j*rs+l] = sum_{t<d} k[j*ks+t]*qt[t*rs+l] for j < nkeys (a multiple of
	// 8) and l < 16*nv (nv is 1 or 2), accumulating in increasing t with one FMA per term.
	qk func(st *float32, rs int, qt, k *float32, ks, d, nkeys, nv int)
	// softmax is the online-softmax step of 16 rows over the tileKeys keys of a tile (see
	// softmaxTileAVX512): st becomes exp(st - max), m and l are updated (the tile's sum
	// added in a fixed tree), and alpha receives the factor that rescales each row's
	// earlier output.
	softmax func(st *float32, rs int, m, l, alpha *float32)
	// pv sets ot[c*rs+l] = ot[c*rs+l]*alpha[l] + sum_{j<nkeys} pt[j*rs+l]*v[j*vs+c] for
	// c < dv (a multiple of 16) and l < 16*nv (nv is 1 or 2), adding in increasing j with
	// one FMA per term.
	pv func(ot *float32, rs int, pt, v *float32, vs, nkeys, dv int, alpha *float32, nv int)

	// The same steps with the keys in the lanes, for items of fewer than 16 rows:
	// transpose sets kt[t*64+j] = k[j*ks+t] for j < nkeys and t < dp (both multiples of
	// 16: it reads whole blocks of 16 keys);
	// qkRows sets s[r*64+j] = qk's st[j*16+r] for r < nrows (<= 16) and
	// j < 64, from qt with 16 lanes; softmaxRow is softmax for one row of 64 contiguous
	// scores, with the same sum tree.
	transpose  func(kt, k *float32, ks, dp, nkeys int)
	qkRows     func(s, qt, kt *float32, d, nrows int)
	softmaxRow func(s, m, l, alpha *float32)
	// transposeHalf is transpose from rows of d float16 or bfloat16 (dt) values ksBytes
	// apart, widened as they are read, with zero columns from d up to dp; it reports
	// false, writing nothing, for a d or dt the path cannot take (the rows are then
	// widened into float32 rows first). nil where the path has none.
	transposeHalf func(kt *float32, k unsafe.Pointer, ksBytes, d, nkeys int, dt tensor.DType) bool

	// mergeLanes is mergeRow's column loop for the 16 rows of one vector of transposed
	// states (column d of row l at d*lanes+l): rows in merged get dst*a[l] + src*c[l], rows
	// in taken get src, for d < dv.
	mergeLanes func(dst, src *float32, lanes, dv int, a, c *[16]float32, merged, taken uint16)

	// alibi subtracts ALiBi from a transposed tile (alibiTileGeneric defines it): the
	// same bits as shiftLogit without a bias.
	alibi func(st []float32, ld, ja, nk int, a *alibiRows)
	// bias adds a tile of bias values, row r's at bt[r*tileKeys:] (rows rounded up to 16
	// of them), to a transposed tile (biasTileGeneric defines it).
	bias func(st []float32, ld int, bt []float32, nk, rows int)
}

// alibiRows are the rows of a tile item as the ALiBi kernels read them: each row's slope,
// query position i' and visible keys [lo, hi).
type alibiRows struct {
	slope        []float32
	dist, lo, hi []int32
}

// alibiTileGeneric sets st[t*ld+r] -= float32(slope[r]*float32(dist[r]-j)) with j =
// ja+t, for t < nk and each row r with lo[r] <= j < hi[r].
func alibiTileGeneric(st []float32, ld, ja, nk int, a *alibiRows) {
	for t := range nk {
		j := int32(ja + t)
		row := st[t*ld:]
		for r, s := range a.slope {
			if j >= a.lo[r] && j < a.hi[r] {
				row[r] -= float32(s * float32(a.dist[r]-j))
			}
		}
	}
}

// biasTileGeneric sets st[t*ld+r] += bt[r*tileKeys+t] for t < nk and r < rows.
func biasTileGeneric(st []float32, ld int, bt []float32, nk, rows int) {
	for t := range nk {
		row := st[t*ld : t*ld+rows]
		for r := range row {
			row[r] += bt[r*tileKeys+t]
		}
	}
}

// pairScores is scores2 defined as two scores calls.
func pairScores(scores func(s, q, k []float32, ks int, scale float32) float32) func(s1, s2, q1, q2, k []float32, ks int, scale float32) (float32, float32) {
	return func(s1, s2, q1, q2, k []float32, ks int, scale float32) (float32, float32) {
		return scores(s1, q1, k, ks, scale), scores(s2, q2, k, ks, scale)
	}
}

// pairAccum is accum2 defined as two accum calls.
func pairAccum(accum func(o, p, v []float32, vs int)) func(o1, o2, p1, p2, v []float32, vs int) {
	return func(o1, o2, p1, p2, v []float32, vs int) {
		accum(o1, p1, v, vs)
		accum(o2, p2, v, vs)
	}
}

// quadAccum is accum4 defined as four accum calls.
func quadAccum(accum func(o, p, v []float32, vs int)) func(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int) {
	return func(o []float32, ldo, dv int, p []float32, ldp, n int, v []float32, vs int) {
		for r := range 4 {
			accum(o[r*ldo:r*ldo+dv], p[r*ldp:r*ldp+n], v, vs)
		}
	}
}

// selectKernels returns the kernels of the selected ISA path, checked at call time so
// tests can switch paths with cpu.UseISA.
func selectKernels() *kernels {
	switch isa := cpu.Selected(); {
	case isa >= cpu.AVX512 && avx512Kernels != nil:
		return avx512Kernels
	case isa >= cpu.AVX2 && avx2Kernels != nil:
		return avx2Kernels
	}
	return &genericKernels
}
