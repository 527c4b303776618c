"""matmul, linear and gated_linear against float64 NumPy references."""

import numpy as np
import pytest

import mlxprim
from _ref import BF16, DTYPE_IDS, DTYPES, U32, bits, data, f64
from test_errors import lib_error

F32 = np.float32

# Error bound. Accumulating K products in float32 in any order errs by at most
# gamma_K = K*u/(1 - K*u) times sum_k |a_ik||b_kj| (Higham, Accuracy and Stability of
# Numerical Algorithms, eq. 3.5); products of float16/bfloat16 inputs are exact in
# float32, and the avx512bf16 path sums pairs of them in float32, still inside that bound.
# So |got - ref| <= |alpha| (K+2) U32 (|a| @ |b|) + |beta c| U32 + (rounding of the
# float32 result into out's dtype: half an ulp of it, 2^-11 float16, 2^-8 bfloat16,
# 2^-24 float32). A relative tolerance on |ref| alone would not do: a sum of mixed signs
# can be far smaller than its terms.
OUT_ULP = {np.dtype(F32): U32, np.dtype(np.float16): 2.0**-11, BF16: 2.0**-8}


def assert_matmul(got, ref, absref, k, out_dtype, extra=0.0):
    got = np.asarray(got)
    assert got.dtype == out_dtype and got.shape == ref.shape
    bound = (k + 2) * U32 * absref + extra
    bound = bound + OUT_ULP[np.dtype(out_dtype)] * (np.abs(ref) + bound) + 1e-30
    err = np.abs(f64(got) - ref)
    assert (err <= bound).all(), f"max excess {np.max(err - bound)}"


def op(t, trans):
    return np.swapaxes(t, -1, -2) if trans else t


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 17, 5), (33, 64, 31), (1, 300, 7),
                                   (70, 5, 1), (16, 128, 48)], ids=str)
