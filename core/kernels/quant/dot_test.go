package quant

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Kernel-level tests: every path of cpu.Available() against float64 references written
// from each kernel's definition, at sizes that hit every tail of every unrolled loop.

// checkDot compares a float32 dot product with its float64 reference. Any fixed-order
// float32 summation of n products (fused or rounded) is within γ(n+8)·Σ|terms| of the
// exact sum (Higham, Accuracy and Stability, §3.1), with γ(k) ≈ k·2^-24.
func checkDot(t *testing.T, what string, got float32, want, sumAbs float64, n int) {
	t.Helper()
	if tol := float64(n+8) * 0x1p-24 * sumAbs; !(math.Abs(float64(got)-want) <= tol) {
		t.Fatalf("%s: %v, want %v (tolerance %v)", what, got, want, tol)
	}
}

func randX(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestDotI8(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	forEachISA(t, func(t *testing.T) {
		ks := kernelsFor(cpu.Selected())
		for _, n := range []int{1, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1023, 1040} {
			for _, z := range []int32{0, -128, 37, 127} {
				x := randX(rng, n+5) // longer than q: only len(q) elements count
				q := make([]int8, n)
				for i := range q {
					q[i] = int8(rng.IntN(256) - 128)
				}
				s := float32(rng.Float64()*0.1 + 1e-3)
				var want, abs float64
				for j := range q {
					w := float64(float32(float64(int32(q[j])-z) * float64(s)))
					want += float64(x[j]) * w
					abs += math.Abs(float64(x[j]) * w)
				}
				checkDot(t, name("dotI8 n=", n, " z=", z), ks.dotI8(x, q, s, z), want, abs, n)
			}
		}
	})
}

func TestDotU8(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	forEachISA(t, func(t *testing.T) {
		ks := kernelsFor(cpu.Selected())
		for _, n := range []int{32, 64, 96, 128, 160, 1056} {
			for _, shift := range []uint{5, 6, 7} {
				ng := (n-1)>>shift + 1
				x := randX(rng, n)
				q := make([]byte, n)
				for i := range q {
					q[i] = byte(rng.IntN(256))
				}
				s, b := randX(rng, ng), randX(rng, ng)
				var want, abs float64
				for j := range q {
					g := j >> shift
					w := float64(float32(float64(float32(float64(q[j])*float64(s[g]))) + float64(b[g])))
					want += float64(x[j]) * w
					abs += math.Abs(float64(x[j]) * w)
				}
				checkDot(t, name("dotU8 n=", n, " shift=", shift), ks.dotU8(x, q, s, b, shift), want, abs, n)
			}
		}
	})
}

// i4Case is a random 4-bit weight row of nblk blocks of 32 and its parameters.
func i4Case(rng *rand.Rand, kind i4Kind, nblk int, shift uint) ([]byte, *i4Row) {
	ng := (nblk-1)>>shift + 1
	w := make([]byte, 16*nblk)
	for i := range w {
		w[i] = byte(rng.IntN(256))
	}
	row := &i4Row{kind: kind, s: randX(rng, ng), b: randX(rng, ng), z: make([]byte, ng), shift: shift, tab: make([]float32, 16*ng)}
	for i := range row.z {
		row.z[i] = byte(rng.IntN(16))
		if nblk%2 == 1 {
			row.z[i] = byte(rng.IntN(256)) // any byte a zeros tensor may hold
		}
	}
	return w, row
}

// i4Ref returns the float64 dot product of x with a 4-bit row, and the magnitude that
// bounds its float32 error: Σ|x|·|ŵ| for the symmetric format, and for the others
// Σ|x|·(|n·s| + |z·s|) or Σ|x|·(|n·s| + |b|), since a path may sum n·s·x and the offset
// times x separately.
func i4Ref(x []float32, w []byte, row *i4Row) (want, abs float64) {
	for j, xj := range x {
		what, mag := i4Weight(w, row, j)
		want += float64(xj) * what
		abs += math.Abs(float64(xj)) * mag
	}
	return want, abs
}

// i4Weight returns ŵ[j] of a 4-bit row and the magnitude i4Ref weighs x[j] with.
func i4Weight(w []byte, row *i4Row, j int) (what, mag float64) {
	n := w[j/2] >> (4 * (j % 2)) & 15
	g := j / 32 >> row.shift
	s := float64(row.s[g])
	switch row.kind {
	case i4Sym:
		what = float64(float32(float64(int8(n<<4)>>4) * s))
		return what, math.Abs(what)
	case i4Asym:
		what = float64(float32(float64(int(n)-int(row.z[g])) * s))
		return what, (float64(n) + float64(row.z[g])) * math.Abs(s)
	}
	what = float64(float32(float64(float32(float64(n)*s)) + float64(row.b[g])))
	return what, float64(n)*math.Abs(s) + math.Abs(float64(row.b[g]))
}

// prepX returns x as the kernels of ks read it.
func prepX(ks *kernelSet, x []float32) []float32 {
	xp := make([]float32, ks.i4XLen(len(x)))
	ks.prepXI4(xp, x)
	return xp
}

// TestDotI4 covers whole blocks of 128, blocks of 32 after them, and both alone.
func TestDotI4(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 15))
	forEachISA(t, func(t *testing.T) {
		ks := kernelsFor(cpu.Selected())
		for _, nblk := range []int{1, 2, 3, 4, 5, 7, 8, 9, 12, 33, 35, 128} {
			for _, shift := range []uint{0, 1, 2} {
				for _, kind := range []i4Kind{i4Sym, i4Asym, i4Affine} {
					w, row := i4Case(rng, kind, nblk, shift)
					x := randX(rng, 32*nblk)
					want, abs := i4Ref(x, w, row)
					ks.prepI4(row)
					checkDot(t, name("dotI4 kind=", kind, " nblk=", nblk, " shift=", shift), ks.dotI4(prepX(ks, x), w, row), want, abs, 32*nblk)
				}
			}
		}
	})
}

