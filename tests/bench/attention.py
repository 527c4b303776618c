#!/usr/bin/env python3
"""Benchmark libmlxprim's flash_attention against other libraries on identical inputs, in one
process, and measure the peak extra memory of one call of each.

Cases (float32, B = 1, BSHD layout, scale 1/sqrt(D)):
  prefill  causal and non-causal self-attention, L in 512..8192, D in {64, 128}, H = 8,
           plus one H = 16 case; compute-bound, so our GFLOP/s is compared with the FMA
           peak. FLOPs = 4 B H Lq Lk D, halved for causal (square).
  decode   one query against Lk in 4096..32768 cached keys (no mask), D in {64, 128},
           H = 8, plus the grouped-query cases Hq = 32, Hkv = 8 (Llama-style) and Hq = 28,
           Hkv = 4 (Qwen-style, seven query heads per KV head), D = 128, Lk = 8192;
           memory-bound, so our GB/s (K and V read, q read, out written) is
           compared with the measured read bandwidth. Our call writes into a preallocated
           output, as an engine's does.

Peers, where installed: NumPy (naive: matmul, softmax, matmul; with grouped-query heads it
repeats the shared K/V heads inside the timed call, as a naive implementation must),
mlx[cpu] mx.fast.scaled_dot_product_attention, torch.nn.functional.
scaled_dot_product_attention and jax.nn.dot_product_attention. The same rules as
tests/bench/kernels.py apply, and its helpers are used: every library runs in this process
with the same thread count (--threads), outputs are checked against a float64 reference
before timing (a peer that disagrees is reported as a mismatch and not timed; a mismatch
of ours makes the script exit 1), the libraries are timed in interleaved turns after an
idle settle (--rounds, --settle), medians are printed with peer_time / our_time, and the
roofline peaks come from `mlxp-peak`: the FMA peak measured at the start for prefill, the
read bandwidth measured just before and just after each decode shape for decode (a decode
whose K and V stay in cache can exceed 100% of the DRAM read bandwidth). The float64 reference covers a fixed random subset
of 64 query rows (always including the first and the last), computed against all keys
with the mask, so that it stays cheap at L = 8192.

Two limits keep the run sane, each printed when it applies: a peer that materializes the
[B, H, Lq, Lk] float32 score matrix (NumPy, mlx, jax on the CPU; their measured peaks are
2-3x the matrix) is skipped when the matrix exceeds --max-scores-gib (4 GiB); a peer is
skipped when its predicted time per call exceeds --max-call-seconds (15 s), predicted from
the rate it reached on the previous shape of the same case and mask. A library whose
checked call took over one second is timed twice, in its first two turns.

Peak extra memory: for each prefill length (causal, the smallest D and H of the run) each
library's call runs once in a fresh process (so no cache or pool of an earlier call hides
it): inputs and output are allocated, a call on a tiny shape loads the library, "5" is
written to /proc/self/clear_refs to reset the peak resident set (VmHWM), VmRSS is read,
the call runs and VmHWM is read: extra = VmHWM - VmRSS. Peers allocate their output inside
the call (q's size, printed for scale with the L^2 score matrix). Where clear_refs does
not reset VmHWM, the fallback is the VmHWM of a process that makes the call minus that of
one that only allocates the inputs (VmHWM, not ru_maxrss: Linux carries the parent's peak
into a child's ru_maxrss across fork and exec); the output says which method was used.

Usage (from the repository root, after `bash scripts/build.sh`):

    python3 tests/bench/attention.py [--threads 2] [--quick] [--json F.json] [--plot F.png]
        [--install] [--peak PEAK.json] [--cases prefill,decode] [--lengths 512,1024]
        [--peers numpy,mlx] [--no-memory] [--min-time S] [--seed N]

--lengths keeps the shapes whose length (prefill L, decode Lk) is listed; --quick uses
tiny shapes (a smoke test). --install, --peak and --no-peak are as in kernels.py.
"""

import argparse
import gc
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent


