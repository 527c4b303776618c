package cpu

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestChooseISA(t *testing.T) {
	best := Best()
	cases := map[string]ISA{"": best, "bogus": best, "generic": Generic, "GENERIC": Generic, "avx512": min(AVX512, best), "avx2": min(AVX2, best)}
	for req, want := range cases {
		if got := chooseISA(req); got != want {
			t.Errorf("chooseISA(%q) = %v, want %v", req, got, want)
		}
	}
}

func TestAvailableAndUseISA(t *testing.T) {
	av := Available()
	if av[0] != Generic || av[len(av)-1] != Best() {
		t.Fatalf("Available() = %v, best %v", av, Best())
	}
	for _, isa := range av {
		restore := UseISA(isa)
		if Selected() != isa {
			t.Errorf("UseISA(%v) left %v selected", isa, Selected())
		}
		restore()
	}
}

func TestFeaturesMatchISA(t *testing.T) {
	f := " " + Features() + " "
	if Best() >= AVX2 && !strings.Contains(f, " avx2 ") {
		t.Errorf("best path %v but features %q lack avx2", Best(), f)
	}
	if Best() == AVX512 && !strings.Contains(f, " avx512f ") {
		t.Errorf("best path avx512 but features %q lack avx512f", f)
	}
}

func TestSetNumThreads(t *testing.T) {
	defer SetNumThreads(0)
	for _, bad := range []int{-1, MaxThreads + 1} {
		before := NumThreads()
		if err := SetNumThreads(bad); err == nil || NumThreads() != before {
			t.Errorf("SetNumThreads(%d) accepted or changed the count", bad)
		}
	}
	if err := SetNumThreads(3); err != nil || NumThreads() != 3 {
		t.Fatalf("SetNumThreads(3): %v, count %d", err, NumThreads())
	}
}

// TestParallelForCoversOnce checks every index is visited exactly once, with chunk
// boundaries independent of the thread count.
func TestParallelForCoversOnce(t *testing.T) {
	defer SetNumThreads(0)
	for _, threads := range []int{1, 2, 7} {
		SetNumThreads(threads)
		for _, n := range []int{0, 1, 5, 64, 1001} {
			counts := make([]atomic.Int32, n)
			var bounds atomic.Int64
			ParallelFor(n, 16, func(lo, hi int) {
				if lo%16 != 0 || hi-lo > 16 {
					bounds.Add(1)
				}
				for i := lo; i < hi; i++ {
					counts[i].Add(1)
				}
			})
			for i := range counts {
				if c := counts[i].Load(); c != 1 {
					t.Fatalf("threads %d n %d: index %d visited %d times", threads, n, i, c)
				}
			}
			if bounds.Load() != 0 {
				t.Fatalf("threads %d: chunk boundaries depend on scheduling", threads)
			}
		}
	}
}

// TestParallelForLongChunks: a chunk far longer than the caller's spin makes it block
// for the rest; the loop still returns only after every chunk has finished.
func TestParallelForLongChunks(t *testing.T) {
	defer SetNumThreads(0)
	SetNumThreads(2)
	for range 3 {
		var done atomic.Int32
		ParallelFor(4, 1, func(lo, hi int) {
			if lo == 3 {
				time.Sleep(20 * waitSpin)
			}
			done.Add(1)
		})
		if n := done.Load(); n != 4 {
			t.Fatalf("ParallelFor returned with %d of 4 chunks done", n)
		}
	}
}

// TestParallelForPanic checks a worker's panic reaches the caller instead of killing the
// process.
func TestParallelForPanic(t *testing.T) {
	defer SetNumThreads(0)
	SetNumThreads(4)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "boom") {
			t.Fatalf("recovered %v, want the worker's panic", r)
		}
	}()
	ParallelFor(100, 1, func(lo, hi int) {
		if lo == 57 {
			panic("boom")
		}
	})
	t.Fatal("ParallelFor returned normally")
}

// TestParallelForConcurrentAndNested runs many loops at once, some nested inside others,
// while the thread count changes: every index is still covered exactly once per loop.
func TestParallelForConcurrentAndNested(t *testing.T) {
	defer SetNumThreads(0)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range 50 {
				if it%10 == 0 {
					SetNumThreads(1 + (g+it)%4)
				}
				n := 1 + (g*31+it*7)%300
				counts := make([]atomic.Int32, n)
				ParallelFor(n, 3, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						counts[i].Add(1)
						if i%50 == 0 { // a nested loop inside a chunk
							var inner atomic.Int32
							ParallelFor(20, 1, func(a, b int) { inner.Add(int32(b - a)) })
							if inner.Load() != 20 {
								errs <- "nested loop lost indices"
							}
						}
					}
				})
				for i := range counts {
					if c := counts[i].Load(); c != 1 {
						errs <- fmt.Sprintf("index %d of %d visited %d times", i, n, c)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
