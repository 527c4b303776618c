package mlp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// act64 returns act(g) and act'(g) in float64, from the activations' formulas.
func act64(kind kernels.Activation, g float64) (float64, float64) {
	switch kind {
	case kernels.SiLU:
		s := 1 / (1 + math.Exp(-g))
		return g * s, s * (1 + g*(1-s))
	case kernels.GELU:
		phi := 0.5 * (1 + math.Erf(g/math.Sqrt2))
		return g * phi, phi + g*math.Exp(-g*g/2)/math.Sqrt(2*math.Pi)
	}
	c := math.Sqrt(2 / math.Pi)
	t := math.Tanh(c * (g + 0.044715*g*g*g))
	return 0.5 * g * (1 + t), 0.5*(1+t) + 0.5*g*(1-t*t)*c*(1+3*0.044715*g*g)
}

// ref64 is the float64 forward pass and chain-rule gradients of L = sum(dout * out) for
// out = act(x Wg^T) * (x Wu^T); x [m, in], w [h, in], dout [m, h], row-major.
func ref64(kind kernels.Activation, x, wg, wu, dout []float64, m, in, h int) (out, dx, dwg, dwu []float64) {
	out, dx = make([]float64, m*h), make([]float64, m*in)
	dwg, dwu = make([]float64, h*in), make([]float64, h*in)
	for r := range m {
		for j := range h {
			var g, u float64
			for c := range in {
				g += x[r*in+c] * wg[j*in+c]
				u += x[r*in+c] * wu[j*in+c]
			}
			a, da := act64(kind, g)
			out[r*h+j] = a * u
			dg, du := dout[r*h+j]*u*da, dout[r*h+j]*a
			for c := range in {
				dx[r*in+c] += dg*wg[j*in+c] + du*wu[j*in+c]
				dwg[j*in+c] += dg * x[r*in+c]
				dwu[j*in+c] += du * x[r*in+c]
			}
		}
	}
	return out, dx, dwg, dwu
}

func randF64(r *rand.Rand, n int, amp float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64() * amp
	}
	return v
}

// TestRef64FiniteDifferences checks the reference itself: central differences of L
// (step 1e-6) match its gradients to 1e-6 (1 + |g|), for every activation.
func TestRef64FiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const m, in, h = 3, 4, 5
	for _, kind := range []kernels.Activation{kernels.SiLU, kernels.GELU, kernels.GELUTanh} {
		x, wg, wu, dout := randF64(r, m*in, 1), randF64(r, h*in, 1), randF64(r, h*in, 1), randF64(r, m*h, 1)
		_, dx, dwg, dwu := ref64(kind, x, wg, wu, dout, m, in, h)
		loss := func() float64 {
			out, _, _, _ := ref64(kind, x, wg, wu, dout, m, in, h)
			var l float64
			for i, o := range out {
				l += o * dout[i]
			}
			return l
		}
		for _, c := range []struct {
			name string
			v, g []float64
		}{{"x", x, dx}, {"w_gate", wg, dwg}, {"w_up", wu, dwu}} {
			for i := range c.v {
				v0 := c.v[i]
				c.v[i] = v0 + 1e-6
				lp := loss()
				c.v[i] = v0 - 1e-6
				lm := loss()
				c.v[i] = v0
				if fd := (lp - lm) / 2e-6; math.Abs(fd-c.g[i]) > 1e-6*(1+math.Abs(fd)) {
					t.Fatalf("%v d%s[%d]: analytic %v, finite difference %v", kind, c.name, i, c.g[i], fd)
				}
			}
		}
	}
}

// mat is a tensor of any float dtype with its values as float64 (after rounding).
type mat struct {
	t    tensor.Tensor
	vals []float64
}

// newMat stores vals (row-major, shape) in dtype dt; with stride > 1 the last axis is
// spread stride elements apart.
func newMat(dt tensor.DType, shape []int, vals []float64, stride int) mat {
	n := tensor.NumElOf(shape)
	strides := make([]int, len(shape))
	s := stride
	for d := len(shape) - 1; d >= 0; d-- {
		strides[d] = s
		s *= shape[d]
	}
	size := max(1, s)
	var t tensor.Tensor
	if dt == tensor.Float32 {
		t = tensor.FromFloat32(make([]float32, size), size)
	} else {
		t = tensor.FromUint16(make([]uint16, size), dt, size)
	}
	t.Shape, t.Strides = shape, strides
	if vals != nil {
		for i := range n {
			t.StoreRow(elemOffset(t, i), []float32{float32(vals[i])})
		}
	}
	m := mat{t: t}
	m.vals = m.read()
	return m
}

