"""Matrix multiply and linear layers (mlxp_matmul, mlxp_linear, mlxp_gated_linear and its
backward pass)."""

import ctypes

import numpy as np

from . import _lib
from ._activations import activation_kind
from ._lib import check, lib
from ._tensor import as_tensor, empty_like, numpy_dtype, ref


def _broadcast(a, b):
    """NumPy broadcast of two batch shapes, or a's when they do not broadcast (the library
    then reports the mismatch with its own message)."""
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return a


def _matmul_shape(a, b, trans_a, trans_b):
    """c's shape [..., M, N] from a's and b's, or None when either has fewer than 2 dims."""
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return None
    m = a[-1] if trans_a else a[-2]
    n = b[-2] if trans_b else b[-1]
    return _broadcast(a[:-2], b[:-2]) + (m, n)


def _fresh(shape, dtype, like_arg, name):
    """A new array of shape and dtype (default: like_arg's dtype). When the shape cannot be
    derived, a 0-d array, which the library rejects with its own message."""
    dt = like_arg.dtype if dtype is None and like_arg is not None else dtype
    dt = numpy_dtype(np.float32 if dt is None else dt, name)
    return np.empty(() if shape is None else shape, dt)


def matmul(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None,
           out_dtype=None):
    """Batched matrix multiply: ``out = alpha * op(a) @ op(b) + beta * out``.

    ``op(a)`` is ``a`` or, with ``trans_a``, its last two axes swapped (likewise b).
    Accumulation is float32 whatever the input dtype; a half-precision output is rounded
    once at the end. Each element depends only on its row of op(a), its column of op(b),
    K and the CPU path (:func:`cpu_isa`), never on the batch or the thread count.

    Args:
        a: ``[..., M, K]`` (``[..., K, M]`` with trans_a); float32, float16 or bfloat16.
        b: ``[..., K, N]`` (``[..., N, K]`` with trans_b); the same dtype as a.
        alpha, beta: finite scalars; with beta 0 (default) out is never read.
        out: ``[..., M, N]`` where the batch dims of a and b broadcast (NumPy rules); any
            float dtype and strides; must not overlap a or b. Required to hold the old
            values when beta != 0.
        out_dtype: dtype of a freshly allocated out (default: a's dtype).

    Returns:
        ``out``.
    """
    aa = as_tensor(a, "a")
    ba = as_tensor(b, "b")
    if out is None:
        shape = _matmul_shape(aa and aa.shape, ba and ba.shape, trans_a, trans_b)
        out = _fresh(shape, out_dtype, aa, "out_dtype")
        if beta != 0:
            out[...] = 0  # a fresh out has no old values; read them as zeros
    ca = as_tensor(out, "out", writable=True)
    params = _lib.default_params(_lib.MatmulParams, lib.mlxp_matmul_params_init)
    params.trans_a = 1 if trans_a else 0
    params.trans_b = 1 if trans_b else 0
    params.alpha = float(alpha)
    params.beta = float(beta)
    check(lib.mlxp_matmul(ref(aa), ref(ba), ref(ca), ctypes.byref(params)))
    return out


def _linear_shape(x, w):
    """y's shape [..., out] from x [..., in] and w [out, in], or None when unknown."""
    if x is None or w is None or len(x) < 1 or len(w) < 1:
        return None
    return x[:-1] + (w[0],)


def linear(x, w, bias=None, *, out=None, out_dtype=None):
    """A linear layer: ``out = x @ w.T + bias``, accumulated in float32.

    Args:
        x: ``[..., in]``; float32, float16 or bfloat16.
        w: ``[out_features, in]``; x's dtype.
        bias: ``[out_features]`` or None; any of the three float dtypes.
        out: ``[..., out_features]``; any float dtype; must not overlap the inputs.
        out_dtype: dtype of a freshly allocated out (default: x's dtype).

    Returns:
        ``out``.
    """
    xa = as_tensor(x, "x")
    wa = as_tensor(w, "w")
    ba = as_tensor(bias, "bias")
    if out is None:
        out = _fresh(_linear_shape(xa and xa.shape, wa and wa.shape), out_dtype, xa,
                     "out_dtype")
    ya = as_tensor(out, "out", writable=True)
    check(lib.mlxp_linear(ref(xa), ref(wa), ref(ba), ref(ya)))
    return out


