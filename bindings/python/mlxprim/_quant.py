"""Quantization and weight-only quantized linear layers.

A weight matrix w is ``[out, in]``, quantized along ``in``. Formats (see mlxprim.h):

* int8, per output row: q int8 ``[out, in]``, scales float32 ``[out]``, zeros int32
  ``[out]`` (asymmetric only). ``w = (q - zeros) * scales``.
* int4, per group of 32, 64 or 128: q is a NumPy **uint8** array ``[out, in/2]`` holding
  the packed nibbles, element 2i in the low nibble and 2i+1 in the high nibble of byte i.
  The library sees it as its int4 dtype (code 0, bits 4) with shape ``[out, in]`` over the
  same memory; NumPy has no packed 4-bit type. Symmetric codes are two's-complement
  nibbles in [-7, 7]; asymmetric codes are 0..15 with uint8 zero points. scales float32
  ``[out, in/group]``.
* MLX affine (``mx.quantize(w, group_size, bits)``, bits 4 or 8): wq uint32
  ``[out, in*bits/32]`` (passed to the library as an int32 tensor over the same memory),
  scales and biases ``[out, in/group]`` in w's dtype; ``w = scales * q + biases``.
  MLX arrays are accepted as they come from ``mx.quantize``.
"""

import operator

import numpy as np

from ._errors import InvalidArgumentError, UnsupportedDtypeError
from ._lib import DTYPE_INT, check, lib
from ._tensor import as_tensor, from_numpy, numpy_dtype, ref


def _int32(value, name):
    v = operator.index(value)
    if not -(1 << 31) <= v < 1 << 31:
        raise InvalidArgumentError(f"{name}: {v} does not fit in 32 bits")
    return v


def _numpy_view(obj, name):
    """A NumPy array over obj's memory (no copy): NumPy arrays, buffers, DLPack objects."""
    if isinstance(obj, np.ndarray):
        return obj
    try:
        return np.asarray(memoryview(obj))
    except (TypeError, ValueError):
        pass
    if hasattr(obj, "__dlpack__"):
        return np.from_dlpack(obj)
    raise InvalidArgumentError(
        f"{name}: expected a NumPy array, a buffer or an object with __dlpack__, "
        f"got {type(obj).__name__}")


def _int4_arg(q, name):
    """The int4 descriptor [out, in] over a uint8 array [out, in/2] of packed nibbles."""
    if q is None:
        return None
    a = _numpy_view(q, name)
    if a.dtype not in (np.uint8, np.int8):
        raise UnsupportedDtypeError(
            f"{name}: packed int4 weights are a uint8 array [out, in/2], got dtype "
            f"{a.dtype.name}")
    a = a.view(np.uint8)
    if a.ndim and not a.flags.c_contiguous and a.strides[-1] != 1:
        raise InvalidArgumentError(f"{name}: packed int4 weights must be row-major contiguous")
    arg = from_numpy(a, name)
    t = arg.struct
    t.dtype.code, t.dtype.bits = DTYPE_INT, 4  # the header's packed int4
    if a.ndim:
        t.shape[a.ndim - 1] *= 2
        if t.strides:  # bytes -> nibbles; the innermost byte stride is 1 (checked above)
            for i in range(a.ndim - 1):
                t.strides[i] *= 2
        arg.shape = arg.shape[:-1] + (2 * arg.shape[-1],)
    return arg


def _words_arg(wq, name):
    """An int32 descriptor over MLX's uint32 words (the same bits)."""
    a = _numpy_view(wq, name)
    if a.dtype not in (np.uint32, np.int32):
        raise UnsupportedDtypeError(
            f"{name}: MLX affine weights are uint32 words (as from mx.quantize), got dtype "
            f"{a.dtype.name}")
    return from_numpy(a.view(np.int32), name)


def _matrix_shape(arg):
    """(rows, cols) of a 2-D tensor argument; (0, 0) when it is not 2-D, so outputs can
    still be allocated and the library reports the bad shape."""
    if arg is None or arg.shape is None or len(arg.shape) != 2:
        return 0, 0
    return arg.shape


def _linear_out(out, x_arg, rows):
    if out is None:
        shape = x_arg.shape if x_arg is not None and x_arg.shape else None
        out = np.empty((shape[:-1] if shape else ()) + (rows,),
                       x_arg.dtype if x_arg is not None else np.float32)
    return out, as_tensor(out, "out", writable=True)


# ---------------------------------------------------------------------------------------
# int8, per output row
# ---------------------------------------------------------------------------------------

