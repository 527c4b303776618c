// Package errs defines the typed errors every core package returns. Each error carries a
// Kind that the C API maps one-to-one onto an mlxp_status code, and a message meant for
// the caller (it names the offending argument).
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies a failure. The values mirror the MLXP_ERR_* status codes of the C
// header and are never renumbered.
type Kind int

// The kinds of failure. Their numeric values equal the C status codes.
const (
	InvalidArgument   Kind = 1
	ShapeMismatch     Kind = 2
	UnsupportedDtype  Kind = 3
	OutOfMemory       Kind = 4
	CapacityExhausted Kind = 5
	InvalidHandle     Kind = 6
	NotFound          Kind = 7
	Cancelled         Kind = 8
	Internal          Kind = 9
)

// String returns the fixed short description of the kind, as mlxp_status_string gives it.
func (k Kind) String() string {
	switch k {
	case InvalidArgument:
		return "invalid argument"
	case ShapeMismatch:
		return "shape mismatch"
	case UnsupportedDtype:
		return "unsupported dtype"
	case OutOfMemory:
		return "out of memory"
	case CapacityExhausted:
		return "capacity exhausted"
	case InvalidHandle:
		return "invalid handle"
	case NotFound:
		return "not found"
	case Cancelled:
		return "cancelled"
	case Internal:
		return "internal error"
	}
	return "unknown status"
}

// Error is a failure of a given Kind with a message for the caller.
type Error struct {
	Kind Kind
	Msg  string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Msg }

// New returns an *Error of kind k with a formatted message.
func New(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// KindOf reports the Kind of err: the Kind of the first *Error in its chain, or Internal
// for any other non-nil error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}
