"""Test setup: import the binding from this checkout and load the repository's build of
libmlxprim unless MLXPRIM_LIBRARY already names one."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BINDING_DIR = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(os.path.dirname(BINDING_DIR))

os.environ.setdefault(
    "MLXPRIM_LIBRARY", os.path.join(REPO_ROOT, "build", "lib", "libmlxprim.so")
)
sys.path.insert(0, BINDING_DIR)
