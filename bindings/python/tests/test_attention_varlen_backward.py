"""flash_attention_varlen_backward, checked two ways:
- against the promise of include/mlxprim.h that each packed sequence's gradients are those
  of flash_attention_backward on that sequence alone (after flash_attention on it alone),
  bit for bit;
- against the dense float64 chain-rule reference of test_attention_backward.py (itself
  checked there by finite differences), with its tolerances, |got - ref| <= tol * (1 + |ref|):
  2e-4 for float32 and 2e-2 for bfloat16 (reasoning there).
The packed batch has a sequence with no queries (its keys must get dk = dv = 0) and one
with no keys (its queries must get dq = 0); causal rows that see no key get dq = 0 too.
"""

import numpy as np
import pytest

import mlxprim as mp
from mlxprim import InvalidArgumentError, ShapeMismatchError
from test_attention_backward import BF16, check_grad, data, reference

# (Lq, Lk) per packed sequence: Lq < Lk, no queries, no keys, Lq > Lk, a single query.
SEQS = [(5, 7), (0, 5), (4, 0), (7, 4), (1, 3)]


def packed(seqs, hq, hkv, d, dv, dtype=np.float32, seed=0):
    total_q = sum(s[0] for s in seqs)
    total_k = sum(s[1] for s in seqs)
    q = data((total_q, hq, d), dtype, seed)
    k = data((total_k, hkv, d), dtype, seed + 1)
    v = data((total_k, hkv, dv), dtype, seed + 2)
    dout = data((total_q, hq, dv), dtype, seed + 3)
    cu_q = np.concatenate([[0], np.cumsum([s[0] for s in seqs])]).astype(np.int32)
    cu_k = np.concatenate([[0], np.cumsum([s[1] for s in seqs])]).astype(np.int32)
    return q, k, v, dout, cu_q, cu_k


def varlen_grads(q, k, v, dout, cu_q, cu_k, **kw):
    """Packed forward (out, lse) then the packed backward, with the same arguments."""
    out, lse = mp.flash_attention_varlen(q, k, v, cu_q, cu_k, return_lse=True, **kw)
    return mp.flash_attention_varlen_backward(q, k, v, out, dout, lse, cu_q, cu_k, **kw)


def alone_grads(q, k, v, dout, **kw):
    """Forward then backward on one sequence as a batch of one."""
    out, lse = mp.flash_attention(q[None], k[None], v[None], return_lse=True, **kw)
    dq, dk, dv = mp.flash_attention_backward(q[None], k[None], v[None], out, dout[None], lse,
                                             **kw)
    return dq[0], dk[0], dv[0]


def reference_grads(q, k, v, dout, *, alibi_slopes=None, **kw):
    """The float64 reference on one sequence; a sequence without keys has dq = 0 (and no
    key rows), which the dense reference cannot form (a max over zero keys)."""
    if k.shape[0] == 0:
        return np.zeros(q.shape), np.zeros(k.shape), np.zeros(v.shape)
    _, rq, rk, rv = reference(q[None], k[None], v[None], dout[None], slopes=alibi_slopes, **kw)
    return rq[0], rk[0], rv[0]


def check_sequences(q, k, v, dout, cu_q, cu_k, grads, dtype=np.float32, **kw):
    dq, dk, dv = grads
    slopes = mp.alibi_slopes(q.shape[1]) if kw.get("alibi_slopes") is True else None
    for b in range(len(cu_q) - 1):
        qs, ks = slice(cu_q[b], cu_q[b + 1]), slice(cu_k[b], cu_k[b + 1])
        aq, ak, av = alone_grads(q[qs], k[ks], v[ks], dout[qs], **kw)
        np.testing.assert_array_equal(dq[qs], aq, err_msg=f"sequence {b} dq")
        np.testing.assert_array_equal(dk[ks], ak, err_msg=f"sequence {b} dk")
        np.testing.assert_array_equal(dv[ks], av, err_msg=f"sequence {b} dv")
        ref_kw = dict(kw, alibi_slopes=slopes if slopes is not None else kw.get("alibi_slopes"))
        rq, rk, rv = reference_grads(q[qs], k[ks], v[ks], dout[qs], **ref_kw)
        for got, want in ((dq[qs], rq), (dk[ks], rk), (dv[ks], rv)):
            if want.size:  # an empty side has nothing to compare (check_grad takes a max)
                check_grad(got, want, dtype)


