//go:build !purego

package peak

import "github.com/mlxprim/mlxprim/core/cpu"

// Lane counts of the assembly loops: 12 independent vector chains each.
const (
	avx512Lanes = 12 * 16
	avx2Lanes   = 12 * 8
)

// paths lists the kernel paths this build has loops for: every path the CPU supports.
func paths() []cpu.ISA { return cpu.Available() }

// fmaLoop returns isa's FMA loop and its lane count.
func fmaLoop(isa cpu.ISA) (fmaFunc, int) {
	switch isa {
	case cpu.AVX512:
		return fma512, avx512Lanes
	case cpu.AVX2:
		return fma256, avx2Lanes
	}
	return fmaGeneric, genericLanes
}

func fma512(acc []float32, m, c float32, n int) {
	fmaAVX512((*[avx512Lanes]float32)(acc), m, c, n)
}

func fma256(acc []float32, m, c float32, n int) {
	fmaAVX2((*[avx2Lanes]float32)(acc), m, c, n)
}

// fmaAVX512 computes, with one rounding per step (VFMADD213PS on 12 zmm registers):
//
//	for range n { for i := range acc { acc[i] = m*acc[i] + c } }
//
//go:noescape
func fmaAVX512(acc *[avx512Lanes]float32, m, c float32, n int)

// fmaAVX2 computes, with one rounding per step (VFMADD213PS on 12 ymm registers):
//
//	for range n { for i := range acc { acc[i] = m*acc[i] + c } }
//
//go:noescape
func fmaAVX2(acc *[avx2Lanes]float32, m, c float32, n int)
