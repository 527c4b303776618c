//go:build race

package rope

const raceEnabled = true
