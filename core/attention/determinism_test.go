package attention

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// sub returns the view of t (BSHD, float32) restricted to [start, start+n) along dim.
func sub(t tensor.Tensor, dim, start, n int) tensor.Tensor {
	v := t
	v.Shape = slices.Clone(t.Shape)
	v.Shape[dim] = n
	v.Data = unsafe.Add(t.Data, start*t.Strides[dim]*t.DType.Bits()/8)
	return v
}

// outBits returns the output and lse bits of pr.
func outBits(pr *problem) ([]float32, []float32) {
	return slices.Clone(pr.o.f32), slices.Clone(pr.lse.f32)
}

func detCfgs() map[string]cfg {
	lq := 300
	if raceEnabled {
		lq = 70
	}
	prefill := baseCfg(2, lq, 2100, 4, 64)
	prefill.Hkv = 2
	prefill.p.Causal = true
	prefill.p.ALiBiSlopes = ALiBiSlopes(4)
	prefill.p.SoftCap = 5
	decode := baseCfg(1, 3, 5000, 2, 128)
	decode.p.Causal = true
	return map[string]cfg{"prefill": prefill, "decode": decode}
}

// TestThreadCountInvariance: 1, 2 and 3 threads give bit-identical results.
func TestThreadCountInvariance(t *testing.T) {
	defer cpu.SetNumThreads(cpu.NumThreads())
	forEachISA(t, func(t *testing.T) {
		for name, c := range detCfgs() {
			t.Run(name, func(t *testing.T) {
				pr := newProblem(c, 1)
				var ref0, ref1 []float32
				for _, n := range []int{1, 2, 3} {
					if err := cpu.SetNumThreads(n); err != nil {
						t.Fatal(err)
					}
					if err := pr.run(); err != nil {
						t.Fatal(err)
					}
					o, l := outBits(pr)
					if ref0 == nil {
						ref0, ref1 = o, l
						continue
					}
					if !slices.Equal(o, ref0) || !slices.Equal(l, ref1) {
						t.Fatalf("%d threads: result differs from 1 thread", n)
					}
				}
			})
		}
	})
}

// TestBatchInvariance: each batch computed alone equals the same batch inside the call.
func TestBatchInvariance(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		c := baseCfg(3, 70, 1500, 2, 64)
		c.p.Causal = true
		c.p.KeyLengths = []int32{1500, 900, 1200}
		pr := newProblem(c, 2)
		if err := pr.run(); err != nil {
			t.Fatal(err)
		}
		expectEntriesAlone(t, pr)
	})
}

// expectEntriesAlone checks that each batch entry of pr (already run), computed alone
// with its own key length, gives the bits of out and lse inside the batch.
func expectEntriesAlone(t *testing.T, pr *problem) {
	t.Helper()
	c := pr.c
	for b := range c.B {
		out := make([]float32, c.Lq*c.Hq*c.Dv)
		lse := make([]float32, c.Hq*c.Lq)
		ot := tensor.FromFloat32(out, 1, c.Lq, c.Hq, c.Dv)
		lt := tensor.FromFloat32(lse, 1, c.Hq, c.Lq)
		p := c.p
		p.KeyLengths = c.p.KeyLengths[b : b+1]
		if err := Forward(sub(pr.q.t, 0, b, 1), sub(pr.k.t, 0, b, 1), sub(pr.v.t, 0, b, 1), ot, &lt, p); err != nil {
			t.Fatal(err)
		}
		for i := range c.Lq {
			for h := range c.Hq {
				for d := range c.Dv {
					if got, want := out[(i*c.Hq+h)*c.Dv+d], float32(pr.o.get(b, i, h, d)); got != want {
						t.Fatalf("batch %d alone: out[%d %d %d] = %v, in batch %v", b, i, h, d, got, want)
					}
				}
				if got, want := lse[h*c.Lq+i], float32(pr.lse.get(b, h, i)); got != want {
					t.Fatalf("batch %d alone: lse[%d %d] = %v, in batch %v", b, h, i, got, want)
				}
			}
		}
	}
}

