//go:build !race

package attention

import (
	"testing"

	"github.com/mlxprim/mlxprim/core/cpu"
)

// TestForwardLarge: (B, L, H, D) = (4, 1024, 16, 64), causal and not, on the selected
// (fastest) path, checked against the float64 reference on a sample of rows. Too slow
// under the race detector, which the smaller shapes cover.
func TestForwardLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large shape")
	}
	t.Logf("path %v", cpu.Selected())
	for _, causal := range []bool{false, true} {
		c := baseCfg(4, 1024, 1024, 16, 64)
		c.Hkv = 4
		c.p.Causal = causal
		pr := newProblem(c, 77)
		if err := pr.run(); err != nil {
			t.Fatal(err)
		}
		pr.check(t, 211)
	}
}

// TestNoAllocPerTile: allocations per call do not grow with the problem size (scratch
// is pooled; the hot loops allocate nothing). Not under the race detector, where
// sync.Pool drops entries at random.
func TestNoAllocPerTile(t *testing.T) {
	// One thread: the worker pool's helpers, and the scratch each of them takes, are a
	// cost per call that depends on scheduling, not on the number of tiles.
	defer cpu.SetNumThreads(cpu.NumThreads())
	cpu.SetNumThreads(1)
	allocs := func(lq, lk int) float64 {
		c := baseCfg(1, lq, lk, 2, 64)
		c.p.Causal = true
		pr := newProblem(c, 1)
		return testing.AllocsPerRun(5, func() {
			if err := pr.run(); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(64, 64), allocs(512, 900)
	if large > small+2 || large > 40 {
		t.Fatalf("allocations per call: %v (64 keys) vs %v (900 keys)", small, large)
	}
}
