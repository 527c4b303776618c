"""Attention: FlashAttention-style forward, packed variable-length batches, chunked cross
attention, fused RoPE, sliding windows, merging partial states, ALiBi slopes and the
backward passes, padded, packed and with fused RoPE (mlxp_flash_attention and friends).

Conventions (include/mlxprim.h): BSHD by default; causal masking is bottom-right aligned
(query i sees key j iff j <= i + Lk - Lq); a window ``(left, right)`` keeps key j iff
``i + Lk - Lq - left <= j <= i + Lk - Lq + right``, -1 meaning unbounded; query head h
reads KV head ``h // (Hq // Hkv)``. Logits are ``scale * q.k``, then the soft cap
``cap * tanh(x / cap)`` (tanh in double precision, rounded once to float32: within 1 ulp,
the same bits on every CPU path), the bias, ALiBi ``-slope[h] * (i + Lk - Lq - j)``, then
the masks. A query with no visible key
gives zeros and lse -inf (or the sink logit), never NaN.
"""

import ctypes
import numbers
import operator

import numpy as np

from . import _lib
from ._errors import InvalidArgumentError
from ._lib import check, lib
from ._rope import rope_params
from ._tensor import as_tensor, empty_like, ref

_LAYOUTS = {"BSHD": _lib.LAYOUT_BSHD, "BHSD": _lib.LAYOUT_BHSD}


def _int32(value, name, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name}: expected an integer, got {value!r}")
    v = operator.index(value)
    if not -(1 << 31) <= v < 1 << 31:
        raise InvalidArgumentError(f"{name} must be {what}, got {v}")
    return v


def _layout(layout):
    try:
        return _LAYOUTS[layout]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"layout: unknown value {layout!r} (expected 'BSHD' or 'BHSD')") from None


def _vector(obj, dtype):
    """Lists and tuples become NumPy vectors of the dtype the header asks for; arrays are
    passed as they are (the library checks their dtype)."""
    if isinstance(obj, (list, tuple)):
        return np.asarray(obj, dtype=dtype)
    return obj


def _params(scale, causal, window, layout, softcap):
    p = _lib.default_params(_lib.AttentionParams, lib.mlxp_attention_params_init)
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise InvalidArgumentError(f"scale: expected a number or None, got {scale!r}")
        if float(scale) == 0.0:
            # 0 means "default" to the library; a caller asking for 0 wants something else.
            raise InvalidArgumentError(
                "scale must be nonzero (None gives the default 1/sqrt(head_dim))")
        p.scale = float(scale)
    p.causal = 1 if causal else 0
    try:
        left, right = window
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"window: expected a pair (left, right), got {window!r}") from None
    p.window_left = _int32(left, "window left", ">= -1")
    p.window_right = _int32(right, "window right", ">= -1")
    p.layout = _layout(layout)
    if isinstance(softcap, bool) or not isinstance(softcap, numbers.Real):
        raise InvalidArgumentError(f"softcap: expected a number, got {softcap!r}")
    p.softcap = float(softcap)
    return p


def _flash_params(qa, scale, causal, window, layout, softcap, bias, alibi_slopes,
                  key_lengths, sinks):
    """flash_attention's params with its optional tensors attached. Returns (params, the
    tensor descriptors the params point to), the second to be kept alive by the caller."""
    p = _params(scale, causal, window, layout, softcap)
    if alibi_slopes is True:
        hl = _heads_and_len(qa, p.layout)
        alibi_slopes = None if hl is None else _standard_alibi_slopes(hl[0])
    elif alibi_slopes is False:
        alibi_slopes = None
    keep = []
    for field, obj in (("bias", bias),
                       ("alibi_slopes", _vector(alibi_slopes, np.float32)),
                       ("key_lengths", _vector(key_lengths, np.int32)),
                       ("sinks", _vector(sinks, np.float32))):
        arg = as_tensor(obj, field)
        if arg is not None:
            keep.append(arg)
            setattr(p, field, ctypes.pointer(arg.struct))
    return p, keep


def _out_shape(qa, va):
    """out's shape: q's with v's head dim (both layouts keep head_dim last), or None when a
    shape is not 4-D (the library then reports it)."""
    if qa is None or va is None or qa.shape is None or va.shape is None:
        return None
    if len(qa.shape) != 4 or len(va.shape) != 4:
        return None
    return qa.shape[:3] + (va.shape[3],)