def _load_kernels():
    spec = importlib.util.spec_from_file_location("mlxp_bench_kernels", HERE / "kernels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


kb = _load_kernels()
OURS = kb.OURS
PEERS = ["numpy", "mlx", "jax", "torch"]

# The agreement check |got - ref| <= ATOL + RTOL |ref| of kernels.py's flash_attention:
# outputs are softmax-weighted means of N(0, 1) values, |out| ~ 1/sqrt(visible keys)
# (>= 0.005 at 32768 keys); float32 logits, exp and sums of up to 32768 terms stay below
# ~1e-5 absolute, while a wrong mask, scale or head mapping is off by > 1e-3.
TOL = SimpleNamespace(atol=3e-5, rtol=1e-4)
CHECK_ROWS = 64        # query rows compared with the float64 reference
SLOW_CALL = 1.0        # seconds: a checked call this slow is timed only SLOW_REPEATS more
SLOW_REPEATS = 2
PAIRS = 5              # decode: bursts of our calls, each between two read readings
PAIR_TIME = 0.1        # seconds of calls per burst
MIB = 1 << 20

# Peers whose CPU implementation forms the whole score matrix (their measured peaks show it).
MATERIALIZES = {"numpy", "mlx", "jax"}


# ---------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    """q [b, lq, hq, d]; k, v [b, lk, hkv, d] (BSHD)."""
    b: int
    lq: int
    lk: int
    hq: int
    hkv: int
    d: int
    causal: bool

    @property
    def case(self):
        return "decode" if self.lq == 1 else "prefill"

    @property
    def length(self):
        return self.lk

    def label(self):
        heads = f"H{self.hq}" if self.hq == self.hkv else f"H{self.hq}/{self.hkv}"
        size = (f"L{self.lq}" if self.lq == self.lk
                else f"Lk{self.lk}" if self.lq == 1 else f"Lq{self.lq}/Lk{self.lk}")
        return ((f"B{self.b} " if self.b != 1 else "") + f"{size} {heads} D{self.d}"
                + (" causal" if self.causal else ""))


def default_shapes():
    prefill = []
    for n in (512, 1024, 2048, 4096, 8192):
        prefill += [Shape(1, n, n, 8, 8, d, c) for d in (64, 128) for c in (True, False)]
        if n == 4096:
            prefill.append(Shape(1, n, n, 16, 16, 128, True))
    decode = []
    for n in (4096, 8192, 16384, 32768):
        decode += [Shape(1, 1, n, 8, 8, d, False) for d in (64, 128)]
        if n == 8192:
            decode.append(Shape(1, 1, n, 32, 8, 128, False))  # Llama-style GQA decode
            decode.append(Shape(1, 1, n, 28, 4, 128, False))  # Qwen-style GQA decode
    return {"prefill": prefill, "decode": decode}


def quick_shapes():
    return {"prefill": [Shape(1, 64, 64, 2, 2, 32, True), Shape(1, 64, 64, 2, 2, 32, False)],
            "decode": [Shape(1, 1, 256, 2, 2, 32, False), Shape(1, 1, 256, 4, 2, 32, False)]}


def work(s):
    """(flops, bytes): 4 B H Lq Lk D, halved for causal square; K and V read, q, out."""
    flops = 4 * s.b * s.hq * s.lq * s.lk * s.d
    if s.causal and s.lq == s.lk:
        flops //= 2
    return flops, 4 * s.b * (2 * s.lk * s.hkv * s.d + 2 * s.lq * s.hq * s.d)


def scores_bytes(s):
    return 4 * s.b * s.hq * s.lq * s.lk


def make_inputs(np, s, seed):
    rng = np.random.default_rng([seed, s.b, s.lq, s.lk, s.hq, s.hkv, s.d, int(s.causal)])
    return {"q": rng.standard_normal((s.b, s.lq, s.hq, s.d), dtype=np.float32),
            "k": rng.standard_normal((s.b, s.lk, s.hkv, s.d), dtype=np.float32),
            "v": rng.standard_normal((s.b, s.lk, s.hkv, s.d), dtype=np.float32),
            "causal": s.causal}


# ---------------------------------------------------------------------------------------
# Reference and check
# ---------------------------------------------------------------------------------------

def check_rows(np, s, seed):
    """The query rows the reference covers: the first, the last and a fixed random subset,
    CHECK_ROWS in all (every row when Lq is smaller)."""
    if s.lq <= CHECK_ROWS:
        return np.arange(s.lq)
    rng = np.random.default_rng([seed, 7, s.lq])
    rest = rng.choice(np.arange(1, s.lq - 1), CHECK_ROWS - 2, replace=False)
    return np.sort(np.concatenate([[0, s.lq - 1], rest]))


def reference_rows(np, inputs, rows):
    """float64 attention for the given query rows against all keys: [B, len(rows), Hq, D].
    Bottom-right causal mask: row i sees key j iff j <= i + Lk - Lq."""
    q, k, v = inputs["q"], inputs["k"], inputs["v"]
    b, lq, hq, d = q.shape
    lk, hkv = k.shape[1], k.shape[2]
    group = hq // hkv
    hidden = None
    if inputs["causal"]:
        hidden = np.arange(lk)[None, :] > rows[:, None] + (lk - lq)
    out = np.empty((b, len(rows), hq, v.shape[3]))
    for hk in range(hkv):  # one KV head at a time bounds the float64 copies
        kh = k[:, :, hk].astype(np.float64)
        vh = v[:, :, hk].astype(np.float64)
        for h in range(hk * group, (hk + 1) * group):
            sc = (q[:, rows, h].astype(np.float64) @ kh.transpose(0, 2, 1)) / math.sqrt(d)
            if hidden is not None:
                sc[:, hidden] = -np.inf
            p = np.exp(sc - sc.max(-1, keepdims=True))
            out[:, :, h] = (p / p.sum(-1, keepdims=True)) @ vh
    return out


def check_output(L, got, ref, rows, shape):
    """(ok, max abs error, message) of a full output against the reference rows."""
    want = (shape.b, shape.lq, shape.hq, shape.d)
    if tuple(got.shape) != want:
        return False, math.inf, f"shape {tuple(got.shape)}, want {want}"
    ok, err, msg = kb.check(L, TOL, got[:, rows], ref)
    if not ok:
        msg += " (index 1 counts the checked rows)"
    return ok, err, msg


# ---------------------------------------------------------------------------------------
# Libraries: a preparer builds, outside timing, a function that computes one call
# ---------------------------------------------------------------------------------------

def ours(L, i):
    out = L.np.empty_like(i["q"])
    out.fill(0)  # resident before the call, as an engine's output buffer is
    q, k, v, causal = i["q"], i["k"], i["v"], i["causal"]
    return lambda: L.mp.flash_attention(q, k, v, causal=causal, out=out)


def numpy_peer(L, i):
    group = i["q"].shape[2] // i["k"].shape[2]
    if group == 1:
        return kb.attn_numpy(L, i)
    np = L.np

    def run():  # a naive grouped-query call copies the shared K/V heads first
        kv = {n: np.repeat(i[n], group, axis=2) for n in ("k", "v")}
        return kb.attn_numpy(L, {**i, **kv})()
    return run


def jax_peer(L, i):
    jax = L.jax
    if not hasattr(jax.nn, "dot_product_attention"):
        raise kb.Unsupported("jax.nn.dot_product_attention is missing in this jax")
    causal = i["causal"]  # square when causal: jax's top-left alignment agrees
    xs = [jax.device_put(i[n]) for n in ("q", "k", "v")]
    # Compiled ahead, so that neither the timed nor the memory-measured call compiles.
    f = jax.jit(lambda q, k, v: jax.nn.dot_product_attention(q, k, v, is_causal=causal))
    g = f.lower(*xs).compile()
    return lambda: jax.block_until_ready(g(*xs))


def torch_peer(L, i):
    kw = {"is_causal": i["causal"]}
    if i["q"].shape[2] != i["k"].shape[2]:
        major_minor = tuple(int(x) for x in L.torch.__version__.split("+")[0].split(".")[:2])
        if major_minor < (2, 5):
            raise kb.Unsupported("scaled_dot_product_attention(enable_gqa=) needs torch 2.5")
        kw["enable_gqa"] = True

    def f(q, k, v):
        y = L.F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                             v.transpose(1, 2), **kw)
        return y.transpose(1, 2)
    return kb.torch_run(L, f, i["q"], i["k"], i["v"])


