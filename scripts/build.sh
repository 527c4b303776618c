#!/usr/bin/env bash
# Builds the shared library and stages the header:
#   OUTDIR/lib/libmlxprim.so.<ABI>   (Linux; SONAME libmlxprim.so.<ABI>, only mlxp_* exported)
#   OUTDIR/lib/libmlxprim.so -> libmlxprim.so.<ABI>
#   OUTDIR/lib/libmlxprim.dylib      (macOS; install name @rpath/libmlxprim.dylib)
#   OUTDIR/include/mlxprim.h
# Usage: scripts/build.sh [OUTDIR]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/build}" && cd "${1:-$root/build}" && pwd)
abi=$(sed -n 's/^#define MLXP_ABI_VERSION \([0-9]*\)$/\1/p' "$root/include/mlxprim.h")
mkdir -p "$out/lib" "$out/include"
cd "$root"
export CGO_ENABLED=1
case "$(uname -s)" in
Darwin)
  go build -buildmode=c-shared -trimpath \
    -ldflags "-s -w -extldflags '-Wl,-install_name,@rpath/libmlxprim.dylib'" \
    -o "$out/lib/libmlxprim.dylib" ./capi
  rm -f "$out/lib/libmlxprim.h"
  ;;
*)
  go build -buildmode=c-shared -trimpath \
    -ldflags "-s -w -extldflags '-Wl,-soname,libmlxprim.so.$abi -Wl,--version-script=$root/capi/exports.map'" \
    -o "$out/lib/libmlxprim.so.$abi" ./capi
  rm -f "$out/lib/libmlxprim.so.h" "$out/lib/libmlxprim.so.$abi.h"
  ln -sfn "libmlxprim.so.$abi" "$out/lib/libmlxprim.so"
  ;;
esac
cp -p "$root/include/mlxprim.h" "$out/include/mlxprim.h"
echo "built $out/lib (ABI $abi)"