// TestDotI4Pair checks that the two-weight-row kernels give each row of x its one-row
// result bit for bit, for odd and even counts of x rows and mixed formats.
func TestDotI4Pair(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 19))
	forEachISA(t, func(t *testing.T) {
		ks := kernelsFor(cpu.Selected())
		for _, nblk := range []int{1, 3, 4, 5, 8, 9, 33} {
			for _, shift := range []uint{0, 1, 2} {
				for _, kind := range []i4Kind{i4Sym, i4Asym, i4Affine} {
					for _, rows := range []int{1, 2, 5} {
						in := 32 * nblk
						ld := ks.i4XLen(in) + 3 // rows of x with a gap between them
						xs := make([]float32, rows*ld)
						for m := range rows {
							ks.prepXI4(xs[m*ld:m*ld+ks.i4XLen(in)], randX(rng, in))
						}
						w0, row0 := i4Case(rng, kind, nblk, shift)
						w1, row1 := i4Case(rng, []i4Kind{kind, i4Sym}[rows%2], nblk, shift)
						ks.prepI4(row0)
						ks.prepI4(row1)
						out0, out1 := make([]float32, rows), make([]float32, rows)
						ks.dotI4Pair(xs, ld, w0, w1, row0, row1, out0, out1)
						for m := range rows {
							a, b := ks.dotI4(xs[m*ld:], w0, row0), ks.dotI4(xs[m*ld:], w1, row1)
							if math.Float32bits(out0[m]) != math.Float32bits(a) || math.Float32bits(out1[m]) != math.Float32bits(b) {
								t.Fatalf("kind=%d nblk=%d shift=%d rows=%d: row %d gives %v %v, alone %v %v", kind, nblk, shift, rows, m, out0[m], out1[m], a, b)
							}
						}
					}
				}
			}
		}
	})
}

