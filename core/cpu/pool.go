package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

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

// job is one ParallelFor call shared with the helper workers. Chunks are claimed through
// next, so any mix of helpers (including none) covers each chunk exactly once; the caller
// waits for remaining to reach zero, never for a particular worker.
type job struct {
	n, grain, chunks int
	body             func(lo, hi int)
	next             atomic.Int64
	remaining        atomic.Int64
	done             chan struct{}
	panicked         atomic.Pointer[any]
}

// work runs chunks until none is left.
func (j *job) work() {
	for {
		c := int(j.next.Add(1) - 1)
		if c >= j.chunks {
			return
		}
		j.runChunk(c)
	}
}

func (j *job) runChunk(c int) {
	defer func() {
		if r := recover(); r != nil {
			j.recordPanic(r)
		}
		if j.remaining.Add(-1) == 0 {
			close(j.done)
		}
	}()
	if j.panicked.Load() != nil {
		return // stop early: the call will panic anyway
	}
	lo := c * j.grain
	j.body(lo, min(lo+j.grain, j.n))
}

// wait returns once every chunk is done. The caller first spins on the count (yielding
// when a helper may be waiting for this processor): if it blocked, the
// helper finishing the last chunk would wake it onto the helper's own processor, and the
// caller's next parallel loop would start with both on one CPU while the other idles
// (measured: a third of back-to-back calls ran at one thread's speed). Long waits block.
func (j *job) wait() {
	deadline := time.Now().Add(waitSpin)
	yield := crowded() // as in poll
	for i := 0; j.remaining.Load() != 0; i++ {
		if i%64 == 63 {
			if time.Now().After(deadline) {
				<-j.done
				return
			}
			if yield {
				runtime.Gosched()
			}
		}
	}
}

// waitSpin bounds how long the caller of ParallelFor spins for its helpers.
const waitSpin = 200 * time.Microsecond

// recordPanic keeps the first panic of the call. It is a separate function so that only
// a panicking chunk moves its value to the heap: the hot path allocates nothing.
func (j *job) recordPanic(r any) { j.panicked.CompareAndSwap(nil, &r) }

// The helper workers: started on demand, they take jobs from offers, and after a job
// they keep polling for a short while before parking, because a caller's next parallel
// loop usually follows within microseconds and waking a parked thread costs tens of them.
var (
	offers      = make(chan *job, MaxThreads)
	workersMu   sync.Mutex
	workerCount int
)

// spinFor is how long an idle worker keeps polling for new jobs before it parks. It
// covers the gap between two calls from Python (tens of microseconds of wrapper code):
// with 50 us, a third of the int4 matrix-vector calls from Python ran at one thread's
// speed while the parked helper was woken; with 200 us, the median call is as fast as
// back-to-back calls in Go.
const spinFor = 200 * time.Microsecond

func ensureWorkers(n int) {
	workersMu.Lock()
	defer workersMu.Unlock()
	for ; workerCount < n; workerCount++ {
		go worker()
	}
}

func worker() {
	for {
		j := <-offers
		for j != nil {
			j.work()
			j = poll()
		}
	}
}

// poll waits up to spinFor for another job without parking the thread. It keeps its
// processor unless the pool has more threads than Go has processors: yielding puts the
// goroutine on the global run queue, which lets the runtime hand the processor of a
// caller that is out in C (between two calls from Python) to this goroutine, and the
// caller's next call then waits for one (measured: a quarter of such calls ran on one
// thread with yielding, a tenth without).
func poll() *job {
	deadline := time.Now().Add(spinFor)
	yield := crowded()
	for i := 0; ; i++ {
		select {
		case j := <-offers:
			return j
		default:
		}
		if i%64 == 63 && time.Now().After(deadline) {
			return nil
		}
		if yield {
			runtime.Gosched()
		}
	}
}

// crowded reports whether the pool's threads outnumber Go's processors, so that a
// spinning goroutine must yield for the others to run.
func crowded() bool { return NumThreads() > runtime.GOMAXPROCS(0) }

// ParallelFor calls body(lo, hi) for consecutive chunks [lo, hi) covering [0, n), each at
// most grain long, on up to NumThreads() threads (the caller's and pool workers).
// Chunk boundaries depend only on n and grain, never on the thread count, so a body that
// writes only its own chunk gives the same result for every pool size. A panic in body is
// re-raised on the caller's goroutine after all chunks stop, so the caller's recover sees
// it. Concurrent calls are safe; they share the workers.
func ParallelFor(n, grain int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	helpers := min(NumThreads(), chunks) - 1
	if helpers <= 0 {
		for lo := 0; lo < n; lo += grain {
			body(lo, min(lo+grain, n))
		}
		return
	}
	j := &job{n: n, grain: grain, chunks: chunks, body: body, done: make(chan struct{})}
	j.remaining.Store(int64(chunks))
	ensureWorkers(helpers)
	for range helpers {
		select {
		case offers <- j:
		default: // every slot taken: the caller and whoever is free do the work
		}
	}
	j.work()
	j.wait()
	if p := j.panicked.Load(); p != nil {
		panic(fmt.Sprintf("parallel worker: %v", *p))
	}
}
