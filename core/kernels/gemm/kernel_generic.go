package gemm

import "unsafe"

// Generic path: the plain-Go definition. Products and sums are rounded separately (the
// explicit float32 conversion forbids the compiler from fusing them), so the result is
// the same on every architecture and GOAMD64 level.
const (
	genericMR = 4
	genericNR = 16
)

var genericSpec = kernelSpec{
	name: "generic", mr: genericMR, nr: genericNR, kc: 256, nc: 512, narrowKC: 256, mc: 16, run: gemmGeneric,
}

// gemmGeneric is the microKernel of the generic path (4 x 16 tile, float32 operands).
func gemmGeneric(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32) {
	var acc [genericMR][genericNR]float32
	for i := range genericMR {
		if flags&flagLoad != 0 {
			acc[i] = *(*[genericNR]float32)(unsafe.Add(c, uintptr(i)*ldc))
		}
		row := unsafe.Add(a, uintptr(i)*lda)
		for k := 0; k < kc; k++ {
			ai := *(*float32)(unsafe.Add(row, k*4))
			bk := (*[genericNR]float32)(unsafe.Add(b, k*genericNR*4))
			for j := range genericNR {
				acc[i][j] += float32(ai * bk[j])
			}
		}
		if flags&flagAlpha != 0 {
			for j := range genericNR {
				acc[i][j] *= alpha
			}
		}
		*(*[genericNR]float32)(unsafe.Add(c, uintptr(i)*ldc)) = acc[i]
	}
}
