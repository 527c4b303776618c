//go:build !purego

package gemm

import (
	"testing"
	"unsafe"
)

func BenchmarkPeakBF16(b *testing.B) {
	kc := 256
	a := make([]float32, 12*kc)
	bb := make([]float32, kc*32)
	c := make([]float32, 12*32)
	for b.Loop() {
		bgemm512(kc/2, unsafe.Pointer(&a[0]), uintptr(kc*2), unsafe.Pointer(&bb[0]), unsafe.Pointer(&c[0]), 128, 1, 1)
	}
	b.ReportMetric(float64(b.N)*2*12*32*float64(kc)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
func BenchmarkPeak512(b *testing.B) {
	kc := 256
	a := make([]float32, 12*kc)
	bb := make([]float32, kc*32)
	c := make([]float32, 12*32)
	for b.Loop() {
		sgemm512(kc, unsafe.Pointer(&a[0]), uintptr(kc*4), unsafe.Pointer(&bb[0]), unsafe.Pointer(&c[0]), 128, 1, 1)
	}
	b.ReportMetric(float64(b.N)*2*12*32*float64(kc)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkTransposeL1(b *testing.B) {
	src := make([]float32, 16*256)
	dst := make([]float32, 256*32)
	for b.Loop() {
		transpose16(unsafe.Pointer(&dst[0]), 128, unsafe.Pointer(&src[0]), 1024, 16)
	}
	b.ReportMetric(float64(b.N)*16*256*4/b.Elapsed().Seconds()/1e9, "GB/s")
}

func BenchmarkTransposeMem(b *testing.B) {
	const n = 4096
	src := make([]float32, n*n)
	dst := make([]float32, 256*32)
	for b.Loop() {
		for j := 0; j < n; j += 16 {
			for k := 0; k < n; k += 256 {
				transpose16(unsafe.Pointer(&dst[0]), 128, unsafe.Pointer(&src[j*n+k]), n*4, 16)
			}
		}
	}
	b.ReportMetric(float64(b.N)*n*n*4/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkKernelL2 streams B panels from a 512 KiB block (L2) against one A panel, as
// the blocked loop does, with the AVX-512 path's K and column blocks.
func BenchmarkKernelL2(b *testing.B) {
	kc, panels := avx512Spec.kc, avx512Spec.nc/32
	// Written values: untouched pages would all read as the one zero page, whose lines
	// share their cache sets.
	a := randF32(12*kc, 1)
	bb := randF32(panels*kc*32, 2)
	c := make([]float32, 12*32*panels)
	for b.Loop() {
		for p := range panels {
			sgemm512(kc, unsafe.Pointer(&a[0]), uintptr(kc*4), unsafe.Pointer(&bb[p*kc*32]), unsafe.Pointer(&c[p*32]), uintptr(32*4*panels), 1, 1)
		}
	}
	b.ReportMetric(float64(b.N)*float64(panels*2*12*32*kc)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
