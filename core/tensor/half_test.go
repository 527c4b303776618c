package tensor

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// halfFormat describes a 16-bit float format from first principles, so the reference
// below never shares code with the conversions under test.
type halfFormat struct {
	name     string
	expBits  int
	manBits  int
	widen    func(uint16) float32
	narrow   func(float32) uint16
	sortedV  []float64 // finite non-negative values, ascending
	sortedBs []uint16  // their bit patterns
}

// value decodes bit pattern h into float64 from the IEEE definition.
func (f *halfFormat) value(h uint16) float64 {
	bias := 1<<(f.expBits-1) - 1
	sign := 1.0
	if h>>15 == 1 {
		sign = -1
	}
	e := int(h>>f.manBits) & (1<<f.expBits - 1)
	m := int(h) & (1<<f.manBits - 1)
	switch {
	case e == 1<<f.expBits-1 && m == 0:
		return math.Inf(int(sign))
	case e == 1<<f.expBits-1:
		return math.NaN()
	case e == 0:
		return sign * math.Ldexp(float64(m), 1-bias-f.manBits)
	}
	return sign * math.Ldexp(float64(m+1<<f.manBits), e-bias-f.manBits)
}

func (f *halfFormat) init() {
	for h := 0; h < 0x8000; h++ {
		v := f.value(uint16(h))
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			f.sortedV = append(f.sortedV, v)
			f.sortedBs = append(f.sortedBs, uint16(h))
		}
	}
}

// nearest returns the correctly rounded (ties to even) bit pattern for x.
func (f *halfFormat) nearest(x float64) uint16 {
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	inf := uint16(1<<f.expBits-1) << f.manBits
	n := len(f.sortedV)
	maxV := f.sortedV[n-1]
	ulp := maxV - f.sortedV[n-2]
	if x >= maxV+ulp/2 { // the tie at max+ulp/2 goes to Inf: max has an odd significand
		return sign | inf
	}
	i := sort.SearchFloat64s(f.sortedV, x)
	if i == n { // between max and the overflow threshold
		return sign | f.sortedBs[n-1]
	}
	if i < n && f.sortedV[i] == x {
		return sign | f.sortedBs[i]
	}
	lo, hi := i-1, i
	dlo, dhi := x-f.sortedV[lo], f.sortedV[hi]-x
	switch {
	case dlo < dhi:
		return sign | f.sortedBs[lo]
	case dhi < dlo:
		return sign | f.sortedBs[hi]
	case f.sortedBs[lo]&1 == 0:
		return sign | f.sortedBs[lo]
	}
	return sign | f.sortedBs[hi]
}

func formats() []*halfFormat {
	fs := []*halfFormat{
		{name: "float16", expBits: 5, manBits: 10, widen: F16ToF32, narrow: F32ToF16},
		{name: "bfloat16", expBits: 8, manBits: 7, widen: BF16ToF32, narrow: F32ToBF16},
	}
	for _, f := range fs {
		f.init()
	}
	return fs
}

// TestWidenExhaustive checks all 65,536 bit patterns against the IEEE definition.
func TestWidenExhaustive(t *testing.T) {
	for _, f := range formats() {
		for h := 0; h < 1<<16; h++ {
			got := f.widen(uint16(h))
			want := f.value(uint16(h))
			if math.IsNaN(want) {
				if !math.IsNaN(float64(got)) {
					t.Fatalf("%s: %#04x widened to %v, want NaN", f.name, h, got)
				}
				continue
			}
			if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
				t.Fatalf("%s: %#04x widened to %v, want %v", f.name, h, got, want)
			}
		}
	}
}

// TestRoundTripExhaustive checks narrow(widen(h)) == h for every non-NaN pattern and that
// NaN stays NaN.
func TestRoundTripExhaustive(t *testing.T) {
	for _, f := range formats() {
		for h := 0; h < 1<<16; h++ {
			back := f.narrow(f.widen(uint16(h)))
			if math.IsNaN(f.value(uint16(h))) {
				if !math.IsNaN(f.value(back)) || back>>15 != uint16(h)>>15 {
					t.Fatalf("%s: NaN %#04x came back as %#04x", f.name, h, back)
				}
				continue
			}
			if back != uint16(h) {
				t.Fatalf("%s: %#04x came back as %#04x", f.name, h, back)
			}
		}
	}
}

// TestNarrowRounding checks rounding against the nearest-value reference on every
// midpoint between neighbours (the ties), one float32 ulp either side of it, and random
// float32 bit patterns.
func TestNarrowRounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range formats() {
		check := func(x float32) {
			got := f.narrow(x)
			want := f.nearest(float64(x))
			if got != want {
				t.Fatalf("%s: %g (%#08x) narrowed to %#04x, want %#04x", f.name, x, math.Float32bits(x), got, want)
			}
		}
		vals := f.sortedV
		for i := 0; i+1 < len(vals); i++ {
			mid := float32((vals[i] + vals[i+1]) / 2) // exact: needs manBits+2 bits
			for _, x := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, math.MaxFloat32)} {
				check(x)
				check(-x)
			}
		}
		for range 1 << 20 {
			x := math.Float32frombits(rng.Uint32())
			if x != x {
				continue
			}
			check(x)
		}
		for _, x := range []float32{0, float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, math.SmallestNonzeroFloat32} {
			check(x)
		}
	}
}

// TestNarrowNaN checks that NaN inputs, including payloads that would truncate to the
// Inf pattern, stay NaN with their sign.
func TestNarrowNaN(t *testing.T) {
	for _, f := range formats() {
		for _, b := range []uint32{0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7f802000} {
			h := f.narrow(math.Float32frombits(b))
			if !math.IsNaN(f.value(h)) || h>>15 != uint16(b>>31) {
				t.Errorf("%s: NaN %#08x narrowed to %#04x", f.name, b, h)
			}
		}
	}
}
