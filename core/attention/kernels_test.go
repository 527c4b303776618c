package attention

import (
	"fmt"
	xcpu "golang.org/x/sys/cpu"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	rowkernels "github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Kernel-level tests: every ISA path against float64 references at tail sizes, with
// strided key/value rows and guard values after every output.

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

func TestKernelScores(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	forEachISA(t, func(t *testing.T) {
		kern := selectKernels()
		for _, dp := range []int{16, 32, 80, 128, 256} {
			for _, n := range []int{0, 1, 7, 8, 9, 15, 31, 33, 64} {
				for _, pad := range []int{0, 5} {
					t.Run(fmt.Sprintf("dp=%d/n=%d/pad=%d", dp, n, pad), func(t *testing.T) {
						ks := dp + pad
						q, k := randSlice(r, dp), randSlice(r, max(0, (n-1)*ks+dp))
						s := make([]float32, n+4)
						for i := range s {
							s[i] = guard
						}
						const scale = 0.3
						mx := kern.scores(s[:n], q, k, ks, scale)
						want := math.Inf(-1)
						for j := range n {
							var dot float64
							for d := range dp {
								dot += float64(q[d]) * float64(k[j*ks+d])
							}
							// float32 dot of dp terms of size <= 1: error <= dp * 2^-24 * sum|terms|.
							if math.Abs(float64(s[j])-scale*dot) > 1e-6*float64(dp) {
								t.Fatalf("s[%d] = %v, want %v", j, s[j], scale*dot)
							}
							want = max(want, float64(s[j]))
							// Each key alone gives the same bits as in the group.
							var one [1]float32
							kern.scores(one[:], q, k[j*ks:], ks, scale)
							if one[0] != s[j] {
								t.Fatalf("s[%d] alone = %v, in a group %v", j, one[0], s[j])
							}
						}
						if float64(mx) != want {
							t.Fatalf("max = %v, want %v", mx, want)
						}
						for _, g := range s[n:] {
							if g != guard {
								t.Fatalf("write past s")
							}
						}
					})
				}
			}
		}
	})
}

func TestKernelExpSum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	forEachISA(t, func(t *testing.T) {
		kern := selectKernels()
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64} {
			x := make([]float32, n+3)
			for i := range x {
				x[i] = guard
			}
			for i := range n {
				x[i] = float32(r.Float64()*40 - 30)
			}
			if n > 2 {
				x[1] = float32(math.Inf(-1)) // a masked key
				x[2] = -200                  // underflows to 0
			}
			in := append([]float32(nil), x...)
			const m = 5
			sum := kern.expSum(x[:n], m)
			var want float64
			for i := range n {
				e := math.Exp(float64(in[i] - m)) // the float32 difference is exact input to exp
				want += e
				// polynomial exp: 1 ulp, plus the subnormal range
				if math.Abs(float64(x[i])-e) > 3e-7*e+1e-44 {
					t.Fatalf("n=%d: exp(%v - %v) = %v, want %v", n, in[i], m, x[i], e)
				}
			}
			if math.Abs(float64(sum)-want) > 1e-6*want {
				t.Fatalf("n=%d: sum %v, want %v", n, sum, want)
			}
			for _, g := range x[n:] {
				if g != guard {
					t.Fatalf("n=%d: write past x", n)
				}
			}
		}
	})
}

func TestKernelAccum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	forEachISA(t, func(t *testing.T) {
		kern := selectKernels()
		for _, dvp := range []int{16, 32, 48, 80, 96, 128, 144, 256, 272} {
			for _, n := range []int{0, 1, 7, 33, 64} {
				vs := dvp + 3
				p, v := randSlice(r, n), randSlice(r, max(0, (n-1)*vs+dvp))
				o := randSlice(r, dvp+4)
				for i := dvp; i < len(o); i++ {
					o[i] = guard
				}
				want := make([]float64, dvp)
				for d := range want {
					want[d] = float64(o[d])
					for j := range n {
						want[d] += float64(p[j]) * float64(v[j*vs+d])
					}
				}
				kern.accum(o[:dvp], p, v, vs)
				for d := range want {
					if math.Abs(float64(o[d])-want[d]) > 1e-6*float64(n+1) {
						t.Fatalf("dvp=%d n=%d: o[%d] = %v, want %v", dvp, n, d, o[d], want[d])
					}
				}
				for _, g := range o[dvp:] {
					if g != guard {
						t.Fatalf("dvp=%d n=%d: write past o", dvp, n)
					}
				}
			}
		}
	})
}

