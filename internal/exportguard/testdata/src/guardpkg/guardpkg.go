// Package guardpkg provides a guard from outside the package that exports.
package guardpkg

// Guard recovers a panic into *s.
func Guard(s *int32) {
	if recover() != nil {
		*s = -1
	}
}