def quantize_int8(w, *, symmetric=True):
    """Per-row int8 quantization of w ``[out, in]`` (float32, float16 or bfloat16).

    symmetric: ``s = max|w| / 127``, ``q = clamp(round(w / s), -127, 127)``.
    asymmetric: the range widened to include 0, ``s = (hi - lo) / 255``, zero point z in
    [-128, 127], ``q = clamp(round(w / s) + z, -128, 127)``. Arithmetic is float64, each
    scale rounded once to float32, rounding to nearest even. Weights must be finite.

    Returns:
        ``(q int8 [out, in], scales float32 [out], zeros int32 [out] or None)``.
    """
    wa = as_tensor(w, "w")
    rows, cols = _matrix_shape(wa)
    q = np.empty((rows, cols), np.int8)
    scales = np.empty((rows,), np.float32)
    zeros = None if symmetric else np.empty((rows,), np.int32)
    check(lib.mlxp_quantize_int8(ref(wa), ref(as_tensor(q, "q")),
                                 ref(as_tensor(scales, "scales")),
                                 ref(as_tensor(zeros, "zeros"))))
    return q, scales, zeros


def dequantize_int8(q, scales, zeros=None, *, dtype=np.float32):
    """``w = (q - zeros) * scales`` per row (zeros 0 when None), rounded once into dtype
    (float32, float16 or bfloat16). Returns a new ``[out, in]`` array."""
    qa = as_tensor(q, "q")
    sa = as_tensor(scales, "scales")
    za = as_tensor(zeros, "zeros")
    w = np.empty(_matrix_shape(qa), numpy_dtype(dtype, "dtype"))
    check(lib.mlxp_dequantize_int8(ref(qa), ref(sa), ref(za), ref(as_tensor(w, "w"))))
    return w


def int8_linear(x, q, scales, zeros=None, bias=None, *, out=None):
    """``out = x @ w.T + bias`` with int8 per-row weights, decoded inside the dot products
    and accumulated in float32 (bit-identical for any thread count and batch).

    Args:
        x: ``[..., in]``, float32, float16 or bfloat16.
        q, scales, zeros: as returned by :func:`quantize_int8` (row-major contiguous q).
        bias: ``[out]`` or None, any float dtype.
        out: ``[..., out]``, any float dtype (default: a new array of x's dtype); may be x
            itself when in == out.

    Returns:
        ``out``.
    """
    xa = as_tensor(x, "x")
    qa = as_tensor(q, "q")
    sa = as_tensor(scales, "scales")
    za = as_tensor(zeros, "zeros")
    ba = as_tensor(bias, "bias")
    out, ya = _linear_out(out, xa, _matrix_shape(qa)[0])
    check(lib.mlxp_int8_linear(ref(xa), ref(qa), ref(sa), ref(za), ref(ba), ref(ya)))
    return out


# ---------------------------------------------------------------------------------------
# int4, per group, packed two per byte
# ---------------------------------------------------------------------------------------

