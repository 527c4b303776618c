package quant

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// refQuantize is the package documentation's definition, written out in float64 for one
// row (int8) or group (int4) v of float32-representable values: symmetric on
// [-qmax, qmax], or asymmetric on [qmin, qmax] with the range widened to include zero.
func refQuantize(v []float64, sym bool, qmin, qmax int) (codes []int, s float32, z int) {
	codes = make([]int, len(v))
	allEqual := true
	for _, x := range v {
		allEqual = allEqual && x == v[0]
	}
	if allEqual {
		c := v[0]
		switch {
		case c == 0:
			return codes, 1, 0
		case c > 0:
			for i := range codes {
				codes[i] = 1
			}
			return codes, float32(c), 0
		case sym || qmin < 0:
			for i := range codes {
				codes[i] = -1
			}
			return codes, float32(-c), 0
		default: // unsigned grid: q = 0 one step below the zero point 1
			return codes, float32(-c), 1
		}
	}
	clamp := func(r float64, lo, hi int) int { return int(math.Min(math.Max(r, float64(lo)), float64(hi))) }
	if sym {
		amax := 0.0
		for _, x := range v {
			amax = math.Max(amax, math.Abs(x))
		}
		s = float32(amax / float64(qmax))
		if s == 0 {
			s = math.SmallestNonzeroFloat32
		}
		if math.IsInf(float64(float32(float64(qmax)*float64(s))), 0) {
			s = math.Nextafter32(s, 0) // keep qmax·s finite
		}
		for i, x := range v {
			codes[i] = clamp(math.RoundToEven(x/float64(s)), -qmax, qmax)
		}
		return codes, s, 0
	}
	lo, hi := 0.0, 0.0
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	s = float32((hi - lo) / float64(qmax-qmin))
	if s == 0 {
		s = math.SmallestNonzeroFloat32
	}
	z = clamp(math.RoundToEven(float64(qmin)-lo/float64(s)), qmin, qmax)
	// Codes whose value f32(q - z)·s would overflow float32 are left out.
	overflows := func(q int) bool { return math.IsInf(float64(float32(float64(q-z)*float64(s))), 0) }
	for overflows(qmin) {
		qmin++
	}
	for overflows(qmax) {
		qmax--
	}
	for i, x := range v {
		codes[i] = clamp(math.RoundToEven(x/float64(s))+float64(z), qmin, qmax)
	}
	return codes, s, z
}

// testRows returns out rows of in weights: random rows of varied scale, plus degenerate
// and lopsided rows.
func testRows(rng *rand.Rand, out, in int) []float64 {
	w := make([]float64, 0, out*in)
	for r := range out {
		row := randNormal(rng, in, math.Pow(10, float64(r%5-3)))
		switch r % 7 {
		case 1:
			clear(row)
		case 3:
			for j := range row {
				row[j] = -2.5
			}
		case 4:
			for j := range row {
				row[j] = math.Abs(row[j]) + 1 // positive only: zero below the range
			}
		case 5:
			for j := range row {
				row[j] = -math.Abs(row[j])
			}
		}
		w = append(w, row...)
	}
	return w
}

func TestQuantizeInt8MatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dt := range floatTypes {
		for _, in := range []int{1, 7, 31, 33, 256} {
			for _, sym := range []bool{true, false} {
				for _, strided := range []bool{false, true} {
					const out = 9
					wb := newBuf(dt, []int{out, in}, strided)
					w := wb.setFloats(testRows(rng, out, in))
					qb := newBuf(tensor.Int8, []int{out, in}, strided)
					sb := newBuf(tensor.Float32, []int{out}, strided)
					var zp *tensor.Tensor
					zb := newBuf(tensor.Int32, []int{out}, strided)
					if !sym {
						zp = &zb.t
					}
					if err := QuantizeInt8(wb.t, qb.t, sb.t, zp); err != nil {
						t.Fatal(err)
					}
					qb.checkGuards(t, "q")
					sb.checkGuards(t, "scales")
					what := name(dt, " in=", in, " sym=", sym, " strided=", strided)
					scales := sb.floats()
					for r := range out {
						codes, s, z := refQuantize(w[r*in:(r+1)*in], sym, -128, 127)
						if sym {
							codes, s, z = refQuantize(w[r*in:(r+1)*in], true, -127, 127)
						}
						if float32(scales[r]) != s || (!sym && zb.int(r) != z) {
							t.Fatalf("%s row %d: scale %v zero %d, want %v %d", what, r, scales[r], zb.int(r), s, z)
						}
						for j, c := range codes {
							if got := qb.int(r*in + j); got != c {
								t.Fatalf("%s [%d,%d]: q=%d, want %d", what, r, j, got, c)
							}
						}
					}
					// Dequantize: exact formula, and within half a step of the input.
					db := newBuf(tensor.Float32, []int{out, in}, !strided)
					if err := DequantizeInt8(qb.t, sb.t, zp, db.t); err != nil {
						t.Fatal(err)
					}
					db.checkGuards(t, "w")
					got := db.floats()
					for r := range out {
						s := scales[r]
						z := 0
						if !sym {
							z = zb.int(r)
						}
						for j := range in {
							want := float64(float32(float64(qb.int(r*in+j)-z) * s))
							if got[r*in+j] != want {
								t.Fatalf("%s dequant [%d,%d] = %v, want %v", what, r, j, got[r*in+j], want)
							}
							// Half a step, plus the final float32 rounding of ŵ.
							if d := math.Abs(want - w[r*in+j]); d > s/2*(1+1e-9)+math.Abs(want)*0x1p-24 {
								t.Fatalf("%s round trip [%d,%d]: %v -> %v (scale %v)", what, r, j, w[r*in+j], want, s)
							}
						}
					}
				}
			}
		}
	}
}

