#!/usr/bin/env bash
# Builds the library and runs a short demonstration of it from C and from Python.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/build.sh build >/dev/null
echo "== C (tests/c/demo.c)"
cc -std=c99 -Wall -Ibuild/include tests/c/demo.c -Lbuild/lib -lmlxprim -Wl,-rpath,"$root/build/lib" -o build/demo
./build/demo
echo
echo "== Python (bindings/python/examples/demo.py)"
python3 -c "import numpy, ml_dtypes" 2>/dev/null || python3 -m pip install -q numpy==2.4.6 ml_dtypes==0.6.0
PYTHONPATH="$root/bindings/python" MLXPRIM_LIBRARY="$root/build/lib/libmlxprim.so" \
  python3 bindings/python/examples/demo.py
