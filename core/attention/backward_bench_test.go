package attention

import (
	"fmt"
	"testing"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// BenchmarkBackward reports GFLOP/s over a ladder of causal self-attention sizes, counting
// 6*D + 4*Dv flops per visible (query, key) pair (scores, dout·v, dv, dk and dq).
func BenchmarkBackward(b *testing.B) {
	for _, L := range []int{128, 512, 1024} {
		b.Run(fmt.Sprintf("B=1/L=%d/H=8/D=64", L), func(b *testing.B) {
			c := baseCfg(1, L, L, 8, 64)
			c.p.Causal = true
			bp := newBackProblem(b, c, 1, tensor.Float32)
			pairs := float64(8 * L * (L + 1) / 2)
			b.ResetTimer()
			for range b.N {
				if err := bp.run(); err != nil {
					b.Fatal(err)
				}
			}
			flops := pairs * (6*64 + 4*64) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