// read returns every element of m's tensor in row-major order.
func (m mat) read() []float64 {
	out := make([]float64, tensor.NumElOf(m.t.Shape))
	for i := range out {
		var v [1]float32
		m.t.LoadRow(elemOffset(m.t, i), v[:])
		out[i] = float64(v[0])
	}
	return out
}

// elemOffset is the element offset of the i-th element of t in row-major order.
func elemOffset(t tensor.Tensor, i int) int {
	off := 0
	for d := len(t.Shape) - 1; d >= 0; d-- {
		off += i % t.Shape[d] * t.Strides[d]
		i /= t.Shape[d]
	}
	return off
}

func forEachISA(t *testing.T, f func(t *testing.T)) {
	for _, isa := range cpu.Available() {
		t.Run(isa.String(), func(t *testing.T) {
			defer cpu.UseISA(isa)()
			f(t)
		})
	}
}

func TestGatedLinearBackward(t *testing.T) {
	type tc struct {
		lead           []int
		in, h          int
		dtIn, dtOut    tensor.DType
		stride         int
		skipDx, skipDw bool
		kind           kernels.Activation
	}
	f32, bf16, f16 := tensor.Float32, tensor.BFloat16, tensor.Float16
	cases := []tc{
		{[]int{5}, 16, 24, f32, f32, 1, false, false, kernels.SiLU},
		{[]int{2, 3}, 33, 7, f32, f32, 1, false, false, kernels.GELU},
		{nil, 64, 40, f32, f32, 1, false, false, kernels.GELUTanh},
		{[]int{7}, 48, 96, bf16, f32, 1, false, false, kernels.SiLU},
		{[]int{4}, 17, 9, f32, f16, 2, false, false, kernels.GELU},
		{[]int{3}, 20, 12, f32, bf16, 1, true, false, kernels.SiLU},
		{[]int{3}, 20, 12, f32, f32, 3, false, true, kernels.GELUTanh},
		{[]int{0}, 8, 8, f32, f32, 1, false, false, kernels.SiLU},
	}
	forEachISA(t, func(t *testing.T) {
		for n, c := range cases {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), 3))
				m := tensor.NumElOf(c.lead)
				xShape := append(append([]int{}, c.lead...), c.in)
				dShape := append(append([]int{}, c.lead...), c.h)
				x := newMat(c.dtIn, xShape, randF64(r, m*c.in, 1), c.stride)
				wg := newMat(c.dtIn, []int{c.h, c.in}, randF64(r, c.h*c.in, 0.3), 1)
				wu := newMat(c.dtIn, []int{c.h, c.in}, randF64(r, c.h*c.in, 0.3), c.stride)
				dout := newMat(c.dtIn, dShape, randF64(r, m*c.h, 1), 1)
				dx := newMat(c.dtOut, xShape, nil, c.stride)
				dwg := newMat(c.dtOut, []int{c.h, c.in}, nil, 1)
				dwu := newMat(c.dtOut, []int{c.h, c.in}, nil, c.stride)
				var pdx, pdwg, pdwu *tensor.Tensor
				if !c.skipDx {
					pdx = &dx.t
				}
				if !c.skipDw {
					pdwg, pdwu = &dwg.t, &dwu.t
				}
				if err := GatedLinearBackward(c.kind, x.t, wg.t, wu.t, dout.t, pdx, pdwg, pdwu); err != nil {
					t.Fatal(err)
				}
				_, wdx, wdwg, wdwu := ref64(c.kind, x.vals, wg.vals, wu.vals, dout.vals, m, c.in, c.h)
				// float32 matmuls over at most 96 terms of O(1) products and one
				// activation derivative: 1e-4 (1 + |g|); a half-precision output adds its
				// rounding (2^-8 relative for bfloat16, 2^-11 for float16).
				tol := 1e-4
				if c.dtOut != f32 {
					tol = 8e-3
				}
				for _, g := range []struct {
					name string
					got  mat
					want []float64
					on   bool
				}{{"dx", dx, wdx, !c.skipDx}, {"dw_gate", dwg, wdwg, !c.skipDw}, {"dw_up", dwu, wdwu, !c.skipDw}} {
					got := g.got.read()
					for i, w := range g.want {
						if !g.on {
							if got[i] != 0 {
								t.Fatalf("%s[%d] written although not requested", g.name, i)
							}
							continue
						}
						if math.IsNaN(got[i]) || math.Abs(got[i]-w) > tol*(1+math.Abs(w)) {
							t.Fatalf("%s[%d] = %v, want %v (tol %v)", g.name, i, got[i], w, tol)
						}
					}
				}
			})
		}
	})
}

