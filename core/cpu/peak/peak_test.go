package peak

import (
	"math"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
)

// f32Ref returns m*a + c rounded to float32 once (fused) or with the product rounded
// first (unfused), computed exactly with big.Float and rounded to nearest even.
func f32Ref(a, m, c float32, fused bool) float32 {
	const prec = 200 // far more than the 2*24+1 bits an exact product and sum need
	x := new(big.Float).SetPrec(prec).SetFloat64(float64(m))
	x.Mul(x, new(big.Float).SetPrec(prec).SetFloat64(float64(a)))
	if !fused {
		p, _ := x.Float32()
		x.SetFloat64(float64(p))
	}
	x.Add(x, new(big.Float).SetPrec(prec).SetFloat64(float64(c)))
	r, _ := x.Float32()
	return r
}

// TestFMALoops checks every path's loop bit for bit against the exact reference: fused
// (one rounding per step) for the assembly paths, unfused for plain Go. Tolerance: none.
// Guard values after the lanes catch stray writes.
func TestFMALoops(t *testing.T) {
	consts := []struct{ m, c float32 }{{fmaM, fmaC}, {1.0009765625, -0.3}}
	for _, isa := range Paths() {
		t.Run(isa.String(), func(t *testing.T) {
			loop, lanes := fmaLoop(isa)
			fused := isa != cpu.Generic
			for _, k := range consts {
				for _, n := range []int{0, 1, 2, 7, 1000} {
					const guards = 16
					buf := make([]float32, lanes+guards)
					for i := range buf {
						buf[i] = float32(i) / float32(lanes)
						if i >= lanes {
							buf[i] = -7
						}
					}
					want := make([]float32, lanes)
					other := make([]float32, lanes) // the other rounding, to show the test tells them apart
					copy(want, buf)
					copy(other, buf)
					for range n {
						for i := range want {
							want[i] = f32Ref(want[i], k.m, k.c, fused)
							other[i] = f32Ref(other[i], k.m, k.c, !fused)
						}
					}
					loop(buf[:lanes], k.m, k.c, n)
					differs := false
					for i := range want {
						if math.Float32bits(buf[i]) != math.Float32bits(want[i]) {
							t.Fatalf("m=%v c=%v n=%d lane %d: got %v, want %v", k.m, k.c, n, i, buf[i], want[i])
						}
						differs = differs || want[i] != other[i]
					}
					for i := lanes; i < len(buf); i++ {
						if buf[i] != -7 {
							t.Fatalf("n=%d: guard %d overwritten: %v", n, i-lanes, buf[i])
						}
					}
					if n == 1000 && !differs {
						t.Errorf("m=%v c=%v: fused and unfused references agree; the check cannot tell them apart", k.m, k.c)
					}
				}
			}
		})
	}
}

// checksumRef is the checksum from its definition: byte i contributes b[i] << (8*(i%8)).
func checksumRef(b []byte) uint64 {
	var s uint64
	for i, v := range b {
		s += uint64(v) << (8 * (i % 8))
	}
	return s
}

// TestChecksum checks every path's read loop against the byte-wise definition (exact), at
// lengths around the 256-byte step and at unaligned starts.
func TestChecksum(t *testing.T) {
	buf := NewBuffer(70000)
	for _, isa := range Paths() {
		t.Run(isa.String(), func(t *testing.T) {
			for _, n := range []int{0, 1, 7, 8, 31, 33, 255, 256, 257, 511, 1023, 4099, 65536 + 17} {
				for _, off := range []int{0, 1, 3, 8} {
					b := buf[off : off+n]
					if got, want := sum64(isa, b), checksumRef(b); got != want {
						t.Fatalf("n=%d off=%d: got %#x, want %#x", n, off, got, want)
					}
				}
			}
		})
	}
	b := buf[5:60005]
	if got, want := Checksum(b), checksumRef(b); got != want {
		t.Fatalf("Checksum: got %#x, want %#x", got, want)
	}
}

// TestNewBuffer checks the pattern is deterministic and leaves no zero word behind.
func TestNewBuffer(t *testing.T) {
	a, b := NewBuffer(1<<16+5), NewBuffer(1<<16+5)
	if string(a) != string(b) {
		t.Fatal("NewBuffer is not deterministic")
	}
	zeros := 0
	for _, v := range a {
		if v == 0 {
			zeros++
		}
	}
	if zeros > len(a)/64 { // a uniform byte is 0 with probability 1/256
		t.Fatalf("%d zero bytes of %d: the pattern does not fill the buffer", zeros, len(a))
	}
}

