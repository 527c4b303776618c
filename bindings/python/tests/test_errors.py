"""Every bad input raises the right MlxpError subclass. Errors found by the library carry
its own message (mlxp_last_error); the few the binding must catch itself (dtypes it cannot
describe, read-only outputs) are raised before any library call."""

import array

import numpy as np
import pytest

import mlxprim
from _ref import BF16, bits, data

F32 = np.float32


def lib_error(excinfo, cls, *keywords):
    """Check a library-reported error: class, status and the library's own message."""
    e = excinfo.value
    assert type(e) is cls
    assert e.status == cls.status
    assert e.message, "empty message"
    assert e.message == mlxprim._lib.last_error() == str(e)
    low = e.message.lower()
    for k in keywords:
        assert k in low, (k, e.message)


def baseline():
    """Make a known library failure, so a later unchanged last_error() proves that the
    library was not called."""
    with pytest.raises(mlxprim.MlxpError):
        mlxprim.set_num_threads(-5)
    return mlxprim._lib.last_error()


def test_none_input():
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.softmax(None)
    lib_error(e, mlxprim.InvalidArgumentError)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.rms_norm(None)
    lib_error(e, mlxprim.InvalidArgumentError)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.softmax(None, out=np.zeros(3, F32))
    lib_error(e, mlxprim.InvalidArgumentError)


