package rope

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

var floatTypes = []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16}

// scalings covers every variant with parameters that make each one bite at the tested
// head dims (YaRN's ramp and Llama3's blend band fall inside the pairs).
var scalings = []struct {
	name string
	base float64
	sc   Scaling
}{
	{"none", 10000, Scaling{}},
	{"linear", 10000, Scaling{Kind: Linear, Factor: 2.5}},
	{"ntk", 10000, Scaling{Kind: NTK, Factor: 3}},
	{"dynamic", 10000, Scaling{Kind: DynamicNTK, Factor: 2, OriginalMaxPositions: 64, SeqLen: 300}},
	{"yarn", 10000, Scaling{Kind: YaRN, Factor: 8, OriginalMaxPositions: 256}},
	{"llama3", 500000, Scaling{Kind: Llama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 512}},
}

type posKind int

const (
	noPositions posKind = iota // Offset + s
	positionsS                 // int32 [S]
	positionsBS                // int64 [B, S], column-major strides
)

// spec is one Apply call to test.
type spec struct {
	dt              tensor.DType
	mode            memMode
	B, S, Hq, Hk, D int
	p               Params
	pos             posKind
	inPlace, qOnly  bool
	seed            uint64
}

// outcome is what a call read and wrote, in canonical (b, s, h, d) order.
type outcome struct {
	xq, xk, q, k []float64
	pos          func(b, s int) float64
}

// runSpec builds guarded tensors from sp's seed, calls Apply and checks that nothing but
// the outputs' elements changed.
func runSpec(t *testing.T, sp spec) outcome {
	t.Helper()
	rng := rand.New(rand.NewPCG(sp.seed, 7))
	gq := qk{sp.B, sp.S, sp.Hq, sp.D, sp.p.Layout}
	gk := qk{sp.B, sp.S, sp.Hk, sp.D, sp.p.Layout}
	outMode := (sp.mode + 1) % memMode(len(memModes))
	var o outcome

	qb := newTBuf(sp.dt, gq.shape(), sp.mode)
	o.xq = fillRandom(qb, gq, rng)
	qo := qb
	if !sp.inPlace {
		qo = newTBuf(sp.dt, gq.shape(), outMode)
	}
	var kb, ko *tbuf
	var kt, kot *tensor.Tensor
	if !sp.qOnly {
		kb = newTBuf(sp.dt, gk.shape(), sp.mode)
		o.xk = fillRandom(kb, gk, rng)
		ko = kb
		if !sp.inPlace {
			ko = newTBuf(sp.dt, gk.shape(), outMode)
		}
		kt, kot = &kb.t, &ko.t
	}

	var pt *tensor.Tensor
	switch sp.pos {
	case noPositions:
		o.pos = func(_, s int) float64 { return float64(sp.p.Offset + s) }
	case positionsS:
		ps := make([]int32, sp.S)
		for i := range ps {
			ps[i] = int32(rng.IntN(5000))
		}
		pt = &tensor.Tensor{Data: unsafe.Pointer(unsafe.SliceData(ps)), DType: tensor.Int32, Shape: []int{sp.S}, Strides: []int{1}}
		o.pos = func(_, s int) float64 { return float64(ps[s]) }
	case positionsBS:
		ps := make([]int64, sp.B*sp.S) // stored [S, B], viewed as [B, S]
		for i := range ps {
			ps[i] = rng.Int64N(5000)
		}
		pt = &tensor.Tensor{Data: unsafe.Pointer(unsafe.SliceData(ps)), DType: tensor.Int64, Shape: []int{sp.B, sp.S}, Strides: []int{1, sp.B}}
		o.pos = func(b, s int) float64 { return float64(ps[s*sp.B+b]) }
	}

	inQ := qb.snapshot()
	var inK []uint32
	if kb != nil {
		inK = kb.snapshot()
	}
	if err := Apply(qb.t, qo.t, kt, kot, pt, sp.p); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	qo.checkGuards(t, "q_out")
	o.q = read(qo, gq)
	if !sp.inPlace && !slices.Equal(inQ, qb.snapshot()) {
		t.Fatal("q was modified by an out-of-place call")
	}
	if kb != nil {
		ko.checkGuards(t, "k_out")
		o.k = read(ko, gk)
		if !sp.inPlace && !slices.Equal(inK, kb.snapshot()) {
			t.Fatal("k was modified by an out-of-place call")
		}
	}
	return o
}

func rotaryDim(sp spec) int {
	if sp.p.RotaryDim != 0 {
		return sp.p.RotaryDim
	}
	return sp.D
}

