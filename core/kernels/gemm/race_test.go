//go:build race

package gemm

// raceEnabled: the race detector allocates on its own, so allocation counts are skipped.
const raceEnabled = true
