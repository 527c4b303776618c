//go:build linux

package kernels

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// edgeMem hands out slices that end exactly where an inaccessible page begins, so a
// kernel reading one element past its input crashes the test instead of passing silently.
type edgeMem struct {
	t    *testing.T
	maps [][]byte
	page int
}

func (e *edgeMem) bytes(n int) []byte {
	size := (n+e.page-1)/e.page*e.page + e.page
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := unix.Mprotect(m[size-e.page:], unix.PROT_NONE); err != nil {
		e.t.Fatal(err)
	}
	e.maps = append(e.maps, m)
	return m[size-e.page-n : size-e.page]
}

func (e *edgeMem) f32(src []float32) []float32 {
	b := e.bytes(4 * len(src))
	if len(src) == 0 {
		return []float32{}
	}
	s := unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(src))
	copy(s, src)
	return s
}

func (e *edgeMem) u16(n int) []uint16 {
	b := e.bytes(2 * n)
	if n == 0 {
		return []uint16{}
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), n)
}

func (e *edgeMem) free() {
	for _, m := range e.maps {
		_ = unix.Munmap(m)
	}
}

// TestRowKernelsReadNoFurther runs every row kernel on inputs that end at a guard page.
func TestRowKernelsReadNoFurther(t *testing.T) {
	forEachISA(t, func(t *testing.T, k *rowKernels) {
		for _, n := range rowSizes {
			e := &edgeMem{t: t, page: unix.Getpagesize()}
			src := randF32(rand.New(rand.NewPCG(uint64(n), 1)), n, 2)
			x, y, w, b := e.f32(src), e.f32(src), e.f32(src), e.f32(src)
			h := e.u16(n)
			out := make([]float32, n)
			out16 := make([]uint16, n)
			k.f16ToF32(out, h)
			k.bf16ToF32(out, h)
			k.f32ToF16(out16, x)
			k.f32ToBF16(out16, x)
			_ = k.sum(x) + k.sumSqDev(x, 1) + k.max(x) + k.dot(x, y) + k.max(y)
			_ = k.expSum(nil, x, 0, h16bytes(h))
			k.add(out, x, y)
			k.mul(out, x, y)
			k.scaleShift(out, x, 1, 2, 3)
			k.normAffine(out, x, 1, 2, w, b)
			k.div(out, x, 3)
			k.axpby(out, x, y, 1, 2, 3)
			_, _ = k.sumSqDot(x, y, w)
			_, _ = k.lnSums(x, y, w, 1, 2)
			k.normGrad(out, make([]float32, n), make([]float32, n), x, y, w, 1, 2, 3, 4, 5)
			for _, kind := range activations {
				k.act[kind](out, x, y)
				k.actGrad[kind](out, make([]float32, n), x)
			}
			e.free()
		}
	})
}

// h16bytes views a []uint16 as bytes (a prefetch hint ending at a guard page).
func h16bytes(h []uint16) []byte {
	if len(h) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&h[0])), 2*len(h))
}