// TestSplit checks the parts cover [0, n) in order, start on a 256-byte step and differ
// in size by at most one step.
func TestSplit(t *testing.T) {
	for _, n := range []int{0, 100, 256, 1000, 1 << 20} {
		for threads := 1; threads <= 5; threads++ {
			b := split(n, threads)
			if len(b) != threads+1 || b[0] != 0 || b[threads] != n {
				t.Fatalf("n=%d threads=%d: bounds %v", n, threads, b)
			}
			for i := 1; i <= threads; i++ {
				size := b[i] - b[i-1]
				if size < 0 || (i < threads && b[i]%sumBlock != 0) || size > n/threads+sumBlock+n%sumBlock {
					t.Fatalf("n=%d threads=%d: bounds %v", n, threads, b)
				}
			}
		}
	}
}

// TestMeasure runs a short measurement and checks every figure is positive and finite
// (no timing is asserted).
func TestMeasure(t *testing.T) {
	r, err := Measure(Options{Threads: 2, Duration: 5 * time.Millisecond, Repeats: 1, BufferBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(name string, v float64) {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %v, want positive and finite", name, v)
		}
	}
	if len(r.FMA) != len(Paths()) {
		t.Errorf("FMA measured for %d paths, want %d", len(r.FMA), len(Paths()))
	}
	for isa, p := range r.FMA {
		ok(isa.String()+" FMA 1", p.One)
		ok(isa.String()+" FMA all", p.All)
	}
	ok("read 1", r.Read.One)
	ok("read all", r.Read.All)
	ok("copy 1", r.Copy.One)
	ok("copy all", r.Copy.All)
	if r.ISA != Selected() || r.Threads != 2 || r.BufferBytes != 4<<20 {
		t.Errorf("report header %v", r)
	}
}

// TestBadArguments checks each invalid argument gives InvalidArgument naming it.
func TestBadArguments(t *testing.T) {
	p := Paths()
	cases := []struct {
		name string
		err  error
	}{
		{"threads", func() error { _, err := FMA(cpu.Generic, 0, time.Millisecond, 1); return err }()},
		{"repeats", func() error { _, err := FMA(cpu.Generic, 1, time.Millisecond, 0); return err }()},
		{"isa", func() error { _, err := FMA(p[len(p)-1]+1, 1, time.Millisecond, 1); return err }()},
		{"isa", func() error { _, err := ReadBandwidth(cpu.ISA(-1), make([]byte, 8), 1, 1); return err }()},
		{"threads", func() error { _, err := CopyBandwidth(make([]byte, 8), cpu.MaxThreads+1, 1); return err }()},
		{"buffer_bytes", func() error { _, err := Measure(Options{BufferBytes: 1000}); return err }()},
		{"duration", func() error { _, err := Measure(Options{Duration: -1}); return err }()},
		{"threads", func() error { _, err := Measure(Options{Threads: -2}); return err }()},
	}
	for _, c := range cases {
		if c.err == nil || errs.KindOf(c.err) != errs.InvalidArgument {
			t.Errorf("%s: got %v, want an invalid-argument error", c.name, c.err)
			continue
		}
		if got := c.err.Error(); len(got) < len(c.name) || got[:len(c.name)] != c.name {
			t.Errorf("message %q does not name %s", got, c.name)
		}
	}
}

// TestFMAAllocs checks the timed loops do not allocate.
func TestFMAAllocs(t *testing.T) {
	for _, isa := range Paths() {
		loop, lanes := fmaLoop(isa)
		acc := make([]float32, lanes)
		buf := NewBuffer(4096)
		if n := testing.AllocsPerRun(10, func() { loop(acc, fmaM, fmaC, 100); sum64(isa, buf) }); n != 0 {
			t.Errorf("%v: %v allocations per run", isa, n)
		}
	}
}

// BenchmarkFMA reports each path's single-thread GFLOP/s.
func BenchmarkFMA(b *testing.B) {
	for _, isa := range Paths() {
		b.Run(isa.String(), func(b *testing.B) {
			loop, lanes := fmaLoop(isa)
			acc := make([]float32, lanes)
			const iters = 1 << 16
			for b.Loop() {
				loop(acc, fmaM, fmaC, iters)
			}
			b.ReportMetric(2*float64(lanes)*iters*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkRead reports each path's single-thread read GB/s over a ladder of sizes, from
// L1-resident to well past the last-level cache.
func BenchmarkRead(b *testing.B) {
	for _, isa := range Paths() {
		for _, size := range []int{16 << 10, 512 << 10, 8 << 20, 256 << 20} {
			b.Run(isa.String()+"/"+byteSize(size), func(b *testing.B) {
				buf := NewBuffer(size)
				b.SetBytes(int64(size))
				for b.Loop() {
					sum64(isa, buf)
				}
			})
		}
	}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