def _default_out(out, qa, va):
    if out is not None:
        return out
    shape = _out_shape(qa, va)
    if shape is None:
        return empty_like(qa)  # the library reports the bad ndim
    return np.empty(shape, qa.dtype)


def _grad_inputs(q, k, v, out, dout, lse):
    """The tensors every gradient call reads: the forward inputs, its out and lse, dout."""
    return tuple(as_tensor(t, name) for t, name in
                 ((q, "q"), (k, "k"), (v, "v"), (out, "out"), (dout, "dout"), (lse, "lse")))


def _grad_outputs(qa, ka, va, dq, dk, dv):
    """dq, dk, dv (new arrays like q, k, v when None) and their descriptors."""
    dq = empty_like(qa) if dq is None else dq
    dk = empty_like(ka) if dk is None else dk
    dv = empty_like(va) if dv is None else dv
    return (dq, dk, dv, as_tensor(dq, "dq", writable=True), as_tensor(dk, "dk", writable=True),
            as_tensor(dv, "dv", writable=True))


def _heads_and_len(qa, layout):
    """(Hq, Lq) of q, or None when q's shape is not 4-D."""
    if qa is None or qa.shape is None or len(qa.shape) != 4:
        return None
    if layout == _lib.LAYOUT_BSHD:
        return qa.shape[2], qa.shape[1]
    return qa.shape[1], qa.shape[2]


def alibi_slopes(num_heads):
    """The standard ALiBi slopes of Press et al. for ``num_heads`` heads (geometric
    ``2 ** (-8 (h + 1) / n)`` for a power of two n, interpolated otherwise).

    Returns:
        A new float32 array ``[num_heads]``.
    """
    n = _int32(num_heads, "num_heads", "at least 1")
    out = np.empty((max(n, 0),), np.float32)
    oa = as_tensor(out, "out", writable=True)
    check(lib.mlxp_alibi_slopes(n, ref(oa)))
    return out


_standard_alibi_slopes = alibi_slopes  # flash_attention's argument shadows the name


def flash_attention(q, k, v, *, scale=None, causal=True, window=(-1, -1), layout="BSHD",
                    softcap=0.0, bias=None, alibi_slopes=None, key_lengths=None, sinks=None,
                    return_lse=False, out=None):
    """``out = softmax(scale * q k^T + masks) v``, tiled with an online softmax.

    Args:
        q: ``[B, Lq, Hq, D]`` (BSHD) or ``[B, Hq, Lq, D]`` (BHSD).
        k: ``[B, Lk, Hkv, D]``; v: ``[B, Lk, Hkv, Dv]`` (BHSD swaps the middle axes);
            ``Hq % Hkv == 0`` (GQA/MQA). Each float32, float16 or bfloat16, any strides.
        scale: multiplies q.k; None gives ``1/sqrt(D)``.
        causal: bottom-right causal mask (query i sees key j iff ``j <= i + Lk - Lq``).
        window: ``(left, right)`` local window around the diagonal, -1 = unbounded.
        layout: "BSHD" or "BHSD" (all four tensors).
        softcap: > 0 maps logits to ``softcap * tanh(logit / softcap)``; 0 = none.
        bias: None or an additive logit bias (any float dtype) broadcastable to
            ``[B, Hq, Lq, Lk]``; -inf entries mask.
        alibi_slopes: None, a float32 ``[Hq]`` vector, or True for the standard slopes
            (:func:`alibi_slopes`); adds ``-slope[h] * (i + Lk - Lq - j)``.
        key_lengths: None or int32 ``[B]``: keys at or beyond ``key_lengths[b]`` are masked.
        sinks: None or float32 ``[Hq]``: one extra logit per head in the denominator.
        return_lse: also return the float32 ``[B, Hq, Lq]`` natural log of each row's
            softmax denominator (-inf for a row that sees no key and has no sink).
        out: where to write, ``[B, Lq, Hq, Dv]`` (BSHD) of any float dtype; default a new
            array with q's dtype. It must not overlap the inputs.

    Returns:
        ``out``, or ``(out, lse)`` with ``return_lse=True``.

    Raises:
        InvalidArgumentError (bad params: window below -1, negative softcap, key length
        outside 0..Lk), ShapeMismatchError (ndim, Hq % Hkv, head dims, B or Lk, bias
        broadcast, vector lengths), UnsupportedDtypeError.
    """
    qa = as_tensor(q, "q")
    ka = as_tensor(k, "k")
    va = as_tensor(v, "v")
    # keep holds the descriptors p points to: they must stay alive until the call returns.
    p, keep = _flash_params(qa, scale, causal, window, layout, softcap, bias, alibi_slopes,
                            key_lengths, sinks)
    out = _default_out(out, qa, va)
    oa = as_tensor(out, "out", writable=True)
    lse = None
    if return_lse:
        hl = _heads_and_len(qa, p.layout)
        shape = (0, 0, 0) if hl is None else (qa.shape[0],) + hl  # bad q: library reports
        lse = np.empty(shape, np.float32)
    la = as_tensor(lse, "lse", writable=True)
    check(lib.mlxp_flash_attention(ref(qa), ref(ka), ref(va), ref(oa), ref(la),
                                   ctypes.byref(p)))
    if return_lse:
        return out, lse
    return out


