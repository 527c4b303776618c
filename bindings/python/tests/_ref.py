"""float64 NumPy references and shared test data. Written from the formulas in
include/mlxprim.h, independently of the library."""

import ml_dtypes
import numpy as np

BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = [np.dtype(np.float32), np.dtype(np.float16), BF16]
DTYPE_IDS = ["f32", "f16", "bf16"]

# Tolerances, |got - ref| <= atol + rtol * |ref|, with ref computed in float64 from the
# very values the library received (inputs already rounded to their dtype):
# - float32: the library computes in float32 (unit roundoff U32 = 2^-24 = 6e-8). A
#   handful of roundings per element plus a fixed-order sum of at most ~1000 positive
#   terms stay below 2e-6 relative (about 30 U32); atol covers outputs near 0.
#   Softmax adds an error proportional to |x / temperature| (see softmax_tolerance).
# - float16: the float32 result is rounded once to float16, an error of at most half an
#   ulp = 2^-11 = 4.9e-4 relative; rtol 1e-3 is two such roundings. atol 1e-7 covers
#   float16 subnormals (spacing 2^-24 = 6e-8) for tiny softmax probabilities.
# - bfloat16: 8 significant bits, so one rounding is at most half an ulp = 2^-8 = 3.9e-3
#   relative; rtol 1e-2 is about 2.5 such roundings, margin for the float32 steps, while a
#   wrong formula is off by far more. With a residual, h = x + residual is rounded to the
#   dtype before normalizing, in the library as in the reference. atol 1e-6 covers
#   outputs close to 0.
TOL = {
    np.dtype(np.float32): dict(rtol=2e-6, atol=1e-6),
    np.dtype(np.float16): dict(rtol=1e-3, atol=1e-7),
    BF16: dict(rtol=1e-2, atol=1e-6),
}


U32 = 2.0**-24  # float32 unit roundoff


def softmax_tolerance(x, temperature, log, dtype):
    """(rtol, atol) for softmax / log-softmax of x.

    Beyond TOL: in float32, z = x / temperature, its row maximum m and z - m each carry an
    absolute error of about U32 * |z|; exp turns that into a relative error (softmax),
    and log-softmax keeps it as an absolute one (it is a difference of O(|z|) terms). Eight
    such units cover the roundings of z and m, the subtraction, exp or log (a few ulp)
    and the final normalization.
    """
    zmax = float(np.max(np.abs(f64(x)))) / float(np.float32(temperature)) if x.size else 0.0
    spread = 8 * U32 * (1.0 + zmax)
    tol = TOL[np.dtype(dtype)]
    if log:
        return dict(rtol=tol["rtol"], atol=tol["atol"] + spread)
    return dict(rtol=tol["rtol"] + spread, atol=tol["atol"])


def f64(a):
    return np.asarray(a).astype(np.float64)


def data(shape, dtype, seed=0, scale=3.0):
    """Deterministic normal data rounded to dtype."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


def softmax_ref(x, temperature=1.0, log=False):
    z = f64(x) / float(np.float32(temperature))  # the library receives a C float
    e = z - z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(e).sum(axis=-1, keepdims=True))
    return e - lse if log else np.exp(e - lse)


def residual_sum(x, residual):
    """h = x + residual rounded once to x's dtype (an unfused add in that dtype)."""
    return (f64(x) + f64(residual)).astype(x.dtype)


def rms_norm_ref(x, weight=None, residual=None, eps=1e-6):
    h = f64(x if residual is None else residual_sum(x, residual))
    ms = np.mean(h * h, axis=-1, keepdims=True)
    out = h / np.sqrt(ms + float(np.float32(eps)))
    if weight is not None:
        out = out * f64(weight)
    return out


def assert_close(got, ref, dtype, tol=None):
    got = np.asarray(got)
    assert got.dtype == dtype
    np.testing.assert_allclose(f64(got), ref, **(tol or TOL[np.dtype(dtype)]))


def assert_softmax(got, x, temperature=1.0, log=False):
    """got against the float64 reference for x, with softmax_tolerance."""
    assert_close(got, softmax_ref(x, temperature, log), x.dtype,
                 softmax_tolerance(x, temperature, log, x.dtype))


def bits(a):
    """The raw bits of an array, for bit-exact comparisons (NaN-safe)."""
    a = np.ascontiguousarray(a)
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))
