import numpy as np
import pytest

import mlxprim
from _ref import DTYPE_IDS, DTYPES, assert_softmax, bits, data

SHAPES = [(1,), (7,), (3, 31), (2, 3, 33), (1023,), (4, 256)]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_softmax_matches_reference(shape, dtype):
    x = data(shape, dtype, seed=len(shape) * 1000 + shape[-1])
    y = mlxprim.softmax(x)
    assert y.shape == x.shape and y.flags.c_contiguous
    assert_softmax(y, x)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_log_softmax_matches_reference(shape, dtype):
    x = data(shape, dtype, seed=7 + shape[-1])
    assert_softmax(mlxprim.log_softmax(x), x, log=True)
    assert_softmax(mlxprim.softmax(x, log=True), x, log=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("temperature", [0.25, 0.7, 1.0, 3.5])
def test_temperature(dtype, temperature):
    x = data((5, 40), dtype, seed=3)
    assert_softmax(mlxprim.softmax(x, temperature=temperature), x, temperature)
    assert_softmax(mlxprim.log_softmax(x, temperature=temperature), x, temperature, log=True)


def test_single_element_row_is_one():
    x = np.array([[-3.0], [42.0]], dtype=np.float32)
    np.testing.assert_array_equal(mlxprim.softmax(x), np.ones((2, 1), np.float32))
    np.testing.assert_array_equal(mlxprim.log_softmax(x), np.zeros((2, 1), np.float32))


def test_special_values():
    # Header: an all -inf row has no distribution (NaN); +inf or NaN poisons its row;
    # a -inf entry among finite ones gets probability 0 (log-prob -inf).
    x = np.array([[-np.inf, -np.inf, -np.inf],
                  [1.0, np.inf, 0.0],
                  [1.0, np.nan, 0.0],
                  [0.0, -np.inf, 0.0]], dtype=np.float32)
    y = mlxprim.softmax(x)
    assert np.isnan(y[:3]).all()
    np.testing.assert_array_equal(y[3], [0.5, 0.0, 0.5])
    ly = mlxprim.log_softmax(x)
    assert np.isnan(ly[:3]).all()
    assert ly[3, 1] == -np.inf
    np.testing.assert_allclose(ly[3, [0, 2]], [-np.log(2)] * 2, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", [(0, 8), (2, 0, 5)], ids=str)
def test_zero_rows(shape, dtype):
    x = np.zeros(shape, dtype)
    y = mlxprim.softmax(x)
    assert y.shape == shape and y.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_non_contiguous_and_negative_strides(dtype):
    base = data((6, 70), dtype, seed=11)
    views = {
        "every other column": base[:, ::2],
        "reversed": base[::-1, ::-1],
        "transposed": base[:, :9].T,
        "step 3 reversed rows": base[::-3, 1::3],
        "broadcast (zero stride)": np.broadcast_to(base[2], (4, 70)),
    }
    for name, x in views.items():
        assert not x.flags.c_contiguous, name
        assert_softmax(mlxprim.softmax(x, temperature=0.9), x, 0.9)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_strided_out_is_written_in_place(dtype):
    x = data((3, 20), dtype, seed=5)
    guard = np.array(-7.0, dtype)
    buf = np.full((6, 41), guard, dtype)
    out = buf[::-2, 1::2]  # negative row stride, column stride 2
    ret = mlxprim.softmax(x, out=out)
    assert ret is out
    assert_softmax(out, x)
    mask = np.ones(buf.shape, bool)
    mask[::-2, 1::2] = False
    assert (bits(buf[mask]) == bits(np.full(mask.sum(), guard, dtype))).all(), \
        "elements outside out were written"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("log", [False, True])
def test_in_place(dtype, log):
    x = data((4, 33), dtype, seed=9)
    x0 = x.copy()
    ret = mlxprim.softmax(x, temperature=1.3, log=log, out=x)
    assert ret is x
    assert_softmax(x, x0, 1.3, log)
    # In place through a strided view too.
    y = data((4, 66), dtype, seed=10)
    v = y[:, ::2]
    v0 = v.copy()
    mlxprim.softmax(v, log=log, out=v)
    assert_softmax(v, v0, log=log)


def test_out_matches_fresh_output_bit_for_bit():
    x = data((8, 100), np.float32, seed=12)
    out = np.empty_like(x)
    mlxprim.softmax(x, out=out)
    assert (bits(out) == bits(mlxprim.softmax(x))).all()


def test_results_independent_of_thread_count():
    # Header: results do not depend on the number of threads, bit for bit.
    before = mlxprim.get_num_threads()
    x = data((512, 2048), np.float32, seed=13)
    try:
        mlxprim.set_num_threads(1)
        assert mlxprim.get_num_threads() == 1
        one = mlxprim.softmax(x, temperature=0.8)
        one_log = mlxprim.log_softmax(x)
        mlxprim.set_num_threads(2)
        assert mlxprim.get_num_threads() == 2
        two = mlxprim.softmax(x, temperature=0.8)
        two_log = mlxprim.log_softmax(x)
    finally:
        mlxprim.set_num_threads(before)
    assert (bits(one) == bits(two)).all()
    assert (bits(one_log) == bits(two_log)).all()
