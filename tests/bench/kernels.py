#!/usr/bin/env python3
"""Benchmark libmlxprim's kernels against other libraries on identical inputs, in one process.

For every op and shape it prints the median time of each library, the ratio of each peer's
time to ours (> 1: mlxprim is faster) and our achieved GFLOP/s and GB/s as a fraction of the
machine's roofline, measured by the `mlxp-peak` command (FMA peak and DRAM read bandwidth
at the same thread count). Data that stays in cache can beat the DRAM roofline (> 100%).

Peers, where installed: NumPy (a naive formula), mlx[cpu], jax[cpu], onnxruntime, torch.
Every library is limited to the same thread count (--threads, default 2): BLAS/OpenMP
environment variables and XLA_FLAGS are set before any numeric import, the process is
pinned to that many CPUs when the machine has more, and mlxprim.set_num_threads,
torch.set_num_threads, onnxruntime's intra_op_num_threads and threadpoolctl apply it at run
time. Before timing, every library's output is checked against a float64 reference written
from the op's formula; a peer that disagrees is reported as a mismatch and not timed, and a
mismatch of ours makes the script exit with status 1. Inputs are float32. Our calls write
into a preallocated output (as an engine does); peers allocate theirs as they usually do.

Timing is built for a shared host whose load changes while the script runs: for each shape
the libraries take --rounds turns (default 3) in rotating order, each turn after --settle
seconds of idle (default 0.2: OpenBLAS's worker threads spin for about 0.1 s after a call)
and a short warm-up, so every library sees the same conditions and the ratios compare like
with like. For a memory-bound shape the read bandwidth is measured by `mlxp-peak -isa none`
just before and just after its timings and the larger reading is its roofline (the JSON
keeps both readings and the fraction of the run's starting peak).

Usage (from the repository root, after `bash scripts/build.sh`):

    python3 tests/bench/kernels.py [--threads 2] [--ops softmax,rms_norm] [--quick]
        [--json build/bench/kernels.json] [--plot build/bench/kernels.png] [--install]
        [--peak PEAK.json]   (peaks saved earlier by `go run ./cmd/mlxp-peak > PEAK.json`)

--install pip-installs the pinned peers below. torch is among them: PyPI's Linux x86_64
wheel brings the CUDA packages with it (4.2 GB installed, about a minute here), which a
CPU-only run never loads; its CPU matmul is MKL's. OpenBLAS (NumPy's BLAS) honours
OPENBLAS_CORETYPE when set in the environment; the chosen kernel is printed in the header.

Ops are a registry: adding one is one `register(Op(...))` entry below. An op whose mlxprim
function is missing is skipped with a "not in this build" line.
"""

import argparse
import gc
import importlib
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]

# Peers installed by --install, pinned to versions that install on Python 3.11 here.
PINNED = [
    "numpy==2.4.6",
    "mlx[cpu]==0.32.4",
    "jax[cpu]==0.10.2",
    "jaxlib==0.10.2",
    "onnxruntime==1.32.0",
    "onnx==1.23.2",
    "matplotlib==3.11.2",
    "threadpoolctl==3.8.0",
    "torch==2.15.0",
]

PEERS = ["numpy", "mlx", "jax", "torch", "onnxruntime"]
OURS = "mlxprim"


# ---------------------------------------------------------------------------------------
# Thread limits: environment first (read by the libraries when they load), then run time.
# ---------------------------------------------------------------------------------------

THREAD_ENV = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS"]


def limit_threads_env(n):
    """Set the thread-count variables and pin the process to n CPUs when it has more.
    Effective only before the numeric libraries are imported."""
    for var in THREAD_ENV:
        os.environ[var] = str(n)
    eigen = "true" if n > 1 else "false"
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={n}"
    ).strip()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if n < len(cpus):
        os.sched_setaffinity(0, cpus[:n])


def limit_threads_runtime(L, n):
    """Apply the thread count through each loaded library's own setting. Returns a function
    that restores mlxprim's and the BLAS pools' previous sizes (for in-process callers)."""
    before = L.mp.get_num_threads()
    L.mp.set_num_threads(n)
    if L.torch is not None:
        L.torch.set_num_threads(n)
        try:
            L.torch.set_num_interop_threads(1)
        except RuntimeError:  # only allowed before torch's first parallel work
            pass
    limiter = None
    if L.threadpoolctl is not None:
        limiter = L.threadpoolctl.threadpool_limits(limits=n)

    def restore():
        L.mp.set_num_threads(before)
        if limiter is not None:
            limiter.restore_original_limits()
    return restore


# ---------------------------------------------------------------------------------------
# Libraries
# ---------------------------------------------------------------------------------------

def load_libraries(threads):
    """Import mlxprim and every peer that is installed. Returns (L, versions, missing):
    the libraries as attributes of L (None when missing), their versions, and why each
    missing one is missing."""
    import numpy as np

    if not os.environ.get("MLXPRIM_LIBRARY"):
        lib = ROOT / "build" / "lib" / "libmlxprim.so"
        if lib.exists():
            os.environ["MLXPRIM_LIBRARY"] = str(lib)
    try:
        import mlxprim
    except ImportError:
        sys.path.insert(0, str(ROOT / "bindings" / "python"))
        import mlxprim

    L = SimpleNamespace(np=np, mp=mlxprim, mx=None, mxnn=None, jax=None, jnp=None,
                        torch=None, F=None, ort=None, onnx=None, threadpoolctl=None,
                        threads=threads)
    versions = {OURS: mlxprim.__version__, "numpy": np.__version__}
    missing = {}

    def attempt(name, fn):
        try:
            fn()
        except Exception as e:  # not installed, or fails to load: the peer is left out
            missing[name] = f"{type(e).__name__}: {e}".splitlines()[0][:160]

    def mlx():
        import mlx.core as mx
        import mlx.nn as mxnn
        L.mx, L.mxnn = mx, mxnn
        versions["mlx"] = mx.__version__

    def jax():
        import jax
        jax.config.update("jax_platforms", "cpu")
        import jax.numpy as jnp
        L.jax, L.jnp = jax, jnp
        versions["jax"] = jax.__version__

    def torch():
        import torch
        import torch.nn.functional as F
        L.torch, L.F = torch, F
        versions["torch"] = torch.__version__

    def ort():
        import onnxruntime
        L.ort = onnxruntime
        versions["onnxruntime"] = onnxruntime.__version__
        try:
            import onnx
            L.onnx = onnx
            versions["onnx"] = onnx.__version__
        except ImportError as e:
            missing["onnx"] = str(e)

    def tpc():
        import threadpoolctl
        L.threadpoolctl = threadpoolctl

    attempt("mlx", mlx)
    attempt("jax", jax)
    attempt("torch", torch)
    attempt("onnxruntime", ort)
    attempt("threadpoolctl", tpc)
    return L, versions, missing


def available(L, peer):
    return {"numpy": True, "mlx": L.mx is not None, "jax": L.jax is not None,
            "torch": L.torch is not None,
            "onnxruntime": L.ort is not None and L.onnx is not None}[peer]


def to_numpy(L, y):
    """A library's output as NumPy (a tuple for multi-output ops)."""
    if isinstance(y, (tuple, list)):
        return tuple(to_numpy(L, v) for v in y)
    if L.torch is not None and isinstance(y, L.torch.Tensor):
        return y.detach().cpu().numpy()
    return L.np.asarray(y)


# ---------------------------------------------------------------------------------------
# The op registry
# ---------------------------------------------------------------------------------------

# A run function takes no argument, computes the op once (forcing lazy libraries to
# finish) and returns the output. A preparer builds it from the inputs, outside timing.
Run = Callable[[], Any]
Preparer = Callable[[SimpleNamespace, dict], Run]


@dataclass
class Op:
    """One benchmarked operation.

    name:       mlxprim's function name (mlxprim.<name>); the op is skipped if absent.
    shapes:     full-run shapes; quick: small shapes for --quick.
    make:       (shape, numpy Generator) -> dict of float32 NumPy inputs.
    reference:  inputs -> float64 result from the formula (a tuple for multi-output ops).
    work:       shape -> (flops, bytes moved), the roofline's two counts.
    ours:       preparer of mlxprim's call.
    peers:      peer name -> preparer.
    atol, rtol: the agreement check |got - ref| <= atol + rtol * |ref| (float32 results).
    label:      shape -> short text for tables.
    """
    name: str
    shapes: list
    quick: list
    make: Callable
    reference: Callable
    work: Callable
    ours: Preparer
    peers: dict
    atol: float
    rtol: float
    label: Callable = lambda s: "x".join(map(str, s))


OPS = {}


class Unsupported(Exception):
    """A peer cannot run this op (a missing function in its installed version)."""


def _np():
    import numpy  # imported lazily: the thread limits must be set first
    return numpy


def _mp():
    import mlxprim  # loaded (or put on sys.path) by load_libraries
    return mlxprim