PREPARERS = {OURS: ours, "numpy": numpy_peer, "mlx": kb.attn_mlx, "jax": jax_peer,
             "torch": torch_peer}


# ---------------------------------------------------------------------------------------
# Checking and timing one shape
# ---------------------------------------------------------------------------------------

@dataclass
class Settings(kb.Settings):
    max_call: float = 15.0       # seconds per call predicted for a peer
    max_scores: float = 4.0      # GiB of score matrix for a peer that materializes it


def skip_reason(lib, s, st, rates):
    """Why a peer is not run on this shape (None: it runs)."""
    if lib == OURS:
        return None
    gib = scores_bytes(s) / (1 << 30)
    if lib in MATERIALIZES and gib > st.max_scores:
        return f"score matrix {gib:.1f} GiB > {st.max_scores:g} GiB limit"
    prev = rates.get((lib, s.case, s.causal))
    if prev:
        rate, where = prev
        amount = work(s)[0 if s.case == "prefill" else 1]
        predicted = amount / rate
        if predicted > st.max_call:
            unit = "GFLOP/s" if s.case == "prefill" else "GB/s"
            return (f"predicted {predicted:.0f} s per call > {st.max_call:g} s budget "
                    f"({rate / 1e9:.2f} {unit} on {where})")
    return None


