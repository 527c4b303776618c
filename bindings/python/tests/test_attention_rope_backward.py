"""flash_attention_rope_backward, checked two ways (include/mlxprim.h):

- against a float64 reference: q and k are rotated by a float64 RoPE written here from the
  formula (inverse frequencies base^(-2i/R); "half" pairs d with d + R/2, "interleaved" 2d
  with 2d + 1; dims from R on pass through), then rounded to their dtype as the header
  says the library does; the float64 attention gradients of test_attention_backward's
  reference are taken for those rotated inputs, and dq and dk are rotated back by the
  transpose, (ga, gb) -> (ga cos t + gb sin t, -ga sin t + gb cos t);
- against the header's composition, bit for bit: mlxprim.rope on copies of q and k,
  flash_attention_backward into float32 dq and dk, mlxprim.rope(inverse=True) on them
  (used for the YaRN and Llama 3 scalings, whose frequencies test_rope.py checks).

Positions are bottom-right aligned: key j at rope_offset + j, query i at
rope_offset + (Lk - Lq) + i.

Tolerances, |got - ref| <= tol * (1 + |ref|), those of test_attention_backward (reasoning
there), whose check_grad is used:
- float32 gradients: tol 2e-4. The rotations add a few float32 roundings (cos and sin, the
  rotated inputs, the rotation back), ~1e-7 relative each; observed <= 6e-7, while a wrong
  position, pairing, frequency or a missing transpose is off by > 1e-2.
- bfloat16 inputs and gradients: tol 2e-2 (out stored in bfloat16, each gradient rounded
  once to bfloat16: 2^-9 relative). The library rotates in float32 and the reference in
  float64 before both round to bfloat16, so an element near a rounding boundary can land
  one ulp apart; observed <= 5e-3, as without RoPE.
"""

import ctypes

import numpy as np
import pytest

import mlxprim as mp
from mlxprim import InvalidArgumentError, ShapeMismatchError
from mlxprim._lib import check, lib
from mlxprim._rope import rope_params
from mlxprim._tensor import as_tensor, ref
from test_attention_backward import BF16, check_grad, data, on_threads, reference
from test_errors import lib_error


# --- the float64 reference ---------------------------------------------------------------