def flash_attention_backward(q, k, v, out, dout, lse, *, scale=None, causal=True,
                             window=(-1, -1), layout="BSHD", softcap=0.0, bias=None,
                             alibi_slopes=None, key_lengths=None, sinks=None, dq=None,
                             dk=None, dv=None):
    """Gradients of :func:`flash_attention`, FlashAttention-2 style: the probabilities are
    recomputed from the saved ``lse`` instead of being stored.

    With ``s = scale q.k`` (soft-capped when ``softcap > 0``), the forward logits x (bias,
    ALiBi and masks applied) and ``P = exp(x - lse)``::

        dv = P^T dout;  dP = dout v^T;  dS = P * (dP - rowsum(dout * out))
        soft cap: dS *= 1 - tanh^2(s / softcap);  dq = scale dS k;  dk = scale dS^T q

    With grouped-query heads, dk and dv sum over the query heads sharing a KV head. The
    bias and sinks are constants here: they enter through x and lse; the bias's gradient
    comes from :func:`flash_attention_bias_grad` (none for the sinks). A row with no
    visible key gets dq = 0 and adds nothing to dk and dv.
    Bit-identical for any thread count.

    Args:
        q, k, v, scale, causal, window, layout, softcap, bias, alibi_slopes, key_lengths,
            sinks: exactly as given to the forward :func:`flash_attention` call.
        out: the forward output; dout: the gradient reaching it (out's shape).
        lse: float32 ``[B, Hq, Lq]`` from ``flash_attention(..., return_lse=True)``.
        dq, dk, dv: where to write, the shapes of q, k, v (any float dtype); default new
            arrays with the dtypes of q, k, v. They must not overlap each other or any
            input.

    Returns:
        ``(dq, dk, dv)``.

    Raises:
        InvalidArgumentError, ShapeMismatchError, UnsupportedDtypeError, as
        :func:`flash_attention`.
    """
    qa, ka, va, outa, douta, lsea = _grad_inputs(q, k, v, out, dout, lse)
    p, keep = _flash_params(qa, scale, causal, window, layout, softcap, bias, alibi_slopes,
                            key_lengths, sinks)
    dq, dk, dv, dqa, dka, dva = _grad_outputs(qa, ka, va, dq, dk, dv)
    check(lib.mlxp_flash_attention_backward(ref(qa), ref(ka), ref(va), ref(outa),
                                            ref(douta), ref(lsea), ref(dqa), ref(dka),
                                            ref(dva), ctypes.byref(p)))
    return dq, dk, dv