def check_empty_sides(cu_q, cu_k, grads):
    dq, dk, dv = grads
    # SEQS[1] has no queries: its keys get no gradient; SEQS[2] has no keys: dq is 0.
    assert np.all(dk[cu_k[1]:cu_k[2]] == 0) and np.all(dv[cu_k[1]:cu_k[2]] == 0)
    assert np.all(dq[cu_q[2]:cu_q[3]] == 0)
    assert np.isfinite(dq).all() and np.isfinite(dk).all() and np.isfinite(dv).all()


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("hq,hkv", [(4, 4), (4, 2), (4, 1)], ids=["MHA", "GQA", "MQA"])
@pytest.mark.parametrize("extra", [{}, {"window": (2, 1)}, {"alibi_slopes": True},
                                   {"sinks": [0.5, -1.0, 2.0, 0.0]},
                                   {"softcap": 1.5, "scale": 0.9}],
                         ids=["plain", "window", "alibi", "sinks", "softcap"])
def test_equals_each_sequence_alone(causal, hq, hkv, extra):
    q, k, v, dout, cu_q, cu_k = packed(SEQS, hq, hkv, 16, 8)
    grads = varlen_grads(q, k, v, dout, cu_q, cu_k, causal=causal, **extra)
    assert [g.shape for g in grads] == [q.shape, k.shape, v.shape]
    assert all(g.dtype == np.float32 for g in grads)
    check_sequences(q, k, v, dout, cu_q, cu_k, grads, causal=causal, **extra)
    check_empty_sides(cu_q, cu_k, grads)


def test_causal_rows_without_keys_give_zero_dq():
    # SEQS[3] has Lq 7 > Lk 4: under the bottom-right causal mask its first 3 queries see
    # no key.
    q, k, v, dout, cu_q, cu_k = packed(SEQS, 4, 2, 16, 8, seed=10)
    dq, _, _ = varlen_grads(q, k, v, dout, cu_q, cu_k, causal=True)
    assert np.all(dq[cu_q[3]:cu_q[3] + 3] == 0)
    assert np.any(dq[cu_q[3] + 3:cu_q[4]] != 0)


def test_bfloat16():
    q, k, v, dout, cu_q, cu_k = packed(SEQS, 4, 2, 16, 16, BF16, seed=20)
    grads = varlen_grads(q, k, v, dout, cu_q, cu_k, causal=True)
    assert all(g.dtype == BF16 for g in grads)
    check_sequences(q, k, v, dout, cu_q, cu_k, grads, BF16, causal=True)


def test_given_outputs():
    """dq, dk, dv given by the caller (float32 for float16 inputs) are written and returned."""
    q, k, v, dout, cu_q, cu_k = packed(SEQS, 4, 2, 8, 8, np.float16, seed=30)
    out, lse = mp.flash_attention_varlen(q, k, v, cu_q, cu_k, return_lse=True)
    given = [np.full(x.shape, 7.0, np.float32) for x in (q, k, v)]
    got = mp.flash_attention_varlen_backward(q, k, v, out, dout, lse, list(cu_q), list(cu_k),
                                             dq=given[0], dk=given[1], dv=given[2])
    assert all(a is b for a, b in zip(got, given))
    want = mp.flash_attention_varlen_backward(q, k, v, out, dout, lse, cu_q, cu_k)
    for g, w in zip(got, want):
        # float16 results are the float32 ones rounded once (include/mlxprim.h).
        np.testing.assert_array_equal(g.astype(np.float16), w)