// TestRowAloneEqualsPrefill: a query row computed alone (Lq = 1 against the keys it can
// see, the decode path) equals the same row inside a long causal prefill, bit for bit.
func TestRowAloneEqualsPrefill(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		for _, window := range []int{-1, 700} {
			for _, logits := range []string{"alibi", "alibi+bias+softcap"} {
				t.Run(fmt.Sprintf("window=%d/%s", window, logits), func(t *testing.T) {
					testRowAloneEqualsPrefill(t, window, logits != "alibi")
				})
			}
		}
	})
}

// testRowAloneEqualsPrefill computes a prefill, then chosen rows alone (the decode
// path), and compares their bits; withBias adds a [L, L] bias tensor and a soft cap.
func testRowAloneEqualsPrefill(t *testing.T, window int, withBias bool) {
	l, rows := 2200, []int{0, 1, 63, 64, 1023, 1024, 1100, 2047, 2199}
	if raceEnabled {
		l, rows = 1100, []int{0, 63, 64, 1023, 1024, 1099}
	}
	c := baseCfg(1, l, l, 2, 64)
	c.p.Causal = true
	c.p.WindowLeft = window
	c.p.ALiBiSlopes = []float32{0.01, 0.002}
	if withBias {
		c.biasShape, c.p.SoftCap = []int{l, l}, 5
	}
	pr := newProblem(c, 3)
	if err := pr.run(); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, c.Hq*c.Dv)
	lse := make([]float32, c.Hq)
	ot := tensor.FromFloat32(out, 1, 1, c.Hq, c.Dv)
	lt := tensor.FromFloat32(lse, 1, c.Hq, 1)
	for _, i := range rows {
		q := sub(pr.q.t, 1, i, 1)
		k, v := sub(pr.k.t, 1, 0, i+1), sub(pr.v.t, 1, 0, i+1)
		p := pr.c.p
		if withBias { // row i of the bias, its first i+1 keys
			b := pr.bias.t
			b.Data = unsafe.Add(b.Data, i*b.Strides[0]*4)
			b.Shape = []int{1, i + 1}
			p.Bias = &b
		}
		if err := Forward(q, k, v, ot, &lt, p); err != nil {
			t.Fatal(err)
		}
		for h := range c.Hq {
			for d := range c.Dv {
				if got, want := out[h*c.Dv+d], float32(pr.o.get(0, i, h, d)); got != want {
					t.Fatalf("row %d alone: out[h=%d d=%d] = %v, in prefill %v", i, h, d, got, want)
				}
			}
			if got, want := lse[h], float32(pr.lse.get(0, h, i)); got != want {
				t.Fatalf("row %d alone: lse %v, in prefill %v", i, got, want)
			}
		}
	}
}

// TestDecodeBatchInvariance: grouped-query decode rows computed for a batch (one work
// item per batch entry and chunk, every KV head together, read in blocks of 16, 32 or 64
// positions) equal each entry computed alone (which takes the per-head path when it has a
// single chunk), bit for bit.
func TestDecodeBatchInvariance(t *testing.T) {
	defer func(prev int) { decodeBlockBytes = prev }(decodeBlockBytes)
	forEachISA(t, func(t *testing.T) {
		for _, lk := range []int{1000, 2500} {
			for _, blk := range []int{16, 32, 64} {
				t.Run(fmt.Sprintf("Lk=%d/block=%d", lk, blk), func(t *testing.T) {
					c := baseCfg(3, 2, lk, 8, 64)
					c.Hkv = 2
					c.p.Causal = true
					c.p.KeyLengths = []int32{int32(lk), int32(lk - 300), int32(lk / 2)}
					pr := newProblem(c, 4)
					pl, err := newPlan(pr.q.t, pr.k.t, pr.v.t, pr.o.t, nil, pr.c.p)
					if err != nil {
						t.Fatal(err)
					}
					decodeBlockBytes = blk * c.Hkv * pl.dp * 4
					if got := pl.decodeBlock(); got != blk {
						t.Fatalf("decodeBlock = %d, want %d", got, blk)
					}
					if err := pr.run(); err != nil {
						t.Fatal(err)
					}
					expectEntriesAlone(t, pr)
					pr.check(t, 1)
				})
			}
		}
	})
}

