package gemm

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

const tensorF32, tensorBF16 = tensor.Float32, tensor.BFloat16

// TestPackHelpers runs each packing helper on every path against its Go definition,
// with negative source strides and guard words around the destination.
func TestPackHelpers(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 0))
	src := make([]uint32, 40*100)
	for i := range src {
		src[i] = rng.Uint32()
	}
	const guard = 0xDEADBEEF
	run := func(t *testing.T, name string, words int, f func(dst unsafe.Pointer)) []uint32 {
		dst := make([]uint32, words+32)
		for i := range dst {
			dst[i] = guard
		}
		f(unsafe.Pointer(&dst[16]))
		for i := range 16 {
			if dst[i] != guard || dst[len(dst)-1-i] != guard {
				t.Fatalf("%s wrote outside its output", name)
			}
		}
		return dst[16 : 16+words]
	}
	base := unsafe.Pointer(&src[39*100]) // last row: rows go backwards with a negative stride
	lds := -100 * 4
	forEachPath(t, func(t *testing.T, isa cpu.ISA) {
		for _, blocks := range []int{0, 1, 3} {
			got := run(t, "transpose", 48*blocks*16, func(d unsafe.Pointer) { transposeBlocks(d, 48*4, base, uintptr(lds), blocks) })
			want := run(t, "transpose", 48*blocks*16, func(d unsafe.Pointer) { transpose16Go(d, 48*4, base, uintptr(lds), blocks) })
			if !slices.Equal(got, want) {
				t.Fatalf("transpose of %d blocks differs", blocks)
			}
		}
		for _, pairs := range []int{0, 1, 5} {
			for _, panels := range []int{1, 3} {
				words := 40 * 32 * panels // panels 40*32 words apart
				got := run(t, "pairs", words, func(d unsafe.Pointer) { interleavePairs(d, 40*32*4, base, uintptr(lds), pairs, panels) })
				want := run(t, "pairs", words, func(d unsafe.Pointer) { pairs32Go(d, 40*32*4, base, uintptr(lds), pairs, panels) })
				if !slices.Equal(got, want) {
					t.Fatalf("%d pairs x %d panels differ", pairs, panels)
				}
			}
		}
		for _, rows := range []int{0, 1, 5} {
			for _, panels := range []int{1, 2} {
				words := 40 * 32 * panels
				got := run(t, "rows", words, func(d unsafe.Pointer) { copyRows32(d, 40*32*4, base, uintptr(lds), rows, panels) })
				want := run(t, "rows", words, func(d unsafe.Pointer) { rows32Go(d, 40*32*4, base, uintptr(lds), rows, panels) })
				if !slices.Equal(got, want) {
					t.Fatalf("%d rows x %d panels differ", rows, panels)
				}
			}
		}
		for _, n := range []int{0, 1, 15, 16, 33, 100} {
			for i, widen := range []func(d, s unsafe.Pointer, n int){widenF16, widenBF16} {
				twin := []func(d, s unsafe.Pointer, n int){f16ToF32Go, bf16ToF32Go}[i]
				h := unsafe.Pointer(&src[0])
				got := run(t, "widen", n, func(d unsafe.Pointer) { widen(d, h, n) })
				want := run(t, "widen", n, func(d unsafe.Pointer) { twin(d, h, n) })
				for j := range got {
					// Signaling NaNs may come back quieted by hardware conversion.
					if got[j] != want[j] && !(isNaN32(got[j]) && isNaN32(want[j])) {
						t.Fatalf("widen %d of %d: element %d = %#x, want %#x", i, n, j, got[j], want[j])
					}
				}
			}
		}
	})
}

func isNaN32(b uint32) bool { return b&0x7f800000 == 0x7f800000 && b&0x7fffff != 0 }

// TestSpecBounds: every path's sizes fit the scratch buffers and blocking rules.
func TestSpecBounds(t *testing.T) {
	for _, isa := range cpu.Available() {
		restore := cpu.UseISA(isa)
		specs := []*kernelSpec{pickKernel(tensorF32), pickKernel(tensorBF16)}
		if h := specs[0].half; h != nil {
			specs = append(specs, h)
		}
		for _, sp := range specs {
			kcMax := maxKC / 2
			if sp.bf16 {
				kcMax = maxKC
			}
			if sp.mr > maxMR || sp.nr > maxNR || sp.kc%2 != 0 || sp.kc > kcMax || sp.nc > maxNC ||
				sp.nc%sp.nr != 0 || sp.mc%sp.mr != 0 || sp.smallMR > sp.mr || (sp.small == nil) != (sp.smallMR == 0) ||
				sp.narrowKC <= 0 || sp.narrowKC%2 != 0 || sp.narrowKC > sp.kc || sp.panelOf(sp.narrowKC) > maxNarrowPanel {
				t.Errorf("%s: sizes out of bounds: %+v", sp.name, *sp)
			}
			// A transposed problem's items cover whole groups of finishRows rows, and
			// finishT transposes a block's columns (rounded up to 16) for each operand
			// into its half of bt.
			if transItemRows%sp.mr != 0 || transItemRows%finishRows != 0 || ceilDiv(sp.nc, 16)*16*finishRows > maxPanel/2 {
				t.Errorf("%s: transposed-schedule sizes out of bounds", sp.name)
			}
		}
		restore()
	}
}
