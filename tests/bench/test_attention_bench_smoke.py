"""Smoke test of the attention benchmark (tests/bench/attention.py): the --quick run in
process with whichever peers are installed (NumPy at least), the output check, the skip
rules and the peak-memory probe.

Run: MLXPRIM_LIBRARY=build/lib/libmlxprim.so python3 -m pytest -q tests/bench
"""

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("mlxp_bench_attention", HERE / "attention.py")
ab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab)
kb = ab.kb


@pytest.fixture(scope="module")
def libs():
    L, versions, missing = kb.load_libraries(2)
    return L


def test_quick_run_writes_expected_json(tmp_path, capsys):
    env_before = dict(os.environ)
    affinity = os.sched_getaffinity(0)
    out = tmp_path / "attention.json"
    assert ab.main(["--quick", "--json", str(out)]) == 0
    assert dict(os.environ) == env_before, "the run must give the environment back"
    assert os.sched_getaffinity(0) == affinity
    text = capsys.readouterr().out
    assert "prefill" in text and "decode" in text and "% roofline" in text
    assert "peak extra memory" in text

    doc = json.loads(out.read_text())
    assert set(doc) == {"meta", "peak", "results", "memory"}
    meta = doc["meta"]
    for key in ("threads", "quick", "cpu", "isa", "versions", "left_out", "atol", "rtol",
                "check_rows"):
        assert key in meta, key
    assert meta["threads"] == 2 and meta["quick"] is True
    assert {"mlxprim", "numpy"} <= set(meta["versions"])
    assert doc["peak"] is not None, "mlxp-peak did not run (is Go on PATH?)"

    quick = ab.quick_shapes()
    got = [(r["case"], r["label"]) for r in doc["results"]]
    assert got == [(c, s.label()) for c in ("prefill", "decode") for s in quick[c]]
    for r in doc["results"]:
        for key in ("shape", "flops", "bytes", "rows", "times", "ratio", "check", "status",
                    "gflops", "gbs", "roofline_fraction", "bound"):
            assert key in r, key
        for lib in ("mlxprim", "numpy"):
            assert r["check"][lib]["ok"], (r["label"], lib, r["check"][lib])
            assert r["status"][lib] == "ok" and r["times"][lib] > 0
        assert r["ratio"]["numpy"] == pytest.approx(r["times"]["numpy"] / r["times"]["mlxprim"])
        assert r["bound"] == ("compute" if r["case"] == "prefill" else "memory")
        assert r["roofline_fraction"] > 0
        assert r["rows"] == list(range(r["shape"]["lq"]))  # tiny shapes: every row checked
        # Every library that was timed passed the check first.
        assert set(r["times"]) <= {lib for lib, c in r["check"].items() if c["ok"]}

    mem = doc["memory"]
    assert mem["method"] in ("clear_refs", "hwm")
    want = [s.label() for s in ab.memory_shapes(quick["prefill"])]
    assert want and [row["label"] for row in mem["rows"]] == want
    for row in mem["rows"]:
        assert row["q_mib"] > 0 and row["scores_mib"] > 0
        for lib in ("mlxprim", "numpy"):
            assert row["status"][lib] == "ok"
            assert np.isfinite(row["extra_mib"][lib])


def test_wrong_output_is_detected(libs):
    s = ab.quick_shapes()["prefill"][0]  # causal
    inputs = ab.make_inputs(np, s, 0)
    rows = ab.check_rows(np, s, 0)
    ref = ab.reference_rows(np, inputs, rows)
    good = kb.to_numpy(libs, ab.ours(libs, inputs)()).copy()
    assert ab.check_output(libs, good, ref, rows, s)[0]

    off = good.copy()
    off[0, rows[-1], 1, 3] += 1e-3  # one element of one checked row
    ok, err, msg = ab.check_output(libs, off, ref, rows, s)
    assert not ok and err == pytest.approx(1e-3, rel=1e-2) and "checked rows" in msg

    no_mask = kb.to_numpy(libs, libs.mp.flash_attention(inputs["q"], inputs["k"], inputs["v"],
                                                         causal=False))
    assert not ab.check_output(libs, no_mask, ref, rows, s)[0]
    assert not ab.check_output(libs, good[:, :-1], ref, rows, s)[0]


