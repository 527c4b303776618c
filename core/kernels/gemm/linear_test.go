package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// refLinear is the float64 definition y[r][o] = sum_k x[r][k]*w[o][k] (+ bias[o]), with
// each element's S = sum |x*w| for the tolerance.
func refLinear(x, w []float64, bias []float64, rows, in, out int) (ref, sAbs []float64) {
	ref = make([]float64, rows*out)
	sAbs = make([]float64, rows*out)
	for r := range rows {
		for o := range out {
			var s, a float64
			for k := range in {
				s += x[r*in+k] * w[o*in+k]
				a += math.Abs(x[r*in+k] * w[o*in+k])
			}
			if bias != nil {
				s += bias[o]
			}
			ref[r*out+o], sAbs[r*out+o] = s, a
		}
	}
	return ref, sAbs
}

var linearShapes = []struct {
	x       []int
	in, out int
}{
	{[]int{1}, 1, 1},
	{[]int{7}, 33, 31},
	{[]int{3, 5}, 64, 1023},
	{[]int{2, 3, 4}, 300, 70},
	{[]int{1023}, 31, 7},
	{[]int{8}, 1023, 33},
}

func TestLinearMatchesReference(t *testing.T) {
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		count := 0
		for _, in := range floatTypes {
			rng := rand.New(rand.NewPCG(5, uint64(in)))
			for _, sh := range linearShapes {
				for _, withBias := range []bool{false, true} {
					count++
					outDT, biasDT := floatTypes[count%3], floatTypes[(count/3)%3]
					t.Run(fmt.Sprintf("%v/%v/in=%d/out=%d/bias=%v", in, sh.x, sh.in, sh.out, withBias), func(t *testing.T) {
						xshape := append(slices.Clone(sh.x), sh.in)
						yshape := append(slices.Clone(sh.x), sh.out)
						x := newBuf(in, xshape, layout(count%3))
						w := newBuf(in, []int{sh.out, sh.in}, layout((count+1)%3))
						y := newBuf(outDT, yshape, layout((count+2)%3))
						xv := x.fill(normals(rng, tensor.NumElOf(xshape)))
						wv := w.fill(normals(rng, sh.out*sh.in))
						var bias *tensor.Tensor
						var bv []float64
						if withBias {
							bb := newBuf(biasDT, []int{sh.out}, padRev)
							bv = bb.fill(normals(rng, sh.out))
							bias = &bb.t
						}
						if err := Linear(x.t, w.t, bias, y.t); err != nil {
							t.Fatal(err)
						}
						rows := tensor.NumElOf(sh.x)
						ref, sAbs := refLinear(xv, wv, bv, rows, sh.in, sh.out)
						tol := make([]float64, len(ref))
						for i := range ref {
							b := 0.0
							if bv != nil {
								b = math.Abs(bv[i%sh.out])
							}
							tol[i] = tolerance(sh.in, sAbs[i], b, ref[i], outDT)
						}
						compareAll(t, "linear", y.read(), ref, tol)
						y.checkGuards(t, "y")
					})
				}
			}
		}
	})
}

// swiglu is the test's float32 combine: dst = gate*sigmoid(gate)*up.
func swiglu(dst, gate, up []float32) {
	for i, g := range gate {
		dst[i] = float32(float64(g)/(1+math.Exp(-float64(g)))) * up[i]
	}
}

// TestGatedLinearMatchesReference compares with a float64 computation of
// silu(x Wg^T) * (x Wu^T) written here without any gemm. Tolerance: the gate and up
// errors dg, du are each bounded as for Linear; |silu'| <= 1.1, so the result moves by at
// most 1.1*dg*|up| + |silu(gate)|*du, plus a few float32 roundings in combine and the
// output rounding.
func TestGatedLinearMatchesReference(t *testing.T) {
	silu := func(g float64) float64 { return g / (1 + math.Exp(-g)) }
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		count := 0
		for _, in := range floatTypes {
			rng := rand.New(rand.NewPCG(6, uint64(in)))
			for _, sh := range linearShapes {
				count++
				outDT := floatTypes[count%3]
				t.Run(fmt.Sprintf("%v/%v/in=%d/hidden=%d", in, sh.x, sh.in, sh.out), func(t *testing.T) {
					xshape := append(slices.Clone(sh.x), sh.in)
					x := newBuf(in, xshape, layout(count%3))
					wg := newBuf(in, []int{sh.out, sh.in}, layout((count+1)%3))
					wu := newBuf(in, []int{sh.out, sh.in}, rowMajor)
					out := newBuf(outDT, append(slices.Clone(sh.x), sh.out), layout((count+2)%3))
					xv := x.fill(normals(rng, tensor.NumElOf(xshape)))
					gv := wg.fill(normals(rng, sh.out*sh.in))
					uv := wu.fill(normals(rng, sh.out*sh.in))
					if err := GatedLinear(x.t, wg.t, wu.t, out.t, swiglu); err != nil {
						t.Fatal(err)
					}
					rows := tensor.NumElOf(sh.x)
					g, sg := refLinear(xv, gv, nil, rows, sh.in, sh.out)
					up, su := refLinear(xv, uv, nil, rows, sh.in, sh.out)
					ref := make([]float64, len(g))
					tol := make([]float64, len(g))
					for i := range g {
						ref[i] = silu(g[i]) * up[i]
						dg := tolerance(sh.in, sg[i], 0, g[i], tensor.Float32)
						du := tolerance(sh.in, su[i], 0, up[i], tensor.Float32)
						tol[i] = 1.1*dg*(math.Abs(up[i])+du) + math.Abs(silu(g[i]))*du +
							8*u32*math.Abs(ref[i]) + outUlp(outDT)*math.Abs(ref[i]) + 1e-7
					}
					compareAll(t, "gated", out.read(), ref, tol)
					out.checkGuards(t, "out")
				})
			}
		}
	})
}

// TestGatedLinearMatchesLinear: the gate and up values GatedLinear hands to combine are
// bit-identical to what Linear computes with each weight.
func TestGatedLinearMatchesLinear(t *testing.T) {
	// The few-rows schedule, and the blocked one with several K and column blocks,
	// whose two B operands alternate their packing buffers step by step.
	shapes := []struct{ rows, in, out int }{{18, 520, 600}, {130, 1100, 300}}
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		for _, in := range []tensor.DType{tensor.Float32, tensor.BFloat16} {
			for _, sh := range shapes {
				rng := rand.New(rand.NewPCG(7, 0))
				x := newBuf(in, []int{sh.rows, sh.in}, rowMajor)
				x.fill(normals(rng, sh.rows*sh.in))
				var w [2]*buf
				for i := range w {
					w[i] = newBuf(in, []int{sh.out, sh.in}, rowMajor)
					w[i].fill(normals(rng, sh.out*sh.in))
				}
				for which := range 2 {
					lin := newBuf(tensor.Float32, []int{sh.rows, sh.out}, rowMajor)
					if err := Linear(x.t, w[which].t, nil, lin.t); err != nil {
						t.Fatal(err)
					}
					got := newBuf(tensor.Float32, []int{sh.rows, sh.out}, rowMajor)
					pick := func(dst, gate, up []float32) {
						copy(dst, [2][]float32{gate, up}[which])
					}
					if err := GatedLinear(x.t, w[0].t, w[1].t, got.t, pick); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got.bits(), lin.bits()) {
						t.Fatalf("%v %+v: operand %d differs from Linear", in, sh, which)
					}
				}
			}
		}
	})
}
