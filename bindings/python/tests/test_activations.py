"""Activations and gated linear units, forward and backward, against float64 formulas."""

import math

import numpy as np
import pytest

import mlxprim
from _ref import BF16, DTYPE_IDS, DTYPES, TOL, assert_close, data, f64
from test_errors import lib_error

F32 = np.float32
_erf = np.vectorize(math.erf)
C = math.sqrt(2 / math.pi)


def act(kind, x):
    if kind == "silu":
        return x / (1 + np.exp(-x))
    if kind == "gelu":
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    t = np.tanh(C * (x + 0.044715 * x**3))
    return 0.5 * x * (1 + t)


def dact(kind, x):
    if kind == "silu":
        s = 1 / (1 + np.exp(-x))
        return s * (1 + x * (1 - s))
    if kind == "gelu":
        return 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    u = C * (x + 0.044715 * x**3)
    t = np.tanh(u)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x)


KINDS = ["silu", "gelu", "gelu_tanh"]

# Tolerances: TOL (one rounding into the output dtype after float32 arithmetic) with
# float32 widened to rtol 1e-5 / atol 1e-6: exp, erf and tanh are accurate to a few
# float32 ulps (header), and silu near its zero at -inf or gelu's tail multiply a tiny
# value by a large one. Derivatives of products add one more float32 rounding each.
def tol(dtype):
    t = dict(TOL[np.dtype(dtype)])
    if np.dtype(dtype) == np.dtype(F32):
        t = dict(rtol=1e-5, atol=1e-6)
    return t


def test_reference_derivatives_match_finite_differences():
    x = np.linspace(-6, 6, 101)
    for k in KINDS:
        num = (act(k, x + 1e-6) - act(k, x - 1e-6)) / 2e-6
        np.testing.assert_allclose(dact(k, x), num, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_activation(kind, dtype):
    x = data((7, 129), dtype, seed=1, scale=4.0)
    assert_close(mlxprim.activation(x, kind), act(kind, f64(x)), dtype, tol(dtype))
    # Large magnitudes, where exp overflows or erf saturates (the header leaves +-inf
    # inputs unspecified).
    edges = np.array([0.0, -0.0, 1e-3, -1e-3, 20.0, -20.0, 80.0, -80.0], dtype)
    with np.errstate(over="ignore"):
        ref = act(kind, f64(edges))
    assert_close(mlxprim.activation(edges, kind), ref, dtype, tol(dtype))


def test_named_wrappers():
    x = data((3, 40), F32, seed=2)
    assert (mlxprim.silu(x) == mlxprim.activation(x, "silu")).all()
    assert (mlxprim.gelu(x) == mlxprim.activation(x, "gelu")).all()
    assert (mlxprim.gelu(x, "tanh") == mlxprim.activation(x, "gelu_tanh")).all()
    g, u = data((3, 40), F32, seed=3), data((3, 40), F32, seed=4)
    assert (mlxprim.swiglu(g, u) == mlxprim.glu(g, u, "silu")).all()
    assert (mlxprim.geglu(g, u) == mlxprim.glu(g, u, "gelu")).all()
    assert (mlxprim.geglu(g, u, "tanh") == mlxprim.glu(g, u, "gelu_tanh")).all()


@pytest.mark.parametrize("xdt", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("odt", DTYPES, ids=DTYPE_IDS)
def test_mixed_dtypes_strided_and_in_place(xdt, odt):
    x = data((6, 100), xdt, seed=5)[::-2, 1::3]
    buf = np.zeros((3, 66), odt)
    out = buf[:, ::2]
    assert mlxprim.gelu(x, out=out) is out
    assert_close(out, act("gelu", f64(x)), odt, tol(odt))
    assert (f64(buf[:, 1::2]) == 0).all()
    y = data((4, 33), xdt, seed=6)
    ref = act("silu", f64(y))
    assert mlxprim.silu(y, out=y) is y
    assert_close(y, ref, xdt, tol(xdt))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_activation_backward(kind, dtype):
    x = data((5, 77), dtype, seed=7)
    dy = data((5, 77), dtype, seed=8, scale=1.0)
    dx = mlxprim.activation_backward(x, dy, kind)
    assert dx.dtype == dtype
    assert_close(dx, f64(dy) * dact(kind, f64(x)), dtype, tol(dtype))
    ref = f64(dy) * dact(kind, f64(x))
    assert mlxprim.activation_backward(x, dy, kind, out=dy) is dy  # in place into dy
    assert_close(dy, ref, dtype, tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_glu_forward_backward(kind, dtype):
    g = data((4, 3, 50), dtype, seed=9)
    u = data((4, 3, 50), dtype, seed=10)
    do = data((4, 3, 50), dtype, seed=11, scale=1.0)
    # act(g) * u: two float32 roundings more than act alone; TOL covers them.
    assert_close(mlxprim.glu(g, u, kind), act(kind, f64(g)) * f64(u), dtype, tol(dtype))
    dg, du = mlxprim.glu_backward(g, u, do, kind)
    assert dg.dtype == dtype and du.dtype == dtype
    assert_close(dg, f64(do) * f64(u) * dact(kind, f64(g)), dtype, tol(dtype))
    assert_close(du, f64(do) * act(kind, f64(g)), dtype, tol(dtype))


def test_glu_mixed_dtypes_and_in_place():
    g = data((8, 64), BF16, seed=12)
    u = data((8, 64), np.float16, seed=13, scale=1.0)
    ref = act("silu", f64(g)) * f64(u)
    assert mlxprim.swiglu(g, u, out=u) is u
    assert_close(u, ref, np.float16, tol(np.float16))
    out = mlxprim.swiglu(g, data((8, 64), F32, seed=14))
    assert out.dtype == BF16


def test_errors():
    x = data((3, 8), F32)
    with pytest.raises(mlxprim.InvalidArgumentError, match="unknown kind 'relu'"):
        mlxprim.activation(x, "relu")
    with pytest.raises(mlxprim.InvalidArgumentError, match="approximate"):
        mlxprim.gelu(x, "erf")
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.activation(x, out=np.zeros((3, 7), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.glu(x, data((3, 9), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.glu(x, x.astype(np.int32))
    lib_error(e, mlxprim.UnsupportedDtypeError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.glu_backward(x, x, data((2, 8), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    buf = data((4, 8), F32)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.activation(buf[:3], out=buf[1:])
    lib_error(e, mlxprim.InvalidArgumentError)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.activation(None)
    lib_error(e, mlxprim.InvalidArgumentError)
