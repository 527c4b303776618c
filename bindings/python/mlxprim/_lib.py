"""Locate and load libmlxprim, and declare every function of include/mlxprim.h.

The library is found at the path in the environment variable MLXPRIM_LIBRARY when it is
set, else next to this file (libmlxprim.so on Linux, libmlxprim.dylib on macOS).
"""

import ctypes
import os
import sys
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_float,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint64,
    c_void_p,
)

from ._errors import OK, error_for_status

# The ABI this binding was written for (MLXP_ABI_VERSION in include/mlxprim.h).
ABI_VERSION = 0

MAX_NDIM = 16
DEVICE_CPU = 1

DTYPE_INT = 0
DTYPE_UINT = 1
DTYPE_FLOAT = 2
DTYPE_BFLOAT = 4
DTYPE_BOOL = 6

ACT_SILU = 1
ACT_GELU = 2
ACT_GELU_TANH = 3

ROPE_HALF = 0
ROPE_INTERLEAVED = 1
LAYOUT_BSHD = 0
LAYOUT_BHSD = 1
ROPE_SCALING_NONE = 0
ROPE_SCALING_LINEAR = 1
ROPE_SCALING_NTK = 2
ROPE_SCALING_YARN = 3
ROPE_SCALING_LLAMA3 = 4
ROPE_SCALING_DYNAMIC_NTK = 5


# ---------------------------------------------------------------------------------------
# Structures, field for field as in the header.
# ---------------------------------------------------------------------------------------

class Device(Structure):
    _fields_ = [("device_type", c_int32), ("device_id", c_int32)]


class DType(Structure):
    _fields_ = [("code", c_uint8), ("bits", c_uint8), ("lanes", c_uint16)]


class Tensor(Structure):
    """mlxp_tensor, laid out as DLPack's DLTensor."""
    _fields_ = [
        ("data", c_void_p),
        ("device", Device),
        ("ndim", c_int32),
        ("dtype", DType),
        ("shape", POINTER(c_int64)),
        ("strides", POINTER(c_int64)),
        ("byte_offset", c_uint64),
    ]


class SoftmaxParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("temperature", c_float), ("log", c_int32)]


class RmsNormParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("eps", c_float)]


class MatmulParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("trans_a", c_int32), ("trans_b", c_int32),
                ("alpha", c_float), ("beta", c_float)]


class NormParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("eps", c_float), ("num_groups", c_int32)]


class RopeParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("base", c_double),
        ("rotary_dim", c_int32),
        ("pairing", c_int32),
        ("layout", c_int32),
        ("scaling", c_int32),
        ("offset", c_int64),
        ("factor", c_double),
        ("original_max_positions", c_int64),
        ("beta_fast", c_double),
        ("beta_slow", c_double),
        ("attention_factor", c_double),
        ("mscale", c_double),
        ("mscale_all_dim", c_double),
        ("yarn_no_truncate", c_int32),
        ("low_freq_factor", c_double),
        ("high_freq_factor", c_double),
        ("seq_len", c_int64),
        ("inverse", c_int32),
    ]


class AttentionParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("scale", c_float),
        ("causal", c_int32),
        ("window_left", c_int32),
        ("window_right", c_int32),
        ("layout", c_int32),
        ("softcap", c_float),
        ("bias", POINTER(Tensor)),  # the four optional tensors: NULL when absent
        ("alibi_slopes", POINTER(Tensor)),
        ("key_lengths", POINTER(Tensor)),
        ("sinks", POINTER(Tensor)),
    ]


# mlxp_status is int32_t; handles (mlxp_rng*) are opaque tokens carried as void*.
Status = c_int32
TensorP = POINTER(Tensor)


