package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

func TestGLUMatchesReference(t *testing.T) {
	forEachElem(t, func(t *testing.T, kind Activation, dt tensor.DType, shape []int, lay layout) {
		rng := rand.New(rand.NewPCG(91, uint64(len(shape))))
		numel := tensor.NumElOf(shape)
		gate := newTBuf(dt, shape, lay)
		gs := gate.set(randomValues(rng, numel, 3))
		up := newTBuf(otherType(dt, 1), shape, (lay+1)%3)
		us := up.set(randomValues(rng, numel, 2))
		out := newTBuf(dt, shape, (lay+2)%3)
		if err := GLU(kind, gate.t, up.t, out.t); err != nil {
			t.Fatal(err)
		}
		a := mapF(activationRefs[kind].f, gs)
		want := make([]float64, numel)
		for i := range want {
			want[i] = a[i] * us[i]
		}
		closeScaled(t, "glu", elemTol[dt], out.get(), want, scaleOf(numel, a, us))
		checkGuards(t, out)
		// out over gate and over up give the same values.
		if err := GLU(kind, gate.t, up.t, gate.t); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gate.get(), out.get()) {
			t.Fatal("glu over gate differs")
		}
		checkGuards(t, gate)
	})
}

func TestGLUBackwardMatchesReference(t *testing.T) {
	forEachElem(t, func(t *testing.T, kind Activation, dt tensor.DType, shape []int, lay layout) {
		rng := rand.New(rand.NewPCG(92, uint64(len(shape))))
		numel := tensor.NumElOf(shape)
		gate := newTBuf(dt, shape, lay)
		gs := gate.set(randomValues(rng, numel, 3))
		up := newTBuf(otherType(dt, 1), shape, (lay+1)%3)
		us := up.set(randomValues(rng, numel, 2))
		dout := newTBuf(otherType(dt, 2), shape, (lay+2)%3)
		ds := dout.set(randomValues(rng, numel, 1))
		dgate := newTBuf(dt, shape, (lay+1)%3)
		dup := newTBuf(otherType(dt, 1), shape, lay)
		if err := GLUBackward(kind, gate.t, up.t, dout.t, dgate.t, dup.t); err != nil {
			t.Fatal(err)
		}
		ref := activationRefs[kind]
		a, da := mapF(ref.f, gs), mapF(ref.df, gs)
		wantG, wantU := make([]float64, numel), make([]float64, numel)
		for i := range wantG {
			wantG[i] = ds[i] * us[i] * da[i]
			wantU[i] = ds[i] * a[i]
		}
		closeScaled(t, "glu dgate", elemTol[dt], dgate.get(), wantG, scaleOf(numel, ds, us, da))
		closeScaled(t, "glu dup", elemTol[dup.t.DType], dup.get(), wantU, scaleOf(numel, ds, a))
		checkGuards(t, dgate, dup)
	})
}

// TestGLUBackwardInPlace: the gradients may overwrite any of the inputs.
func TestGLUBackwardInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(93, 94))
	const n = 77
	g, u, d := randF32(rng, n, 3), randF32(rng, n, 2), randF32(rng, n, 1)
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for _, kind := range activations {
			wantG, wantU := make([]float32, n), make([]float32, n)
			if err := GLUBackward(kind, tensor.FromFloat32(g, n), tensor.FromFloat32(u, n), tensor.FromFloat32(d, n),
				tensor.FromFloat32(wantG, n), tensor.FromFloat32(wantU, n)); err != nil {
				t.Fatal(err)
			}
			for _, targets := range [][2]int{{0, 1}, {1, 0}, {2, 0}, {1, 2}, {2, 1}} {
				in := [3][]float32{slices.Clone(g), slices.Clone(u), slices.Clone(d)}
				ts := [3]tensor.Tensor{tensor.FromFloat32(in[0], n), tensor.FromFloat32(in[1], n), tensor.FromFloat32(in[2], n)}
				if err := GLUBackward(kind, ts[0], ts[1], ts[2], ts[targets[0]], ts[targets[1]]); err != nil {
					t.Fatal(err)
				}
				if !sameBits(in[targets[0]], wantG) || !sameBits(in[targets[1]], wantU) {
					t.Fatalf("%v %v: gradients over inputs %v differ", isa, kind, targets)
				}
			}
		}
		restore()
	}
}

// TestGLURow: the epilogue row function equals GLU on float32 rows, in place too, does
// not allocate, and rejects unknown kinds and mismatched lengths.
func TestGLURow(t *testing.T) {
	rng := rand.New(rand.NewPCG(95, 96))
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		for _, kind := range activations {
			row := GLURow(kind)
			for _, n := range rowSizes {
				g, u := randF32(rng, n, 3), randF32(rng, n, 2)
				want := make([]float32, n)
				if err := GLU(kind, tensor.FromFloat32(g, n), tensor.FromFloat32(u, n), tensor.FromFloat32(want, n)); err != nil {
					t.Fatal(err)
				}
				got, intact := guardedF32(n)
				row(got, g, u)
				if !sameBits(got, want) || !intact() {
					t.Fatalf("%v %v n=%d: GLURow differs from GLU", isa, kind, n)
				}
				row(u, g, u)
				if !sameBits(u, want) {
					t.Fatalf("%v %v n=%d: GLURow in place differs", isa, kind, n)
				}
			}
			g, u, dst := randF32(rng, 4096, 1), randF32(rng, 4096, 1), make([]float32, 4096)
			if a := testing.AllocsPerRun(10, func() { row(dst, g, u) }); a != 0 {
				t.Fatalf("GLURow allocates %v times per call", a)
			}
		}
		restore()
	}
	if GLURow(0) != nil || GLURow(4) != nil {
		t.Fatal("GLURow of an unknown kind is not nil")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("GLURow accepted rows of different lengths")
		}
	}()
	GLURow(SiLU)(make([]float32, 3), make([]float32, 3), make([]float32, 2))
}