func TestQuantizeInt4MatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dt := range floatTypes {
		for _, tc := range []struct{ in, group int }{{32, 32}, {96, 32}, {128, 64}, {256, 128}, {384, 64}} {
			for _, sym := range []bool{true, false} {
				strided := tc.in == 96
				const out = 8
				in, group, ng := tc.in, tc.group, tc.in/tc.group
				wb := newBuf(dt, []int{out, in}, strided)
				w := wb.setFloats(testRows(rng, out, in))
				// Make some groups degenerate within otherwise random rows.
				if ng > 1 {
					for j := range group {
						w[j] = 0
						w[in+group+j] = -0.125
					}
					w = wb.setFloats(w)
				}
				qb := newBuf(tensor.Int4, []int{out, in}, false)
				sb := newBuf(tensor.Float32, []int{out, ng}, strided)
				zb := newBuf(tensor.Uint8, []int{out, ng}, strided)
				var zp *tensor.Tensor
				if !sym {
					zp = &zb.t
				}
				if err := QuantizeInt4(wb.t, qb.t, sb.t, zp, group); err != nil {
					t.Fatal(err)
				}
				qb.checkGuards(t, "q")
				sb.checkGuards(t, "scales")
				zb.checkGuards(t, "zeros")
				what := name(dt, " in=", in, " group=", group, " sym=", sym)
				packed, scales := qb.bytes(), sb.floats()
				for r := range out {
					for g := range ng {
						span := w[r*in+g*group : r*in+(g+1)*group]
						var codes []int
						var s float32
						var z int
						if sym {
							codes, s, z = refQuantize(span, true, -7, 7)
						} else {
							codes, s, z = refQuantize(span, false, 0, 15)
						}
						if float32(scales[r*ng+g]) != s || (!sym && zb.int(r*ng+g) != z) {
							t.Fatalf("%s [%d,%d]: scale %v zero %d, want %v %d", what, r, g, scales[r*ng+g], zb.int(r*ng+g), s, z)
						}
						for i, c := range codes {
							j := r*in + g*group + i
							nib := int(packed[j/2] >> (4 * (j % 2)) & 15)
							if sym {
								nib = int(signedNibble(byte(nib)))
							}
							if nib != c {
								t.Fatalf("%s element [%d,%d]: code %d, want %d", what, r, g*group+i, nib, c)
							}
						}
					}
				}
				for _, odt := range floatTypes {
					db := newBuf(odt, []int{out, in}, strided)
					if err := DequantizeInt4(qb.t, sb.t, zp, group, db.t); err != nil {
						t.Fatal(err)
					}
					db.checkGuards(t, "w")
					got := db.floats()
					for j := range got {
						r, g := j/in, j%in/group
						nib := int(packed[j/2] >> (4 * (j % 2)) & 15)
						if sym {
							nib = int(signedNibble(byte(nib)))
						} else {
							nib -= zb.int(r*ng + g)
						}
						s := scales[r*ng+g]
						exact := float32(float64(nib) * s)
						if want := float64(tensor.Round(exact, odt)); got[j] != want {
							t.Fatalf("%s dequant %v element %d = %v, want %v", what, odt, j, got[j], want)
						}
						if odt == tensor.Float32 {
							if d := math.Abs(float64(exact) - w[j]); d > s/2*(1+1e-9)+math.Abs(float64(exact))*0x1p-24 {
								t.Fatalf("%s round trip %d: %v -> %v (scale %v)", what, j, w[j], exact, s)
							}
						}
					}
				}
			}
		}
	}
}

