"""layer_norm, group_norm and the normalization backward passes against float64 NumPy
references written from the formulas in include/mlxprim.h."""

import numpy as np
import pytest

import mlxprim
from _ref import (BF16, DTYPE_IDS, DTYPES, TOL, U32, assert_close, bits, data, f64,
                  residual_sum)
from test_errors import lib_error

F32 = np.float32


def eps32(eps):
    return float(F32(eps))  # the library receives a C float


def _affine(n, weight, bias, cshape):
    """n * weight + bias, and the error bound of the library's result (see NORM_TOL)."""
    w = np.ones(cshape) if weight is None else f64(weight).reshape(cshape)
    b = np.zeros(cshape) if bias is None else f64(bias).reshape(cshape)
    return n * w + b, np.abs(n * w) + np.abs(b), np.abs(w)


def layer_norm_ref(x, weight=None, bias=None, residual=None, eps=1e-5, bound=False):
    h = f64(x if residual is None else residual_sum(x, residual))
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)
    r = 1 / np.sqrt(var + eps32(eps))
    out, size, absw = _affine((h - mu) * r, weight, bias, h.shape[-1:])
    if not bound:
        return out
    return out, norm_bound(size, np.abs(h).max(-1, keepdims=True) * r * absw, x.dtype)


def group_norm_ref(x, g, weight=None, bias=None, residual=None, eps=1e-5, bound=False):
    h = f64(x if residual is None else residual_sum(x, residual))
    n, c = h.shape[:2]
    hg = h.reshape(n, g, -1)
    mu = hg.mean(-1, keepdims=True)
    var = ((hg - mu) ** 2).mean(-1, keepdims=True)
    r = 1 / np.sqrt(var + eps32(eps))
    hr = np.broadcast_to(np.abs(hg).max(-1, keepdims=True) * r, hg.shape).reshape(h.shape)
    cshape = (1, c) + (1,) * (h.ndim - 2)
    out, size, absw = _affine(((hg - mu) * r).reshape(h.shape), weight, bias, cshape)
    if not bound:
        return out
    return out, norm_bound(size, hr * absw, x.dtype)


# NORM_TOL. The library computes mean, variance and h - mean in float32: h - mean errs by
# a few U32 max|h| (relative to the statistics of the row or group), which r = 1/sqrt(var
# + eps) and the weight scale, so the normalized value errs by up to ~4 U32 max|h| r |w|;
# 16 of those leave margin for the variance and rsqrt. The result n w + b is then rounded
# (float32 steps and once into the dtype): TOL's rtol times |n w| + |b| (not |out|, which
# can cancel to ~0). 1e-6 absolute covers float32 outputs near 0.
def norm_bound(size, hr, dtype):
    return TOL[np.dtype(dtype)]["rtol"] * size + 16 * U32 * hr + 1e-6


def assert_norm(got, ref_and_bound, dtype):
    ref, bound = ref_and_bound
    got = np.asarray(got)
    assert got.dtype == dtype and got.shape == ref.shape
    err = np.abs(f64(got) - ref)
    assert (err <= bound).all(), f"max excess {np.max(err - bound)}"


def shifted(shape, dtype, seed):
    return (f64(data(shape, F32, seed=seed)) + 0.5).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 31), (2, 3, 64), (4, 1000)], ids=str)
def test_layer_norm(shape, dtype):
    x = shifted(shape, dtype, seed=shape[-1])
    w = data(shape[-1:], dtype, seed=1)
    b = data(shape[-1:], dtype, seed=2)
    assert_norm(mlxprim.layer_norm(x), layer_norm_ref(x, bound=True), dtype)
    assert_norm(mlxprim.layer_norm(x, w, b, eps=1e-3),
                layer_norm_ref(x, w, b, eps=1e-3, bound=True), dtype)


def test_layer_norm_default_eps_is_1e_5():
    x = data((3, 16), F32, seed=3, scale=3e-3)  # variance ~1e-5, same as eps
    assert (bits(mlxprim.layer_norm(x)) == bits(mlxprim.layer_norm(x, eps=1e-5))).all()
    assert_norm(mlxprim.layer_norm(x), layer_norm_ref(x, eps=1e-5, bound=True), F32)