def register(op):
    OPS[op.name] = op
    return op


def numel(shape):
    return math.prod(shape)


def with_out(fn, *args, like, **kw):
    """Call fn(*args, **kw), into a preallocated out= when fn takes one."""
    try:
        takes_out = "out" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes_out = False
    if takes_out:
        out = _np().empty_like(like)
        return lambda: fn(*args, out=out, **kw)
    return lambda: fn(*args, **kw)


def mx_run(L, f, *args):
    """An mlx run function: build the lazy graph, evaluate it, return the result."""
    mx = L.mx
    xs = [mx.array(a) for a in args]

    def run():
        y = f(*xs)
        mx.eval(y)
        return y
    return run


def jax_run(L, f, *args):
    """A jax run function: f jitted, inputs on the CPU device, result awaited."""
    g = L.jax.jit(f)
    xs = [L.jax.device_put(a) for a in args]
    return lambda: L.jax.block_until_ready(g(*xs))


def torch_run(L, f, *args):
    xs = [L.torch.from_numpy(a) for a in args]

    def run():
        with L.torch.inference_mode():
            return f(*xs)
    return run


def ort_run(L, nodes, inputs, opset=17):
    """An onnxruntime run function for a one-output graph of the given nodes, whose inputs
    are named by the keys of inputs (float32 arrays) and whose output is named "y"."""
    h, tp = L.onnx.helper, L.onnx.TensorProto.FLOAT
    graph = h.make_graph(
        nodes, "bench",
        [h.make_tensor_value_info(k, tp, list(v.shape)) for k, v in inputs.items()],
        [h.make_tensor_value_info("y", tp, None)])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 8  # understood by every onnxruntime that runs opset 17
    so = L.ort.SessionOptions()
    so.intra_op_num_threads = L.threads
    so.inter_op_num_threads = 1
    so.execution_mode = L.ort.ExecutionMode.ORT_SEQUENTIAL
    sess = L.ort.InferenceSession(model.SerializeToString(), so,
                                  providers=["CPUExecutionProvider"])
    feeds = dict(inputs)
    return lambda: sess.run(None, feeds)[0]


# --- softmax ----------------------------------------------------------------------------

def softmax_ref(i):
    x = i["x"].astype("float64")
    e = _np().exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def softmax_numpy(L, i):
    np, x = L.np, i["x"]

    def run():
        e = np.exp(x - x.max(-1, keepdims=True))
        e /= e.sum(-1, keepdims=True)
        return e
    return run


register(Op(
    name="softmax",
    shapes=[(8192, 128), (2048, 1024), (128, 32000), (16, 131072)],
    quick=[(64, 128), (5, 1000)],
    make=lambda s, rng: {"x": (3 * rng.standard_normal(s)).astype("float32")},
    reference=softmax_ref,
    work=lambda s: (5 * numel(s), 8 * numel(s)),  # max, sub, exp, sum, div; read + write
    ours=lambda L, i: with_out(L.mp.softmax, i["x"], like=i["x"]),
    peers={
        "numpy": softmax_numpy,
        "mlx": lambda L, i: mx_run(L, lambda x: L.mx.softmax(x, axis=-1), i["x"]),
        "jax": lambda L, i: jax_run(L, lambda x: L.jax.nn.softmax(x, axis=-1), i["x"]),
        "torch": lambda L, i: torch_run(L, lambda x: L.torch.softmax(x, dim=-1), i["x"]),
        "onnxruntime": lambda L, i: ort_run(
            L, [L.onnx.helper.make_node("Softmax", ["x"], ["y"], axis=-1)], {"x": i["x"]}),
    },
    # Float32 exp and a float32 row sum of up to 131072 terms: a few units of 2^-24 times
    # sqrt(n) relative error at most; outputs are as small as 1e-60, hence the atol.
    atol=1e-9, rtol=2e-4,
))


# --- rms_norm -------------------------------------------------------------------------

RMS_EPS = 1e-6


def rms_make(s, rng):
    return {"x": rng.standard_normal(s).astype("float32"),
            "w": (1 + 0.1 * rng.standard_normal(s[-1])).astype("float32")}


def rms_ref(i):
    np = _np()
    x, w = i["x"].astype(np.float64), i["w"].astype(np.float64)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + RMS_EPS) * w


def rms_numpy(L, i):
    np, x, w = L.np, i["x"], i["w"]
    return lambda: x * (1 / np.sqrt(np.mean(x * x, -1, keepdims=True) + RMS_EPS)) * w


def rms_torch(L, i):
    if not hasattr(L.F, "rms_norm"):
        raise Unsupported("torch.nn.functional.rms_norm is missing in this torch")
    d = i["x"].shape[-1]
    return torch_run(L, lambda x, w: L.F.rms_norm(x, (d,), w, RMS_EPS), i["x"], i["w"])


register(Op(
    name="rms_norm",
    shapes=[(1, 4096), (128, 4096), (2048, 4096)],
    quick=[(4, 64), (3, 1000)],
    make=rms_make,
    reference=rms_ref,
    work=lambda s: (4 * numel(s), 8 * numel(s) + 4 * s[-1]),  # x, out; w once
    ours=lambda L, i: with_out(L.mp.rms_norm, i["x"], i["w"], like=i["x"], eps=RMS_EPS),
    peers={
        "numpy": rms_numpy,
        "mlx": lambda L, i: mx_run(L, lambda x, w: L.mx.fast.rms_norm(x, w, RMS_EPS),
                                   i["x"], i["w"]),
        "jax": lambda L, i: jax_run(
            L, lambda x, w: x * L.jax.lax.rsqrt(L.jnp.mean(x * x, -1, keepdims=True)
                                                + RMS_EPS) * w, i["x"], i["w"]),
        "torch": rms_torch,
    },
    atol=1e-5, rtol=1e-5,  # a float32 mean of squares and a few roundings: ~1e-6 relative
))


# --- layer_norm -----------------------------------------------------------------------

LN_EPS = 1e-5


def ln_make(s, rng):
    return {"x": (1 + 2 * rng.standard_normal(s)).astype("float32"),
            "w": (1 + 0.1 * rng.standard_normal(s[-1])).astype("float32"),
            "b": (0.1 * rng.standard_normal(s[-1])).astype("float32")}


def ln_ref(i):
    np = _np()
    x = i["x"].astype(np.float64)
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS) * i["w"] + i["b"]


def ln_numpy(L, i):
    np, x, w, b = L.np, i["x"], i["w"], i["b"]

    def run():
        mu = x.mean(-1, keepdims=True)
        d = x - mu
        return d / np.sqrt((d * d).mean(-1, keepdims=True) + LN_EPS) * w + b
    return run


def ln_jax(L, i):
    jnp = L.jnp

    def f(x, w, b):
        mu = jnp.mean(x, -1, keepdims=True)
        d = x - mu
        return d * L.jax.lax.rsqrt(jnp.mean(d * d, -1, keepdims=True) + LN_EPS) * w + b
    return jax_run(L, f, i["x"], i["w"], i["b"])


register(Op(
    name="layer_norm",
    shapes=[(1, 4096), (128, 4096), (2048, 4096)],
    quick=[(4, 64), (3, 1000)],
    make=ln_make,
    reference=ln_ref,
    work=lambda s: (7 * numel(s), 8 * numel(s) + 8 * s[-1]),
    ours=lambda L, i: with_out(L.mp.layer_norm, i["x"], i["w"], i["b"], like=i["x"]),
    peers={
        "numpy": ln_numpy,
        "mlx": lambda L, i: mx_run(
            L, lambda x, w, b: L.mx.fast.layer_norm(x, w, b, LN_EPS), i["x"], i["w"], i["b"]),
        "jax": ln_jax,
        "torch": lambda L, i: torch_run(
            L, lambda x, w, b: L.F.layer_norm(x, (x.shape[-1],), w, b, LN_EPS),
            i["x"], i["w"], i["b"]),
        "onnxruntime": lambda L, i: ort_run(
            L, [L.onnx.helper.make_node("LayerNormalization", ["x", "w", "b"], ["y"],
                                        axis=-1, epsilon=LN_EPS)],
            {"x": i["x"], "w": i["w"], "b": i["b"]}),
    },
    atol=2e-5, rtol=2e-5,  # float32 mean and variance (inputs with mean 1): ~1e-6 relative
))


# --- group_norm -----------------------------------------------------------------------
# x [N, C, H, W] (channels first); mean and biased variance over each group of C / G
# adjacent channels and all positions, then a per-channel weight and bias. Shapes are
# (N, C, H, W, G).

GN_EPS = 1e-5


def gn_make(s, rng):
    n, c, h, w, g = s
    return {"x": (1 + 2 * rng.standard_normal((n, c, h, w))).astype("float32"),
            "w": (1 + 0.1 * rng.standard_normal(c)).astype("float32"),
            "b": (0.1 * rng.standard_normal(c)).astype("float32"),
            "groups": g}