// TestDotI4Run checks that a run of weight rows, with gaps between rows and between
// their parameter rows, gives every row the bits of dotI4, on the paths that have runs,
// and that the two-row runs give each row of x the bits of a one-row run.
func TestDotI4Run(t *testing.T) {
	rng := rand.New(rand.NewPCG(30, 31))
	forEachISA(t, func(t *testing.T) {
		ks := kernelsFor(cpu.Selected())
		if ks.dotI4Run == nil {
			t.Skip("no run kernel on this path")
		}
		for _, nblk := range []int{4, 8, 132} { // whole blocks of 128
			for _, shift := range []uint{0, 1, 2} {
				for _, kind := range []i4Kind{i4Sym, i4Asym, i4Affine} {
					for _, rows := range []int{1, 3, 32} {
						in, ng := 32*nblk, (nblk-1)>>shift+1
						wld, sld := in/2+64, ng+5
						w := make([]byte, rows*wld)
						s, c := make([]float32, rows*sld), make([]float32, rows*sld)
						var rowsI4 []*i4Row
						for i := range rows {
							wi, row := i4Case(rng, kind, nblk, shift)
							copy(w[i*wld:], wi)
							copy(s[i*sld:], row.s)
							ks.prepI4(row)
							switch kind {
							case i4Asym:
								asymOffsets(c[i*sld:i*sld+ng], row.s, row.z)
							case i4Affine:
								copy(c[i*sld:], row.b)
							}
							rowsI4 = append(rowsI4, row)
						}
						run := i4Run{kind: kind, shift: shift, in: in, w: unsafe.Pointer(&w[0]), wld: wld,
							s: unsafe.Pointer(&s[0]), sld: 4 * sld}
						if kind != i4Sym {
							run.c, run.cld = unsafe.Pointer(&c[0]), 4*sld
						}
						xp := prepX(ks, randX(rng, in))
						out := make([]float32, rows)
						ks.dotI4Run(xp, &run, out)
						for i, row := range rowsI4 {
							if alone := ks.dotI4(xp, w[i*wld:i*wld+in/2], row); math.Float32bits(out[i]) != math.Float32bits(alone) {
								t.Fatalf("kind=%d nblk=%d shift=%d rows=%d: row %d gives %v, alone %v", kind, nblk, shift, rows, i, out[i], alone)
							}
						}
						if ks.dotI4Run2 == nil {
							continue
						}
						// Two rows of x with a gap between them: each gets dotI4Run's bits.
						n := ks.i4XLen(in)
						xs := make([]float32, 2*n+5)
						copy(xs, xp)
						ks.prepXI4(xs[n+5:2*n+5], randX(rng, in))
						out1 := make([]float32, rows)
						ks.dotI4Run(xs[n+5:], &run, out1)
						out2 := make([]float32, 2*rows)
						ks.dotI4Run2(xs, n+5, &run, out2)
						for i := range rows {
							if math.Float32bits(out2[i]) != math.Float32bits(out[i]) || math.Float32bits(out2[rows+i]) != math.Float32bits(out1[i]) {
								t.Fatalf("kind=%d nblk=%d shift=%d rows=%d: two rows of x give %v %v for row %d, one at a time %v %v", kind, nblk, shift, rows, out2[i], out2[rows+i], i, out[i], out1[i])
							}
						}
					}
				}
			}
		}
	})
}

// TestDotI4CellRounding checks the documented error bound of the 4-bit kernels, the
// float32 bound of checkDot plus 2^-22·max|x_cell|·Σ_cell|ŵ| per cell of 8 elements (the
// AVX-512 kernels round x to 23 bits per cell; the other paths keep well inside), on x
// whose cells each hold one element 2^10 to 2^20 times the others, given the nibble 0
// (the weight 0 in the symmetric format) so that the others' rounding shows. In even trials
// the others lie on the 23-bit grid of their cell, as signed odd multiples of the
// grid's unit that a grid one bit coarser would round away from the true sum: exact
// there, and twice the bound one bit coarser.
func TestDotI4CellRounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 33))
	forEachISA(t, func(t *testing.T) {
		ks := kernelsFor(cpu.Selected())
		for _, nblk := range []int{4, 12, 33} {
			for _, kind := range []i4Kind{i4Sym, i4Asym, i4Affine} {
				for trial := range 8 {
					in := 32 * nblk
					w, row := i4Case(rng, kind, nblk, 1)
					x := randX(rng, in)
					for c := 0; c < in; c += 8 {
						big, e := c+rng.IntN(8), 10+rng.IntN(11)
						w[big/2] &^= 15 << (4 * (big % 2))
						if trial%2 == 1 {
							x[big] = float32(math.Ldexp(1+rng.Float64(), e))
							continue
						}
						x[big] = float32(math.Ldexp(1, e))
						for j := c; j < c+8; j++ {
							if what, _ := i4Weight(w, row, j); j != big {
								// (4p+1)·2^(e-21): halfway on the coarser grid, rounded to
								// even there, so toward zero; against ŵ's sign.
								x[j] = float32(math.Copysign(math.Ldexp(float64(4*rng.IntN(8)+1), e-21), what))
							}
						}
					}
					want, abs := i4Ref(x, w, row)
					ks.prepI4(row)
					got := float64(ks.dotI4(prepX(ks, x), w, row))
					bound := float64(in+8)*0x1p-24*abs + cellBound(x, w, row)
					if !(math.Abs(got-want) <= bound) {
						t.Fatalf("kind=%d nblk=%d trial=%d: %v, want %v (bound %v)", kind, nblk, trial, got, want, bound)
					}
				}
			}
		}
	})
}