def _library_path():
    env = os.environ.get("MLXPRIM_LIBRARY")
    if env:
        if not os.path.isfile(env):
            raise ImportError(
                f"MLXPRIM_LIBRARY is set to {env!r}, but no file exists there; "
                "point it at libmlxprim.so (or .dylib) or unset it to use the packaged copy"
            )
        return env
    name = "libmlxprim.dylib" if sys.platform == "darwin" else "libmlxprim.so"
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    if not os.path.isfile(path):
        raise ImportError(
            f"libmlxprim not found: {path} does not exist and MLXPRIM_LIBRARY is not set. "
            "Install a wheel that contains the library, or build it with "
            "`bash scripts/build.sh` and set MLXPRIM_LIBRARY=<repo>/build/lib/" + name
        )
    return path


def _load(path):
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"cannot load libmlxprim from {path}: {e}") from e


PATH = _library_path()
lib = _load(PATH)

# (name, restype, argtypes) for every function of include/mlxprim.h.
_SIGNATURES = [
    ("mlxp_version", Status, [POINTER(c_int32)]),
    ("mlxp_version_string", Status, [POINTER(c_char_p)]),
    ("mlxp_abi_version", Status, [POINTER(c_int32)]),
    ("mlxp_last_error", c_char_p, []),
    ("mlxp_status_string", Status, [Status, POINTER(c_char_p)]),
    ("mlxp_cpu_features", Status, [POINTER(c_char_p)]),
    ("mlxp_cpu_isa", Status, [POINTER(c_char_p)]),
    ("mlxp_set_num_threads", Status, [c_int32]),
    ("mlxp_get_num_threads", Status, [POINTER(c_int32)]),
    ("mlxp_softmax_params_init", Status, [POINTER(SoftmaxParams)]),
    ("mlxp_softmax", Status, [TensorP, TensorP, POINTER(SoftmaxParams)]),
    ("mlxp_rms_norm_params_init", Status, [POINTER(RmsNormParams)]),
    ("mlxp_rms_norm", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, POINTER(RmsNormParams)]),
    ("mlxp_matmul_params_init", Status, [POINTER(MatmulParams)]),
    ("mlxp_matmul", Status, [TensorP, TensorP, TensorP, POINTER(MatmulParams)]),
    ("mlxp_linear", Status, [TensorP, TensorP, TensorP, TensorP]),
    ("mlxp_gated_linear", Status, [TensorP, TensorP, TensorP, c_int32, TensorP]),
    ("mlxp_gated_linear_backward", Status,
     [TensorP, TensorP, TensorP, TensorP, c_int32, TensorP, TensorP, TensorP]),
    ("mlxp_norm_params_init", Status, [POINTER(NormParams)]),
    ("mlxp_layer_norm", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, POINTER(NormParams)]),
    ("mlxp_group_norm", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, POINTER(NormParams)]),
    ("mlxp_rms_norm_backward", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, POINTER(NormParams)]),
    ("mlxp_layer_norm_backward", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, POINTER(NormParams)]),
    ("mlxp_group_norm_backward", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, POINTER(NormParams)]),
    ("mlxp_activation", Status, [c_int32, TensorP, TensorP]),
    ("mlxp_activation_backward", Status, [c_int32, TensorP, TensorP, TensorP]),
    ("mlxp_glu", Status, [c_int32, TensorP, TensorP, TensorP]),
    ("mlxp_glu_backward", Status, [c_int32, TensorP, TensorP, TensorP, TensorP, TensorP]),
    ("mlxp_rope_params_init", Status, [POINTER(RopeParams)]),
    ("mlxp_rope", Status, [TensorP, TensorP, TensorP, TensorP, TensorP, POINTER(RopeParams)]),
    ("mlxp_quantize_int8", Status, [TensorP, TensorP, TensorP, TensorP]),
    ("mlxp_dequantize_int8", Status, [TensorP, TensorP, TensorP, TensorP]),
    ("mlxp_quantize_int4", Status, [TensorP, c_int32, TensorP, TensorP, TensorP]),
    ("mlxp_dequantize_int4", Status, [TensorP, TensorP, TensorP, c_int32, TensorP]),
    ("mlxp_quantize_affine", Status, [TensorP, c_int32, c_int32, TensorP, TensorP, TensorP]),
    ("mlxp_dequantize_affine", Status,
     [TensorP, TensorP, TensorP, c_int32, c_int32, TensorP]),
    ("mlxp_int8_linear", Status, [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP]),
    ("mlxp_int4_linear", Status,
     [TensorP, TensorP, TensorP, TensorP, c_int32, TensorP, TensorP]),
    ("mlxp_affine_linear", Status,
     [TensorP, TensorP, TensorP, TensorP, c_int32, c_int32, TensorP, TensorP]),
    ("mlxp_attention_params_init", Status, [POINTER(AttentionParams)]),
    ("mlxp_alibi_slopes", Status, [c_int32, TensorP]),
    ("mlxp_flash_attention", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, POINTER(AttentionParams)]),
    ("mlxp_sliding_window_attention", Status,
     [TensorP, TensorP, TensorP, c_int32, c_int32, TensorP, POINTER(AttentionParams)]),
    ("mlxp_flash_attention_backward", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP,
      POINTER(AttentionParams)]),
    ("mlxp_flash_attention_bias_grad", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP,
      POINTER(AttentionParams)]),
    ("mlxp_flash_attention_varlen", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP,
      POINTER(AttentionParams)]),
    ("mlxp_flash_attention_varlen_backward", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP,
      TensorP, TensorP, POINTER(AttentionParams)]),
    ("mlxp_chunked_cross_attention", Status,
     [TensorP, TensorP, TensorP, c_int32, c_int32, TensorP, POINTER(AttentionParams)]),
    ("mlxp_flash_attention_rope", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, POINTER(RopeParams),
      POINTER(AttentionParams)]),
    ("mlxp_flash_attention_rope_backward", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP, TensorP,
      POINTER(RopeParams), POINTER(AttentionParams)]),
    ("mlxp_merge_attention_states", Status,
     [TensorP, TensorP, TensorP, TensorP, TensorP, TensorP]),
    ("mlxp_rng_create", Status, [c_uint64, POINTER(c_void_p)]),
    ("mlxp_rng_uniform", Status, [c_void_p, TensorP]),
    ("mlxp_rng_destroy", Status, [c_void_p]),
]