// TestInt4PackingLayout checks the nibble order against hand-written bytes.
func TestInt4PackingLayout(t *testing.T) {
	// Symmetric, amax 7: the scale is 1 and the codes are the weights.
	w := make([]float32, 32)
	copy(w, []float32{1, 2, 3, 4, 5, 6, 7, -7, -1, 0, -3, 2})
	q := make([]byte, 16)
	s := make([]float32, 1)
	qt := tensor.Tensor{Data: unsafe.Pointer(&q[0]), DType: tensor.Int4, Shape: []int{1, 32}, Strides: []int{32, 1}}
	if err := QuantizeInt4(tensor.FromFloat32(w, 1, 32), qt, tensor.FromFloat32(s, 1, 1), nil, 32); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x21, 0x43, 0x65, 0x97, 0x0F, 0x2D}
	if s[0] != 1 || string(q[:6]) != string(want) || q[6] != 0 {
		t.Fatalf("symmetric bytes % x (scale %v), want % x", q[:7], s[0], want)
	}
	// Asymmetric with min 0 and max 15: scale 1, zero point 0, unsigned codes.
	clear(w)
	copy(w, []float32{1, 2, 3, 4, 15, 0, 9, 8})
	z := make([]byte, 1)
	zt := tensor.Tensor{Data: unsafe.Pointer(&z[0]), DType: tensor.Uint8, Shape: []int{1, 1}, Strides: []int{1, 1}}
	if err := QuantizeInt4(tensor.FromFloat32(w, 1, 32), qt, tensor.FromFloat32(s, 1, 1), &zt, 32); err != nil {
		t.Fatal(err)
	}
	want = []byte{0x21, 0x43, 0x0F, 0x89}
	if s[0] != 1 || z[0] != 0 || string(q[:4]) != string(want) {
		t.Fatalf("asymmetric bytes % x (scale %v zero %d), want % x", q[:4], s[0], z[0], want)
	}
	// Dequantize hand-written bytes: 0x21 0x43 -> 1 2 3 4; 0x8F -> -1 -8 (symmetric).
	clear(q)
	q[0], q[1], q[2] = 0x21, 0x43, 0x8F
	s[0] = 0.5
	out := make([]float32, 32)
	if err := DequantizeInt4(qt, tensor.FromFloat32(s, 1, 1), nil, 32, tensor.FromFloat32(out, 1, 32)); err != nil {
		t.Fatal(err)
	}
	if got := out[:7]; got[0] != 0.5 || got[1] != 1 || got[2] != 1.5 || got[3] != 2 || got[4] != -0.5 || got[5] != -4 || got[6] != 0 {
		t.Fatalf("dequantized %v", got)
	}
}

