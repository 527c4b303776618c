package rope

import (
	"fmt"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// BenchmarkApply rotates q and k of shape (1, S, 32, 128) in place, from decode (S = 1)
// to a 2048-token prefill, on every path. GB/s counts the bytes read and written
// (q and k, each read once and written once).
func BenchmarkApply(b *testing.B) {
	const H, D = 32, 128
	for _, isa := range cpu.Available() {
		for _, c := range []struct {
			dt tensor.DType
			pr Pairing
		}{{tensor.Float32, Half}, {tensor.Float32, Interleaved}, {tensor.BFloat16, Half}} {
			for _, s := range []int{1, 16, 128, 2048} {
				b.Run(fmt.Sprintf("%v/%v/%v/S=%d", isa, c.dt, c.pr, s), func(b *testing.B) {
					defer cpu.UseISA(isa)()
					n := s * H * D
					mk := func() tensor.Tensor {
						if c.dt == tensor.Float32 {
							x := make([]float32, n)
							for i := range x {
								x[i] = float32(i%97) / 97
							}
							return tensor.FromFloat32(x, 1, s, H, D)
						}
						return tensor.FromUint16(make([]uint16, n), c.dt, 1, s, H, D)
					}
					q, k := mk(), mk()
					p := DefaultParams()
					p.Pairing = c.pr
					bytes := float64(4 * n * c.dt.Bits() / 8) // q and k, read and written
					for b.Loop() {
						p.Offset = (p.Offset + 1) % 4096
						if err := Apply(q, q, &k, &k, nil, p); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
				})
			}
		}
	}
}