def test_mismatched_shapes():
    x = data((3, 8), F32)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.softmax(x, out=np.zeros((3, 9), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.softmax(x, out=np.zeros((8, 3), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.rms_norm(x, np.ones(7, F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.rms_norm(x, np.ones((1, 8), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.rms_norm(x, None, np.ones((3, 7), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.rms_norm(x, None, np.ones((3, 8), F32), residual_out=np.ones((3, 7), F32))
    lib_error(e, mlxprim.ShapeMismatchError)


@pytest.mark.parametrize("shape", [(0,), (3, 0)], ids=str)
def test_empty_last_axis(shape):
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.softmax(np.zeros(shape, F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.rms_norm(np.zeros(shape, F32))
    lib_error(e, mlxprim.ShapeMismatchError)


def test_scalar_input():
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.softmax(np.ones((), F32))
    lib_error(e, mlxprim.ShapeMismatchError)


@pytest.mark.parametrize("dtype", [np.float64, np.complex64, np.int16, np.uint32,
                                   np.dtype(">f4")], ids=str)
def test_unsupported_dtype_is_refused_before_the_call(dtype):
    before = baseline()
    x = np.zeros((2, 4), dtype)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.softmax(x)
    assert e.value.status == 3
    assert np.dtype(dtype).name in e.value.message and "not supported" in e.value.message
    with pytest.raises(mlxprim.UnsupportedDtypeError):
        mlxprim.rms_norm(data((2, 4), F32), weight=np.ones(4, dtype))
    with pytest.raises(mlxprim.UnsupportedDtypeError):
        mlxprim.softmax(data((2, 4), F32), out=np.zeros((2, 4), dtype))
    assert mlxprim._lib.last_error() == before, "the library was called"


def test_float64_message_names_the_argument():
    with pytest.raises(mlxprim.UnsupportedDtypeError, match=r"^weight: dtype float64"):
        mlxprim.rms_norm(data((2, 4), F32), np.ones(4))


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.uint8, np.int64, np.bool_])
def test_integer_tensors_are_refused_by_the_op(dtype):
    # The tensor dtypes of the header pass the binding; the op itself refuses them.
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.softmax(np.ones((2, 4), dtype))
    lib_error(e, mlxprim.UnsupportedDtypeError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.rms_norm(np.ones((2, 4), dtype))
    lib_error(e, mlxprim.UnsupportedDtypeError)


@pytest.mark.parametrize("xdt,odt", [(F32, np.float16), (np.float16, BF16), (BF16, F32)],
                         ids=["f32->f16", "f16->bf16", "bf16->f32"])
def test_out_dtype_mismatch(xdt, odt):
    x = data((2, 5), xdt)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.softmax(x, out=np.zeros((2, 5), odt))
    lib_error(e, mlxprim.UnsupportedDtypeError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.rms_norm(x, out=np.zeros((2, 5), odt))
    lib_error(e, mlxprim.UnsupportedDtypeError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.rms_norm(x, None, x, residual_out=np.zeros((2, 5), odt))
    lib_error(e, mlxprim.UnsupportedDtypeError)


def test_overlap_at_an_offset_is_refused_and_nothing_is_written():
    buf = data((24,), F32, seed=60)
    keep = buf.copy()
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.softmax(buf[0:16], out=buf[1:17])
    lib_error(e, mlxprim.InvalidArgumentError, "overlap")
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.rms_norm(buf[0:16].reshape(2, 8), out=buf[8:24].reshape(2, 8))
    lib_error(e, mlxprim.InvalidArgumentError, "overlap")
    # Same memory, different view (rows reversed): not "the very same tensor".
    m = buf[:16].reshape(2, 8)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.softmax(m, out=m[::-1])
    lib_error(e, mlxprim.InvalidArgumentError, "overlap")
    assert (bits(buf) == bits(keep)).all()


def test_out_and_residual_out_the_same_memory():
    x = data((2, 8), F32)
    r = data((2, 8), F32, seed=1)
    o = np.zeros((2, 8), F32)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.rms_norm(x, None, r, out=o, residual_out=o)
    lib_error(e, mlxprim.InvalidArgumentError)


@pytest.mark.parametrize("t", [-1.0, 0.0, float("nan"), float("inf"), -float("inf"), 1e300])
def test_bad_temperature(t):
    x = data((2, 6), F32)
    out = np.full((2, 6), 5.0, F32)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.softmax(x, temperature=t, out=out)
    lib_error(e, mlxprim.InvalidArgumentError, "temperature")
    assert (out == 5.0).all(), "failed call wrote its output"


@pytest.mark.parametrize("eps", [float("nan"), -1e-6, float("inf"), 1e300])
def test_bad_eps(eps):
    x = data((2, 6), F32)
    out = np.full((2, 6), 5.0, F32)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.rms_norm(x, eps=eps, out=out)
    lib_error(e, mlxprim.InvalidArgumentError, "eps")
    assert (out == 5.0).all(), "failed call wrote its output"


def test_read_only_out_is_refused_before_the_call():
    before = baseline()
    x = data((2, 4), F32)
    ro = np.zeros((2, 4), F32)
    ro.flags.writeable = False
    with pytest.raises(mlxprim.InvalidArgumentError, match="read-only"):
        mlxprim.softmax(x, out=ro)
    with pytest.raises(mlxprim.InvalidArgumentError, match="read-only"):
        mlxprim.softmax(x, out=np.broadcast_to(np.zeros(4, F32), (2, 4)))
    with pytest.raises(mlxprim.InvalidArgumentError, match="read-only"):
        mlxprim.softmax(x.ravel(), out=bytes(32))
    with pytest.raises(mlxprim.InvalidArgumentError, match="read-only"):
        mlxprim.rms_norm(x, None, x, residual_out=ro)
    assert mlxprim._lib.last_error() == before


def test_undescribable_strides_and_objects():
    raw = np.zeros(40, np.uint8)
    # float32 elements 6 bytes apart: no element stride describes this view.
    weird = np.ndarray((3,), F32, buffer=raw.data, offset=0, strides=(6,))
    with pytest.raises(mlxprim.InvalidArgumentError, match="stride"):
        mlxprim.softmax(weird)
    with pytest.raises(mlxprim.InvalidArgumentError, match="list"):
        mlxprim.softmax([1.0, 2.0])
    with pytest.raises(mlxprim.UnsupportedDtypeError, match="float64"):
        mlxprim.softmax(array.array("d", [1.0, 2.0]))


def test_too_many_dims():
    x = np.zeros((1,) * 17 + (2,), F32)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.softmax(x)
    lib_error(e, mlxprim.InvalidArgumentError)


def test_messages_are_per_thread():
    # mlxp_last_error is thread-local; the binding reads it on the calling thread, so
    # concurrent failures each report their own message.
    import threading
    x = data((2, 6), F32)
    failures = []

    def worker(k):
        for _ in range(200):
            try:
                mlxprim.softmax(x, temperature=-float(k))
            except mlxprim.InvalidArgumentError as e:
                if f"got -{k}" not in e.message:
                    failures.append((k, e.message))
            else:
                failures.append((k, "no error"))
            mlxprim.softmax(x)  # successful calls in between change nothing

    threads = [threading.Thread(target=worker, args=(k,)) for k in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