// TestDegenerateRows checks finite scales and exact reconstruction of constant rows and
// groups, and finite scales at the extremes of float32.
func TestDegenerateRows(t *testing.T) {
	consts := []float32{0, 0.75, -3, 1e-40, -1e-45, math.MaxFloat32, -math.MaxFloat32}
	const in = 64
	for _, c := range consts {
		w := make([]float32, in)
		for i := range w {
			w[i] = c
		}
		wt := tensor.FromFloat32(w, 1, in)
		check := func(what string, s []float32, deq func(out tensor.Tensor) error) {
			t.Helper()
			for _, v := range s {
				if !isFinite32(v) || v <= 0 {
					t.Errorf("%s c=%v: scale %v", what, c, v)
				}
			}
			out := make([]float32, in)
			if err := deq(tensor.FromFloat32(out, 1, in)); err != nil {
				t.Fatal(err)
			}
			for _, v := range out {
				if v != c {
					t.Fatalf("%s c=%v: dequantized to %v", what, c, v)
				}
			}
		}
		for _, sym := range []bool{true, false} {
			q := make([]int8, in)
			qt := tensor.Tensor{Data: unsafe.Pointer(&q[0]), DType: tensor.Int8, Shape: []int{1, in}, Strides: []int{in, 1}}
			s := make([]float32, 1)
			zs := make([]int32, 1)
			var zp *tensor.Tensor
			if !sym {
				zp = &tensor.Tensor{Data: unsafe.Pointer(&zs[0]), DType: tensor.Int32, Shape: []int{1}, Strides: []int{1}}
			}
			if err := QuantizeInt8(wt, qt, tensor.FromFloat32(s, 1), zp); err != nil {
				t.Fatal(err)
			}
			check(name("int8 sym=", sym), s, func(o tensor.Tensor) error { return DequantizeInt8(qt, tensor.FromFloat32(s, 1), zp, o) })

			q4 := make([]byte, in/2)
			q4t := tensor.Tensor{Data: unsafe.Pointer(&q4[0]), DType: tensor.Int4, Shape: []int{1, in}, Strides: []int{in, 1}}
			s4 := make([]float32, 2)
			z4 := make([]byte, 2)
			var z4p *tensor.Tensor
			if !sym {
				z4p = &tensor.Tensor{Data: unsafe.Pointer(&z4[0]), DType: tensor.Uint8, Shape: []int{1, 2}, Strides: []int{2, 1}}
			}
			if err := QuantizeInt4(wt, q4t, tensor.FromFloat32(s4, 1, 2), z4p, 32); err != nil {
				t.Fatal(err)
			}
			check(name("int4 sym=", sym), s4, func(o tensor.Tensor) error {
				return DequantizeInt4(q4t, tensor.FromFloat32(s4, 1, 2), z4p, 32, o)
			})
		}
	}
	// Extreme non-constant rows still get finite, positive scales.
	for _, row := range [][]float32{{math.MaxFloat32, -math.MaxFloat32}, {1e-45, -1e-45}, {1e-45, 0}} {
		w := make([]float32, 32)
		copy(w, row)
		for _, sym := range []bool{true, false} {
			q := make([]int8, 32)
			s := make([]float32, 1)
			zs := make([]int32, 1)
			var zp *tensor.Tensor
			if !sym {
				zp = &tensor.Tensor{Data: unsafe.Pointer(&zs[0]), DType: tensor.Int32, Shape: []int{1}, Strides: []int{1}}
			}
			qt := tensor.Tensor{Data: unsafe.Pointer(&q[0]), DType: tensor.Int8, Shape: []int{1, 32}, Strides: []int{32, 1}}
			if err := QuantizeInt8(tensor.FromFloat32(w, 1, 32), qt, tensor.FromFloat32(s, 1), zp); err != nil {
				t.Fatal(err)
			}
			out := make([]float32, 32)
			if err := DequantizeInt8(qt, tensor.FromFloat32(s, 1), zp, tensor.FromFloat32(out, 1, 32)); err != nil {
				t.Fatal(err)
			}
			if !isFinite32(s[0]) || s[0] <= 0 {
				t.Errorf("row %v sym=%v: scale %v", row, sym, s[0])
			}
			for _, v := range out {
				if !isFinite32(v) {
					t.Fatalf("row %v sym=%v: dequantized %v", row, sym, out[:2])
				}
			}
			wv := make([]float64, 32)
			for i, v := range w {
				wv[i] = float64(v)
			}
			codes, rs, rz := refQuantize(wv, true, -127, 127)
			if !sym {
				codes, rs, rz = refQuantize(wv, false, -128, 127)
			}
			if s[0] != rs || (!sym && int(zs[0]) != rz) || int(q[0]) != codes[0] || int(q[1]) != codes[1] {
				t.Errorf("row %v sym=%v: scale %v zero %d codes %v, want %v %d %v", row, sym, s[0], zs[0], q[:2], rs, rz, codes[:2])
			}
			// The same row as an int4 group.
			q4 := make([]byte, 16)
			s4, z4 := make([]float32, 1), make([]byte, 1)
			q4t := tensor.Tensor{Data: unsafe.Pointer(&q4[0]), DType: tensor.Int4, Shape: []int{1, 32}, Strides: []int{32, 1}}
			var z4p *tensor.Tensor
			if !sym {
				z4p = &tensor.Tensor{Data: unsafe.Pointer(&z4[0]), DType: tensor.Uint8, Shape: []int{1, 1}, Strides: []int{1, 1}}
			}
			if err := QuantizeInt4(tensor.FromFloat32(w, 1, 32), q4t, tensor.FromFloat32(s4, 1, 1), z4p, 32); err != nil {
				t.Fatal(err)
			}
			if err := DequantizeInt4(q4t, tensor.FromFloat32(s4, 1, 1), z4p, 32, tensor.FromFloat32(out, 1, 32)); err != nil {
				t.Fatal(err)
			}
			for _, v := range out {
				if !isFinite32(v) || !isFinite32(s4[0]) || s4[0] <= 0 {
					t.Fatalf("int4 row %v sym=%v: scale %v, dequantized %v", row, sym, s4[0], out[:2])
				}
			}
		}
	}
}

