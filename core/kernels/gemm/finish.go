package gemm

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// The finishers: how float32 accumulators become output values. Each multiplication and
// addition is rounded to float32 on its own (explicit conversions forbid fusion), then
// the value is rounded once to the output dtype.

// matmulFin writes alpha*acc + beta*old.
type matmulFin struct{ alpha, beta float32 }

func (f matmulFin) finish(out *operand, i, j0 int, acc [2][]float32, tmp []float32) {
	p := out.at(i, j0)
	if out.dt == tensor.Float32 && out.cs == 1 { // in place
		o := unsafe.Slice((*float32)(p), len(acc[0]))
		for j, v := range acc[0] {
			o[j] = f.value(v, o[j])
		}
		return
	}
	if f.alpha == 1 && f.beta == 0 { // the accumulators themselves, only narrowed
		storeF32(p, out.cs, out.dt, acc[0])
		return
	}
	if f.beta != 0 {
		loadF32(tmp, p, out.cs, out.dt)
	}
	for j, v := range acc[0] {
		tmp[j] = f.value(v, tmp[j])
	}
	storeF32(p, out.cs, out.dt, tmp)
}

// value is alpha*acc + beta*old, each operation rounded to float32; old is not read
// when beta is 0.
func (f matmulFin) value(acc, old float32) float32 {
	if f.alpha != 1 {
		acc = float32(f.alpha * acc)
	}
	if f.beta != 0 {
		acc += float32(f.beta * old)
	}
	return acc
}

// linearFin writes acc + bias (bias may be nil).
type linearFin struct{ bias []float32 }

func (f linearFin) finish(out *operand, i, j0 int, acc [2][]float32, tmp []float32) {
	if f.bias == nil { // the accumulators themselves, as for matmulFin
		storeF32(out.at(i, j0), out.cs, out.dt, acc[0])
		return
	}
	copy(tmp, acc[0])
	for j, b := range f.bias[j0 : j0+len(tmp)] {
		tmp[j] += b
	}
	storeF32(out.at(i, j0), out.cs, out.dt, tmp)
}

// gatedFin writes combine(gate, up).
type gatedFin struct {
	combine func(dst, gate, up []float32)
}

func (f gatedFin) finish(out *operand, i, j0 int, acc [2][]float32, tmp []float32) {
	f.combine(tmp, acc[0], acc[1])
	storeF32(out.at(i, j0), out.cs, out.dt, tmp)
}
