"""Rotary position embeddings (mlxp_rope)."""

import ctypes
import numbers
import operator

from . import _lib
from ._errors import InvalidArgumentError
from ._lib import check, lib
from ._tensor import as_tensor, empty_like, ref

_PAIRINGS = {"half": _lib.ROPE_HALF, "interleaved": _lib.ROPE_INTERLEAVED}
_LAYOUTS = {"BSHD": _lib.LAYOUT_BSHD, "BHSD": _lib.LAYOUT_BHSD}
# Scaling types, named as Hugging Face's rope_scaling "type" / "rope_type" ("dynamic" is
# transformers' name for dynamic NTK).
_SCALINGS = {
    "default": _lib.ROPE_SCALING_NONE,
    "linear": _lib.ROPE_SCALING_LINEAR,
    "ntk": _lib.ROPE_SCALING_NTK,
    "yarn": _lib.ROPE_SCALING_YARN,
    "llama3": _lib.ROPE_SCALING_LLAMA3,
    "dynamic_ntk": _lib.ROPE_SCALING_DYNAMIC_NTK,
    "dynamic": _lib.ROPE_SCALING_DYNAMIC_NTK,
}
# rope_scaling key -> (mlxp_rope_params field, kind of value).
_KEYS = {
    "factor": ("factor", "float"),
    "original_max_position_embeddings": ("original_max_positions", "int"),
    "beta_fast": ("beta_fast", "float"),
    "beta_slow": ("beta_slow", "float"),
    "attention_factor": ("attention_factor", "float"),
    "mscale": ("mscale", "float"),
    "mscale_all_dim": ("mscale_all_dim", "float"),
    "truncate": ("yarn_no_truncate", "bool"),
    "low_freq_factor": ("low_freq_factor", "float"),
    "high_freq_factor": ("high_freq_factor", "float"),
    "seq_len": ("seq_len", "int"),
}


def _choice(table, value, name):
    try:
        return table[value]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"{name}: unknown value {value!r} (expected one of {', '.join(map(repr, table))})"
        ) from None


def _int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name}: expected an integer, got {value!r}")
    v = operator.index(value)
    if not -(1 << 63) <= v < 1 << 63:
        raise InvalidArgumentError(f"{name}: {v} does not fit in 64 bits")
    return v


def _float(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _apply_scaling(p, scaling):
    """Copy a Hugging Face style rope_scaling dict into p, refusing what it cannot hold."""
    if not isinstance(scaling, dict):
        raise InvalidArgumentError(
            f"scaling: expected None or a dict like {{'type': 'yarn', 'factor': 4.0, ...}}, "
            f"got {type(scaling).__name__}")
    kinds = {scaling[k] for k in ("type", "rope_type") if k in scaling}
    if len(kinds) != 1:
        raise InvalidArgumentError(
            "scaling: needs exactly one type ('type' or 'rope_type'), got "
            + (", ".join(map(repr, sorted(kinds, key=repr))) or "none"))
    p.scaling = _choice(_SCALINGS, kinds.pop(), "scaling type")
    for key, value in scaling.items():
        if key in ("type", "rope_type"):
            continue
        if key not in _KEYS:
            raise InvalidArgumentError(
                f"scaling: unknown key {key!r} (known: type, {', '.join(_KEYS)})")
        field, kind = _KEYS[key]
        name = f"scaling[{key!r}]"
        if kind == "bool":
            if not isinstance(value, bool):
                raise InvalidArgumentError(f"{name}: expected True or False, got {value!r}")
            p.yarn_no_truncate = 0 if value else 1
        elif kind == "int":
            setattr(p, field, _int(value, name))
        else:
            setattr(p, field, _float(value, name))


def rope_params(*, offset=0, base=10000.0, rotary_dim=0, pairing="half", layout="BSHD",
                scaling=None, inverse=False):
    """An initialized mlxp_rope_params from rope()'s keyword arguments (shared with
    flash_attention_rope)."""
    p = _lib.default_params(_lib.RopeParams, lib.mlxp_rope_params_init)
    p.base = _float(base, "base")
    r = _int(rotary_dim, "rotary_dim")
    if not -(1 << 31) <= r < 1 << 31:
        raise InvalidArgumentError(f"rotary_dim must be even and <= head_dim, got {r}")
    p.rotary_dim = r
    p.pairing = _choice(_PAIRINGS, pairing, "pairing")
    p.layout = _choice(_LAYOUTS, layout, "layout")
    p.offset = _int(offset, "offset")
    p.inverse = 1 if inverse else 0
    if scaling is not None:
        _apply_scaling(p, scaling)
    return p


def rope(q, k=None, *, positions=None, offset=0, base=10000.0, rotary_dim=0,
         pairing="half", layout="BSHD", scaling=None, inverse=False, out=None, k_out=None):
    """Rotate q (and k) by their tokens' positions, in one call.

    For a token at position p, rotary pair i ``(x_a, x_b)`` becomes
    ``(m (x_a cos - x_b sin), m (x_b cos + x_a sin))`` of the angle ``p * f_i``, with
    ``f_i = base ** (-2i / R)`` changed by ``scaling`` and m = 1 except for YaRN. Angles
    and cos/sin are float64, rounded once to float32; the rotation is float32 and rounded
    once into the output.

    Args:
        q: ``[B, S, Hq, D]`` (BSHD) or ``[B, Hq, S, D]`` (BHSD); float32, float16 or
            bfloat16; any strides.
        k: None, or ``[B, S, Hk, D]`` with q's B, S and D; any of the three dtypes.
        positions: None (token s is at ``offset + s``), or int32/int64 ``[S]`` (shared by
            the batch) or ``[B, S]``.
        offset: position of token 0 when positions is None.
        base: frequency base, > 0.
        rotary_dim: R, the leading dims of each head that rotate (even, <= D); 0 means D.
            The other dims pass through unchanged.
        pairing: "half" (d with d + R/2, GPT-NeoX/Llama) or "interleaved" (2d with 2d+1,
            GPT-J).
        layout: "BSHD" or "BHSD".
        scaling: None, or a dict with Hugging Face ``rope_scaling`` keys: "type" (or
            "rope_type") one of "linear", "ntk", "yarn", "llama3", "dynamic_ntk" (or
            "dynamic"), "factor", "original_max_position_embeddings", "beta_fast",
            "beta_slow", "attention_factor", "mscale", "mscale_all_dim", "truncate",
            "low_freq_factor", "high_freq_factor", and "seq_len" (dynamic NTK's current
            length). Unknown keys or types raise InvalidArgumentError.
        inverse: rotate by -angle (the backward pass; undoes the forward when m = 1).
        out, k_out: where to write (inputs' shapes and dtypes); may be q, k themselves.

    Returns:
        ``out``, or ``(out, k_out)`` when k is given.
    """
    p = rope_params(offset=offset, base=base, rotary_dim=rotary_dim, pairing=pairing,
                    layout=layout, scaling=scaling, inverse=inverse)
    qa = as_tensor(q, "q")
    ka = as_tensor(k, "k")
    pa = as_tensor(positions, "positions")
    if out is None:
        out = empty_like(qa)
    qoa = as_tensor(out, "out", writable=True)
    if k is not None and k_out is None:
        k_out = empty_like(ka)
    koa = as_tensor(k_out, "k_out", writable=True)
    check(lib.mlxp_rope(ref(qa), ref(qoa), ref(ka), ref(koa), ref(pa), ctypes.byref(p)))
    if k is not None:
        return out, k_out
    return out