// checkOutcome compares an outcome with the float64 reference.
func checkOutcome(t *testing.T, sp spec, o outcome) {
	t.Helper()
	r := rotaryDim(sp)
	gq := qk{sp.B, sp.S, sp.Hq, sp.D, sp.p.Layout}
	checkRotated(t, "q", sp.dt, gq, sp.p, r, o.xq, o.q, refRotate(o.xq, gq, o.pos, sp.p, r))
	if !sp.qOnly {
		gk := qk{sp.B, sp.S, sp.Hk, sp.D, sp.p.Layout}
		checkRotated(t, "k", sp.dt, gk, sp.p, r, o.xk, o.k, refRotate(o.xk, gk, o.pos, sp.p, r))
	}
}

func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// TestApplyAllPaths runs every kernel path on every dtype, layout, memory layout,
// pairing, scaling and a ladder of head dims (pair counts 1, 7, 31, 33, 65 and 1023
// hit every block tail of the fast paths), with positions, partial rotary, in-place,
// q-only and inverse variants cycling through the cases. Each path must match the
// float64 reference within tolerance and the generic path bit for bit.
func TestApplyAllPaths(t *testing.T) {
	heads := []int{2, 14, 62, 66, 130, 2046}
	for _, dt := range floatTypes {
		for _, layout := range []Layout{BSHD, BHSD} {
			for _, mode := range memModes {
				t.Run(fmt.Sprintf("%v/%v/%v", dt, []string{"BSHD", "BHSD"}[layout], mode), func(t *testing.T) {
					c := 0
					for _, d := range heads {
						for _, pr := range []Pairing{Half, Interleaved} {
							for _, s := range scalings {
								c++
								sp := spec{dt: dt, mode: mode, B: 2, S: 3, Hq: 3, Hk: 1, D: d, seed: uint64(c)}
								if d > 1000 {
									sp.B, sp.S, sp.Hq = 1, 2, 2
								}
								sp.p = Params{Base: s.base, Pairing: pr, Scaling: s.sc, Layout: layout, Offset: 17 * c,
									Inverse: c%5 == 0}
								sp.pos = posKind(c % 3)
								if (c/3)%2 == 1 {
									sp.p.RotaryDim = max(2, d/2&^1) // partial rotary
								}
								sp.inPlace = (c/6)%2 == 1
								sp.qOnly = c%7 == 0
								if rotaryDim(sp) <= 2 && (s.sc.Kind == NTK || s.sc.Kind == DynamicNTK) {
									continue // needs R > 2; TestErrors covers the rejection
								}
								name := fmt.Sprintf("D=%d R=%d %v %s pos=%d inplace=%v qonly=%v inverse=%v",
									d, rotaryDim(sp), pr, s.name, sp.pos, sp.inPlace, sp.qOnly, sp.p.Inverse)
								var generic outcome
								for _, isa := range cpu.Available() {
									restore := cpu.UseISA(isa)
									o := runSpec(t, sp)
									restore()
									checkOutcome(t, sp, o)
									if isa == cpu.Generic {
										generic = o
									} else if !sameBits(o.q, generic.q) || !sameBits(o.k, generic.k) {
										t.Fatalf("%s: path %v differs from generic", name, isa)
									}
								}
							}
						}
					}
				})
			}
		}
	}
}

func (p Pairing) String() string { return [...]string{"half", "interleaved"}[p] }

// TestHandRotation checks small cases against rotations written out by hand: head_dim
// 4, base 10000, so f = [1, 0.01], at position 1 (angles 1 and 0.01 rad).
func TestHandRotation(t *testing.T) {
	c1, s1 := math.Cos(1), math.Sin(1)
	c2, s2 := math.Cos(0.01), math.Sin(0.01)
	for _, tc := range []struct {
		pr   Pairing
		want []float64
	}{
		// Half: pairs (x0, x2) at angle 1 and (x1, x3) at angle 0.01.
		{Half, []float64{1*c1 - 3*s1, 2*c2 - 4*s2, 3*c1 + 1*s1, 4*c2 + 2*s2}},
		// Interleaved: pairs (x0, x1) at angle 1 and (x2, x3) at angle 0.01.
		{Interleaved, []float64{1*c1 - 2*s1, 2*c1 + 1*s1, 3*c2 - 4*s2, 4*c2 + 3*s2}},
	} {
		for _, isa := range cpu.Available() {
			restore := cpu.UseISA(isa)
			x := []float32{1, 2, 3, 4}
			p := DefaultParams()
			p.Pairing, p.Offset = tc.pr, 1
			err := Apply(tensor.FromFloat32(x, 1, 1, 1, 4), tensor.FromFloat32(x, 1, 1, 1, 4), nil, nil, nil, p)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				// float32 rounding of cos/sin, products and sum: a few ulps of |x| <= 4.
				if math.Abs(float64(x[i])-w) > 2e-6 {
					t.Errorf("%v %v: x[%d] = %v, want %v", isa, tc.pr, i, x[i], w)
				}
			}
		}
	}
}