def test_threads_bit_identical():
    seqs = [(40, 64), (0, 9), (70, 70), (33, 0), (96, 130)]
    q, k, v, dout, cu_q, cu_k = packed(seqs, 4, 2, 32, 32, seed=40)
    kw = dict(causal=True, softcap=5.0, alibi_slopes=True, sinks=[0.1, 0.2, 0.3, 0.4])
    saved = mp.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            mp.set_num_threads(n)
            results.append(varlen_grads(q, k, v, dout, cu_q, cu_k, **kw))
    finally:
        mp.set_num_threads(saved)
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


# --- bad input: the documented error, nothing written ------------------------------------

@pytest.fixture
def case():
    q, k, v, dout, cu_q, cu_k = packed(SEQS, 4, 2, 8, 8, seed=50)
    out, lse = mp.flash_attention_varlen(q, k, v, cu_q, cu_k, return_lse=True)
    grads = [np.full(x.shape, 7.0, np.float32) for x in (q, k, v)]
    return dict(q=q, k=k, v=v, out=out, dout=dout, lse=lse, cu_q=cu_q, cu_k=cu_k, grads=grads)


def call(c, **over):
    a = dict(c, **over)
    dq, dk, dv = a["grads"]
    return mp.flash_attention_varlen_backward(
        a["q"], a["k"], a["v"], a["out"], a["dout"], a["lse"], a["cu_q"], a["cu_k"],
        dq=a.get("dq", dq), dk=a.get("dk", dk), dv=dv, **a.get("kw", {}))


def untouched(c):
    return all(np.all(g == 7.0) for g in c["grads"])


def test_baseline_is_valid(case):
    call(case)
    assert not untouched(case)


@pytest.mark.parametrize("bad_q,bad_k", [
    ([1, 5, 5, 9, 16, 17], [1, 7, 12, 12, 16, 19]),  # not starting at 0
    ([0, 5, 5, 9, 16, 16], [0, 7, 12, 12, 16, 18]),  # each ends before the total
    ([0, 5, 4, 9, 16, 17], [0, 7, 12, 11, 16, 19]),  # decreasing
])
def test_bad_cu_seqlens(case, bad_q, bad_k):
    with pytest.raises(InvalidArgumentError, match="cu_seqlens_q"):
        call(case, cu_q=np.array(bad_q, np.int32))
    assert untouched(case)
    with pytest.raises(InvalidArgumentError, match="cu_seqlens_k"):
        call(case, cu_k=np.array(bad_k, np.int32))
    assert untouched(case)


def test_cu_seqlens_of_different_lengths(case):
    with pytest.raises(InvalidArgumentError, match="cu_seqlens_k: length 3 differs"):
        call(case, cu_k=np.array([0, 12, 19], np.int32))
    assert untouched(case)


def test_dk_shape_mismatch(case):
    dk = np.full((case["k"].shape[0] - 1,) + case["k"].shape[1:], 7.0, np.float32)
    with pytest.raises(ShapeMismatchError, match="dk"):
        call(case, dk=dk)
    assert untouched(case) and np.all(dk == 7.0)


def test_lse_required(case):
    with pytest.raises(InvalidArgumentError, match="lse"):
        call(case, lse=None)
    assert untouched(case)


def test_lse_shape(case):
    with pytest.raises(ShapeMismatchError, match="lse"):
        call(case, lse=case["lse"][:, :-1])
    assert untouched(case)


def test_dq_overlapping_q(case):
    q = case["q"].copy()
    with pytest.raises(InvalidArgumentError, match="dq"):
        call(case, q=q, dq=q)
    assert untouched(case)
    np.testing.assert_array_equal(q, case["q"])


def test_bad_params(case):
    with pytest.raises(InvalidArgumentError, match="window"):
        call(case, kw={"window": (-2, 0)})
    with pytest.raises(ShapeMismatchError, match="alibi_slopes"):
        call(case, kw={"alibi_slopes": [0.5, 0.25]})
    assert untouched(case)