def flash_attention_bias_grad(q, k, v, out, dout, lse, bias, *, scale=None, causal=True,
                              window=(-1, -1), layout="BSHD", softcap=0.0,
                              alibi_slopes=None, key_lengths=None, sinks=None, dbias=None):
    """Gradient of the additive ``bias`` of a :func:`flash_attention` call.

    With x the forward logits (soft cap, then bias, ALiBi and masks) and
    ``P = exp(x - lse)``::

        dL/dx = P * (dout v^T - rowsum(dout * out))

    (the dS of :func:`flash_attention_backward` before the scale and the cap's
    derivative), summed over the dimensions along which ``bias`` is broadcast to
    ``[B, Hq, Lq, Lk]``. Masked keys and rows with no visible key add nothing. Each
    element adds its terms in a fixed order: bit-identical for any thread count. The
    logits and ``dout v^T`` are recomputed (about 70% of the backward call's time).

    Args:
        q, k, v, bias, scale, causal, window, layout, softcap, alibi_slopes, key_lengths,
            sinks: exactly as given to the forward call (``bias`` is required).
        out, dout, lse: as :func:`flash_attention_backward`.
        dbias: where to write, ``bias``'s shape (any float dtype); default a new array of
            ``bias``'s dtype. It must not overlap any input.

    Returns:
        ``dbias``.

    Raises:
        InvalidArgumentError, ShapeMismatchError, UnsupportedDtypeError, as
        :func:`flash_attention`.
    """
    qa, ka, va, outa, douta, lsea = _grad_inputs(q, k, v, out, dout, lse)
    if bias is None:
        raise InvalidArgumentError("bias: the forward call's bias is required")
    p, keep = _flash_params(qa, scale, causal, window, layout, softcap, bias, alibi_slopes,
                            key_lengths, sinks)
    if dbias is None:
        dbias = empty_like(as_tensor(bias, "bias"))
    dba = as_tensor(dbias, "dbias", writable=True)
    check(lib.mlxp_flash_attention_bias_grad(ref(qa), ref(ka), ref(va), ref(outa),
                                             ref(douta), ref(lsea), ref(dba),
                                             ctypes.byref(p)))
    return dbias


def sliding_window_attention(q, k, v, window_size, *, causal=True, scale=None,
                             layout="BSHD", out=None):
    """Attention where query i sees key j iff ``|i + Lk - Lq - j| <= window_size`` (and
    ``j <= i + Lk - Lq`` when causal); work is proportional to the window, not to Lk.

    Args:
        q, k, v, scale, layout, out: as :func:`flash_attention`.
        window_size: >= 0.
        causal: also apply the bottom-right causal mask.

    Returns:
        ``out``.
    """
    w = _int32(window_size, "window_size", ">= 0")
    p = _params(scale, True, (-1, -1), layout, 0.0)
    qa = as_tensor(q, "q")
    ka = as_tensor(k, "k")
    va = as_tensor(v, "v")
    out = _default_out(out, qa, va)
    oa = as_tensor(out, "out", writable=True)
    check(lib.mlxp_sliding_window_attention(ref(qa), ref(ka), ref(va), w,
                                            1 if causal else 0, ref(oa), ctypes.byref(p)))
    return out


def _varlen_vectors(p, qa, alibi_slopes, sinks):
    """Attaches the varlen calls' optional ALiBi slopes (True: the standard ones for q's
    heads) and sinks to p. Returns the descriptors p points to, to be kept alive by the
    caller until the call returns."""
    if alibi_slopes is True:
        q3 = qa is not None and qa.shape is not None and len(qa.shape) == 3
        alibi_slopes = _standard_alibi_slopes(qa.shape[1]) if q3 else None
    elif alibi_slopes is False:
        alibi_slopes = None
    keep = []
    for field, obj in (("alibi_slopes", _vector(alibi_slopes, np.float32)),
                       ("sinks", _vector(sinks, np.float32))):
        arg = as_tensor(obj, field)
        if arg is not None:
            keep.append(arg)
            setattr(p, field, ctypes.pointer(arg.struct))
    return keep


