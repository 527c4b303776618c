// Package otherpkg defers a guard that belongs to another package.
package otherpkg

import "guardpkg"

//export fromOtherPackage
func fromOtherPackage() (st int32) { // want `//export func fromOtherPackage: deferred guardpkg.Guard is func Guard of package guardpkg, not the package-level func guard of package otherpkg`
	defer guardpkg.Guard(&st)
	return 0
}
