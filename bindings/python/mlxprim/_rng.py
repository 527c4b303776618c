"""Rng: the Philox-4x32-10 counter-based generator of libmlxprim."""

import ctypes
import operator

import numpy as np

from ._errors import InvalidArgumentError
from ._lib import check, lib
from ._tensor import as_tensor, numpy_dtype


class Rng:
    """A seeded Philox-4x32-10 stream (key = seed's low and high 32 bits, counter from 0).

    Each 32-bit output word ``w`` gives the sample ``(w >> 8) * 2**-24`` in [0, 1), rounded
    to the output dtype (a float16/bfloat16 sample can round up to 1.0). Elements are filled
    in row-major order; one call consumes ``ceil(numel / 4)`` counter blocks. The stream is a
    pure function of the seed: identical on every machine and thread count.

    Use as a context manager, or call :meth:`close`; the handle is also released when the
    object is collected. After close, every use raises InvalidHandleError (reported by the
    library, which never reuses handle values).
    """

    def __init__(self, seed):
        seed = operator.index(seed)
        if not 0 <= seed < 1 << 64:
            raise InvalidArgumentError(f"seed must be in [0, 2**64), got {seed}")
        handle = ctypes.c_void_p()
        check(lib.mlxp_rng_create(seed, ctypes.byref(handle)))
        self._handle = handle.value
        self._closed = False

    def uniform_(self, out):
        """Fill ``out`` (float32, float16 or bfloat16; any writable array-like, any strides)
        in place with uniform samples; returns ``out``."""
        oa = as_tensor(out, "out", writable=True)
        check(lib.mlxp_rng_uniform(self._handle, None if oa is None else oa.ref))
        return out

    def uniform(self, shape, dtype=np.float32):
        """A new C-contiguous array of ``shape`` and ``dtype`` filled with samples."""
        out = np.empty(shape, numpy_dtype(dtype, "dtype"))
        return self.uniform_(out)

    def close(self):
        """Release the generator. Closing twice is a no-op."""
        if not self._closed:
            self._closed = True
            check(lib.mlxp_rng_destroy(self._handle))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # Also runs for a half-built object whose __init__ raised.
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:
                pass

    def __repr__(self):
        state = "closed" if self._closed else "open"
        return f"<mlxprim.Rng {state}>"
