package attention

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/kernels/rope"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// reportFlops reports GFLOP/s for flops per iteration.
func reportFlops(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkVarlen: 8 causal sequences of length L packed together (H=8, D=128).
func BenchmarkVarlen(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	const h, d, n = 8, 128, 8
	for _, l := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("seqs=%d/L=%d", n, l), func(b *testing.B) {
			q, k, v, out := benchTensor(r, n*l, h, d), benchTensor(r, n*l, h, d), benchTensor(r, n*l, h, d), benchTensor(r, n*l, h, d)
			cu := make([]int32, n+1)
			for i := range cu {
				cu[i] = int32(i * l)
			}
			p := DefaultParams()
			p.Causal = true
			b.ResetTimer()
			for range b.N {
				if err := ForwardVarlen(q, k, v, out, nil, cu, cu, p); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, 2.0*n*h*float64(l)*float64(l)*d)
		})
	}
}

// BenchmarkChunkedCross: Lq=64 queries over Lk keys (H=8, D=128), default chunk.
func BenchmarkChunkedCross(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	const h, d, lq = 8, 128, 64
	for _, lk := range []int{4096, 16384} {
		b.Run(fmt.Sprintf("Lk=%d", lk), func(b *testing.B) {
			q, out := benchTensor(r, 1, lq, h, d), benchTensor(r, 1, lq, h, d)
			k, v := benchTensor(r, 1, lk, h, d), benchTensor(r, 1, lk, h, d)
			b.ResetTimer()
			for range b.N {
				if err := ChunkedCrossAttention(q, k, v, out, 0, false, DefaultParams()); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, 4.0*h*lq*float64(lk)*d)
		})
	}
}

// BenchmarkForwardRoPE: causal prefill with RoPE (B=1, Hq=32, Hkv=8, D=128).
func BenchmarkForwardRoPE(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	const hq, hkv, d = 32, 8, 128
	for _, l := range []int{512, 2048} {
		b.Run(fmt.Sprintf("L=%d", l), func(b *testing.B) {
			q, out := benchTensor(r, 1, l, hq, d), benchTensor(r, 1, l, hq, d)
			k, v := benchTensor(r, 1, l, hkv, d), benchTensor(r, 1, l, hkv, d)
			p := DefaultParams()
			p.Causal = true
			b.ResetTimer()
			for range b.N {
				if err := ForwardRoPE(q, k, v, out, nil, rope.DefaultParams(), p); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, 2.0*hq*float64(l)*float64(l)*d)
		})
	}
}

// BenchmarkPrefillTerms: causal prefill (L=2048, H=8, D=64) with each logit term alone
// (the bias an [L, L] tensor), against none, to show what each term costs.
func BenchmarkPrefillTerms(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	const l, h, d = 2048, 8, 64
	q, k, v, out := benchTensor(r, 1, l, h, d), benchTensor(r, 1, l, h, d), benchTensor(r, 1, l, h, d), benchTensor(r, 1, l, h, d)
	bias := benchTensor(r, l, l) // [L, L], shared by the heads
	for _, term := range []string{"none", "softcap", "alibi", "bias"} {
		b.Run(term, func(b *testing.B) {
			p := DefaultParams()
			p.Causal = true
			switch term {
			case "softcap":
				p.SoftCap = 50
			case "alibi":
				p.ALiBiSlopes = ALiBiSlopes(h)
			case "bias":
				p.Bias = &bias
			}
			for b.Loop() {
				if err := Forward(q, k, v, out, nil, p); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, 2.0*h*float64(l)*float64(l)*d)
		})
	}
}

// BenchmarkSoftCapKernel: the soft cap on 4096 scores in L1, on every path.
func BenchmarkSoftCapKernel(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%97) - 48
	}
	buf := make([]float32, len(x))
	for _, isa := range cpu.Available() {
		b.Run(isa.String(), func(b *testing.B) {
			defer cpu.UseISA(isa)()
			k := selectKernels()
			for b.Loop() {
				copy(buf, x) // the cap works in place
				k.softCap(buf, 50)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/score")
		})
	}
}

// BenchmarkDecodeHalf: one query token against Lk cached keys and values stored in
// float16 or bfloat16 (B=1, Hkv=8, D=128; q and out float32), with 8 query heads (MHA)
// and 32 (GQA), reporting the cache bytes read per second.
func BenchmarkDecodeHalf(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	const hkv, d, lk = 8, 128, 8192
	for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
		narrow := tensor.F32ToF16
		if dt == tensor.BFloat16 {
			narrow = tensor.F32ToBF16
		}
		half := func() tensor.Tensor {
			bits := make([]uint16, lk*hkv*d)
			for i, v := range randSlice(r, len(bits)) {
				bits[i] = narrow(v)
			}
			return tensor.FromUint16(bits, dt, 1, lk, hkv, d)
		}
		k, v := half(), half()
		for _, hq := range []int{8, 32} {
			q, out := benchTensor(r, 1, 1, hq, d), benchTensor(r, 1, 1, hq, d)
			b.Run(fmt.Sprintf("%v/Hq=%d", dt, hq), func(b *testing.B) {
				p := DefaultParams()
				p.Causal = true
				decodeGBs(b, q, k, v, out, p, 2*lk*hkv*d*2)
			})
		}
	}
}

// BenchmarkPrefillHalf: causal self-attention (B=1, L=2048, H=8, D=64) with q, k, v and
// the output all float32, float16 or bfloat16, reporting GFLOP/s as BenchmarkPrefill.
func BenchmarkPrefillHalf(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	const l, h, d = 2048, 8, 64
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
		gen := func() tensor.Tensor {
			x := randSlice(r, l*h*d)
			if dt == tensor.Float32 {
				return tensor.FromFloat32(x, 1, l, h, d)
			}
			narrow := tensor.F32ToF16
			if dt == tensor.BFloat16 {
				narrow = tensor.F32ToBF16
			}
			bits := make([]uint16, len(x))
			for i, v := range x {
				bits[i] = narrow(v)
			}
			return tensor.FromUint16(bits, dt, 1, l, h, d)
		}
		q, k, v, out := gen(), gen(), gen(), gen()
		b.Run(dt.String(), func(b *testing.B) {
			p := DefaultParams()
			p.Causal = true
			for b.Loop() {
				if err := Forward(q, k, v, out, nil, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*float64(l*l*h*d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkDecodeQueries: decode of 1 to 8 query positions (speculative decoding's
// drafts) against 32768 cached keys of 8 KV heads (D=128, float32), with 8 and 32 query
// heads, in GB/s of keys and values read.
func BenchmarkDecodeQueries(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 5))
	const d, hkv, lk = 128, 8, 32768
	k, v := benchTensor(r, 1, lk, hkv, d), benchTensor(r, 1, lk, hkv, d)
	for _, hq := range []int{8, 32} {
		for _, lq := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("Hq=%d/Lq=%d", hq, lq), func(b *testing.B) {
				q, out := benchTensor(r, 1, lq, hq, d), benchTensor(r, 1, lq, hq, d)
				p := DefaultParams()
				p.Causal = true
				decodeGBs(b, q, k, v, out, p, 2*lk*hkv*d*4)
			})
		}
	}
}