def flash_attention_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, *, scale=None, causal=True,
                           window=(-1, -1), softcap=0.0, alibi_slopes=None, sinks=None,
                           return_lse=False, out=None):
    """Attention over a packed batch of sequences of different lengths, without padding.

    Sequence b owns query rows ``cu_seqlens_q[b] : cu_seqlens_q[b+1]`` and key rows
    ``cu_seqlens_k[b] : cu_seqlens_k[b+1]`` and is attended alone, masks and ALiBi aligned
    bottom-right to its own lengths: its rows equal :func:`flash_attention` on that
    sequence by itself, bit for bit.

    Args:
        q: ``[total_q, Hq, D]``; k: ``[total_k, Hkv, D]``; v: ``[total_k, Hkv, Dv]``.
        cu_seqlens_q, cu_seqlens_k: int32 ``[num_sequences + 1]`` (lists are converted),
            starting at 0, non-decreasing, ending at total_q and total_k.
        scale, causal, window, softcap, alibi_slopes, sinks: as :func:`flash_attention`.
        return_lse: also return the float32 ``[Hq, total_q]`` log-sum-exp.
        out: where to write, ``[total_q, Hq, Dv]``; default a new array with q's dtype.

    Returns:
        ``out``, or ``(out, lse)`` with ``return_lse=True``.

    Raises:
        InvalidArgumentError (inconsistent cu_seqlens, naming which; bad params),
        ShapeMismatchError, UnsupportedDtypeError.
    """
    p = _params(scale, causal, window, "BSHD", softcap)
    qa = as_tensor(q, "q")
    ka = as_tensor(k, "k")
    va = as_tensor(v, "v")
    cqa = as_tensor(_vector(cu_seqlens_q, np.int32), "cu_seqlens_q")
    cka = as_tensor(_vector(cu_seqlens_k, np.int32), "cu_seqlens_k")
    q3 = qa is not None and qa.shape is not None and len(qa.shape) == 3
    # keep holds the descriptors p points to: they must stay alive until the call returns.
    keep = _varlen_vectors(p, qa, alibi_slopes, sinks)
    if out is None:
        if q3 and va is not None and va.shape is not None and len(va.shape) == 3:
            out = np.empty(qa.shape[:2] + (va.shape[2],), qa.dtype)
        else:
            out = empty_like(qa)  # the library reports the bad ndim
    oa = as_tensor(out, "out", writable=True)
    lse = None
    if return_lse:
        lse = np.empty((qa.shape[1], qa.shape[0]) if q3 else (0, 0), np.float32)
    la = as_tensor(lse, "lse", writable=True)
    check(lib.mlxp_flash_attention_varlen(ref(qa), ref(ka), ref(va), ref(cqa), ref(cka),
                                          ref(oa), ref(la), ctypes.byref(p)))
    if return_lse:
        return out, lse
    return out


def flash_attention_varlen_backward(q, k, v, out, dout, lse, cu_seqlens_q, cu_seqlens_k, *,
                                    scale=None, causal=True, window=(-1, -1), softcap=0.0,
                                    alibi_slopes=None, sinks=None, dq=None, dk=None, dv=None):
    """Gradients of :func:`flash_attention_varlen`: each sequence's ``dq``, ``dk``, ``dv``
    are those of :func:`flash_attention_backward` on that sequence by itself, bit for bit
    (a sequence's keys get no gradient from another sequence's queries; the keys of a
    sequence with no queries get zeros).

    Args:
        q, k, v, cu_seqlens_q, cu_seqlens_k, scale, causal, window, softcap, alibi_slopes,
            sinks: exactly as given to the forward :func:`flash_attention_varlen` call.
        out: the forward output ``[total_q, Hq, Dv]``; dout: the gradient reaching it
            (out's shape).
        lse: float32 ``[Hq, total_q]`` from ``flash_attention_varlen(...,
            return_lse=True)`` (required).
        dq, dk, dv: where to write, the shapes of q, k, v (any float dtype); default new
            arrays with the dtypes of q, k, v. They must not overlap each other or any
            input.

    Returns:
        ``(dq, dk, dv)``.

    Raises:
        InvalidArgumentError (inconsistent cu_seqlens, naming which; bad params; overlap),
        ShapeMismatchError, UnsupportedDtypeError, as :func:`flash_attention_backward`.
    """
    p = _params(scale, causal, window, "BSHD", softcap)
    qa, ka, va, outa, douta, lsea = _grad_inputs(q, k, v, out, dout, lse)
    cqa = as_tensor(_vector(cu_seqlens_q, np.int32), "cu_seqlens_q")
    cka = as_tensor(_vector(cu_seqlens_k, np.int32), "cu_seqlens_k")
    # keep holds the descriptors p points to: they must stay alive until the call returns.
    keep = _varlen_vectors(p, qa, alibi_slopes, sinks)
    dq, dk, dv, dqa, dka, dva = _grad_outputs(qa, ka, va, dq, dk, dv)
    check(lib.mlxp_flash_attention_varlen_backward(
        ref(qa), ref(ka), ref(va), ref(outa), ref(douta), ref(lsea), ref(cqa), ref(cka),
        ref(dqa), ref(dka), ref(dva), ctypes.byref(p)))
    return dq, dk, dv


