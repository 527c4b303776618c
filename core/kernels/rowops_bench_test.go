package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Benchmarks of the memory-bound row kernels on [rows, 4096] float32 tensors, reporting
// GB/s of bytes read plus bytes written, beside the machine's read and copy bandwidth
// measured the same way (BenchmarkBandwidth). Run with
//
//	go test ./core/kernels -run '^$' -bench 'Bandwidth|RMSNorm|LayerNorm|Softmax|SwiGLU' -benchtime 20x

var benchRows = []int{4096, 8192, 16384}

const benchWidth = 4096

// newBenchTensor returns a [rows, benchWidth] float32 tensor with touched pages and
// values in (-2, 2).
func newBenchTensor(rows int) tensor.Tensor {
	data := make([]float32, rows*benchWidth)
	for i := range data {
		data[i] = float32(i%61)/15 - 2
	}
	return tensor.FromFloat32(data, rows, benchWidth)
}

// benchBytes runs op b.N times and reports the throughput of moving bytes per run.
func benchBytes(b *testing.B, bytes int, op func() error) {
	b.SetBytes(int64(bytes))
	b.ResetTimer()
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func forBenchRows(b *testing.B, body func(b *testing.B, rows int)) {
	for _, rows := range benchRows {
		b.Run(fmt.Sprintf("%dx%d", rows, benchWidth), func(b *testing.B) { body(b, rows) })
	}
}

func BenchmarkRMSNorm(b *testing.B) {
	forBenchRows(b, func(b *testing.B, rows int) {
		x, out, w := newBenchTensor(rows), newBenchTensor(rows), newBenchTensor(1)
		w.Shape, w.Strides = []int{benchWidth}, []int{1}
		benchBytes(b, 2*4*rows*benchWidth, func() error {
			return RMSNorm(RMSNormArgs{X: x, Weight: &w, Out: out, Eps: DefaultRMSNormEps})
		})
	})
}

func BenchmarkLayerNorm(b *testing.B) {
	forBenchRows(b, func(b *testing.B, rows int) {
		x, out, w, bias := newBenchTensor(rows), newBenchTensor(rows), newBenchTensor(1), newBenchTensor(1)
		w.Shape, w.Strides = []int{benchWidth}, []int{1}
		bias.Shape, bias.Strides = []int{benchWidth}, []int{1}
		benchBytes(b, 2*4*rows*benchWidth, func() error {
			return LayerNorm(LayerNormArgs{X: x, Weight: &w, Bias: &bias, Out: out, Eps: DefaultLayerNormEps})
		})
	})
}

func BenchmarkSoftmax(b *testing.B) {
	forBenchRows(b, func(b *testing.B, rows int) {
		x, out := newBenchTensor(rows), newBenchTensor(rows)
		benchBytes(b, 2*4*rows*benchWidth, func() error { return Softmax(x, out, DefaultSoftmaxParams()) })
	})
}

// BenchmarkSwiGLU is GLU with SiLU: reads gate and up, writes out.
func BenchmarkSwiGLU(b *testing.B) {
	forBenchRows(b, func(b *testing.B, rows int) {
		gate, up, out := newBenchTensor(rows), newBenchTensor(rows), newBenchTensor(rows)
		benchBytes(b, 3*4*rows*benchWidth, func() error { return GLU(SiLU, gate, up, out) })
	})
}

// BenchmarkBandwidth measures the machine on 256 MiB buffers with the kernels' own
// parallel loop: read = a SIMD sum (the fastest way to read), copy = Go's copy (read +
// write), goSum = a plain Go loop of four float32 accumulators.
func BenchmarkBandwidth(b *testing.B) {
	const n = 64 << 20
	src, dst := make([]float32, n), make([]float32, n)
	for i := range src {
		src[i], dst[i] = 1, 2
	}
	const chunk = 1 << 16
	parallel := func(body func(lo, hi int)) {
		cpu.ParallelFor(n/chunk, 16, func(lo, hi int) { body(lo*chunk, hi*chunk) })
	}
	var sink float32
	b.Run("read", func(b *testing.B) {
		k := rowOps()
		sums := make([]float32, n/chunk)
		benchBytes(b, 4*n, func() error {
			parallel(func(lo, hi int) {
				for c := lo; c < hi; c += chunk {
					sums[c/chunk] = k.sum(src[c : c+chunk])
				}
			})
			sink += sums[0]
			return nil
		})
	})
	b.Run("copy", func(b *testing.B) {
		benchBytes(b, 2*4*n, func() error {
			parallel(func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
			return nil
		})
	})
	b.Run("goSum", func(b *testing.B) {
		sums := make([]float32, n/chunk)
		benchBytes(b, 4*n, func() error {
			parallel(func(lo, hi int) {
				for c := lo; c < hi; c += chunk {
					var s0, s1, s2, s3 float32
					for i := c; i < c+chunk; i += 4 {
						s0 += src[i]
						s1 += src[i+1]
						s2 += src[i+2]
						s3 += src[i+3]
					}
					sums[c/chunk] = s0 + s1 + s2 + s3
				}
			})
			sink += sums[0]
			return nil
		})
	})
	_ = sink
}

// BenchmarkSiLUHalf: SiLU on [4096, 4096] in float32 and bfloat16 (reads x, writes out).
func BenchmarkSiLUHalf(b *testing.B) {
	const rows = 4096
	for _, dt := range []tensor.DType{tensor.Float32, tensor.BFloat16} {
		b.Run(dt.String(), func(b *testing.B) {
			x, out := newBenchTensor(rows), newBenchTensor(rows)
			if dt == tensor.BFloat16 {
				xs := make([]uint16, rows*benchWidth)
				for i := range xs {
					xs[i] = tensor.F32ToBF16(float32(i%61)/15 - 2)
				}
				x = tensor.FromUint16(xs, dt, rows, benchWidth)
				out = tensor.FromUint16(make([]uint16, rows*benchWidth), dt, rows, benchWidth)
			}
			size := dt.Bits() / 8
			benchBytes(b, 2*size*rows*benchWidth, func() error { return Activate(SiLU, x, out) })
		})
	}
}

// BenchmarkSoftmaxShapes: float32 softmax on the shapes of the Python benchmark, short
// rows to rows of 512 KiB, reporting bytes read and written per second.
func BenchmarkSoftmaxShapes(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range [][2]int{{8192, 128}, {2048, 1024}, {128, 32000}, {16, 131072}} {
		x := make([]float32, s[0]*s[1])
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		xt := tensor.FromFloat32(x, s[0], s[1])
		ot := tensor.FromFloat32(make([]float32, len(x)), s[0], s[1])
		b.Run(fmt.Sprintf("%dx%d", s[0], s[1]), func(b *testing.B) {
			b.SetBytes(int64(8 * len(x)))
			for b.Loop() {
				if err := Softmax(xt, ot, DefaultSoftmaxParams()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSmallCalls: one row of 4096 float32 through each row op, where the call's own
// cost (checks, row readers, allocations) is most of the time; reports allocations.
func BenchmarkSmallCalls(b *testing.B) {
	x := tensor.FromFloat32(make([]float32, 4096), 1, 4096)
	out := tensor.FromFloat32(make([]float32, 4096), 1, 4096)
	w := tensor.FromFloat32(make([]float32, 4096), 4096)
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"layer_norm", func() error { return LayerNorm(LayerNormArgs{X: x, Weight: &w, Bias: &w, Out: out, Eps: 1e-5}) }},
		{"rms_norm", func() error { return RMSNorm(RMSNormArgs{X: x, Weight: &w, Out: out, Eps: 1e-5}) }},
		{"softmax", func() error { return Softmax(x, out, DefaultSoftmaxParams()) }},
		{"silu", func() error { return Activate(SiLU, x, out) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