// TestKernelPairs: scores2, accum2 and accum4 give each row exactly the bits of the single-row
// kernels (the determinism contract), and write nothing past their outputs.
func TestKernelPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	forEachISA(t, func(t *testing.T) {
		kern := selectKernels()
		for _, dp := range []int{16, 64, 80, 128, 256, 272} {
			for _, n := range []int{1, 7, 8, 9, 16, 33, 64} {
				ks := dp + 3
				q1, q2, k := randSlice(r, dp), randSlice(r, dp), randSlice(r, (n-1)*ks+dp)
				s1, s2 := make([]float32, n+2), make([]float32, n+2)
				s1[n], s2[n] = guard, guard
				m1, m2 := kern.scores2(s1[:n], s2[:n], q1, q2, k, ks, 0.7)
				w1, w2 := make([]float32, n), make([]float32, n)
				x1, x2 := kern.scores(w1, q1, k, ks, 0.7), kern.scores(w2, q2, k, ks, 0.7)
				for j := range n {
					if s1[j] != w1[j] || s2[j] != w2[j] {
						t.Fatalf("dp=%d n=%d: scores2 differs from scores at %d", dp, n, j)
					}
				}
				if m1 != x1 || m2 != x2 || s1[n] != guard || s2[n] != guard {
					t.Fatalf("dp=%d n=%d: max (%v %v) vs (%v %v), or a write past s", dp, n, m1, m2, x1, x2)
				}

				vs := dp + 5
				v := randSlice(r, (n-1)*vs+dp)
				o1, o2 := randSlice(r, dp+1), randSlice(r, dp+1)
				o1[dp], o2[dp] = guard, guard
				c1, c2 := append([]float32(nil), o1[:dp]...), append([]float32(nil), o2[:dp]...)
				kern.accum2(o1[:dp], o2[:dp], w1, w2, v, vs)
				kern.accum(c1, w1, v, vs)
				kern.accum(c2, w2, v, vs)
				for d := range dp {
					if o1[d] != c1[d] || o2[d] != c2[d] {
						t.Fatalf("dp=%d n=%d: accum2 differs from accum at %d", dp, n, d)
					}
				}
				if o1[dp] != guard || o2[dp] != guard {
					t.Fatalf("dp=%d n=%d: write past o", dp, n)
				}

				// accum4: rows ldo apart with guards between them, probabilities ldp apart.
				ldo, ldp := dp+3, n+2
				o4, p4 := randSlice(r, 3*ldo+dp+1), randSlice(r, 3*ldp+n)
				for i := range 4 {
					for g := i*ldo + dp; g < min(len(o4), (i+1)*ldo); g++ {
						o4[g] = guard
					}
				}
				want := append([]float32(nil), o4...)
				kern.accum4(o4, ldo, dp, p4, ldp, n, v, vs)
				for i := range 4 {
					kern.accum(want[i*ldo:i*ldo+dp], p4[i*ldp:i*ldp+n], v, vs)
				}
				for g := range o4 {
					if o4[g] != want[g] {
						t.Fatalf("dp=%d n=%d: accum4 element %d (row %d) is %v, accum gives %v", dp, n, g, g/ldo, o4[g], want[g])
					}
				}
			}
		}
	})
}

