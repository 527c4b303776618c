// Package lostexport imitates cgo output whose //export comment was lost: cgo's own
// export line remains, but no checked function carries that name.
package lostexport

type status int32

func guard(s *status) {
	if recover() != nil {
		*s = -1
	}
}

//go:cgo_export_dynamic kept
//go:cgo_export_dynamic lost // want `cgo exports lost, but no //export func lost was checked`

//export kept
func kept() (st status) {
	defer guard(&st)
	return 0
}

// lost lost its directive.
func lost() (st status) {
	return 0
}
