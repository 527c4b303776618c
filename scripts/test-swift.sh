#!/usr/bin/env bash
# Builds and tests the Swift binding (bindings/swift) with `swift test`.
#
# Debian 12 has no Swift compiler, so the tests run inside a Debian 13 ("trixie") root
# folder made with debootstrap, which has Debian's `swiftlang` package (Swift 6.0.3):
#   1. make the root folder once (about 3 GB, about a minute) and reuse it afterwards;
#   2. build the library on the host (incremental: a few seconds when nothing changed), so
#      the binding is always tested against the current sources;
#   3. bind-mount the repository read-only at /src in the root and run `swift test` there,
#      with SwiftPM's build folder inside the root, so the work tree is never written;
#   4. unmount everything on exit, even on failure.
# A run killed halfway leaves mounts or a half-made root behind; the next run cleans up.
#
# Environment:
#   SWIFT_ROOT  the Debian 13 root folder (default /var/cache/mlxprim/swift-root)
#   MLXP_ISA    passed through to the tests (see mlxp_cpu_isa in include/mlxprim.h)
# Needs root (debootstrap, chroot, mount). Exits with the status of `swift test`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=${SWIFT_ROOT:-/var/cache/mlxprim/swift-root}
root=${root%/}
suite=trixie
mirror=http://deb.debian.org/debian
# Debian 13's Swift; pinned so every machine tests with the same compiler.
swiftlang_version=6.0.3-2
# Paths inside the root.
src=/src
scratch=/var/cache/mlxprim/swift-build

# Markers, written only after the step they name has finished.
debootstrap_done=$root/.mlxprim-debootstrap-done
swift_ready=$root/.mlxprim-swiftlang-$swiftlang_version

log() { printf 'test-swift: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

case $root in
*[[:space:]]*) die "SWIFT_ROOT must not contain spaces: '$root'" ;;
/?*) ;;
*) die "SWIFT_ROOT must be an absolute path other than /: '$root'" ;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mount)"

# Mount points at or below the root, deepest first.
mounts_under_root() {
    awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

unmount_all() {
    local m
    for m in $(mounts_under_root); do
        umount "$m" 2>/dev/null || umount -l "$m" || log "could not unmount $m"
    done
}

# Serialize runs that share a root; a second run waits for the first.
mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9

# Mounts left by a run that was killed.
unmount_all
trap unmount_all EXIT
# A signal ends the script through exit, so the EXIT trap unmounts.
trap 'exit 130' INT TERM HUP

mount_proc() {
    mkdir -p "$root/proc"
    mount -t proc proc "$root/proc"
}

in_root() {
    # A clean environment: nothing from the host leaks into the build.
    chroot "$root" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        ${MLXP_ISA:+MLXP_ISA="$MLXP_ISA"} \
        "$@"
}

# --- 1. The Debian 13 root with Swift -------------------------------------------------
if [ ! -f "$swift_ready" ]; then
    start=$SECONDS
    if [ ! -f "$debootstrap_done" ]; then
        # A half-made root from an interrupted debootstrap is removed and made again. Refuse
        # if anything is still mounted there: rm must never reach into a bind mount.
        [ -z "$(mounts_under_root)" ] || die "still mounted under $root: $(mounts_under_root)"
        rm -rf --one-file-system "$root"
        if ! command -v debootstrap >/dev/null; then
            log "installing debootstrap"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
        fi
        log "debootstrap $suite into $root"
        debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
            die "debootstrap failed; see $root.debootstrap.log"
        touch "$debootstrap_done"
    fi
    log "installing swiftlang=$swiftlang_version in $root"
    mount_proc
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # dpkg --configure -a finishes an install that an earlier run left halfway.
    in_root sh -ec "dpkg --configure -a >/dev/null
        apt-get update -qq
        apt-get install -y -qq -o Dpkg::Use-Pty=0 swiftlang=$swiftlang_version >/dev/null" ||
        {
            # A stable mirror keeps only a package's newest revision: if a point release
            # replaced the pinned one, test with what Debian 13 now ships and say so.
            log "swiftlang=$swiftlang_version is not available; installing Debian 13's current swiftlang"
            in_root sh -ec "apt-get install -y -qq -o Dpkg::Use-Pty=0 swiftlang >/dev/null"
        } || die "installing swiftlang in $root failed"
    umount "$root/proc"
    touch "$swift_ready"
    log "root ready in $((SECONDS - start)) s"
fi

# --- 2. The library, built on the host ------------------------------------------------
log "building the library (scripts/build.sh)"
bash "$repo/scripts/build.sh"
[ -f "$repo/build/include/mlxprim.h" ] || die "missing $repo/build/include/mlxprim.h"

# --- 3. swift test inside the root ------------------------------------------------------
mkdir -p "$root$src" "$root$scratch"
mount --bind "$repo" "$root$src"
# Read-only, so the work tree provably stays clean.
mount -o remount,bind,ro "$root$src"
mount_proc

status=0
in_root LD_LIBRARY_PATH="$src/build/lib" \
    swift test --disable-swift-testing \
    --package-path "$src/bindings/swift" \
    --scratch-path "$scratch" \
    -Xcc -I"$src/build/include" \
    -Xlinker -L"$src/build/lib" ||
    status=$?

# --- 4. Unmounting happens in the EXIT trap ---------------------------------------------
if [ "$status" -eq 0 ]; then
    log "swift test passed"
else
    log "swift test failed (status $status)"
fi
exit "$status"