def chunked_cross_attention(q, k, v, *, chunk_size=1024, causal=False, scale=None,
                            layout="BSHD", bias=None, key_lengths=None, out=None):
    """Attention over a long key axis, ``chunk_size`` keys at a time, each chunk's partial
    result merged in increasing chunk order (as :func:`merge_attention_states`); extra
    memory is two outputs' worth whatever Lk. With ``chunk_size >= Lk`` the result is
    :func:`flash_attention`'s bit for bit; otherwise it differs only by rounding.

    Args:
        q, k, v, scale, layout, bias, key_lengths, out: as :func:`flash_attention`.
        chunk_size: keys per chunk, >= 0; 0 means 1024.
        causal: bottom-right causal mask (cross attention usually has none).

    Returns:
        ``out``.
    """
    c = _int32(chunk_size, "chunk_size", ">= 0")
    p = _params(scale, causal, (-1, -1), layout, 0.0)
    qa = as_tensor(q, "q")
    ka = as_tensor(k, "k")
    va = as_tensor(v, "v")
    bias_a = as_tensor(bias, "bias")
    lens_a = as_tensor(_vector(key_lengths, np.int32), "key_lengths")
    for field, arg in (("bias", bias_a), ("key_lengths", lens_a)):
        if arg is not None:
            setattr(p, field, ctypes.pointer(arg.struct))
    out = _default_out(out, qa, va)
    oa = as_tensor(out, "out", writable=True)
    check(lib.mlxp_chunked_cross_attention(ref(qa), ref(ka), ref(va), c,
                                           1 if causal else 0, ref(oa), ctypes.byref(p)))
    return out


def flash_attention_rope(q, k, v, *, rope_offset=0, base=10000.0, rotary_dim=0,
                         pairing="half", scaling=None, causal=True, scale=None,
                         window=(-1, -1), layout="BSHD", softcap=0.0, bias=None,
                         alibi_slopes=None, key_lengths=None, sinks=None, return_lse=False,
                         out=None):
    """:func:`flash_attention` with rotary embeddings applied to q and k as they are read;
    q and k are left unchanged. Equals :func:`mlxprim.rope` on copies of q and k followed
    by :func:`flash_attention`, bit for bit.

    Positions are bottom-right aligned: key j is at ``rope_offset + j`` and query i at
    ``rope_offset + (Lk - Lq) + i`` (prefill: both ``rope_offset + i``; decode: the last
    Lq tokens of Lk cached keys).

    Args:
        q, k, v, causal, scale, window, layout, softcap, bias, alibi_slopes, key_lengths,
            sinks, return_lse, out: as :func:`flash_attention` (layout applies to every
            tensor).
        rope_offset, base, rotary_dim, pairing, scaling: as ``offset``, ``base``,
            ``rotary_dim``, ``pairing`` and ``scaling`` of :func:`mlxprim.rope`.

    Returns:
        ``out``, or ``(out, lse)`` with ``return_lse=True``.
    """
    rp = rope_params(offset=rope_offset, base=base, rotary_dim=rotary_dim, pairing=pairing,
                     layout=layout, scaling=scaling)
    qa = as_tensor(q, "q")
    # keep holds the descriptors p points to: they must stay alive until the call returns.
    p, keep = _flash_params(qa, scale, causal, window, layout, softcap, bias, alibi_slopes,
                            key_lengths, sinks)
    ka = as_tensor(k, "k")
    va = as_tensor(v, "v")
    out = _default_out(out, qa, va)
    oa = as_tensor(out, "out", writable=True)
    lse = None
    if return_lse:
        hl = _heads_and_len(qa, p.layout)
        lse = np.empty((0, 0, 0) if hl is None else (qa.shape[0],) + hl, np.float32)
    la = as_tensor(lse, "lse", writable=True)
    check(lib.mlxp_flash_attention_rope(ref(qa), ref(ka), ref(va), ref(oa), ref(la),
                                        ctypes.byref(rp), ctypes.byref(p)))
    if return_lse:
        return out, lse
    return out