func TestKernelAxpyRows(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	forEachISA(t, func(t *testing.T) {
		kern := selectKernels()
		for _, d := range []int{16, 32, 80, 128, 256} {
			for _, n := range []int{0, 1, 7, 33} {
				ld := d + 5
				dst := randSlice(r, max(0, n*ld)+4)
				want := make([]float64, len(dst))
				for i, v := range dst {
					want[i] = float64(v)
				}
				for i := n * ld; i < len(dst); i++ {
					dst[i] = guard
					want[i] = float64(guard)
				}
				a, x := randSlice(r, n), randSlice(r, d)
				for j := range n {
					for c := range d {
						want[j*ld+c] += float64(a[j]) * float64(x[c])
					}
				}
				kern.axpyRows(dst, ld, a, x)
				for i, v := range dst {
					// one product and one addition of values <= 2: 2^-23 relative each.
					if math.Abs(float64(v)-want[i]) > 5e-7 {
						t.Fatalf("d=%d n=%d: dst[%d] = %v, want %v", d, n, i, v, want[i])
					}
				}
			}
		}
	})
}

// TestKernelAxpyRows2: the paired kernel gives the bits of two axpyRows calls (a1, x1
// then a2, x2) and writes nothing past the rows.
func TestKernelAxpyRows2(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	forEachISA(t, func(t *testing.T) {
		kern := selectKernels()
		for _, d := range []int{16, 32, 80, 128, 256} {
			for _, n := range []int{0, 1, 7, 33} {
				ld := d + 5
				dst := randSlice(r, max(0, n*ld)+4)
				for i := n * ld; i < len(dst); i++ {
					dst[i] = guard
				}
				want := slices.Clone(dst)
				a1, x1, a2, x2 := randSlice(r, n), randSlice(r, d), randSlice(r, n), randSlice(r, d)
				kern.axpyRows(want, ld, a1, x1)
				kern.axpyRows(want, ld, a2, x2)
				kern.axpyRows2(dst, ld, a1, x1, a2, x2)
				expectSameBits(t, fmt.Sprintf("d=%d n=%d, against two calls", d, n), dst, want)
			}
		}
	})
}

// TestKernelScaleDiv: each element is (o*scale)/l with both operations rounded to
// float32, exactly (checked in float64, where float32 products and quotients are exact
// before their rounding), at tail lengths, with guards after the row.
func TestKernelScaleDiv(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	forEachISA(t, func(t *testing.T) {
		kern := selectKernels()
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 40, 128} {
			o := append(randSlice(r, n), guard, guard)
			in := slices.Clone(o[:n])
			scale, l := float32(0.7), float32(3.1)
			kern.scaleDiv(o[:n], scale, l)
			for d, x := range in {
				want := float32(float64(float32(float64(x)*float64(scale))) / float64(l))
				if o[d] != want {
					t.Fatalf("n=%d: o[%d] = %v, want %v", n, d, o[d], want)
				}
			}
			if o[n] != guard || o[n+1] != guard {
				t.Fatalf("n=%d: wrote past the row", n)
			}
		}
	})
}

// TestKernelAccumHeads: every path's accumHeads, where there is one, gives each row the
// bits of accum over its head's values (widened, for float16 and bfloat16 with every bit
// pattern), with guards after each output row, for one to nine rows whose heads are in
// any order, positions further apart than the heads, and any prefetch distance
// (including past the values).
func TestKernelAccumHeads(t *testing.T) {
	rng := rand.New(rand.NewPCG(76, 77))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.accumHeads == nil {
			t.Skip("no head stream on this path")
		}
		const guard = float32(7)
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
			for _, nr := range []int{1, 2, 8, 9} {
				for _, dv := range []int{16, 48, 128, 256} {
					for _, n := range []int{0, 1, 7, 64} {
						vs := nr*dv + 5
						wide, data := randOfDType(rng, max(1, n*vs), dt)
						heads := rng.Perm(nr)
						ldo := dv + 1
						want := randSlice(rng, nr*ldo)
						for r := range nr {
							want[r*ldo+dv] = guard
						}
						got := slices.Clone(want)
						p := randSlice(rng, nr*n)
						rows := make([]headRow, nr)
						for r := range nr {
							rows[r] = headRow{o: &got[r*ldo], head: heads[r] * dv}
							if n > 0 {
								k.accum(want[r*ldo:r*ldo+dv], p[r*n:(r+1)*n], wide[heads[r]*dv:], vs)
								rows[r].p = &p[r*n]
							}
						}
						ahead := []int{0, 64, 32 << 10}[rng.IntN(3)]
						// Every path with the kernel reads the three dtypes, float16 given F16C.
						if took, want := k.accumHeads(rows, data, vs, n, dv, ahead, dt), dt != tensor.Float16 || xcpu.X86.HasF16C; took != want {
							t.Fatalf("%v: taken %v, want %v", dt, took, want)
						} else if !took {
							continue
						}
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%v rows=%d dv=%d n=%d: o[%d] = %#08x, want %#08x", dt, nr, dv, n, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
							}
						}
					}
				}
			}
		}
	})
}

