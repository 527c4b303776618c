"""Activations and gated linear units (mlxp_activation, mlxp_glu and their backward passes).

Kinds, computed in float32 and rounded once into the output:
  * "silu":      x * sigmoid(x)
  * "gelu":      x/2 * (1 + erf(x / sqrt(2)))                      (exact)
  * "gelu_tanh": x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
"""

from . import _lib
from ._errors import InvalidArgumentError
from ._lib import check, lib
from ._tensor import as_tensor, empty_like, ref

_KINDS = {"silu": _lib.ACT_SILU, "gelu": _lib.ACT_GELU, "gelu_tanh": _lib.ACT_GELU_TANH}


def activation_kind(kind):
    """The MLXP_ACT_* value of an activation name."""
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"activation: unknown kind {kind!r} (expected one of {', '.join(_KINDS)})"
        ) from None


def _gelu_kind(approximate):
    if approximate == "none":
        return "gelu"
    if approximate == "tanh":
        return "gelu_tanh"
    raise InvalidArgumentError(
        f"approximate: expected \"none\" or \"tanh\", got {approximate!r}")


def _out(out, like, name):
    if out is None:
        out = empty_like(like)
    return out, as_tensor(out, name, writable=True)


def activation(x, kind="silu", *, out=None):
    """``out = act(x)`` elementwise, act "silu", "gelu" or "gelu_tanh".

    Args:
        x: any shape; float32, float16 or bfloat16; any strides.
        out: x's shape, any float dtype; may be x itself (default: a new array like x).

    Returns:
        ``out``.
    """
    k = activation_kind(kind)
    xa = as_tensor(x, "x")
    out, oa = _out(out, xa, "out")
    check(lib.mlxp_activation(k, ref(xa), ref(oa)))
    return out


def silu(x, *, out=None):
    """SiLU (swish): ``x * sigmoid(x)``."""
    return activation(x, "silu", out=out)


def gelu(x, approximate="none", *, out=None):
    """GELU: exact (erf) with ``approximate="none"``, the tanh form with ``"tanh"``."""
    return activation(x, _gelu_kind(approximate), out=out)


def activation_backward(x, dy, kind="silu", *, out=None):
    """``dx = dy * act'(x)``.

    Args:
        x: the forward input; dy: the gradient of the output, x's shape. Any float dtypes.
        out: receives dx (default: a new array like dy); may be x or dy itself.

    Returns:
        dx.
    """
    k = activation_kind(kind)
    xa = as_tensor(x, "x")
    da = as_tensor(dy, "dy")
    out, oa = _out(out, da, "out")
    check(lib.mlxp_activation_backward(k, ref(xa), ref(da), ref(oa)))
    return out


def glu(gate, up, kind="silu", *, out=None):
    """Gated linear unit: ``out = act(gate) * up`` (SwiGLU with "silu", GeGLU with
    "gelu" or "gelu_tanh").

    Args:
        gate, up: the same shape, any float dtypes.
        out: that shape, any float dtype; may be gate or up itself (default: a new array
            like gate).

    Returns:
        ``out``.
    """
    k = activation_kind(kind)
    ga = as_tensor(gate, "gate")
    ua = as_tensor(up, "up")
    out, oa = _out(out, ga, "out")
    check(lib.mlxp_glu(k, ref(ga), ref(ua), ref(oa)))
    return out


def swiglu(gate, up, *, out=None):
    """SwiGLU: ``silu(gate) * up``."""
    return glu(gate, up, "silu", out=out)


def geglu(gate, up, approximate="none", *, out=None):
    """GeGLU: ``gelu(gate) * up`` (exact, or the tanh form with ``approximate="tanh"``)."""
    return glu(gate, up, _gelu_kind(approximate), out=out)


def glu_backward(gate, up, dout, kind="silu"):
    """Gradients of :func:`glu`: ``dgate = dout * up * act'(gate)``,
    ``dup = dout * act(gate)``.

    Returns:
        ``(dgate, dup)``, new arrays with gate's and up's dtypes.
    """
    k = activation_kind(kind)
    ga = as_tensor(gate, "gate")
    ua = as_tensor(up, "up")
    da = as_tensor(dout, "dout")
    dgate, dga = _out(None, ga, "dgate")
    dup, dua = _out(None, ua, "dup")
    check(lib.mlxp_glu_backward(k, ref(ga), ref(ua), ref(da), ref(dga), ref(dua)))
    return dgate, dup