def flash_attention_rope_backward(q, k, v, out, dout, lse, *, rope_offset=0, base=10000.0,
                                  rotary_dim=0, pairing="half", scaling=None, causal=True,
                                  scale=None, window=(-1, -1), layout="BSHD", softcap=0.0,
                                  bias=None, alibi_slopes=None, key_lengths=None, sinks=None,
                                  dq=None, dk=None, dv=None):
    """Gradients of :func:`flash_attention_rope` with respect to the unrotated q and k,
    and v.

    With ``R_q`` and ``R_k`` the rotations of the forward call (same positions: key j at
    ``rope_offset + j``, query i at ``rope_offset + (Lk - Lq) + i``, bottom-right
    aligned) and ``dq', dk', dv`` the gradients :func:`flash_attention_backward` gives for
    the rotated inputs ``R_q q`` and ``R_k k`` (rotated into their dtypes, as the forward
    call does)::

        dq = R_q^T dq';  dk = R_k^T dk'

    dq' and dk' are float32 and rotated back before one rounding to dq's and dk's dtypes.
    Bit-identical for any thread count. Needs scratch of q's and k's sizes, plus float32
    copies of dq and dk when they are not float32.

    Args:
        q, k, v, rope_offset, base, rotary_dim, pairing, scaling, causal, scale, window,
            layout, softcap, bias, alibi_slopes, key_lengths, sinks: exactly as given to
            the forward :func:`flash_attention_rope` call (bias and sinks are constants,
            as in :func:`flash_attention_backward`).
        out: the forward output; dout: the gradient reaching it (out's shape).
        lse: float32 ``[B, Hq, Lq]`` from ``flash_attention_rope(..., return_lse=True)``.
        dq, dk, dv: where to write, the shapes of q, k, v (any float dtype); default new
            arrays with the dtypes of q, k, v. They must not overlap each other or any
            input.

    Returns:
        ``(dq, dk, dv)``.

    Raises:
        InvalidArgumentError, ShapeMismatchError, UnsupportedDtypeError, as
        :func:`flash_attention_backward` and :func:`mlxprim.rope` (odd or too large
        rotary_dim, unknown pairing or scaling). Nothing is written on error.
    """
    qa, ka, va, outa, douta, lsea = _grad_inputs(q, k, v, out, dout, lse)
    rp = rope_params(offset=rope_offset, base=base, rotary_dim=rotary_dim, pairing=pairing,
                     layout=layout, scaling=scaling)
    # keep holds the descriptors p points to: they must stay alive until the call returns.
    p, keep = _flash_params(qa, scale, causal, window, layout, softcap, bias, alibi_slopes,
                            key_lengths, sinks)
    dq, dk, dv, dqa, dka, dva = _grad_outputs(qa, ka, va, dq, dk, dv)
    check(lib.mlxp_flash_attention_rope_backward(ref(qa), ref(ka), ref(va), ref(outa),
                                                 ref(douta), ref(lsea), ref(dqa), ref(dka),
                                                 ref(dva), ctypes.byref(rp),
                                                 ctypes.byref(p)))
    return dq, dk, dv


def merge_attention_states(o_a, lse_a, o_b, lse_b, *, out=None, lse_out=None):
    """Combine two partial attention results over disjoint key sets (split-KV, shared
    prefix). With ``m = max(lse_a, lse_b)``, ``wa = exp(lse_a - m)``, ``wb = exp(lse_b - m)``::

        out = (wa o_a + wb o_b) / (wa + wb),    lse = m + log(wa + wb)

    computed in float64; a side with lse -inf contributes nothing (both: zeros and -inf).

    Args:
        o_a, o_b: ``[B, L, H, D]`` (pass BHSD data as a transposed view), any float dtype.
        lse_a, lse_b: float32 ``[B, H, L]``.
        out: default a new array like o_a; may be o_a or o_b itself.
        lse_out: default a new float32 array like lse_a; may be lse_a or lse_b itself.

    Returns:
        ``(out, lse_out)``.
    """
    oaa = as_tensor(o_a, "o_a")
    laa = as_tensor(lse_a, "lse_a")
    oba = as_tensor(o_b, "o_b")
    lba = as_tensor(lse_b, "lse_b")
    if out is None:
        out = empty_like(oaa)
    outa = as_tensor(out, "out", writable=True)
    if lse_out is None and laa is not None and laa.shape is not None:
        lse_out = np.empty(laa.shape, np.float32)
    lsa = as_tensor(lse_out, "lse_out", writable=True)
    check(lib.mlxp_merge_attention_states(ref(oaa), ref(laa), ref(oba), ref(lba),
                                          ref(outa), ref(lsa)))
    return out, lse_out
