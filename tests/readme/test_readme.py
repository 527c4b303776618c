"""The README's C and Python examples, compiled and run as written."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")


def blocks(lang):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    found = re.findall(r"```" + lang + r"\n(.*?)```", text, re.S)
    assert found, f"README has no {lang} example"
    return found


@pytest.fixture(scope="module")
def library():
    lib = os.path.join(BUILD, "lib", "libmlxprim.so")
    if not os.path.exists(lib):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "build.sh"), BUILD], check=True)
    return lib


def test_c_example(tmp_path, library):
    (src,) = blocks("c")
    path = tmp_path / "example.c"
    path.write_text(src)
    exe = tmp_path / "example"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", os.path.join(BUILD, "include"), str(path),
                    "-L", os.path.dirname(library), "-lmlxprim", "-Wl,-rpath," + os.path.dirname(library),
                    "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    # Softmax of (1, 2, 3) / 0.5 computed here from the definition.
    import math
    e = [math.exp(v / 0.5) for v in (1, 2, 3)]
    assert out[0] == " ".join(f"{v / sum(e):.4f}" for v in e)
    assert out[1].startswith("status 2: out: shape [3 2] differs")


def test_python_example(tmp_path, library):
    (src,) = blocks("python")
    path = tmp_path / "example.py"
    path.write_text(src + "\nassert probs.shape == (4, 8) and h.shape == out.shape\n")
    env = dict(os.environ, MLXPRIM_LIBRARY=library,
               PYTHONPATH=os.path.join(ROOT, "bindings", "python"))
    res = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, check=True)
    assert res.stdout.startswith("2 out: shape [8 4] differs")
