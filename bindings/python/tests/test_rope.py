"""rope against a float64 reference: a 2x2 rotation per pair, with the inverse frequencies
of each scaling variant written here from Hugging Face transformers' published formulas
(modeling_rope_utils.py)."""

import math

import numpy as np
import pytest

import mlxprim
from _ref import DTYPE_IDS, DTYPES, TOL, U32, bits, data, f64
from test_errors import lib_error

F32 = np.float32


# --- inverse frequencies (Hugging Face's formulas, in float64) ----------------------------

def inv_freq_ref(r, base=10000.0, scaling=None):
    """(inv_freq [R/2], attention factor) for rotary dim r."""
    sc = dict(scaling or {})
    kind = sc.get("type", "default")
    factor = sc.get("factor", 1.0)
    omax = sc.get("original_max_position_embeddings")
    exps = np.arange(0, r, 2, dtype=np.float64) / r
    if kind == "ntk":          # NTK-aware: base * s^(R/(R-2))
        base = base * factor ** (r / (r - 2))
    if kind == "dynamic_ntk":  # _compute_dynamic_ntk_parameters
        seq = max(sc.get("seq_len", 0), omax)
        base = base * ((factor * seq / omax) - (factor - 1)) ** (r / (r - 2))
    inv = 1.0 / base ** exps   # _compute_default_rope_parameters
    if kind == "linear":
        return inv / factor, 1.0
    if kind == "llama3":
        low, high = sc.get("low_freq_factor", 1.0), sc.get("high_freq_factor", 4.0)
        low_wl, high_wl = omax / low, omax / high
        wavelen = 2 * math.pi / inv
        out = np.where(wavelen > low_wl, inv / factor, inv)
        smooth = (omax / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
        return np.where(medium, smoothed, out), 1.0
    if kind == "yarn":
        def corr_dim(rot):
            return (r * math.log(omax / (rot * 2 * math.pi))) / (2 * math.log(base))
        lo, hi = corr_dim(sc.get("beta_fast", 32)), corr_dim(sc.get("beta_slow", 1))
        if sc.get("truncate", True):
            lo, hi = math.floor(lo), math.ceil(hi)
        lo, hi = max(lo, 0), min(hi, r - 1)
        if lo == hi:
            hi += 0.001
        ramp = np.clip((np.arange(r // 2, dtype=np.float64) - lo) / (hi - lo), 0, 1)
        extrap_factor = 1 - ramp
        pos = base ** exps
        inv = (1 / (factor * pos)) * (1 - extrap_factor) + (1 / pos) * extrap_factor

        def mscale(s, m=1.0):
            return 1.0 if s <= 1 else 0.1 * m * math.log(s) + 1.0
        m = sc.get("attention_factor")
        if m is None:
            if sc.get("mscale") and sc.get("mscale_all_dim"):
                m = mscale(factor, sc["mscale"]) / mscale(factor, sc["mscale_all_dim"])
            else:
                m = mscale(factor)
        return inv, m
    return inv, 1.0


def rope_ref(x, pos, inv, m, pairing="half", inverse=False):
    """x [B, S, H, D] (BSHD) in float64; pos [B, S]; returns the rotated x and the error
    bound scale m * (|x_a| + |x_b|) per element (0 on pass-through dims)."""
    x = f64(x)
    r = 2 * len(inv)
    ang = pos[:, :, None, None].astype(np.float64) * inv  # [B, S, 1, R/2]
    c, s = np.cos(ang) * m, np.sin(ang) * m * (-1 if inverse else 1)
    if pairing == "half":
        a, b = np.arange(r // 2), np.arange(r // 2) + r // 2
    else:
        a, b = np.arange(0, r, 2), np.arange(1, r, 2)
    out, scale = x.copy(), np.zeros_like(x)
    xa, xb = x[..., a], x[..., b]
    out[..., a] = xa * c - xb * s
    out[..., b] = xb * c + xa * s
    scale[..., a] = scale[..., b] = m * (np.abs(xa) + np.abs(xb))
    return out, scale


# Tolerance: cos and sin (times m) are rounded to float32 (U32 relative each), the rotation
# takes two float32 products and a sum (3 U32), then one rounding into the dtype (TOL's
# rtol). Relative to m (|x_a| + |x_b|), which a rotated value cannot exceed, rather than
# to the result, which can cancel to ~0: (6 U32 + rtol) m (|x_a| + |x_b|). Pass-through
# dims are compared bit for bit.
def assert_rope(got, ref_and_scale, dtype):
    ref, scale = ref_and_scale
    got = np.asarray(got)
    assert got.dtype == dtype and got.shape == ref.shape
    bound = (6 * U32 + TOL[np.dtype(dtype)]["rtol"]) * scale
    err = np.abs(f64(got) - ref)
    assert (err <= bound).all(), f"max excess {np.max(err - bound)}"


def positions(b, s, offset=0):
    return np.broadcast_to(offset + np.arange(s), (b, s))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("pairing", ["half", "interleaved"])
@pytest.mark.parametrize("layout", ["BSHD", "BHSD"])
def test_rope_q_and_k(dtype, pairing, layout):
    B, S, Hq, Hk, D = 2, 5, 4, 2, 16
    q = data((B, S, Hq, D), dtype, seed=1)
    k = data((B, S, Hk, D), F32, seed=2)  # k's dtype independent of q's
    inv, m = inv_freq_ref(D)
    if layout == "BHSD":
        qin, kin = q.transpose(0, 2, 1, 3).copy(), k.transpose(0, 2, 1, 3).copy()
    else:
        qin, kin = q, k
    qo, ko = mlxprim.rope(qin, kin, offset=7, pairing=pairing, layout=layout)
    if layout == "BHSD":
        qo, ko = qo.transpose(0, 2, 1, 3), ko.transpose(0, 2, 1, 3)
    pos = positions(B, S, 7)
    assert_rope(qo, rope_ref(q, pos, inv, m, pairing), dtype)
    assert_rope(ko, rope_ref(k, pos, inv, m, pairing), F32)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_positions_tensor_equals_offset_and_per_batch(dtype):
    B, S, H, D = 3, 6, 2, 8
    q = data((B, S, H, D), dtype, seed=3)
    by_offset = mlxprim.rope(q, offset=100)
    for pdt in (np.int32, np.int64):
        shared = mlxprim.rope(q, positions=np.arange(100, 100 + S, dtype=pdt))
        assert (bits(shared) == bits(by_offset)).all()
    pos = np.array([[0, 5, 9, 1000, 3, 3], [7, 7, 7, 7, 7, 7], [4095, 1, 2, 3, 4, 5]],
                   np.int64)
    inv, m = inv_freq_ref(D)
    assert_rope(mlxprim.rope(q, positions=pos), rope_ref(q, pos, inv, m), dtype)


@pytest.mark.parametrize("pairing", ["half", "interleaved"])
def test_partial_rotary_dim_passes_the_rest_through(pairing):
    q = data((1, 4, 3, 24), F32, seed=4)
    got = mlxprim.rope(q, rotary_dim=8, pairing=pairing, base=500.0, offset=3)
    inv, m = inv_freq_ref(8, base=500.0)
    ref = rope_ref(q[..., :8], positions(1, 4, 3), inv, m, pairing)
    assert_rope(got[..., :8], ref, F32)
    assert (bits(got[..., 8:]) == bits(q[..., 8:])).all()


SCALINGS = [
    {"type": "linear", "factor": 4.0},
    {"type": "ntk", "factor": 8.0},
    {"type": "dynamic_ntk", "factor": 2.0, "original_max_position_embeddings": 64,
     "seq_len": 200},
    {"type": "dynamic_ntk", "factor": 2.0, "original_max_position_embeddings": 64,
     "seq_len": 10},
    {"type": "yarn", "factor": 16.0, "original_max_position_embeddings": 256},
    {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 512,
     "beta_fast": 16.0, "beta_slow": 2.0, "truncate": False},
    {"type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
     "mscale": 1.0, "mscale_all_dim": 0.707},
    {"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 128,
     "attention_factor": 1.25},
    {"type": "llama3", "factor": 8.0, "original_max_position_embeddings": 256,
     "low_freq_factor": 1.0, "high_freq_factor": 4.0},
    {"type": "llama3", "factor": 32.0, "original_max_position_embeddings": 1024,
     "low_freq_factor": 2.0, "high_freq_factor": 8.0},
]


@pytest.mark.parametrize("scaling", SCALINGS, ids=lambda s: s["type"])
@pytest.mark.parametrize("pairing", ["half", "interleaved"])
def test_scaling_variants(scaling, pairing):
    D = 64
    q = data((1, 9, 2, D), F32, seed=5)
    pos = np.array([0, 1, 17, 100, 255, 511, 1000, 3000, 8191], np.int64)
    got = mlxprim.rope(q, positions=pos, scaling=scaling, pairing=pairing)
    inv, m = inv_freq_ref(D, scaling=scaling)
    assert_rope(got, rope_ref(q, np.broadcast_to(pos, (1, 9)), inv, m, pairing), F32)


def test_scaling_accepts_hugging_face_spellings():
    q = data((1, 3, 1, 16), F32, seed=6)
    a = mlxprim.rope(q, scaling={"rope_type": "dynamic", "factor": 2.0,
                                 "original_max_position_embeddings": 2, "seq_len": 8})
    b = mlxprim.rope(q, scaling={"type": "dynamic_ntk", "factor": 2.0,
                                 "original_max_position_embeddings": 2, "seq_len": 8})
    assert (bits(a) == bits(b)).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("pairing", ["half", "interleaved"])
def test_inverse_undoes_forward(dtype, pairing):
    q = data((2, 7, 3, 32), F32, seed=7)
    k = data((2, 7, 1, 32), F32, seed=8)
    fq, fk = mlxprim.rope(q.astype(dtype), k, offset=50, pairing=pairing)
    bq, bk = mlxprim.rope(fq, fk, offset=50, pairing=pairing, inverse=True)
    # Two rotations, each within the bound above; the forward result was rounded to the
    # dtype, so the round trip is within twice the bound of |x_a| + |x_b|.
    _, scale = rope_ref(q.astype(dtype), positions(2, 7, 50), *inv_freq_ref(32), pairing)
    assert_rope(bq, (f64(q.astype(dtype)), 2 * scale), dtype)
    assert_rope(bk, (f64(k), 2 * rope_ref(k, positions(2, 7, 50), *inv_freq_ref(32))[1]), F32)


def test_inverse_with_yarn_gives_m_squared_x():
    sc = {"type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64}
    q = data((1, 4, 2, 16), F32, seed=9)
    back = mlxprim.rope(mlxprim.rope(q, scaling=sc), scaling=sc, inverse=True)
    m = inv_freq_ref(16, scaling=sc)[1]
    assert m > 1
    assert_rope(back, (m * m * f64(q), 2 * m * m * (np.abs(f64(q)) * 2)), F32)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_in_place_and_strided(dtype):
    q = data((2, 4, 3, 16), dtype, seed=10)
    k = data((2, 4, 1, 16), dtype, seed=11)
    inv, m = inv_freq_ref(16)
    rq, rk = rope_ref(q, positions(2, 4, 2), inv, m), rope_ref(k, positions(2, 4, 2), inv, m)
    qo, ko = mlxprim.rope(q, k, offset=2, out=q, k_out=k)
    assert qo is q and ko is k
    assert_rope(q, rq, dtype)
    assert_rope(k, rk, dtype)
    big = data((2, 8, 3, 32), dtype, seed=12)
    qs = big[:, ::2, :, ::2]  # [2, 4, 3, 16], strided in seq and head_dim
    buf = np.zeros((2, 4, 3, 32), dtype)
    out = mlxprim.rope(qs, offset=2, out=buf[..., 1::2])
    assert_rope(out, rope_ref(qs, positions(2, 4, 2), inv, m), dtype)
    assert (bits(buf[..., ::2]) == 0).all()


def test_errors_found_by_the_binding():
    q = data((1, 2, 1, 8), F32)
    before = mlxprim._lib.last_error()
    bad = [
        dict(pairing="neox"), dict(layout="BSDH"),
        dict(scaling={"type": "longrope", "factor": 2.0}),
        dict(scaling={"factor": 2.0}),
        dict(scaling={"type": "linear", "rope_type": "yarn", "factor": 2.0}),
        dict(scaling={"type": "linear", "factor": 2.0, "alpha": 1.0}),
        dict(scaling={"type": "linear", "factor": "2"}),
        dict(scaling={"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 4.5}),
        dict(scaling={"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 64,
                      "truncate": 1}),
        dict(scaling=[("type", "linear")]),
        dict(offset=1.5), dict(rotary_dim=1 << 40),
    ]
    for kw in bad:
        with pytest.raises(mlxprim.InvalidArgumentError):
            mlxprim.rope(q, **kw)
    assert mlxprim._lib.last_error() == before, "the library was called"


def test_errors_found_by_the_library():
    q = data((1, 2, 2, 8), F32)
    cases = [
        (mlxprim.InvalidArgumentError, dict(rotary_dim=3)),
        (mlxprim.InvalidArgumentError, dict(rotary_dim=10)),
        (mlxprim.InvalidArgumentError, dict(base=-1.0)),
        (mlxprim.InvalidArgumentError, dict(scaling={"type": "yarn", "factor": 2.0})),
        (mlxprim.InvalidArgumentError, dict(scaling={
            "type": "llama3", "factor": 8.0, "original_max_position_embeddings": 64,
            "low_freq_factor": 4.0, "high_freq_factor": 1.0})),
        (mlxprim.ShapeMismatchError, dict(k=data((1, 3, 2, 8), F32))),
        (mlxprim.ShapeMismatchError, dict(positions=np.arange(3))),
        (mlxprim.UnsupportedDtypeError, dict(positions=np.arange(2, dtype=np.int8))),
    ]
    for cls, kw in cases:
        k = kw.pop("k", None)
        with pytest.raises(cls) as e:
            mlxprim.rope(q, k, **kw)
        lib_error(e, cls)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.rope(data((2, 8), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.rope(q.astype(np.int32))
    lib_error(e, mlxprim.UnsupportedDtypeError)
