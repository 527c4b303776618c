package kernels

import (
	"fmt"
	"testing"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// Benchmarks of the kernels rowops_bench_test.go leaves out: GroupNorm, every
// activation and GLU forward and backward, and the norms' backward passes, each
// reporting GB/s of the bytes its tensors must move (every input read once, every
// output written once; [D] parameter vectors not counted). Run with
//
//	go test ./core/kernels -run '^$' -bench 'GroupNorm|Activations|GLUs|Backward' -benchtime 20x

// groupNormShapes are [N, C, H*W] with 32 groups: a diffusion U-Net's 64x64 and 128x128
// feature maps.
var groupNormShapes = [][3]int{{8, 512, 64 * 64}, {1, 256, 128 * 128}}

func groupTensor(s [3]int) tensor.Tensor {
	data := make([]float32, s[0]*s[1]*s[2])
	for i := range data {
		data[i] = float32(i%61)/15 - 2
	}
	return tensor.FromFloat32(data, s[0], s[1], s[2])
}

func channelVector(c int) *tensor.Tensor {
	v := make([]float32, c)
	for i := range v {
		v[i] = 1 + float32(i%7)/8
	}
	t := tensor.FromFloat32(v, c)
	return &t
}

func BenchmarkGroupNorm(b *testing.B) {
	for _, s := range groupNormShapes {
		b.Run(fmt.Sprintf("%dx%dx%d", s[0], s[1], s[2]), func(b *testing.B) {
			x, out := groupTensor(s), groupTensor(s)
			args := GroupNormArgs{X: x, Groups: 32, Weight: channelVector(s[1]), Bias: channelVector(s[1]), Out: out, Eps: DefaultGroupNormEps}
			benchBytes(b, 2*4*x.NumEl(), func() error { return GroupNorm(args) })
		})
	}
}

// BenchmarkGroupNormBackward reads h and dy and writes dx.
func BenchmarkGroupNormBackward(b *testing.B) {
	for _, s := range groupNormShapes {
		b.Run(fmt.Sprintf("%dx%dx%d", s[0], s[1], s[2]), func(b *testing.B) {
			h, dy, dx := groupTensor(s), groupTensor(s), groupTensor(s)
			dw, db := channelVector(s[1]), channelVector(s[1])
			args := GroupNormBackwardArgs{H: h, Groups: 32, Weight: channelVector(s[1]), DY: dy, DX: dx, DWeight: dw, DBias: db, Eps: DefaultGroupNormEps}
			benchBytes(b, 3*4*h.NumEl(), func() error { return GroupNormBackward(args) })
		})
	}
}

// BenchmarkRMSNormBackward and BenchmarkLayerNormBackward read h and dy and write dx.
func BenchmarkRMSNormBackward(b *testing.B) {
	forBenchRows(b, func(b *testing.B, rows int) {
		h, dy, dx := newBenchTensor(rows), newBenchTensor(rows), newBenchTensor(rows)
		args := RMSNormBackwardArgs{H: h, Weight: channelVector(benchWidth), DY: dy, DX: dx, DWeight: channelVector(benchWidth), Eps: DefaultRMSNormEps}
		benchBytes(b, 3*4*rows*benchWidth, func() error { return RMSNormBackward(args) })
	})
}

func BenchmarkLayerNormBackward(b *testing.B) {
	forBenchRows(b, func(b *testing.B, rows int) {
		h, dy, dx := newBenchTensor(rows), newBenchTensor(rows), newBenchTensor(rows)
		args := LayerNormBackwardArgs{H: h, Weight: channelVector(benchWidth), DY: dy, DX: dx,
			DWeight: channelVector(benchWidth), DBias: channelVector(benchWidth), Eps: DefaultLayerNormEps}
		benchBytes(b, 3*4*rows*benchWidth, func() error { return LayerNormBackward(args) })
	})
}

var allActivations = []Activation{SiLU, GELU, GELUTanh}

// BenchmarkActivations: each activation forward (reads x, writes out) and backward
// (reads x and dy, writes dx) on [4096, 4096] float32.
func BenchmarkActivations(b *testing.B) {
	const rows = 4096
	for _, kind := range allActivations {
		x, dy, out := newBenchTensor(rows), newBenchTensor(rows), newBenchTensor(rows)
		b.Run(kind.String(), func(b *testing.B) {
			benchBytes(b, 2*4*rows*benchWidth, func() error { return Activate(kind, x, out) })
		})
		b.Run(kind.String()+"/backward", func(b *testing.B) {
			benchBytes(b, 3*4*rows*benchWidth, func() error { return ActivateBackward(kind, x, dy, out) })
		})
	}
}

// BenchmarkGLUs: SwiGLU and both GeGLUs forward (reads gate and up, writes out) and
// backward (reads gate, up and dout, writes dgate and dup) on [4096, 4096] float32.
func BenchmarkGLUs(b *testing.B) {
	const rows = 4096
	for _, kind := range allActivations {
		gate, up, dout := newBenchTensor(rows), newBenchTensor(rows), newBenchTensor(rows)
		out, dgate, dup := newBenchTensor(rows), newBenchTensor(rows), newBenchTensor(rows)
		b.Run(kind.String(), func(b *testing.B) {
			benchBytes(b, 3*4*rows*benchWidth, func() error { return GLU(kind, gate, up, out) })
		})
		b.Run(kind.String()+"/backward", func(b *testing.B) {
			benchBytes(b, 5*4*rows*benchWidth, func() error { return GLUBackward(kind, gate, up, dout, dgate, dup) })
		})
	}
}
