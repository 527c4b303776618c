"""flash_attention, sliding_window_attention, merge_attention_states and alibi_slopes
against a dense float64 NumPy reference written here from include/mlxprim.h: the full
score matrix is materialized and every mask is built explicitly from the header's formulas.

Tolerances, |got - ref| <= atol + rtol * |ref|, ref computed in float64 from the values the
library received (inputs already rounded to their dtype):
- float32 output: the library runs an online softmax in float32. Logits here are O(10),
  so exp and the running max carry ~1e-6 relative error; sums of <= 130 positive weights
  and a weighted sum of values with |v| <= ~5 add a few float32 ulps. rtol 2e-5 and
  atol 2e-5 leave a margin of ~10x; a wrong mask or formula is off by > 1e-2.
- float16 output: one final rounding (half an ulp = 2^-11 = 4.9e-4 relative) on top of the
  float32 result: rtol 1e-3, atol 1e-4 (outputs near 0).
- bfloat16 output: half an ulp = 2^-8 = 3.9e-3 relative: rtol 1e-2, atol 1e-3.
- lse (float32, O(10)): rtol 2e-6 + atol 2e-5 (a log of a float32 sum, plus the max).
"""

import math

import ml_dtypes
import numpy as np
import pytest

import mlxprim as mp
from mlxprim import InvalidArgumentError, ShapeMismatchError

BF16 = np.dtype(ml_dtypes.bfloat16)
OUT_TOL = {
    np.dtype(np.float32): dict(rtol=2e-5, atol=2e-5),
    np.dtype(np.float16): dict(rtol=1e-3, atol=1e-4),
    BF16: dict(rtol=1e-2, atol=1e-3),
}
LSE_TOL = dict(rtol=2e-6, atol=2e-5)


