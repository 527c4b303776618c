"""flash_attention_varlen, chunked_cross_attention and flash_attention_rope.

Each is checked two ways:
- against the promise of include/mlxprim.h that it equals a composition of functions
  already tested (flash_attention on each sequence alone; flash_attention itself when one
  chunk holds every key; mlxprim.rope on copies then flash_attention), bit for bit;
- against the dense float64 reference of test_attention.py, with its float32 tolerances
  (rtol 2e-5, atol 2e-5 on outputs; rtol 2e-6, atol 2e-5 on lse; reasoning there).
Chunked results with several chunks differ from flash_attention only by rounding: each
chunk is normalized in float32 and the merge is float64, so they stay within the same
float32 tolerance of the reference (a wrong chunk boundary or mask is off by > 1e-2).
"""

import numpy as np
import pytest

import mlxprim as mp
from mlxprim import InvalidArgumentError
from test_attention import check_lse, check_out, data, qkv, reference, to_bhsd

# --- flash_attention_varlen -------------------------------------------------------------

# (Lq, Lk) per packed sequence: different lengths, Lq != Lk both ways, a single query.
SEQS = [(5, 5), (3, 9), (1, 4), (7, 6)]


def packed(seqs, hq, hkv, d, dv, seed=0):
    total_q = sum(s[0] for s in seqs)
    total_k = sum(s[1] for s in seqs)
    q = data((total_q, hq, d), seed=seed)
    k = data((total_k, hkv, d), seed=seed + 1)
    v = data((total_k, hkv, dv), seed=seed + 2)
    cu_q = np.concatenate([[0], np.cumsum([s[0] for s in seqs])]).astype(np.int32)
    cu_k = np.concatenate([[0], np.cumsum([s[1] for s in seqs])]).astype(np.int32)
    return q, k, v, cu_q, cu_k


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("hq,hkv", [(4, 4), (4, 2), (4, 1)], ids=["MHA", "GQA", "MQA"])
@pytest.mark.parametrize("extra", [{}, {"window": (2, 1)}, {"alibi_slopes": True},
                                   {"sinks": [0.5, -1.0, 2.0, 0.0]}],
                         ids=["plain", "window", "alibi", "sinks"])
def test_varlen_equals_each_sequence_alone(causal, hq, hkv, extra):
    q, k, v, cu_q, cu_k = packed(SEQS, hq, hkv, 16, 8)
    out, lse = mp.flash_attention_varlen(q, k, v, cu_q, cu_k, causal=causal,
                                         return_lse=True, **extra)
    assert out.shape == (q.shape[0], hq, 8) and out.dtype == np.float32
    assert lse.shape == (hq, q.shape[0])
    slopes = mp.alibi_slopes(hq) if extra.get("alibi_slopes") else None
    for b in range(len(SEQS)):
        qs, ks = slice(cu_q[b], cu_q[b + 1]), slice(cu_k[b], cu_k[b + 1])
        alone, alone_lse = mp.flash_attention(q[None, qs], k[None, ks], v[None, ks],
                                              causal=causal, return_lse=True, **extra)
        np.testing.assert_array_equal(out[qs], alone[0])
        np.testing.assert_array_equal(lse[:, qs], alone_lse[0])
        ref, ref_lse = reference(q[None, qs], k[None, ks], v[None, ks], causal=causal,
                                 window=extra.get("window", (-1, -1)), slopes=slopes,
                                 sinks=extra.get("sinks"))
        check_out(out[qs], ref[0])
        check_lse(lse[:, qs], ref_lse[0])


