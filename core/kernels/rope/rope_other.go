//go:build !amd64 || purego

package rope

// rotator returns the row kernel for the pairing: only the plain-Go one here.
func rotator(pr Pairing) rotateFunc { return genericRotator(pr) }
