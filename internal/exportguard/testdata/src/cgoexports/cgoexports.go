// Package cgoexports is a real cgo package: the analyzer sees cgo's processed files,
// and the diagnostics must still land on the lines of this file.
package main

/*
#include <stdint.h>
typedef int32_t mlxp_status;
*/
import "C"

func guard(status *C.mlxp_status) {
	if recover() != nil {
		*status = 9
	}
}

// mlxp_guarded follows the rule.
//
//export mlxp_guarded
func mlxp_guarded(n C.int32_t) (status C.mlxp_status) {
	defer guard(&status)
	return C.mlxp_status(n)
}

//export mlxp_unguarded
func mlxp_unguarded(n C.int32_t) (status C.mlxp_status) { // want `//export func mlxp_unguarded does not start with .defer guard\(&status\).`
	return C.mlxp_status(n)
}

//export mlxp_unnamed
func mlxp_unnamed(n C.int32_t) C.mlxp_status { // want `//export func mlxp_unnamed must have exactly one result, and it must be named` `//export func mlxp_unnamed does not start with .defer guard\(&<result>\).`
	return C.mlxp_status(n)
}

func main() {}
