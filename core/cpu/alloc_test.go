package cpu

import "testing"

// TestParallelForAllocations checks that a parallel loop allocates a fixed amount per
// call, not per chunk.
func TestParallelForAllocations(t *testing.T) {
	defer SetNumThreads(0)
	SetNumThreads(2)
	few := testing.AllocsPerRun(20, func() { ParallelFor(2, 1, func(lo, hi int) {}) })
	many := testing.AllocsPerRun(20, func() { ParallelFor(200, 1, func(lo, hi int) {}) })
	if many > few || many > 4 {
		t.Fatalf("allocations per call: %v for 2 chunks, %v for 200", few, many)
	}
}
