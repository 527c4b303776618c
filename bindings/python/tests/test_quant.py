"""Quantization formats and quantized linear layers, against float64 references written
from the formulas in include/mlxprim.h (and core/kernels/quant), and against MLX itself
for the affine format (weights quantized by MLX load bit-exactly)."""

import numpy as np
import pytest

import mlxprim
from _ref import BF16, DTYPE_IDS, DTYPES, U32, bits, data, f64
from test_errors import lib_error

F32 = np.float32
OUT_ULP = {np.dtype(F32): U32, np.dtype(np.float16): 2.0**-11, BF16: 2.0**-8}


def rint(v):
    return np.rint(v)  # round half to even, as the header specifies


# --- float64 references of the quantizers (random normal weights: no degenerate rows) ---

def int8_ref(w, symmetric):
    w = f64(w)
    if symmetric:
        s = (np.abs(w).max(1) / 127).astype(F32)
        q = np.clip(rint(w / f64(s)[:, None]), -127, 127)
        return q.astype(np.int8), s, None
    lo, hi = np.minimum(w.min(1), 0), np.maximum(w.max(1), 0)
    s = ((hi - lo) / 255).astype(F32)
    z = np.clip(rint(-128 - lo / f64(s)), -128, 127)
    q = np.clip(rint(w / f64(s)[:, None]) + z[:, None], -128, 127)
    return q.astype(np.int8), s, z.astype(np.int32)


