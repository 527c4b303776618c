//go:build !purego

package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestPrepXVnni checks the integer layout of x for the AVX-512 4-bit kernels byte for
// byte against its definition (see prepXVnniAsm): per cell of 8 elements the exponent
// e of the largest |x| (at least -126), M = x·2^(21-e) rounded to nearest even, split
// into balanced signed bytes, e-21 as a float (NaN for a cell with an Inf or a NaN) and
// -8·ΣM; then the lane sums of x and the tail blocks of 32 as permute32. Cells range
// from zeros and subnormals to the largest floats.
func TestPrepXVnni(t *testing.T) {
	if !vnniKernels {
		t.Skip("the CPU lacks VNNI or GFNI")
	}
	rng := rand.New(rand.NewPCG(40, 41))
	const nb, in = 5, 5*128 + 64
	x := make([]float32, in)
	for c := 0; c < in; c += 8 {
		e := rng.IntN(280) - 150 // cells from subnormal to near the top of the range
		for j := c; j < c+8; j++ {
			x[j] = float32(math.Ldexp(rng.NormFloat64(), e))
		}
		switch c / 8 % 11 {
		case 3:
			clear(x[c : c+8])
			x[c+5] = float32(math.Copysign(0, -1))
		case 5:
			x[c+rng.IntN(8)] = float32(math.Inf(1 - 2*rng.IntN(2)))
		case 7:
			x[c+rng.IntN(8)] = float32(math.NaN())
		case 9:
			x[c+rng.IntN(8)] = math.MaxFloat32
		}
	}
	xp := make([]float32, blockXLen(in))
	prepXVnni(xp, x)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&xp[0])), 4*len(xp))
	for b := range nb {
		blk := raw[512*b : 512*b+512]
		for d := range 16 {
			cell := x[128*b+8*d : 128*b+8*d+8]
			ef := math.Float32frombits(binary.LittleEndian.Uint32(blk[384+4*d:]))
			var top uint32
			for _, v := range cell {
				top = max(top, math.Float32bits(v)&0x7fffffff)
			}
			if top >= 0x7f800000 {
				if !math.IsNaN(float64(ef)) {
					t.Fatalf("block %d cell %d %v: e-21 = %v, want NaN", b, d, cell, ef)
				}
				continue
			}
			e := max(int(top>>23), 1) - 127
			if ef != float32(e-21) {
				t.Fatalf("block %d cell %d %v: e-21 = %v, want %d", b, d, cell, ef, e-21)
			}
			var sum int64
			for m, v := range cell {
				M := int32(math.RoundToEven(math.Ldexp(float64(v), 21-e)))
				sum += int64(M)
				l0 := int8(M)
				r := (M - int32(l0)) >> 8
				l1 := int8(r)
				l2 := int8((r - int32(l1)) >> 8)
				if int32(l2)<<16+int32(l1)<<8+int32(l0) != M {
					t.Fatalf("limbs of %d", M)
				}
				at := 4*d + m/2 + 64*(m%2)
				if got := [3]int8{int8(blk[at]), int8(blk[128+at]), int8(blk[256+at])}; got != [3]int8{l2, l1, l0} {
					t.Fatalf("block %d cell %d element %d (%v): limbs %v, want %v", b, d, m, v, got, [3]int8{l2, l1, l0})
				}
			}
			if got := int32(binary.LittleEndian.Uint32(blk[448+4*d:])); int64(got) != -8*sum {
				t.Fatalf("block %d cell %d: -8ΣM = %d, want %d", b, d, got, -8*sum)
			}
			var s float32
			for _, v := range cell {
				s += v
			}
			if got := xp[in+16*b+d]; math.Float32bits(got) != math.Float32bits(s) && !(s != s && got != got) {
				t.Fatalf("block %d cell %d: lane sum %v, want %v", b, d, got, s)
			}
		}
	}
	want := make([]float32, in-128*nb)
	permute32(want, x[128*nb:])
	for i, v := range want {
		if got := xp[128*nb+i]; math.Float32bits(got) != math.Float32bits(v) {
			t.Fatalf("tail element %d: %v, want %v", i, got, v)
		}
	}
}