// TestKernelAccumGroups: every path's accumGroups, where there is one, gives each of a
// head's four output rows the bits of accum on the widened values, for heads in any
// order with gaps between them, steps cut short, every half bit pattern and prefetch
// distances past the values, with guards after each output row.
func TestKernelAccumGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(82, 83))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.accumGroups == nil {
			t.Skip("no grouped value stream on this path")
		}
		const guard = float32(7)
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
			for _, nh := range []int{1, 3, 8} {
				for _, dv := range []int{16, 48, 64, 128, 256} {
					for _, n := range []int{0, 1, 7, 8, 20, 64} {
						if dv%k.groupCols != 0 {
							continue
						}
						vs := nh*dv + 5
						wide, data := randOfDType(rng, max(1, n*vs), dt)
						heads := rng.Perm(nh)
						ldo, ldp := dv+1, n+3
						want := randSlice(rng, 4*nh*ldo)
						for r := range 4 * nh {
							want[r*ldo+dv] = guard
						}
						got := slices.Clone(want)
						p := randSlice(rng, 4*nh*ldp+1)
						rows := make([]headRow, nh)
						for h := range nh {
							rows[h] = headRow{o: &got[4*h*ldo], p: &p[4*h*ldp], head: heads[h] * dv}
							for r := range 4 {
								if n > 0 {
									i := 4*h + r
									k.accum(want[i*ldo:i*ldo+dv], p[i*ldp:i*ldp+n], wide[heads[h]*dv:], vs)
								}
							}
						}
						ahead := []int{0, 64, 32 << 10}[rng.IntN(3)]
						if took, want := k.accumGroups(rows, ldo, ldp, data, vs, n, dv, ahead, dt), dt != tensor.Float16 || xcpu.X86.HasF16C; took != want {
							t.Fatalf("%v dv=%d: taken %v, want %v", dt, dv, took, want)
						} else if !took {
							continue
						}
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%v heads=%d dv=%d n=%d: o[%d] = %#08x, want %#08x", dt, nh, dv, n, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
							}
						}
					}
				}
			}
		}
		dv := k.groupCols + 8
		out := make([]float32, 4*dv)
		if k.accumGroups([]headRow{{o: &out[0], p: &out[0]}}, dv, dv, unsafe.Pointer(&out[0]), dv, 1, dv, 0, tensor.Float32) {
			t.Errorf("dv=%d: taken", dv)
		}
	})
}

// randOfDType returns n random values of dt (any bit pattern for the halves) at data,
// and wide, the same values as float32.
func randOfDType(rng *rand.Rand, n int, dt tensor.DType) (wide []float32, data unsafe.Pointer) {
	wide = randSlice(rng, n)
	if dt == tensor.Float32 {
		return wide, unsafe.Pointer(&wide[0])
	}
	half := make([]uint16, n)
	for i := range half {
		half[i] = uint16(rng.Uint32())
	}
	rowkernels.WidenRows(wide, n, unsafe.Pointer(&half[0]), n, 1, n, dt)
	return wide, unsafe.Pointer(&half[0])
}

