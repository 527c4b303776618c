"""flash_attention_bias_grad against a float64 NumPy reference: dL/dx of the loss
sum(dout * out) with respect to the forward logits x (include/mlxprim.h), summed over the
dimensions along which the bias is broadcast; the reference itself is checked by central
finite differences on the bias.

Tolerances, |got - ref| <= tol * (1 + |ref|):
- float32: 2e-4, times sqrt of the number of terms a dbias entry sums when the bias is
  broadcast (each term carries float32 rounding of O(1) values; observed errors are
  ~1e-6, while a wrong mask, cap handling or broadcast sum is off by > 1e-2).
- bfloat16 dbias: one final rounding (2^-9 relative): 6e-3.
- the reference against finite differences (step 1e-6): 1e-6 * (1 + |g|).
"""

import math

import ml_dtypes
import numpy as np
import pytest

import mlxprim as mp
from mlxprim import InvalidArgumentError, ShapeMismatchError, UnsupportedDtypeError
from test_attention_backward import _logits, _probs, data

BF16 = np.dtype(ml_dtypes.bfloat16)


def reference(q, k, v, dout, bias, *, scale=None, causal=True, window=(-1, -1), softcap=0.0,
              slopes=None, key_lengths=None, sinks=None):
    """Float64 (out, dbias) of BSHD tensors for the loss sum(dout * out)."""
    q, k, v, dout = (np.asarray(t).astype(np.float64) for t in (q, k, v, dout))
    bias = np.asarray(bias).astype(np.float64)
    hq, hkv, d = q.shape[2], k.shape[2], q.shape[3]
    kr = np.repeat(k, hq // hkv, axis=2)
    vr = np.repeat(v, hq // hkv, axis=2)
    scale = 1.0 / math.sqrt(d) if scale is None else float(np.float32(scale))
    s, _, mask = _logits(q, kr, scale, softcap, slopes, causal, window, key_lengths, bias)
    p = _probs(s, mask, sinks)
    out = np.einsum("bhij,bjhd->bihd", p, vr)
    dp = np.einsum("bihd,bjhd->bhij", dout, vr)
    rows = np.einsum("bihd,bihd->bhi", dout, out)[..., None]
    dx = p * (dp - rows)  # the bias is added after the cap: no cap factor
    # Sum over the broadcast dimensions back to the bias's shape.
    lead = dx.ndim - bias.ndim
    dx = dx.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(bias.shape) if n == 1 and dx.shape[i] != 1)
    return out, dx.sum(axis=axes, keepdims=True).reshape(bias.shape)


def test_reference_matches_finite_differences():
    b, lq, lk, hq, hkv, d = 2, 4, 6, 2, 1, 3
    q, k, v = (data((b, lq, hq, d), np.float64, 1), data((b, lk, hkv, d), np.float64, 2),
               data((b, lk, hkv, d), np.float64, 3))
    dout = data((b, lq, hq, d), np.float64, 4)
    bias = data((1, hq, lq, lk), np.float64, 5)
    kw = dict(scale=0.8, causal=True, softcap=1.5, slopes=[0.5, 0.25], sinks=[0.2, -0.5])
    _, db = reference(q, k, v, dout, bias, **kw)
    h = 1e-6
    for idx in np.ndindex(bias.shape):
        x0 = bias[idx]
        bias[idx] = x0 + h
        lp = float((reference(q, k, v, dout, bias, **kw)[0] * dout).sum())
        bias[idx] = x0 - h
        lm = float((reference(q, k, v, dout, bias, **kw)[0] * dout).sum())
        bias[idx] = x0
        fd = (lp - lm) / (2 * h)
        assert abs(fd - db[idx]) <= 1e-6 * (1 + abs(fd)), (idx, fd, db[idx])
    assert np.abs(db).max() > 1e-3  # not vacuous


CASES = [
    # (bias shape, options)
    ((2, 4, 9, 33), {}),
    ((1, 4, 9, 33), {}),
    ((4, 1, 33), {"causal": False}),
    ((9, 33), {"window": (5, 2)}),
    ((2, 1, 1, 33), {"key_lengths": [0, 20]}),
    ((33,), {"softcap": 2.5, "alibi_slopes": [0.5, 0.25, 0.125, 0.0625]}),
    ((2, 4, 9, 1), {"sinks": [0.5, -1.0, 2.0, 0.0]}),
    ((), {}),
]


@pytest.mark.parametrize("shape,opts", CASES, ids=[str(c[0]) for c in CASES])
def test_bias_grad(shape, opts):
    b, lq, lk, hq, hkv, d = 2, 9, 33, 4, 2, 16
    q, k, v = data((b, lq, hq, d), seed=1), data((b, lk, hkv, d), seed=2), data((b, lk, hkv, d), seed=3)
    dout = data((b, lq, hq, d), seed=4)
    bias = data(shape, seed=5)
    if len(shape) == 4 and shape[-1] == lk:
        bias[..., ::7] = -np.inf  # masked keys add nothing
    out, lse = mp.flash_attention(q, k, v, bias=bias, return_lse=True, **opts)
    got = mp.flash_attention_bias_grad(q, k, v, out, dout, lse, bias, **opts)
    ref_opts = {("slopes" if k_ == "alibi_slopes" else k_): v_ for k_, v_ in opts.items()}
    _, want = reference(q, k, v, dout, bias, **ref_opts)
    assert got.shape == bias.shape and got.dtype == bias.dtype
    terms = b * hq * lq * lk / bias.size  # terms each dbias entry sums
    tol = 2e-4 * max(1.0, math.sqrt(terms))
    err = np.abs(got.astype(np.float64) - want) / (1 + np.abs(want))
    assert err.max() <= tol, f"max scaled error {err.max():.3g} > {tol}"


def test_bias_grad_bfloat16_out_and_bhsd():
    b, lq, lk, hq, d = 1, 7, 12, 2, 8
    q, k, v = data((b, hq, lq, d), seed=6), data((b, hq, lk, d), seed=7), data((b, hq, lk, d), seed=8)
    dout = data((b, hq, lq, d), seed=9)
    bias = data((hq, lq, lk), seed=10)
    out, lse = mp.flash_attention(q, k, v, bias=bias, layout="BHSD", return_lse=True)
    dbias = np.empty(bias.shape, BF16)
    got = mp.flash_attention_bias_grad(q, k, v, out, dout, lse, bias, layout="BHSD", dbias=dbias)
    assert got is dbias
    t = lambda x: np.swapaxes(x, 1, 2)
    _, want = reference(t(q), t(k), t(v), t(dout), bias)
    err = np.abs(got.astype(np.float64) - want) / (1 + np.abs(want))
    assert err.max() <= 6e-3


def test_bias_grad_same_for_any_thread_count():
    b, lq, lk, hq, d = 3, 20, 300, 4, 16
    q, k, v = data((b, lq, hq, d), seed=11), data((b, lk, hq, d), seed=12), data((b, lk, hq, d), seed=13)
    dout, bias = data((b, lq, hq, d), seed=14), data((lq, lk), seed=15)
    out, lse = mp.flash_attention(q, k, v, bias=bias, return_lse=True)
    before = mp.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            mp.set_num_threads(n)
            results.append(mp.flash_attention_bias_grad(q, k, v, out, dout, lse, bias))
    finally:
        mp.set_num_threads(before)
    assert all(np.array_equal(r.view(np.uint32), results[0].view(np.uint32)) for r in results)


def test_bias_grad_bad_input():
    q, k, v = data((1, 3, 2, 4)), data((1, 5, 2, 4)), data((1, 5, 2, 4))
    bias = data((3, 5))
    out, lse = mp.flash_attention(q, k, v, bias=bias, return_lse=True)
    dout = data((1, 3, 2, 4), seed=2)
    with pytest.raises(InvalidArgumentError):
        mp.flash_attention_bias_grad(q, k, v, out, dout, lse, None)
    dbias = np.full((1, 3, 5), 7.0, np.float32)
    with pytest.raises(ShapeMismatchError):
        mp.flash_attention_bias_grad(q, k, v, out, dout, lse, bias, dbias=dbias)
    assert (dbias == 7.0).all()
    with pytest.raises(UnsupportedDtypeError):
        mp.flash_attention_bias_grad(q, k, v, out, dout, lse, bias, dbias=np.zeros((3, 5), np.int32))
    with pytest.raises(InvalidArgumentError):
        mp.flash_attention_bias_grad(q, k, v, out, dout, lse, bias, dbias=bias)
