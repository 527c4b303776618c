"""LayerNorm, GroupNorm and the normalization backward passes.

Forward ops follow rms_norm's convention for the fused residual: ``h = x + residual``
rounded to x's dtype (exactly an unfused add), ``residual_out`` receives h, statistics and
arithmetic are float32 and out is rounded once. Backward ops take h (x, or the forward
call's residual_out) and return dx, which is the gradient of both x and residual. Weight
and bias gradients are fixed-order sums over rows: bit-identical for any thread count.
"""

import ctypes
import operator

import numpy as np

from . import _lib
from ._errors import InvalidArgumentError
from ._lib import check, lib
from ._tensor import as_tensor, empty_like, ref


def _params(eps, num_groups=1):
    p = _lib.default_params(_lib.NormParams, lib.mlxp_norm_params_init)
    p.eps = float(eps)
    g = operator.index(num_groups)
    if not -(1 << 31) <= g < 1 << 31:
        raise InvalidArgumentError(f"num_groups must be >= 1 and divide C, got {g}")
    p.num_groups = g
    return p


def _forward(fn, x, weight, bias, residual, out, residual_out, params):
    xa = as_tensor(x, "x")
    wa = as_tensor(weight, "weight")
    ba = as_tensor(bias, "bias")
    ra = as_tensor(residual, "residual")
    if out is None:
        out = empty_like(xa)
    oa = as_tensor(out, "out", writable=True)
    if residual is not None and residual_out is None:
        residual_out = empty_like(xa)
    rsa = as_tensor(residual_out, "residual_out", writable=True)
    check(fn(ref(xa), ref(wa), ref(ba), ref(ra), ref(oa), ref(rsa), ctypes.byref(params)))
    if residual is not None:
        return out, residual_out
    return out


def layer_norm(x, weight=None, bias=None, residual=None, *, eps=1e-5, out=None,
               residual_out=None):
    """Layer normalization over the last axis, with optional affine parameters and fused
    residual add.

    With ``h = x`` (or ``x + residual`` rounded to x's dtype), per row::

        out[j] = (h[j] - mean) / sqrt(var + eps) * weight[j] + bias[j]

    (biased variance; weight 1 and bias 0 when None), in float32, rounded once.

    Args:
        x: ``[..., D]``, ``D >= 1``; float32, float16 or bfloat16; any strides.
        weight, bias: ``[D]`` or None; residual: x's shape or None; each any float dtype.
        eps: added to the variance; >= 0 and finite (default 1e-5).
        out: x's shape and dtype; may be x or residual itself.
        residual_out: receives h; may be x or residual itself. Allocated when residual is
            given and residual_out is None.

    Returns:
        ``out``, or ``(out, residual_out)`` when ``residual`` is given.
    """
    return _forward(lib.mlxp_layer_norm, x, weight, bias, residual, out, residual_out,
                    _params(eps))


def group_norm(x, num_groups, weight=None, bias=None, residual=None, *, eps=1e-5,
               out=None, residual_out=None):
    """Group normalization of channels-first tensors ``[N, C, *spatial]``.

    For each sample and each of the ``num_groups`` groups of ``C / num_groups`` channels,
    mean and biased variance over the group's channels and all spatial positions;
    ``out = (h - mean) / sqrt(var + eps) * weight[c] + bias[c]``. Residual, dtypes, out and
    return value as :func:`layer_norm`; weight and bias are ``[C]``.
    """
    return _forward(lib.mlxp_group_norm, x, weight, bias, residual, out, residual_out,
                    _params(eps, num_groups))


def _param_grad(arg, channels, h_arg):
    """A new [channels] gradient array with arg's dtype (h's when arg is absent)."""
    like = arg if arg is not None else h_arg
    if channels is None or like is None:
        return None
    return np.empty((channels,), like.dtype)


def _backward(fn, h, dy, weight, d_residual_out, dx, eps, num_groups, channel_axis,
              with_bias):
    ha = as_tensor(h, "h")
    wa = as_tensor(weight, "weight")
    da = as_tensor(dy, "dy")
    dra = as_tensor(d_residual_out, "d_residual_out")
    if dx is None:
        dx = empty_like(ha)
    dxa = as_tensor(dx, "dx", writable=True)
    channels = None  # D (last axis) or C (axis 1); unknown for a bad h
    shape = ha.shape if ha is not None else None
    if shape is not None and len(shape) >= (2 if channel_axis == 1 else 1):
        channels = shape[channel_axis]
    dweight = _param_grad(wa, channels, ha) if weight is not None else None
    dwa = as_tensor(dweight, "dweight", writable=True)
    args = [ref(ha), ref(wa), ref(da), ref(dra), ref(dxa), ref(dwa)]
    dbias = None
    if with_bias:
        dbias = _param_grad(wa, channels, ha)
    if fn is not lib.mlxp_rms_norm_backward:  # the ops with a dbias parameter
        args.append(ref(as_tensor(dbias, "dbias", writable=True)))
    params = _params(eps, num_groups)
    check(fn(*args, ctypes.byref(params)))
    return dx, dweight, dbias


def rms_norm_backward(h, dy, weight=None, *, d_residual_out=None, eps=1e-6, dx=None):
    """Gradients of :func:`rms_norm`.

    With ``r = 1/sqrt(mean(h**2) + eps)`` and ``g = dy * weight``::

        dx = r * g - h * r**3 * mean(g * h)      (+ d_residual_out)
        dweight[j] = sum over rows of dy * h * r

    Args:
        h: the forward input x, or the forward residual_out when a residual was fused.
        dy: gradient of out; weight: as in the forward call, or None.
        d_residual_out: gradient reaching the forward residual_out, or None.
        eps: as in the forward call (default 1e-6).
        dx: where to write dx (default: a new array like h); may be dy itself.

    Returns:
        ``(dx, dweight)``; dweight (weight's dtype) is None when weight is None.
    """
    dx, dweight, _ = _backward(lib.mlxp_rms_norm_backward, h, dy, weight, d_residual_out,
                               dx, eps, 1, -1, False)
    return dx, dweight


def layer_norm_backward(h, dy, weight=None, *, d_residual_out=None, eps=1e-5, bias=True,
                        dx=None):
    """Gradients of :func:`layer_norm`.

    With ``xhat = (h - mean) * r``, ``r = 1/sqrt(var + eps)`` and ``g = dy * weight``::

        dx = r * (g - mean(g) - xhat * mean(g * xhat))      (+ d_residual_out)
        dweight = sum over rows of dy * xhat,   dbias = sum over rows of dy

    Arguments as :func:`rms_norm_backward` (eps default 1e-5); ``bias`` says whether the
    forward call had a bias, i.e. whether dbias is computed.

    Returns:
        ``(dx, dweight, dbias)``; dweight is None without weight, dbias None when
        ``bias=False``. Both have weight's dtype (h's without weight).
    """
    return _backward(lib.mlxp_layer_norm_backward, h, dy, weight, d_residual_out, dx, eps,
                     1, -1, bias)


def group_norm_backward(h, dy, num_groups, weight=None, *, d_residual_out=None, eps=1e-5,
                        bias=True, dx=None):
    """Gradients of :func:`group_norm`: the layer-norm formula per (sample, group);
    dweight and dbias are ``[C]``, summed over samples and positions. Arguments and return
    value as :func:`layer_norm_backward`."""
    return _backward(lib.mlxp_group_norm_backward, h, dy, weight, d_residual_out, dx, eps,
                     num_groups, 1, bias)
