package mlp

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// BenchmarkGatedLinearBackward reports GFLOP/s counting the six matrix products
// (gate, up, two for dx, two for the weights): 12 * rows * in * hidden flops.
// Run: go test -run '^$' -bench . ./core/kernels/mlp
func BenchmarkGatedLinearBackward(b *testing.B) {
	for _, s := range []struct{ rows, in, hidden int }{{64, 1024, 2816}, {256, 2048, 5632}} {
		b.Run(fmt.Sprintf("rows=%d/in=%d/hidden=%d", s.rows, s.in, s.hidden), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x := newMat(tensor.Float32, []int{s.rows, s.in}, randF64(r, s.rows*s.in, 1), 1)
			wg := newMat(tensor.Float32, []int{s.hidden, s.in}, randF64(r, s.hidden*s.in, 0.05), 1)
			wu := newMat(tensor.Float32, []int{s.hidden, s.in}, randF64(r, s.hidden*s.in, 0.05), 1)
			dout := newMat(tensor.Float32, []int{s.rows, s.hidden}, randF64(r, s.rows*s.hidden, 1), 1)
			dx := newMat(tensor.Float32, []int{s.rows, s.in}, nil, 1)
			dwg := newMat(tensor.Float32, []int{s.hidden, s.in}, nil, 1)
			dwu := newMat(tensor.Float32, []int{s.hidden, s.in}, nil, 1)
			for b.Loop() {
				if err := GatedLinearBackward(kernels.SiLU, x.t, wg.t, wu.t, dout.t, &dx.t, &dwg.t, &dwu.t); err != nil {
					b.Fatal(err)
				}
			}
			flops := 12 * float64(s.rows) * float64(s.in) * float64(s.hidden)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
