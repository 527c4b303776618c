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

// BenchmarkBiasGrad reports the time of BiasGrad beside Backward's on the same causal
// problems, for a full bias and one shared by every head; GFLOP/s counts 2*D + 2*Dv
// flops per visible pair (the logits and dout·v it recomputes).
func BenchmarkBiasGrad(b *testing.B) {
	for _, shape := range [][]int{{1, 8, 1024, 1024}, {1024, 1024}} {
		b.Run(fmt.Sprintf("L=1024/H=8/D=64/bias=%v", shape), func(b *testing.B) {
			c := baseCfg(1, 1024, 1024, 8, 64)
			c.p.Causal, c.biasShape = true, shape
			bg := newBiasGradProblem(b, c, 1, tensor.Float32)
			pairs := float64(8 * 1024 * 1025 / 2)
			b.ResetTimer()
			for range b.N {
				if err := bg.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(pairs*(2*64+2*64)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
