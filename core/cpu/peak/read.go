package peak

import (
	"encoding/binary"
	"math"

	"github.com/mlxprim/mlxprim/core/cpu"
)

// NewBuffer returns n bytes filled with a fixed non-zero pattern, every page touched, so
// a bandwidth run reads real memory and not the shared zero page.
func NewBuffer(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9E3779B97F4A7C15)
	for i := 0; i < n; i += 8 {
		x ^= x << 13 // xorshift64
		x ^= x >> 7
		x ^= x << 17
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[i:], w[:])
	}
	return b
}

// Checksum returns the wrapping sum of b read as little-endian uint64 words, the last
// len(b)%8 bytes zero-padded into one more word. It is what the read loops compute, with
// the selected path's loop.
func Checksum(b []byte) uint64 { return sum64(Selected(), b) }

// ReadBandwidth returns the GB/s (1e9 bytes read per second) of isa's read loop over buf,
// split into threads equal parts read in parallel, as the best of repeats passes. Use a
// buffer several times larger than the last-level cache (see NewBuffer).
func ReadBandwidth(isa cpu.ISA, buf []byte, threads, repeats int) (float64, error) {
	if err := checkISA(isa); err != nil {
		return 0, err
	}
	if err := checkRun(threads, repeats); err != nil {
		return 0, err
	}
	parts := split(len(buf), threads)
	sums := make([]uint64, threads*8) // one cache line per thread: no false sharing
	best := math.Inf(1)
	for range repeats {
		el := parallel(threads, func(t int) { sums[8*t] += sum64(isa, buf[parts[t]:parts[t+1]]) })
		best = min(best, el.Seconds())
	}
	return float64(len(buf)) / best / 1e9, nil
}

// CopyBandwidth returns the GB/s (1e9 bytes read plus bytes written per second) of the
// runtime's copy from the second half of buf into the first, split into threads equal
// parts copied in parallel, as the best of repeats passes.
func CopyBandwidth(buf []byte, threads, repeats int) (float64, error) {
	if err := checkRun(threads, repeats); err != nil {
		return 0, err
	}
	half := len(buf) / 2
	dst, src := buf[:half], buf[half:2*half]
	parts := split(half, threads)
	best := math.Inf(1)
	for range repeats {
		el := parallel(threads, func(t int) { copy(dst[parts[t]:parts[t+1]], src[parts[t]:parts[t+1]]) })
		best = min(best, el.Seconds())
	}
	return 2 * float64(half) / best / 1e9, nil
}

// split returns threads+1 boundaries cutting n bytes into parts of nearly equal size,
// each boundary a multiple of sumBlock so every part starts on a word boundary.
func split(n, threads int) []int {
	blocks := n / sumBlock
	b := make([]int, threads+1)
	for t := 1; t < threads; t++ {
		b[t] = blocks * t / threads * sumBlock
	}
	b[threads] = n
	return b
}