def data(shape, dtype=np.float32, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


def qkv(b, lq, lk, hq, hkv, d, dv=None, dtype=np.float32, seed=0, scale=1.0):
    dv = d if dv is None else dv
    return (data((b, lq, hq, d), dtype, seed, scale), data((b, lk, hkv, d), dtype, seed + 1),
            data((b, lk, hkv, dv), dtype, seed + 2))


def to_bhsd(x):
    return np.ascontiguousarray(np.swapaxes(x, 1, 2))


def reference(q, k, v, *, scale=None, causal=True, window=(-1, -1), softcap=0.0,
              bias=None, slopes=None, key_lengths=None, sinks=None, visible=None):
    """Dense float64 attention of BSHD q, k, v. Returns (out [B, Lq, Hq, Dv],
    lse [B, Hq, Lq]). visible, when given, is an explicit [Lq, Lk] bool mask that replaces
    the causal and window masks."""
    q, k, v = (np.asarray(t).astype(np.float64) for t in (q, k, v))
    b, lq, hq, d = q.shape
    lk, hkv = k.shape[1], k.shape[2]
    group = hq // hkv
    k = np.repeat(k, group, axis=2)  # query head h reads KV head h // group
    v = np.repeat(v, group, axis=2)
    scale = 1.0 / math.sqrt(d) if scale is None else float(np.float32(scale))
    s = np.einsum("bihd,bjhd->bhij", q, k) * scale
    if softcap > 0:
        s = softcap * np.tanh(s / softcap)
    if bias is not None:
        s = s + np.broadcast_to(np.asarray(bias).astype(np.float64), s.shape)
    i = np.arange(lq)[:, None]
    j = np.arange(lk)[None, :]
    diag = i + (lk - lq)  # bottom-right alignment: the key each query is "at"
    if slopes is not None:
        s = s - np.asarray(slopes, np.float64)[None, :, None, None] * (diag - j)
    if visible is None:
        visible = np.ones((lq, lk), bool)
        if causal:
            visible &= j <= diag
        if window[0] >= 0:
            visible &= j >= diag - window[0]
        if window[1] >= 0:
            visible &= j <= diag + window[1]
    mask = np.broadcast_to(visible, s.shape).copy()
    if key_lengths is not None:
        mask &= (j[None, None] < np.asarray(key_lengths)[:, None, None, None])
    mask &= s > -np.inf  # -inf bias entries mask
    s = np.where(mask, s, -np.inf)
    m = s.max(axis=-1)
    if sinks is not None:
        sink = np.broadcast_to(np.asarray(sinks, np.float64)[None, :, None], m.shape)
        m = np.maximum(m, sink)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    p = np.where(mask, np.exp(s - m_safe[..., None]), 0.0)
    denom = p.sum(axis=-1)
    if sinks is not None:
        denom = denom + np.exp(sink - m_safe)
    with np.errstate(divide="ignore", invalid="ignore"):
        lse = np.where(denom > 0, m_safe + np.log(denom), -np.inf)
        out = np.einsum("bhij,bjhd->bihd", p, v) / np.where(denom > 0, denom, 1.0)[
            ..., None].transpose(0, 2, 1, 3)
    return out, lse


def check_out(got, ref, dtype=np.float32):
    tol = OUT_TOL[np.dtype(dtype)]
    np.testing.assert_allclose(np.asarray(got).astype(np.float64), ref, **tol)


def check_lse(got, ref):
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(got[fin].astype(np.float64), ref[fin], **LSE_TOL)


# --- shapes, layouts, causal ------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 16, 2, 32), (2, 64, 8, 64)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("layout", ["BSHD", "BHSD"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_matches_reference(shape, layout, causal):
    b, seq, h, d = shape
    q, k, v = qkv(b, seq, seq, h, h, d, seed=seq + h)
    ref, ref_lse = reference(q, k, v, causal=causal)
    args = (q, k, v) if layout == "BSHD" else tuple(map(to_bhsd, (q, k, v)))
    out, lse = mp.flash_attention(*args, causal=causal, layout=layout, return_lse=True)
    assert out.dtype == np.float32
    if layout == "BHSD":
        out = np.swapaxes(out, 1, 2)
    check_out(out, ref)
    check_lse(lse, ref_lse)


@pytest.mark.parametrize("lq,lk", [(1, 64), (17, 64), (1, 130), (17, 130)])
@pytest.mark.parametrize("hq,hkv", [(8, 8), (8, 2), (8, 1)], ids=["MHA", "GQA", "MQA"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_lq_ne_lk_and_gqa(lq, lk, hq, hkv, causal):
    q, k, v = qkv(2, lq, lk, hq, hkv, 32, dv=48, seed=lq * lk + hkv)
    ref, ref_lse = reference(q, k, v, causal=causal)
    out, lse = mp.flash_attention(q, k, v, causal=causal, return_lse=True)
    assert out.shape == (2, lq, hq, 48)
    check_out(out, ref)
    check_lse(lse, ref_lse)
    # BHSD gives the same numbers for the same data.
    out2 = mp.flash_attention(to_bhsd(q), to_bhsd(k), to_bhsd(v), causal=causal,
                              layout="BHSD")
    check_out(np.swapaxes(out2, 1, 2), ref)


@pytest.mark.parametrize("window", [(3, 0), (0, 3), (4, 4), (-1, 2), (5, -1), (0, 0)])
@pytest.mark.parametrize("lq,lk", [(32, 32), (17, 64)])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_windows(window, lq, lk, causal):
    q, k, v = qkv(1, lq, lk, 4, 2, 16, seed=7)
    ref, ref_lse = reference(q, k, v, causal=causal, window=window)
    out, lse = mp.flash_attention(q, k, v, causal=causal, window=window, return_lse=True)
    check_out(out, ref)
    check_lse(lse, ref_lse)


# --- ALiBi ------------------------------------------------------------------------------

def press_slopes(n):
    """ALiBi slopes as in Press et al.'s reference code (float64)."""
    def power_of_2(n):
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]
    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + press_slopes(2 * closest)[0::2][: n - closest]


@pytest.mark.parametrize("n", [1, 8, 12, 6])
def test_alibi_slopes_formula(n):
    got = mp.alibi_slopes(n)
    assert got.dtype == np.float32 and got.shape == (n,)
    # One rounding of the float64 slope to float32.
    np.testing.assert_array_equal(got, np.asarray(press_slopes(n), np.float32))


@pytest.mark.parametrize("lq,lk", [(16, 16), (17, 64)])
def test_alibi(lq, lk):
    q, k, v = qkv(1, lq, lk, 12, 4, 16, seed=3)
    slopes = np.asarray(press_slopes(12), np.float32)
    ref, ref_lse = reference(q, k, v, slopes=slopes, causal=False)
    out, lse = mp.flash_attention(q, k, v, alibi_slopes=True, causal=False, return_lse=True)
    check_out(out, ref)
    check_lse(lse, ref_lse)
    custom = np.linspace(0.05, 1.0, 12).astype(np.float32)
    ref2, _ = reference(q, k, v, slopes=custom)
    check_out(mp.flash_attention(q, k, v, alibi_slopes=custom), ref2)


# --- bias, key lengths, softcap, sinks, empty rows ----------------------------------------

@pytest.mark.parametrize("bias_shape", [(64,), (1, 4, 1, 64), (2, 1, 17, 64), (17, 1)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("bias_dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_bias_broadcast(bias_shape, bias_dtype):
    q, k, v = qkv(2, 17, 64, 4, 2, 16, seed=11)
    bias = data(bias_shape, bias_dtype, seed=12)
    if len(bias_shape) == 4:
        bias[..., 5] = -np.inf  # -inf entries mask
    ref, ref_lse = reference(q, k, v, bias=bias)
    out, lse = mp.flash_attention(q, k, v, bias=bias, return_lse=True)
    check_out(out, ref)
    check_lse(lse, ref_lse)


def test_key_lengths_and_empty_rows():
    q, k, v = qkv(3, 17, 64, 4, 4, 16, seed=5)
    lengths = np.array([64, 20, 0], np.int32)  # the last batch sees no key at all
    ref, ref_lse = reference(q, k, v, key_lengths=lengths, causal=False)
    out, lse = mp.flash_attention(q, k, v, key_lengths=lengths, causal=False,
                                  return_lse=True)
    check_out(out, ref)
    check_lse(lse, ref_lse)
    assert np.all(out[2] == 0) and np.all(np.isneginf(lse[2]))
    # Lists are accepted too.
    np.testing.assert_array_equal(
        mp.flash_attention(q, k, v, key_lengths=[64, 20, 0], causal=False), out)


def test_causal_more_queries_than_keys_gives_empty_rows():
    # Lq > Lk: query i sees j <= i - 7, so the first 7 rows see nothing.
    q, k, v = qkv(1, 17, 10, 2, 2, 8, seed=9)
    ref, ref_lse = reference(q, k, v)
    out, lse = mp.flash_attention(q, k, v, return_lse=True)
    check_out(out, ref)
    check_lse(lse, ref_lse)
    assert np.all(out[0, :7] == 0) and np.all(np.isneginf(lse[0, :, :7]))
    assert not np.isnan(out).any()


def test_softcap():
    q, k, v = qkv(1, 33, 33, 4, 2, 32, seed=4, scale=3.0)
    ref, ref_lse = reference(q, k, v, scale=1.0, softcap=5.0)
    out, lse = mp.flash_attention(q, k, v, scale=1.0, softcap=5.0, return_lse=True)
    check_out(out, ref)
    check_lse(lse, ref_lse)
    # The cap matters here: without it the result is different.
    plain, _ = reference(q, k, v, scale=1.0)
    assert np.max(np.abs(plain - ref)) > 1e-2


def test_sinks_including_empty_rows():
    q, k, v = qkv(2, 17, 64, 4, 2, 16, seed=6)
    sinks = np.array([0.5, -1.0, 3.0, 8.0], np.float32)
    lengths = np.array([40, 0], np.int32)
    ref, ref_lse = reference(q, k, v, sinks=sinks, key_lengths=lengths)
    out, lse = mp.flash_attention(q, k, v, sinks=sinks, key_lengths=lengths,
                                  return_lse=True)
    check_out(out, ref)
    check_lse(lse, ref_lse)
    # A row with no key but a sink: zeros, lse = the sink logit.
    assert np.all(out[1] == 0)
    np.testing.assert_array_equal(lse[1], np.broadcast_to(sinks[:, None], (4, 17)))


# --- dtypes and strides -------------------------------------------------------------------

@pytest.mark.parametrize("dtypes", [(np.float16,) * 3, (BF16,) * 3,
                                    (np.float32, np.float16, BF16), (BF16, np.float32,
                                                                     np.float16)],
                         ids=["f16", "bf16", "f32-f16-bf16", "bf16-f32-f16"])
def test_half_dtypes(dtypes):
    q, k, v = qkv(2, 17, 64, 4, 2, 32, seed=8)
    q, k, v = (t.astype(dt) for t, dt in zip((q, k, v), dtypes))
    ref, ref_lse = reference(q, k, v)
    out, lse = mp.flash_attention(q, k, v, return_lse=True)
    assert out.dtype == np.dtype(dtypes[0])
    check_out(out, ref, dtypes[0])
    check_lse(lse, ref_lse)
    # An out of another dtype receives the float32 result rounded once.
    out32 = mp.flash_attention(q, k, v, out=np.empty(out.shape, np.float32))
    check_out(out32, ref)


def test_strided_inputs():
    base = data((2, 40, 4, 64), seed=21)
    q = base[:, ::2, :, ::-2]            # [2, 20, 4, 32], negative and gapped strides
    assert not q.flags.c_contiguous
    kb = data((2, 32, 64, 3), seed=22)
    k = np.moveaxis(kb, 3, 2)[:, :, 1:, :]  # [2, 32, 2, 64] -> use a head-dim slice below
    k = k[..., :32]
    v = data((2, 2, 32, 16), seed=23).transpose(0, 2, 1, 3)  # BHSD data seen as BSHD
    ref, ref_lse = reference(q, k, v, causal=False)
    out, lse = mp.flash_attention(q, k, v, causal=False, return_lse=True)
    check_out(out, ref)
    check_lse(lse, ref_lse)
    # A strided out is written in place.
    out_buf = np.zeros((2, 4, 20, 16), np.float32)
    got = mp.flash_attention(q, k, v, causal=False, out=out_buf.transpose(0, 2, 1, 3))
    check_out(got, ref)
    check_out(out_buf.transpose(0, 2, 1, 3), ref)


# --- merge, sliding window ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_merge_equals_attention_over_union(dtype):
    q, k, v = qkv(2, 17, 130, 8, 2, 32, seed=13)
    half = 57
    o_a, l_a = mp.flash_attention(q, k[:, :half], v[:, :half], causal=False,
                                  return_lse=True, out=np.empty((2, 17, 8, 32), dtype))
    o_b, l_b = mp.flash_attention(q, k[:, half:], v[:, half:], causal=False,
                                  return_lse=True, out=np.empty((2, 17, 8, 32), dtype))
    out, lse = mp.merge_attention_states(o_a, l_a, o_b, l_b)
    ref, ref_lse = reference(q, k, v, causal=False)
    assert out.dtype == np.dtype(dtype)
    # f16 partial outputs carry their own rounding into the merge: 2x the output tolerance.
    tol = OUT_TOL[np.dtype(dtype)]
    np.testing.assert_allclose(out.astype(np.float64), ref,
                               rtol=2 * tol["rtol"], atol=2 * tol["atol"])
    check_lse(lse, ref_lse)


def test_merge_with_an_empty_side_and_in_place():
    q, k, v = qkv(1, 5, 20, 2, 2, 8, seed=14)
    o_a, l_a = mp.flash_attention(q, k, v, causal=False, return_lse=True)
    o_b = np.zeros_like(o_a)
    l_b = np.full_like(l_a, -np.inf)
    out, lse = mp.merge_attention_states(o_a, l_a, o_b, l_b)
    np.testing.assert_allclose(out, o_a, rtol=1e-6, atol=1e-7)  # float64 merge, rounded once
    np.testing.assert_array_equal(lse, l_a)
    out2, lse2 = mp.merge_attention_states(o_b, l_b, o_b.copy(), l_b.copy())
    assert np.all(out2 == 0) and np.all(np.isneginf(lse2))
    # In place: out is o_a and lse_out is lse_a.
    a, la = o_a.copy(), l_a.copy()
    res, res_lse = mp.merge_attention_states(a, la, o_b, l_b, out=a, lse_out=la)
    assert res is a and res_lse is la
    np.testing.assert_allclose(a, o_a, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("w", [0, 1, 5, 40])
@pytest.mark.parametrize("lq,lk", [(32, 32), (17, 64), (1, 130)])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_sliding_window(w, lq, lk, causal):
    q, k, v = qkv(2, lq, lk, 4, 2, 16, seed=15 + w)
    i = np.arange(lq)[:, None] + (lk - lq)
    j = np.arange(lk)[None, :]
    visible = np.abs(i - j) <= w
    if causal:
        visible &= j <= i
    ref, _ = reference(q, k, v, visible=visible)
    out = mp.sliding_window_attention(q, k, v, w, causal=causal)
    check_out(out, ref)
    out_bhsd = mp.sliding_window_attention(to_bhsd(q), to_bhsd(k), to_bhsd(v), w,
                                           causal=causal, layout="BHSD", scale=0.3)
    ref_s, _ = reference(q, k, v, visible=visible, scale=0.3)
    check_out(np.swapaxes(out_bhsd, 1, 2), ref_s)


# --- determinism ------------------------------------------------------------------------

@pytest.mark.parametrize("lq,lk", [(1, 4096), (128, 128), (17, 1030)])
def test_thread_count_is_bit_identical(lq, lk):
    q, k, v = qkv(1, lq, lk, 8, 2, 64, seed=16)
    before = mp.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            mp.set_num_threads(n)
            results.append(mp.flash_attention(q, k, v, return_lse=True))
    finally:
        mp.set_num_threads(before)
    (o1, l1), (o2, l2) = results
    assert o1.tobytes() == o2.tobytes() and l1.tobytes() == l2.tobytes()
    ref, _ = reference(q, k, v)
    check_out(o1, ref)


def test_row_alone_equals_row_in_prefill():
    q, k, v = qkv(1, 64, 64, 4, 4, 32, seed=17)
    full = mp.flash_attention(q, k, v)
    last = mp.flash_attention(q[:, -1:], k, v)  # decode of the last token
    assert last.tobytes() == np.ascontiguousarray(full[:, -1:]).tobytes()


# --- parameters and bad input ---------------------------------------------------------------

def test_params_init_defaults():
    import ctypes
    from mlxprim import _lib
    p = _lib.AttentionParams()
    _lib.check(_lib.lib.mlxp_attention_params_init(ctypes.byref(p)))
    assert p.struct_size == ctypes.sizeof(_lib.AttentionParams)
    assert (p.scale, p.causal, p.window_left, p.window_right, p.layout, p.softcap) == (
        0.0, 1, -1, -1, _lib.LAYOUT_BSHD, 0.0)
    assert not (p.bias or p.alibi_slopes or p.key_lengths or p.sinks)


def _raises(cls, message, fn):
    with pytest.raises(cls) as e:
        fn()
    assert e.value.message == message
    assert e.value.status == cls.status


def test_bad_inputs():
    q = np.zeros((1, 4, 3, 8), np.float32)
    k = np.zeros((1, 5, 2, 8), np.float32)
    _raises(ShapeMismatchError, "k: 2 KV heads do not divide 3 query heads",
            lambda: mp.flash_attention(q, k, k))
    _raises(ShapeMismatchError, "k: head dim 8 differs from q's 4",
            lambda: mp.flash_attention(q[..., :4].copy(), q, q))
    _raises(InvalidArgumentError, "window_left: -2, must be >= -1",
            lambda: mp.flash_attention(q, q, q, window=(-2, 0)))
    _raises(ShapeMismatchError, "key_lengths: length 2, expected B = 1",
            lambda: mp.flash_attention(q, q, q, key_lengths=[1, 2]))
    _raises(InvalidArgumentError, "key_lengths: entry 0 is 9, outside 0..4",
            lambda: mp.flash_attention(q, q, q, key_lengths=[9]))
    _raises(ShapeMismatchError, "alibi_slopes: length 2, expected Hq = 3",
            lambda: mp.flash_attention(q, q, q, alibi_slopes=[1.0, 2.0]))
    _raises(ShapeMismatchError, "bias: shape [2 1 1 1] does not broadcast to [1 3 4 4]",
            lambda: mp.flash_attention(q, q, q, bias=np.zeros((2, 1, 1, 1), np.float32)))
    _raises(ShapeMismatchError, "q: expected 4 dimensions, got shape [4 3 8]",
            lambda: mp.flash_attention(q[0], q, q))
    _raises(InvalidArgumentError, "window_size: -1 is negative",
            lambda: mp.sliding_window_attention(q, q, q, -1))
    _raises(InvalidArgumentError, "num_heads must be at least 1, got 0",
            lambda: mp.alibi_slopes(0))
    _raises(ShapeMismatchError, "lse_b: shape [1 3 5], expected [1 3 4]",
            lambda: mp.merge_attention_states(q, np.zeros((1, 3, 4), np.float32), q,
                                              np.zeros((1, 3, 5), np.float32)))
    # Checks made by the binding itself.
    with pytest.raises(InvalidArgumentError):
        mp.flash_attention(q, q, q, layout="SBHD")
    with pytest.raises(InvalidArgumentError):
        mp.flash_attention(q, q, q, scale=0.0)
    with pytest.raises(InvalidArgumentError):
        mp.flash_attention(q, q, q, window=3)
    # Nothing is written on failure.
    out = np.full((1, 4, 3, 8), 7.0, np.float32)
    with pytest.raises(ShapeMismatchError):
        mp.flash_attention(q, k, k, out=out)
    assert np.all(out == 7.0)