def bench_case(L, s, preparers, peak, st, rates, log):
    """Check then time every library on one shape. preparers: name -> preparer, ours
    first. rates: (lib, case, causal) -> (work per second, label), updated here."""
    np = L.np
    inputs = kb.aligned(np, make_inputs(np, s, st.seed), st.align)
    rows = check_rows(np, s, st.seed)
    ref = reference_rows(np, inputs, rows)
    flops, nbytes = work(s)
    rec = {"op": s.case, "case": s.case, "shape": asdict(s), "label": s.label(),
           "flops": flops, "bytes": nbytes, "rows": rows.tolist(), "times": {},
           "repeats": {}, "ratio": {}, "check": {}, "status": {}}
    runs, first = {}, {}
    for lib, prep in preparers.items():
        why = skip_reason(lib, s, st, rates)
        if why:
            rec["status"][lib] = f"skipped: {why}"
            log(f"  {s.case} {s.label()}: {lib} skipped: {why}")
            continue
        try:
            run = prep(L, inputs)
            t = time.perf_counter()
            out = kb.to_numpy(L, run())
            first[lib] = time.perf_counter() - t
        except kb.Unsupported as e:
            rec["status"][lib] = f"unsupported: {e}"
            continue
        except Exception as e:
            rec["status"][lib] = f"error: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
            log(f"  {s.case} {s.label()}: {lib} failed: {rec['status'][lib]}")
            continue
        ok, err, msg = check_output(L, out, ref, rows, s)
        del out
        rec["check"][lib] = {"ok": ok, "max_abs_err": err, "message": msg}
        if not ok:
            rec["status"][lib] = f"mismatch: {msg}"
            log(f"  {s.case} {s.label()}: {lib} output disagrees with the reference "
                f"{msg} (max |err| {err:.3g})")
            continue
        runs[lib] = run
    # Decode is memory-bound: its roofline is the read bandwidth measured around it.
    around = [kb.read_bandwidth_now(st, log)] if peak and s.case == "decode" else []
    slow = {lib: SLOW_REPEATS for lib, secs in first.items() if secs >= SLOW_CALL}
    for lib, (secs, n) in kb.time_libs(runs, st, first, slow).items():
        rec["times"][lib] = secs
        rec["repeats"][lib] = n
        rec["status"][lib] = "ok"
        amount = flops if s.case == "prefill" else nbytes
        rates[(lib, s.case, s.causal)] = (amount / secs, s.label())
    if around:
        around.append(kb.read_bandwidth_now(st, log))
        if OURS in runs:
            rec["paired"] = paired_fractions(runs[OURS], nbytes, st, log)
    del runs
    gc.collect()  # the peers' buffers go before the next shape
    t = rec["times"].get(OURS)
    if t:
        for lib in preparers:
            if lib != OURS and lib in rec["times"]:
                rec["ratio"][lib] = rec["times"][lib] / t
        rec["gflops"] = flops / t / 1e9
        rec["gbs"] = nbytes / t / 1e9
        if peak:
            # Prefill against the FMA peak, decode against the read bandwidth.
            if s.case == "prefill":
                rec["bound"], rec["roofline_fraction"] = (
                    "compute", rec["gflops"] / peak["fma_gflops"]["all"])
            else:
                rec.update(kb.roofline(0, nbytes, t, peak, around))
    return rec