for _name, _restype, _argtypes in _SIGNATURES:
    try:
        _fn = getattr(lib, _name)
    except AttributeError as e:
        raise ImportError(f"{PATH} does not export {_name}; is it an older libmlxprim?") from e
    _fn.restype = _restype
    _fn.argtypes = _argtypes

FUNCTIONS = tuple(s[0] for s in _SIGNATURES)


def last_error():
    """mlxp_last_error() of the calling thread, as str."""
    return lib.mlxp_last_error().decode("utf-8", "replace")


def status_string(status):
    out = c_char_p()
    check(lib.mlxp_status_string(status, ctypes.byref(out)))
    return out.value.decode()


_param_defaults = {}


def default_params(cls, init):
    """A new cls struct holding the library's defaults. init (the matching
    mlxp_*_params_init) runs once per struct type; later structs are copies of its result,
    which saves a foreign call on every operation."""
    raw = _param_defaults.get(cls)
    if raw is None:
        p = cls()
        check(init(ctypes.byref(p)))
        raw = _param_defaults[cls] = bytes(p)
    return cls.from_buffer_copy(raw)


def check(status):
    """Raise the mapped exception, carrying mlxp_last_error(), for a non-OK status."""
    if status != OK:
        message = last_error()
        if not message:
            out = c_char_p()
            lib.mlxp_status_string(status, ctypes.byref(out))
            message = out.value.decode() if out.value else f"status {status}"
        raise error_for_status(status, message)


def _abi():
    out = c_int32()
    check(lib.mlxp_abi_version(ctypes.byref(out)))
    return out.value


if _abi() != ABI_VERSION:
    raise ImportError(
        f"{PATH} has ABI version {_abi()}, but this mlxprim binding was written for ABI "
        f"version {ABI_VERSION}; install a matching library"
    )