def gn_formula(xp, x, w, b, groups):
    """Group norm of the channels-first x with NumPy or jax.numpy."""
    n, c = x.shape[:2]
    h = x.reshape(n, groups, -1)
    d = h - h.mean(-1, keepdims=True)
    h = d / xp.sqrt((d * d).mean(-1, keepdims=True) + GN_EPS)
    per_channel = (c,) + (1,) * (x.ndim - 2)
    return h.reshape(x.shape) * w.reshape(per_channel) + b.reshape(per_channel)


def gn_ref(i):
    np = _np()
    return gn_formula(np, i["x"].astype(np.float64), i["w"], i["b"], i["groups"])


def gn_numpy(L, i):
    np, x, w, b, g = L.np, i["x"], i["w"], i["b"], i["groups"]
    return lambda: gn_formula(np, x, w, b, g)


def gn_mlx(L, i):
    # mlx.nn.GroupNorm takes channels last: it gets an [N, H, W, C] copy made here, outside
    # timing. Timed: the module on that copy (pytorch_compatible groups adjacent channels,
    # as ours; its own transposes to and from groups included), output handed back as an
    # [N, C, H, W] view (no copy).
    mx, c = L.mx, i["x"].shape[1]
    gn = L.mxnn.GroupNorm(i["groups"], c, eps=GN_EPS, pytorch_compatible=True)
    gn.weight, gn.bias = mx.array(i["w"]), mx.array(i["b"])
    x = L.np.ascontiguousarray(L.np.moveaxis(i["x"], 1, -1))
    return mx_run(L, lambda x: mx.moveaxis(gn(x), -1, 1), x)


register(Op(
    name="group_norm",
    # A diffusion U-Net block at 64x64 (batch 8) and a 128x128 one, 32 groups each.
    shapes=[(8, 512, 64, 64, 32), (1, 256, 128, 128, 32)],
    quick=[(2, 6, 5, 7, 3), (3, 64, 4, 4, 32)],
    make=gn_make,
    reference=gn_ref,
    work=lambda s: (7 * numel(s[:4]), 8 * numel(s[:4]) + 8 * s[1]),  # x, out; w, b once
    ours=lambda L, i: with_out(L.mp.group_norm, i["x"], i["groups"], i["w"], i["b"],
                               like=i["x"], eps=GN_EPS),
    peers={
        "numpy": gn_numpy,
        "mlx": gn_mlx,
        "jax": lambda L, i: jax_run(L, lambda x, w, b: gn_formula(L.jnp, x, w, b, i["groups"]),
                                    i["x"], i["w"], i["b"]),
        "torch": lambda L, i: torch_run(
            L, lambda x, w, b: L.F.group_norm(x, i["groups"], w, b, GN_EPS),
            i["x"], i["w"], i["b"]),
    },
    # Float32 mean and variance over up to 131072 values per group: ~1e-6 when summed
    # pairwise or in blocks, ~1e-4 from mlx's layer_norm; a wrong grouping is off by ~0.03.
    atol=2e-4, rtol=1e-4,
    label=lambda s: f"{s[0]}x{s[1]}x{s[2]}x{s[3]} G{s[4]}",
))


# --- swiglu ---------------------------------------------------------------------------

def swiglu_make(s, rng):
    return {"gate": (2 * rng.standard_normal(s)).astype("float32"),
            "up": rng.standard_normal(s).astype("float32")}


def swiglu_ref(i):
    np = _np()
    g, u = i["gate"].astype(np.float64), i["up"].astype(np.float64)
    return g / (1 + np.exp(-g)) * u


def swiglu_numpy(L, i):
    np, g, u = L.np, i["gate"], i["up"]
    return lambda: g / (1 + np.exp(-g)) * u


def swiglu_mlx(L, i):
    f = L.mx.compile(lambda g, u: L.mxnn.silu(g) * u)
    return mx_run(L, f, i["gate"], i["up"])


register(Op(
    name="swiglu",
    shapes=[(1, 14336), (128, 14336), (1024, 14336)],
    quick=[(4, 64), (3, 1000)],
    make=swiglu_make,
    reference=swiglu_ref,
    work=lambda s: (5 * numel(s), 12 * numel(s)),  # gate, up, out
    ours=lambda L, i: with_out(L.mp.swiglu, i["gate"], i["up"], like=i["gate"]),
    peers={
        "numpy": swiglu_numpy,
        "mlx": swiglu_mlx,
        "jax": lambda L, i: jax_run(L, lambda g, u: L.jax.nn.silu(g) * u, i["gate"], i["up"]),
        "torch": lambda L, i: torch_run(L, lambda g, u: L.F.silu(g) * u, i["gate"], i["up"]),
    },
    atol=1e-6, rtol=1e-5,  # float32 exp and two roundings
))


# --- gelu -----------------------------------------------------------------------------
# One op for both forms of mlxprim.gelu, chosen by the shape's last field: the exact
# x/2 (1 + erf(x / sqrt 2)) (approximate="none") or the tanh approximation
# x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (approximate="tanh"). Shapes are
# (rows, cols, tanh).

GELU_C = math.sqrt(2 / math.pi)


def gelu_make(s, rng):
    return {"x": (2 * rng.standard_normal(s[:2])).astype("float32"), "tanh": s[2]}


def gelu_ref(i):
    np = _np()
    x = i["x"].astype(np.float64)
    if i["tanh"]:
        return x / 2 * (1 + np.tanh(GELU_C * (x + 0.044715 * x ** 3)))
    z = (x / math.sqrt(2)).ravel()  # NumPy has no erf: math.erf, one value at a time
    return x / 2 * (1 + np.fromiter(map(math.erf, z), np.float64, z.size).reshape(x.shape))


def gelu_numpy(L, i):
    if not i["tanh"]:
        raise Unsupported("NumPy has no vectorized erf")
    np, x = L.np, i["x"]
    # x * x * x: NumPy's float32 x ** 3 takes a generic pow, ~100x slower
    return lambda: x / 2 * (1 + np.tanh(GELU_C * (x + 0.044715 * (x * x * x))))


def gelu_ort(L, i):
    node = L.onnx.helper.make_node("Gelu", ["x"], ["y"],
                                   approximate="tanh" if i["tanh"] else "none")
    try:
        return ort_run(L, [node], {"x": i["x"]}, opset=20)  # Gelu is new in opset 20
    except Exception as e:  # an onnxruntime that predates opset 20 rejects the graph
        raise Unsupported(f"Gelu (ONNX opset 20): {str(e).splitlines()[0][:100]}") from e


register(Op(
    name="gelu",
    shapes=[(m, 14336, t) for t in (False, True) for m in (1, 128, 1024)],
    quick=[(4, 64, False), (3, 1000, True)],
    make=gelu_make,
    reference=gelu_ref,
    # Elementwise operations, erf and tanh counted as one each; x, out.
    work=lambda s: ((8 if s[2] else 5) * s[0] * s[1], 8 * s[0] * s[1]),
    ours=lambda L, i: with_out(L.mp.gelu, i["x"], like=i["x"],
                               approximate="tanh" if i["tanh"] else "none"),
    peers={
        "numpy": gelu_numpy,
        "mlx": lambda L, i: mx_run(L, L.mxnn.gelu_approx if i["tanh"] else L.mxnn.gelu, i["x"]),
        "jax": lambda L, i: jax_run(L, lambda x: L.jax.nn.gelu(x, approximate=i["tanh"]),
                                    i["x"]),
        "torch": lambda L, i: torch_run(
            L, lambda x: L.F.gelu(x, approximate="tanh" if i["tanh"] else "none"), i["x"]),
        "onnxruntime": gelu_ort,
    },
    # Float32 erf or tanh and a few roundings: ~5e-7 absolute where 1 + erf (1 + tanh)
    # cancels for x < 0; torch's vectorized erf is off by up to ~1.3e-6 there. The two
    # forms differ by up to 4.7e-4, so a swapped form still fails.
    atol=3e-6, rtol=1e-5,
    label=lambda s: f"{s[0]}x{s[1]}" + (" tanh" if s[2] else ""),
))


# --- rope -----------------------------------------------------------------------------
# q [B, S, Hq, D] and k [B, S, Hkv, D] (BSHD), "half" pairing (d with d + D/2), base 10000,
# token s at position offset + s: the library's documented defaults.

ROPE_BASE = 10000.0


def rope_make(s, rng):
    b, seq, hq, hkv, d, offset = s
    return {"q": rng.standard_normal((b, seq, hq, d)).astype("float32"),
            "k": rng.standard_normal((b, seq, hkv, d)).astype("float32"),
            "offset": offset}