// TestKernelScoresHeads: every path's scoresHeads, where there is one, gives each head's
// scores the bits of qkRows on the head's keys transposed by the same path, for every
// head count it takes (1 to 48), head dims 16 to 256, 0 to 64 positions, every half bit
// pattern and prefetch distances past the end of the keys, and writes nothing else.
func TestKernelScoresHeads(t *testing.T) {
	rng := rand.New(rand.NewPCG(78, 79))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.scoresHeads == nil {
			t.Skip("no key stream on this path")
		}
		tk := k.tiles
		const guard = float32(7)
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
			for _, heads := range []int{1, 2, 4, 8, 16, 32, 48} {
				for _, d := range []int{16, 48, 128, 256} {
					p := max(1, k.headLanes/heads)
					for _, n := range []int{0, p, 3 * p, 64} {
						// Whole blocks of 16 positions for the reference's transposition.
						rows := (n + 15) &^ 15 * heads
						wide, data := randOfDType(rng, max(1, rows*d), dt)
						q := randSlice(rng, heads*d)
						qh := make([]float32, max(k.headLanes, heads)*d)
						laneQueries(qh, heads, d, k.headLanes, func(h, t int) float32 { return q[h*d+t] })
						const ld = 70
						got := make([]float32, heads*ld)
						for i := range got {
							got[i] = guard
						}
						ahead := []int{0, 64, 32 << 10}[rng.IntN(3)]
						if !k.scoresHeads(got, ld, qh, data, heads, n, d, ahead, dt) {
							t.Fatalf("%v heads=%d d=%d n=%d: not taken", dt, heads, d, n)
						}
						kt, qt, s := make([]float32, d*64), make([]float32, d*16), make([]float32, 64)
						for h := range heads {
							if n > 0 {
								tk.transpose(&kt[0], &wide[h*d], heads*d, d, (n+15)&^15)
								for t := range d {
									qt[t*16] = q[h*d+t]
								}
								tk.qkRows(&s[0], &qt[0], &kt[0], d, 1)
							}
							for j := range ld {
								want := guard
								if j < n {
									want = s[j]
								}
								if g := got[h*ld+j]; math.Float32bits(g) != math.Float32bits(want) {
									t.Fatalf("%v heads=%d d=%d n=%d: out[%d][%d] = %#08x, want %#08x", dt, heads, d, n, h, j, math.Float32bits(g), math.Float32bits(want))
								}
							}
						}
					}
				}
			}
		}
		// What it cannot take: head counts that neither divide the lanes nor are multiples
		// of them, head dims off the 16 grid, positions that split a step.
		w := k.headLanes
		out, qh := make([]float32, 64*16), make([]float32, 48*16)
		for _, c := range []struct{ heads, n, d int }{{3, 16, 16}, {w + w/2, 16, 16}, {w / 2, 3, 16}, {4, 4, 24}} {
			if k.scoresHeads(out, 64, qh, unsafe.Pointer(&qh[0]), c.heads, c.n, c.d, 0, tensor.Float32) {
				t.Errorf("heads=%d n=%d d=%d: taken", c.heads, c.n, c.d)
			}
		}
	})
}

// TestKernelScoresGroups: every path's scoresGroups, where there is one, gives each
// query row's scores the bits of qkRows on its head's keys transposed by the same path,
// for 2 to 16 KV heads of 4 to 16 rows, head dims 4 to 256, 0 to 64 positions, every
// half bit pattern and prefetch distances past the end of the keys, and writes nothing
// else.
func TestKernelScoresGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(80, 81))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.scoresGroups == nil {
			t.Skip("no grouped key stream on this path")
		}
		tk := k.tiles
		const guard = float32(7)
		const lr = 70 // rows of 70 per head, 20 more between heads
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
			for _, heads := range []int{2, 4, 6, 8, 16} {
				if heads%(k.headLanes/4) != 0 {
					continue
				}
				for _, rows := range []int{4, 8, 12, 16} {
					for _, d := range []int{4, 12, 16, 128, 256} {
						for _, n := range []int{0, 4, 12, 64} {
							testScoresGroups(t, rng, k, tk, dt, heads, rows, d, n, rows*lr+20, lr, guard)
						}
					}
				}
			}
		}
		// What it cannot take: head counts off the blocks of headLanes/4, rows off the
		// multiples of 4, head dims off the 4 grid, positions that split a step.
		out, qg := make([]float32, 64*16), make([]float32, 48*16)
		hb := k.headLanes / 4
		for _, c := range []struct{ heads, rows, n, d int }{{hb + 1, 4, 4, 16}, {3 * hb / 2, 4, 4, 16}, {hb, 2, 4, 16}, {hb, 6, 4, 16}, {hb, 4, 2, 16}, {hb, 4, 4, 6}} {
			if k.scoresGroups(out, 64, 16, qg, unsafe.Pointer(&qg[0]), c.heads, c.rows, c.n, c.d, 0, tensor.Float32) {
				t.Errorf("heads=%d rows=%d n=%d d=%d: taken", c.heads, c.rows, c.n, c.d)
			}
		}
	})
}

