"""The three input paths: NumPy, DLPack and the buffer protocol."""

import array
import ctypes

import numpy as np
import pytest

import mlxprim
from _dlpack import DLPackOnly, RawDLPack
from _ref import (BF16, DTYPE_IDS, DTYPES, assert_close, assert_softmax, bits, data,
                  rms_norm_ref)


# ---------------------------------------------------------------------------------------
# DLPack
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_dlpack_only_object_as_input_and_output(dtype):
    x = data((3, 31), dtype, seed=40)
    y = mlxprim.softmax(DLPackOnly(x))
    assert isinstance(y, np.ndarray) and y.dtype == dtype and y.shape == x.shape
    assert_softmax(y, x)
    out = np.zeros_like(x)
    ret = mlxprim.softmax(DLPackOnly(x), out=DLPackOnly(out))
    assert isinstance(ret, DLPackOnly)
    assert (bits(out) == bits(y)).all(), "out written in place through DLPack"


def test_dlpack_strided_views():
    base = data((6, 40), np.float32, seed=41)
    for x in (base[:, ::2], base[::-1], base[::-2, ::-3]):
        assert_softmax(mlxprim.softmax(DLPackOnly(x)), x)
    w = data((40,), np.float32, seed=42)
    out = np.zeros((6, 80), np.float32)[:, 1::2]
    mlxprim.rms_norm(DLPackOnly(base), DLPackOnly(w), out=DLPackOnly(out))
    assert_close(out, rms_norm_ref(base, w), np.dtype(np.float32))


def test_dlpack_in_place():
    x = data((4, 17), np.float32, seed=43)
    x0 = x.copy()
    d = DLPackOnly(x)
    mlxprim.softmax(d, out=d)
    assert_softmax(x, x0)


def test_in_place_across_paths():
    # The same memory described once by NumPy (row-major, NULL strides) and once through
    # DLPack or a memoryview is still "the very same tensor".
    x = data((3, 12), np.float32, seed=49)
    x0 = x.copy()
    mlxprim.softmax(x, out=DLPackOnly(x))
    assert_softmax(x, x0)
    y = data((3, 12), np.float32, seed=49)
    mlxprim.softmax(y, out=memoryview(y))
    assert (bits(y) == bits(x)).all()


def test_dlpack_byte_offset_is_honoured():
    buf = data((10,), np.float32, seed=44)
    raw = RawDLPack(buf.ctypes.data, (2, 4), byte_offset=8, keep=buf)  # skips 2 floats
    assert_softmax(mlxprim.softmax(raw), buf[2:].reshape(2, 4))


def test_dlpack_explicit_negative_strides():
    buf = data((12,), np.float32, seed=45)
    # Rows read backwards from the last element: element [i, j] = buf[11 - 4i - j].
    raw = RawDLPack(buf.ctypes.data + 11 * 4, (3, 4), strides=(-4, -1), keep=buf)
    assert_softmax(mlxprim.softmax(raw), buf[::-1].reshape(3, 4))


def _mlx():
    # MLX is a test requirement (mlx[cpu]); skipped only where it cannot be installed.
    return pytest.importorskip("mlx.core")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_mlx_arrays(dtype):
    mx = _mlx()
    xd = data((3, 33), dtype, seed=46)
    wd = data((33,), dtype, seed=47)
    mxdt = {np.dtype(np.float32): mx.float32, np.dtype(np.float16): mx.float16,
            BF16: mx.bfloat16}[np.dtype(dtype)]
    # Build the MLX arrays from float32 (exact for every dtype here) and cast in MLX.
    x = mx.array(xd.astype(np.float32)).astype(mxdt)
    w = mx.array(wd.astype(np.float32)).astype(mxdt)
    y = mlxprim.softmax(x, temperature=0.6)
    assert isinstance(y, np.ndarray) and y.dtype == dtype
    assert_softmax(y, xd, 0.6)
    assert_close(mlxprim.rms_norm(x, w), rms_norm_ref(xd, wd), np.dtype(dtype))
    out, h = mlxprim.rms_norm(x, w, residual=x)
    assert_close(out, rms_norm_ref(xd, wd, xd), np.dtype(dtype))


def test_mlx_non_contiguous_view():
    mx = _mlx()
    xd = data((8, 20), np.float32, seed=48)
    x = mx.array(xd)[::2, 1:]
    assert_softmax(mlxprim.softmax(x), xd[::2, 1:])


def test_dlpack_device_must_be_cpu():
    buf = np.zeros(4, np.float32)
    # Reported by __dlpack_device__: refused before the capsule is even requested.
    with pytest.raises(mlxprim.InvalidArgumentError, match="CPU"):
        mlxprim.softmax(RawDLPack(buf.ctypes.data, (4,), device=(2, 0), keep=buf,
                                  report_device=(2, 0)))
    # Only in the DLTensor: the library refuses it.
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.softmax(RawDLPack(buf.ctypes.data, (4,), device=(2, 0), keep=buf),
                        out=np.zeros(4, np.float32))
    assert e.value.message == mlxprim._lib.last_error()