def rotation(positions, head_dim, rotary_dim=0, base=10000.0, pairing="half"):
    """(a, b, cos, sin): the indices of each rotary pair's two dims and float64 cos and sin
    [S, R/2] of the angles t = position * base^(-2i/R)."""
    r = head_dim if rotary_dim == 0 else rotary_dim
    i = np.arange(r // 2)
    t = np.asarray(positions, np.float64)[:, None] * base ** (-2.0 * i / r)
    if pairing == "half":
        a, b = i, i + r // 2
    else:
        a, b = 2 * i, 2 * i + 1
    return a, b, np.cos(t), np.sin(t)


def rotate(x, rot, transpose=False):
    """x [B, S, H, D] in float64 with each pair (xa, xb) at sequence position s turned by
    the angle t of that position: (xa cos t - xb sin t, xa sin t + xb cos t), or by the
    transpose (xa cos t + xb sin t, -xa sin t + xb cos t)."""
    a, b, c, s = rot
    c, s = c[None, :, None, :], s[None, :, None, :]
    xa, xb = x[..., a], x[..., b]
    y = x.copy()
    if transpose:
        y[..., a], y[..., b] = xa * c + xb * s, -xa * s + xb * c
    else:
        y[..., a], y[..., b] = xa * c - xb * s, xa * s + xb * c
    return y


def reference_grads(q, k, v, dout, *, rope_offset=0, base=10000.0, rotary_dim=0,
                    pairing="half", **attn):
    """Float64 (dq, dk, dv) of BSHD tensors, dq and dk for the unrotated q and k."""
    lq, lk, d = q.shape[1], k.shape[1], q.shape[3]
    rq = rotation(rope_offset + (lk - lq) + np.arange(lq), d, rotary_dim, base, pairing)
    rk = rotation(rope_offset + np.arange(lk), d, rotary_dim, base, pairing)
    # The library rotates q and k into their own dtypes, as the forward call does.
    qr = rotate(q.astype(np.float64), rq).astype(q.dtype)
    kr = rotate(k.astype(np.float64), rk).astype(k.dtype)
    _, dq, dk, dv = reference(qr, kr, v, dout, **attn)
    return rotate(dq, rq, transpose=True), rotate(dk, rk, transpose=True), dv


def run(q, k, v, dout, **kw):
    """The fused forward (out, lse), then the fused backward with the same arguments."""
    out, lse = mp.flash_attention_rope(q, k, v, return_lse=True, **kw)
    return mp.flash_attention_rope_backward(q, k, v, out, dout, lse, **kw)


def to_bhsd(x):
    return np.ascontiguousarray(np.swapaxes(x, 1, 2))


def from_bhsd(x):
    return np.swapaxes(x, 1, 2)


# --- the library against the reference ---------------------------------------------------

@pytest.mark.parametrize("dtype", [np.dtype(np.float32), BF16], ids=["f32", "bf16"])
def test_prefill_causal(dtype):
    q, k, v = (data((2, 12, 4, 16), dtype, 1), data((2, 12, 4, 16), dtype, 2),
               data((2, 12, 4, 16), dtype, 3))
    dout = data((2, 12, 4, 16), dtype, 4)
    q0, k0 = q.copy(), k.copy()
    dq, dk, dv = run(q, k, v, dout, causal=True)
    assert (dq.dtype, dk.dtype, dv.dtype) == (dtype,) * 3  # the inputs' dtypes by default
    rq, rk, rv = reference_grads(q, k, v, dout, causal=True)
    for got, want in ((dq, rq), (dk, rk), (dv, rv)):
        check_grad(got, want, dtype)
    np.testing.assert_array_equal(q, q0)  # the rotation goes to scratch
    np.testing.assert_array_equal(k, k0)


@pytest.mark.parametrize("lq", [1, 3])
def test_decode_with_offset_interleaved(lq):
    """The last lq queries of 14 cached keys, the first key at position 5."""
    lk, kw = 14, dict(rope_offset=5, pairing="interleaved", causal=True)
    q, k, v = (data((2, lq, 2, 16), seed=11), data((2, lk, 2, 16), seed=12),
               data((2, lk, 2, 16), seed=13))
    dout = data((2, lq, 2, 16), seed=14)
    dq, dk, dv = run(q, k, v, dout, **kw)
    rq, rk, rv = reference_grads(q, k, v, dout, **kw)
    for got, want in ((dq, rq), (dk, rk), (dv, rv)):
        check_grad(got, want, np.float32)


def test_gqa_bhsd_partial_rotary_dim():
    """Hq 4 on Hkv 2, BHSD, 8 of 16 dims rotating (the other 8 pass through), Dv 8, a
    window and an explicit scale, base 500000."""
    lq, lk = 6, 9
    rope_kw = dict(rope_offset=3, rotary_dim=8, base=500000.0)
    attn_kw = dict(causal=True, window=(4, -1), scale=0.4)
    q, k, v = (data((2, lq, 4, 16), seed=21), data((2, lk, 2, 16), seed=22),
               data((2, lk, 2, 8), seed=23))
    dout = data((2, lq, 4, 8), seed=24)
    dq, dk, dv = run(to_bhsd(q), to_bhsd(k), to_bhsd(v), to_bhsd(dout), layout="BHSD",
                     **rope_kw, **attn_kw)
    assert (dq.shape, dk.shape, dv.shape) == ((2, 4, lq, 16), (2, 2, lk, 16), (2, 2, lk, 8))
    rq, rk, rv = reference_grads(q, k, v, dout, **rope_kw, **attn_kw)
    for got, want in ((dq, rq), (dk, rk), (dv, rv)):
        check_grad(from_bhsd(got), want, np.float32)


# --- the header's composition, bit for bit -----------------------------------------------

def composed(q, k, v, dout, rope_offset, layout, rope_kw, attn_kw):
    """mlxprim.rope on copies of q and k, flash_attention and its backward with float32 dq
    and dk, then mlxprim.rope(inverse=True) on dq and dk at the same positions."""
    seq = 1 if layout == "BSHD" else 2
    lq, lk = q.shape[seq], k.shape[seq]
    pq = rope_offset + (lk - lq) + np.arange(lq, dtype=np.int64)
    pk = rope_offset + np.arange(lk, dtype=np.int64)
    qr = mp.rope(q, positions=pq, layout=layout, **rope_kw)
    kr = mp.rope(k, positions=pk, layout=layout, **rope_kw)
    out, lse = mp.flash_attention(qr, kr, v, layout=layout, return_lse=True, **attn_kw)
    dq32, dk32, dv = mp.flash_attention_backward(
        qr, kr, v, out, dout, lse, layout=layout, dq=np.empty(q.shape, np.float32),
        dk=np.empty(k.shape, np.float32), **attn_kw)
    dq = mp.rope(dq32, positions=pq, layout=layout, inverse=True, **rope_kw)
    dk = mp.rope(dk32, positions=pk, layout=layout, inverse=True, **rope_kw)
    return out, lse, dq, dk, dv


SCALED = {
    # YaRN: cos and sin carry m, so the rotation back multiplies by m once more.
    "yarn-f32-bshd": dict(
        dtype=np.float32, layout="BSHD", rope_offset=40,
        rope_kw=dict(pairing="half", scaling={"type": "yarn", "factor": 4.0,
                                              "original_max_position_embeddings": 32}),
        attn_kw=dict(causal=True)),
    # bfloat16 inputs rotated into bfloat16, gradients into float32 (given dq, dk).
    "llama3-bf16-bhsd": dict(
        dtype=BF16, layout="BHSD", rope_offset=7,
        rope_kw=dict(pairing="interleaved", rotary_dim=8, base=500000.0,
                     scaling={"type": "llama3", "factor": 8.0,
                              "original_max_position_embeddings": 16,
                              "low_freq_factor": 1.0, "high_freq_factor": 4.0}),
        attn_kw=dict(causal=False, scale=0.3)),
    # Every other attention option passes through both calls (gpt-oss: sinks; Gemma 2:
    # soft cap); the bias and sinks are constants of the backward.
    "options-f32-bshd": dict(
        dtype=np.float32, layout="BSHD", rope_offset=3, rope_kw=dict(pairing="half"),
        attn_kw=dict(causal=True, softcap=4.0, sinks=[0.5, -1.0, 0.0, 1.5],
                     key_lengths=[13, 6], alibi_slopes=True,
                     bias=np.random.default_rng(5).standard_normal((1, 4, 5, 13)).astype(
                         np.float32))),
}


@pytest.mark.parametrize("name", list(SCALED))
def test_scaling_equals_composition(name):
    c = SCALED[name]
    dtype, layout, offset = c["dtype"], c["layout"], c["rope_offset"]
    t = to_bhsd if layout == "BHSD" else (lambda x: x)
    q, k, v = (t(data((2, 5, 4, 16), dtype, 31)), t(data((2, 13, 2, 16), dtype, 32)),
               t(data((2, 13, 2, 16), dtype, 33)))
    dout = t(data((2, 5, 4, 16), dtype, 34))
    want_out, want_lse, want_dq, want_dk, want_dv = composed(
        q, k, v, dout, offset, layout, c["rope_kw"], c["attn_kw"])
    kw = dict(rope_offset=offset, layout=layout, **c["rope_kw"], **c["attn_kw"])
    out, lse = mp.flash_attention_rope(q, k, v, return_lse=True, **kw)
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(lse, want_lse)
    dq, dk, dv = mp.flash_attention_rope_backward(
        q, k, v, out, dout, lse, dq=np.empty(q.shape, np.float32),
        dk=np.empty(k.shape, np.float32), **kw)
    assert dv.dtype == v.dtype
    for got, want in ((dq, want_dq), (dk, want_dk), (dv, want_dv)):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


# --- determinism -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.dtype(np.float32), BF16], ids=["f32", "bf16"])
def test_threads_bit_identical(dtype):
    """bfloat16 also takes the float32 copies of dq and dk before the one rounding."""
    q, k, v = (data((2, 96, 4, 32), dtype, 41), data((2, 160, 2, 32), dtype, 42),
               data((2, 160, 2, 32), dtype, 43))
    dout = data((2, 96, 4, 32), dtype, 44)
    yarn = {"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 64}
    kw = dict(rope_offset=17, pairing="interleaved", rotary_dim=24, causal=True, scaling=yarn)
    for a, b in zip(*on_threads(run, q, k, v, dout, **kw)):
        assert a.dtype == dtype and a.tobytes() == b.tobytes()


# --- bad input: the documented error, nothing written ------------------------------------

@pytest.fixture
def case():
    q, k, v = data((1, 6, 2, 8), seed=51), data((1, 6, 2, 8), seed=52), data((1, 6, 2, 8),
                                                                           seed=53)
    dout = data((1, 6, 2, 8), seed=54)
    out, lse = mp.flash_attention_rope(q, k, v, return_lse=True)
    grads = [np.full(x.shape, 7.0, np.float32) for x in (q, k, v)]
    return dict(q=q, k=k, v=v, out=out, dout=dout, lse=lse, grads=grads)


def call(c, **over):
    a = dict(c, **over)
    dq, dk, dv = a["grads"]
    return mp.flash_attention_rope_backward(
        a["q"], a["k"], a["v"], a["out"], a["dout"], a["lse"], dq=a.get("dq", dq),
        dk=dk, dv=dv, **a.get("kw", {}))


def untouched(c):
    return all(np.all(g == 7.0) for g in c["grads"])


def test_baseline_is_valid(case):
    call(case)
    assert not untouched(case)


@pytest.mark.parametrize("rotary_dim", [3, 10], ids=["odd", "above-head-dim"])
def test_bad_rotary_dim(case, rotary_dim):
    with pytest.raises(InvalidArgumentError) as e:
        call(case, kw={"rotary_dim": rotary_dim})
    lib_error(e, InvalidArgumentError, "rotary_dim")
    assert untouched(case)


def test_bad_names_found_by_the_binding(case):
    for kw in ({"pairing": "neox"}, {"scaling": {"type": "linear", "bogus": 1.0}},
               {"layout": "BSDH"}):
        with pytest.raises(InvalidArgumentError):
            call(case, kw=kw)
    assert untouched(case)


def test_inverse_rotation_is_refused(case):
    """The binding has no inverse argument (the call always uses the forward rotation);
    the library refuses rope params with inverse = 1."""
    ts = [as_tensor(case[n], n) for n in ("q", "k", "v", "out", "dout", "lse")]
    gs = [as_tensor(g, "d", writable=True) for g in case["grads"]]
    with pytest.raises(InvalidArgumentError) as e:
        check(lib.mlxp_flash_attention_rope_backward(
            *(ref(t) for t in ts + gs), ctypes.byref(rope_params(inverse=True)), None))
    lib_error(e, InvalidArgumentError, "inverse")
    assert untouched(case)


def test_dq_shape_mismatch(case):
    dq = np.full((1, 5, 2, 8), 7.0, np.float32)
    with pytest.raises(ShapeMismatchError) as e:
        call(case, dq=dq)
    lib_error(e, ShapeMismatchError, "dq")
    assert untouched(case) and np.all(dq == 7.0)


def test_lse_shape_mismatch(case):
    with pytest.raises(ShapeMismatchError) as e:
        call(case, lse=case["lse"][:, :, :-1])
    lib_error(e, ShapeMismatchError, "lse")
    assert untouched(case)


def test_dq_aliasing_q(case):
    q = case["q"].copy()
    with pytest.raises(InvalidArgumentError) as e:
        call(case, q=q, dq=q)
    lib_error(e, InvalidArgumentError, "dq")
    assert untouched(case)
    np.testing.assert_array_equal(q, case["q"])