def int4_codes_ref(w, group, symmetric):
    """(codes [out, in] as ints, scales, zeros) for int4."""
    o, i = w.shape
    wg = f64(w).reshape(o, i // group, group)
    if symmetric:
        s = (np.abs(wg).max(-1) / 7).astype(F32)
        q = np.clip(rint(wg / f64(s)[..., None]), -7, 7)
        return q.reshape(o, i).astype(int), s, None
    lo, hi = np.minimum(wg.min(-1), 0), np.maximum(wg.max(-1), 0)
    s = ((hi - lo) / 15).astype(F32)
    z = np.clip(rint(-lo / f64(s)), 0, 15)
    q = np.clip(rint(wg / f64(s)[..., None]) + z[..., None], 0, 15)
    return q.reshape(o, i).astype(int), s, z.astype(np.uint8)


def pack_nibbles(codes):
    """Element 2i in the low nibble, 2i+1 in the high nibble (two's complement)."""
    n = codes & 0xF
    return (n[:, 0::2] | (n[:, 1::2] << 4)).astype(np.uint8)


def unpack_nibbles(q, signed):
    lo, hi = (q & 0xF).astype(int), (q >> 4).astype(int)
    codes = np.stack([lo, hi], -1).reshape(q.shape[0], -1)
    return np.where(codes > 7, codes - 16, codes) if signed else codes


def deq_int8_ref(q, s, z):
    zz = 0 if z is None else f64(z)[:, None]
    return (f64(q) - zz).astype(F32).astype(np.float64) * f64(s)[:, None]


def deq_int4_ref(q, s, z, group):
    codes = unpack_nibbles(q, z is None).astype(np.float64)
    zz = 0 if z is None else np.repeat(f64(z), group, 1)
    return (codes - zz) * np.repeat(f64(s), group, 1)


def to_dtype(w64, dtype):
    """The exact product (q - z) * s rounded to float32 (the w^ of quant.go), then to
    dtype. For float16/bfloat16 this is two roundings, which can differ from one rounding
    of the exact product in the last bit when the product lies next to a half-way point
    (the header says "rounded once"; the library rounds through float32)."""
    return w64.astype(F32).astype(dtype)


# --- int8 -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("symmetric", [True, False], ids=["sym", "asym"])
def test_int8_quantize_dequantize(dtype, symmetric):
    w = data((12, 70), dtype, seed=1, scale=0.2)
    q, s, z = mlxprim.quantize_int8(w, symmetric=symmetric)
    rq, rs, rz = int8_ref(w, symmetric)
    assert q.dtype == np.int8 and s.dtype == F32 and q.shape == (12, 70)
    assert (q == rq).all() and (bits(s) == bits(rs)).all()
    if symmetric:
        assert z is None
    else:
        assert z.dtype == np.int32 and (z == rz).all()
    for odt in DTYPES:
        back = mlxprim.dequantize_int8(q, s, z, dtype=odt)
        # quant.go: w^ = f32(q - z) * s, the float32 value the linear layers use, then
        # converted to odt (see to_dtype).
        assert back.dtype == odt
        assert (bits(back) == bits(to_dtype(deq_int8_ref(q, s, z), odt))).all()
    # Round trip: within half a step (s/2) of the weights, plus float32 rounding of s.
    err = np.abs(deq_int8_ref(q, s, z) - f64(w))
    assert (err <= f64(s)[:, None] * (0.5 + 1e-6)).all()


def test_int8_degenerate_rows_dequantize_exactly():
    w = np.array([[0.0] * 8, [0.75] * 8, [-3.0] * 8], F32)
    for sym in (True, False):
        back = mlxprim.dequantize_int8(*mlxprim.quantize_int8(w, symmetric=sym))
        np.testing.assert_array_equal(back, w)


# --- int4 -------------------------------------------------------------------------------

def test_int4_packing_table():
    # [1, 2, 3, 4] symmetric: s = f32(4/7) = 0.5714286; w/s = 1.75, 3.4999998, 5.25, 7
    # (2/s is just below 3.5 because s was rounded up), so the codes are 2, 3, 5, 7 and
    # the bytes (low nibble first) 0x32, 0x75.
    w = np.tile(np.array([1, 2, 3, 4], F32), 8)[None, :]
    q, s, z = mlxprim.quantize_int4(w, group_size=32)
    assert z is None and q.dtype == np.uint8 and q.shape == (1, 16)
    assert s[0] == F32(4 / 7)
    assert list(q[0, :2]) == [0x32, 0x75]
    # Negative codes are two's-complement nibbles: -w gives -2, -3, -5, -7 = 0xE, 0xD,
    # 0xB, 0x9.
    q, _, _ = mlxprim.quantize_int4(-w, group_size=32)
    assert list(q[0, :2]) == [0xDE, 0x9B]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("symmetric", [True, False], ids=["sym", "asym"])
def test_int4_quantize_dequantize(dtype, group, symmetric):
    w = data((6, 256), dtype, seed=group, scale=0.1)
    q, s, z = mlxprim.quantize_int4(w, group_size=group, symmetric=symmetric)
    codes, rs, rz = int4_codes_ref(w, group, symmetric)
    assert q.shape == (6, 128) and s.shape == (6, 256 // group)
    assert (q == pack_nibbles(codes)).all()
    assert (bits(s) == bits(rs)).all()
    if not symmetric:
        assert z.dtype == np.uint8 and (z == rz).all()
    for odt in DTYPES:
        back = mlxprim.dequantize_int4(q, s, z, group_size=group, dtype=odt)
        assert (bits(back) == bits(to_dtype(deq_int4_ref(q, s, z, group), odt))).all()
    err = np.abs(deq_int4_ref(q, s, z, group) - f64(w))
    assert (err <= np.repeat(f64(s), group, 1) * (0.5 + 1e-6)).all()


def test_int4_nibble_8_dequantizes_as_minus_8():
    q = np.full((1, 16), 0x88, np.uint8)
    back = mlxprim.dequantize_int4(q, np.full((1, 1), 0.5, F32), group_size=32)
    np.testing.assert_array_equal(back, np.full((1, 32), -4.0, F32))


# --- linear layers ----------------------------------------------------------------------
# Tolerance: a float32 dot product of K terms x_j w^_j errs by at most (K+2) U32 sum|x w^|
# (fixed order, w^ decoded exactly as dequantize gives it), plus the float32 bias add and
# half an ulp of the output dtype.

def assert_linear(got, x, wdeq, bias, out_dtype):
    ref = f64(x) @ wdeq.T + (0 if bias is None else f64(bias))
    absref = np.abs(f64(x)) @ np.abs(wdeq).T + (0 if bias is None else np.abs(f64(bias)))
    k = wdeq.shape[1]
    bound = (k + 2) * U32 * absref
    bound = bound + OUT_ULP[np.dtype(out_dtype)] * (np.abs(ref) + bound) + 1e-30
    got = np.asarray(got)
    assert got.dtype == out_dtype and got.shape == ref.shape
    assert (np.abs(f64(got) - ref) <= bound).all(), np.max(np.abs(f64(got) - ref) - bound)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("symmetric", [True, False], ids=["sym", "asym"])
def test_int8_and_int4_linear(dtype, symmetric):
    w = data((24, 128), F32, seed=3, scale=0.1)
    x = data((2, 3, 128), dtype, seed=4)
    bias = data((24,), BF16, seed=5)
    q8, s8, z8 = mlxprim.quantize_int8(w, symmetric=symmetric)
    assert_linear(mlxprim.int8_linear(x, q8, s8, z8, bias), x, deq_int8_ref(q8, s8, z8),
                  bias, dtype)
    q4, s4, z4 = mlxprim.quantize_int4(w, group_size=32, symmetric=symmetric)
    y = mlxprim.int4_linear(x, q4, s4, z4, group_size=32)
    assert_linear(y, x, deq_int4_ref(q4, s4, z4, 32), None, dtype)
    buf = np.zeros((2, 3, 48), F32)
    out = mlxprim.int4_linear(x[:, ::-1], q4, s4, z4, bias, group_size=32, out=buf[..., ::2])
    assert_linear(out, x[:, ::-1], deq_int4_ref(q4, s4, z4, 32), bias, F32)
    assert (buf[..., 1::2] == 0).all()


def test_int8_linear_in_place_when_square():
    w = data((64, 64), F32, seed=6, scale=0.1)
    q, s, z = mlxprim.quantize_int8(w)
    x = data((3, 64), F32, seed=7)
    x0 = x.copy()
    assert mlxprim.int8_linear(x, q, s, out=x) is x
    assert_linear(x, x0, deq_int8_ref(q, s, None), None, F32)


# --- MLX affine -------------------------------------------------------------------------

def _mx():
    return pytest.importorskip("mlx.core")  # mlx[cpu] is a pinned test requirement


def mx_dtype(mx, dtype):
    return {np.dtype(F32): mx.float32, np.dtype(np.float16): mx.float16, BF16: mx.bfloat16}[
        np.dtype(dtype)]


def to_numpy(mx, a, dtype):
    """An MLX array as NumPy with the given dtype, bit for bit (bfloat16 via its bits)."""
    if np.dtype(dtype) == BF16:
        return np.array(a.view(mx.uint16)).view(BF16)
    return np.array(a)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("group,nbits", [(32, 4), (64, 4), (128, 4), (32, 8), (64, 8),
                                         (128, 8)], ids=str)
def test_affine_matches_mlx_bit_for_bit(dtype, group, nbits):
    mx = _mx()
    w = data((16, 256), dtype, seed=group + nbits, scale=0.05)
    w[3] = 0  # a constant group
    w[5, :group] = dtype.type(0.5) if hasattr(dtype, "type") else 0.5
    wm = mx.array(w) if np.dtype(dtype) != BF16 else mx.array(f64(w).astype(F32)).astype(
        mx.bfloat16)
    assert (bits(to_numpy(mx, wm, dtype)) == bits(w)).all()
    mq, ms, mb = mx.quantize(wm, group, nbits)
    mdeq = to_numpy(mx, mx.dequantize(mq, ms, mb, group, nbits), dtype)
    # Dequantization of MLX's own arrays (passed as MLX arrays).
    got = mlxprim.dequantize_affine(mq, ms, mb, group_size=group, bits=nbits)
    assert got.dtype == dtype and (bits(got) == bits(mdeq)).all()
    # Quantization: words, scales and biases equal MLX's.
    wq, s, b = mlxprim.quantize_affine(w, group_size=group, bits=nbits)
    assert wq.dtype == np.uint32 and wq.shape == (16, 256 * nbits // 32)
    assert (wq == np.array(mq)).all()
    assert s.dtype == dtype and (bits(s) == bits(to_numpy(mx, ms, dtype))).all()
    assert (bits(b) == bits(to_numpy(mx, mb, dtype))).all()
    # And from NumPy arrays too.
    got = mlxprim.dequantize_affine(wq, s, b, group_size=group, bits=nbits)
    assert (bits(got) == bits(mdeq)).all()


def affine_deq_f32(wq, s, b, group, nbits):
    """w^ = f32(f32(q * s) + b) with s, b widened to float32 (header, mlxp_affine_linear)."""
    per = 32 // nbits
    shifts = (np.arange(per) * nbits).astype(np.uint32)
    q = ((wq[..., None] >> shifts) & ((1 << nbits) - 1)).reshape(wq.shape[0], -1)
    s32 = np.repeat(s.astype(F32), group, 1)
    b32 = np.repeat(b.astype(F32), group, 1)
    return f64((q.astype(F32) * s32).astype(F32) + b32)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("nbits", [4, 8])
def test_affine_linear(dtype, nbits):
    w = data((20, 128), dtype, seed=8, scale=0.1)
    wq, s, b = mlxprim.quantize_affine(w, group_size=64, bits=nbits)
    x = data((3, 128), dtype, seed=9)
    bias = data((20,), F32, seed=10)
    y = mlxprim.affine_linear(x, wq, s, b, bias, group_size=64, bits=nbits)
    assert_linear(y, x, affine_deq_f32(wq, s, b, 64, nbits), bias, dtype)


def test_affine_linear_accepts_mlx_arrays():
    mx = _mx()
    w = data((8, 64), F32, seed=11, scale=0.1)
    mq, ms, mb = mx.quantize(mx.array(w), 32, 4)
    x = data((2, 64), F32, seed=12)
    y = mlxprim.affine_linear(x, mq, ms, mb, group_size=32, bits=4)
    assert_linear(y, x, affine_deq_f32(np.array(mq), np.array(ms), np.array(mb), 32, 4),
                  None, F32)


# --- errors -----------------------------------------------------------------------------

def test_errors():
    w = data((4, 64), F32)
    for call in (lambda: mlxprim.quantize_int4(w, group_size=48),
                 lambda: mlxprim.quantize_int4(data((4, 96), F32), group_size=64),
                 lambda: mlxprim.quantize_affine(w, group_size=64, bits=3),
                 lambda: mlxprim.quantize_int8(np.array([[1.0, np.nan]], F32))):
        with pytest.raises(mlxprim.InvalidArgumentError) as e:
            call()
        lib_error(e, mlxprim.InvalidArgumentError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.quantize_int8(data((64,), F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.quantize_int8(w.astype(np.int32))
    lib_error(e, mlxprim.UnsupportedDtypeError)
    q, s, z = mlxprim.quantize_int8(w)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.int8_linear(data((2, 63), F32), q, s)
    lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.dequantize_int8(q, s[:3])
    lib_error(e, mlxprim.ShapeMismatchError)
    q4, s4, _ = mlxprim.quantize_int4(w, group_size=32)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:  # packed weights must be contiguous
        mlxprim.dequantize_int4(np.repeat(q4, 2, 0)[::2], s4, group_size=32)
    lib_error(e, mlxprim.InvalidArgumentError)
    with pytest.raises(mlxprim.UnsupportedDtypeError, match="uint8 array"):
        mlxprim.dequantize_int4(q4.astype(np.int32), s4, group_size=32)
    with pytest.raises(mlxprim.UnsupportedDtypeError, match="uint32 words"):
        mlxprim.dequantize_affine(data((4, 8), F32), s4, s4, group_size=32)
    wq, sa, ba = mlxprim.quantize_affine(w, group_size=32, bits=4)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:
        mlxprim.affine_linear(data((2, 64), F32), wq, sa, ba[:, :1], group_size=32, bits=4)
    lib_error(e, mlxprim.ShapeMismatchError)