// TestInverseUndoesApply: Inverse applies the transpose m*R(-angle), so
// Inverse(Apply(x)) = m^2 x: x itself when m = 1, and m^2 x for YaRN.
func TestInverseUndoesApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for _, s := range scalings {
			for _, pr := range []Pairing{Half, Interleaved} {
				const B, S, H, D = 2, 9, 3, 64
				x := make([]float32, B*S*H*D)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				y := slices.Clone(x)
				p := Params{Base: s.base, Pairing: pr, Scaling: s.sc, RotaryDim: 48, Offset: 4000}
				yt := tensor.FromFloat32(y, B, S, H, D)
				if err := Apply(yt, yt, nil, nil, nil, p); err != nil {
					t.Fatal(err)
				}
				p.Inverse = true
				if err := Apply(yt, yt, nil, nil, nil, p); err != nil {
					t.Fatal(err)
				}
				_, m := refInvFreq(p, 48)
				for i := range x {
					want := m * m * float64(x[i])
					if i%D >= 48 {
						want = float64(x[i]) // pass-through dims are copied, not scaled
					}
					// Two float32 rotations: about 8e-7 * m^2 * (|x_a| + |x_b|) <= 1e-5 here.
					if d := math.Abs(float64(y[i]) - want); d > 1e-5*m*m*math.Max(1, math.Abs(want)) {
						t.Fatalf("%v %s %v: element %d: %v, want %v", isa, s.name, pr, i, y[i], want)
					}
				}
			}
		}
		restore()
	}
}

// TestBackwardIsTranspose checks Backward against the explicit transpose of each
// token's R x R rotation matrix (float64), and the adjoint identity
// <Apply(x), g> == <x, Backward(g)>.
func TestBackwardIsTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	const B, S, Hq, Hk, D, R = 2, 5, 2, 1, 12, 8
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for _, s := range scalings {
			for _, pr := range []Pairing{Half, Interleaved} {
				p := Params{Base: s.base, Pairing: pr, Scaling: s.sc, RotaryDim: R, Layout: BHSD}
				gq := qk{B, S, Hq, D, BHSD}
				gk := qk{B, S, Hk, D, BHSD}
				pos := make([]int64, B*S)
				for i := range pos {
					pos[i] = rng.Int64N(3000)
				}
				pt := tensor.Tensor{Data: unsafe.Pointer(&pos[0]), DType: tensor.Int64, Shape: []int{B, S}, Strides: []int{S, 1}}
				x := newTBuf(tensor.Float32, gq.shape(), contiguous)
				xs := fillRandom(x, gq, rng)
				gqb := newTBuf(tensor.Float32, gq.shape(), padded)
				gqs := fillRandom(gqb, gq, rng)
				gkb := newTBuf(tensor.Float32, gk.shape(), reversed)
				gks := fillRandom(gkb, gk, rng)
				dq := newTBuf(tensor.Float32, gq.shape(), transposed)
				dk := newTBuf(tensor.Float32, gk.shape(), contiguous)
				if err := Backward(gqb.t, dq.t, &gkb.t, &dk.t, &pt, p); err != nil {
					t.Fatal(err)
				}
				theta, m := refInvFreq(p, R)
				transpose := func(g []float64, geo qk) []float64 {
					out := slices.Clone(g)
					for b := range B {
						for sq := range S {
							// The token's forward matrix M, then out = M^T g.
							var M [R][R]float64
							for i, th := range theta {
								a := float64(pos[b*S+sq]) * th
								ia, ib := pairOf(pr, i, R)
								M[ia][ia], M[ia][ib] = m*math.Cos(a), -m*math.Sin(a)
								M[ib][ia], M[ib][ib] = m*math.Sin(a), m*math.Cos(a)
							}
							for h := range geo.H {
								row := geo.flat(b, sq, h, 0)
								for c := range R {
									var v float64
									for r := range R {
										v += M[r][c] * g[row+r]
									}
									out[row+c] = v
								}
							}
						}
					}
					return out
				}
				pBack := p
				pBack.Inverse = true // checkRotated's tolerance only needs m and the pairs
				checkRotated(t, "dq", tensor.Float32, gq, pBack, R, gqs, read(dq, gq), transpose(gqs, gq))
				checkRotated(t, "dk", tensor.Float32, gk, pBack, R, gks, read(dk, gk), transpose(gks, gk))
				dq.checkGuards(t, "dq")
				dk.checkGuards(t, "dk")

				// Adjoint identity on q: <Apply(x), g> == <x, Backward(g)>.
				y := newTBuf(tensor.Float32, gq.shape(), contiguous)
				if err := Apply(x.t, y.t, nil, nil, &pt, p); err != nil {
					t.Fatal(err)
				}
				lhs, rhs, scale := 0.0, 0.0, 0.0
				ys, dqs := read(y, gq), read(dq, gq)
				for i := range xs {
					lhs += ys[i] * gqs[i]
					rhs += xs[i] * dqs[i]
					scale += m * math.Abs(xs[i]*gqs[i]) * 2
				}
				// Each side carries float32 rounding of about 4e-7 relative per term.
				if math.Abs(lhs-rhs) > 1e-6*scale {
					t.Fatalf("%v %s %v: <Apply(x), g> = %v, <x, Backward(g)> = %v", isa, s.name, pr, lhs, rhs)
				}
			}
		}
		restore()
	}
}