// TestDecodeReadAhead checks what decode reads ahead of its kernels (touchBlock), in
// both layouts: only bytes of the keys and values, and no more bytes than they hold, or,
// with a window of 300 keys, than the tiles the window touches.
func TestDecodeReadAhead(t *testing.T) {
	defer func(prev func(unsafe.Pointer, int, int, int)) { touch = prev }(touch)
	// Two threads: with many more, decode splits the work otherwise and reads nothing
	// ahead, which this test would take for a failure.
	defer cpu.SetNumThreads(cpu.NumThreads())
	if err := cpu.SetNumThreads(2); err != nil {
		t.Fatal(err)
	}
	forEachISA(t, func(t *testing.T) {
		for _, window := range []int{-1, 300} {
			for _, layout := range []Layout{BSHD, BHSD} {
				testDecodeReadAhead(t, layout, window)
			}
		}
	})
}

func testDecodeReadAhead(t *testing.T, layout Layout, window int) {
	// Rows of 40 elements, off the streams' whole vectors: neither key nor value stream
	// takes them.
	c := baseCfg(2, 1, 4096, 6, 40)
	c.Hkv, c.layout, c.p.Causal, c.p.WindowLeft = 2, layout, true, window
	pr := newProblem(c, 9)
	if pl, err := newPlan(pr.q.t, pr.k.t, pr.v.t, pr.o.t, nil, pr.c.p); err != nil {
		t.Fatal(err)
	} else if pl.kern.tiles == nil {
		t.Skip("no tile kernels on this path: decode reads nothing ahead")
	}
	span := func(b *buf) (lo, hi uintptr) {
		lo = uintptr(b.t.Data)
		last := 0
		for i, n := range b.t.Shape {
			last += (n - 1) * b.t.Strides[i]
		}
		return lo, lo + uintptr(4*(last+1))
	}
	klo, khi := span(pr.k)
	vlo, vhi := span(pr.v)
	var mu sync.Mutex
	var total uintptr
	var outside string
	touch = func(p unsafe.Pointer, stride, rows, rowBytes int) {
		mu.Lock()
		defer mu.Unlock()
		for r := range rows {
			a := uintptr(p) + uintptr(r*stride)
			if e := a + uintptr(rowBytes); !(a >= klo && e <= khi) && !(a >= vlo && e <= vhi) {
				outside = fmt.Sprintf("row %d of %d bytes at %#x", r, rowBytes, a)
			}
			total += uintptr(rowBytes)
		}
	}
	if err := pr.run(); err != nil {
		t.Fatal(err)
	}
	switch {
	case outside != "":
		t.Fatalf("layout %d: read %s, outside the keys and values", layout, outside)
	case total == 0:
		t.Fatalf("layout %d: nothing read ahead: the decode path did not run", layout)
	case total > (khi-klo)+(vhi-vlo):
		t.Fatalf("layout %d: read %d bytes ahead, the keys and values hold %d", layout, total, (khi-klo)+(vhi-vlo))
	case window >= 0 && total > uintptr(2*c.B*(window+2*tileKeys)*c.Hkv*c.D*4):
		t.Fatalf("layout %d: read %d bytes ahead for a window of %d keys", layout, total, window)
	}
	pr.check(t, 1)
}

