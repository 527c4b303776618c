package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// affineCase is one case of testdata/affine_fixture.bin (see gen_affine_fixture.py).
type affineCase struct {
	dt                      tensor.DType
	bits, group, rows, cols int
	w                       []byte // raw element bits, nil for dequantize-only cases
	wq, scales, biases, deq []byte
}

func readAffineFixture(t *testing.T) []affineCase {
	t.Helper()
	data, err := os.ReadFile("testdata/affine_fixture.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("MLXQFIX1")) {
		t.Fatal("affine_fixture.bin: bad magic")
	}
	data = data[8:]
	u32 := func() int {
		v := binary.LittleEndian.Uint32(data)
		data = data[4:]
		return int(v)
	}
	take := func(n int) []byte {
		b := data[:n:n]
		data = data[n:]
		return b
	}
	dtypes := []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16}
	cases := make([]affineCase, u32())
	for i := range cases {
		c := &cases[i]
		c.dt, c.bits, c.group, c.rows, c.cols = dtypes[u32()], u32(), u32(), u32(), u32()
		size := c.dt.Bits() / 8
		if u32() == 1 {
			c.w = take(c.rows * c.cols * size)
		}
		c.wq = take(c.rows * c.cols * c.bits / 8)
		c.scales = take(c.rows * c.cols / c.group * size)
		c.biases = take(c.rows * c.cols / c.group * size)
		c.deq = take(c.rows * c.cols * size)
	}
	if len(data) != 0 {
		t.Fatalf("affine_fixture.bin: %d trailing bytes", len(data))
	}
	return cases
}

// view returns a row-major tensor over a copy of raw little-endian element bits.
func view(raw []byte, dt tensor.DType, shape ...int) (tensor.Tensor, []byte) {
	mem := make([]uint64, (len(raw)+7)/8+1)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(raw))
	copy(b, raw)
	return tensor.Tensor{Data: unsafe.Pointer(&mem[0]), DType: dt, Shape: shape, Strides: tensor.RowMajorStrides(shape)}, b
}

// TestAffineMatchesMLX checks QuantizeAffine and DequantizeAffine bit for bit against
// outputs of mx.quantize and mx.dequantize (MLX 0.32.4, CPU) stored in the fixture.
func TestAffineMatchesMLX(t *testing.T) {
	for i, c := range readAffineFixture(t) {
		ng, words := c.cols/c.group, c.cols*c.bits/32
		what := name("case ", i, " ", c.dt, " bits=", c.bits, " group=", c.group)
		wq, _ := view(c.wq, tensor.Int32, c.rows, words)
		scales, _ := view(c.scales, c.dt, c.rows, ng)
		biases, _ := view(c.biases, c.dt, c.rows, ng)
		if c.w != nil {
			w, _ := view(c.w, c.dt, c.rows, c.cols)
			gq, gqb := view(make([]byte, len(c.wq)), tensor.Int32, c.rows, words)
			gs, gsb := view(make([]byte, len(c.scales)), c.dt, c.rows, ng)
			gb, gbb := view(make([]byte, len(c.biases)), c.dt, c.rows, ng)
			if err := QuantizeAffine(w, gq, gs, gb, c.group, c.bits); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gqb, c.wq) || !bytes.Equal(gsb, c.scales) || !bytes.Equal(gbb, c.biases) {
				t.Errorf("%s: quantize differs from MLX (wq %v, scales %v, biases %v)", what,
					bytes.Equal(gqb, c.wq), bytes.Equal(gsb, c.scales), bytes.Equal(gbb, c.biases))
			}
		}
		out, outb := view(make([]byte, len(c.deq)), c.dt, c.rows, c.cols)
		if err := DequantizeAffine(wq, scales, biases, c.group, c.bits, out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(outb, c.deq) {
			size := c.dt.Bits() / 8
			for j := 0; j < len(outb); j += size {
				if !bytes.Equal(outb[j:j+size], c.deq[j:j+size]) {
					t.Errorf("%s: dequantize element %d: % x, MLX % x", what, j/size, outb[j:j+size], c.deq[j:j+size])
					break
				}
			}
		}
	}
}

// TestAffinePackingLayout checks MLX's word layout against hand-written words.
func TestAffinePackingLayout(t *testing.T) {
	// Codes 1..8, 15, then 0: 4-bit element j sits at bits 4*(j%8) of word j/8. With
	// weights code-15 (min -15, max 0, |min| > |max|) MLX picks scale 1 and bias -15.
	w := make([]float32, 32)
	for j := range w {
		w[j] = -15
	}
	for j := range 8 {
		w[j] = float32(j+1) - 15
	}
	w[8] = 0
	wq := make([]uint32, 4)
	s, b := make([]float32, 1), make([]float32, 1)
	wqt := tensor.Tensor{Data: unsafe.Pointer(&wq[0]), DType: tensor.Int32, Shape: []int{1, 4}, Strides: []int{4, 1}}
	if err := QuantizeAffine(tensor.FromFloat32(w, 1, 32), wqt, tensor.FromFloat32(s, 1, 1), tensor.FromFloat32(b, 1, 1), 32, 4); err != nil {
		t.Fatal(err)
	}
	if wq[0] != 0x87654321 || wq[1] != 0x0000000F || wq[2] != 0 || wq[3] != 0 || s[0] != 1 || b[0] != -15 {
		t.Fatalf("4-bit words %#x (scale %v bias %v)", wq, s[0], b[0])
	}
	// 8-bit: element j at bits 8*(j%4) of word j/4.
	wq8 := []uint32{0x04030201, 0xFF000000, 0, 0, 0, 0, 0, 0}
	out := make([]float32, 32)
	s[0], b[0] = 0.5, -1
	wq8t := tensor.Tensor{Data: unsafe.Pointer(&wq8[0]), DType: tensor.Int32, Shape: []int{1, 8}, Strides: []int{8, 1}}
	if err := DequantizeAffine(wq8t, tensor.FromFloat32(s, 1, 1), tensor.FromFloat32(b, 1, 1), 32, 8, tensor.FromFloat32(out, 1, 32)); err != nil {
		t.Fatal(err)
	}
	want := []float32{-0.5, 0, 0.5, 1, -1, -1, -1, 126.5}
	for j, v := range want {
		if out[j] != v {
			t.Fatalf("8-bit dequantized %v, want %v", out[:8], want)
		}
	}
}