def test_reference_rows_match_full_reference():
    # The row-subset reference (with GQA) equals kernels.py's full float64 reference with
    # the K/V heads repeated, on the rows it covers.
    s = ab.Shape(1, 200, 200, 4, 2, 16, True)
    inputs = ab.make_inputs(np, s, 3)
    rows = ab.check_rows(np, s, 3)
    assert len(rows) == ab.CHECK_ROWS and rows[0] == 0 and rows[-1] == s.lq - 1
    full = kb.attn_ref({**inputs, "k": np.repeat(inputs["k"], 2, axis=2),
                        "v": np.repeat(inputs["v"], 2, axis=2)})
    np.testing.assert_allclose(ab.reference_rows(np, inputs, rows), full[:, rows],
                               rtol=1e-12, atol=1e-14)


def test_mismatching_peer_is_reported_and_not_timed(libs):
    # A peer that forgets the causal mask must fail the check and stay untimed.
    no_mask = lambda L, i: kb.attn_numpy(L, {**i, "causal": False})  # noqa: E731
    s = ab.quick_shapes()["prefill"][0]
    st = ab.Settings(min_time=0.0, min_repeats=1, max_repeats=1)
    rec = ab.bench_case(libs, s, {"mlxprim": ab.ours, "numpy": no_mask}, None, st, {},
                        lambda msg: None)
    assert rec["status"]["numpy"].startswith("mismatch")
    assert not rec["check"]["numpy"]["ok"]
    assert "numpy" not in rec["times"] and "numpy" not in rec["ratio"]
    assert rec["status"]["mlxprim"] == "ok" and rec["times"]["mlxprim"] > 0


def test_skip_rules():
    st = ab.Settings(max_call=10.0, max_scores=4.0)
    big = ab.Shape(1, 16384, 16384, 8, 8, 64, True)  # 8 GiB of float32 scores
    assert "score matrix 8.0 GiB" in ab.skip_reason("numpy", big, st, {})
    assert ab.skip_reason("mlxprim", big, st, {}) is None
    s = ab.Shape(1, 4096, 4096, 8, 8, 64, True)
    flops = ab.work(s)[0]
    assert flops == 4 * 8 * 4096 * 4096 * 64 // 2
    slow = {("mlx", "prefill", True): (flops / 20.0, "L2048 H8 D64 causal")}  # 20 s a call
    assert "predicted 20 s" in ab.skip_reason("mlx", s, st, slow)
    fast = {("mlx", "prefill", True): (flops / 5.0, "L2048 H8 D64 causal")}
    assert ab.skip_reason("mlx", s, st, fast) is None
    assert ab.skip_reason("mlx", s, st, {("mlx", "prefill", False): (1.0, "x")}) is None


@pytest.mark.parametrize("method", ["clear_refs", "hwm"])
def test_memory_probe_sees_the_score_matrix(method):
    # NumPy forms the 32 MiB score matrix (and temporaries of its size); ours needs O(L).
    if method == "clear_refs" and not ab.clear_refs_works():
        pytest.skip("writing 5 to /proc/self/clear_refs does not reset VmHWM here")
    s = ab.Shape(1, 1024, 1024, 8, 8, 32, True)
    scores = ab.scores_bytes(s)
    assert scores == 32 << 20
    theirs = ab.memory_probe("numpy", s, 2, 0, method)
    ours = ab.memory_probe("mlxprim", s, 2, 0, method)
    assert theirs >= scores, (method, theirs)
    assert ours < scores / 8, (method, ours)
