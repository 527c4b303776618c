#!/usr/bin/env bash
# install_test.sh — installs the build into a scratch prefix and builds a consumer against
# it twice: with find_package(mlxprim) and with pkg-config.
# Usage: install_test.sh BUILD_DIR WORK_DIR CMAKE CC PKG_CONFIG CONSUMER_SRC
set -euo pipefail
build=$1 work=$2 cmake=$3 cc=$4 pkgconfig=$5 src=$6
# A failing step's output goes to a log; show which step failed and the logs' ends.
trap 'echo "install_test.sh: line $LINENO failed" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done' ERR
rm -rf "$work"
prefix=$work/prefix
mkdir -p "$work"

"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log"

# The library is one real file plus the development symlink; the rest is where it belongs.
libdir=$(dirname "$(find "$prefix" -name 'libmlxprim.so.*' -type f)")
test -f "$libdir/libmlxprim.so.0" && test ! -L "$libdir/libmlxprim.so.0"
test "$(readlink "$libdir/libmlxprim.so")" = libmlxprim.so.0
test -f "$prefix/include/mlxprim.h"
test -f "$libdir/pkgconfig/mlxprim.pc"
test -f "$libdir/cmake/mlxprim/mlxprimConfig.cmake"
test -f "$libdir/cmake/mlxprim/mlxprimConfigVersion.cmake"
echo "installed into $prefix"

# 1. CMake: find_package(mlxprim 0.1 REQUIRED) + mlxprim::mlxprim
"$cmake" -S "$src" -B "$work/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  >"$work/cmake-consumer.log"
"$cmake" --build "$work/cmake-consumer" >>"$work/cmake-consumer.log"
grep -q "^mlxprim_DIR:PATH=$libdir/cmake/mlxprim$" "$work/cmake-consumer/CMakeCache.txt"
# It runs against the installed library (found through the RPATH CMake set), not the build tree's.
# (ldd's output is taken whole first: grep -q stopping early in a pipe would end ldd with
# SIGPIPE, which pipefail counts as a failure.)
deps=$(ldd "$work/cmake-consumer/consumer")
grep -q "libmlxprim.so.0 => $libdir/libmlxprim.so.0" <<<"$deps"
"$work/cmake-consumer/consumer"

# An incompatible version request must fail to configure (0.x: same minor version only).
if "$cmake" -S "$src" -B "$work/cmake-consumer-0.2" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DMLXP_REQUIRE=0.2 >"$work/cmake-consumer-0.2.log" 2>&1; then
  echo "find_package(mlxprim 0.2) succeeded against 0.1.0" >&2
  exit 1
fi
grep -q 'compatible with requested version "0.2"' "$work/cmake-consumer-0.2.log"
echo "find_package(mlxprim 0.2) rejected as expected"

# 2. pkg-config, with only the scratch prefix on the search path
flags=$(PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_PATH= "$pkgconfig" --cflags --libs mlxprim)
version=$(PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_PATH= "$pkgconfig" --modversion mlxprim)
test "$version" = 0.1.0
echo "pkg-config: $flags"
# shellcheck disable=SC2086 # flags are meant to split into words
"$cc" -Wall -Wextra -Werror "$src/main.c" -o "$work/pkgconfig-consumer" $flags -lm
LD_LIBRARY_PATH="$libdir" "$work/pkgconfig-consumer"
echo "install test passed"