// TestPositionsMatchOffset: nil positions with an offset, [S] int32 and [B, S] int64
// holding the same positions give identical bits.
func TestPositionsMatchOffset(t *testing.T) {
	const B, S, H, D, off = 3, 11, 2, 32, 123
	rng := rand.New(rand.NewPCG(8, 8))
	x := make([]float32, B*S*H*D)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	p32 := make([]int32, S)
	p64 := make([]int64, B*S)
	for s := range S {
		p32[s] = int32(off + s)
		for b := range B {
			p64[b*S+s] = int64(off + s)
		}
	}
	pos32 := tensor.Tensor{Data: unsafe.Pointer(&p32[0]), DType: tensor.Int32, Shape: []int{S}, Strides: []int{1}}
	pos64 := tensor.Tensor{Data: unsafe.Pointer(&p64[0]), DType: tensor.Int64, Shape: []int{B, S}, Strides: []int{S, 1}}
	p := DefaultParams()
	p.Scaling = Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 64}
	var results [3][]float32
	for i, pos := range []*tensor.Tensor{nil, &pos32, &pos64} {
		out := make([]float32, len(x))
		pp := p
		if pos == nil {
			pp.Offset = off
		}
		if err := Apply(tensor.FromFloat32(x, B, S, H, D), tensor.FromFloat32(out, B, S, H, D), nil, nil, pos, pp); err != nil {
			t.Fatal(err)
		}
		results[i] = out
	}
	if !slices.Equal(results[0], results[1]) || !slices.Equal(results[0], results[2]) {
		t.Fatal("offset, [S] positions and [B, S] positions disagree")
	}
}

// TestQOnlyMatchesQK: rotating q alone gives the same bits as rotating q with k.
func TestQOnlyMatchesQK(t *testing.T) {
	const B, S, Hq, Hk, D = 1, 6, 4, 2, 40
	rng := rand.New(rand.NewPCG(9, 9))
	q := make([]float32, B*S*Hq*D)
	k := make([]float32, B*S*Hk*D)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	for i := range k {
		k[i] = float32(rng.NormFloat64())
	}
	p := DefaultParams()
	p.Pairing, p.Offset = Interleaved, 77
	qa, qb, ko := make([]float32, len(q)), make([]float32, len(q)), make([]float32, len(k))
	kt, kot := tensor.FromFloat32(k, B, S, Hk, D), tensor.FromFloat32(ko, B, S, Hk, D)
	if err := Apply(tensor.FromFloat32(q, B, S, Hq, D), tensor.FromFloat32(qa, B, S, Hq, D), &kt, &kot, nil, p); err != nil {
		t.Fatal(err)
	}
	if err := Apply(tensor.FromFloat32(q, B, S, Hq, D), tensor.FromFloat32(qb, B, S, Hq, D), nil, nil, nil, p); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(qa, qb) {
		t.Fatal("q rotated alone differs from q rotated with k")
	}
	// k passed as q gives k's result too (same heads, same positions).
	kq := make([]float32, len(k))
	if err := Apply(kt, tensor.FromFloat32(kq, B, S, Hk, D), nil, nil, nil, p); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kq, ko) {
		t.Fatal("k rotated as q differs from k rotated as k")
	}
}