def test_varlen_half_dtype_and_given_out():
    q, k, v, cu_q, cu_k = packed(SEQS, 4, 2, 8, 8, seed=5)
    q16, k16, v16 = (t.astype(np.float16) for t in (q, k, v))
    out = np.full((q.shape[0], 4, 8), 3.0, np.float32)
    got = mp.flash_attention_varlen(q16, k16, v16, list(cu_q), list(cu_k), out=out)
    assert got is out
    for b in range(len(SEQS)):
        qs, ks = slice(cu_q[b], cu_q[b + 1]), slice(cu_k[b], cu_k[b + 1])
        alone = mp.flash_attention(q16[None, qs], k16[None, ks], v16[None, ks],
                                   out=np.empty((1, qs.stop - qs.start, 4, 8), np.float32))
        np.testing.assert_array_equal(out[qs], alone[0])


# The same defect on each side (packed(SEQS) has cu_q [0 5 8 9 16], cu_k [0 5 14 18 24]).
@pytest.mark.parametrize("bad_q,bad_k", [
    ([1, 5, 8, 9, 16], [1, 5, 14, 18, 24]),
    ([0, 5, 4, 9, 16], [0, 5, 4, 18, 24]),
    ([0, 5, 8, 9, 15], [0, 5, 14, 18, 23]),
    ([0, 5, 8, 9, 17], [0, 5, 14, 18, 25]),
], ids=["not-from-0", "decreasing", "short", "long"])
def test_varlen_bad_cu_seqlens(bad_q, bad_k):
    q, k, v, cu_q, cu_k = packed(SEQS, 4, 2, 8, 8)
    out = np.full((q.shape[0], 4, 8), 7.0, np.float32)
    with pytest.raises(InvalidArgumentError, match="cu_seqlens_q"):
        mp.flash_attention_varlen(q, k, v, np.array(bad_q, np.int32), cu_k, out=out)
    with pytest.raises(InvalidArgumentError, match="cu_seqlens_k"):
        mp.flash_attention_varlen(q, k, v, cu_q, np.array(bad_k, np.int32), out=out)
    assert np.all(out == 7.0)  # nothing is written on failure


def test_varlen_other_bad_inputs():
    q, k, v, cu_q, cu_k = packed(SEQS, 4, 2, 8, 8)
    with pytest.raises(InvalidArgumentError, match="cu_seqlens_k: length 4 differs"):
        mp.flash_attention_varlen(q, k, v, cu_q, [0, 5, 14, 24])
    with pytest.raises(mp.UnsupportedDtypeError, match="cu_seqlens_q: dtype int64"):
        mp.flash_attention_varlen(q, k, v, cu_q.astype(np.int64), cu_k)
    with pytest.raises(mp.ShapeMismatchError, match="q: expected 3 dimensions"):
        mp.flash_attention_varlen(q[None], k, v, cu_q, cu_k)


# --- chunked_cross_attention ------------------------------------------------------------

@pytest.mark.parametrize("lq,lk", [(5, 150), (20, 20)])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["nobias", "bias"])
def test_chunked(lq, lk, causal, with_bias):
    q, k, v = qkv(2, lq, lk, 4, 2, 16, dv=8, seed=lq + lk)
    bias = None
    if with_bias:
        bias = data((2, 1, lq, lk), seed=9)
        bias[:, :, :, 3] = -np.inf  # a masked key in every row
    whole, _ = mp.flash_attention(q, k, v, causal=causal, bias=bias, return_lse=True)
    ref, _ = reference(q, k, v, causal=causal, bias=bias)
    # One chunk holds every key: flash_attention's result, bit for bit (0 means 1024).
    for chunk in (lk, lk + 1, 0):
        got = mp.chunked_cross_attention(q, k, v, chunk_size=chunk, causal=causal, bias=bias)
        np.testing.assert_array_equal(got, whole)
    # Several chunks (with (20, 20) causal, early rows see no key of the later chunks).
    for chunk in (7, 64):
        got = mp.chunked_cross_attention(q, k, v, chunk_size=chunk, causal=causal, bias=bias)
        check_out(got, ref)


def test_chunked_bhsd_and_key_lengths():
    q, k, v = qkv(2, 3, 50, 4, 4, 8, seed=3)
    lens = [50, 17]
    ref, _ = reference(q, k, v, causal=False, key_lengths=lens)
    got = mp.chunked_cross_attention(*map(to_bhsd, (q, k, v)), chunk_size=8,
                                     layout="BHSD", key_lengths=lens)
    check_out(np.swapaxes(got, 1, 2), ref)


