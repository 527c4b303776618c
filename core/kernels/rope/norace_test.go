//go:build !race

package rope

const raceEnabled = false
