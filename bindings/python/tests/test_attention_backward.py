"""flash_attention_backward against a dense float64 NumPy reference gradient written here
from the chain rule of softmax(scale q k^T + masks) v (include/mlxprim.h), itself checked
by central finite differences of the float64 forward pass.

The library gets out and lse from mlxprim.flash_attention(..., return_lse=True) (float32
arithmetic); the reference recomputes everything in float64 from the values the library
received (inputs already rounded to their dtype).

Tolerances, |got - ref| <= tol * (1 + |ref|):
- float32 gradients: tol 2e-4. The library recomputes P = exp(x - lse) in float32 from a
  float32 lse (relative error ~1e-6 per probability), and sums <= 16 keys times <= 4 query
  heads of products of O(1) values, adding a few float32 ulps each; the observed error is
  ~1e-6, so 2e-4 leaves a wide margin while a wrong mask, scale, cap factor or GQA sum is
  off by > 1e-2.
- bfloat16 inputs and outputs: out is stored in bfloat16 (relative error 2^-9), which
  enters rowsum(dout * out), and each gradient is rounded once to bfloat16 (2^-9
  relative): tol 2e-2 (observed ~4e-3).
- The reference against finite differences (step 1e-6 in float64): 1e-6 * (1 + |g|).
"""

import math

import ml_dtypes
import numpy as np
import pytest

import mlxprim as mp
from mlxprim import InvalidArgumentError, ShapeMismatchError

BF16 = np.dtype(ml_dtypes.bfloat16)
TOL = {np.dtype(np.float32): 2e-4, BF16: 2e-2}


