"""Stateless operations. All arithmetic happens in libmlxprim; this module only builds
descriptors and parameter structs, allocates default outputs and maps errors."""

import ctypes

from . import _lib
from ._lib import check, lib
from ._tensor import as_tensor, empty_like, ref


def _output(out, x_arg, name):
    """(object to return, its TensorArg): the given out, or a fresh array like x."""
    if out is None:
        out = empty_like(x_arg)
    return out, as_tensor(out, name, writable=True)


def softmax(x, *, temperature=1.0, log=False, out=None):
    """Softmax (or log-softmax when ``log=True``) over the last axis.

    For each row, with ``z = x / temperature`` and ``m = max(z)``::

        out[j] = exp(z_j - m) / sum_k exp(z_k - m)          (softmax)
        out[j] = z_j - m - log(sum_k exp(z_k - m))          (log-softmax)

    Arithmetic is float32; the result is rounded once (to nearest even) into the output
    dtype. A row of all -inf gives NaN; a +inf or NaN entry makes its row NaN.

    Args:
        x: array of shape ``[..., N]``, ``N >= 1``; float32, float16 or bfloat16; any
            strides. A NumPy array, an object with ``__dlpack__`` or a buffer.
        temperature: divides the logits; must be > 0 and finite (default 1.0).
        log: compute log-softmax.
        out: where to write, with x's shape and dtype; may be ``x`` itself (in place). Any
            writable array-like, written in place. Default: a new C-contiguous NumPy array.

    Returns:
        ``out``.

    Raises:
        InvalidArgumentError, ShapeMismatchError, UnsupportedDtypeError (see mlxprim.h).
    """
    xa = as_tensor(x, "x")
    out, oa = _output(out, xa, "out")
    params = _lib.default_params(_lib.SoftmaxParams, lib.mlxp_softmax_params_init)
    params.temperature = float(temperature)
    params.log = 1 if log else 0
    check(lib.mlxp_softmax(ref(xa), ref(oa), ctypes.byref(params)))
    return out


def log_softmax(x, *, temperature=1.0, out=None):
    """Log-softmax over the last axis: ``softmax(x, temperature=..., log=True, out=...)``."""
    return softmax(x, temperature=temperature, log=True, out=out)


def rms_norm(x, weight=None, residual=None, *, eps=1e-6, out=None, residual_out=None):
    """Root-mean-square normalization over the last axis, with an optional fused residual.

    With ``h = x`` (or ``h = x + residual`` rounded to x's dtype, exactly as an unfused
    add in that dtype), for each row::

        out[j] = h[j] / sqrt(mean_k(h[k]**2) + eps) * weight[j]

    (weight taken as 1 when None), accumulated in float32 and rounded once into x's dtype.

    Args:
        x: array ``[..., D]``, ``D >= 1``; float32, float16 or bfloat16; any strides.
        weight: ``[D]`` per-channel scale or None; any of the three float dtypes.
        residual: x's shape or None; added to x before normalizing; any of the three.
        eps: added to the mean square; >= 0 and finite (default 1e-6).
        out: normalized output (x's shape and dtype); may be x or residual itself.
        residual_out: receives h (x's shape and dtype); may be x or residual itself.
            Allocated when residual is given and residual_out is None.

    Returns:
        ``out``, or ``(out, residual_out)`` when ``residual`` is given.

    Raises:
        InvalidArgumentError, ShapeMismatchError, UnsupportedDtypeError (see mlxprim.h).
    """
    xa = as_tensor(x, "x")
    wa = as_tensor(weight, "weight")
    ra = as_tensor(residual, "residual")
    out, oa = _output(out, xa, "out")
    if residual is not None and residual_out is None:
        residual_out = empty_like(xa)
    rsa = as_tensor(residual_out, "residual_out", writable=True)
    params = _lib.default_params(_lib.RmsNormParams, lib.mlxp_rms_norm_params_init)
    params.eps = float(eps)
    check(lib.mlxp_rms_norm(ref(xa), ref(wa), ref(ra), ref(oa), ref(rsa),
                            ctypes.byref(params)))
    if residual is not None:
        return out, residual_out
    return out