def gated_linear(x, w_gate, w_up, activation="silu", *, out=None):
    """The fused gated-MLP input: ``out = act(x @ w_gate.T) * (x @ w_up.T)``.

    Both products are accumulated in float32 from one pass over x and combined before the
    single rounding into out. ``activation`` "silu" gives SwiGLU, "gelu" / "gelu_tanh"
    GeGLU.

    Args:
        x: ``[..., in]``; w_gate, w_up: ``[hidden, in]``; all three the same float dtype.
        out: ``[..., hidden]``, any float dtype (default: a new array of x's dtype).

    Returns:
        ``out``.
    """
    kind = activation_kind(activation)
    xa = as_tensor(x, "x")
    ga = as_tensor(w_gate, "w_gate")
    ua = as_tensor(w_up, "w_up")
    if out is None:
        out = _fresh(_linear_shape(xa and xa.shape, ga and ga.shape), None, xa, "out")
    oa = as_tensor(out, "out", writable=True)
    check(lib.mlxp_gated_linear(ref(xa), ref(ga), ref(ua), kind, ref(oa)))
    return out


def gated_linear_backward(x, w_gate, w_up, dout, activation="silu", *, dx=None,
                          dw_gate=None, dw_up=None, need_dx=True, need_dw=True):
    """Gradients of :func:`gated_linear`.

    With ``gate = x @ w_gate.T`` and ``up = x @ w_up.T`` recomputed in float32::

        dgate = dout * up * act'(gate);  dup = dout * act(gate)
        dx = dgate @ w_gate + dup @ w_up;  dw_gate = dgate.T @ x;  dw_up = dup.T @ x

    The weight gradients sum over every row of x (all leading axes). Arithmetic is
    float32 through the matrix multiplies, each output rounded once; bit-identical for
    any thread count.

    Args:
        x: ``[..., in]``; w_gate, w_up: ``[hidden, in]``; dout: ``[..., hidden]`` with x's
            leading dims. Each any of float32, float16, bfloat16, independently; any
            strides.
        activation: as in the forward call: "silu", "gelu" or "gelu_tanh".
        dx: where to write dx, x's shape; dw_gate, dw_up: where to write the weight
            gradients, ``[hidden, in]``. Each float32, float16 or bfloat16, any strides;
            they must not overlap each other or any input. A given array is always written.
        need_dx, need_dw: whether to allocate dx, respectively dw_gate and dw_up, when
            they are not given (new arrays with the dtypes of x, w_gate and w_up). A
            gradient neither given nor needed is not computed.

    Returns:
        ``(dx, dw_gate, dw_up)``, each None when not computed.

    Raises:
        InvalidArgumentError (unknown activation, overlap), ShapeMismatchError,
        UnsupportedDtypeError. Nothing is written on failure.
    """
    kind = activation_kind(activation)
    xa = as_tensor(x, "x")
    ga = as_tensor(w_gate, "w_gate")
    ua = as_tensor(w_up, "w_up")
    da = as_tensor(dout, "dout")
    if dx is None and need_dx:
        dx = empty_like(xa)
    if need_dw:
        dw_gate = empty_like(ga) if dw_gate is None else dw_gate
        dw_up = empty_like(ua) if dw_up is None else dw_up
    dxa = as_tensor(dx, "dx", writable=True)
    dga = as_tensor(dw_gate, "dw_gate", writable=True)
    dua = as_tensor(dw_up, "dw_up", writable=True)
    check(lib.mlxp_gated_linear_backward(ref(xa), ref(ga), ref(ua), ref(da), kind,
                                         ref(dxa), ref(dga), ref(dua)))
    return dx, dw_gate, dw_up
