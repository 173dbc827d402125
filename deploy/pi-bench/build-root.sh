#!/bin/bash
# build-root.sh DIR: an emulated Debian 12 (bookworm) arm64 root, like a fresh Raspberry Pi OS Lite.
#
# debootstrap --foreign downloads and unpacks on the host; the second stage runs the arm64
# maintainer scripts through qemu-user-static and binfmt_misc.  The result is cached: DIR/.complete
# marks a finished root, and a second call returns at once.  Needs root, debootstrap,
# qemu-user-static and binfmt-support (deploy/apt-dev.txt).
set -euo pipefail

ROOT=${1:?usage: build-root.sh DIR}
MIRROR=${PI_BENCH_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# What Raspberry Pi OS Lite has and a minbase root lacks: init, udev, sysctl, python3, TLS roots.
INCLUDE=systemd,systemd-sysv,udev,procps,ca-certificates,python3

if [ -e "$ROOT/.complete" ]; then echo "arm64 root: cached in $ROOT"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "build-root.sh: run as root" >&2; exit 1; }

# binfmt_misc: mount it and register qemu-aarch64 when nothing else did (no systemd as PID 1 here).
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 || update-binfmts --import qemu-aarch64
fi
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "qemu-aarch64 binfmt is disabled" >&2; exit 1; }
QEMU=/usr/bin/qemu-aarch64-static
INTERP=$(sed -n 's/^interpreter //p' /proc/sys/fs/binfmt_misc/qemu-aarch64)

rm -rf "$ROOT"
mkdir -p "$ROOT"
debootstrap --foreign --arch=arm64 --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOT" "$MIRROR"
# Without the F flag the kernel looks the interpreter up inside the root: put it there.
install -D -m 0755 "$QEMU" "$ROOT$QEMU"
if [ "$INTERP" != "$QEMU" ]; then mkdir -p "$ROOT$(dirname "$INTERP")"; ln -sf "$QEMU" "$ROOT$INTERP"; fi
chroot "$ROOT" /debootstrap/debootstrap --second-stage
cat > "$ROOT/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
SOURCES
touch "$ROOT/.complete"
echo "arm64 root: built in $ROOT"
