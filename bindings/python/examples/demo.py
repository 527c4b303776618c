"""Softmax and RMSNorm through libmlxprim on small inputs.

Run from the repository root after `bash scripts/build.sh`:
    python3 bindings/python/examples/demo.py
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Use the binding from this checkout and, unless told otherwise, the library from build/.
sys.path.insert(0, os.path.dirname(HERE))
_built = os.path.join(HERE, "..", "..", "..", "build", "lib", "libmlxprim.so")
if "MLXPRIM_LIBRARY" not in os.environ and os.path.isfile(_built):
    os.environ["MLXPRIM_LIBRARY"] = os.path.abspath(_built)

import numpy as np  # noqa: E402

import mlxprim  # noqa: E402

np.set_printoptions(precision=5, suppress=True)

print(f"mlxprim {mlxprim.__version__} (ABI {mlxprim.abi_version()}), "
      f"cpu isa: {mlxprim.cpu_isa()}, features: {' '.join(mlxprim.cpu_features())}, "
      f"threads: {mlxprim.get_num_threads()}")

logits = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, -np.inf]], dtype=np.float32)
print("logits:\n", logits)
print("softmax:\n", mlxprim.softmax(logits))
print("softmax, temperature 0.5:\n", mlxprim.softmax(logits, temperature=0.5))
print("log_softmax:\n", mlxprim.log_softmax(logits))

x = np.array([[1.0, -2.0, 3.0, -4.0], [0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
weight = np.array([1.0, 0.5, 2.0, 1.0], dtype=np.float32)
residual = np.full_like(x, 0.25)
print("rms_norm(x, weight):\n", mlxprim.rms_norm(x, weight))
out, h = mlxprim.rms_norm(x, weight, residual, eps=1e-6)
print("rms_norm(x + residual, weight):\n", out)
print("residual stream x + residual:\n", h)

with mlxprim.Rng(seed=0) as rng:
    print("uniform samples, seed 0:", rng.uniform((4,)))
