package rope

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// memMode is how a test tensor's elements are laid out in memory.
type memMode int

const (
	contiguous memMode = iota // row-major
	padded                    // row-major order with gaps after every dimension
	transposed                // dims 1 and 2 swapped in memory; rows stay unit-stride
	reversed                  // last axis stride -2, dim 1 stride negative
)

var memModes = []memMode{contiguous, padded, transposed, reversed}

func (m memMode) String() string {
	return [...]string{"contiguous", "padded", "transposed", "reversed"}[m]
}

// tbuf is a 4-D tensor in Go memory. Every slot of its backing store that is not one of
// its elements holds a guard pattern, so stray writes are caught.
type tbuf struct {
	mem   []uint64
	esize int
	base  int // slot of element [0, 0, 0, 0]
	owned []bool
	t     tensor.Tensor
}

const guardBits = 0x7fc1dead // a NaN pattern; half types keep its low 16 bits

func stridesFor(shape [4]int, mode memMode) [4]int {
	n1, n2, n3 := shape[1], shape[2], shape[3]
	switch mode {
	case padded:
		s2 := n3 + 3
		s1 := s2*n2 + 5
		return [4]int{s1*n1 + 7, s1, s2, 1}
	case transposed:
		return [4]int{n3 * n1 * n2, n3, n3 * n1, 1}
	case reversed:
		s2 := 2 * n3
		s1 := s2*n2 + 1
		return [4]int{s1*n1 + 3, -s1, s2, -2}
	}
	return [4]int{n1 * n2 * n3, n2 * n3, n3, 1}
}

func newTBuf(dt tensor.DType, shape [4]int, mode memMode) *tbuf {
	st := stridesFor(shape, mode)
	minOff, maxOff := 0, 0
	for i, n := range shape {
		if n == 0 {
			minOff, maxOff = 0, 0
			break
		}
		if s := st[i] * (n - 1); s < 0 {
			minOff += s
		} else {
			maxOff += s
		}
	}
	const pad = 8
	slots := maxOff - minOff + 1 + 2*pad
	b := &tbuf{esize: dt.Bits() / 8, base: pad - minOff, owned: make([]bool, slots)}
	b.mem = make([]uint64, (slots*b.esize+7)/8)
	for s := range slots {
		b.putBits(s, guardBits)
	}
	b.t = tensor.Tensor{Data: b.slot(b.base), DType: dt, Shape: shape[:], Strides: st[:]}
	forEachIndex(shape, func(idx [4]int) { b.owned[b.base+b.offset(idx)] = true })
	return b
}

func forEachIndex(shape [4]int, f func(idx [4]int)) {
	for i0 := range shape[0] {
		for i1 := range shape[1] {
			for i2 := range shape[2] {
				for i3 := range shape[3] {
					f([4]int{i0, i1, i2, i3})
				}
			}
		}
	}
}

func (b *tbuf) slot(s int) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(b.mem)), s*b.esize)
}

func (b *tbuf) offset(idx [4]int) int {
	off := 0
	for i, v := range idx {
		off += v * b.t.Strides[i]
	}
	return off
}

func (b *tbuf) putBits(s int, bits uint32) {
	if b.esize == 4 {
		*(*uint32)(b.slot(s)) = bits
	} else {
		*(*uint16)(b.slot(s)) = uint16(bits)
	}
}

func (b *tbuf) bits(s int) uint32 {
	if b.esize == 4 {
		return *(*uint32)(b.slot(s))
	}
	return uint32(*(*uint16)(b.slot(s)))
}

// set stores v rounded to the dtype and returns the stored value.
func (b *tbuf) set(idx [4]int, v float64) float64 {
	s := b.base + b.offset(idx)
	switch b.t.DType {
	case tensor.Float32:
		b.putBits(s, math.Float32bits(float32(v)))
	case tensor.Float16:
		b.putBits(s, uint32(tensor.F32ToF16(float32(v))))
	case tensor.BFloat16:
		b.putBits(s, uint32(tensor.F32ToBF16(float32(v))))
	}
	return b.get(idx)
}

func (b *tbuf) get(idx [4]int) float64 {
	bits := b.bits(b.base + b.offset(idx))
	switch b.t.DType {
	case tensor.Float16:
		return float64(tensor.F16ToF32(uint16(bits)))
	case tensor.BFloat16:
		return float64(tensor.BF16ToF32(uint16(bits)))
	}
	return float64(math.Float32frombits(bits))
}

