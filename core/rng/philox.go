// Package rng is a counter-based random generator, Philox-4x32-10 (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011). Its stream is a pure function
// of (key, counter), so seeded sampling reproduces exactly on any machine and thread count.
package rng

import (
	"math/bits"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Philox constants: round multipliers and the Weyl sequence that bumps the key.
const (
	mul0   = 0xD2511F53
	mul1   = 0xCD9E8D57
	weyl0  = 0x9E3779B9
	weyl1  = 0xBB67AE85
	rounds = 10
)

// Block computes one Philox-4x32-10 block: four 32-bit words from a 128-bit counter and a
// 64-bit key.
func Block(ctr [4]uint32, key [2]uint32) [4]uint32 {
	for range rounds {
		hi0, lo0 := bits.Mul32(mul0, ctr[0])
		hi1, lo1 := bits.Mul32(mul1, ctr[2])
		ctr = [4]uint32{hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0}
		key[0] += weyl0
		key[1] += weyl1
	}
	return ctr
}

// Generator walks the Philox stream for one seed. The zero value is seed 0. It is not
// safe for concurrent use.
type Generator struct {
	key     [2]uint32
	counter [4]uint32 // the next block to draw
}

// New returns a generator for seed, at the start of its stream.
func New(seed uint64) *Generator {
	return &Generator{key: [2]uint32{uint32(seed), uint32(seed >> 32)}}
}

// next returns the next block and advances the 128-bit counter.
func (g *Generator) next() [4]uint32 {
	out := Block(g.counter, g.key)
	for i := range g.counter {
		g.counter[i]++
		if g.counter[i] != 0 {
			break
		}
	}
	return out
}

// Uniform fills out, in row-major order of its shape, with samples (w >> 8) * 2^-24 in
// [0, 1), one per 32-bit word, rounded to out's float dtype. It consumes
// ceil(NumEl/4) blocks. On error the stream does not advance.
func (g *Generator) Uniform(out tensor.Tensor) error {
	if err := out.Validate("out"); err != nil {
		return err
	}
	if !out.DType.IsFloat() {
		return errs.New(errs.UnsupportedDtype, "out: dtype %v is not float32, float16 or bfloat16", out.DType)
	}
	if out.NumEl() == 0 {
		return nil
	}
	if out.NDim() == 0 { // a scalar is one row of one element
		out.Shape, out.Strides = []int{1}, []int{0}
	}
	n := out.Shape[out.NDim()-1]
	row := make([]float32, n)
	var block [4]uint32
	used := 4
	for r := 0; r < out.NumRows(); r++ {
		for j := range row {
			if used == 4 {
				block, used = g.next(), 0
			}
			row[j] = float32(block[used]>>8) * (1.0 / (1 << 24))
			used++
		}
		out.StoreRow(out.RowOffset(r), row)
	}
	return nil
}