def test_dlpack_null_data_is_reported_by_the_library():
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.softmax(RawDLPack(None, (2, 3)))
    assert e.value.message and e.value.message == mlxprim._lib.last_error()


@pytest.mark.parametrize("code,bits_,lanes", [(2, 64, 1), (5, 64, 1), (2, 32, 4), (3, 8, 1)],
                         ids=["float64", "complex64", "float32x4", "opaque"])
def test_dlpack_unsupported_dtypes(code, bits_, lanes):
    buf = np.zeros(16, np.float64)
    with pytest.raises(mlxprim.UnsupportedDtypeError, match="not supported"):
        mlxprim.softmax(RawDLPack(buf.ctypes.data, (2,), code=code, bits=bits_,
                                  lanes=lanes, keep=buf))


def test_dlpack_capsule_is_released():
    # The capsule is left unconsumed, so the producer's deleter runs when it is collected;
    # NumPy's deleter drops its reference to the array.
    import sys
    x = np.ones((2, 3), np.float32)
    before = sys.getrefcount(x)
    for _ in range(50):
        mlxprim.softmax(DLPackOnly(x))
    assert sys.getrefcount(x) == before


# ---------------------------------------------------------------------------------------
# Buffer protocol
# ---------------------------------------------------------------------------------------

def test_array_array_input_and_output():
    vals = data((13,), np.float32, seed=50)
    x = array.array("f", vals.tolist())
    y = mlxprim.softmax(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert_softmax(y, vals)
    out = array.array("f", [0.0] * 13)
    assert mlxprim.softmax(x, out=out) is out
    assert (bits(np.frombuffer(out, np.float32)) == bits(y)).all()


def test_memoryview_float16():
    vals = data((9,), np.float16, seed=51)
    x = memoryview(vals)  # buffer format "e"
    assert x.format == "e"
    assert_softmax(mlxprim.softmax(x), vals)


# NumPy warns that it guesses a type for some ctypes formats before it gives up.
@pytest.mark.filterwarnings("ignore:A builtin ctypes object:RuntimeWarning")
def test_buffer_format_without_numpy_dtype():
    """Buffers whose format NumPy cannot read (pointers, ctypes bitfields) are reported as
    an unsupported dtype naming the format, not as NumPy's own exception."""

    class Bits(ctypes.Structure):
        _fields_ = [("a", ctypes.c_int, 3), ("b", ctypes.c_int, 5)]

    for buf in ((ctypes.c_void_p * 4)(), (Bits * 4)()):
        fmt = memoryview(buf).format
        with pytest.raises(mlxprim.UnsupportedDtypeError, match="has no NumPy dtype") as e:
            mlxprim.softmax(buf)
        assert repr(fmt) in str(e.value)


def test_memoryview_of_strided_array():
    base = data((5, 30), np.float32, seed=52)
    x = base[:, ::3]
    y = mlxprim.rms_norm(memoryview(x), eps=1e-5)
    assert_close(y, rms_norm_ref(x, eps=1e-5), np.dtype(np.float32))
    buf = np.zeros((5, 20), np.float32)
    out = memoryview(buf[:, ::2])
    mlxprim.rms_norm(x, out=out, eps=1e-5)
    assert (bits(buf[:, ::2]) == bits(y)).all() and (buf[:, 1::2] == 0).all()


def test_memoryview_cast_2d():
    vals = data((3, 4), np.float32, seed=53)
    mv = memoryview(bytearray(vals.tobytes())).cast("f", (3, 4))
    assert_softmax(mlxprim.softmax(mv), vals)
    # and written in place
    mlxprim.softmax(mv, out=mv)
    assert_softmax(np.asarray(mv), vals)


def test_ctypes_array_input():
    vals = data((6,), np.float32, seed=54)
    x = (ctypes.c_float * 6)(*vals.tolist())
    assert_softmax(mlxprim.softmax(x), vals)


def test_numpy_descriptor_from_the_array_object_matches_the_portable_one():
    """C-contiguous NumPy arrays are described from the array object's own fields (the
    layout is checked at import); the descriptor must equal the portable one."""
    from mlxprim import _tensor
    assert _tensor._FAST, "the array layout check failed on this platform"
    arrays = (np.zeros((), np.float32), np.arange(7, dtype=np.float16),
              data((3, 4, 5), np.float32, seed=43), np.zeros((2, 0, 3), np.int8),
              np.ones((1, 4096), BF16))
    for arr in arrays:
        fast = _tensor.from_numpy(arr, "x")
        _tensor._FAST = False
        try:
            slow = _tensor.from_numpy(arr, "x")
        finally:
            _tensor._FAST = True
        for t in (fast.struct, slow.struct):
            assert t.data == arr.__array_interface__["data"][0]
            assert (t.device.device_type, t.device.device_id, t.ndim) == (1, 0, arr.ndim)
            assert t.byte_offset == 0 and not t.strides
        assert (fast.struct.dtype.code, fast.struct.dtype.bits, fast.struct.dtype.lanes) == \
            (slow.struct.dtype.code, slow.struct.dtype.bits, slow.struct.dtype.lanes)
        shape = tuple(fast.struct.shape[i] for i in range(arr.ndim))
        assert shape == arr.shape == fast.shape == slow.shape