def quantize_int4(w, *, group_size=64, symmetric=True):
    """Per-group int4 quantization of w ``[out, in]`` along in (group_size 32, 64 or 128;
    in even and a multiple of group_size).

    symmetric: ``s = max|w| / 7``, ``q = clamp(round(w / s), -7, 7)`` as two's-complement
    nibbles. asymmetric: unsigned nibbles 0..15 with a zero point z in 0..15 on the range
    widened to include 0, ``s = (hi - lo) / 15``.

    Returns:
        ``(q uint8 [out, in/2] of packed nibbles (element 2i low, 2i+1 high),
        scales float32 [out, in/group_size], zeros uint8 [out, in/group_size] or None)``.
    """
    g = _int32(group_size, "group_size")
    wa = as_tensor(w, "w")
    rows, cols = _matrix_shape(wa)
    groups = cols // g if g > 0 else 0
    # (cols + 1) // 2 bytes: enough memory even for an odd in, which the library rejects.
    q = np.zeros((rows, (cols + 1) // 2), np.uint8)
    scales = np.empty((rows, groups), np.float32)
    zeros = None if symmetric else np.empty((rows, groups), np.uint8)
    qa = _int4_arg(q, "q")
    if cols % 2:
        qa.struct.shape[1] = cols
    check(lib.mlxp_quantize_int4(ref(wa), g, ref(qa), ref(as_tensor(scales, "scales")),
                                 ref(as_tensor(zeros, "zeros"))))
    return q, scales, zeros


def dequantize_int4(q, scales, zeros=None, *, group_size=64, dtype=np.float32):
    """``w = (q - z) * s`` per group, rounded once into dtype. q is the uint8 ``[out, in/2]``
    array of :func:`quantize_int4`. Returns a new ``[out, in]`` array."""
    g = _int32(group_size, "group_size")
    qa = _int4_arg(q, "q")
    sa = as_tensor(scales, "scales")
    za = as_tensor(zeros, "zeros")
    w = np.empty(_matrix_shape(qa), numpy_dtype(dtype, "dtype"))
    check(lib.mlxp_dequantize_int4(ref(qa), ref(sa), ref(za), g, ref(as_tensor(w, "w"))))
    return w


def int4_linear(x, q, scales, zeros=None, bias=None, *, group_size=64, out=None):
    """``out = x @ w.T + bias`` with int4 per-group weights (q, scales, zeros as returned
    by :func:`quantize_int4`). x, bias and out as :func:`int8_linear`.

    On AVX-512 CPUs with VNNI and GFNI the products are summed exactly in integers after
    x is rounded to 23-bit fixed point per cell of 8 elements: at most
    ``2**-22 * max|x_cell| * sum_cell|w|`` more error per cell than float32, and NaN
    outputs for a row of x holding an Inf or a NaN (see the header's quantization
    section). The same holds for 4-bit :func:`affine_linear`."""
    g = _int32(group_size, "group_size")
    xa = as_tensor(x, "x")
    qa = _int4_arg(q, "q")
    sa = as_tensor(scales, "scales")
    za = as_tensor(zeros, "zeros")
    ba = as_tensor(bias, "bias")
    out, ya = _linear_out(out, xa, _matrix_shape(qa)[0])
    check(lib.mlxp_int4_linear(ref(xa), ref(qa), ref(sa), ref(za), g, ref(ba), ref(ya)))
    return out


# ---------------------------------------------------------------------------------------
# MLX affine
# ---------------------------------------------------------------------------------------

def quantize_affine(w, *, group_size=64, bits=4):
    """MLX's affine quantization, equal to ``mx.quantize(w, group_size, bits)``.

    Args:
        w: ``[out, in]``, float32, float16 or bfloat16.
        group_size: 32, 64 or 128; bits: 4 or 8.

    Returns:
        ``(wq uint32 [out, in*bits/32], scales [out, in/group_size],
        biases [out, in/group_size])``, scales and biases in w's dtype.
    """
    g = _int32(group_size, "group_size")
    b = _int32(bits, "bits")
    wa = as_tensor(w, "w")
    rows, cols = _matrix_shape(wa)
    groups = cols // g if g > 0 else 0
    wq = np.empty((rows, max(cols * b // 32, 0)), np.uint32)
    dt = wa.dtype if wa is not None else np.float32
    scales = np.empty((rows, groups), dt)
    biases = np.empty((rows, groups), dt)
    check(lib.mlxp_quantize_affine(ref(wa), g, b, ref(_words_arg(wq, "wq")),
                                   ref(as_tensor(scales, "scales")),
                                   ref(as_tensor(biases, "biases"))))
    return wq, scales, biases


def dequantize_affine(wq, scales, biases, *, group_size=64, bits=4):
    """``mx.dequantize(wq, scales, biases, group_size, bits)`` bit for bit:
    ``w = scales * q + biases`` with each operation rounded to the scales' dtype.

    wq, scales and biases may be NumPy or MLX arrays (as from ``mx.quantize``). Returns a
    new NumPy ``[out, in]`` array in the scales' dtype.
    """
    g = _int32(group_size, "group_size")
    b = _int32(bits, "bits")
    wqa = _words_arg(wq, "wq")
    sa = as_tensor(scales, "scales")
    ba = as_tensor(biases, "biases")
    rows, words = _matrix_shape(wqa)
    w = np.empty((rows, words * 32 // b if b > 0 else 0),
                 sa.dtype if sa is not None else np.float32)
    check(lib.mlxp_dequantize_affine(ref(wqa), ref(sa), ref(ba), g, b,
                                     ref(as_tensor(w, "w"))))
    return w


def affine_linear(x, wq, scales, biases, bias=None, *, group_size=64, bits=4, out=None):
    """``out = x @ w.T + bias`` with weights in MLX's affine format, dequantized as
    ``f32(f32(q * s) + b)`` (MLX's CPU quantized matmul). x, bias and out as
    :func:`int8_linear`; wq, scales, biases as :func:`dequantize_affine`."""
    g = _int32(group_size, "group_size")
    b = _int32(bits, "bits")
    xa = as_tensor(x, "x")
    wqa = _words_arg(wq, "wq")
    sa = as_tensor(scales, "scales")
    ba = as_tensor(biases, "biases")
    bb = as_tensor(bias, "bias")
    out, ya = _linear_out(out, xa, _matrix_shape(wqa)[0])
    check(lib.mlxp_affine_linear(ref(xa), ref(wqa), ref(sa), ref(ba), g, b, ref(bb),
                                 ref(ya)))
    return out
