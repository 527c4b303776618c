package quant

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Benchmarks report GB/s of packed weight bytes read (scales, zeros and biases not
// counted). BenchmarkReadBandwidth measures what a plain Go loop reads from memory, the
// ceiling the matvec numbers are compared with.

var benchShapes = []struct{ out, in int }{{4096, 4096}, {11008, 4096}}

// randomBytes fills n bytes quickly and deterministically.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

func smallScales(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 0.01 + float32(i%7)*1e-3
	}
	return s
}

// benchLinear runs one linear layer at every path and batch size, reporting weight GB/s.
func benchLinear(b *testing.B, weightBytes int, run func(x, y tensor.Tensor) error, in, out int) {
	for _, isa := range cpu.Available() {
		for _, m := range []int{1, 8} {
			b.Run(fmt.Sprintf("%v/M=%d", isa, m), func(b *testing.B) {
				defer cpu.UseISA(isa)()
				x := tensor.FromFloat32(randX(rand.New(rand.NewPCG(1, 2)), m*in), m, in)
				y := tensor.FromFloat32(make([]float32, m*out), m, out)
				for b.Loop() {
					if err := run(x, y); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(weightBytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

func BenchmarkInt8Linear(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.out, sh.in), func(b *testing.B) {
			qb := randomBytes(sh.out * sh.in)
			q := tensor.Tensor{Data: unsafe.Pointer(&qb[0]), DType: tensor.Int8, Shape: []int{sh.out, sh.in}, Strides: []int{sh.in, 1}}
			s := tensor.FromFloat32(smallScales(sh.out), sh.out)
			benchLinear(b, len(qb), func(x, y tensor.Tensor) error { return Int8Linear(x, q, s, nil, nil, y) }, sh.in, sh.out)
		})
	}
}

func BenchmarkInt4Linear(b *testing.B) {
	const group = 64
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d/group=%d", sh.out, sh.in, group), func(b *testing.B) {
			qb := randomBytes(sh.out * sh.in / 2)
			q := tensor.Tensor{Data: unsafe.Pointer(&qb[0]), DType: tensor.Int4, Shape: []int{sh.out, sh.in}, Strides: []int{sh.in, 1}}
			ng := sh.in / group
			s := tensor.FromFloat32(smallScales(sh.out*ng), sh.out, ng)
			benchLinear(b, len(qb), func(x, y tensor.Tensor) error { return Int4Linear(x, q, s, nil, group, nil, y) }, sh.in, sh.out)
		})
	}
}

func BenchmarkAffineLinear(b *testing.B) {
	const group = 64
	for _, bits := range []int{4, 8} {
		for _, sh := range benchShapes {
			b.Run(fmt.Sprintf("%dx%d/bits=%d/group=%d/float16", sh.out, sh.in, bits, group), func(b *testing.B) {
				qb := randomBytes(sh.out * sh.in * bits / 8)
				wq := tensor.Tensor{Data: unsafe.Pointer(&qb[0]), DType: tensor.Int32, Shape: []int{sh.out, sh.in * bits / 32}, Strides: []int{sh.in * bits / 32, 1}}
				ng := sh.out * sh.in / group
				half := make([]uint16, ng)
				for i := range half {
					half[i] = tensor.F32ToF16(0.01 + float32(i%5)*1e-3)
				}
				s := tensor.FromUint16(half, tensor.Float16, sh.out, sh.in/group)
				benchLinear(b, len(qb), func(x, y tensor.Tensor) error { return AffineLinear(x, wq, s, s, group, bits, nil, y) }, sh.in, sh.out)
			})
		}
	}
}

// BenchmarkReadBandwidth sums a 256 MiB buffer with a plain Go loop on 1 and on
// NumThreads goroutines: the machine's read bandwidth as Go code sees it.
func BenchmarkReadBandwidth(b *testing.B) {
	data := make([]uint64, 256<<20/8)
	for i := range data {
		data[i] = uint64(i)
	}
	for _, threads := range []int{1, cpu.NumThreads()} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			var sink uint64
			start := time.Now()
			for b.Loop() {
				var wg sync.WaitGroup
				var mu sync.Mutex
				per := len(data) / threads
				for k := range threads {
					wg.Add(1)
					go func(part []uint64) {
						defer wg.Done()
						s := sumWords(part)
						mu.Lock()
						sink += s
						mu.Unlock()
					}(data[k*per : (k+1)*per])
				}
				wg.Wait()
			}
			b.ReportMetric(float64(len(data)*8)*float64(b.N)/time.Since(start).Seconds()/1e9, "GB/s")
			if sink == 1 {
				b.Log(sink)
			}
		})
	}
}

// sumWords reads every word with four independent sums.
func sumWords(b []uint64) uint64 {
	var s0, s1, s2, s3 uint64
	for i := 0; i+4 <= len(b); i += 4 {
		s0 += b[i]
		s1 += b[i+1]
		s2 += b[i+2]
		s3 += b[i+3]
	}
	return s0 + s1 + s2 + s3
}
