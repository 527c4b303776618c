package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mlxprim/mlxprim/core/errs"
)

// MaxThreads is the largest pool size SetNumThreads accepts.
const MaxThreads = 1024

var numThreads atomic.Int32

func init() { numThreads.Store(int32(runtime.NumCPU())) }

// SetNumThreads sets how many threads parallel loops use: 1..MaxThreads, or 0 for the
// number of logical CPUs. Results never depend on it.
func SetNumThreads(n int) error {
	if n < 0 || n > MaxThreads {
		return errs.New(errs.InvalidArgument, "n: thread count %d is outside 0..%d", n, MaxThreads)
	}
	if n == 0 {
		n = runtime.NumCPU()
	}
	numThreads.Store(int32(n))
	return nil
}

// NumThreads returns the current pool size (>= 1).
func NumThreads() int { return int(numThreads.Load()) }

// ParallelFor calls body(lo, hi) for consecutive chunks [lo, hi) covering [0, n), each at
// most grain long, on up to NumThreads() goroutines. Chunk boundaries depend only on n and
// grain, never on the thread count, so a body that writes only its own chunk gives the
// same result for every pool size. A panic in body is re-raised on the caller's
// goroutine after all chunks stop, so the caller's recover sees it.
func ParallelFor(n, grain int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	workers := min(NumThreads(), chunks)
	if workers <= 1 {
		for lo := 0; lo < n; lo += grain {
			body(lo, min(lo+grain, n))
		}
		return
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		panicked atomic.Pointer[any]
	)
	run := func() {
		defer wg.Done()
		defer func() {
			if r := recover(); r != nil {
				panicked.CompareAndSwap(nil, &r)
			}
		}()
		for panicked.Load() == nil {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			lo := c * grain
			body(lo, min(lo+grain, n))
		}
	}
	wg.Add(workers)
	for range workers - 1 {
		go run()
	}
	run()
	wg.Wait()
	if p := panicked.Load(); p != nil {
		panic(fmt.Sprintf("parallel worker: %v", *p))
	}
}
