// Command capi is the C ABI of libmlxprim, built with -buildmode=c-shared. It holds no
// algorithm: each exported function validates its arguments, converts descriptors to
// core types, calls one core function and maps the result to an mlxp_status.
// Every //export function starts with `defer guard(&status)` (checked by cmd/exportguard),
// so no Go panic ever unwinds into the host process.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -std=c11
#include "mlxprim.h"
#include "lasterror.h"
*/
import "C"

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
)

func main() {}

// guard turns a panic in an exported function into MLXP_ERR_INTERNAL with a message.
// It must be deferred directly so that recover sees the panic.
func guard(status *C.mlxp_status) {
	if r := recover(); r != nil {
		*status = fail(errs.New(errs.Internal, "internal error: %v", r))
	}
}

// fail records err as the calling thread's last error and returns its status code.
func fail(err error) C.mlxp_status {
	msg := err.Error()
	C.mlxpi_set_last_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
	return C.mlxp_status(errs.KindOf(err))
}

// result maps a core error (nil meaning success) to a status code.
func result(err error) C.mlxp_status {
	if err == nil {
		return C.MLXP_OK
	}
	return fail(err)
}

// invalid returns MLXP_ERR_INVALID_ARGUMENT with a formatted message.
func invalid(format string, args ...any) C.mlxp_status {
	return fail(errs.New(errs.InvalidArgument, format, args...))
}

// staticString returns a C copy of s that lives for the whole process (never freed):
// strings handed to C callers must not be Go memory.
func staticString(s string) *C.char { return C.CString(s) }

// lastError returns the calling thread's last error message (for tests).
func lastError() string { return C.GoString(C.mlxp_last_error()) }

// statusCode names the C status type for Go code that cannot mention C (tests).
type statusCode = C.mlxp_status
