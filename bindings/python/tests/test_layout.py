"""The ctypes declarations agree with include/mlxprim.h, checked by a C compiler."""

import ctypes
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT
from mlxprim import _lib

HEADER = os.path.join(REPO_ROOT, "include", "mlxprim.h")

# struct name in C -> (ctypes Structure, fields)
STRUCTS = {
    "mlxp_device": (_lib.Device, ["device_type", "device_id"]),
    "mlxp_dtype": (_lib.DType, ["code", "bits", "lanes"]),
    "mlxp_tensor": (_lib.Tensor,
                    ["data", "device", "ndim", "dtype", "shape", "strides", "byte_offset"]),
    "mlxp_softmax_params": (_lib.SoftmaxParams, ["struct_size", "temperature", "log"]),
    "mlxp_rms_norm_params": (_lib.RmsNormParams, ["struct_size", "eps"]),
    "mlxp_matmul_params": (_lib.MatmulParams,
                           ["struct_size", "trans_a", "trans_b", "alpha", "beta"]),
    "mlxp_norm_params": (_lib.NormParams, ["struct_size", "eps", "num_groups"]),
    "mlxp_rope_params": (_lib.RopeParams,
                         ["struct_size", "base", "rotary_dim", "pairing", "layout", "scaling",
                          "offset", "factor", "original_max_positions", "beta_fast",
                          "beta_slow", "attention_factor", "mscale", "mscale_all_dim",
                          "yarn_no_truncate", "low_freq_factor", "high_freq_factor",
                          "seq_len", "inverse"]),
    "mlxp_attention_params": (_lib.AttentionParams,
                              ["struct_size", "scale", "causal", "window_left",
                               "window_right", "layout", "softcap", "bias", "alibi_slopes",
                               "key_lengths", "sinks"]),
}

# Enum constants of the header that the binding mirrors in _lib.
ENUMS = ["ACT_SILU", "ACT_GELU", "ACT_GELU_TANH", "ROPE_HALF", "ROPE_INTERLEAVED",
         "LAYOUT_BSHD", "LAYOUT_BHSD", "ROPE_SCALING_NONE", "ROPE_SCALING_LINEAR",
         "ROPE_SCALING_NTK", "ROPE_SCALING_YARN", "ROPE_SCALING_LLAMA3",
         "ROPE_SCALING_DYNAMIC_NTK"]


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    cc = shutil.which("cc")
    if cc is None:
        pytest.fail("a C compiler (cc) is needed for the layout test")
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "mlxprim.h"',
             "int main(void) {"]
    for name, (_, fields) in STRUCTS.items():
        lines.append(f'  printf("{name} %zu\\n", sizeof({name}));')
        for f in fields:
            lines.append(f'  printf("{name}.{f} %zu\\n", offsetof({name}, {f}));')
    for const in ["MLXP_ABI_VERSION", "MLXP_MAX_NDIM", "MLXP_DEVICE_CPU", "MLXP_DTYPE_INT",
                  "MLXP_DTYPE_UINT", "MLXP_DTYPE_FLOAT", "MLXP_DTYPE_BFLOAT",
                  "MLXP_DTYPE_BOOL"] + ["MLXP_" + e for e in ENUMS]:
        lines.append(f'  printf("{const} %d\\n", (int){const});')
    for i, const in enumerate(["MLXP_OK", "MLXP_ERR_INVALID_ARGUMENT",
                               "MLXP_ERR_SHAPE_MISMATCH", "MLXP_ERR_UNSUPPORTED_DTYPE",
                               "MLXP_ERR_OUT_OF_MEMORY", "MLXP_ERR_CAPACITY_EXHAUSTED",
                               "MLXP_ERR_INVALID_HANDLE", "MLXP_ERR_NOT_FOUND",
                               "MLXP_ERR_CANCELLED", "MLXP_ERR_INTERNAL"]):
        lines.append(f'  printf("status.{i} %d\\n", (int){const});')
    lines += ["  return 0;", "}"]
    d = tmp_path_factory.mktemp("layout")
    src, exe = d / "layout.c", d / "layout"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-I", os.path.dirname(HEADER),
                    str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def test_struct_sizes_and_offsets(c_layout):
    for name, (cls, fields) in STRUCTS.items():
        assert ctypes.sizeof(cls) == c_layout[name], name
        assert [f[0] for f in cls._fields_] == fields, name
        for f in fields:
            assert getattr(cls, f).offset == c_layout[f"{name}.{f}"], f"{name}.{f}"


def test_constants(c_layout):
    assert c_layout["MLXP_ABI_VERSION"] == _lib.ABI_VERSION
    assert c_layout["MLXP_MAX_NDIM"] == _lib.MAX_NDIM
    assert c_layout["MLXP_DEVICE_CPU"] == _lib.DEVICE_CPU
    for n in ("INT", "UINT", "FLOAT", "BFLOAT", "BOOL"):
        assert c_layout[f"MLXP_DTYPE_{n}"] == getattr(_lib, f"DTYPE_{n}")
    for e in ENUMS:
        assert c_layout["MLXP_" + e] == getattr(_lib, e), e
    from mlxprim import _errors
    for i in range(10):
        assert c_layout[f"status.{i}"] == i
    assert [_errors.OK, _errors.ERR_INVALID_ARGUMENT, _errors.ERR_INTERNAL] == [0, 1, 9]


def test_tensor_is_a_dlpack_dltensor():
    # DLPack's DLTensor on 64-bit platforms (dlpack.h v0.8+).
    t = _lib.Tensor
    assert ctypes.sizeof(t) == 48
    assert [(f, getattr(t, f).offset) for f, _ in t._fields_] == [
        ("data", 0), ("device", 8), ("ndim", 16), ("dtype", 20), ("shape", 24),
        ("strides", 32), ("byte_offset", 40)]
    assert ctypes.sizeof(_lib.Device) == 8 and ctypes.sizeof(_lib.DType) == 4


def test_every_header_function_is_declared():
    text = open(HEADER).read()
    decls = re.findall(r"^(?:mlxp_status|const char\*)\s+(mlxp_\w+)\(([^;]*)\);", text,
                       flags=re.M)
    assert len(decls) >= 46
    declared = {name: fn for name, *fn in _lib._SIGNATURES}
    assert set(declared) == {name for name, _ in decls}
    assert set(_lib.FUNCTIONS) == set(declared)
    for name, params in decls:
        restype, argtypes = declared[name]
        nparams = 0 if params.strip() in ("", "void") else params.count(",") + 1
        assert len(argtypes) == nparams, name
        fn = getattr(_lib.lib, name)
        assert fn.argtypes == argtypes and fn.restype == restype, name
        want_restype = ctypes.c_char_p if name == "mlxp_last_error" else ctypes.c_int32
        assert restype is want_restype, name