def test_matmul_2d(m, k, n, dtype):
    a = data((m, k), dtype, seed=m + k)
    b = data((k, n), dtype, seed=n + 100)
    c = mlxprim.matmul(a, b)
    assert c.flags.c_contiguous
    assert_matmul(c, f64(a) @ f64(b), np.abs(f64(a)) @ np.abs(f64(b)), k, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_trans_flags_alpha_beta(ta, tb, dtype):
    m, k, n = 9, 40, 13
    a = data((k, m) if ta else (m, k), dtype, seed=1)
    b = data((n, k) if tb else (k, n), dtype, seed=2)
    c0 = data((m, n), F32, seed=3)
    for alpha, beta in [(1.0, 0.0), (0.5, 0.0), (-2.0, 1.0), (1.5, -0.25)]:
        c = c0.copy()
        got = mlxprim.matmul(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=c)
        assert got is c
        A, B = op(f64(a), ta), op(f64(b), tb)
        alpha32, beta32 = float(F32(alpha)), float(F32(beta))
        ref = alpha32 * (A @ B) + beta32 * f64(c0)
        absref = abs(alpha32) * (np.abs(A) @ np.abs(B))
        assert_matmul(c, ref, absref, k, F32, extra=3 * U32 * np.abs(beta32 * f64(c0)))


def test_beta_zero_never_reads_c():
    a, b = data((4, 8), F32, seed=4), data((8, 3), F32, seed=5)
    c = np.full((4, 3), np.nan, F32)
    mlxprim.matmul(a, b, out=c)
    assert np.isfinite(c).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("ashape,bshape", [
    ((2, 3, 5, 7), (7, 4)),            # b shared by the whole batch
    ((5, 7), (2, 7, 4)),               # a shared
    ((2, 1, 5, 7), (1, 3, 7, 4)),      # both broadcast
    ((4, 1, 6), (4, 6, 2)),            # M = 1 per batch
], ids=str)
def test_broadcast_batch(ashape, bshape, dtype):
    a = data(ashape, dtype, seed=6)
    b = data(bshape, dtype, seed=7)
    c = mlxprim.matmul(a, b)
    ref = np.matmul(f64(a), f64(b))
    assert c.shape == ref.shape
    assert_matmul(c, ref, np.matmul(np.abs(f64(a)), np.abs(f64(b))), ashape[-1], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("out_dtype", DTYPES, ids=DTYPE_IDS)
def test_out_dtype(dtype, out_dtype):
    a, b = data((6, 50), dtype, seed=8), data((50, 9), dtype, seed=9)
    c = mlxprim.matmul(a, b, out_dtype=out_dtype)
    assert_matmul(c, f64(a) @ f64(b), np.abs(f64(a)) @ np.abs(f64(b)), 50, out_dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_strided_inputs_and_out(dtype):
    big_a = data((12, 80), dtype, seed=10)
    a = big_a[::-2, 1::2]                       # [6, 40], negative and non-unit strides
    b = data((9, 40), dtype, seed=11).T         # [40, 9], transposed view
    buf = np.zeros((6, 18), F32)
    c = buf[:, ::2]
    assert mlxprim.matmul(a, b, out=c) is c
    assert_matmul(c, f64(a) @ f64(b), np.abs(f64(a)) @ np.abs(f64(b)), 40, F32)
    assert (buf[:, 1::2] == 0).all(), "elements outside out were written"


def test_zero_sizes():
    assert mlxprim.matmul(np.zeros((0, 4), F32), np.zeros((4, 3), F32)).shape == (0, 3)
    c = mlxprim.matmul(np.zeros((2, 0), F32), np.zeros((0, 3), F32))
    np.testing.assert_array_equal(c, np.zeros((2, 3)))


def test_row_result_independent_of_batch_and_threads():
    a = data((64, 256), BF16, seed=12)
    b = data((256, 96), BF16, seed=13)
    before = mlxprim.get_num_threads()
    try:
        mlxprim.set_num_threads(1)
        one = mlxprim.matmul(a, b, out_dtype=F32)
        mlxprim.set_num_threads(2)
        two = mlxprim.matmul(a, b, out_dtype=F32)
    finally:
        mlxprim.set_num_threads(before)
    assert (bits(one) == bits(two)).all()
    assert (bits(mlxprim.matmul(a[5:6], b, out_dtype=F32)) == bits(one[5:6])).all()


# --- linear -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("bias_dtype", [None] + DTYPES, ids=["nobias"] + DTYPE_IDS)
def test_linear(dtype, bias_dtype):
    x = data((2, 3, 48), dtype, seed=14)
    w = data((20, 48), dtype, seed=15)
    bias = None if bias_dtype is None else data((20,), bias_dtype, seed=16)
    y = mlxprim.linear(x, w, bias)
    ref = f64(x) @ f64(w).T + (0 if bias is None else f64(bias))
    extra = 0 if bias is None else U32 * np.abs(f64(bias))  # the float32 bias add
    assert y.shape == (2, 3, 20)
    assert_matmul(y, ref, np.abs(f64(x)) @ np.abs(f64(w)).T, 48, dtype, extra)


def test_linear_out_dtype_and_strided_out():
    x = data((5, 32), BF16, seed=17)
    w = data((8, 32), BF16, seed=18)[:, ::-1]
    buf = np.zeros((5, 16), F32)
    y = mlxprim.linear(x, w, out=buf[:, ::2])
    assert_matmul(y, f64(x) @ f64(w).T, np.abs(f64(x)) @ np.abs(f64(w)).T, 32, F32)
    assert (buf[:, 1::2] == 0).all()
    assert mlxprim.linear(x, w, out_dtype=np.float16).dtype == np.float16


# --- gated_linear -----------------------------------------------------------------------

def silu64(z):
    return z / (1 + np.exp(-z))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_gated_linear_swiglu(dtype):
    x = data((3, 64), dtype, seed=19, scale=0.5)
    wg = data((24, 64), dtype, seed=20, scale=0.3)
    wu = data((24, 64), dtype, seed=21, scale=0.3)
    got = mlxprim.gated_linear(x, wg, wu)
    g, u = f64(x) @ f64(wg).T, f64(x) @ f64(wu).T
    ref = silu64(g) * u
    # Each product errs by at most e = 66 U32 (|x| @ |w|) (as above); silu' is bounded by
    # 1.1, so the result errs by |u| 1.1 e_g + |silu(g)| e_u, plus a few float32 roundings
    # of the combination and the final rounding into out.
    eg = 66 * U32 * (np.abs(f64(x)) @ np.abs(f64(wg)).T)
    eu = 66 * U32 * (np.abs(f64(x)) @ np.abs(f64(wu)).T)
    err = 1.1 * np.abs(u) * eg + np.abs(silu64(g)) * eu + 8 * U32 * np.abs(ref)
    assert_matmul(got, ref, np.zeros_like(ref), 0, dtype, extra=err)


def test_gated_linear_gelu_equals_glu_of_float32_linears():
    x = data((4, 32), F32, seed=22)
    wg, wu = data((16, 32), F32, seed=23), data((16, 32), F32, seed=24)
    for kind in ("gelu", "gelu_tanh", "silu"):
        fused = mlxprim.gated_linear(x, wg, wu, kind)
        # The header: equals mlxp_glu applied to the two float32 linear results.
        unfused = mlxprim.glu(mlxprim.linear(x, wg), mlxprim.linear(x, wu), kind)
        assert (bits(fused) == bits(unfused)).all(), kind


# --- errors -----------------------------------------------------------------------------

def test_errors():
    a, b = data((3, 4), F32), data((4, 5), F32)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.matmul(a, data((5, 4), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.matmul(data((2, 3, 4), F32), data((3, 4, 5), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.matmul(a, b, out=np.zeros((3, 4), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.matmul(data((4,), F32), b)
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.matmul(a, b.astype(np.float16))
    lib_error(e, mlxprim.UnsupportedDtypeError)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.matmul(a, b, alpha=float("inf"))
    lib_error(e, mlxprim.InvalidArgumentError)
    buf = np.zeros(20, F32)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:  # out overlaps a
        mlxprim.matmul(buf[:12].reshape(3, 4), b, out=buf[5:20].reshape(3, 5))
    lib_error(e, mlxprim.InvalidArgumentError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.linear(data((2, 8), F32), data((3, 7), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.linear(data((2, 8), F32), data((3, 8), F32), np.zeros(4, F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.InvalidArgumentError, match="unknown kind 'relu'"):
        mlxprim.gated_linear(a, a, a, "relu")
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.gated_linear(a, a.astype(BF16), a)
    lib_error(e, mlxprim.UnsupportedDtypeError)
