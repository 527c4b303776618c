#!/usr/bin/env bash
# The one test command: installs what a fresh machine lacks, then runs every check.
#   go vet, the export-guard analyzer, go test -race (and again without assembly, -tags
#   purego), the library build, CTest (C tests,
#   symbol/ABI checks, install/consumer test, valgrind), pytest, and the Swift tests.
# Exits non-zero if any step fails; every step runs even after a failure.
# Set MLXP_SKIP_SWIFT=1 to leave out the Swift step (it needs root and debootstrap).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

log() { printf '\n==> %s\n' "$*"; }

install_deps() {
  local apt_pkgs=()
  command -v valgrind >/dev/null || apt_pkgs+=(valgrind)
  command -v pkg-config >/dev/null || apt_pkgs+=(pkg-config)
  command -v cmake >/dev/null || apt_pkgs+=(cmake)
  command -v gcc >/dev/null || apt_pkgs+=(gcc g++)
  if ((${#apt_pkgs[@]})); then
    log "apt-get install ${apt_pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" || return 1
  fi
  log "pip install -r scripts/requirements-test.txt"
  python3 -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt || return 1
  log "go mod download"
  go mod download || return 1
}

passed=() failed=()
step() {
  local name=$1
  shift
  log "$name"
  local start=$SECONDS
  if "$@"; then
    passed+=("$name ($((SECONDS - start))s)")
  else
    failed+=("$name ($((SECONDS - start))s)")
  fi
}

go_tests() { go test -race -count=1 ./...; }
# The purego build leaves out every assembly kernel: the plain-Go definitions alone.
go_tests_purego() { go vet -tags purego ./... && go test -count=1 -tags purego ./...; }
export_guard() { go run ./cmd/exportguard ./capi; }
build_lib() { bash scripts/build.sh "$root/build"; }
ctest_all() {
  cmake -S . -B build/cmake -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    cmake --build build/cmake -j 2 &&
    ctest --test-dir build/cmake --output-on-failure
}
pytest_all() {
  MLXPRIM_LIBRARY="$root/build/lib/libmlxprim.so" python3 -m pytest -q bindings/python/tests tests/readme tests/bench
}
swift_tests() { bash scripts/test-swift.sh; }

step "install dependencies" install_deps
step "go vet" go vet ./...
step "export guard" export_guard
step "go test -race" go_tests
step "go test -tags purego" go_tests_purego
step "build library" build_lib
step "ctest" ctest_all
step "pytest" pytest_all
if [[ "${MLXP_SKIP_SWIFT:-0}" != 1 ]]; then
  step "swift test" swift_tests
fi

log "summary"
for s in "${passed[@]}"; do echo "  ok    $s"; done
for s in "${failed[@]}"; do echo "  FAIL  $s"; done
echo "steps: ${#passed[@]} passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
