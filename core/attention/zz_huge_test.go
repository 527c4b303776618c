package attention

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/cpu/peak"
	"github.com/mlxprim/mlxprim/core/tensor"
)

func hugeFloats(n int, huge bool) []float32 {
	b, err := syscall.Mmap(-1, 0, n*4+(2<<20), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(err)
	}
	off := (2<<20 - int(uintptr(unsafe.Pointer(&b[0])))%(2<<20)) % (2 << 20)
	b = b[off : off+n*4]
	if huge {
		syscall.Madvise(b, 14)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}

func BenchmarkZHuge(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	const d, h = 128, 8
	for _, huge := range []bool{false, true} {
		b.Run(fmt.Sprintf("read/huge=%v", huge), func(b *testing.B) {
			f := hugeFloats(64<<20, huge)
			buf := unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
			for i := range buf {
				buf[i] = byte(i)
			}
			b.ResetTimer()
			var g float64
			for range b.N {
				g, _ = peak.ReadBandwidth(cpu.Selected(), buf, cpu.NumThreads(), 1)
			}
			b.ReportMetric(g, "GB/s")
		})
		for _, lk := range []int{16384, 32768} {
			b.Run(fmt.Sprintf("huge=%v/Lk=%d", huge, lk), func(b *testing.B) {
				q, out := benchTensor(r, 1, 1, h, d), benchTensor(r, 1, 1, h, d)
				kf, vf := hugeFloats(lk*h*d, huge), hugeFloats(lk*h*d, huge)
				copy(kf, randSlice(r, len(kf)))
				copy(vf, randSlice(r, len(vf)))
				k, v := tensor.FromFloat32(kf, 1, lk, h, d), tensor.FromFloat32(vf, 1, lk, h, d)
				p := DefaultParams()
				p.Causal = true
				b.ResetTimer()
				for range b.N {
					if err := Forward(q, k, v, out, nil, p); err != nil {
						b.Fatal(err)
					}
				}
				gbs := 2.0 * float64(lk*h*d*4) * float64(b.N) / b.Elapsed().Seconds() / 1e9
				b.ReportMetric(gbs, "GB/s")
			})
		}
	}
}
