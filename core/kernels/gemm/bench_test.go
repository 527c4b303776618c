package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// Benchmarks report GFLOP/s (2*M*N*K per call) or, for the decode shapes, GB/s of
// weight bytes read. Run: go test -run '^$' -bench . ./core/kernels/gemm

func randF32(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func randBits(n int, seed uint64, dt tensor.DType) []uint16 {
	v := randF32(n, seed)
	out := make([]uint16, n)
	for i, x := range v {
		if dt == tensor.Float16 {
			out[i] = tensor.F32ToF16(x)
		} else {
			out[i] = tensor.F32ToBF16(x)
		}
	}
	return out
}

func reportFlops(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkMatmulF32 runs squares and the benchmark script's other shapes (M x K x N).
func BenchmarkMatmulF32(b *testing.B) {
	for _, sh := range [][3]int{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}, {512, 2048, 2048}, {64, 4096, 4096}} {
		m, k, n := sh[0], sh[1], sh[2]
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			a := tensor.FromFloat32(randF32(m*k, 1), m, k)
			w := tensor.FromFloat32(randF32(k*n, 2), k, n)
			c := tensor.FromFloat32(make([]float32, m*n), m, n)
			for b.Loop() {
				if err := Matmul(a, w, c, DefaultParams()); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, 2*float64(m)*float64(k)*float64(n))
		})
	}
}

// BenchmarkMatmulOutput: float32 1024³ into each output dtype.
func BenchmarkMatmulOutput(b *testing.B) {
	const n = 1024
	a := tensor.FromFloat32(randF32(n*n, 1), n, n)
	w := tensor.FromFloat32(randF32(n*n, 2), n, n)
	for _, dt := range []tensor.DType{tensor.Float32, tensor.BFloat16, tensor.Float16} {
		b.Run(dt.String(), func(b *testing.B) {
			c := tensor.FromFloat32(make([]float32, n*n), n, n)
			if dt != tensor.Float32 {
				c = tensor.FromUint16(make([]uint16, n*n), dt, n, n)
			}
			for b.Loop() {
				if err := Matmul(a, w, c, DefaultParams()); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, 2*float64(n)*float64(n)*float64(n))
		})
	}
}

func BenchmarkMatmulBF16(b *testing.B) {
	for _, n := range []int{1024, 2048} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a := tensor.FromUint16(randBits(n*n, 1, tensor.BFloat16), tensor.BFloat16, n, n)
			w := tensor.FromUint16(randBits(n*n, 2, tensor.BFloat16), tensor.BFloat16, n, n)
			c := tensor.FromFloat32(make([]float32, n*n), n, n)
			for b.Loop() {
				if err := Matmul(a, w, c, DefaultParams()); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, 2*float64(n)*float64(n)*float64(n))
		})
	}
}

// BenchmarkDecode is the matvec-like shape of token generation: M = 1..8 rows against a
// 4096x4096 weight stored [out, in] (y = x W^T), float32 and bfloat16 weights.
func BenchmarkDecode(b *testing.B) {
	const n = 4096
	for _, dt := range []tensor.DType{tensor.Float32, tensor.BFloat16} {
		var w tensor.Tensor
		if dt == tensor.Float32 {
			w = tensor.FromFloat32(randF32(n*n, 2), n, n)
		} else {
			w = tensor.FromUint16(randBits(n*n, 2, dt), dt, n, n)
		}
		for _, m := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("%v/M=%d", dt, m), func(b *testing.B) {
				var x tensor.Tensor
				if dt == tensor.Float32 {
					x = tensor.FromFloat32(randF32(m*n, 1), m, n)
				} else {
					x = tensor.FromUint16(randBits(m*n, 1, dt), dt, m, n)
				}
				y := tensor.FromFloat32(make([]float32, m*n), m, n)
				for b.Loop() {
					if err := Linear(x, w, nil, y); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*n*dt.Bits()/8)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkDecodeBig is decode against a layer weight larger than the last-level cache
// (11008x4096 float32, 180 MB), two weights in turn so that neither stays cached.
func BenchmarkDecodeBig(b *testing.B) {
	const k, n = 4096, 11008
	ws := [2]tensor.Tensor{tensor.FromFloat32(randF32(n*k, 2), n, k), tensor.FromFloat32(randF32(n*k, 3), n, k)}
	for _, m := range []int{1, 4} {
		b.Run(fmt.Sprintf("M=%d", m), func(b *testing.B) {
			x := tensor.FromFloat32(randF32(m*k, 1), m, k)
			y := tensor.FromFloat32(make([]float32, m*n), m, n)
			i := 0
			for b.Loop() {
				if err := Linear(x, ws[i%2], nil, y); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(n*k*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// BenchmarkDecodeMatmul is the decode shape with a row-major float32 B [K, N]
// (Matmul without TransB): M = 1..8 rows against 4096x4096.
func BenchmarkDecodeMatmul(b *testing.B) {
	const n = 4096
	w := tensor.FromFloat32(randF32(n*n, 2), n, n)
	for _, m := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("M=%d", m), func(b *testing.B) {
			x := tensor.FromFloat32(randF32(m*n, 1), m, n)
			y := tensor.FromFloat32(make([]float32, m*n), m, n)
			for b.Loop() {
				if err := Matmul(x, w, y, DefaultParams()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*n*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// BenchmarkLinear is a 4096x4096 layer over a batch of rows: batched decode (16 rows on
// the packed-weight schedule, 32 and 64 on the transposed one) and prefill-like.
func BenchmarkLinear(b *testing.B) {
	const n = 4096
	for _, m := range []int{16, 32, 64, 512} {
		b.Run(fmt.Sprintf("M=%d", m), func(b *testing.B) {
			x := tensor.FromFloat32(randF32(m*n, 1), m, n)
			w := tensor.FromFloat32(randF32(n*n, 2), n, n)
			bias := tensor.FromFloat32(randF32(n, 3), n)
			y := tensor.FromFloat32(make([]float32, m*n), m, n)
			for b.Loop() {
				if err := Linear(x, w, &bias, y); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, 2*float64(m)*n*n)
		})
	}
}

// BenchmarkGatedLinear: SwiGLU-style gate/up projection (4096 -> 4096, two weights).
func BenchmarkGatedLinear(b *testing.B) {
	const n = 4096
	wg := tensor.FromFloat32(randF32(n*n, 2), n, n)
	wu := tensor.FromFloat32(randF32(n*n, 3), n, n)
	for _, m := range []int{1, 64} {
		b.Run(fmt.Sprintf("M=%d", m), func(b *testing.B) {
			x := tensor.FromFloat32(randF32(m*n, 1), m, n)
			out := tensor.FromFloat32(make([]float32, m*n), m, n)
			for b.Loop() {
				if err := GatedLinear(x, wg, wu, out, swiglu); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, 4*float64(m)*n*n)
		})
	}
}
