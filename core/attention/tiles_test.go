package attention

import (
	"fmt"
	"github.com/mlxprim/mlxprim/core/cpu"
	xcpu "golang.org/x/sys/cpu"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	rowkernels "github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Tile-kernel tests (paths that have them): each kernel against float64 math, and the
// row kernels against the transposed ones bit for bit, since a row's result may come
// from either.

func withTiles(t *testing.T, f func(t *testing.T, tk *tileKernels)) {
	forEachISA(t, func(t *testing.T) {
		tk := selectKernels().tiles
		if tk == nil {
			t.Skip("no tile kernels on this path")
		}
		f(t, tk)
	})
}

func TestTileScores(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	withTiles(t, func(t *testing.T, tk *tileKernels) {
		for _, d := range []int{1, 7, 16, 33, 64, 128, 256} {
			for _, nk := range []int{8, 16, 48, 64} {
				t.Run(fmt.Sprintf("d=%d/nk=%d", d, nk), func(t *testing.T) {
					const lanes = 48 // one call on two vectors, one on a single vector
					dp := roundUp(d, 16)
					ks := dp + 16 // rows with a gap, as a strided key view
					qt, k := randSlice(r, d*lanes), randSlice(r, nk*ks)
					st := make([]float32, tileKeys*lanes+1)
					st[tileKeys*lanes] = guard
					tk.qk(&st[0], lanes, &qt[0], &k[0], ks, d, nk, 2)
					tk.qk(&st[32], lanes, &qt[32], &k[0], ks, d, nk, 1)
					for j := range nk {
						for l := range lanes {
							var dot float64
							for x := range d {
								dot += float64(k[j*ks+x]) * float64(qt[x*lanes+l])
							}
							// d terms of size <= 1 rounded in float32: |error| <= d * 2^-24 * d.
							if got := float64(st[j*lanes+l]); math.Abs(got-dot) > float64(d*d)*6e-8+1e-7 {
								t.Fatalf("st[%d][%d] = %v, want %v", j, l, got, dot)
							}
						}
					}
					if st[tileKeys*lanes] != guard {
						t.Fatal("write past the tile")
					}
					// The keys-in-lanes route gives the same bits: transpose, then qkRows
					// over the first 16 lanes (as many rows as an item of < 16 rows has).
					// Zero padded to dp columns (stride dp) and to whole blocks of 16 keys,
					// as tile gives them.
					kz := make([]float32, roundUp(nk, 16)*dp)
					for j := range nk {
						copy(kz[j*dp:j*dp+d], k[j*ks:j*ks+d])
					}
					q16 := make([]float32, d*16)
					for x := range d {
						copy(q16[x*16:x*16+16], qt[x*lanes:x*lanes+16])
					}
					kt := make([]float32, dp*tileKeys)
					tk.transpose(&kt[0], &kz[0], dp, dp, roundUp(nk, 16))
					for x := range dp {
						for j := range nk {
							if kt[x*tileKeys+j] != kz[j*dp+x] {
								t.Fatalf("transpose: kt[%d][%d] = %v, want %v", x, j, kt[x*tileKeys+j], kz[j*dp+x])
							}
						}
					}
					sr := make([]float32, 16*tileKeys)
					tk.qkRows(&sr[0], &q16[0], &kt[0], d, 16)
					// Row counts that end in single-row passes give the same bits.
					for _, n := range []int{1, 3, 6} {
						part := make([]float32, 16*tileKeys)
						tk.qkRows(&part[0], &q16[0], &kt[0], d, n)
						for e := range n * tileKeys {
							if part[e] != sr[e] {
								t.Fatalf("qkRows with %d rows: s[%d] = %v, with 16 rows %v", n, e, part[e], sr[e])
							}
						}
						for e := n * tileKeys; e < len(part); e++ {
							if part[e] != 0 {
								t.Fatalf("qkRows with %d rows wrote s[%d]", n, e)
							}
						}
					}
					for row := range 16 {
						for j := range nk {
							if a, b := sr[row*tileKeys+j], st[j*lanes+row]; a != b {
								t.Fatalf("qkRows: s[%d][%d] = %v, qk gives %v", row, j, a, b)
							}
						}
					}
				})
			}
		}
	})
}

// softmaxCase fills 16 rows' scores over nk keys with a mix of plain values, masked keys
// (-Inf), fully masked rows and running states (m, l) both empty and set.
func softmaxCase(r *rand.Rand, nk int) (st []float32, m, l []float32) {
	st = make([]float32, nk*16)
	for i := range st {
		st[i] = float32(r.NormFloat64() * 4)
	}
	m, l = make([]float32, 16), make([]float32, 16)
	for row := range 16 {
		switch row % 4 {
		case 0: // no key yet
			m[row], l[row] = negInf, 0
		case 1: // an earlier maximum above the tile's
			m[row], l[row] = 20, 3.5
		default:
			m[row], l[row] = float32(r.NormFloat64()), float32(1+r.Float64()*5)
		}
		switch row % 5 {
		case 3: // every key masked
			for j := range nk {
				st[j*16+row] = negInf
			}
		case 4: // a masked prefix
			for j := range nk / 3 {
				st[j*16+row] = negInf
			}
		}
	}
	return st, m, l
}

func TestTileSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	withTiles(t, func(t *testing.T, tk *tileKernels) {
		for seed := range 3 {
			t.Run(fmt.Sprintf("case=%d", seed), func(t *testing.T) {
				const nk = tileKeys
				st, m, l := softmaxCase(r, nk)
				sr := make([]float32, 16*tileKeys)
				for row := range 16 {
					for j := range nk {
						sr[row*tileKeys+j] = st[j*16+row]
					}
				}
				m0, l0 := append([]float32(nil), m...), append([]float32(nil), l...)
				mr, lr := append([]float32(nil), m...), append([]float32(nil), l...)
				alpha, ar := make([]float32, 16), make([]float32, 16)
				in := append([]float32(nil), st...)
				tk.softmax(&st[0], 16, &m[0], &l[0], &alpha[0])
				for row := range 16 {
					tk.softmaxRow(&sr[row*tileKeys], &mr[row], &lr[row], &ar[row])
				}
				for row := range 16 {
					mt := math.Inf(-1)
					for j := range nk {
						mt = max(mt, float64(in[j*16+row]))
					}
					mn := max(float64(m0[row]), mt)
					z := mn
					if math.IsInf(mn, -1) {
						z = 0
					}
					var sum float64
					for j := range nk {
						p := math.Exp(float64(in[j*16+row]) - z)
						sum += p
						// exp within 2 ulp, after a subtraction rounded by half an ulp of
						// |s - z|, which exp turns into a relative error of that size.
						x := math.Abs(float64(in[j*16+row]) - z)
						if got := float64(st[j*16+row]); math.Abs(got-p) > (3e-7+6e-8*x)*p {
							t.Fatalf("row %d key %d: p = %v, want %v", row, j, got, p)
						}
						if st[j*16+row] != sr[row*tileKeys+j] {
							t.Fatalf("row %d key %d: softmaxRow p differs", row, j)
						}
					}
					a := math.Exp(float64(m0[row]) - z)
					tolA := 0.0 // exactly 0 for a row without keys before
					if !math.IsInf(float64(m0[row]), -1) {
						tolA = (3e-7 + 6e-8*math.Abs(float64(m0[row])-z)) * a
					}
					wantL := float64(l0[row])*a + sum
					if float64(m[row]) != mn || math.Abs(float64(alpha[row])-a) > tolA ||
						math.Abs(float64(l[row])-wantL) > 1e-6*wantL {
						t.Fatalf("row %d: m, alpha, l = %v %v %v, want %v %v %v", row, m[row], alpha[row], l[row], mn, a, wantL)
					}
					if mr[row] != m[row] || lr[row] != l[row] || ar[row] != alpha[row] {
						t.Fatalf("row %d: softmaxRow state %v %v %v, softmax %v %v %v", row, mr[row], lr[row], ar[row], m[row], l[row], alpha[row])
					}
				}
			})
		}
	})
}

