// Package peak measures the machine's limits, so that every benchmark figure can be read
// as a fraction of them: the floating-point peak of a chain of fused multiply-adds, per
// kernel path (ISA), and the memory bandwidth of a streaming read (and copy) over a
// buffer much larger than the last-level cache. Each figure is taken on one thread and
// on a given number of threads, each locked to its own OS thread, as the best of a few
// repeats.
//
// The loops are the same shape as real kernels at their best: independent accumulator
// chains that hide the FMA latency, and sequential vector loads that the hardware
// prefetcher can follow. A kernel cannot beat them on this machine.
package peak

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
)

// bandwidthPasses is the number of buffer passes per repeat in Measure's bandwidth figures.
const bandwidthPasses = 8

// Options controls Measure. Zero fields take their defaults.
type Options struct {
	Threads     int           // threads for the "all" figures; 0 = cpu.NumThreads()
	Duration    time.Duration // length of one FMA repeat; 0 = 200ms
	Repeats     int           // FMA repeats (8x as many bandwidth passes); best kept; 0 = 3
	BufferBytes int           // bandwidth buffer; 0 = 256 MiB (must be >= 1 MiB)
	ISAs        []cpu.ISA     // paths whose FMA peak is measured; nil = Paths()
}

// Pair is one figure measured on one thread and on Report.Threads threads.
type Pair struct {
	One float64 // 1 thread
	All float64 // Report.Threads threads
}

// Report holds the measured limits.
type Report struct {
	ISA         cpu.ISA          // the path kernels use (see Selected); Read uses its loop
	Threads     int              // thread count of the Pair.All figures
	FMA         map[cpu.ISA]Pair // GFLOP/s of the FMA loop, per measured path
	Read        Pair             // GB/s of a streaming read (bytes read per second)
	Copy        Pair             // GB/s of a streaming copy (bytes read + bytes written)
	BufferBytes int              // size of the bandwidth buffer
}

// Measure runs every measurement with the options o. It takes about
// 2 * Repeats * Duration per measured path plus well under a second for the bandwidths.
func Measure(o Options) (Report, error) {
	o = o.withDefaults()
	if o.Threads < 1 || o.Threads > cpu.MaxThreads {
		return Report{}, errs.New(errs.InvalidArgument, "threads: %d is outside 1..%d", o.Threads, cpu.MaxThreads)
	}
	if o.Repeats < 1 {
		return Report{}, errs.New(errs.InvalidArgument, "repeats: must be >= 1, got %d", o.Repeats)
	}
	if o.Duration <= 0 {
		return Report{}, errs.New(errs.InvalidArgument, "duration: must be positive, got %v", o.Duration)
	}
	if o.BufferBytes < 1<<20 {
		return Report{}, errs.New(errs.InvalidArgument, "buffer_bytes: must be >= 1 MiB, got %d", o.BufferBytes)
	}
	r := Report{ISA: Selected(), Threads: o.Threads, FMA: map[cpu.ISA]Pair{}, BufferBytes: o.BufferBytes}
	for _, isa := range o.ISAs {
		var p Pair
		var err error
		if p.One, err = FMA(isa, 1, o.Duration, o.Repeats); err != nil {
			return Report{}, err
		}
		if p.All, err = FMA(isa, o.Threads, o.Duration, o.Repeats); err != nil {
			return Report{}, err
		}
		r.FMA[isa] = p
	}
	// A pass over the buffer takes milliseconds: take the best of many, which filters out
	// passes slowed by other work on the machine.
	buf := NewBuffer(o.BufferBytes)
	passes := bandwidthPasses * o.Repeats
	var err error
	if r.Read.One, err = ReadBandwidth(r.ISA, buf, 1, passes); err != nil {
		return Report{}, err
	}
	if r.Read.All, err = ReadBandwidth(r.ISA, buf, o.Threads, passes); err != nil {
		return Report{}, err
	}
	if r.Copy.One, err = CopyBandwidth(buf, 1, passes); err != nil {
		return Report{}, err
	}
	if r.Copy.All, err = CopyBandwidth(buf, o.Threads, passes); err != nil {
		return Report{}, err
	}
	return r, nil
}

func (o Options) withDefaults() Options {
	if o.Threads == 0 {
		o.Threads = cpu.NumThreads()
	}
	if o.Duration == 0 {
		o.Duration = 200 * time.Millisecond
	}
	if o.Repeats == 0 {
		o.Repeats = 3
	}
	if o.BufferBytes == 0 {
		o.BufferBytes = 256 << 20
	}
	if o.ISAs == nil {
		o.ISAs = Paths()
	}
	return o
}

// Paths lists the paths whose loops this build can run, from Generic up: every path the
// CPU supports, or only Generic in a purego build or on other architectures.
func Paths() []cpu.ISA { return paths() }

// Selected returns the path the library's kernels run: cpu.Selected(), lowered to the
// best of Paths().
func Selected() cpu.ISA {
	p := paths()
	return min(cpu.Selected(), p[len(p)-1])
}

// checkISA rejects a path this build or CPU cannot run.
func checkISA(isa cpu.ISA) error {
	p := paths()
	if isa < cpu.Generic || isa > p[len(p)-1] {
		return errs.New(errs.InvalidArgument, "isa: %v has no loop on this CPU and build (best: %v)", isa, p[len(p)-1])
	}
	return nil
}

// checkRun validates the thread and repeat counts shared by every measurement.
func checkRun(threads, repeats int) error {
	if threads < 1 || threads > cpu.MaxThreads {
		return errs.New(errs.InvalidArgument, "threads: %d is outside 1..%d", threads, cpu.MaxThreads)
	}
	if repeats < 1 {
		return errs.New(errs.InvalidArgument, "repeats: must be >= 1, got %d", repeats)
	}
	return nil
}

// parallel runs work(t) for t in [0, threads), each on its own goroutine locked to an OS
// thread, releases them together once all have started, and returns the wall time from
// the release until the last one finishes. With more threads than GOMAXPROCS they share
// the processors, which the figure then shows.
func parallel(threads int, work func(t int)) time.Duration {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(threads)
	done.Add(threads)
	for t := range threads {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			defer done.Done()
			ready.Done()
			<-start
			work(t)
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	return time.Since(t0)
}

// String gives a one-line summary, for logs.
func (r Report) String() string {
	return fmt.Sprintf("isa=%v threads=%d fma=%.1f/%.1f GFLOP/s read=%.1f/%.1f GB/s copy=%.1f/%.1f GB/s",
		r.ISA, r.Threads, r.FMA[r.ISA].One, r.FMA[r.ISA].All, r.Read.One, r.Read.All, r.Copy.One, r.Copy.All)
}
