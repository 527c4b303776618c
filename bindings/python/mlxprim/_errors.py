"""The one place where libmlxprim status codes become Python exceptions.

Every failing call raises a subclass of :class:`MlxpError`. ``.status`` is the numeric
``mlxp_status`` and ``.message`` the library's ``mlxp_last_error()`` text (or, for the few
checks the binding makes before calling the library, the binding's own message).
"""

# Status codes, as assigned in include/mlxprim.h (never renumbered).
OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_SHAPE_MISMATCH = 2
ERR_UNSUPPORTED_DTYPE = 3
ERR_OUT_OF_MEMORY = 4
ERR_CAPACITY_EXHAUSTED = 5
ERR_INVALID_HANDLE = 6
ERR_NOT_FOUND = 7
ERR_CANCELLED = 8
ERR_INTERNAL = 9


class MlxpError(Exception):
    """Base class of every libmlxprim error."""

    status = None  # overridden by each subclass

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self):
        return self.message


class InvalidArgumentError(MlxpError, ValueError):
    """NULL pointer, bad value, bad stride or overlap (MLXP_ERR_INVALID_ARGUMENT)."""
    status = ERR_INVALID_ARGUMENT


class ShapeMismatchError(MlxpError, ValueError):
    """Shapes or ndim disagree with the op's contract (MLXP_ERR_SHAPE_MISMATCH)."""
    status = ERR_SHAPE_MISMATCH


class UnsupportedDtypeError(MlxpError, TypeError):
    """The dtype is unknown or not accepted by the op (MLXP_ERR_UNSUPPORTED_DTYPE)."""
    status = ERR_UNSUPPORTED_DTYPE


class OutOfMemoryError(MlxpError, MemoryError):
    """An allocation failed or a size overflows (MLXP_ERR_OUT_OF_MEMORY)."""
    status = ERR_OUT_OF_MEMORY


class CapacityExhaustedError(MlxpError):
    """A fixed-capacity object is full (MLXP_ERR_CAPACITY_EXHAUSTED)."""
    status = ERR_CAPACITY_EXHAUSTED


class InvalidHandleError(MlxpError):
    """A stale, destroyed or foreign handle (MLXP_ERR_INVALID_HANDLE)."""
    status = ERR_INVALID_HANDLE


class NotFoundError(MlxpError, LookupError):
    """A named item does not exist (MLXP_ERR_NOT_FOUND)."""
    status = ERR_NOT_FOUND


class CancelledError(MlxpError):
    """The operation was cancelled (MLXP_ERR_CANCELLED)."""
    status = ERR_CANCELLED


class InternalError(MlxpError):
    """An internal failure in the library (MLXP_ERR_INTERNAL)."""
    status = ERR_INTERNAL


_BY_STATUS = {
    cls.status: cls
    for cls in (
        InvalidArgumentError,
        ShapeMismatchError,
        UnsupportedDtypeError,
        OutOfMemoryError,
        CapacityExhaustedError,
        InvalidHandleError,
        NotFoundError,
        CancelledError,
        InternalError,
    )
}


def error_for_status(status, message):
    """The exception for a non-OK status; an unknown code gives a plain MlxpError."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        return MlxpError(message, status)
    return cls(message)
