package peak

import (
	"math"
	"time"

	"github.com/mlxprim/mlxprim/core/cpu"
)

// The FMA loop's constants: acc = fmaM*acc + fmaC converges to fmaC/(1-fmaM) = 1 from any
// start in [0, 1], so a run of any length stays in the normal range (no overflow, no
// denormals that would slow some CPUs down).
const (
	fmaM = float32(0.999)
	fmaC = float32(0.001)
)

// FMA returns the GFLOP/s of isa's FMA loop on threads threads, each running it for about
// d, as the best of repeats runs. One multiply-add counts as 2 flops.
func FMA(isa cpu.ISA, threads int, d time.Duration, repeats int) (float64, error) {
	if err := checkISA(isa); err != nil {
		return 0, err
	}
	if err := checkRun(threads, repeats); err != nil {
		return 0, err
	}
	loop, lanes := fmaLoop(isa)
	accs := make([][]float32, threads)
	for t := range accs {
		accs[t] = make([]float32, lanes)
	}
	iters := fmaCalibrate(loop, accs[0], d)
	best := math.Inf(1)
	for range repeats {
		el := parallel(threads, func(t int) { loop(accs[t], fmaM, fmaC, iters) })
		best = min(best, el.Seconds())
	}
	flops := 2 * float64(lanes) * float64(iters) * float64(threads)
	return flops / best / 1e9, nil
}

// fmaCalibrate returns the iteration count that makes one run of loop last about d.
func fmaCalibrate(loop fmaFunc, acc []float32, d time.Duration) int {
	n := 1 << 12
	for {
		t0 := time.Now()
		loop(acc, fmaM, fmaC, n)
		el := time.Since(t0)
		if el >= 20*time.Millisecond || el >= d || n >= 1<<40 {
			return max(1, int(float64(n)*d.Seconds()/max(el.Seconds(), 1e-9)))
		}
		n *= 4
	}
}

// fmaFunc runs n iterations of acc[i] = m*acc[i] + c on every lane i of acc, whose length
// is the loop's lane count. The lanes are independent chains, enough of them to keep every
// FMA unit busy despite the instruction latency.
type fmaFunc func(acc []float32, m, c float32, n int)