@pytest.mark.parametrize("xdt", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("odt", DTYPES, ids=DTYPE_IDS)
def test_layer_norm_residual_mixed_dtypes(xdt, odt):
    x = shifted((4, 40), xdt, seed=4)
    r = data((4, 40), odt, seed=5)
    w, b = data((40,), odt, seed=6), data((40,), odt, seed=7)
    out, h = mlxprim.layer_norm(x, w, b, r)
    assert out.dtype == xdt and h.dtype == xdt
    assert_norm(out, layer_norm_ref(x, w, b, r, bound=True), xdt)
    assert (bits(h) == bits(residual_sum(x, r))).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_layer_norm_in_place_and_strided(dtype):
    x = shifted((5, 64), dtype, seed=8)
    r = data((5, 64), dtype, seed=9)
    ref_out, ref_h = layer_norm_ref(x, None, None, r, bound=True), residual_sum(x, r)
    out, h = mlxprim.layer_norm(x, residual=r, out=x, residual_out=r)
    assert out is x and h is r
    assert_norm(x, ref_out, dtype)
    assert (bits(r) == bits(ref_h)).all()
    big = shifted((8, 90), dtype, seed=10)
    xs = big[::-2, 2::3]
    w = data((60,), dtype, seed=11)[::-2]
    buf = np.zeros((4, 60), dtype)
    got = mlxprim.layer_norm(xs, w, out=buf[:, ::2])
    assert_norm(got, layer_norm_ref(xs, w, bound=True), dtype)
    assert (bits(buf[:, 1::2]) == 0).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape,groups", [((2, 6), 3), ((2, 8, 5), 4), ((1, 6, 3, 4), 2),
                                          ((3, 4, 7), 1), ((2, 4, 9), 4)], ids=str)
def test_group_norm(shape, groups, dtype):
    x = shifted(shape, dtype, seed=12)
    c = shape[1]
    w, b = data((c,), dtype, seed=13), data((c,), dtype, seed=14)
    r = data(shape, dtype, seed=15)
    assert_norm(mlxprim.group_norm(x, groups), group_norm_ref(x, groups, bound=True), dtype)
    out, h = mlxprim.group_norm(x, groups, w, b, r, eps=1e-3)
    assert_norm(out, group_norm_ref(x, groups, w, b, r, eps=1e-3, bound=True), dtype)
    assert (bits(h) == bits(residual_sum(x, r))).all()


def test_group_norm_strided_in_place():
    x = shifted((2, 8, 12), F32, seed=16)[:, :, ::2]
    ref = group_norm_ref(x, 4, bound=True)
    assert mlxprim.group_norm(x, 4, out=x) is x
    assert_norm(x, ref, F32)


# --- backward ---------------------------------------------------------------------------
# Analytic float64 gradients, from the header's formulas; the helpers below also check
# these formulas by central finite differences of the float64 forward references.

def rms_forward64(h, w, eps):
    r = 1 / np.sqrt((h * h).mean(-1, keepdims=True) + eps)
    return h * r * w


def rms_backward_ref(h, dy, w=None, dres=None, eps=1e-6):
    h, dy = f64(h), f64(dy)
    wd = np.ones(h.shape[-1]) if w is None else f64(w)
    r = 1 / np.sqrt((h * h).mean(-1, keepdims=True) + eps32(eps))
    g = dy * wd
    dx = r * g - h * r**3 * (g * h).mean(-1, keepdims=True)
    if dres is not None:
        dx = dx + f64(dres)
    dw = (dy * h * r).reshape(-1, h.shape[-1]).sum(0)
    return dx, dw


def ln_backward_rows(h, dy, wd, eps):
    """Layer-norm backward over the last axis of float64 arrays: (dx, xhat)."""
    mu = h.mean(-1, keepdims=True)
    r = 1 / np.sqrt(((h - mu) ** 2).mean(-1, keepdims=True) + eps)
    xhat = (h - mu) * r
    g = dy * wd
    dx = r * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
    return dx, xhat


def ln_backward_ref(h, dy, w=None, dres=None, eps=1e-5):
    h, dy = f64(h), f64(dy)
    wd = np.ones(h.shape[-1]) if w is None else f64(w)
    dx, xhat = ln_backward_rows(h, dy, wd, eps32(eps))
    if dres is not None:
        dx = dx + f64(dres)
    d = h.shape[-1]
    return dx, (dy * xhat).reshape(-1, d).sum(0), dy.reshape(-1, d).sum(0)


