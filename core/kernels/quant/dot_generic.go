package quant

import "github.com/mlxprim/mlxprim/core/tensor"

// Plain-Go definitions of the kernels described on kernelSet. The explicit float32
// conversions keep each dequantized weight rounded on its own, so the compiler never
// fuses its computation with the accumulation.

func dotI8Generic(x []float32, q []int8, s float32, z int32) float32 {
	x = x[:len(q)]
	var a0, a1, a2, a3 float32
	j := 0
	for ; j+4 <= len(q); j += 4 {
		a0 += x[j] * float32(int32(q[j])-z)
		a1 += x[j+1] * float32(int32(q[j+1])-z)
		a2 += x[j+2] * float32(int32(q[j+2])-z)
		a3 += x[j+3] * float32(int32(q[j+3])-z)
	}
	for ; j < len(q); j++ {
		a0 += x[j] * float32(int32(q[j])-z)
	}
	return ((a0 + a1) + (a2 + a3)) * s
}

func dotU8Generic(x []float32, q []byte, s, b []float32, shift uint) float32 {
	x = x[:len(q)]
	var a0, a1 float32
	for j := 0; j+2 <= len(q); j += 2 {
		g := j >> shift
		a0 += x[j] * (float32(float32(q[j])*s[g]) + b[g])
		a1 += x[j+1] * (float32(float32(q[j+1])*s[g]) + b[g])
	}
	return a0 + a1
}

// prepI4Generic fills row.tab[16g+n] with ŵ of nibble n in group g.
func prepI4Generic(row *i4Row) {
	for g := range row.s {
		for n := range 16 {
			row.tab[16*g+n] = dequantI4(row, g, byte(n))
		}
	}
}

func dotI4Generic(xp []float32, w []byte, row *i4Row) float32 {
	var a0, a1 float32
	for k := 0; k < len(w)/16; k++ {
		t := row.tab[16*(k>>row.shift):][:16]
		xb := xp[32*k:][:32]
		for i, v := range w[16*k : 16*k+16] {
			a0 += xb[i] * t[v&15]
			a1 += xb[16+i] * t[v>>4]
		}
	}
	return a0 + a1
}

func widenF16Generic(dst []float32, src []uint16) {
	for i := range dst {
		dst[i] = tensor.F16ToF32(src[i])
	}
}

func widenBF16Generic(dst []float32, src []uint16) {
	for i := range dst {
		dst[i] = tensor.BF16ToF32(src[i])
	}
}