// TestKernelScoresPairs: every path's scoresPairs, where there is one, gives each query
// row's scores the bits of qkRows on its head's keys transposed by the same path, for 4
// to 24 KV heads of two rows, head dims 4 to 256, 0 to 64 positions, every half bit
// pattern and prefetch distances past the end of the keys, and writes nothing else.
func TestKernelScoresPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(84, 85))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.scoresPairs == nil {
			t.Skip("no paired key stream on this path")
		}
		const guard = float32(7)
		const lr = 70
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
			hb, step := k.headLanes/2, 32/k.headLanes
			for _, heads := range []int{4, 8, 12, 16, 24} {
				if heads%hb != 0 {
					continue
				}
				for _, d := range []int{4, 12, 16, 128, 256} {
					for _, n := range []int{0, step, 3 * step, 64} {
						pairs := func(qg []float32, q func(h, a, t int) float32) { pairQueries(qg, heads, d, k.headLanes, q) }
						run := func(got []float32, ld int, qg []float32, data unsafe.Pointer, ahead int) bool {
							return k.scoresPairs(got, ld, lr, qg, data, heads, n, d, ahead, dt)
						}
						testScoresRows(t, rng, k.tiles, dt, heads, 2, d, n, 2*lr+20, lr, guard, pairs, run)
					}
				}
			}
		}
		out, qg := make([]float32, 64*32), make([]float32, 48*32)
		hb, step := k.headLanes/2, 32/k.headLanes
		for _, c := range []struct{ heads, n, d int }{{hb / 2, step, 16}, {hb + hb/2, step, 16}, {hb, step + 1, 16}, {hb, step, 6}} {
			if k.scoresPairs(out, 64, 16, qg, unsafe.Pointer(&qg[0]), c.heads, c.n, c.d, 0, tensor.Float32) {
				t.Errorf("heads=%d n=%d d=%d: taken", c.heads, c.n, c.d)
			}
		}
	})
}

// testScoresGroups is one case of TestKernelScoresGroups.
func testScoresGroups(t *testing.T, rng *rand.Rand, k *kernels, tk *tileKernels, dt tensor.DType, heads, rows, d, n, ld, lr int, guard float32) {
	t.Helper()
	lay := func(qg []float32, q func(h, a, t int) float32) { groupQueries(qg, heads, rows, d, k.headLanes, q) }
	run := func(got []float32, ld int, qg []float32, data unsafe.Pointer, ahead int) bool {
		return k.scoresGroups(got, ld, lr, qg, data, heads, rows, n, d, ahead, dt)
	}
	testScoresRows(t, rng, tk, dt, heads, rows, d, n, ld, lr, guard, lay, run)
}