func TestTileSoftmaxNaN(t *testing.T) {
	withTiles(t, func(t *testing.T, tk *tileKernels) {
		st := make([]float32, tileKeys*16)
		for i := range st {
			st[i] = negInf
		}
		st[3*16+2] = float32(math.NaN()) // row 2: one NaN among masked keys
		st[5*16+7] = float32(math.NaN()) // row 7: one NaN among ordinary scores
		for j := range tileKeys {
			if j != 5 {
				st[j*16+7] = float32(j % 9)
			}
		}
		m, l, alpha := make([]float32, 16), make([]float32, 16), make([]float32, 16)
		for i := range m {
			m[i] = negInf
		}
		tk.softmax(&st[0], 16, &m[0], &l[0], &alpha[0])
		for row := range 16 {
			nan := row == 2 || row == 7
			if isNaN := m[row] != m[row]; isNaN != nan || (l[row] != l[row]) != nan {
				t.Fatalf("row %d: m = %v, l = %v", row, m[row], l[row])
			}
		}
	})
}

func TestTilePV(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	withTiles(t, func(t *testing.T, tk *tileKernels) {
		for _, dv := range []int{16, 80, 128, 256} {
			for _, nk := range []int{1, 17, 64} {
				t.Run(fmt.Sprintf("dv=%d/nk=%d", dv, nk), func(t *testing.T) {
					const lanes = 48 // one call on two vectors, one on a single vector
					vs := dv + 16
					ot, pt, v := randSlice(r, dv*lanes), randSlice(r, nk*lanes), randSlice(r, nk*vs)
					alpha := randSlice(r, lanes)
					o0 := append([]float32(nil), ot...)
					tk.pv(&ot[0], lanes, &pt[0], &v[0], vs, nk, dv, &alpha[0], 2)
					tk.pv(&ot[32], lanes, &pt[32], &v[0], vs, nk, dv, &alpha[32], 1)
					for l := range lanes {
						// The row route: scale the row, then accum, must give the same bits.
						row := make([]float32, dv)
						p := make([]float32, nk)
						for c := range dv {
							row[c] = o0[c*lanes+l] * alpha[l]
						}
						for j := range nk {
							p[j] = pt[j*lanes+l]
						}
						selectKernels().accum(row, p, v, vs)
						for c := range dv {
							want := float64(o0[c*lanes+l]) * float64(alpha[l])
							for j := range nk {
								want += float64(pt[j*lanes+l]) * float64(v[j*vs+c])
							}
							got := ot[c*lanes+l]
							// nk+1 terms of size <= 1: |error| <= (nk+1) * 2^-24 * (nk+1).
							if math.Abs(float64(got)-want) > float64((nk+1)*(nk+1))*6e-8 {
								t.Fatalf("o[%d][%d] = %v, want %v", c, l, got, want)
							}
							if row[c] != got {
								t.Fatalf("o[%d][%d]: accum gives %v, pv %v", c, l, row[c], got)
							}
						}
					}
				})
			}
		}
	})
}