// TestDequantizeAffineFormula checks the per-operation rounding against a float64 model
// on random words, for every scale dtype and output dtype, with strided scales.
func TestDequantizeAffineFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dt := range floatTypes {
		for _, odt := range floatTypes {
			for _, bits := range []int{4, 8} {
				const rows, cols, group = 3, 128, 32
				ng, words := cols/group, cols*bits/32
				wq := make([]uint32, rows*words)
				for i := range wq {
					wq[i] = rng.Uint32()
				}
				wqt := tensor.Tensor{Data: unsafe.Pointer(&wq[0]), DType: tensor.Int32, Shape: []int{rows, words}, Strides: []int{words, 1}}
				sb := newBuf(dt, []int{rows, ng}, true)
				bb := newBuf(dt, []int{rows, ng}, false)
				mag := make([]float64, rows*ng)
				for i := range mag {
					mag[i] = math.Pow(10, rng.Float64()*6-4)
				}
				sv, bv := randNormal(rng, rows*ng, 1), randNormal(rng, rows*ng, 8)
				for i := range sv {
					sv[i] *= mag[i]
					bv[i] *= mag[i]
				}
				s, b := sb.setFloats(sv), bb.setFloats(bv)
				ob := newBuf(odt, []int{rows, cols}, true)
				if err := DequantizeAffine(wqt, sb.t, bb.t, group, bits, ob.t); err != nil {
					t.Fatal(err)
				}
				ob.checkGuards(t, "w")
				got := ob.floats()
				per := 32 / bits
				for j := range got {
					r, c := j/cols, j%cols
					q := float64(wq[r*words+c/per] >> (bits * (c % per)) & (1<<bits - 1))
					g := r*ng + c/group
					// Each operation is exact in float64 and then rounded to dt (double
					// rounding through float64 is harmless for these widths).
					p := float64(tensor.Round(float32(q*s[g]), dt))
					want := float64(tensor.Round(tensor.Round(float32(p+b[g]), dt), odt))
					if got[j] != want && !(math.IsNaN(got[j]) && math.IsNaN(want)) {
						t.Fatalf("%v->%v bits=%d element %d: %v, want %v", dt, odt, bits, j, got[j], want)
					}
				}
			}
		}
	}
}

func TestAffineBadInput(t *testing.T) {
	w := newBuf(tensor.Float32, []int{2, 64}, false)
	w.setFloats(make([]float64, 128))
	wq := newBuf(tensor.Int32, []int{2, 8}, false)
	s := newBuf(tensor.Float32, []int{2, 2}, false)
	b := newBuf(tensor.Float32, []int{2, 2}, false)
	h := newBuf(tensor.Float16, []int{2, 2}, false)
	out := newBuf(tensor.Float32, []int{2, 64}, false)
	bufs := []*buf{wq, s, b, out}
	snaps := [][]byte{wq.snapshot(), s.snapshot(), b.snapshot(), out.snapshot()}
	cases := []struct {
		name string
		err  error
		kind errs.Kind
	}{
		{"bits 3", QuantizeAffine(w.t, wq.t, s.t, b.t, 32, 3), errs.InvalidArgument},
		{"group 16", QuantizeAffine(w.t, wq.t, s.t, b.t, 16, 4), errs.InvalidArgument},
		{"wq shape for bits 8", QuantizeAffine(w.t, wq.t, s.t, b.t, 32, 8), errs.ShapeMismatch},
		{"scales dtype differs from w", QuantizeAffine(w.t, wq.t, h.t, h.t, 32, 4), errs.UnsupportedDtype},
		{"biases dtype differs from scales", QuantizeAffine(w.t, wq.t, s.t, h.t, 32, 4), errs.UnsupportedDtype},
		{"scales alias biases", QuantizeAffine(w.t, wq.t, s.t, s.t, 32, 4), errs.InvalidArgument},
		{"dequant wq dtype", DequantizeAffine(s.t, s.t, b.t, 32, 4, out.t), errs.UnsupportedDtype},
		{"dequant group", DequantizeAffine(wq.t, s.t, b.t, 64, 4, out.t), errs.ShapeMismatch},
		{"dequant out shape", DequantizeAffine(wq.t, s.t, b.t, 32, 4, s.t), errs.ShapeMismatch},
		{"dequant out overlaps scales", DequantizeAffine(wq.t, s.t, b.t, 32, 4, tensor.Tensor{Data: s.t.Data, DType: tensor.Float32, Shape: []int{2, 64}, Strides: []int{64, 1}}), errs.InvalidArgument},
	}
	for _, c := range cases {
		wantKind(t, c.name, c.err, c.kind)
	}
	unchanged(t, "bad input", bufs, snaps)
}
