package rng

import (
	"math"
	"testing"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// Known answers published with the Random123 library (kat_vectors): counter, key, output.
func TestBlockKnownAnswers(t *testing.T) {
	cases := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{}, [2]uint32{}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		if got := Block(c.ctr, c.key); got != c.want {
			t.Errorf("Block(%x, %x) = %x, want %x", c.ctr, c.key, got, c.want)
		}
	}
}

func TestUniformStream(t *testing.T) {
	g := New(0)
	out := make([]float32, 6)
	if err := g.Uniform(tensor.FromFloat32(out, 2, 3)); err != nil {
		t.Fatal(err)
	}
	first := Block([4]uint32{}, [2]uint32{})
	second := Block([4]uint32{1}, [2]uint32{})
	words := append(first[:], second[:2]...)
	for i, w := range words {
		if want := float32(float64(w>>8) / (1 << 24)); out[i] != want {
			t.Errorf("sample %d = %v, want %v", i, out[i], want)
		}
	}
	// The call used two blocks, so the next one starts at counter 2.
	next := make([]float32, 1)
	g.Uniform(tensor.FromFloat32(next, 1))
	third := Block([4]uint32{2}, [2]uint32{})
	if want := float32(float64(third[0]>>8) / (1 << 24)); next[0] != want {
		t.Errorf("stream after a partial block: %v, want %v", next[0], want)
	}
}

func TestUniformRangeAndSeeds(t *testing.T) {
	a, b := make([]float32, 4096), make([]float32, 4096)
	New(42).Uniform(tensor.FromFloat32(a, 4096))
	New(43).Uniform(tensor.FromFloat32(b, 4096))
	same := 0
	var mean float64
	for i := range a {
		if a[i] < 0 || a[i] >= 1 {
			t.Fatalf("sample %v outside [0, 1)", a[i])
		}
		if a[i] == b[i] {
			same++
		}
		mean += float64(a[i]) / 4096
	}
	if same > 4 {
		t.Errorf("seeds 42 and 43 share %d of 4096 samples", same)
	}
	// The mean of 4096 uniforms has standard deviation 0.0045; 5 sigma is 0.023.
	if math.Abs(mean-0.5) > 0.023 {
		t.Errorf("mean %v is implausible for uniform samples", mean)
	}
}

func TestUniformRejectsIntegers(t *testing.T) {
	g := New(1)
	bad := tensor.FromFloat32(make([]float32, 4), 4)
	bad.DType = tensor.Int32
	if err := g.Uniform(bad); err == nil {
		t.Fatal("int32 output accepted")
	}
	if g.counter != [4]uint32{} {
		t.Fatal("a failed call advanced the stream")
	}
}