def data(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _logits(q, k, scale, softcap, slopes, causal, window, key_lengths, bias=None):
    """Float64 logits [B, Hq, Lq, Lk] of BSHD q and head-repeated k, the soft-cap factor
    1 - tanh^2(s / cap) (1 without a cap) and the visibility mask; a -inf bias entry
    hides its key."""
    lq, lk = q.shape[1], k.shape[1]
    s = np.einsum("bihd,bjhd->bhij", q, k) * scale
    dcap = np.ones_like(s)
    if softcap > 0:
        t = np.tanh(s / softcap)
        s, dcap = softcap * t, 1.0 - t * t
    i = np.arange(lq)[:, None]
    j = np.arange(lk)[None, :]
    diag = i + (lk - lq)  # bottom-right alignment
    if bias is not None:
        s = s + np.broadcast_to(np.asarray(bias, np.float64), s.shape)
    if slopes is not None:
        s = s - np.asarray(slopes, np.float64)[None, :, None, None] * (diag - j)
    visible = np.ones((lq, lk), bool)
    if causal:
        visible &= j <= diag
    if window[0] >= 0:
        visible &= j >= diag - window[0]
    if window[1] >= 0:
        visible &= j <= diag + window[1]
    mask = np.broadcast_to(visible, s.shape).copy()
    if bias is not None:
        mask &= np.isfinite(np.broadcast_to(np.asarray(bias, np.float64), s.shape))
    if key_lengths is not None:
        mask &= j[None, None] < np.asarray(key_lengths)[:, None, None, None]
    return s, dcap, mask


def _probs(s, mask, sinks):
    """Softmax over visible keys with the sink logit in the denominator; 0 where masked."""
    s = np.where(mask, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    if sinks is not None:
        sink = np.asarray(sinks, np.float64)[None, :, None, None]
        m = np.maximum(m, sink)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(mask, np.exp(s - m), 0.0)
    denom = e.sum(axis=-1, keepdims=True)
    if sinks is not None:
        denom = denom + np.exp(sink - m)
    return e / np.where(denom > 0, denom, 1.0)


def reference(q, k, v, dout, *, scale=None, causal=True, window=(-1, -1), softcap=0.0,
              slopes=None, key_lengths=None, sinks=None, bias=None):
    """Float64 (out, dq, dk, dv) of BSHD tensors for the loss sum(dout * out)."""
    q, k, v, dout = (np.asarray(t).astype(np.float64) for t in (q, k, v, dout))
    b, lq, hq, d = q.shape
    lk, hkv = k.shape[1], k.shape[2]
    group = hq // hkv
    kr = np.repeat(k, group, axis=2)  # query head h reads KV head h // group
    vr = np.repeat(v, group, axis=2)
    scale = 1.0 / math.sqrt(d) if scale is None else float(np.float32(scale))
    s, dcap, mask = _logits(q, kr, scale, softcap, slopes, causal, window, key_lengths, bias)
    p = _probs(s, mask, sinks)
    out = np.einsum("bhij,bjhd->bihd", p, vr)
    # Chain rule: o = P v; P = softmax(x); x = cap(scale q.k) + ALiBi (constant in q, k).
    dp = np.einsum("bihd,bjhd->bhij", dout, vr)
    rows = np.einsum("bihd,bihd->bhi", dout, out)[..., None]  # = sum_j P dP (sink: dP 0)
    ds = p * (dp - rows) * dcap
    dq = scale * np.einsum("bhij,bjhd->bihd", ds, kr)
    dkr = scale * np.einsum("bhij,bihd->bjhd", ds, q)
    dvr = np.einsum("bhij,bihd->bjhd", p, dout)
    # Query heads sharing a KV head add their gradients.
    dk = dkr.reshape(b, lk, hkv, group, d).sum(axis=3)
    dv = dvr.reshape(b, lk, hkv, group, v.shape[3]).sum(axis=3)
    return out, dq, dk, dv


def check_grad(got, want, dtype=np.float32):
    tol = TOL[np.dtype(dtype)]
    got = np.asarray(got).astype(np.float64)
    assert got.shape == want.shape
    err = np.abs(got - want) / (1.0 + np.abs(want))
    assert err.max() <= tol, f"max scaled error {err.max():.3g} > {tol}"


def run(q, k, v, dout, **kw):
    """Forward (out, lse) then backward through the library, with the same arguments."""
    out, lse = mp.flash_attention(q, k, v, return_lse=True, **kw)
    return mp.flash_attention_backward(q, k, v, out, dout, lse, **kw)


# --- the reference itself ---------------------------------------------------------------

def test_reference_matches_finite_differences():
    """Every feature at once (GQA, causal with Lq != Lk, window, cap, ALiBi, key lengths,
    sinks), so each term of the chain rule is exercised; central differences, step 1e-6."""
    b, lq, lk, hq, hkv, d = 2, 5, 7, 4, 2, 3
    q, k, v = (data((b, lq, hq, d), np.float64, 1), data((b, lk, hkv, d), np.float64, 2),
               data((b, lk, hkv, d), np.float64, 3))
    dout = data((b, lq, hq, d), np.float64, 4)
    kw = dict(scale=0.7, causal=True, window=(3, -1), softcap=2.0,
              slopes=[0.5, 0.25, 0.125, 0.0625], key_lengths=[7, 5], sinks=[0.3, -1.0, 0.0, 2.0])
    _, dq, dk, dv = reference(q, k, v, dout, **kw)
    loss = lambda q_, k_, v_: float((reference(q_, k_, v_, dout, **kw)[0] * dout).sum())
    rng = np.random.default_rng(5)
    h = 1e-6
    for which, grad in ((0, dq), (1, dk), (2, dv)):
        for _ in range(12):
            args = [q.copy(), k.copy(), v.copy()]
            idx = tuple(rng.integers(0, n) for n in args[which].shape)
            args[which][idx] += h
            up = loss(*args)
            args[which][idx] -= 2 * h
            fd = (up - loss(*args)) / (2 * h)
            assert abs(fd - grad[idx]) <= 1e-6 * (1 + abs(fd)), (which, idx, fd, grad[idx])
    # A key beyond key_lengths and a masked row's gradients really are zero.
    assert np.all(dk[1, 5:] == 0) and np.all(dv[1, 5:] == 0)


# --- the library against the reference ---------------------------------------------------

@pytest.mark.parametrize("shape,hkv", [((1, 16, 2, 32), 2), ((2, 9, 4, 16), 4),
                                       ((2, 9, 4, 16), 2)], ids=["1x16x2x32", "2x9x4x16",
                                                                "2x9x4x16-GQA"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_matches_reference(shape, hkv, causal):
    b, seq, hq, d = shape
    q, k, v = data(shape, seed=1), data((b, seq, hkv, d), seed=2), data((b, seq, hkv, d), seed=3)
    dout = data(shape, seed=4)
    dq, dk, dv = run(q, k, v, dout, causal=causal)
    assert (dq.dtype, dk.dtype, dv.dtype) == (np.float32,) * 3
    _, rq, rk, rv = reference(q, k, v, dout, causal=causal)
    check_grad(dq, rq)
    check_grad(dk, rk)
    check_grad(dv, rv)


FEATURES = {
    "causal-lq<lk": dict(causal=True),
    "window": dict(causal=False, window=(2, 1)),
    "alibi": dict(alibi_slopes=[0.5, 0.25, 0.125, 0.0625]),
    "key_lengths": dict(causal=False, key_lengths=[13, 6]),
    "softcap": dict(softcap=1.5, scale=0.9),
    "sinks": dict(sinks=[0.5, -2.0, 1.0, 3.0]),
}


@pytest.mark.parametrize("name", list(FEATURES))
def test_features(name):
    """GQA (Hq 4, Hkv 2), Lq 9 against Lk 13, Dv 8 != D 16, one feature at a time."""
    kw = FEATURES[name]
    q, k, v = data((2, 9, 4, 16), seed=11), data((2, 13, 2, 16), seed=12), data((2, 13, 2, 8),
                                                                             seed=13)
    dout = data((2, 9, 4, 8), seed=14)
    dq, dk, dv = run(q, k, v, dout, **kw)
    ref_kw = {("slopes" if n == "alibi_slopes" else n): x for n, x in kw.items()}
    _, rq, rk, rv = reference(q, k, v, dout, **ref_kw)
    check_grad(dq, rq)
    check_grad(dk, rk)
    check_grad(dv, rv)


def test_bhsd():
    kw = dict(causal=True, window=(4, -1), softcap=3.0)
    q, k, v = data((2, 9, 4, 16), seed=21), data((2, 11, 2, 16), seed=22), data((2, 11, 2, 16),
                                                                              seed=23)
    dout = data((2, 9, 4, 16), seed=24)
    t = lambda x: np.ascontiguousarray(np.swapaxes(x, 1, 2))
    dq, dk, dv = run(t(q), t(k), t(v), t(dout), layout="BHSD", **kw)
    assert dq.shape == (2, 4, 9, 16) and dk.shape == (2, 2, 11, 16)
    _, rq, rk, rv = reference(q, k, v, dout, **kw)
    for got, want in ((dq, rq), (dk, rk), (dv, rv)):
        check_grad(np.swapaxes(got, 1, 2), want)


def test_bfloat16():
    q, k, v = (data((2, 9, 4, 16), BF16, 31), data((2, 9, 2, 16), BF16, 32),
               data((2, 9, 2, 16), BF16, 33))
    dout = data((2, 9, 4, 16), BF16, 34)
    dq, dk, dv = run(q, k, v, dout, causal=True)
    assert (dq.dtype, dk.dtype, dv.dtype) == (BF16,) * 3
    _, rq, rk, rv = reference(q, k, v, dout, causal=True)
    check_grad(dq, rq, BF16)
    check_grad(dk, rk, BF16)
    check_grad(dv, rv, BF16)


def test_empty_rows_give_zero_dq():
    """Causal with Lq 9 > Lk 5: queries 0..3 see no key. Batch 1 has key length 0, so all
    its rows are empty too; with sinks the lse of those rows is the sink logit."""
    q, k, v = data((2, 9, 4, 16), seed=41), data((2, 5, 2, 16), seed=42), data((2, 5, 2, 16),
                                                                             seed=43)
    dout = data((2, 9, 4, 16), seed=44)
    for extra in ({}, {"sinks": [0.5, -1.0, 0.0, 2.0]}):
        kw = dict(causal=True, key_lengths=[5, 0], **extra)
        dq, dk, dv = run(q, k, v, dout, **kw)
        assert np.all(dq[:, :4] == 0) and np.all(dq[1] == 0)
        assert np.all(dk[1] == 0) and np.all(dv[1] == 0)
        assert np.isfinite(dq).all() and np.isfinite(dk).all() and np.isfinite(dv).all()
        _, rq, rk, rv = reference(q, k, v, dout, **kw)
        check_grad(dq, rq)
        check_grad(dk, rk)
        check_grad(dv, rv)


def test_bias():
    """An additive bias (broadcast, with -inf entries that hide keys) is a constant of the
    backward pass: the gradients follow the float64 chain rule with the biased logits."""
    b, lq, lk, hq, hkv, d = 2, 6, 9, 4, 2, 16
    q, k, v = data((b, lq, hq, d), seed=51), data((b, lk, hkv, d), seed=52), data((b, lk, hkv, d), seed=53)
    dout = data((b, lq, hq, d), seed=54)
    bias = data((1, hq, lq, lk), seed=55)
    bias[0, 1, 2, ::3] = -np.inf
    for kw in ({"causal": False}, {"causal": True, "softcap": 2.0, "alibi_slopes": mp.alibi_slopes(hq)}):
        dq, dk, dv = run(q, k, v, dout, bias=bias, **kw)
        ref_kw = {k2: v2 for k2, v2 in kw.items() if k2 != "alibi_slopes"}
        if "alibi_slopes" in kw:
            ref_kw["slopes"] = kw["alibi_slopes"]
        _, rq, rk, rv = reference(q, k, v, dout, bias=bias, **ref_kw)
        check_grad(dq, rq)
        check_grad(dk, rk)
        check_grad(dv, rv)
    # The bias must reach the gradients: without it they differ.
    dq0, _, _ = run(q, k, v, dout, causal=False)
    dq1, _, _ = run(q, k, v, dout, causal=False, bias=bias)
    assert np.abs(dq0 - dq1).max() > 1e-3


def test_bias_bad_shape():
    """A bias that does not broadcast to [B, Hq, Lq, Lk] is rejected; nothing is written."""
    q, k, v = data((1, 4, 2, 8), seed=56), data((1, 4, 2, 8), seed=57), data((1, 4, 2, 8), seed=58)
    out, lse = mp.flash_attention(q, k, v, return_lse=True)
    grads = [np.full_like(x, 7.0) for x in (q, k, v)]
    with pytest.raises(ShapeMismatchError):
        mp.flash_attention_backward(q, k, v, out, out, lse, bias=np.zeros((3, 4), np.float32),
                                    dq=grads[0], dk=grads[1], dv=grads[2])
    assert all(np.all(g == 7.0) for g in grads)


def test_errors():
    q, k, v = data((1, 4, 2, 8), seed=61), data((1, 4, 2, 8), seed=62), data((1, 4, 2, 8),
                                                                           seed=63)
    out, lse = mp.flash_attention(q, k, v, return_lse=True)
    with pytest.raises(InvalidArgumentError):
        mp.flash_attention_backward(q, k, v, out, out, lse, window=(-2, 0))
    with pytest.raises(mp.ShapeMismatchError):
        mp.flash_attention_backward(q, k, v, out, out, lse[:, :1])


def on_threads(run, *args, counts=(1, 2), **kw):
    """run(*args, **kw) once per thread count, the pool's size restored afterwards."""
    saved = mp.get_num_threads()
    try:
        results = []
        for n in counts:
            mp.set_num_threads(n)
            results.append(run(*args, **kw))
    finally:
        mp.set_num_threads(saved)
    return results


def test_threads_bit_identical():
    q, k, v = data((2, 96, 4, 32), seed=71), data((2, 160, 2, 32), seed=72), data(
        (2, 160, 2, 32), seed=73)
    dout = data((2, 96, 4, 32), seed=74)
    kw = dict(causal=True, softcap=5.0, alibi_slopes=True, sinks=[0.1, 0.2, 0.3, 0.4])
    for a, b in zip(*on_threads(run, q, k, v, dout, **kw)):
        assert a.tobytes() == b.tobytes()