// TestDecodeRowsByChunk: decode of 2 to 8 query positions by chunk (decodeTile for items
// of fewer than 16 rows, wideTile for more), against the float64 reference, with each
// batch entry equal to itself alone and each query row equal to the same row decoded
// alone (Lq = 1 against the keys it sees), bit for bit, in cache dtypes float32 and
// bfloat16; and, for items of fewer than 16 rows, an infinite value at the last key
// reaches the last row only (the tile kernels of wider items, as in prefill, take every
// key of a tile for all rows, with zero probabilities for the keys a row does not see).
func TestDecodeRowsByChunk(t *testing.T) {
	// Two threads: with many more, decode splits the work otherwise.
	defer cpu.SetNumThreads(cpu.NumThreads())
	if err := cpu.SetNumThreads(2); err != nil {
		t.Fatal(err)
	}
	forEachISA(t, func(t *testing.T) {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.BFloat16} {
			for _, c := range []struct{ lq, hq, hkv, d int }{{4, 16, 4, 64}, {8, 8, 2, 40}, {2, 32, 4, 64}, {4, 8, 8, 64}, {8, 4, 4, 64}, {2, 8, 4, 64}} {
				t.Run(fmt.Sprintf("%v/Lq=%d/Hq=%d/Hkv=%d/D=%d", dt, c.lq, c.hq, c.hkv, c.d), func(t *testing.T) {
					cf := baseCfg(2, c.lq, 2500, c.hq, c.d)
					cf.Hkv, cf.dk, cf.dv = c.hkv, dt, dt
					cf.p.Causal = true
					cf.p.KeyLengths = []int32{2500, 1700}
					pr := newProblem(cf, 13)
					if err := pr.run(); err != nil {
						t.Fatal(err)
					}
					pr.check(t, 1)
					expectEntriesAlone(t, pr)
					expectRowsAlone(t, pr)
					if c.lq*c.hq/c.hkv < 16 {
						expectLastKeyAlone(t, pr)
					}
				})
			}
		}
	})
}

// TestDecodeSingleHead: decode with one KV head gives the same bits by chunk (the decode
// kernels) as by head and chunk (runSplit), and the float64 reference's values, with one
// and four query positions.
func TestDecodeSingleHead(t *testing.T) {
	defer func(prev int) { singleHeadStreamBytes = prev }(singleHeadStreamBytes)
	defer cpu.SetNumThreads(cpu.NumThreads())
	if err := cpu.SetNumThreads(2); err != nil {
		t.Fatal(err)
	}
	forEachISA(t, func(t *testing.T) {
		for _, lq := range []int{1, 4} {
			for _, hq := range []int{4, 8} {
				c := baseCfg(2, lq, 2500, hq, 64)
				c.Hkv = 1
				c.p.Causal = true
				c.p.KeyLengths = []int32{2500, 1700}
				pr := newProblem(c, 17)
				singleHeadStreamBytes = math.MaxInt
				if err := pr.run(); err != nil {
					t.Fatal(err)
				}
				pr.check(t, 1)
				want, wantLSE := outBits(pr)
				singleHeadStreamBytes = 0
				if err := pr.run(); err != nil {
					t.Fatal(err)
				}
				got, gotLSE := outBits(pr)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("Lq=%d Hq=%d: out[%d] = %v by chunk, %v by head", lq, hq, i, got[i], want[i])
					}
				}
				for i := range wantLSE {
					if math.Float32bits(gotLSE[i]) != math.Float32bits(wantLSE[i]) {
						t.Fatalf("Lq=%d Hq=%d: lse[%d] = %v by chunk, %v by head", lq, hq, i, gotLSE[i], wantLSE[i])
					}
				}
			}
		}
	})
}

// expectLastKeyAlone sets the values of batch entry 0's last key (seen by its last query
// row only, causal) to +Inf and checks that the other rows keep their bits.
func expectLastKeyAlone(t *testing.T, pr *problem) {
	t.Helper()
	c := pr.c
	before := slices.Clone(pr.o.f32)
	for h := range c.Hkv {
		for d := range c.Dv {
			pr.v.set(float32(math.Inf(1)), 0, c.Lk-1, h, d)
		}
	}
	if err := pr.run(); err != nil {
		t.Fatal(err)
	}
	for i := range c.Lq - 1 {
		for h := range c.Hq {
			for d := range c.Dv {
				if o := pr.o.off(0, i, h, d); pr.o.f32[o] != before[o] {
					t.Fatalf("row %d head %d: out[%d] = %v with an infinite value it does not see, was %v", i, h, d, pr.o.f32[o], before[o])
				}
			}
		}
	}
}

