// Package varguard declares guard as a package-level variable holding a closure.
package varguard

type status int32

var guard = func(s *status) {
	if recover() != nil {
		*s = -1
	}
}

//export viaVariable
func viaVariable() (st status) { // want `//export func viaVariable: deferred guard is a package-level variable, not the package-level func guard of package varguard`
	defer guard(&st)
	return 0
}