// TestTransposeHalf: every path's transposeHalf, where there is one, gives the bits of
// widening the rows to float32 and transposing them, for head dims in whole and partial
// blocks of 16, rows further apart than their length, and every kind of half value.
func TestTransposeHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(70, 71))
	forEachISA(t, func(t *testing.T) {
		tk := selectKernels().tiles
		if tk == nil || tk.transposeHalf == nil {
			t.Skip("no half transposition on this path")
		}
		for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
			for _, d := range []int{1, 7, 8, 16, 24, 33, 40, 80, 100, 128} {
				for _, n := range []int{16, 48} {
					dp, ks := (d+15)&^15, d+5
					rows := make([]uint16, n*ks)
					for i := range rows {
						rows[i] = uint16(rng.Uint32()) // every bit pattern: NaN, Inf, subnormals
					}
					wide := make([]float32, n*dp)
					rowkernels.WidenRows(wide, dp, unsafe.Pointer(&rows[0]), ks, n, d, dt)
					want, got := make([]float32, dp*tileKeys), make([]float32, dp*tileKeys)
					for i := range got {
						want[i], got[i] = 12345, 12345 // keys past n keep it
					}
					tk.transpose(&want[0], &wide[0], dp, dp, n)
					// AVX-512 takes every head dim; AVX2 whole blocks of 8 (float16 given F16C).
					want8 := cpu.Selected() == cpu.AVX2 && (d%8 != 0 || dt == tensor.Float16 && !xcpu.X86.HasF16C)
					if took := tk.transposeHalf(&got[0], unsafe.Pointer(&rows[0]), 2*ks, d, n, dt); !took {
						if !want8 {
							t.Fatalf("%v d=%d: not taken", dt, d)
						}
						continue
					} else if want8 {
						t.Fatalf("%v d=%d: taken", dt, d)
					}
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%v d=%d n=%d: column %d key %d: %#08x, want %#08x", dt, d, n, i/tileKeys, i%tileKeys, math.Float32bits(got[i]), math.Float32bits(want[i]))
						}
					}
				}
			}
		}
	})
}
