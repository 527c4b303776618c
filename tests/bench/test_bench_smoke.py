"""Smoke test of the benchmark harness (tests/bench/kernels.py), run in-process on the
--quick shapes of softmax and rms_norm with whichever peers are installed (NumPy at least).

Run: MLXPRIM_LIBRARY=build/lib/libmlxprim.so python3 -m pytest -q tests/bench
"""

import importlib.util
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("mlxp_bench_kernels", HERE / "kernels.py")
kb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kb)

OPS = ["softmax", "rms_norm"]


@pytest.fixture(scope="module")
def libs():
    L, versions, missing = kb.load_libraries(2)
    return L


def test_quick_run_writes_expected_json(tmp_path, capsys):
    env_before = dict(os.environ)
    out = tmp_path / "kernels.json"
    assert kb.main(["--quick", "--ops", ",".join(OPS), "--json", str(out)]) == 0
    assert dict(os.environ) == env_before, "the run must give the environment back"
    text = capsys.readouterr().out
    assert "softmax" in text and "rms_norm" in text and "% roofline" in text

    doc = json.loads(out.read_text())
    assert set(doc) == {"meta", "peak", "results", "skipped"}
    meta = doc["meta"]
    for key in ("threads", "quick", "cpu", "isa", "python", "versions", "left_out", "blas"):
        assert key in meta
    assert meta["threads"] == 2 and meta["quick"] is True
    assert {"mlxprim", "numpy"} <= set(meta["versions"])

    peak = doc["peak"]
    assert peak is not None, "mlxp-peak did not run (is Go on PATH?)"
    for key in ("fma_gflops", "read_gbs"):
        assert peak[key]["1"] > 0 and peak[key]["all"] > 0
    assert peak["threads"] == 2 and peak["isa"] and peak["cpu"]

    got = {(r["op"], tuple(r["shape"])) for r in doc["results"]}
    want = {(op, tuple(s)) for op in OPS for s in kb.OPS[op].quick}
    assert got == want
    for r in doc["results"]:
        for key in ("op", "shape", "label", "flops", "bytes", "times", "ratio", "check",
                    "status", "gflops", "gbs", "roofline_fraction", "bound"):
            assert key in r, key
        for lib in ("mlxprim", "numpy"):
            assert r["check"][lib]["ok"], (r["op"], r["shape"], lib, r["check"][lib])
            assert r["status"][lib] == "ok"
            assert r["times"][lib] > 0
        assert r["ratio"]["numpy"] == pytest.approx(r["times"]["numpy"] / r["times"]["mlxprim"])
        assert r["roofline_fraction"] > 0 and r["bound"] in ("compute", "memory")
        # Every peer that was timed passed the check first.
        assert set(r["times"]) <= {lib for lib, c in r["check"].items() if c["ok"]}


@pytest.mark.parametrize("name", OPS)
def test_ours_agrees_with_numpy(libs, name):
    # Both results are float32 and each is within atol + rtol*|ref| of the float64
    # reference, so they are within twice that of each other.
    op = kb.OPS[name]
    for shape in op.quick:
        inputs = op.make(shape, np.random.default_rng(1))
        ours = kb.to_numpy(libs, op.ours(libs, inputs)())
        theirs = kb.to_numpy(libs, op.peers["numpy"](libs, inputs)())
        np.testing.assert_allclose(ours, theirs, rtol=2 * op.rtol, atol=2 * op.atol)
        ok, err, msg = kb.check(libs, op, ours, op.reference(inputs))
        assert ok, msg


@pytest.mark.parametrize("name", sorted(kb.OPS))
def test_every_op_matches_its_reference(libs, name):
    # Ours on every registered op's --quick shapes, against the op's float64 reference
    # with the op's own tolerance (what a full run checks before it times anything).
    op = kb.OPS[name]
    for shape in op.quick:
        inputs = op.make(shape, np.random.default_rng(2))
        ours = op.ours(libs, inputs)()
        ok, err, msg = kb.check(libs, op, ours, op.reference(inputs))
        assert ok, (shape, msg)


def test_wrong_output_is_reported_and_not_timed(libs):
    # A peer 0.1% off must fail the check (rtol 2e-4 for softmax) and stay untimed.
    op = kb.OPS["softmax"]
    wrong = lambda L, i: (lambda: kb.softmax_numpy(L, i)() * np.float32(1.001))  # noqa: E731
    bad = replace(op, peers={"numpy": wrong})
    st = kb.Settings(min_time=0.0, min_repeats=1, max_repeats=1)
    rec = kb.bench_shape(libs, bad, op.quick[0], ["numpy"], None, st, lambda msg: None)
    assert rec["status"]["numpy"].startswith("mismatch")
    assert "numpy" not in rec["times"] and "numpy" not in rec["ratio"]
    assert rec["status"]["mlxprim"] == "ok"


def test_missing_op_is_skipped(tmp_path, capsys, monkeypatch):
    name = "no_such_op_in_any_build"
    monkeypatch.setitem(kb.OPS, name, replace(kb.OPS["softmax"], name=name))
    out = tmp_path / "skip.json"
    assert kb.main(["--quick", "--no-peak", "--ops", name, "--json", str(out)]) == 0
    assert f"{name}: not in this build" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["results"] == [] and doc["skipped"] == [{"op": name, "reason": "not in this build"}]


def test_aligned_copies_only_what_it_must():
    big = np.arange(1 << 16, dtype=np.float32).reshape(256, 256)  # NumPy: 16 B past a page
    view = big[:, ::2]
    small = np.zeros(8, np.float32)
    got = kb.aligned(np, {"big": big, "view": view, "small": small, "flag": True}, 64)
    assert got["big"].ctypes.data % 64 == 0
    assert got["big"].shape == big.shape and got["big"].dtype == big.dtype
    assert np.array_equal(got["big"], big)
    assert got["view"] is view, "a strided view keeps its strides"
    assert got["flag"] is True
    assert got["small"].ctypes.data % 64 == 0 and np.array_equal(got["small"], small)
    assert kb.aligned(np, {"big": big}, 0)["big"] is big
