"""Test-side DLPack producers, written from the DLPack spec (dlpack.h), independent of the
binding's own structures."""

import ctypes

PyCapsule_New = ctypes.pythonapi.PyCapsule_New
PyCapsule_New.restype = ctypes.py_object
PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_NAME = ctypes.create_string_buffer(b"dltensor")  # must outlive every capsule


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


class DLPackOnly:
    """Exposes nothing but __dlpack__/__dlpack_device__ of the wrapped array."""

    def __init__(self, arr):
        self._arr = arr

    def __dlpack__(self, stream=None):
        return self._arr.__dlpack__()

    def __dlpack_device__(self):
        return self._arr.__dlpack_device__()


class RawDLPack:
    """A hand-built DLManagedTensor (no deleter), to describe tensors NumPy cannot: NULL
    data, other devices, other dtypes, a byte_offset."""

    def __init__(self, data, shape, code=2, bits=32, lanes=1, strides=None,
                 byte_offset=0, device=(1, 0), keep=None, report_device=None):
        self._shape = (ctypes.c_int64 * len(shape))(*shape)
        self._strides = None if strides is None else (ctypes.c_int64 * len(strides))(*strides)
        m = DLManagedTensor()
        t = m.dl_tensor
        t.data = data
        t.device.device_type, t.device.device_id = device
        t.ndim = len(shape)
        t.dtype.code, t.dtype.bits, t.dtype.lanes = code, bits, lanes
        t.shape = self._shape
        if self._strides is not None:
            t.strides = self._strides
        t.byte_offset = byte_offset
        self._managed = m
        self._keep = keep  # the memory data points into
        self._report_device = report_device

    def __dlpack__(self, stream=None):
        return PyCapsule_New(ctypes.addressof(self._managed), _NAME, None)

    def __getattr__(self, name):
        # __dlpack_device__ only when asked for, to test both paths.
        if name == "__dlpack_device__" and self._report_device is not None:
            return lambda: self._report_device
        raise AttributeError(name)