def gn_backward_ref(h, dy, groups, w=None, dres=None, eps=1e-5):
    h, dy = f64(h), f64(dy)
    n, c = h.shape[:2]
    cshape = (1, c) + (1,) * (h.ndim - 2)
    wd = np.ones(cshape) if w is None else f64(w).reshape(cshape)
    g = (dy * wd).reshape(n, groups, -1)
    hg = h.reshape(n, groups, -1)
    # ln_backward_rows with weight already folded into g (pass dy=g, weight 1)
    dx, xhat = ln_backward_rows(hg, g, 1.0, eps32(eps))
    dx = dx.reshape(h.shape)
    if dres is not None:
        dx = dx + f64(dres)
    xhat = xhat.reshape(h.shape)
    axes = (0,) + tuple(range(2, h.ndim))
    return dx, (dy * xhat).sum(axes), dy.sum(axes)


def numeric_grad(f, x, dy, step=1e-6):
    """d/dx of sum(f(x) * dy) by central differences."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += step
        xm[idx] -= step
        grad[idx] = ((f(xp) - f(xm)) * dy).sum() / (2 * step)
    return grad


def test_reference_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    h, dy, w = rng.standard_normal((2, 6)), rng.standard_normal((2, 6)), rng.standard_normal(6)
    eps = eps32(1e-6)
    dx, dw = rms_backward_ref(h, dy, w, eps=1e-6)
    np.testing.assert_allclose(dx, numeric_grad(lambda t: rms_forward64(t, w, eps), h, dy),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numeric_grad(lambda t: rms_forward64(h, t, eps), w, dy),
                               rtol=1e-6, atol=1e-7)
    dx, dw, db = ln_backward_ref(h, dy, w, eps=1e-5)
    b = rng.standard_normal(6)
    for got, arg, f in [(dx, h, lambda t: layer_norm_ref(t, w, b)),
                        (dw, w, lambda t: layer_norm_ref(h, t, b)),
                        (db, b, lambda t: layer_norm_ref(h, w, t))]:
        np.testing.assert_allclose(got, numeric_grad(f, arg, dy), rtol=1e-6, atol=1e-7)
    hg, dyg, wg = (rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)),
                   rng.standard_normal(4))
    dx, dw, db = gn_backward_ref(hg, dyg, 2, wg)
    for got, arg, f in [(dx, hg, lambda t: group_norm_ref(t, 2, wg, b[:4])),
                        (dw, wg, lambda t: group_norm_ref(hg, 2, t, b[:4])),
                        (db, b[:4], lambda t: group_norm_ref(hg, 2, wg, t))]:
        np.testing.assert_allclose(got, numeric_grad(f, arg, dyg), rtol=1e-6, atol=1e-7)


# Backward tolerances. dx is a difference of O(r |dy|) terms, computed in float32 and
# rounded once: rtol as TOL, atol scaled to the size of the terms (|dy| ~ 1, r ~ 1/3 for
# scale-3 data): 2e-6 float32, 2e-3 float16, 1.6e-2 bfloat16 (two roundings of half an
# ulp of the terms). dweight and dbias are sums of R terms of size ~|dy|: the float32 sum
# errs by at most R U32 sum|terms| (fixed order), checked against that bound plus the
# final rounding into the gradient's dtype.
def grad_tol(dtype):
    t = dict(TOL[np.dtype(dtype)])
    t["atol"] = {np.dtype(F32): 2e-6, np.dtype(np.float16): 2e-3, BF16: 1.6e-2}[np.dtype(dtype)]
    return t


def assert_sum(got, ref, absterms, nterms, dtype):
    got = f64(np.asarray(got))
    ulp = {np.dtype(F32): 2.0**-24, np.dtype(np.float16): 2.0**-11, BF16: 2.0**-8}
    bound = (nterms + 4) * 2.0**-24 * absterms + ulp[np.dtype(dtype)] * np.abs(ref) + 1e-7
    assert (np.abs(got - ref) <= bound).all(), np.max(np.abs(got - ref) - bound)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("with_dres", [False, True])
def test_rms_norm_backward(dtype, with_weight, with_dres):
    h = data((6, 40), dtype, seed=20)
    dy = data((6, 40), dtype, seed=21, scale=1.0)
    w = data((40,), dtype, seed=22, scale=1.0) if with_weight else None
    dres = data((6, 40), dtype, seed=23, scale=1.0) if with_dres else None
    dx, dw = mlxprim.rms_norm_backward(h, dy, w, d_residual_out=dres)
    rdx, rdw = rms_backward_ref(h, dy, w, dres)
    assert dx.dtype == dtype and dx.shape == h.shape
    assert_close(dx, rdx, dtype, grad_tol(dtype))
    if with_weight:
        assert dw.dtype == dtype and dw.shape == (40,)
        r = 1 / np.sqrt((f64(h) ** 2).mean(-1, keepdims=True) + eps32(1e-6))
        assert_sum(dw, rdw, np.abs(f64(dy) * f64(h) * r).sum(0), 6, dtype)
    else:
        assert dw is None


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_layer_norm_backward(dtype, with_weight, bias):
    h = shifted((2, 5, 48), dtype, seed=24)
    dy = data((2, 5, 48), dtype, seed=25, scale=1.0)
    w = data((48,), dtype, seed=26, scale=1.0) if with_weight else None
    dres = data((2, 5, 48), dtype, seed=27, scale=1.0)
    dx, dw, db = mlxprim.layer_norm_backward(h, dy, w, d_residual_out=dres, eps=1e-4,
                                             bias=bias)
    rdx, rdw, rdb = ln_backward_ref(h, dy, w, dres, eps=1e-4)
    assert_close(dx, rdx, dtype, grad_tol(dtype))
    absdy = np.abs(f64(dy)).reshape(-1, 48).sum(0)
    if with_weight:
        assert_sum(dw, rdw, 3 * absdy, 10, dtype)  # |xhat| <= 3 for these rows
    else:
        assert dw is None
    if bias:
        assert db.shape == (48,) and db.dtype == dtype
        assert_sum(db, rdb, absdy, 10, dtype)
    else:
        assert db is None


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_group_norm_backward(dtype):
    h = shifted((3, 6, 2, 5), dtype, seed=28)
    dy = data((3, 6, 2, 5), dtype, seed=29, scale=1.0)
    w = data((6,), dtype, seed=30, scale=1.0)
    dx, dw, db = mlxprim.group_norm_backward(h, dy, 3, w)
    rdx, rdw, rdb = gn_backward_ref(h, dy, 3, w)
    assert_close(dx, rdx, dtype, grad_tol(dtype))
    absdy = np.abs(f64(dy)).sum((0, 2, 3))
    assert_sum(dw, rdw, 4 * absdy, 30, dtype)  # |xhat| <= 4 for these groups
    assert_sum(db, rdb, absdy, 30, dtype)
    dx2, dw2, db2 = mlxprim.group_norm_backward(h, dy, 3, bias=False)
    assert dw2 is None and db2 is None
    assert_close(dx2, gn_backward_ref(h, dy, 3)[0], dtype, grad_tol(dtype))


def test_backward_dx_in_place_into_dy_and_strided():
    h = data((4, 64), F32, seed=31)[:, ::2]
    dy = data((4, 32), F32, seed=32, scale=1.0)
    ref = rms_backward_ref(h, dy)[0]
    dx, _ = mlxprim.rms_norm_backward(h, dy, dx=dy)
    assert dx is dy
    assert_close(dy, ref, F32, grad_tol(F32))


def test_backward_deterministic_across_threads():
    h = data((300, 256), F32, seed=33)
    dy = data((300, 256), F32, seed=34)
    w = data((256,), F32, seed=35)
    before = mlxprim.get_num_threads()
    try:
        mlxprim.set_num_threads(1)
        one = mlxprim.layer_norm_backward(h, dy, w)
        mlxprim.set_num_threads(2)
        two = mlxprim.layer_norm_backward(h, dy, w)
    finally:
        mlxprim.set_num_threads(before)
    for a, b in zip(one, two):
        assert (bits(a) == bits(b)).all()


# --- errors -----------------------------------------------------------------------------

def test_errors():
    x = data((3, 8), F32)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.layer_norm(x, np.ones(7, F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.layer_norm(x, None, np.ones(9, F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.layer_norm(x, eps=-1.0)
    lib_error(e, mlxprim.InvalidArgumentError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.layer_norm(x, out=np.zeros((3, 8), np.float16))
    lib_error(e, mlxprim.UnsupportedDtypeError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.group_norm(data((2, 6, 4), F32), 4)
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.group_norm(data((2, 6, 4), F32), 0)
    lib_error(e, mlxprim.InvalidArgumentError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.group_norm(data((6,), F32), 1)
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.rms_norm_backward(x, data((3, 7), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.layer_norm_backward(x, x, d_residual_out=data((2, 8), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.layer_norm_backward(x, x.astype(np.int32))
    lib_error(e, mlxprim.UnsupportedDtypeError)
    buf = data((4, 8), F32)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:  # dx partly overlaps dy
        mlxprim.rms_norm_backward(x, buf[:3], dx=buf[1:])
    lib_error(e, mlxprim.InvalidArgumentError)
