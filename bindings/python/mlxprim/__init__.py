"""mlxprim: Python binding of libmlxprim, transformer building blocks behind a C ABI.

The binding is pure ctypes and contains no algorithm: every result is computed by the
shared library. Arrays are passed without copies: NumPy arrays (any strides), objects with
``__dlpack__`` on the CPU (MLX, PyTorch, JAX, ...) and buffer-protocol objects.

Numerical conventions (from include/mlxprim.h):
  * dtypes float32, float16 and bfloat16 (``ml_dtypes.bfloat16``); half types are storage
    formats: arithmetic accumulates in float32 and results are rounded once, to nearest
    even, keeping NaN and Inf.
  * Results are deterministic: bit-identical on every run and for any thread count, and a
    row's result never depends on the other rows of a batch.
  * RMSNorm eps defaults to 1e-6; LayerNorm and GroupNorm eps to 1e-5.
  * RoPE pairings are named: "half" (d with d + R/2, NeoX/Llama) and "interleaved"
    (2d with 2d+1, GPT-J); base 10000 by default.
  * Packed int4 weights are uint8 arrays [out, in/2], element 2i in the low nibble.

Errors raise subclasses of :class:`MlxpError` carrying ``.status`` and ``.message``.
The library is loaded from ``$MLXPRIM_LIBRARY`` if set, else from this package's folder.
"""

import ctypes as _ctypes
import operator as _operator

from . import _lib
from ._errors import (
    CancelledError,
    CapacityExhaustedError,
    InternalError,
    InvalidArgumentError,
    InvalidHandleError,
    MlxpError,
    NotFoundError,
    OutOfMemoryError,
    ShapeMismatchError,
    UnsupportedDtypeError,
)
from ._attention import (alibi_slopes, chunked_cross_attention, flash_attention,
                         flash_attention_backward, flash_attention_bias_grad,
                         flash_attention_rope, flash_attention_rope_backward,
                         flash_attention_varlen, flash_attention_varlen_backward,
                         merge_attention_states, sliding_window_attention)
from ._activations import (activation, activation_backward, geglu, gelu, glu,
                           glu_backward, silu, swiglu)
from ._linalg import gated_linear, gated_linear_backward, linear, matmul
from ._norms import (group_norm, group_norm_backward, layer_norm, layer_norm_backward,
                     rms_norm_backward)
from ._ops import log_softmax, rms_norm, softmax
from ._quant import (affine_linear, dequantize_affine, dequantize_int4, dequantize_int8,
                     int4_linear, int8_linear, quantize_affine, quantize_int4, quantize_int8)
from ._rope import rope
from ._rng import Rng

__all__ = [
    "__version__",
    "version_number",
    "abi_version",
    "status_string",
    "cpu_features",
    "cpu_isa",
    "set_num_threads",
    "get_num_threads",
    "softmax",
    "log_softmax",
    "rms_norm",
    "rms_norm_backward",
    "layer_norm",
    "layer_norm_backward",
    "group_norm",
    "group_norm_backward",
    "matmul",
    "linear",
    "gated_linear",
    "gated_linear_backward",
    "activation",
    "activation_backward",
    "silu",
    "gelu",
    "glu",
    "glu_backward",
    "swiglu",
    "geglu",
    "rope",
    "quantize_int8",
    "dequantize_int8",
    "int8_linear",
    "quantize_int4",
    "dequantize_int4",
    "int4_linear",
    "quantize_affine",
    "dequantize_affine",
    "affine_linear",
    "flash_attention",
    "flash_attention_backward",
    "flash_attention_bias_grad",
    "flash_attention_varlen",
    "flash_attention_varlen_backward",
    "chunked_cross_attention",
    "flash_attention_rope",
    "flash_attention_rope_backward",
    "sliding_window_attention",
    "merge_attention_states",
    "alibi_slopes",
    "Rng",
    "MlxpError",
    "InvalidArgumentError",
    "ShapeMismatchError",
    "UnsupportedDtypeError",
    "OutOfMemoryError",
    "CapacityExhaustedError",
    "InvalidHandleError",
    "NotFoundError",
    "CancelledError",
    "InternalError",
]


def _string(fn):
    out = _ctypes.c_char_p()
    _lib.check(fn(_ctypes.byref(out)))
    return out.value.decode()


def _int32(fn):
    out = _ctypes.c_int32()
    _lib.check(fn(_ctypes.byref(out)))
    return out.value


__version__ = _string(_lib.lib.mlxp_version_string)


def version_number():
    """The loaded library's version as MAJOR * 1000000 + MINOR * 1000 + PATCH."""
    return _int32(_lib.lib.mlxp_version)


def abi_version():
    """The loaded library's ABI version (checked against the binding's at import)."""
    return _int32(_lib.lib.mlxp_abi_version)


def status_string(status):
    """The library's short description of a status code, e.g. "invalid argument"."""
    return _lib.status_string(status)


def cpu_features():
    """The CPU features the library detected, e.g. ``['sse4.2', 'avx', 'avx2', 'fma']``."""
    return _string(_lib.lib.mlxp_cpu_features).split()


def cpu_isa():
    """The kernel path in use: "generic", "avx2" or "avx512" (lowered by $MLXP_ISA)."""
    return _string(_lib.lib.mlxp_cpu_isa)


def set_num_threads(n):
    """Size the worker pool: 1..1024 threads, or 0 for the number of logical CPUs.
    Results do not depend on it."""
    n = _operator.index(n)
    if not -(1 << 31) <= n < 1 << 31:
        raise InvalidArgumentError(f"num_threads must be 0..1024, got {n}")
    _lib.check(_lib.lib.mlxp_set_num_threads(n))


def get_num_threads():
    """The current worker-pool size (>= 1)."""
    return _int32(_lib.lib.mlxp_get_num_threads)
