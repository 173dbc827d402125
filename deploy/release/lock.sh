#!/bin/bash
# lock.sh: re-pin every Python dependency of a release, with hashes, per target (`make lock`).
#
# The kiosk's runtime extras (nfc, display, gpio, printer, linkage) are resolved for
# CPython 3.11 on glibc 2.36 (Debian 12 / Raspberry Pi OS Bookworm) for each
# architecture.  pyscard and systemd-python are not locked: a release takes them from
# Debian (python3-pyscard, python3-systemd), so no kiosk needs a compiler.
# Commit the .lock files; `make release` builds only from them.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UV=${UV:-$(dirname "$(command -v python3)")/uv}
[ -x "$UV" ] || UV=uv
for arch in aarch64 x86_64; do
    "$UV" pip compile "$HERE/../../pyproject.toml" --quiet \
        --extra nfc --extra display --extra gpio --extra printer --extra linkage \
        --generate-hashes --no-annotate --no-header --python-version 3.11 \
        --python-platform "${arch}-manylinux_2_36" -o "$HERE/requirements-${arch}.lock"
    sed -i "1i # myna-kiosk release lock for ${arch} (CPython 3.11, glibc 2.36): deploy/release/lock.sh" \
        "$HERE/requirements-${arch}.lock"
done
