//go:build race

package attention

// raceEnabled: the race detector slows every loop ~10x; the tests then use smaller
// shapes (the large ones run in the normal build).
const raceEnabled = true
