//go:build !purego

package peak

import "github.com/mlxprim/mlxprim/core/cpu"

// sum64 returns the checksum of b (see sumGeneric) with isa's read loop.
func sum64(isa cpu.ISA, b []byte) uint64 {
	blocks := len(b) / sumBlock
	if isa == cpu.Generic || blocks == 0 {
		return sumGeneric(b)
	}
	var v [4]uint64
	if isa == cpu.AVX512 {
		sumAVX512(&b[0], blocks, &v)
	} else {
		sumAVX2(&b[0], blocks, &v)
	}
	return v[0] + v[1] + v[2] + v[3] + sumGeneric(b[blocks*sumBlock:])
}

// sumAVX512 adds the blocks*256 bytes at p as uint64 lanes into 4 zmm accumulators
// (4 loads of 64 bytes per step) and stores their lane-wise sum folded to 4 words:
//
//	for i := range blocks * 32 { s += le64(p[8*i:]) }  // then out[0]+out[1]+out[2]+out[3] == s
//
// blocks must be >= 1.
//
//go:noescape
func sumAVX512(p *byte, blocks int, out *[4]uint64)

// sumAVX2 is sumAVX512 with 4 ymm accumulators (8 loads of 32 bytes per step):
//
//	for i := range blocks * 32 { s += le64(p[8*i:]) }  // then out[0]+out[1]+out[2]+out[3] == s
//
// blocks must be >= 1.
//
//go:noescape
func sumAVX2(p *byte, blocks int, out *[4]uint64)
