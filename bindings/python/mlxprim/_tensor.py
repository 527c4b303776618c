"""Turn Python array objects into mlxp_tensor descriptors without copying.

Accepted, in this order of preference:
  1. NumPy arrays, any strides (negative and zero included): the descriptor points at the
     array's own memory, strides are converted from bytes to elements.
  2. Objects with ``__dlpack__`` (MLX, PyTorch, JAX, ...): the legacy "dltensor" capsule
     holds a DLManagedTensor whose first member, a DLTensor, is laid out exactly like
     mlxp_tensor, so its address is handed to the library as is. The capsule is kept alive
     for the call and left unconsumed, so the producer's deleter runs when it is collected.
  3. Buffer-protocol objects (memoryview, array.array, bytearray, ...) and objects with
     ``__array_interface__``: viewed through NumPy, again without a copy.
"""

import ctypes
import struct
import sys

import ml_dtypes
import numpy as np

from . import _lib
from ._errors import InvalidArgumentError, UnsupportedDtypeError

# NumPy dtype -> (DLPack code, bits). The header also has packed int4, which has no NumPy
# storage type (ml_dtypes.int4 keeps one element per byte), so it cannot come from NumPy.
_NUMPY_TO_DL = {
    np.dtype(np.float32): (_lib.DTYPE_FLOAT, 32),
    np.dtype(np.float16): (_lib.DTYPE_FLOAT, 16),
    np.dtype(ml_dtypes.bfloat16): (_lib.DTYPE_BFLOAT, 16),
    np.dtype(np.int8): (_lib.DTYPE_INT, 8),
    np.dtype(np.uint8): (_lib.DTYPE_UINT, 8),
    np.dtype(np.int32): (_lib.DTYPE_INT, 32),
    np.dtype(np.int64): (_lib.DTYPE_INT, 64),
    np.dtype(np.bool_): (_lib.DTYPE_BOOL, 8),
}
_DL_TO_NUMPY = {v: k for k, v in _NUMPY_TO_DL.items()}

_ACCEPTED = "float32, float16, bfloat16, int8, uint8, int32, int64, bool"

_PyCapsule_IsValid = ctypes.pythonapi.PyCapsule_IsValid
_PyCapsule_IsValid.restype = ctypes.c_int
_PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_PyCapsule_GetPointer = ctypes.pythonapi.PyCapsule_GetPointer
_PyCapsule_GetPointer.restype = ctypes.c_void_p
_PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


class TensorArg:
    """An mlxp_tensor plus everything that must outlive the call (array, capsule, shape)."""

    __slots__ = ("struct", "ref", "shape", "dtype", "_keep")

    def __init__(self, struct, shape, dtype, keep):
        self.struct = struct
        self.ref = ctypes.byref(struct)  # what the ctypes call receives
        self.shape = shape               # tuple of ints
        self.dtype = dtype               # NumPy dtype of the elements
        self._keep = keep


def ref(arg):
    """The pointer to pass for an optional tensor: NULL when absent."""
    return None if arg is None else arg.ref