def rope_tables(np, seq, d, offset, dtype):
    """cos and sin of the rotation angles, [1, S, 1, D/2], computed in float64."""
    inv = ROPE_BASE ** (-np.arange(0, d // 2, dtype=np.float64) * 2 / d)
    ang = (offset + np.arange(seq, dtype=np.float64))[:, None] * inv[None, :]
    return (np.cos(ang).astype(dtype)[None, :, None, :],
            np.sin(ang).astype(dtype)[None, :, None, :])


def rope_formula(xp, x, cos, sin):
    """Rotate the pairs (d, d + D/2) of x by the angles whose cos and sin are given."""
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return xp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def rope_ref(i):
    np = _np()
    q, k = i["q"].astype(np.float64), i["k"].astype(np.float64)
    cos, sin = rope_tables(np, q.shape[1], q.shape[-1], i["offset"], np.float64)
    return rope_formula(np, q, cos, sin), rope_formula(np, k, cos, sin)


def rope_numpy(L, i):
    np, q, k = L.np, i["q"], i["k"]

    def run():  # tables rebuilt per call, as the op itself must
        cos, sin = rope_tables(np, q.shape[1], q.shape[-1], i["offset"], np.float32)
        return rope_formula(np, q, cos, sin), rope_formula(np, k, cos, sin)
    return run


def rope_mlx(L, i):
    # mlx.fast.rope rotates over the second-to-last axis: give it [B, H, S, D] views.
    mx = L.mx
    d, off = i["q"].shape[-1], i["offset"]
    q, k = (mx.array(i[n]).transpose(0, 2, 1, 3) for n in ("q", "k"))

    def run():
        y = tuple(mx.fast.rope(t, d, traditional=False, base=ROPE_BASE, scale=1.0, offset=off)
                  .transpose(0, 2, 1, 3) for t in (q, k))
        mx.eval(y)
        return y
    return run


def rope_jax(L, i):
    # Tables are inputs (precomputed), so jax does only the rotation.
    cos, sin = rope_tables(L.np, i["q"].shape[1], i["q"].shape[-1], i["offset"], "float32")
    jnp = L.jnp
    return jax_run(L, lambda q, k, c, s: (rope_formula(jnp, q, c, s), rope_formula(jnp, k, c, s)),
                   i["q"], i["k"], cos, sin)


def rope_torch(L, i):
    cos, sin = rope_tables(L.np, i["q"].shape[1], i["q"].shape[-1], i["offset"], "float32")
    t = L.torch
    return torch_run(L, lambda q, k, c, s: (rope_formula(t, q, c, s), rope_formula(t, k, c, s)),
                     i["q"], i["k"], cos, sin)


register(Op(
    name="rope",
    # (batch, seq, q heads, kv heads, head dim, offset): decode at position 4095, prefill.
    shapes=[(1, 1, 32, 8, 128, 4095), (1, 512, 32, 8, 128, 0), (1, 2048, 32, 8, 128, 0)],
    quick=[(1, 3, 4, 2, 16, 5), (2, 17, 4, 4, 64, 0)],
    make=rope_make,
    reference=rope_ref,
    work=lambda s: (3 * s[0] * s[1] * (s[2] + s[3]) * s[4],
                    8 * s[0] * s[1] * (s[2] + s[3]) * s[4]),
    ours=lambda L, i: (lambda: L.mp.rope(i["q"], i["k"], positions=None, offset=i["offset"])),
    peers={"numpy": rope_numpy, "mlx": rope_mlx, "jax": rope_jax, "torch": rope_torch},
    # Angles up to ~4096 rad: a float32 angle (as mlx computes it) is off by up to 2.4e-4
    # rad; float64 tables give ~1e-7.
    atol=2e-3, rtol=1e-4,
    label=lambda s: f"B{s[0]} S{s[1]} H{s[2]}/{s[3]} D{s[4]}" + (f" @{s[5]}" if s[5] else ""),
))


# --- matmul ---------------------------------------------------------------------------

def mm_make(s, rng):
    m, k, n = s
    return {"a": rng.uniform(-1, 1, (m, k)).astype("float32"),
            "b": rng.uniform(-1, 1, (k, n)).astype("float32")}


def mm_ref(i):
    np = _np()
    return i["a"].astype(np.float64) @ i["b"].astype(np.float64)


register(Op(
    name="matmul",
    # (M, K, N): a decode GEMV, a small prefill batch and square blocks.
    shapes=[(1, 4096, 4096), (64, 4096, 4096), (512, 2048, 2048), (1024, 1024, 1024),
            (2048, 2048, 2048)],
    quick=[(3, 17, 5), (33, 64, 31)],
    make=mm_make,
    reference=mm_ref,
    work=lambda s: (2 * s[0] * s[1] * s[2], 4 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2])),
    ours=lambda L, i: with_out(L.mp.matmul, i["a"], i["b"],
                               like=L.np.empty((i["a"].shape[0], i["b"].shape[1]), "float32")),
    peers={
        "numpy": lambda L, i: (lambda a=i["a"], b=i["b"]: a @ b),
        "mlx": lambda L, i: mx_run(L, lambda a, b: a @ b, i["a"], i["b"]),
        "jax": lambda L, i: jax_run(L, lambda a, b: a @ b, i["a"], i["b"]),
        "torch": lambda L, i: torch_run(L, lambda a, b: a @ b, i["a"], i["b"]),
        "onnxruntime": lambda L, i: ort_run(
            L, [L.onnx.helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": i["a"], "b": i["b"]}),
    },
    # float32 dot products of K terms in [-1, 1]: error ~ sqrt(K) * 2^-24 * |terms|.
    atol=2e-4 * 64, rtol=1e-4,
    label=lambda s: f"{s[0]}x{s[1]}x{s[2]}",
))


# --- linear layer ----------------------------------------------------------------------

def lin_make(s, rng):
    m, k, n = s
    return {"x": rng.uniform(-1, 1, (m, k)).astype("float32"),
            "w": rng.uniform(-1, 1, (n, k)).astype("float32"),
            "b": rng.uniform(-1, 1, (n,)).astype("float32")}


def lin_ref(i):
    np = _np()
    return i["x"].astype(np.float64) @ i["w"].astype(np.float64).T + i["b"]


register(Op(
    name="linear",
    # (rows, in, out): y = x W^T + b with W as (out, in), a layer's own layout; decode of
    # one sequence and batched decode of 32 and 64, and a 128-token chunk into an MLP's
    # width.
    shapes=[(1, 4096, 11008), (32, 4096, 4096), (64, 4096, 4096), (128, 4096, 11008)],
    quick=[(24, 33, 130), (64, 70, 300)],
    make=lin_make,
    reference=lin_ref,
    work=lambda s: (2 * s[0] * s[1] * s[2], 4 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2])),
    ours=lambda L, i: with_out(L.mp.linear, i["x"], i["w"], i["b"],
                               like=L.np.empty((i["x"].shape[0], i["w"].shape[0]), "float32")),
    peers={
        "numpy": lambda L, i: (lambda x=i["x"], w=i["w"], b=i["b"]: x @ w.T + b),
        "mlx": lambda L, i: mx_run(L, lambda x, w, b: L.mx.addmm(b, x, w.T), i["x"], i["w"], i["b"]),
        "jax": lambda L, i: jax_run(L, lambda x, w, b: x @ w.T + b, i["x"], i["w"], i["b"]),
        "torch": lambda L, i: torch_run(L, L.torch.nn.functional.linear, i["x"], i["w"], i["b"]),
        "onnxruntime": lambda L, i: ort_run(
            L, [L.onnx.helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)],
            {"x": i["x"], "w": i["w"], "b": i["b"]}),
    },
    atol=2e-4 * 64, rtol=1e-4,
    label=lambda s: f"{s[0]}x{s[1]}x{s[2]}",
))


# --- gated linear (an MLP's input projection) ------------------------------------------
# silu(x Wg^T) * (x Wu^T) with both weights as (hidden, in); every peer runs the same two
# products and the SwiGLU.

def glin_make(s, rng):
    m, k, n = s
    return {"x": rng.uniform(-1, 1, (m, k)).astype("float32"),
            "wg": (rng.uniform(-1, 1, (n, k)) / 16).astype("float32"),
            "wu": (rng.uniform(-1, 1, (n, k)) / 16).astype("float32")}


def glin_ref(i):
    np = _np()
    x = i["x"].astype(np.float64)
    g, u = x @ i["wg"].astype(np.float64).T, x @ i["wu"].astype(np.float64).T
    return g / (1 + np.exp(-g)) * u


def glin_numpy(L, i):
    np, x, wg, wu = L.np, i["x"], i["wg"], i["wu"]

    def run():
        g = x @ wg.T
        return g / (1 + np.exp(-g)) * (x @ wu.T)
    return run


def glin_ort(L, i):
    h = L.onnx.helper
    nodes = [h.make_node("Gemm", ["x", "wg"], ["g"], transB=1),
             h.make_node("Sigmoid", ["g"], ["s"]),
             h.make_node("Mul", ["g", "s"], ["a"]),
             h.make_node("Gemm", ["x", "wu"], ["u"], transB=1),
             h.make_node("Mul", ["a", "u"], ["y"])]
    return ort_run(L, nodes, {"x": i["x"], "wg": i["wg"], "wu": i["wu"]})


