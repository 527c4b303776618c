package attention

import (
	"fmt"
	"math/rand/v2"
	"testing"
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