// TestThreadAndBatchInvariance: bit-identical results for 1, 2 and 3 threads (the call
// spans many table and row chunks), and a sequence computed alone equals the same
// sequence inside a batch.
func TestThreadAndBatchInvariance(t *testing.T) {
	defer cpu.SetNumThreads(0)
	const B, S, Hq, Hk, D = 3, 70, 8, 2, 128
	rng := rand.New(rand.NewPCG(10, 10))
	q := make([]float32, B*S*Hq*D)
	k := make([]float32, B*S*Hk*D)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	for i := range k {
		k[i] = float32(rng.NormFloat64())
	}
	pos := make([]int32, B*S)
	for i := range pos {
		pos[i] = int32(rng.IntN(9000))
	}
	p := DefaultParams()
	p.Scaling = Scaling{Kind: Llama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
	p.Base = 500000
	run := func(threads, b0, nb int) ([]float32, []float32) {
		cpu.SetNumThreads(threads)
		qs, ks := q[b0*S*Hq*D:(b0+nb)*S*Hq*D], k[b0*S*Hk*D:(b0+nb)*S*Hk*D]
		qo, ko := make([]float32, len(qs)), make([]float32, len(ks))
		kt, kot := tensor.FromFloat32(ks, nb, S, Hk, D), tensor.FromFloat32(ko, nb, S, Hk, D)
		pt := tensor.Tensor{Data: unsafe.Pointer(&pos[b0*S]), DType: tensor.Int32, Shape: []int{nb, S}, Strides: []int{S, 1}}
		if err := Apply(tensor.FromFloat32(qs, nb, S, Hq, D), tensor.FromFloat32(qo, nb, S, Hq, D), &kt, &kot, &pt, p); err != nil {
			t.Fatal(err)
		}
		return qo, ko
	}
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		q1, k1 := run(1, 0, B)
		for _, threads := range []int{2, 3} {
			qn, kn := run(threads, 0, B)
			if !slices.Equal(q1, qn) || !slices.Equal(k1, kn) {
				t.Fatalf("%v: %d threads differ from 1 thread", isa, threads)
			}
		}
		qa, ka := run(2, 1, 1)
		if !slices.Equal(qa, q1[S*Hq*D:2*S*Hq*D]) || !slices.Equal(ka, k1[S*Hk*D:2*S*Hk*D]) {
			t.Fatalf("%v: a sequence computed alone differs from the same sequence in a batch", isa)
		}
		restore()
	}
}

// TestPassThroughBits: dims past RotaryDim are copied bit for bit, NaN payloads included.
func TestPassThroughBits(t *testing.T) {
	for _, dt := range floatTypes {
		g := qk{1, 2, 1, 8, BSHD}
		for _, mode := range []memMode{contiguous, reversed} {
			x := newTBuf(dt, g.shape(), mode)
			out := newTBuf(dt, g.shape(), contiguous)
			forEachIndex(g.shape(), func(idx [4]int) { x.set(idx, 1) })
			nan := uint32(0x7fa00001) // float32 NaN with a payload
			if dt != tensor.Float32 {
				nan = 0x7d01 // a float16 signaling NaN, or a bfloat16 NaN
			}
			x.putBits(x.base+x.offset([4]int{0, 1, 0, 6}), nan)
			p := DefaultParams()
			p.RotaryDim = 4
			if err := Apply(x.t, out.t, nil, nil, nil, p); err != nil {
				t.Fatal(err)
			}
			if got := out.bits(out.base + out.offset([4]int{0, 1, 0, 6})); got != nan {
				t.Errorf("%v %v: pass-through NaN bits %#x became %#x", dt, mode, nan, got)
			}
		}
	}
}

// TestDecodeDoesNotAllocate: a steady stream of decode calls reuses pooled buffers.
func TestDecodeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	q := make([]float32, 32*128)
	k := make([]float32, 8*128)
	qt, kt := tensor.FromFloat32(q, 1, 1, 32, 128), tensor.FromFloat32(k, 1, 1, 8, 128)
	p := DefaultParams()
	p.Scaling = Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 4096}
	allocs := testing.AllocsPerRun(100, func() {
		p.Offset++
		if err := Apply(qt, qt, &kt, &kt, nil, p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("decode call allocates %v times", allocs)
	}
}

// TestEmpty: zero-sized batch, sequence or heads are accepted and write nothing.
func TestEmpty(t *testing.T) {
	for _, shape := range [][]int{{0, 3, 2, 8}, {2, 0, 2, 8}, {2, 3, 0, 8}} {
		q := tensor.Tensor{DType: tensor.Float32, Shape: shape, Strides: tensor.RowMajorStrides(shape)}
		if err := Apply(q, q, nil, nil, nil, DefaultParams()); err != nil {
			t.Errorf("shape %v: %v", shape, err)
		}
	}
}