def paired_fractions(run, nbytes, st, log):
    """Our decode's fraction of the read bandwidth, measured in PAIRS short bursts of our
    calls alternating with read readings: each burst's GB/s against the larger of the
    readings just before and just after it. The readings sit seconds closer to the calls
    than the two around a whole row's timings, so a change of the host's load between
    them moves the fraction less."""
    readings = [kb.read_bandwidth_now(st, log)]
    out = []
    for _ in range(PAIRS):
        time.sleep(st.settle)
        run()  # wakes the worker threads
        n, t0 = 0, time.perf_counter()
        while n < 3 or time.perf_counter() - t0 < PAIR_TIME:
            run()
            n += 1
        gbs = nbytes * n / (time.perf_counter() - t0) / 1e9
        readings.append(kb.read_bandwidth_now(st, log))
        near = [b for b in readings[-2:] if b]
        if near:
            out.append({"gbs": gbs, "read_gbs": max(near), "fraction": gbs / max(near)})
    return out


def paired_summary(rec):
    """The median, lowest and highest paired fraction of a decode record, or None."""
    fr = sorted(p["fraction"] for p in rec.get("paired") or [])
    if not fr:
        return None
    mid = len(fr) // 2
    med = fr[mid] if len(fr) % 2 else (fr[mid - 1] + fr[mid]) / 2
    return med, fr[0], fr[-1]


# ---------------------------------------------------------------------------------------
# Peak extra memory of one call, in a fresh process
# ---------------------------------------------------------------------------------------

def proc_status():
    """VmRSS and VmHWM of this process, in bytes."""
    vals = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                vals[key] = int(rest.split()[0]) * 1024
    return vals


