"""Every kernel path the CPU offers (MLXP_ISA, read once at load) gives results within the
same tolerances, so each path is checked through the binding, in its own process."""

import os
import subprocess
import sys

import numpy as np
import pytest

import mlxprim
from _ref import (BF16, DTYPES, assert_close, assert_softmax, bits, data, residual_sum,
                  rms_norm_ref)
from conftest import BINDING_DIR

ORDER = ["generic", "avx2", "avx512"]

SCRIPT = r"""
import sys, numpy as np, ml_dtypes, mlxprim
print(mlxprim.cpu_isa())
d = np.load(sys.argv[1])
res = {}
for name in ("f32", "f16", "bf16"):
    x, w, r = d["x_" + name], d["w_" + name], d["r_" + name]
    if name == "bf16":  # saved as raw bits
        x, w, r = (a.view(ml_dtypes.bfloat16) for a in (x, w, r))
    res["sm_" + name] = mlxprim.softmax(x, temperature=0.8)
    res["lsm_" + name] = mlxprim.log_softmax(x)
    res["rms_" + name], res["h_" + name] = mlxprim.rms_norm(x, w, r, eps=1e-5)
np.savez(sys.argv[2], **{k: (v.view(np.uint16) if v.dtype == ml_dtypes.bfloat16 else v)
                         for k, v in res.items()})
"""


@pytest.mark.parametrize("isa", ORDER)
def test_each_available_isa_path(isa, tmp_path):
    best = mlxprim.cpu_isa() if "MLXP_ISA" not in os.environ else None
    if best is None:
        pytest.skip("MLXP_ISA already set for this run")
    if ORDER.index(isa) > ORDER.index(best):
        pytest.skip(f"{isa} not supported by this CPU (best: {best})")
    inputs, saved = {}, {}
    for dt, name in zip(DTYPES, ("f32", "f16", "bf16")):
        inputs[name] = (data((5, 300), dt, seed=70), data((300,), dt, seed=71),
                        data((5, 300), dt, seed=72))
        for k, a in zip("xwr", inputs[name]):
            saved[f"{k}_{name}"] = a.view(np.uint16) if dt == BF16 else a  # .npz lacks bf16
    np.savez(tmp_path / "in.npz", **saved)
    env = dict(os.environ, MLXP_ISA=isa, PYTHONPATH=BINDING_DIR)
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "in.npz"),
                        str(tmp_path / "out.npz")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == isa
    out = np.load(tmp_path / "out.npz")
    for dt, name in zip(DTYPES, ("f32", "f16", "bf16")):
        x, w, res = inputs[name]
        get = (lambda k: out[k].view(BF16)) if dt == BF16 else (lambda k: out[k])
        assert_softmax(get("sm_" + name), x, 0.8)
        assert_softmax(get("lsm_" + name), x, log=True)
        assert_close(get("rms_" + name), rms_norm_ref(x, w, res, eps=1e-5), dt)
        assert (bits(get("h_" + name)) == bits(residual_sum(x, res))).all()