register(Op(
    name="gated_linear",
    # (rows, in, hidden): a Llama-7B MLP input for one token, 16 and 64 rows.
    shapes=[(1, 4096, 11008), (16, 4096, 11008), (64, 4096, 11008)],
    quick=[(12, 33, 130), (64, 70, 300)],
    make=glin_make,
    reference=glin_ref,
    work=lambda s: (4 * s[0] * s[1] * s[2], 4 * (s[0] * s[1] + 2 * s[1] * s[2] + s[0] * s[2])),
    ours=lambda L, i: with_out(L.mp.gated_linear, i["x"], i["wg"], i["wu"],
                               like=L.np.empty((i["x"].shape[0], i["wg"].shape[0]), "float32")),
    peers={
        "numpy": glin_numpy,
        "mlx": lambda L, i: mx_run(L, lambda x, wg, wu: L.mxnn.silu(x @ wg.T) * (x @ wu.T),
                                   i["x"], i["wg"], i["wu"]),
        "jax": lambda L, i: jax_run(L, lambda x, wg, wu: L.jax.nn.silu(x @ wg.T) * (x @ wu.T),
                                    i["x"], i["wg"], i["wu"]),
        "torch": lambda L, i: torch_run(
            L, lambda x, wg, wu: L.F.silu(L.F.linear(x, wg)) * L.F.linear(x, wu),
            i["x"], i["wg"], i["wu"]),
        "onnxruntime": glin_ort,
    },
    # Products of K terms in [-1/16, 1/16] (sums ~1): float32 error ~1e-6 each.
    atol=1e-4, rtol=1e-4,
    label=lambda s: f"{s[0]}x{s[1]}x{s[2]}",
))


# --- weight-only quantized linear layers (decode matvec) --------------------------------
# Inputs are quantized here with NumPy from the formulas of the header, so every library
# multiplies by exactly the same dequantized weights.

def q8_make(s, rng):
    np = _np()
    m, out, inp = s
    w = rng.standard_normal((out, inp)).astype(np.float32)
    scales = (np.abs(w).max(axis=1) / 127).astype(np.float32)
    q = np.clip(np.rint(w / scales[:, None]), -127, 127).astype(np.int8)
    return {"x": rng.standard_normal((m, inp)).astype(np.float32), "q": q, "scales": scales}


def q8_ref(i):
    np = _np()
    w = i["q"].astype(np.float64) * i["scales"].astype(np.float32)[:, None].astype(np.float64)
    return i["x"].astype(np.float64) @ w.T


def q8_numpy(L, i):
    np = L.np
    q, sc, x = i["q"], i["scales"], i["x"]
    return lambda: x @ (q.astype(np.float32) * sc[:, None]).T


register(Op(
    name="int8_linear",
    # (M, out, in): decode matvec on Llama-7B-sized projections, and a small batch.
    shapes=[(1, 4096, 4096), (1, 11008, 4096), (8, 4096, 4096)],
    quick=[(1, 64, 96), (3, 33, 64)],
    make=q8_make,
    reference=q8_ref,
    work=lambda s: (2 * s[0] * s[1] * s[2], s[1] * s[2] + 4 * s[1] + 4 * s[0] * (s[1] + s[2])),
    ours=lambda L, i: with_out(L.mp.int8_linear, i["x"], i["q"], i["scales"],
                               like=L.np.empty((i["x"].shape[0], i["q"].shape[0]), "float32")),
    peers={"numpy": q8_numpy},
    atol=1e-3, rtol=1e-4,
    label=lambda s: f"{s[0]}x{s[1]}x{s[2]}",
))