func TestQuantizeBadInput(t *testing.T) {
	w := newBuf(tensor.Float32, []int{2, 64}, false)
	w.setFloats(make([]float64, 128))
	q8 := newBuf(tensor.Int8, []int{2, 64}, false)
	s8 := newBuf(tensor.Float32, []int{2}, false)
	z8 := newBuf(tensor.Int32, []int{2}, false)
	q4 := newBuf(tensor.Int4, []int{2, 64}, false)
	s4 := newBuf(tensor.Float32, []int{2, 2}, false)
	z4 := newBuf(tensor.Uint8, []int{2, 2}, false)
	bufs := []*buf{q8, s8, z8, q4, s4, z4}
	snaps := make([][]byte, len(bufs))
	for i, b := range bufs {
		snaps[i] = b.snapshot()
	}
	odd := newBuf(tensor.Float32, []int{2, 33}, false)
	odd.setFloats(make([]float64, 66))
	nan := newBuf(tensor.Float32, []int{2, 64}, false)
	vals := make([]float64, 128)
	vals[77] = math.Inf(1)
	nan.setFloats(vals)
	i8w := q8.t
	scalesAsQ := s8.t
	scalesAsQ.Shape, scalesAsQ.Strides = []int{1, 2}, []int{2, 1}
	wrongS := s4.t
	cases := []struct {
		name string
		err  error
		kind errs.Kind
		msg  string
	}{
		{"int8 w dtype", QuantizeInt8(i8w, q8.t, s8.t, nil), errs.UnsupportedDtype, "w:"},
		{"int8 q shape", QuantizeInt8(w.t, q4.t, s8.t, nil), errs.UnsupportedDtype, "q:"},
		{"int8 scales shape", QuantizeInt8(w.t, q8.t, wrongS, nil), errs.ShapeMismatch, "scales:"},
		{"int8 zeros dtype", QuantizeInt8(w.t, q8.t, s8.t, &s8.t), errs.UnsupportedDtype, "zeros:"},
		{"int8 non-finite", QuantizeInt8(nan.t, q8.t, s8.t, &z8.t), errs.InvalidArgument, "[1, 13]"},
		{"int8 outputs overlap", QuantizeInt8(w.t, q8.t, s8.t, &tensor.Tensor{Data: s8.t.Data, DType: tensor.Int32, Shape: []int{2}, Strides: []int{1}}), errs.InvalidArgument, "overlaps"},
		{"int4 odd in", QuantizeInt4(odd.t, q4.t, s4.t, nil, 32), errs.InvalidArgument, "odd"},
		{"int4 group", QuantizeInt4(w.t, q4.t, s4.t, nil, 16), errs.InvalidArgument, "group"},
		{"int4 in % group", QuantizeInt4(w.t, q4.t, s4.t, nil, 128), errs.InvalidArgument, "multiple"},
		{"int4 scales shape", QuantizeInt4(w.t, q4.t, s8.t, nil, 32), errs.ShapeMismatch, "scales:"},
		{"int4 zeros dtype", QuantizeInt4(w.t, q4.t, s4.t, &scalesAsQ, 32), errs.UnsupportedDtype, "zeros:"},
		{"int4 q dtype", QuantizeInt4(w.t, q8.t, s4.t, nil, 32), errs.UnsupportedDtype, "q:"},
		{"int4 non-finite", QuantizeInt4(nan.t, q4.t, s4.t, &z4.t, 32), errs.InvalidArgument, "finite"},
		{"int4 q overlaps w", QuantizeInt4(w.t, tensor.Tensor{Data: w.t.Data, DType: tensor.Int4, Shape: []int{2, 64}, Strides: []int{64, 1}}, s4.t, nil, 32), errs.InvalidArgument, "overlaps"},
		{"dequant int8 w shape", DequantizeInt8(q8.t, s8.t, nil, odd.t), errs.ShapeMismatch, "w:"},
		{"dequant int4 group", DequantizeInt4(q4.t, s4.t, nil, 48, w.t), errs.InvalidArgument, "group"},
		{"dequant int4 w overlaps q", DequantizeInt4(q4.t, s4.t, nil, 32, tensor.Tensor{Data: q4.t.Data, DType: tensor.Float32, Shape: []int{2, 64}, Strides: []int{64, 1}}), errs.InvalidArgument, "overlaps"},
	}
	for _, c := range cases {
		wantKind(t, c.name, c.err, c.kind)
		if c.err != nil && !strings.Contains(c.err.Error(), c.msg) {
			t.Errorf("%s: message %q does not mention %q", c.name, c.err, c.msg)
		}
	}
	unchanged(t, "bad input", bufs, snaps)
}