// expectRowsAlone checks that each query row of pr (causal, key lengths) equals the same
// row decoded alone against the keys it sees, bit for bit.
func expectRowsAlone(t *testing.T, pr *problem) {
	t.Helper()
	c := pr.c
	out := make([]float32, c.Hq*c.Dv)
	lse := make([]float32, c.Hq)
	ot := tensor.FromFloat32(out, 1, 1, c.Hq, c.Dv)
	lt := tensor.FromFloat32(lse, 1, c.Hq, 1)
	for b := range c.B {
		kl := int(c.p.KeyLengths[b])
		for i := range c.Lq {
			// Bottom-right causal alignment against the whole Lk, then the key length.
			n := min(kl, c.Lk-c.Lq+i+1)
			p := c.p
			p.KeyLengths = nil
			q := sub(sub(pr.q.t, 0, b, 1), 1, i, 1)
			k, v := sub(sub(pr.k.t, 0, b, 1), 1, 0, n), sub(sub(pr.v.t, 0, b, 1), 1, 0, n)
			if err := Forward(q, k, v, ot, &lt, p); err != nil {
				t.Fatal(err)
			}
			for h := range c.Hq {
				for d := range c.Dv {
					if got, want := out[h*c.Dv+d], float32(pr.o.get(b, i, h, d)); got != want {
						t.Fatalf("batch %d row %d alone: out[%d %d] = %v, in the call %v", b, i, h, d, got, want)
					}
				}
			}
		}
	}
}

// TestDecodeHalfCache: decode over keys and values stored in float16 or bfloat16 (the
// kernels that widen them as they read, where the path has them, and the float32 copies
// otherwise) against the float64 reference, with one, two and four query rows per KV head
// (one KV head takes the per-head path, two the batched decode tiles, four heads of four
// or eight rows and eight heads of two rows the grouped streams), head dims in whole and
// partial vectors, and each batch entry equal to itself alone.
func TestDecodeHalfCache(t *testing.T) {
	forEachISA(t, func(t *testing.T) {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
			for _, heads := range [][2]int{{2, 2}, {4, 2}, {8, 2}, {4, 1}, {16, 4}, {32, 4}, {16, 8}} {
				for _, d := range []int{40, 64} {
					t.Run(fmt.Sprintf("%v/Hq=%d/Hkv=%d/D=%d", dt, heads[0], heads[1], d), func(t *testing.T) {
						c := baseCfg(2, 1, 2500, heads[0], d)
						c.Hkv, c.dk, c.dv = heads[1], dt, dt
						c.p.Causal = true
						c.p.KeyLengths = []int32{2500, 1700}
						pr := newProblem(c, 11)
						if err := pr.run(); err != nil {
							t.Fatal(err)
						}
						pr.check(t, 1)
						expectEntriesAlone(t, pr)
					})
				}
			}
		}
	})
}