def numpy_dtype(dtype, name):
    """The NumPy dtype for a user-given dtype, refusing what the library cannot hold."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise UnsupportedDtypeError(f"{name}: {dtype!r} is not a dtype ({e})") from None
    _dl_dtype(dt, name)
    return dt


def _dl_dtype(dt, name):
    try:
        return _NUMPY_TO_DL[dt]
    except KeyError:
        pass
    what = dt.name
    if dt.byteorder not in ("=", "|") and dt.newbyteorder("=") in _NUMPY_TO_DL:
        what = f"{dt.name} in non-native byte order ({dt.str})"
    raise UnsupportedDtypeError(
        f"{name}: dtype {what} is not supported by libmlxprim (accepted: {_ACCEPTED})"
    ) from None


def _dl_name(code, bits, lanes):
    dt = _DL_TO_NUMPY.get((code, bits))
    base = dt.name if dt is not None else f"code={code} bits={bits}"
    return base if lanes == 1 else f"{base} x{lanes} lanes"


# A C-contiguous NumPy array is described by reading its data and shape pointers from the
# array object itself (NumPy's PyArrayObject: the object header, then data, nd,
# dimensions, strides) and packing mlxp_tensor in one step: about a fifth of the time of
# __array_interface__ and ctypes field assignments, which dominated small calls. The
# layouts are checked once at import on a probe array; on any mismatch (another Python
# or NumPy build) every array takes the portable path below.
_ARRAY_FIELDS = ctypes.c_uint64 * 4                 # data, nd, dimensions, strides
_ARRAY_HEAD = object.__basicsize__                 # bytes before PyArrayObject.data
_TENSOR = struct.Struct("=QiiiBBHQQQ")            # mlxp_tensor, field by field


def _fast_layout_holds():
    """Whether mlxp_tensor and NumPy's array object have the layouts the fast path
    assumes. Only CPython's id() is an object's address."""
    if sys.implementation.name != "cpython":
        return False
    tensor_offsets = [getattr(_lib.Tensor, f).offset for f in
                      ("data", "device", "ndim", "dtype", "shape", "strides", "byte_offset")]
    if ctypes.sizeof(_lib.Tensor) != _TENSOR.size or tensor_offsets != [0, 8, 16, 20, 24, 32, 40]:
        return False
    if ctypes.sizeof(ctypes.c_ssize_t) != 8 or ctypes.sizeof(ctypes.c_void_p) != 8:
        return False
    probe = np.zeros((3, 5, 7), np.float32)
    f = _ARRAY_FIELDS.from_address(id(probe) + _ARRAY_HEAD)
    # Read the dimensions only once data and nd have matched.
    if f[0] != probe.__array_interface__["data"][0] or f[1] & 0xFFFFFFFF != 3 or not f[2]:
        return False
    dims = ctypes.cast(f[2], ctypes.POINTER(ctypes.c_int64))
    return (dims[0], dims[1], dims[2]) == probe.shape


_FAST = _fast_layout_holds()


def from_numpy(arr, name, writable=False):
    if writable and not arr.flags.writeable:
        raise InvalidArgumentError(f"{name}: the array is read-only and cannot receive output")
    code, bits = _dl_dtype(arr.dtype, name)
    if _FAST and arr.flags.c_contiguous:
        f = _ARRAY_FIELDS.from_address(id(arr) + _ARRAY_HEAD)
        nd = arr.ndim
        t = _lib.Tensor()
        _TENSOR.pack_into(t, 0, f[0], _lib.DEVICE_CPU, 0, nd, code, bits, 1,
                          f[2] if nd else 0, 0, 0)
        return TensorArg(t, arr.shape, arr.dtype, arr)  # arr owns data and shape
    itemsize = arr.dtype.itemsize
    nd = arr.ndim
    shape = (ctypes.c_int64 * nd)(*arr.shape)
    strides = None
    if not arr.flags.c_contiguous:
        # NumPy strides are in bytes, mlxp_tensor's in elements.
        for s in arr.strides:
            if s % itemsize:
                raise InvalidArgumentError(
                    f"{name}: stride of {s} bytes is not a multiple of the {itemsize}-byte "
                    "element size; such a view cannot be described to libmlxprim"
                )
        strides = (ctypes.c_int64 * nd)(*(s // itemsize for s in arr.strides))
    t = _lib.Tensor()
    t.data = arr.__array_interface__["data"][0]
    t.device.device_type = _lib.DEVICE_CPU
    t.device.device_id = 0
    t.ndim = nd
    t.dtype.code = code
    t.dtype.bits = bits
    t.dtype.lanes = 1
    if nd:
        t.shape = shape
    if strides is not None:
        t.strides = strides
    t.byte_offset = 0
    return TensorArg(t, tuple(arr.shape), arr.dtype, (arr, shape, strides))


def from_dlpack(obj, name):
    device = getattr(obj, "__dlpack_device__", None)
    if device is not None:
        dev_type, dev_id = device()
        if int(dev_type) != _lib.DEVICE_CPU:
            raise InvalidArgumentError(
                f"{name}: the DLPack tensor lives on device ({int(dev_type)}, {int(dev_id)}); "
                "libmlxprim accepts only CPU memory (kDLCPU = 1)"
            )
    capsule = obj.__dlpack__()
    if not _PyCapsule_IsValid(capsule, b"dltensor"):
        raise InvalidArgumentError(
            f"{name}: __dlpack__() did not return an unconsumed \"dltensor\" capsule"
        )
    # DLManagedTensor begins with its DLTensor, which is laid out as mlxp_tensor.
    t = _lib.Tensor.from_address(_PyCapsule_GetPointer(capsule, b"dltensor"))
    code, bits, lanes = t.dtype.code, t.dtype.bits, t.dtype.lanes
    dt = _DL_TO_NUMPY.get((code, bits))
    if dt is None or lanes != 1:
        raise UnsupportedDtypeError(
            f"{name}: DLPack dtype {_dl_name(code, bits, lanes)} is not supported by "
            f"libmlxprim (accepted: {_ACCEPTED})"
        )
    # The library validates ndim, shape and data itself; read the shape only when it is sane.
    if 0 <= t.ndim <= _lib.MAX_NDIM and (t.ndim == 0 or t.shape):
        shape = tuple(t.shape[i] for i in range(t.ndim))
    else:
        shape = None
    return TensorArg(t, shape, dt, (obj, capsule))


def as_tensor(obj, name, writable=False):
    """A TensorArg for obj, or None for None (passed to the library as NULL)."""
    if obj is None:
        return None
    if isinstance(obj, np.ndarray):
        return from_numpy(obj, name, writable)
    if hasattr(obj, "__dlpack__"):
        return from_dlpack(obj, name)
    try:
        view = memoryview(obj)
    except TypeError:
        view = None
    if view is not None:
        if writable and view.readonly:
            raise InvalidArgumentError(
                f"{name}: the buffer is read-only and cannot receive output"
            )
        try:
            arr = np.asarray(view)
        except (TypeError, ValueError) as e:  # e.g. pointer formats, ctypes bitfields
            raise UnsupportedDtypeError(
                f"{name}: buffer format {view.format!r} has no NumPy dtype ({e})"
            ) from None
        return from_numpy(arr, name, writable)
    if hasattr(obj, "__array_interface__") or hasattr(obj, "__array_struct__"):
        return from_numpy(np.asarray(obj), name, writable)
    raise InvalidArgumentError(
        f"{name}: expected a NumPy array, an object with __dlpack__ or a buffer, "
        f"got {type(obj).__name__}"
    )


def empty_like(arg):
    """A fresh C-contiguous NumPy array with arg's shape and dtype, or None when arg is
    absent or its shape could not be read (the library then reports the bad input)."""
    if arg is None or arg.shape is None:
        return None
    return np.empty(arg.shape, arg.dtype)