// testScoresRows checks a grouped key stream (run, its queries laid out by lay): rows
// query rows on each of heads heads of d elements over n positions, the outputs ld apart
// for each head and lr for each row, guards around them, against qkRows on the keys
// transposed by the same path.
func testScoresRows(t *testing.T, rng *rand.Rand, tk *tileKernels, dt tensor.DType, heads, rows, d, n, ld, lr int, guard float32,
	lay func(qg []float32, q func(h, a, t int) float32), run func(got []float32, ld int, qg []float32, data unsafe.Pointer, ahead int) bool) {
	t.Helper()
	// Whole blocks of 16 positions for the reference's transposition.
	wide, data := randOfDType(rng, max(1, (n+15)&^15*heads*d), dt)
	q := randSlice(rng, rows*heads*d) // row a of head h at (rows*h+a)*d
	qg := make([]float32, rows*heads*d)
	lay(qg, func(h, a, t int) float32 { return q[(rows*h+a)*d+t] })
	got := make([]float32, heads*ld)
	for i := range got {
		got[i] = guard
	}
	ahead := []int{0, 64, 32 << 10}[rng.IntN(3)]
	// Every path with the kernel reads the three dtypes, float16 given F16C.
	if took, want := run(got, ld, qg, data, ahead), dt != tensor.Float16 || xcpu.X86.HasF16C; took != want {
		t.Fatalf("%v heads=%d rows=%d d=%d n=%d: taken %v, want %v", dt, heads, rows, d, n, took, want)
	} else if !took {
		return
	}
	dp := (d + 15) &^ 15 // the transposition takes whole vectors of columns
	kt, qt, s := make([]float32, dp*64), make([]float32, dp*16), make([]float32, 16*tileKeys)
	keys := make([]float32, max(1, (n+15)&^15*dp))
	for h := range heads {
		if n > 0 {
			for j := range (n + 15) &^ 15 {
				copy(keys[j*dp:j*dp+d], wide[(j*heads+h)*d:(j*heads+h+1)*d])
			}
			tk.transpose(&kt[0], &keys[0], dp, dp, (n+15)&^15)
			for a := range rows {
				for t := range d {
					qt[t*16+a] = q[(rows*h+a)*d+t]
				}
			}
			tk.qkRows(&s[0], &qt[0], &kt[0], d, rows)
		}
		for j := range ld {
			want := guard
			if a, c := j/lr, j%lr; a < rows && c < n {
				want = s[a*tileKeys+c]
			}
			if g := got[h*ld+j]; math.Float32bits(g) != math.Float32bits(want) {
				t.Fatalf("%v heads=%d rows=%d d=%d n=%d: out[%d][%d] = %#08x, want %#08x", dt, heads, rows, d, n, h, j, math.Float32bits(g), math.Float32bits(want))
			}
		}
	}
}

// TestKernelAccumHalf: every path's accumHalf, where there is one, gives the bits of
// accum on the widened rows, with guards after the output, for rows further apart than
// their length and every half bit pattern.
func TestKernelAccumHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(72, 73))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.accumHalf == nil {
			t.Skip("no half accumulation on this path")
		}
		for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
			for _, dv := range []int{16, 48, 128, 144, 256} {
				for _, n := range []int{0, 1, 7, 64} {
					vs := dv + 9
					half := make([]uint16, max(1, n*vs))
					for i := range half {
						half[i] = uint16(rng.Uint32())
					}
					wide := make([]float32, len(half))
					rowkernels.WidenRows(wide, vs, unsafe.Pointer(&half[0]), vs, n, vs, dt)
					p := randSlice(rng, n)
					want := append(randSlice(rng, dv), 7)
					got := slices.Clone(want)
					k.accum(want[:dv], p, wide, vs)
					k.accumHalf(got[:dv], p, unsafe.Pointer(&half[0]), vs, dt)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%v dv=%d n=%d: o[%d] = %#08x, want %#08x", dt, dv, n, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
						}
					}
				}
			}
		}
	})
}

// TestKernelAccum4Half: every path's accum4Half, where there is one, gives the bits of
// accum4 on the widened rows, with guards after each output row.
func TestKernelAccum4Half(t *testing.T) {
	rng := rand.New(rand.NewPCG(74, 75))
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.accum4Half == nil {
			t.Skip("no half accumulation on this path")
		}
		for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
			for _, dv := range []int{16, 48, 128, 144} {
				for _, n := range []int{1, 7, 64} {
					vs, ldo, ldp := dv+9, dv+5, n+3
					half := make([]uint16, n*vs)
					for i := range half {
						half[i] = uint16(rng.Uint32())
					}
					wide := make([]float32, len(half))
					rowkernels.WidenRows(wide, vs, unsafe.Pointer(&half[0]), vs, n, vs, dt)
					p := randSlice(rng, 4*ldp)
					want := randSlice(rng, 4*ldo)
					got := slices.Clone(want)
					k.accum4(want, ldo, dv, p, ldp, n, wide, vs)
					k.accum4Half(got, ldo, dv, p, ldp, n, unsafe.Pointer(&half[0]), vs, dt)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%v dv=%d n=%d: o[%d] = %#08x, want %#08x", dt, dv, n, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
						}
					}
				}
			}
		}
	})
}
