package attention

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/cpu/peak"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// machine limits, measured once per benchmark run, so that each figure is also reported
// as a fraction of them (FMA peak of the selected path on all threads, streaming read).
var (
	limitsOnce sync.Once
	limits     peak.Report
)

func machineLimits(b *testing.B) peak.Report {
	limitsOnce.Do(func() {
		r, err := peak.Measure(peak.Options{ISAs: []cpu.ISA{cpu.Selected()}, Duration: 100 * time.Millisecond,
			Repeats: 2})
		if err != nil {
			b.Fatal(err)
		}
		limits = r
	})
	return limits
}

func benchTensor(r *rand.Rand, shape ...int) tensor.Tensor {
	return benchTensorAt(r, 0, shape...)
}

// benchTensorAt is benchTensor with its data starting off floats into a fresh
// allocation (Go places large ones on page boundaries).
func benchTensorAt(r *rand.Rand, off int, shape ...int) tensor.Tensor {
	return tensor.FromFloat32(randSlice(r, off+tensor.NumElOf(shape))[off:], shape...)
}

// decodeGBs runs Forward(q, k, v, out) b.N times from a reset timer and returns, and
// reports, the GB/s of its kvBytes of keys and values per call.
func decodeGBs(b *testing.B, q, k, v, out tensor.Tensor, p Params, kvBytes int) float64 {
	b.Helper()
	b.ResetTimer()
	for range b.N {
		if err := Forward(q, k, v, out, nil, p); err != nil {
			b.Fatal(err)
		}
	}
	gbs := float64(kvBytes) * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(gbs, "GB/s")
	return gbs
}

// BenchmarkPrefill: float32 BSHD self-attention, B=1, H=8; 4*B*H*Lq*Lk*D flops, halved
// when causal.
func BenchmarkPrefill(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, causal := range []bool{false, true} {
		for _, d := range []int{64, 128} {
			for _, l := range []int{512, 1024, 2048, 4096} {
				b.Run(fmt.Sprintf("causal=%v/D=%d/L=%d", causal, d, l), func(b *testing.B) {
					lim := machineLimits(b)
					const h = 8
					q, k, v, out := benchTensor(r, 1, l, h, d), benchTensor(r, 1, l, h, d), benchTensor(r, 1, l, h, d), benchTensor(r, 1, l, h, d)
					p := DefaultParams()
					p.Causal = causal
					b.ResetTimer()
					for range b.N {
						if err := Forward(q, k, v, out, nil, p); err != nil {
							b.Fatal(err)
						}
					}
					flops := 4.0 * h * float64(l) * float64(l) * float64(d)
					if causal {
						flops /= 2
					}
					gf := flops * float64(b.N) / b.Elapsed().Seconds() / 1e9
					b.ReportMetric(gf, "GFLOP/s")
					b.ReportMetric(100*gf/lim.FMA[cpu.Selected()].All, "%peak")
				})
			}
		}
	}
}

// BenchmarkDecode: one query token (B=1, D=128, float32) against Lk cached keys, with
// Hq=32, 64 and 16 query heads on Hkv=8 KV heads (GQA), Hq=Hkv=8 (MHA), Hq=8 on one
// KV head (MQA: split-KV across chunks) and groups that are not a power of two (24 on
// 8, 28 on 4, 40 on 8); reports the key+value bytes read per second.
func BenchmarkDecode(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	const d = 128
	for _, heads := range [][2]int{{32, 8}, {64, 8}, {16, 8}, {8, 8}, {8, 1}, {24, 8}, {28, 4}, {40, 8}} {
		hq, hkv := heads[0], heads[1]
		for _, lk := range []int{1024, 4096, 16384, 32768} {
			b.Run(fmt.Sprintf("Hq=%d/Hkv=%d/Lk=%d", hq, hkv, lk), func(b *testing.B) {
				lim := machineLimits(b)
				q, out := benchTensor(r, 1, 1, hq, d), benchTensor(r, 1, 1, hq, d)
				k, v := benchTensor(r, 1, lk, hkv, d), benchTensor(r, 1, lk, hkv, d)
				p := DefaultParams()
				p.Causal = true
				gbs := decodeGBs(b, q, k, v, out, p, 2*lk*hkv*d*4)
				b.ReportMetric(100*gbs/lim.Read.All, "%read")
			})
		}
	}
}

// BenchmarkDecodeShort: one query token with 32 query heads on 8 KV heads (D=128)
// against short caches, on one thread and on all: the fixed cost of a decode step
// early in a sequence.
func BenchmarkDecodeShort(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 4))
	for _, th := range []int{1, cpu.NumThreads()} {
		for _, lk := range []int{16, 64, 256} {
			b.Run(fmt.Sprintf("threads=%d/Lk=%d", th, lk), func(b *testing.B) {
				defer cpu.SetNumThreads(cpu.NumThreads())
				if err := cpu.SetNumThreads(th); err != nil {
					b.Fatal(err)
				}
				q, out := benchTensor(r, 1, 1, 32, 128), benchTensor(r, 1, 1, 32, 128)
				k, v := benchTensor(r, 1, lk, 8, 128), benchTensor(r, 1, lk, 8, 128)
				p := DefaultParams()
				for b.Loop() {
					if err := Forward(q, k, v, out, nil, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecodeOffset is BenchmarkDecode's MHA and GQA shapes with the keys and values
// starting 0 or 16 bytes past a 64-byte boundary: NumPy places large arrays 16 bytes past
// a page boundary, so that each 64-byte load of a key or value row spans two cache lines.
func BenchmarkDecodeOffset(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 3))
	const d, lk = 128, 16384
	for _, hq := range []int{8, 32} {
		for _, off := range []int{0, 4} {
			b.Run(fmt.Sprintf("Hq=%d/Hkv=8/Lk=%d/offset=%dB", hq, lk, 4*off), func(b *testing.B) {
				q, out := benchTensor(r, 1, 1, hq, d), benchTensor(r, 1, 1, hq, d)
				k, v := benchTensorAt(r, off, 1, lk, 8, d), benchTensorAt(r, off, 1, lk, 8, d)
				decodeGBs(b, q, k, v, out, DefaultParams(), 2*lk*8*d*4)
			})
		}
	}
}