// checkGuards fails if any slot outside the tensor's elements changed.
func (b *tbuf) checkGuards(t *testing.T, name string) {
	t.Helper()
	want := uint32(guardBits)
	if b.esize == 2 {
		want &= 0xffff
	}
	for s, own := range b.owned {
		if !own && b.bits(s) != want {
			t.Fatalf("%s: guard slot %d overwritten", name, s)
		}
	}
}

// snapshot returns every slot's bits (elements and guards).
func (b *tbuf) snapshot() []uint32 {
	out := make([]uint32, len(b.owned))
	for s := range out {
		out[s] = b.bits(s)
	}
	return out
}

// qk is a q or k operand in canonical (b, s, h, d) terms.
type qk struct {
	B, S, H, D int
	layout     Layout
}

func (g qk) shape() [4]int {
	if g.layout == BHSD {
		return [4]int{g.B, g.H, g.S, g.D}
	}
	return [4]int{g.B, g.S, g.H, g.D}
}

func (g qk) index(b, s, h, d int) [4]int {
	if g.layout == BHSD {
		return [4]int{b, h, s, d}
	}
	return [4]int{b, s, h, d}
}

func (g qk) flat(b, s, h, d int) int { return ((b*g.S+s)*g.H+h)*g.D + d }

// fillRandom stores normal values and returns them as stored, in canonical order.
func fillRandom(b *tbuf, g qk, rng *rand.Rand) []float64 {
	out := make([]float64, g.B*g.S*g.H*g.D)
	for bb := range g.B {
		for s := range g.S {
			for h := range g.H {
				for d := range g.D {
					out[g.flat(bb, s, h, d)] = b.set(g.index(bb, s, h, d), rng.NormFloat64())
				}
			}
		}
	}
	return out
}

// read returns the tensor's values in canonical order.
func read(b *tbuf, g qk) []float64 {
	out := make([]float64, g.B*g.S*g.H*g.D)
	for bb := range g.B {
		for s := range g.S {
			for h := range g.H {
				for d := range g.D {
					out[g.flat(bb, s, h, d)] = b.get(g.index(bb, s, h, d))
				}
			}
		}
	}
	return out
}

// refInvFreq is the float64 definition of each variant's inverse frequencies and
// attention factor, written from the formulas (not from the package's code):
//
//	default:  theta_i = base^(-2i/R) = exp(-(2i/R) ln base)
//	linear:   theta_i / s
//	NTK:      base' = base * s^(R/(R-2))
//	dynamic:  base' = base * (s*L/O - (s-1))^(R/(R-2)), L = max(seq_len, O)
//	YaRN:     pair index reached by r rotations over O: idx(r) = (R/2) ln(O/(2 pi r)) / ln base;
//	          lo = max(0, floor(idx(beta_fast))), hi = min(R-1, ceil(idx(beta_slow)))
//	          (hi += 0.001 when equal); gamma_i = clamp((i-lo)/(hi-lo), 0, 1);
//	          theta'_i = (1-gamma_i) theta_i + gamma_i theta_i / s;
//	          m = 1 + 0.1 ln s for s > 1 (else 1), unless given.
//	Llama3:   lambda_i = 2 pi / theta_i; lambda < O/hf: theta; lambda > O/lf: theta/s;
//	          else g = (O/lambda - lf)/(hf - lf), (1-g) theta/s + g theta.
func refInvFreq(p Params, r int) ([]float64, float64) {
	sc := p.Scaling
	base := p.Base
	exponent := float64(r) / float64(r-2)
	switch sc.Kind {
	case NTK:
		base = base * math.Exp(exponent*math.Log(sc.Factor))
	case DynamicNTK:
		o := float64(sc.OriginalMaxPositions)
		l := math.Max(float64(sc.SeqLen), o)
		base = base * math.Exp(exponent*math.Log(sc.Factor*l/o-sc.Factor+1))
	}
	theta := make([]float64, r/2)
	for i := range theta {
		theta[i] = math.Exp(-float64(2*i) / float64(r) * math.Log(base))
	}
	m := 1.0
	switch sc.Kind {
	case Linear:
		for i := range theta {
			theta[i] = theta[i] / sc.Factor
		}
	case YaRN:
		bf, bs := sc.BetaFast, sc.BetaSlow
		if bf == 0 {
			bf = 32
		}
		if bs == 0 {
			bs = 1
		}
		idx := func(rot float64) float64 {
			return float64(r) / 2 * math.Log(float64(sc.OriginalMaxPositions)/(2*math.Pi*rot)) / math.Log(p.Base)
		}
		lo, hi := idx(bf), idx(bs)
		if !sc.NoTruncate {
			lo, hi = math.Floor(lo), math.Ceil(hi)
		}
		lo, hi = math.Max(lo, 0), math.Min(hi, float64(r-1))
		if hi == lo {
			hi += 0.001
		}
		for i := range theta {
			gamma := math.Min(1, math.Max(0, (float64(i)-lo)/(hi-lo)))
			theta[i] = (1-gamma)*theta[i] + gamma*theta[i]/sc.Factor
		}
		mscale := func(s, k float64) float64 {
			if s > 1 {
				return 1 + 0.1*k*math.Log(s)
			}
			return 1
		}
		switch {
		case sc.AttentionFactor != 0:
			m = sc.AttentionFactor
		case sc.Mscale != 0 && sc.MscaleAllDim != 0:
			m = mscale(sc.Factor, sc.Mscale) / mscale(sc.Factor, sc.MscaleAllDim)
		default:
			m = mscale(sc.Factor, 1)
		}
	case Llama3:
		o := float64(sc.OriginalMaxPositions)
		for i, th := range theta {
			lambda := 2 * math.Pi / th
			switch {
			case lambda < o/sc.HighFreqFactor:
			case lambda > o/sc.LowFreqFactor:
				theta[i] = th / sc.Factor
			default:
				g := (o/lambda - sc.LowFreqFactor) / (sc.HighFreqFactor - sc.LowFreqFactor)
				theta[i] = (1-g)*th/sc.Factor + g*th
			}
		}
	}
	return theta, m
}