def test_chunked_bad_chunk_size():
    q = np.zeros((1, 4, 2, 8), np.float32)
    with pytest.raises(InvalidArgumentError, match="chunk_size"):
        mp.chunked_cross_attention(q, q, q, chunk_size=-1)


# --- flash_attention_rope ---------------------------------------------------------------

def roped_then_attention(q, k, v, lq, lk, offset, layout, rope_kw, attn_kw):
    """The header's definition: mlxprim.rope on q and k (query i at offset + (Lk - Lq) + i,
    key j at offset + j), then flash_attention."""
    qr = mp.rope(q, positions=np.arange(lq, dtype=np.int64) + offset + (lk - lq),
                 layout=layout, **rope_kw)
    kr = mp.rope(k, positions=np.arange(lk, dtype=np.int64) + offset, layout=layout,
                 **rope_kw)
    return qr, kr, mp.flash_attention(qr, kr, v, layout=layout, return_lse=True, **attn_kw)


@pytest.mark.parametrize("pairing", ["half", "interleaved"])
@pytest.mark.parametrize("lq,lk,offset", [(9, 9, 0), (9, 9, 5), (1, 12, 3), (3, 10, 0)],
                         ids=["prefill", "prefill-offset", "decode", "chunk"])
@pytest.mark.parametrize("rotary_dim", [0, 8])
def test_rope_equals_rope_then_attention(pairing, lq, lk, offset, rotary_dim):
    q, k, v = qkv(2, lq, lk, 4, 2, 16, seed=lq * lk + offset)
    q0, k0 = q.copy(), k.copy()
    rope_kw = dict(pairing=pairing, rotary_dim=rotary_dim)
    qr, kr, (want, want_lse) = roped_then_attention(q, k, v, lq, lk, offset, "BSHD",
                                                    rope_kw, {})
    out, lse = mp.flash_attention_rope(q, k, v, rope_offset=offset, return_lse=True,
                                       **rope_kw)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(lse, want_lse)
    np.testing.assert_array_equal(q, q0)  # q and k are left unchanged
    np.testing.assert_array_equal(k, k0)
    ref, ref_lse = reference(qr, kr, v)
    check_out(out, ref)
    check_lse(lse, ref_lse)


@pytest.mark.parametrize("attn_kw", [{"causal": False, "scale": 0.3},
                                     {"window": (3, 0)}], ids=["full-scale", "window"])
def test_rope_bhsd_scaling_and_attention_options(attn_kw):
    lq, lk, offset = 4, 11, 7
    q, k, v = (to_bhsd(t) for t in qkv(1, lq, lk, 2, 2, 16, seed=11))
    q0, k0 = q.copy(), k.copy()
    rope_kw = dict(base=500000.0, scaling={"type": "linear", "factor": 2.0})
    _, _, (want, want_lse) = roped_then_attention(q, k, v, lq, lk, offset, "BHSD",
                                                  rope_kw, attn_kw)
    out, lse = mp.flash_attention_rope(q, k, v, rope_offset=offset, layout="BHSD",
                                       return_lse=True, **rope_kw, **attn_kw)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(lse, want_lse)
    np.testing.assert_array_equal(q, q0)
    np.testing.assert_array_equal(k, k0)


def test_rope_bad_arguments():
    q = np.zeros((1, 4, 2, 8), np.float32)
    with pytest.raises(InvalidArgumentError, match="pairing"):
        mp.flash_attention_rope(q, q, q, pairing="neox")
    with pytest.raises(InvalidArgumentError, match="rotary_dim"):
        mp.flash_attention_rope(q, q, q, rotary_dim=3)
    with pytest.raises(InvalidArgumentError, match="scaling"):
        mp.flash_attention_rope(q, q, q, scaling={"type": "linear", "bogus": 1})