// TestDecodeValueStream: multi-head decode gives the same bits with the value stream
// (accumHeads) as with the block reads and accumValues it replaces, for every value
// dtype, both layouts, a window and key lengths, on every path that has the stream. One
// thread, so that decode runs chunk by chunk through decodeTile.
func TestDecodeValueStream(t *testing.T) {
	defer cpu.SetNumThreads(cpu.NumThreads())
	if err := cpu.SetNumThreads(1); err != nil {
		t.Fatal(err)
	}
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.accumHeads == nil {
			t.Skip("no value stream on this path")
		}
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
			for _, layout := range []Layout{BSHD, BHSD} {
				for _, window := range []int{-1, 700} {
					c := baseCfg(2, 1, 2500, 4, 64)
					c.dk, c.dv, c.layout = dt, dt, layout
					c.p.Causal = true
					c.p.KeyLengths = []int32{2500, 1700}
					c.p.WindowLeft = window
					pr := newProblem(c, 13)
					if err := pr.run(); err != nil {
						t.Fatal(err)
					}
					streamed := slices.Clone(pr.o.f32)
					saved := k.accumHeads
					k.accumHeads = nil
					err := pr.run()
					k.accumHeads = saved
					if err != nil {
						t.Fatal(err)
					}
					for i, v := range pr.o.f32 {
						if math.Float32bits(v) != math.Float32bits(streamed[i]) {
							t.Fatalf("%v layout %d window %d: out[%d] = %v streamed, %v without", dt, layout, window, i, streamed[i], v)
						}
					}
				}
			}
		}
	})
}

// TestDecodePaddedGroups: grouped-query decode whose query heads per KV head are not a
// whole number of quads (3, 6, 7, 10, 13: the streams pad them to 4, 8, 12 or 16 rows)
// matches the float64 reference, gives each batch entry the bits it gets alone, and gives
// the bits of the block reads the streams replace, for every cache dtype, on every path
// with the streams, which must run; 5 (left to the block reads) is checked against the
// reference too. One thread, so that decode runs chunk by chunk through decodeTile.
func TestDecodePaddedGroups(t *testing.T) {
	defer cpu.SetNumThreads(cpu.NumThreads())
	if err := cpu.SetNumThreads(1); err != nil {
		t.Fatal(err)
	}
	forEachISA(t, func(t *testing.T) {
		k := selectKernels()
		if k.scoresGroups == nil || k.accumGroups == nil {
			t.Skip("no grouped-query streams on this path")
		}
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
			for _, grp := range []int{3, 5, 6, 7, 10, 13} {
				t.Run(fmt.Sprintf("%v/grp=%d", dt, grp), func(t *testing.T) {
					c := baseCfg(2, 1, 2500, 4*grp, 64)
					c.Hkv, c.dk, c.dv = 4, dt, dt
					c.p.Causal = true
					c.p.KeyLengths = []int32{2500, 1700}
					pr := newProblem(c, 17)
					keys, values := k.scoresGroups, k.accumGroups
					var keyCalls, valueCalls int
					k.scoresGroups = func(out []float32, ld, lr int, qg []float32, kp unsafe.Pointer, heads, rows, n, d, ahead int, dt tensor.DType) bool {
						ok := keys(out, ld, lr, qg, kp, heads, rows, n, d, ahead, dt)
						if ok {
							keyCalls++
						}
						return ok
					}
					k.accumGroups = func(rows []headRow, ldo, ldp int, v unsafe.Pointer, vs, n, dv, ahead int, dt tensor.DType) bool {
						ok := values(rows, ldo, ldp, v, vs, n, dv, ahead, dt)
						if ok {
							valueCalls++
						}
						return ok
					}
					err := pr.run()
					k.scoresGroups, k.accumGroups = keys, values
					if err != nil {
						t.Fatal(err)
					}
					if streams := grp != 5; (keyCalls > 0) != streams || (valueCalls > 0) != streams {
						t.Fatalf("%d key and %d value stream calls did the work", keyCalls, valueCalls)
					}
					pr.check(t, 1)
					expectEntriesAlone(t, pr)
					streamed := slices.Clone(pr.o.f32)
					k.scoresGroups, k.accumGroups = nil, nil
					err = pr.run()
					k.scoresGroups, k.accumGroups = keys, values
					if err != nil {
						t.Fatal(err)
					}
					for i, v := range pr.o.f32 {
						if math.Float32bits(v) != math.Float32bits(streamed[i]) {
							t.Fatalf("out[%d] = %v streamed, %v without", i, streamed[i], v)
						}
					}
				})
			}
		}
	})
}
