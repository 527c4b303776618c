package kernels

import (
	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// GLU sets out = act(gate) * up elementwise: SwiGLU with SiLU, GeGLU with GELU or
// GELUTanh. gate, up and out have the same shape (any), each any float dtype and strides;
// out may be gate or up itself. act(gate) is rounded to float32, then multiplied by up.
func GLU(kind Activation, gate, up, out tensor.Tensor) error {
	if err := checkActivation(kind); err != nil {
		return err
	}
	ins := []tensor.Named{{Name: "gate", T: gate}, {Name: "up", T: up}}
	if err := checkElementwise(ins, []tensor.Named{{Name: "out", T: out}}); err != nil {
		return err
	}
	k := rowOps()
	sp := newSpans(k, spanLen, gate, up, out)
	gs, ups, outs := sp.io(0), sp.io(1), sp.io(2)
	if outs == nil {
		return nil
	}
	f := k.forOutput(outs).act[kind]
	cpu.ParallelFor(sp.count, sp.grain(), func(lo, hi int) {
		buf := getScratch(3 * sp.n)
		defer putScratch(buf)
		var off [3]int
		for i := lo; i < hi; i++ {
			n := sp.at(i, off[:])
			b := scratchRows(*buf, sp.n, n, 3)
			o := outs.dst(off[2], b[2])
			f(o, gs.load(off[0], b[0]), ups.load(off[1], b[1]))
			outs.store(off[2], o)
		}
	})
	return nil
}

// GLUBackward computes the gradients of out = act(gate) * up:
//
//	dgate = dout * up * act'(gate),  dup = dout * act(gate)
//
// All six tensors have the same shape, each any float dtype and strides. dgate and dup
// may each be one of the inputs exactly but must not overlap each other.
func GLUBackward(kind Activation, gate, up, dout, dgate, dup tensor.Tensor) error {
	if err := checkActivation(kind); err != nil {
		return err
	}
	ins := []tensor.Named{{Name: "gate", T: gate}, {Name: "up", T: up}, {Name: "dout", T: dout}}
	outs := []tensor.Named{{Name: "dgate", T: dgate}, {Name: "dup", T: dup}}
	if err := checkElementwise(ins, outs); err != nil {
		return err
	}
	k := rowOps()
	f := k.actGrad[kind]
	sp := newSpans(k, gradSpanLen, gate, up, dout, dgate, dup)
	gs, ups, douts, dgs, dups := sp.io(0), sp.io(1), sp.io(2), sp.io(3), sp.io(4)
	cpu.ParallelFor(sp.count, sp.grain(), func(lo, hi int) {
		buf := getScratch(5 * sp.n)
		defer putScratch(buf)
		var off [5]int
		for i := lo; i < hi; i++ {
			n := sp.at(i, off[:])
			b := scratchRows(*buf, sp.n, n, 5)
			a, da := b[3], b[4]
			f(a, da, gs.load(off[0], b[0]))
			u := ups.load(off[1], b[1])
			d := douts.load(off[2], b[2])
			// Both results are complete in scratch before either output is written, so
			// an output may be any of the inputs.
			k.mul(da, da, u)
			k.mul(da, da, d)
			k.mul(a, a, d)
			dgs.store(off[3], da)
			dups.store(off[4], a)
		}
	})
	return nil
}

// GLURow returns the row function of GLU for kind, dst = act(gate) * up over float32
// slices of equal length (dst may be gate or up itself), for fused epilogues; nil when kind
// is unknown. The returned function dispatches on cpu.Selected() at each call, does not
// allocate, and panics if the lengths differ.
func GLURow(kind Activation) func(dst, gate, up []float32) {
	if checkActivation(kind) != nil {
		return nil
	}
	return func(dst, gate, up []float32) {
		if len(dst) != len(gate) || len(up) != len(gate) {
			panic("kernels: GLURow needs dst, gate and up of equal length")
		}
		rowOps().act[kind](dst, gate, up)
	}
}
