"""The wheel builds with its pinned build requirements, carries the library, and the
installed package loads that library with MLXPRIM_LIBRARY unset."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import BINDING_DIR

LIB_NAME = "libmlxprim.dylib" if sys.platform == "darwin" else "libmlxprim.so"
LIBRARY = os.environ["MLXPRIM_LIBRARY"]


def _env_without_library(**extra):
    env = {k: v for k, v in os.environ.items() if k != "MLXPRIM_LIBRARY"}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    d = tmp_path_factory.mktemp("wheel")
    src = d / "src"
    # Build from a copy, so the checkout is left without build/ or egg-info.
    shutil.copytree(BINDING_DIR, src, ignore=shutil.ignore_patterns(
        "tests", "build", "dist", "*.egg-info", "__pycache__", "libmlxprim.*"))
    dist = d / "dist"
    env = dict(os.environ, MLXPRIM_LIBRARY=LIBRARY)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                        "-w", str(dist), str(src)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = list(dist.glob("mlxprim-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_is_platform_tagged_and_carries_the_library(wheel):
    assert wheel.name.startswith("mlxprim-0.1.0-py3-none-")
    assert not wheel.name.endswith("-any.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert f"mlxprim/{LIB_NAME}" in names
        assert {"mlxprim/__init__.py", "mlxprim/_lib.py", "mlxprim/_errors.py",
                "mlxprim/_tensor.py"} <= set(names)
        assert not any(n.startswith("tests/") for n in names)
        lib_bytes = z.read(f"mlxprim/{LIB_NAME}")
        meta = z.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
    # The real library, not a symlink.
    with open(os.path.realpath(LIBRARY), "rb") as f:
        assert lib_bytes == f.read()
    assert "Root-Is-Purelib: false" in meta


def test_unpacked_wheel_imports_with_library_unset(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path / "site")
    code = ("import numpy as np, mlxprim, os; "
            "print(mlxprim._lib.PATH); "
            "print(mlxprim.__version__, mlxprim.cpu_isa()); "
            "print(float(mlxprim.softmax(np.zeros(4, np.float32))[0]))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, env=_env_without_library(PYTHONPATH=str(tmp_path / "site")))
    assert r.returncode == 0, r.stderr
    path, version, value = r.stdout.split("\n")[:3]
    assert path == str(tmp_path / "site" / "mlxprim" / LIB_NAME)
    assert version.split()[0] == "0.1.0"
    assert value == "0.25"


def test_missing_library_gives_a_clear_import_error(tmp_path):
    # The source package without a library, and MLXPRIM_LIBRARY unset.
    shutil.copytree(os.path.join(BINDING_DIR, "mlxprim"), tmp_path / "mlxprim",
                    ignore=shutil.ignore_patterns("libmlxprim.*", "__pycache__"))
    r = subprocess.run([sys.executable, "-c", "import mlxprim"], cwd=tmp_path,
                       capture_output=True, text=True, env=_env_without_library())
    assert r.returncode != 0
    assert "ImportError: libmlxprim not found" in r.stderr and "MLXPRIM_LIBRARY" in r.stderr
    # A wrong MLXPRIM_LIBRARY is reported as such.
    r = subprocess.run([sys.executable, "-c", "import mlxprim"], cwd=tmp_path,
                       capture_output=True, text=True,
                       env=_env_without_library(MLXPRIM_LIBRARY=str(tmp_path / "nope.so")))
    assert r.returncode != 0 and "MLXPRIM_LIBRARY is set to" in r.stderr