def reset_peak_rss():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def clear_refs_works():
    """Whether writing 5 to /proc/self/clear_refs resets VmHWM here: touch and free 64 MiB,
    reset, and see the peak drop back to the current resident size."""
    import numpy as np
    try:
        a = np.ones(64 * MIB // 4, np.float32)
        del a
        gap = proc_status()
        if gap["VmHWM"] - gap["VmRSS"] < 48 * MIB:
            return False  # the freed block stayed resident: the test cannot tell
        reset_peak_rss()
        st = proc_status()
        return st["VmHWM"] - st["VmRSS"] < 16 * MIB
    except (OSError, KeyError):
        return False


def probe_child(L, spec):
    """In a fresh process: allocate the inputs, load the library with a tiny call, then
    measure one call. Prints a JSON line with the resident sizes in bytes."""
    s = Shape(**spec["shape"])
    prep = PREPARERS[spec["lib"]]
    tiny = replace(s, lq=min(s.lq, 16), lk=min(s.lk, 16))
    prep(L, make_inputs(L.np, tiny, spec["seed"]))()
    run = prep(L, make_inputs(L.np, s, spec["seed"]))
    gc.collect()
    res = {}
    if spec["call"]:
        if spec["method"] == "clear_refs":
            reset_peak_rss()
        res["rss_before"] = proc_status()["VmRSS"]
        run()
    res["hwm_after"] = proc_status()["VmHWM"]
    print(json.dumps(res), flush=True)


def run_probe(lib, s, threads, seed, method, call=True):
    spec = {"lib": lib, "shape": asdict(s), "seed": seed, "method": method, "call": call}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--threads", str(threads),
           "--mem-probe", json.dumps(spec)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise RuntimeError(f"probe exited {p.returncode}: {tail}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def memory_probe(lib, s, threads, seed, method):
    """Peak extra resident bytes of one call of lib on shape s, measured in fresh processes."""
    r = run_probe(lib, s, threads, seed, method)
    if method == "clear_refs":
        return r["hwm_after"] - r["rss_before"]
    base = run_probe(lib, s, threads, seed, method, call=False)  # "hwm": inputs only
    return r["hwm_after"] - base["hwm_after"]


def memory_shapes(prefill):
    """Causal prefill shapes of the smallest D and H, one per length."""
    causal = [s for s in prefill if s.causal and s.hq == s.hkv]
    if not causal:
        return []
    d = min(s.d for s in causal)
    h = min(s.hq for s in causal)
    return [s for s in causal if s.d == d and s.hq == h]


def measure_memory(shapes, libs, results, threads, seed, method, log):
    """A table row per shape: extra MiB per library. A peer that was not run on the shape
    in the timing phase (skipped, mismatch, error) is not measured either."""
    status_of = {r["label"]: r["status"] for r in results}
    rows = []
    for s in shapes:
        row = {"label": s.label(), "shape": asdict(s), "q_mib": 4 * s.b * s.lq * s.hq * s.d / MIB,
               "scores_mib": scores_bytes(s) / MIB, "extra_mib": {}, "status": {}}
        for lib in [OURS] + libs:
            st = status_of.get(s.label(), {}).get(lib, "n/a")
            if st != "ok":
                row["status"][lib] = f"not measured: {st}"
                continue
            try:
                row["extra_mib"][lib] = memory_probe(lib, s, threads, seed, method) / MIB
                row["status"][lib] = "ok"
            except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
                row["status"][lib] = f"error: {e}"
                log(f"  memory {s.label()}: {lib}: {e}")
        rows.append(row)
    return rows


def print_memory(mem, libs, out=None):
    out = out or sys.stdout
    cols = [OURS] + libs
    how = ("VmHWM - VmRSS around one call, after clear_refs" if mem["method"] == "clear_refs"
           else "VmHWM(call) - VmHWM(inputs only); clear_refs does not reset VmHWM here")
    print(f"peak extra memory of one call (MiB = 2^20 bytes), one fresh process per library "
          f"and shape: {how}", file=out)
    head = f"{'shape':<22}{'q':>10}{'L^2 scores':>12}" + "".join(f"{c:>13}" for c in cols)
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in mem["rows"]:
        cells = []
        for c in cols:
            if c in r["extra_mib"]:
                cells.append(f"{r['extra_mib'][c]:>13.2f}")
            else:  # the first word of why: skipped, mismatch, error, n/a
                why = r["status"].get(c, "n/a").removeprefix("not measured: ")
                cells.append(f"{why.split(':')[0]:>13}")
        print(f"{r['label']:<22}{r['q_mib']:>10.2f}{r['scores_mib']:>12.1f}" + "".join(cells),
              file=out)


# ---------------------------------------------------------------------------------------
# Plot
# ---------------------------------------------------------------------------------------

def plot(results, mem, libs, meta, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in results if r["times"].get(OURS)]
    x = np.arange(len(rows))
    fig, axes = plt.subplots(3, 1, figsize=(max(10, 0.55 * len(rows) + 3), 13),
                             gridspec_kw={"height_ratios": [3, 1.3, 2.2]})
    ax, ax2, ax3 = axes
    width = 0.8 / max(1, len(libs))
    for j, lib in enumerate(libs):
        vals = [r["ratio"].get(lib, np.nan) for r in rows]
        bars = ax.bar(x - 0.4 + width * (j + 0.5), vals, width,
                      label=f"{lib} {meta['versions'].get(lib, '')}")
        for b, v in zip(bars, vals):
            if np.isfinite(v):
                ax.annotate(f"{v:.2g}", (b.get_x() + b.get_width() / 2, v), ha="center",
                            va="bottom", fontsize=5)
    ax.axhline(1, color="black", lw=1)
    ax.set_yscale("log")
    ax.set_ylabel("peer time / mlxprim time\n(> 1: mlxprim faster)")
    ax.set_title(f"libmlxprim {meta['versions'][OURS]} flash_attention vs peers: "
                 f"{meta['threads']} threads, {meta['cpu']}, isa {meta['isa']}, float32")
    ax.legend(fontsize=8, ncol=min(max(1, len(libs)), 4))
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.set_xticks(x, [])
    frac = [100 * r.get("roofline_fraction", np.nan) for r in rows]
    ax2.bar(x, frac, 0.5, color=["tab:blue" if r["case"] == "prefill" else "tab:orange"
                                 for r in rows])
    for xi, v in zip(x, frac):
        if np.isfinite(v):
            ax2.annotate(f"{v:.0f}%", (xi, v), ha="center", va="bottom", fontsize=6)
    if np.isfinite(frac).any():
        ax2.set_ylim(0, np.nanmax(frac) * 1.25)
    ax2.set_ylabel("mlxprim %: prefill of FMA\npeak, decode of read BW")
    ax2.set_xticks(x, [f"{r['case']}\n{r['label']}" for r in rows], fontsize=6, rotation=90)
    if mem["rows"]:
        lengths = [r["shape"]["lq"] for r in mem["rows"]]
        for lib in [OURS] + libs:
            ys = [r["extra_mib"].get(lib, np.nan) for r in mem["rows"]]
            ax3.plot(lengths, np.maximum(ys, 1e-3), marker="o", label=lib)
        ax3.plot(lengths, [r["scores_mib"] for r in mem["rows"]], "k--", marker="x",
                 label="L^2 scores")
        ax3.plot(lengths, [r["q_mib"] for r in mem["rows"]], "k:", marker="+", label="q")
        ax3.set_xscale("log", base=2)
        ax3.set_yscale("log")
        ax3.set_xlabel(f"L ({mem['rows'][0]['label'].split(' ', 1)[1]})")
        ax3.set_ylabel("peak extra MiB of one call")
        ax3.legend(fontsize=8, ncol=3)
        ax3.grid(which="both", alpha=0.3)
    else:
        ax3.set_axis_off()
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
    p.add_argument("--cases", default="prefill,decode", help="comma-separated: prefill, decode")
    p.add_argument("--lengths", default="",
                   help="keep the shapes of these lengths (prefill L, decode Lk)")
    p.add_argument("--peers", default="", help="comma-separated peers (default: all installed)")
    p.add_argument("--quick", action="store_true", help="tiny shapes and short timing")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the results (needs matplotlib)")
    p.add_argument("--install", action="store_true", help="pip-install the pinned peers first")
    p.add_argument("--no-peak", action="store_true", help="skip the mlxp-peak measurement")
    p.add_argument("--peak", metavar="FILE",
                   help="read the peaks from this mlxp-peak JSON instead of measuring them")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory table")
    p.add_argument("--min-time", type=float, help="seconds of timed calls per library and shape")
    p.add_argument("--max-call-seconds", type=float, default=15.0,
                   help="skip a peer whose predicted time per call exceeds this (default 15)")
    p.add_argument("--max-scores-gib", type=float, default=4.0,
                   help="skip a materializing peer above this score-matrix size (default 4)")
    p.add_argument("--seed", type=int, default=0)
    kb.add_timing_args(p)
    p.add_argument("--mem-probe", help=argparse.SUPPRESS)     # internal: one memory probe
    p.add_argument("--mem-method", choices=["auto", "clear_refs", "hwm"], default="auto",
                   help=argparse.SUPPRESS)                     # internal: force a method
    a = p.parse_args(argv)
    if a.threads < 1:
        p.error("--threads must be >= 1")
    kb.check_timing_args(p, a)
    a.cases = [c for c in a.cases.split(",") if c]
    bad = [c for c in a.cases if c not in ("prefill", "decode")]
    if bad or not a.cases:
        p.error(f"--cases: unknown {bad}; known: prefill, decode")
    try:
        a.lengths = [int(n) for n in a.lengths.split(",") if n]
    except ValueError:
        p.error(f"--lengths: expected comma-separated integers, got {a.lengths!r}")
    a.peers = [x for x in a.peers.split(",") if x] or list(PEERS)
    bad = [x for x in a.peers if x not in PEERS]
    if bad:
        p.error(f"unknown peer(s) {bad}; known: {PEERS}")
    table = quick_shapes() if a.quick else default_shapes()
    a.shapes = {c: [s for s in table[c] if not a.lengths or s.length in a.lengths]
                for c in a.cases}
    if not any(a.shapes.values()):
        p.error(f"--lengths {a.lengths} selects no shape of {a.cases}")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.install:
        kb.install()
    # Limits last for this run only, so an in-process caller (the smoke test) gets its
    # environment, CPU affinity and pool sizes back.
    env = dict(os.environ)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    kb.limit_threads_env(a.threads)
    L, versions, missing = kb.load_libraries(a.threads)
    restore = kb.limit_threads_runtime(L, a.threads)
    try:
        if a.mem_probe:
            probe_child(L, json.loads(a.mem_probe))
            return 0
        return benchmark(a, L, versions, missing)
    finally:
        restore()
        os.environ.clear()
        os.environ.update(env)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)


def benchmark(a, L, versions, missing):
    """Run the selected cases and the memory probes; print, write JSON and plot. Exit status."""
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    libs = [p for p in a.peers if kb.available(L, p)]
    left_out = {p: missing.get(p) or "not installed" for p in a.peers if p not in libs}
    st = Settings(seed=a.seed, threads=a.threads, rounds=a.rounds, settle=a.settle,
                  align=a.align, max_call=a.max_call_seconds, max_scores=a.max_scores_gib)
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
        peak = None if a.no_peak else kb.measure_peak(a.threads, a.quick, log)
    blas = []
    if L.threadpoolctl is not None:
        blas = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                for d in L.threadpoolctl.threadpool_info()]
    meta = {
        "threads": a.threads, "quick": a.quick, "cpu": kb.cpu_model(), "isa": L.mp.cpu_isa(),
        "python": platform.python_version(),
        "versions": {k: v for k, v in versions.items() if k in [OURS] + PEERS},
        "left_out": left_out, "blas": blas,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"), "dtype": "float32",
        "layout": "BSHD", "seed": a.seed, "align": st.align, "atol": TOL.atol, "rtol": TOL.rtol,
        "check_rows": CHECK_ROWS, "max_call_seconds": st.max_call,
        "max_scores_gib": st.max_scores,
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
              f"(1 thread {peak['fma_gflops']['1']:.1f}), read {peak['read_gbs']['all']:.1f} "
              f"GB/s (1 thread {peak['read_gbs']['1']:.1f})")
    print(f"checked against float64 on up to {CHECK_ROWS} query rows per shape "
          f"(atol {TOL.atol:g}, rtol {TOL.rtol:g}); peers are skipped above a "
          f"{st.max_scores:g} GiB score matrix (numpy, mlx, jax form it) or "
          f"{st.max_call:g} s predicted per call")
    print(kb.align_line(st.align))
    print(f"times are medians of {st.rounds} interleaved turns per library ({st.settle:g} s "
          "of idle before each); (Nx) = peer time / mlxprim time; % roofline: prefill of the "
          "FMA peak (c), decode of the read bandwidth (m), the larger of two readings taken "
          "just before and just after the decode's timings\n")

    preparers = {OURS: PREPARERS[OURS], **{p: PREPARERS[p] for p in libs}}
    results, failed, rates = [], [], {}
    for case in a.cases:
        for s in a.shapes[case]:
            t0 = time.perf_counter()
            rec = bench_case(L, s, preparers, peak, st, rates, log)
            results.append(rec)
            log(f"{case} {s.label()}: " + ", ".join(
                f"{lib} {kb.fmt_time(rec['times'].get(lib))}" for lib in preparers)
                + f" ({time.perf_counter() - t0:.1f} s)")
            if not rec["check"].get(OURS, {}).get("ok"):
                failed.append(f"{case} {s.label()} ({rec['status'].get(OURS)})")

    mem = {"method": None, "rows": []}
    mshapes = memory_shapes(a.shapes.get("prefill", []))
    if not a.no_memory and mshapes:
        method = a.mem_method
        if method == "auto":
            method = "clear_refs" if clear_refs_works() else "hwm"
        mem["method"] = method
        mem["rows"] = measure_memory(mshapes, libs, results, a.threads, a.seed, method, log)
        for r in mem["rows"]:
            if r["status"].get(OURS) != "ok":
                failed.append(f"memory {r['label']} ({r['status'].get(OURS)})")

    print()
    kb.print_table(results, libs)
    paired = [(r, paired_summary(r)) for r in results if r["case"] == "decode"]
    if any(p for _, p in paired):
        print(f"\ndecode against the read bandwidth, paired: {PAIRS} bursts of {PAIR_TIME:g} s "
              "of our calls, each against the larger of the readings just before and after "
              "it; median (lowest-highest)")
        for r, p in paired:
            if p:
                print(f"  {r['label']:<28} {100 * p[0]:5.1f}% ({100 * p[1]:.1f}-{100 * p[2]:.1f}%)")
    skipped = [(r, lib, st_) for r in results for lib, st_ in r["status"].items()
               if st_.split(":")[0] in ("skipped", "unsupported", "error", "mismatch")]
    if skipped:
        print()
        for r, lib, st_ in skipped:
            print(f"{r['case']} {r['label']}: {lib} {st_}")
    if mem["rows"]:
        print()
        print_memory(mem, libs)
    doc = {"meta": meta, "peak": peak, "results": results, "memory": mem}
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(doc, indent=1))
        print(f"\nwrote {a.json}")
    if a.plot:
        try:
            plot(results, mem, libs, meta, a.plot)
            print(f"wrote {a.plot}")
        except ImportError as e:
            log(f"plot: matplotlib is not installed ({e})")
    if failed:
        log("mlxprim failed on: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
