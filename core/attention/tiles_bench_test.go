package attention

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// BenchmarkTileKernels: each tile kernel alone on one 64-key tile in cache (64 rows for
// the transposed kernels, 4 for the row kernels), in GFLOP/s of the products it computes.
func BenchmarkTileKernels(b *testing.B) {
	tk := selectKernels().tiles
	if tk == nil {
		b.Skip("no tile kernels on this path")
	}
	r := rand.New(rand.NewPCG(1, 1))
	gflops := func(b *testing.B, flops float64) {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	for _, d := range []int{64, 128} {
		const lanes = 64
		qt, k, v := randSlice(r, d*lanes), randSlice(r, tileKeys*d), randSlice(r, tileKeys*d)
		st, ot := make([]float32, tileKeys*lanes), make([]float32, d*lanes)
		m, l, alpha := make([]float32, lanes), make([]float32, lanes), make([]float32, lanes)
		b.Run(fmt.Sprintf("qk/d=%d", d), func(b *testing.B) {
			for range b.N {
				for v := 0; v < lanes; v += 32 {
					tk.qk(&st[v], lanes, &qt[v], &k[0], d, d, tileKeys, 2)
				}
			}
			gflops(b, 2*tileKeys*lanes*float64(d))
		})
		b.Run(fmt.Sprintf("softmax/d=%d", d), func(b *testing.B) {
			for range b.N {
				for v := 0; v < lanes; v += 16 {
					tk.softmax(&st[v], lanes, &m[v], &l[v], &alpha[v])
				}
			}
		})
		b.Run(fmt.Sprintf("pv/d=%d", d), func(b *testing.B) {
			for range b.N {
				for x := 0; x < lanes; x += 32 {
					tk.pv(&ot[x], lanes, &st[x], &v[0], d, tileKeys, d, &alpha[x], 2)
				}
			}
			gflops(b, 2*tileKeys*lanes*float64(d))
		})
		kt, sr := make([]float32, d*tileKeys), make([]float32, 16*tileKeys)
		b.Run(fmt.Sprintf("transpose/d=%d", d), func(b *testing.B) {
			for range b.N {
				tk.transpose(&kt[0], &k[0], d, d, tileKeys)
			}
		})
		b.Run(fmt.Sprintf("qkRows/d=%d", d), func(b *testing.B) {
			for range b.N {
				tk.qkRows(&sr[0], &qt[0], &kt[0], d, 4)
			}
			gflops(b, 2*tileKeys*4*float64(d))
		})
		b.Run(fmt.Sprintf("softmaxRow/d=%d", d), func(b *testing.B) {
			for range b.N {
				for r := range 4 {
					tk.softmaxRow(&sr[r*tileKeys], &m[r], &l[r], &alpha[r])
				}
			}
		})
	}
}

// BenchmarkScoresHeads: the key stream of multi-head decode (scoresHeads) alone on one
// tile of 64 positions of 8 heads of 128 keys in cache (256 KiB, in L2) and on 64 and
// 128 MiB read once per pass, in GB/s of keys read.
func BenchmarkScoresHeads(b *testing.B) {
	k := selectKernels()
	if k.scoresHeads == nil {
		b.Skip("no key stream on this path")
	}
	r := rand.New(rand.NewPCG(1, 2))
	const heads, d = 8, 128
	qh := randSlice(r, max(k.headLanes, heads)*d)
	out := make([]float32, heads*16*tileKeys)
	for _, n := range []int{tileKeys, 16384, 32768} {
		keys := randSlice(r, n*heads*d)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for range b.N {
				for j := 0; j < n; j += tileKeys {
					k.scoresHeads(out, 16*tileKeys, qh, unsafe.Pointer(&keys[j*heads*d]), heads, tileKeys, d, streamAhead, tensor.Float32)
				}
			}
			b.ReportMetric(float64(n*heads*d*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