// cellBound is Σ over cells of 8 elements of 2^-22·max|x_cell|·Σ_cell|ŵ|, with |ŵ| the
// magnitude i4Ref uses.
func cellBound(x []float32, w []byte, row *i4Row) float64 {
	var b float64
	for c := 0; c < len(x); c += 8 {
		var top, mags float64
		for j := c; j < c+8; j++ {
			_, mag := i4Weight(w, row, j)
			top, mags = max(top, math.Abs(float64(x[j]))), mags+mag
		}
		b += 0x1p-22 * top * mags
	}
	return b
}

// TestTables checks the generic path's tables (prepI4Generic, from dequantI4) bit for
// bit, and that it writes nothing past them.
func TestTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 17))
	for _, ng := range []int{1, 3, 17} {
		s, b := randX(rng, ng), randX(rng, ng)
		z := make([]byte, ng)
		for i := range z {
			z[i] = byte(rng.IntN(256))
		}
		const guard = float32(-12345)
		for _, kind := range []string{"sym", "asym", "affine"} {
			tab := make([]float32, 16*ng+8)
			for i := range tab {
				tab[i] = guard
			}
			row := &i4Row{kind: map[string]i4Kind{"sym": i4Sym, "asym": i4Asym, "affine": i4Affine}[kind], s: s, z: z, b: b, tab: tab[:16*ng]}
			prepI4Generic(row)
			for g := range ng {
				for k := range 16 {
					var want float32
					switch kind {
					case "sym":
						level := float64(k)
						if k >= 8 {
							level -= 16
						}
						want = float32(level * float64(s[g]))
					case "asym":
						want = float32(float64(k-int(z[g])) * float64(s[g]))
					case "affine":
						want = float32(float64(float32(float64(k)*float64(s[g]))) + float64(b[g]))
					}
					if got := tab[16*g+k]; got != want {
						t.Fatalf("%s ng=%d tab[%d][%d] = %v, want %v", kind, ng, g, k, got, want)
					}
				}
			}
			for _, v := range tab[16*ng:] {
				if v != guard {
					t.Fatalf("%s ng=%d wrote past the tables", kind, ng)
				}
			}
		}
	}
}

// TestWiden checks every float16 and bfloat16 bit pattern, at lengths with tails.
func TestWiden(t *testing.T) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	forEachISA(t, func(t *testing.T) {
		ks := kernelsFor(cpu.Selected())
		for _, n := range []int{1 << 16, 13} {
			for _, bf := range []bool{false, true} {
				dst := make([]float32, n+4)
				if bf {
					ks.widenBF16(dst[:n], src[:n])
				} else {
					ks.widenF16(dst[:n], src[:n])
				}
				for i := range n {
					want := tensor.F16ToF32(src[i])
					if bf {
						want = tensor.BF16ToF32(src[i])
					}
					same := math.Float32bits(dst[i]) == math.Float32bits(want) ||
						(math.IsNaN(float64(dst[i])) && math.IsNaN(float64(want)))
					if !same {
						t.Fatalf("bf16=%v %#04x -> %v, want %v", bf, src[i], dst[i], want)
					}
				}
				if dst[n] != 0 {
					t.Fatal("widen wrote past its output")
				}
			}
		}
	})
}

func TestPermute32(t *testing.T) {
	src := make([]float32, 64)
	for i := range src {
		src[i] = float32(i)
	}
	dst := make([]float32, 64)
	permute32(dst, src)
	for k := 0; k < 64; k += 32 {
		for i := range 16 {
			if dst[k+i] != float32(k+2*i) || dst[k+16+i] != float32(k+2*i+1) {
				t.Fatalf("permute32: %v", dst)
			}
		}
	}
}