// pairOf returns the two dims of pair i.
func pairOf(pr Pairing, i, r int) (int, int) {
	if pr == Interleaved {
		return 2 * i, 2*i + 1
	}
	return i, i + r/2
}

// refRotate applies the rotation matrix m*[[cos, -sin], [sin, cos]] (angle negated for
// inverse) to every pair of every row of x (canonical order); dims >= R pass through.
func refRotate(x []float64, g qk, pos func(b, s int) float64, p Params, r int) []float64 {
	theta, m := refInvFreq(p, r)
	out := append([]float64(nil), x...)
	for b := range g.B {
		for s := range g.S {
			for h := range g.H {
				row := g.flat(b, s, h, 0)
				for i, th := range theta {
					angle := pos(b, s) * th
					if p.Inverse {
						angle = -angle
					}
					ia, ib := pairOf(p.Pairing, i, r)
					xa, xb := x[row+ia], x[row+ib]
					out[row+ia] = m * (math.Cos(angle)*xa - math.Sin(angle)*xb)
					out[row+ib] = m * (math.Sin(angle)*xa + math.Cos(angle)*xb)
				}
			}
		}
	}
	return out
}

// roundingUnit is the relative rounding error of one final rounding to dt, and tiny its
// absolute error near zero (half the smallest float16 subnormal).
func roundingUnit(dt tensor.DType) (unit, tiny float64) {
	switch dt {
	case tensor.Float16:
		return 0x1p-11, 0x1p-25
	case tensor.BFloat16:
		return 0x1p-8, 0
	}
	return 0, 0
}

// checkRotated compares got with the reference want for rotated inputs x. Tolerance:
// cos and sin are rounded to float32 (2^-24 each) and two products and a sum are rounded
// in float32, so |error| <= 4e-7 * m * (|x_a| + |x_b|) before the final rounding to dt,
// which adds unit*|want| + tiny. Pass-through dims must be exact.
func checkRotated(t *testing.T, what string, dt tensor.DType, g qk, p Params, r int, x, got, want []float64) {
	t.Helper()
	_, m := refInvFreq(p, r)
	unit, tiny := roundingUnit(dt)
	for b := range g.B {
		for s := range g.S {
			for h := range g.H {
				row := g.flat(b, s, h, 0)
				for i := range r / 2 {
					ia, ib := pairOf(p.Pairing, i, r)
					scale := m * (math.Abs(x[row+ia]) + math.Abs(x[row+ib]))
					for _, e := range []int{row + ia, row + ib} {
						tol := 4e-7*scale + unit*math.Abs(want[e]) + tiny
						if d := math.Abs(got[e] - want[e]); !(d <= tol) {
							t.Fatalf("%s: element %d of row (%d,%d,%d) = %v, want %v (|diff| %.3g > %.3g)",
								what, e-row, b, s, h, got[e], want[e], d, tol)
						}
					}
				}
				for d := r; d < g.D; d++ {
					if got[row+d] != x[row+d] {
						t.Fatalf("%s: pass-through dim %d of row (%d,%d,%d) changed: %v -> %v", what, d, b, s, h, x[row+d], got[row+d])
					}
				}
			}
		}
	}
}