def q4_make(s, rng):
    np = _np()
    m, out, inp = s
    group = 64
    w = rng.standard_normal((out, inp // group, group)).astype(np.float32)
    scales = (np.abs(w).max(axis=2) / 7).astype(np.float32)
    codes = np.clip(np.rint(w / scales[:, :, None]), -7, 7).astype(np.int8).reshape(out, inp)
    nibbles = (codes & 0xF).astype(np.uint8)
    packed = (nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)).astype(np.uint8)
    return {"x": rng.standard_normal((m, inp)).astype(np.float32), "q": packed,
            "scales": scales, "codes": codes}


def q4_weights(i, np):
    group = i["codes"].shape[1] // i["scales"].shape[1]
    return i["codes"].astype(np.float32) * np.repeat(i["scales"], group, axis=1)


def q4_ref(i):
    np = _np()
    return i["x"].astype(np.float64) @ q4_weights(i, np).astype(np.float64).T


def q4_numpy(L, i):
    np = L.np
    codes, sc, x = i["q"], i["scales"], i["x"]

    def run():  # unpack the nibbles and dequantize, then multiply: the naive way
        lo = (codes & 0xF).astype(np.int8)
        hi = (codes >> 4).astype(np.int8)
        c = np.empty((codes.shape[0], codes.shape[1] * 2), np.int8)
        c[:, 0::2] = np.where(lo > 7, lo - 16, lo)
        c[:, 1::2] = np.where(hi > 7, hi - 16, hi)
        return x @ (c.astype(np.float32) * np.repeat(sc, 64, axis=1)).T
    return run


def q4_mlx(L, i):
    # The same weights in MLX's affine 4-bit format: unsigned codes c + 8, scale s and
    # bias -8 s per group, packed eight per 32-bit word low nibble first.
    np = L.np
    u = (i["codes"] + 8).astype(np.uint8)
    words = (u[:, 0::2] | (u[:, 1::2] << 4)).view(np.uint32)
    return mx_quantized_matmul(L, i["x"], words, i["scales"], -8 * i["scales"], 64, 4)


def mx_quantized_matmul(L, x, wq, scales, biases, group, bits):
    """An mlx run function of x times the affine-quantized weight (wq, scales, biases)^T."""
    mm = L.mx.quantized_matmul
    return mx_run(L, lambda *a: mm(*a, transpose=True, group_size=group, bits=bits),
                  x, wq, scales, biases)


register(Op(
    name="int4_linear",
    shapes=[(1, 4096, 4096), (1, 11008, 4096), (8, 4096, 4096)],
    quick=[(1, 64, 128), (3, 33, 64)],
    make=q4_make,
    reference=q4_ref,
    work=lambda s: (2 * s[0] * s[1] * s[2],
                    s[1] * s[2] // 2 + 4 * s[1] * s[2] // 64 + 4 * s[0] * (s[1] + s[2])),
    ours=lambda L, i: with_out(L.mp.int4_linear, i["x"], i["q"], i["scales"],
                               like=L.np.empty((i["x"].shape[0], i["q"].shape[0]), "float32")),
    peers={"numpy": q4_numpy, "mlx": q4_mlx},
    atol=1e-3, rtol=1e-4,
    label=lambda s: f"{s[0]}x{s[1]}x{s[2]}",
))


# MLX's affine format: per group of 64 inputs w = scale * q + bias, q an unsigned bits-wide
# code packed into 32-bit words lowest field first. Weights are quantized by mlxprim's
# quantize_affine in make; shapes are (M, out, in, bits).

AFF_GROUP = 64


def aff_make(s, rng):
    np = _np()
    m, out, inp, bits = s
    w = rng.standard_normal((out, inp)).astype(np.float32)
    wq, scales, biases = _mp().quantize_affine(w, group_size=AFF_GROUP, bits=bits)
    return {"x": rng.standard_normal((m, inp)).astype(np.float32), "w": w, "wq": wq,
            "scales": scales, "biases": biases, "bits": bits}


def aff_weights(np, i):
    """The dequantized float32 [out, in] weights, f32(f32(q * scale) + bias) as MLX rounds."""
    wq, bits = i["wq"], i["bits"]
    q = (wq[:, :, None] >> np.arange(0, 32, bits, dtype=np.uint32)) & (2 ** bits - 1)
    q = q.reshape(wq.shape[0], -1).astype(np.float32)
    return (q * np.repeat(i["scales"], AFF_GROUP, axis=1)
            + np.repeat(i["biases"], AFF_GROUP, axis=1))


def aff_ref(i):
    np = _np()
    return i["x"].astype(np.float64) @ aff_weights(np, i).astype(np.float64).T


def aff_mlx(L, i):
    # MLX quantizes the same float weights itself (mx.quantize, outside timing); timed: its
    # quantized matmul.
    mx, bits = L.mx, i["bits"]
    wq, scales, biases = mx.quantize(mx.array(i["w"]), group_size=AFF_GROUP, bits=bits)
    return mx_quantized_matmul(L, i["x"], wq, scales, biases, AFF_GROUP, bits)


register(Op(
    name="affine_linear",
    shapes=[(1, n, 4096, b) for b in (4, 8) for n in (4096, 11008)],
    quick=[(1, 64, 128, 4), (3, 33, 64, 8)],
    make=aff_make,
    reference=aff_ref,
    # codes, scales and biases, x and out
    work=lambda s: (2 * s[0] * s[1] * s[2],
                    s[1] * s[2] * s[3] // 8 + 8 * s[1] * s[2] // AFF_GROUP
                    + 4 * s[0] * (s[1] + s[2])),
    ours=lambda L, i: with_out(L.mp.affine_linear, i["x"], i["wq"], i["scales"], i["biases"],
                               like=L.np.empty((i["x"].shape[0], i["wq"].shape[0]), "float32"),
                               group_size=AFF_GROUP, bits=i["bits"]),
    # Unpack and dequantize, then multiply: the naive way (as int4_linear's).
    peers={"numpy": lambda L, i: (lambda: i["x"] @ aff_weights(L.np, i).T), "mlx": aff_mlx},
    # Dot products of 4096 N(0, 1) x by N(0, 1)-sized weights (sums ~64): float32 errors
    # up to ~2e-4 (ours, NumPy) and 8e-4 (mlx), as int4_linear's.
    atol=1e-3, rtol=1e-4,
    label=lambda s: f"{s[0]}x{s[1]}x{s[2]} {s[3]}-bit",
))


# --- flash_attention ------------------------------------------------------------------
# q [B, Lq, H, D], k and v [B, Lk, H, D] (BSHD, the library's default), scale 1/sqrt(D),
# bottom-right causal mask. Shapes are (B, Lq, Lk, H, D, causal); decode (Lq = 1) sees
# every key either way, so it runs non-causal.

def attn_make(s, rng):
    b, lq, lk, h, d, causal = s
    return {"q": rng.standard_normal((b, lq, h, d)).astype("float32"),
            "k": rng.standard_normal((b, lk, h, d)).astype("float32"),
            "v": rng.standard_normal((b, lk, h, d)).astype("float32"),
            "causal": causal}


def attn_masked(np, lq, lk, causal):
    """[Lq, Lk] True where a key is hidden: j > i + (Lk - Lq) when causal."""
    if not causal:
        return None
    return np.arange(lk)[None, :] > np.arange(lq)[:, None] + (lk - lq)


def attn_ref(i):
    np = _np()
    q, k, v = (i[n].astype(np.float64) for n in ("q", "k", "v"))
    lq, lk, d = q.shape[1], k.shape[1], q.shape[3]
    hidden = attn_masked(np, lq, lk, i["causal"])
    out = np.empty(q.shape)
    for h in range(q.shape[2]):  # one head at a time bounds the float64 score matrix
        s = np.einsum("bid,bjd->bij", q[:, :, h], k[:, :, h]) / math.sqrt(d)
        if hidden is not None:
            s[:, hidden] = -np.inf
        p = np.exp(s - s.max(-1, keepdims=True))
        out[:, :, h] = np.einsum("bij,bjd->bid", p / p.sum(-1, keepdims=True), v[:, :, h])
    return out


def attn_numpy(L, i):
    np = L.np
    q, k, v = (np.swapaxes(i[n], 1, 2) for n in ("q", "k", "v"))  # BHSD views
    scale = np.float32(1 / math.sqrt(q.shape[-1]))
    hidden = attn_masked(np, q.shape[2], k.shape[2], i["causal"])

    def run():  # matmul, softmax, matmul
        s = (q @ np.swapaxes(k, 2, 3)) * scale
        if hidden is not None:
            s[..., hidden] = -np.inf
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        return np.swapaxes(s @ v, 1, 2)
    return run


def attn_mlx(L, i):
    mx = L.mx
    q, k, v = (mx.array(i[n]).transpose(0, 2, 1, 3) for n in ("q", "k", "v"))
    mx.eval(q, k, v)
    scale = 1 / math.sqrt(i["q"].shape[-1])
    mask = "causal" if i["causal"] else None  # square when causal: alignment agrees

    def run():
        y = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
        y = y.transpose(0, 2, 1, 3)
        mx.eval(y)
        return y
    return run


def attn_jax(L, i):
    if not hasattr(L.jax.nn, "dot_product_attention"):
        raise Unsupported("jax.nn.dot_product_attention is missing in this jax")
    causal = i["causal"]  # square when causal: jax's top-left alignment agrees
    return jax_run(L, lambda q, k, v: L.jax.nn.dot_product_attention(q, k, v,
                                                                    is_causal=causal),
                   i["q"], i["k"], i["v"])


def attn_torch(L, i):
    causal = i["causal"]

    def f(q, k, v):
        y = L.F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                             v.transpose(1, 2), is_causal=causal)
        return y.transpose(1, 2)
    return torch_run(L, f, i["q"], i["k"], i["v"])


def attn_work(s):
    b, lq, lk, h, d, causal = s
    flops = 4 * b * h * lq * lk * d // (2 if causal else 1)
    return flops, 4 * b * h * d * 2 * (lq + lk)  # q, out; k, v


register(Op(
    name="flash_attention",
    shapes=[(1, n, n, 8, d, c) for d in (64, 128) for n in (512, 1024, 2048)
            for c in (True, False)]
    + [(1, 1, n, 8, d, False) for d in (64, 128) for n in (4096, 16384)],
    quick=[(1, 16, 16, 2, 32, True), (2, 1, 100, 2, 16, False)],
    make=attn_make,
    reference=attn_ref,
    work=attn_work,
    ours=lambda L, i: with_out(L.mp.flash_attention, i["q"], i["k"], i["v"], like=i["q"],
                               causal=i["causal"]),
    peers={"numpy": attn_numpy, "mlx": attn_mlx, "jax": attn_jax, "torch": attn_torch},
    # Outputs are softmax-weighted means of N(0, 1) values, |out| ~ 1/sqrt(visible keys)
    # (>= 0.008); float32 logits, exp and sums of up to 16384 terms stay below ~1e-5
    # absolute, while a wrong mask or scale is off by > 1e-3.
    atol=3e-5, rtol=1e-4,
    label=lambda s: ((f"B{s[0]} " if s[0] != 1 else "")
                     + (f"L{s[1]}" if s[1] == s[2] else f"Lq{s[1]}/Lk{s[2]}")
                     + f" H{s[3]} D{s[4]}" + (" causal" if s[5] else "")),
))


# ---------------------------------------------------------------------------------------
# Checking and timing
# ---------------------------------------------------------------------------------------

def check(L, op, got, ref):
    """(ok, max abs error, message) for got against the float64 reference."""
    np = L.np
    got = got if isinstance(got, tuple) else (got,)
    ref = ref if isinstance(ref, tuple) else (ref,)
    if len(got) != len(ref):
        return False, math.inf, f"{len(got)} outputs, want {len(ref)}"
    worst = 0.0
    for g, r in zip(got, ref):
        if g.shape != r.shape:
            return False, math.inf, f"shape {g.shape}, want {r.shape}"
        g = g.astype(np.float64)
        err = np.abs(g - r)
        worst = max(worst, float(err.max(initial=0.0)))
        bad = ~(err <= op.atol + op.rtol * np.abs(r))
        if bad.any():
            j = np.unravel_index(int(np.argmax(bad)), r.shape)
            return False, worst, f"at {j}: {g[j]:.9g} vs reference {r[j]:.9g}"
    return True, worst, ""


SLOW_WARM = 0.25  # seconds: a library whose checked call took longer is not warmed up again
WARM_TIME = 0.02  # seconds of untimed calls at the start of each turn


def time_libs(runs, st, first=None, cap=None):
    """Median seconds and number of timed calls of each library's run() (runs: lib -> run).

    The libraries take turns: st.rounds passes over them, each pass starting with a
    different one. In its turn a library first idles st.settle seconds (after a call,
    OpenBLAS's worker threads spin for about 0.1 s and would take the cores from the next
    library), then warms up (WARM_TIME of untimed calls, which also wakes its own worker
    threads), then makes its share of the timed calls (st.min_time / st.rounds seconds).
    A change of the machine's load during the run (other tenants of a shared host) so
    falls on every library alike, and the ratios compare like with like. first: lib ->
    seconds of its checked call; a library slower than SLOW_WARM makes one timed call per
    turn and no warm-up calls. cap: lib -> most timed calls in all."""
    first, cap = first or {}, cap or {}
    libs = list(runs)
    samples = {lib: [] for lib in libs}
    share = st.min_time / st.rounds
    fewest = max(1, math.ceil(st.min_repeats / st.rounds))
    most = max(fewest, st.max_repeats // st.rounds)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(st.rounds):
            for lib in libs[r % len(libs):] + libs[:r % len(libs)]:
                run, got = runs[lib], samples[lib]
                if len(got) >= cap.get(lib, math.inf):
                    continue
                time.sleep(st.settle)
                slow = first.get(lib, 0.0) > SLOW_WARM
                warm_end, n = time.perf_counter() + WARM_TIME, 0
                while not slow and (n < 2 or time.perf_counter() < warm_end) and n < most:
                    run()
                    n += 1
                lo, hi = (1, 1) if slow else (fewest, most)
                deadline, n = time.perf_counter() + share, 0
                while n < lo or (n < hi and time.perf_counter() < deadline):
                    t = time.perf_counter_ns()
                    run()
                    got.append(time.perf_counter_ns() - t)
                    n += 1
    finally:
        if gc_was:
            gc.enable()
    return {lib: (statistics.median(got) / 1e9, len(got)) for lib, got in samples.items()}


@dataclass
class Settings:
    min_time: float = 0.3   # seconds of timed calls per library and shape, over all rounds
    min_repeats: int = 5
    max_repeats: int = 2000
    seed: int = 0
    rounds: int = 3         # turns of every library per shape (see time_libs)
    settle: float = 0.2     # seconds of idle before each turn
    threads: int = 2        # for the read-bandwidth readings around memory-bound shapes
    buffer_mib: int = 256   # their buffer (several times the last-level cache)
    align: int = 64         # byte boundary of every input array (0: where NumPy put it)


def aligned(np, inputs, align):
    """inputs with each C-contiguous array copied to start on an align-byte boundary.
    NumPy places a large array 16 bytes past a page boundary, so that every 64-byte vector
    load of it straddles two cache lines; buffers a runtime allocates for itself (a KV
    cache, a weight arena) are aligned. Every library gets the same copies."""
    if not align:
        return inputs
    out = {}
    for key, a in inputs.items():
        if isinstance(a, np.ndarray) and a.flags.c_contiguous and a.ctypes.data % align:
            buf = np.empty(a.nbytes + align, np.uint8)
            start = -buf.ctypes.data % align
            b = buf[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
            b[...] = a
            a = b
        out[key] = a
    return out


def align_line(align):
    """The header line that says where the inputs start (see aligned)."""
    if align:
        return f"inputs start on {align}-byte boundaries (--align)"
    return "inputs are where NumPy placed them (--align 0)"


def bench_shape(L, op, shape, libs, peak, st, log):
    """Check every library on one shape, then time those that agree with the reference
    (time_libs). A memory-bound shape's roofline is the read bandwidth measured just before
    and just after its timings (the larger of the two; see read_bandwidth_now), as the
    bandwidth left by other tenants of a shared host changes by tens of percent within
    minutes. Returns the result record."""
    rng = L.np.random.default_rng([st.seed, sum(map(ord, op.name)), *shape])
    inputs = aligned(L.np, op.make(shape, rng), st.align)
    ref = op.reference(inputs)
    flops, nbytes = op.work(shape)
    rec = {"op": op.name, "shape": list(shape), "label": op.label(shape),
           "flops": flops, "bytes": nbytes, "times": {}, "repeats": {}, "ratio": {},
           "check": {}, "status": {}}
    runs, first = {}, {}
    for lib in [OURS] + libs:
        if lib != OURS and lib not in op.peers:
            rec["status"][lib] = "n/a: no implementation for this op"
            continue
        try:
            run = op.ours(L, inputs) if lib == OURS else op.peers[lib](L, inputs)
            t = time.perf_counter()
            out = to_numpy(L, run())  # first call: compiles, allocates, faults pages in
            first[lib] = time.perf_counter() - t
        except Unsupported as e:
            rec["status"][lib] = f"unsupported: {e}"
            continue
        except Exception as e:
            rec["status"][lib] = f"error: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
            continue
        ok, err, msg = check(L, op, out, ref)
        rec["check"][lib] = {"ok": ok, "max_abs_err": err, "message": msg}
        if not ok:
            rec["status"][lib] = f"mismatch: {msg}"
            log(f"  {op.name} {op.label(shape)}: {lib} output disagrees with the reference "
                f"{msg} (max |err| {err:.3g})")
            continue
        runs[lib] = run
    memory_bound = bool(peak) and (
        flops / peak["fma_gflops"]["all"] < nbytes / peak["read_gbs"]["all"])
    around = [read_bandwidth_now(st, log)] if memory_bound else []
    for lib, (secs, n) in time_libs(runs, st, first).items():
        rec["times"][lib] = secs
        rec["repeats"][lib] = n
        rec["status"][lib] = "ok"
    if memory_bound:
        around.append(read_bandwidth_now(st, log))
    t = rec["times"].get(OURS)
    if t:
        for lib in libs:
            if lib in rec["times"]:
                rec["ratio"][lib] = rec["times"][lib] / t
        rec["gflops"] = flops / t / 1e9
        rec["gbs"] = nbytes / t / 1e9
        if peak:
            rec.update(roofline(flops, nbytes, t, peak, around))
    return rec


def roofline(flops, nbytes, secs, peak, around):
    """The roofline fields of a record: bound, roofline_fraction and, for a memory-bound
    shape, the read bandwidths measured around it (None where a measurement failed) and
    the fraction of the run's starting peak. around: [before, after] GB/s, or []."""
    f_peak, b_start = peak["fma_gflops"]["all"], peak["read_gbs"]["all"]
    if flops / f_peak >= nbytes / b_start:
        return {"bound": "compute", "roofline_fraction": flops / (f_peak * 1e9) / secs}
    measured = [b for b in around if b]
    b_peak = max(measured) if measured else b_start
    return {"bound": "memory", "roofline_fraction": nbytes / (b_peak * 1e9) / secs,
            "read_gbs_around": around, "read_gbs_used": b_peak,
            "roofline_fraction_start_peak": nbytes / (b_start * 1e9) / secs}


# ---------------------------------------------------------------------------------------
# Peak, report, plot
# ---------------------------------------------------------------------------------------

def peak_command(log):
    """The mlxp-peak command: a binary on PATH, else one built once into build/bench (a
    build takes seconds; `go run` would rebuild it for every bandwidth reading)."""
    import shutil
    global _PEAK_EXE
    if _PEAK_EXE is None:
        exe = shutil.which("mlxp-peak")
        if not exe:
            built = ROOT / "build" / "bench" / "mlxp-peak"
            built.parent.mkdir(parents=True, exist_ok=True)
            p = subprocess.run(["go", "build", "-o", str(built), "./cmd/mlxp-peak"], cwd=ROOT,
                               capture_output=True, text=True)
            if p.returncode != 0:
                log(f"peak: go build ./cmd/mlxp-peak failed: {p.stderr.strip()[:300]}")
                exe = ""
            else:
                exe = str(built)
        _PEAK_EXE = exe
    return _PEAK_EXE


_PEAK_EXE = None


def run_peak(args, log):
    """Run mlxp-peak with args; its JSON document, or None (logged) when it fails."""
    exe = peak_command(log)
    if not exe:
        return None
    try:
        p = subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        log(f"peak: {exe} failed ({e})")
        return None
    if p.returncode != 0:
        log(f"peak: {exe} exited {p.returncode}: {p.stderr.strip()[:300]}")
        return None
    return json.loads(p.stdout)


def measure_peak(threads, quick, log):
    """The machine's FMA peak and bandwidths at this thread count (mlxp-peak), or None."""
    args = ["-threads", str(threads), "-isa", "selected"]
    if quick:
        args += ["-duration", "20ms", "-repeats", "1", "-buffer-mib", "64"]
    peak = run_peak(args, log)
    if peak is None:
        log("peak: fractions of peak are left out")
    return peak


def read_bandwidth_now(st, log):
    """The read bandwidth (GB/s, all threads) measured now by mlxp-peak -isa none, or None."""
    args = ["-threads", str(st.threads), "-isa", "none", "-repeats", "1",
            "-buffer-mib", str(st.buffer_mib)]
    doc = run_peak(args, log)
    return doc["read_gbs"]["all"] if doc else None


def fmt_time(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def print_table(results, libs, out=None):
    out = out or sys.stdout
    cols = [OURS] + libs
    w = max([11] + [len(r["op"]) + 1 for r in results])  # the longest op name
    head = f"{'op':<{w}}{'shape':<22}" + "".join(f"{c:>20}" for c in cols)
    head += f"{'ours GFLOP/s':>14}{'ours GB/s':>11}{'% roofline':>12}"
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in results:
        cells = []
        for c in cols:
            if c in r["times"]:
                cell = fmt_time(r["times"][c])
                if c != OURS and c in r["ratio"]:
                    cell += f" ({r['ratio'][c]:.2f}x)"
            else:
                st = r["status"].get(c, "n/a")
                cell = st.split(":")[0]
            cells.append(f"{cell:>20}")
        extra = ""
        if "gflops" in r:
            extra += f"{r['gflops']:>14.2f}{r['gbs']:>11.2f}"
        if "roofline_fraction" in r:
            extra += f"{100 * r['roofline_fraction']:>9.1f}% {r['bound'][0]}"
        print(f"{r['op']:<{w}}{r['label']:<22}" + "".join(cells) + extra, file=out)


def plot(results, libs, meta, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in results if r["ratio"] or "roofline_fraction" in r]
    labels = [f"{r['op']}\n{r['label']}" for r in rows]
    x = np.arange(len(rows))
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(max(8, 1.1 * len(rows) + 3), 8),
                                  gridspec_kw={"height_ratios": [3, 1.3]}, sharex=True)
    width = 0.8 / max(1, len(libs))
    for j, lib in enumerate(libs):
        vals = [r["ratio"].get(lib, np.nan) for r in rows]
        bars = ax.bar(x - 0.4 + width * (j + 0.5), vals, width,
                      label=f"{lib} {meta['versions'].get(lib, '')}")
        for b, v in zip(bars, vals):
            if np.isfinite(v):
                ax.annotate(f"{v:.2g}", (b.get_x() + b.get_width() / 2, v), ha="center",
                            va="bottom", fontsize=6)
    ax.axhline(1, color="black", lw=1)
    ax.set_yscale("log")
    finite = [v for r in rows for v in r["ratio"].values() if v > 0]
    if finite:  # headroom above the tallest bar for the legend
        ax.set_ylim(min(min(finite), 1) / 1.5, max(max(finite), 1) * 6)
    ax.set_ylabel("peer time / mlxprim time\n(> 1: mlxprim faster)")
    ax.set_title(f"libmlxprim {meta['versions'][OURS]} vs peers: {meta['threads']} threads, "
                 f"{meta['cpu']}, isa {meta['isa']}, float32")
    ax.legend(fontsize=8, ncol=min(len(libs), 5))
    ax.grid(axis="y", which="both", alpha=0.3)
    frac = [100 * r.get("roofline_fraction", np.nan) for r in rows]
    ax2.bar(x, frac, 0.5, color="tab:gray")
    for xi, v, r in zip(x, frac, rows):
        if np.isfinite(v):
            ax2.annotate(f"{v:.0f}% {r.get('bound', '')[:3]}", (xi, v), ha="center",
                         va="bottom", fontsize=7)
    if np.isfinite(frac).any():
        ax2.set_ylim(0, np.nanmax(frac) * 1.25)
    ax2.set_ylabel("mlxprim % of roofline")
    ax2.set_xticks(x, labels, fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    p.add_argument("--ops", default="", help="comma-separated ops (default: all): " + ",".join(OPS))
    p.add_argument("--peers", default="", help="comma-separated peers (default: all installed)")
    p.add_argument("--quick", action="store_true",
                   help="small shapes and short timing (smoke test)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw ratio bars (needs matplotlib)")
    p.add_argument("--install", action="store_true", help="pip-install the pinned peers first")
    p.add_argument("--no-peak", action="store_true", help="skip the mlxp-peak measurement")
    p.add_argument("--peak", metavar="FILE",
                   help="read the peaks from this mlxp-peak JSON instead of measuring them")
    p.add_argument("--min-time", type=float, help="seconds of timed calls per library and shape")
    p.add_argument("--seed", type=int, default=0)
    add_timing_args(p)
    a = p.parse_args(argv)
    if a.threads < 1:
        p.error("--threads must be >= 1")
    check_timing_args(p, a)
    a.ops = [o for o in a.ops.split(",") if o] or list(OPS)
    unknown = [o for o in a.ops if o not in OPS]
    if unknown:
        p.error(f"unknown op(s) {unknown}; known: {list(OPS)}")
    a.peers = [x for x in a.peers.split(",") if x] or list(PEERS)
    bad = [x for x in a.peers if x not in PEERS]
    if bad:
        p.error(f"unknown peer(s) {bad}; known: {PEERS}")
    return a


def add_timing_args(p):
    """--rounds, --settle (see time_libs) and --align (see aligned), shared with
    attention.py."""
    p.add_argument("--align", type=int, default=Settings.align,
                   help=f"byte boundary of the input arrays, the same ones for every library "
                        f"(default {Settings.align}; 0 leaves them where NumPy puts them)")
    p.add_argument("--rounds", type=int, default=Settings.rounds,
                   help=f"turns of every library per shape (default {Settings.rounds})")
    p.add_argument("--settle", type=float, default=None,
                   help=f"seconds of idle before each turn (default {Settings.settle}, "
                        "0 with --quick)")


def check_timing_args(p, a):
    if a.rounds < 1:
        p.error("--rounds must be >= 1")
    if a.align < 0 or a.align & (a.align - 1):
        p.error("--align must be 0 or a power of two")
    if a.settle is None:
        a.settle = 0.0 if a.quick else Settings.settle
    if a.settle < 0:
        p.error("--settle must be >= 0")


def install():
    print("installing pinned peers:", " ".join(PINNED))
    print("torch's Linux wheel on PyPI also pulls its CUDA packages (about 4 GB); a CPU-only "
          "run never loads them")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    *PINNED], check=True)
    importlib.invalidate_caches()


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.install:
        install()
    # Limits last for this run only, so an in-process caller (the smoke test) gets its
    # environment, CPU affinity and pool sizes back.
    env = dict(os.environ)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    limit_threads_env(a.threads)
    L, versions, missing = load_libraries(a.threads)
    restore = limit_threads_runtime(L, a.threads)
    try:
        return benchmark(a, L, versions, missing)
    finally:
        restore()
        os.environ.clear()
        os.environ.update(env)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)


def benchmark(a, L, versions, missing):
    """Benchmark the selected ops; print the table, write JSON and plot. Exit status."""
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    libs = [p for p in a.peers if available(L, p)]
    left_out = {p: missing.get(p) or missing.get("onnx") or "not installed"
                for p in a.peers if p not in libs}
    st = Settings(seed=a.seed, threads=a.threads, rounds=a.rounds, settle=a.settle,
                  align=a.align)
    if a.quick:
        st.min_time, st.min_repeats, st.max_repeats, st.buffer_mib = 0.01, 3, 50, 64
    if a.min_time is not None:
        st.min_time = a.min_time

    if a.peak:
        peak = json.loads(Path(a.peak).read_text())
        if peak.get("threads") != a.threads:
            log(f"--peak: {a.peak} was measured with {peak.get('threads')} threads, "
                f"this run uses {a.threads}")
            return 2
    else:
        peak = None if a.no_peak else measure_peak(a.threads, a.quick, log)
    blas = []
    if L.threadpoolctl is not None:
        blas = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                for d in L.threadpoolctl.threadpool_info()]
    meta = {
        "threads": a.threads, "quick": a.quick, "cpu": cpu_model(), "isa": L.mp.cpu_isa(),
        "python": platform.python_version(), "versions": versions,
        "left_out": left_out,
        "blas": blas, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "dtype": "float32", "seed": a.seed, "align": st.align,
    }
    print(f"libmlxprim {versions[OURS]} (isa {meta['isa']}), threads={a.threads}, "
          f"{meta['cpu']}, python {meta['python']}")
    print("peers: " + ", ".join(f"{p} {versions[p]}" for p in libs))
    for p, why in left_out.items():
        print(f"left out: {p} ({why})")
    for b in blas:
        print(f"blas: {b['internal_api']} {b['version']} kernel {b['architecture']} "
              f"threads {b['num_threads']}")
    if peak:
        print(f"peak (threads={a.threads}): FMA {peak['fma_gflops']['all']:.1f} GFLOP/s "
              f"(1 thread {peak['fma_gflops']['1']:.1f}), read {peak['read_gbs']['all']:.1f} GB/s "
              f"(1 thread {peak['read_gbs']['1']:.1f})")
    print(align_line(st.align))
    print(f"times are medians of {st.rounds} interleaved turns per library ({st.settle:g} s of "
          f"idle before each); (Nx) = peer time / mlxprim time; % roofline = max(flops / FMA "
          "peak, bytes / read peak) / time, c = compute-bound, m = memory-bound; the read peak "
          "of a memory-bound row is the larger of two readings taken just before and just "
          "after its timings\n")

    results, skipped, failed = [], [], []
    for name in a.ops:
        op = OPS[name]
        if not hasattr(L.mp, op.name):
            line = f"{op.name}: not in this build (mlxprim.{op.name} is missing)"
            print(line)
            skipped.append({"op": op.name, "reason": "not in this build"})
            continue
        for shape in (op.quick if a.quick else op.shapes):
            rec = bench_shape(L, op, shape, libs, peak, st, log)
            results.append(rec)
            if not rec["check"].get(OURS, {}).get("ok"):
                failed.append(f"{op.name} {rec['label']} ({rec['status'].get(OURS)})")
    print()
    print_table(results, libs)
    doc = {"meta": meta, "peak": peak, "results": results, "skipped": skipped}
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(doc, indent=1))
        print(f"\nwrote {a.json}")
    if a.plot:
        try:
            plot(results, libs, meta, a.plot)
            print(f"wrote {a.plot}")
        except ImportError as e:
            log(f"plot: matplotlib is not installed ({e})")
    if failed:
        log("mlxprim disagrees with the reference on: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
