package gemm

import "unsafe"

// microKernel computes one mr x nr tile of C from kc steps of K. In Go terms, with
// a[i][k] at a + i*lda + k*elem (rows of A read in place, elem = 4 for float32, 2 for
// bfloat16), b the packed panel and c[i][j] at c + i*ldc + j*4 (float32):
//
//	acc[i][j] = 0, or c[i][j] when flags&flagLoad
//	for k := 0; k < kc; k++ { acc[i][j] = acc[i][j] + a[i][k]*b[k][j] }   // one chain per element
//	c[i][j] = acc[i][j], times alpha when flags&flagAlpha
//
// Because every element is a single chain in k order, storing the accumulators as
// float32 between K blocks and reloading them continues the same chain: an element's
// result depends only on its row of A, its column of B and K, never on the tile or
// block it falls in. Lengths are in elements, strides in bytes (they may be negative).
type microKernel func(kc int, a unsafe.Pointer, lda uintptr, b unsafe.Pointer, c unsafe.Pointer, ldc uintptr, flags uintptr, alpha float32)

// Flags of a micro-kernel call.
const (
	flagLoad  = 1 // start from the tile's current values (later K blocks)
	flagAlpha = 2 // multiply by alpha before storing (last K block)
)

// kernelSpec describes one ISA path: its micro-kernel, tile and blocking sizes.
type kernelSpec struct {
	name string
	mr   int // rows of a tile (A rows per micro-panel)
	nr   int // columns of a tile (B columns per packed panel)
	kc   int // K block of the blocked schedule: even (bfloat16 pairs never straddle blocks)
	// narrowKC is the K block of the few-rows schedule (runNarrow): even and at most kc
	// (packed A rows are kc apart); its work items pack up to narrowPanels panels of it.
	narrowKC int
	nc       int // N block: columns of B packed together
	mc       int // rows per parallel work item, a multiple of mr
	// bf16: A and B are bfloat16 and B is packed as (k even, k odd) pairs; the kernel's
	// kc counts pairs. Otherwise both are packed/read as float32.
	bf16 bool
	run  microKernel
	// small, when set, is the same kernel for smallMR rows; panels with at most smallMR
	// rows use it (decode shapes) and get the same bits.
	smallMR int
	small   microKernel
	// gemv, when set, is the path's few-rows kernel pair (gemv.go), with the same
	// chain per element.
	gemv *gemvSpec
	// half, when set, is the path's twin for 16-column panels (problem.transposed).
	half *kernelSpec
}

// panel returns the size of one packed B panel (kc x nr values) in float32 words.
func (sp *kernelSpec) panel() int { return sp.panelOf(sp.kc) }

// panelOf returns the size of a packed B panel of kc rows in float32 words.
func (sp *kernelSpec) panelOf(kc int) int {
	if sp.bf16 {
		return kc * sp.nr / 2
	}
	return kc * sp.nr
}

// Largest tile and block sizes of any path; scratch buffers are sized by them. A float32
// path's kc is at most maxKC/2, a bfloat16 path's at most maxKC.
const (
	maxMR    = 12
	maxNR    = 32
	maxKC    = 2048
	maxPanel = maxKC / 2 * maxNR
	// maxNarrowPanel bounds every path's panelOf(narrowKC): 512 float32 or 1024 bfloat16
	// rows of 32.
	maxNarrowPanel = 512 * maxNR
)