// TestGatedLinearBackwardThreads: 1, 2 and 3 threads give the same bits.
func TestGatedLinearBackwardThreads(t *testing.T) {
	defer cpu.SetNumThreads(cpu.NumThreads())
	r := rand.New(rand.NewPCG(7, 8))
	const m, in, h = 37, 130, 70
	x := newMat(tensor.Float32, []int{m, in}, randF64(r, m*in, 1), 1)
	wg := newMat(tensor.Float32, []int{h, in}, randF64(r, h*in, 0.3), 1)
	wu := newMat(tensor.Float32, []int{h, in}, randF64(r, h*in, 0.3), 1)
	dout := newMat(tensor.Float32, []int{m, h}, randF64(r, m*h, 1), 1)
	var ref [][]float64
	for _, n := range []int{1, 2, 3} {
		if err := cpu.SetNumThreads(n); err != nil {
			t.Fatal(err)
		}
		dx, dwg, dwu := newMat(tensor.Float32, []int{m, in}, nil, 1), newMat(tensor.Float32, []int{h, in}, nil, 1), newMat(tensor.Float32, []int{h, in}, nil, 1)
		if err := GatedLinearBackward(kernels.SiLU, x.t, wg.t, wu.t, dout.t, &dx.t, &dwg.t, &dwu.t); err != nil {
			t.Fatal(err)
		}
		got := [][]float64{dx.read(), dwg.read(), dwu.read()}
		if ref == nil {
			ref = got
			continue
		}
		for g := range got {
			for i := range got[g] {
				if math.Float32bits(float32(got[g][i])) != math.Float32bits(float32(ref[g][i])) {
					t.Fatalf("threads=%d: gradient %d element %d differs", n, g, i)
				}
			}
		}
	}
}

// TestGatedLinearBackwardBadInput: documented errors, nothing written.
func TestGatedLinearBackwardBadInput(t *testing.T) {
	f32 := func(shape ...int) tensor.Tensor {
		return tensor.FromFloat32(make([]float32, tensor.NumElOf(shape)), shape...)
	}
	x, wg, wu, dout := f32(3, 8), f32(5, 8), f32(5, 8), f32(3, 5)
	dxData := make([]float32, 24)
	dx := tensor.FromFloat32(dxData, 3, 8)
	dw := f32(5, 8)
	i32 := tensor.Tensor{Data: dx.Data, DType: tensor.Int32, Shape: dx.Shape, Strides: dx.Strides}
	cases := []struct {
		name string
		kind errs.Kind
		call func() error
	}{
		{"activation", errs.InvalidArgument, func() error { return GatedLinearBackward(9, x, wg, wu, dout, &dx, nil, nil) }},
		{"w_up shape", errs.ShapeMismatch, func() error { return GatedLinearBackward(kernels.SiLU, x, wg, f32(4, 8), dout, &dx, nil, nil) }},
		{"w_gate in", errs.ShapeMismatch, func() error { return GatedLinearBackward(kernels.SiLU, x, f32(5, 7), wu, dout, &dx, nil, nil) }},
		{"dout shape", errs.ShapeMismatch, func() error { return GatedLinearBackward(kernels.SiLU, x, wg, wu, f32(3, 4), &dx, nil, nil) }},
		{"dx shape", errs.ShapeMismatch, func() error { d := f32(3, 7); return GatedLinearBackward(kernels.SiLU, x, wg, wu, dout, &d, nil, nil) }},
		{"dw shape", errs.ShapeMismatch, func() error { d := f32(8, 5); return GatedLinearBackward(kernels.SiLU, x, wg, wu, dout, &dx, &d, nil) }},
		{"dx dtype", errs.UnsupportedDtype, func() error { return GatedLinearBackward(kernels.SiLU, x, wg, wu, dout, &i32, nil, nil) }},
		{"dx is x", errs.InvalidArgument, func() error { return GatedLinearBackward(kernels.SiLU, dx, wg, wu, dout, &dx, nil, nil) }},
		{"dw_up is dw_gate", errs.InvalidArgument, func() error { return GatedLinearBackward(kernels.SiLU, x, wg, wu, dout, &dx, &dw, &dw) }},
	}
	for _, c := range cases {
		for i := range dxData {
			dxData[i] = 7
		}
		err := c.call()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := errs.KindOf(err); got != c.kind {
			t.Errorf("%s: kind %v (%v), want %v", c.name, got, err, c.kind)
		}
		for _, v := range dxData {
			if v != 7 && c.name != "dx is x" {
				t.Fatalf("%s: dx was written", c.name)
			}
		}
	}
}
