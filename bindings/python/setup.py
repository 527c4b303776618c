"""Build hooks for the mlxprim wheel.

The wheel carries the shared library inside the package (mlxprim/libmlxprim.so, or
.dylib on macOS), copied at build time from $MLXPRIM_LIBRARY when set, else from the
repository's build/lib (made by `bash scripts/build.sh`). Since the wheel holds a native
library it is tagged for the platform (py3-none-<platform>), not as pure Python.
"""

import os
import shutil
import sys

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
LIB_NAME = "libmlxprim.dylib" if sys.platform == "darwin" else "libmlxprim.so"


def library_source():
    path = os.environ.get("MLXPRIM_LIBRARY") or os.path.join(
        HERE, "..", "..", "build", "lib", LIB_NAME
    )
    if not os.path.isfile(path):
        raise SystemExit(
            f"mlxprim: library not found at {path}; run `bash scripts/build.sh` at the "
            "repository root or set MLXPRIM_LIBRARY to the built libmlxprim"
        )
    # build/lib/libmlxprim.so is a symlink to libmlxprim.so.0: copy the real file.
    return os.path.realpath(path)


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "mlxprim", LIB_NAME)
        shutil.copyfile(library_source(), target)
        os.chmod(target, 0o755)


class BinaryDistribution(Distribution):
    # Installs the package as platform-specific (platlib) although it has no extension.
    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        # ctypes needs no particular Python ABI, only the platform of the library.
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel},
)
