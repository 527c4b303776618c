import numpy as np
import pytest

import mlxprim
from _ref import (BF16, DTYPE_IDS, DTYPES, assert_close, bits, data, residual_sum,
                  rms_norm_ref)

SHAPES = [(1,), (7,), (3, 31), (2, 3, 33), (1023,), (4, 256)]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_plain(shape, dtype):
    x = data(shape, dtype, seed=shape[-1])
    y = mlxprim.rms_norm(x)
    assert y.shape == shape and y.flags.c_contiguous
    assert_close(y, rms_norm_ref(x), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_weight_and_eps(shape, dtype):
    x = data(shape, dtype, seed=1 + shape[-1], scale=0.05)  # small, so eps matters
    w = data(shape[-1:], dtype, seed=2)
    for eps in (0.0, 1e-6, 1e-3, 0.5):
        assert_close(mlxprim.rms_norm(x, w, eps=eps), rms_norm_ref(x, w, eps=eps), dtype)


def test_default_eps_is_1e_6():
    x = data((3, 16), np.float32, seed=4, scale=1e-3)  # mean square ~1e-6, same as eps
    assert_close(mlxprim.rms_norm(x), rms_norm_ref(x, eps=1e-6), np.float32)
    assert (bits(mlxprim.rms_norm(x)) == bits(mlxprim.rms_norm(x, eps=1e-6))).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_residual(shape, dtype):
    x = data(shape, dtype, seed=20)
    r = data(shape, dtype, seed=21)
    w = data(shape[-1:], dtype, seed=22)
    out, h = mlxprim.rms_norm(x, w, r, eps=1e-5)
    assert_close(out, rms_norm_ref(x, w, r, eps=1e-5), dtype)
    # The header promises h is x + residual exactly as an unfused add in x's dtype.
    assert h.dtype == dtype and h.shape == shape
    assert (bits(h) == bits(residual_sum(x, r))).all()
    assert (bits(h) == bits((x + r).astype(dtype))).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_residual_out_without_residual_is_a_copy_of_x(dtype):
    x = data((3, 31), dtype, seed=23)
    ro = np.zeros_like(x)
    out = mlxprim.rms_norm(x, residual_out=ro)
    assert isinstance(out, np.ndarray)  # no residual: just out
    assert (bits(ro) == bits(x)).all()
    assert_close(out, rms_norm_ref(x), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_given_residual_out_is_written_and_returned(dtype):
    x = data((2, 3, 33), dtype, seed=24)
    r = data((2, 3, 33), dtype, seed=25)
    buf = np.zeros((2, 3, 66), dtype)
    ro = buf[..., ::2]
    out, ret = mlxprim.rms_norm(x, None, r, residual_out=ro)
    assert ret is ro
    assert (bits(ro) == bits(residual_sum(x, r))).all()
    assert (bits(buf[..., 1::2]) == 0).all()
    assert_close(out, rms_norm_ref(x, None, r), dtype)


@pytest.mark.parametrize("xdt", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("odt", DTYPES, ids=DTYPE_IDS)
def test_mixed_weight_and_residual_dtypes(xdt, odt):
    # weight and residual may each be any of the three float dtypes; outputs follow x.
    x = data((4, 40), xdt, seed=26)
    w = data((40,), odt, seed=27)
    r = data((4, 40), odt, seed=28)
    out, h = mlxprim.rms_norm(x, w, r)
    assert out.dtype == xdt and h.dtype == xdt
    assert_close(out, rms_norm_ref(x, w, r), xdt)
    assert_close(h, (x.astype(np.float64) + r.astype(np.float64)), xdt)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_in_place_out_is_x_and_residual_out_is_residual(dtype):
    x = data((5, 64), dtype, seed=30)
    r = data((5, 64), dtype, seed=31)
    w = data((64,), dtype, seed=32)
    ref_out = rms_norm_ref(x, w, r)
    ref_h = residual_sum(x, r)
    out, h = mlxprim.rms_norm(x, w, r, out=x, residual_out=r)
    assert out is x and h is r
    assert_close(x, ref_out, dtype)
    assert (bits(r) == bits(ref_h)).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_in_place_without_residual(dtype):
    x = data((3, 31), dtype, seed=33)
    ref = rms_norm_ref(x)
    assert mlxprim.rms_norm(x, out=x) is x
    assert_close(x, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_strided_inputs_and_outputs(dtype):
    big = data((8, 90), dtype, seed=34)
    x = big[::-2, 2::3]                           # negative and non-unit strides
    w = data((60,), dtype, seed=35)[::-2]         # reversed weight
    r = np.broadcast_to(data((30,), dtype, seed=36), (4, 30))  # zero row stride
    out_buf = np.zeros((4, 90), dtype)
    out = out_buf[:, ::3]
    res_buf = np.zeros((30, 4), dtype)
    ro = res_buf.T                                # transposed output
    got, got_h = mlxprim.rms_norm(x, w, r, out=out, residual_out=ro)
    assert got is out and got_h is ro
    assert_close(out, rms_norm_ref(x, w, r), dtype)
    assert (bits(ro) == bits(residual_sum(x, r))).all()
    mask = np.ones(out_buf.shape, bool)
    mask[:, ::3] = False
    assert (bits(out_buf[mask]) == 0).all(), "elements outside out were written"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", [(0, 8), (2, 0, 5)], ids=str)
def test_zero_rows(shape, dtype):
    x = np.zeros(shape, dtype)
    assert mlxprim.rms_norm(x, np.ones(shape[-1:], dtype)).shape == shape
    out, h = mlxprim.rms_norm(x, residual=np.zeros(shape, dtype))
    assert out.shape == shape and h.shape == shape


def test_zero_row_is_zero_with_positive_eps():
    x = np.zeros((2, 8), np.float32)
    np.testing.assert_array_equal(mlxprim.rms_norm(x, eps=1e-6), x)


def test_results_independent_of_thread_count():
    before = mlxprim.get_num_threads()
    x = data((512, 2048), BF16, seed=37)
    r = data((512, 2048), BF16, seed=38)
    w = data((2048,), np.float32, seed=39)
    try:
        mlxprim.set_num_threads(1)
        one, one_h = mlxprim.rms_norm(x, w, r)
        mlxprim.set_num_threads(2)
        two, two_h = mlxprim.rms_norm(x, w, r)
    finally:
        mlxprim.set_num_threads(before)
    assert (bits(one) == bits(two)).all()
    assert (bits(one_h) == bits(two_h)).all()
