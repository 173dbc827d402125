#!/bin/bash
# bench.sh: the Raspberry Pi target on this machine -- an emulated Debian 12 arm64 root
# (qemu-user-static + binfmt_misc), the kiosk installed there exactly as on a Pi
# (deploy/install.sh, non-editable, /opt/kiosk/venv, /etc/kiosk), then the kiosk and the
# reader tests run inside.  Every step prints its time and result; exit 0 when all pass.
#
#   sudo deploy/pi-bench/bench.sh            (make pi-bench)
#
# Environment:
#   PI_BENCH_CACHE   where the cached base root and the run root live
#                    (default /var/cache/myna-kiosk/pi-bench; outside the repository)
#   PI_BENCH_KEEP=1  reuse the last run's root (install.sh then runs as an update)
#   PI_BENCH_TESTS   pytest arguments for the test step (default: tests/readers;
#                    "all" = the whole suite but the ansible lint)
#   KIOSK_TIME_FACTOR  multiplies the tests' deadlines (default 4 under emulation; docs/hil.md)
#
# Isolation: the run root gets its own /proc (a PID namespace), /run, /tmp and, for the tests,
# a network namespace with only loopback -- so its pcscd, vpcd port and bench lock never meet
# the host's.  /proc/sys is read-only: install.sh's sysctl cannot change the host's kernel.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${PI_BENCH_CACHE:-/var/cache/myna-kiosk/pi-bench}
BASE=$CACHE/base-bookworm-arm64
ROOTFS=$CACHE/root
LOGS=$CACHE/logs
RESULTS=$CACHE/results.txt
TESTS=${PI_BENCH_TESTS:-tests/readers}
export KIOSK_TIME_FACTOR=${KIOSK_TIME_FACTOR:-4}
# Test-only packages and tools, in the bench's root only (a Pi never gets them): what the
# suite needs (deploy/apt-dev.txt), as on CI.
BENCH_APT=$(grep -v '^\s*#' "$SRC/deploy/apt-dev.txt" | grep -v '^\s*$' | tr '\n' ' ')
# The suite's Python test dependencies: pyproject's `dev` extra without the kiosk itself and
# without the lint, Ansible and lock tools (their tests are not run here).  Quoted where they
# meet a shell: an unquoted '>=8' is a redirection (it left files named '=8' in the root).
BENCH_PIP=$(python3 -c '
import sys, tomllib
dev = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["dev"]
skip = ("myna-kiosk", "ansible", "mypy", "ruff", "uv")
print(" ".join("\x27%s\x27" % d for d in dev if not d.split(">")[0].split("[")[0].strip().startswith(skip)))
' "$SRC/pyproject.toml")

[ "$(id -u)" = 0 ] || { echo "pi-bench: run as root (sudo make pi-bench)" >&2; exit 1; }

# step NAME CMD...: run, time, record "NAME result seconds"; the output goes to LOGS/NAME.log.
step() {
    local name=$1 start end rc=0
    shift
    printf '== %-22s ' "$name"
    start=$(date +%s%N)
    "$@" > "$LOGS/$name.log" 2>&1 || rc=$?
    end=$(date +%s%N)
    local ds=$(( (end - start) / 100000000 )) secs
    secs="$((ds / 10)).$((ds % 10))"
    if [ "$rc" = 0 ]; then
        printf 'PASS %8ss\n' "$secs"
        echo "$name PASS $secs" >> "$RESULTS"
    else
        printf 'FAIL %8ss (exit %s; %s)\n' "$secs" "$rc" "$LOGS/$name.log"
        tail -n 25 "$LOGS/$name.log" | sed 's/^/   | /'
        echo "$name FAIL $secs" >> "$RESULTS"
    fi
    return "$rc"
}

# in_root CMD: a login-like shell in the arm64 root (host network: apt and pip reach the mirrors).
in_root() {
    chroot "$ROOTFS" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        KIOSK_TIME_FACTOR="$KIOSK_TIME_FACTOR" /bin/bash -eo pipefail -c "$1"
}

# in_root_offline CMD: the same with a network namespace of its own (loopback only).
in_root_offline() {
    unshare --net /bin/bash -c 'ip link set lo up && exec "$@"' _ \
        chroot "$ROOTFS" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        KIOSK_TIME_FACTOR="$KIOSK_TIME_FACTOR" /bin/bash -eo pipefail -c "$1"
}

fresh_root() {
    if [ "${PI_BENCH_KEEP:-0}" = 1 ] && [ -e "$ROOTFS/.complete" ]; then
        echo "kept $ROOTFS"; return 0
    fi
    rm -rf "$ROOTFS"
    cp -a "$BASE" "$ROOTFS"
}

mount_root() {
    mount -t proc proc "$ROOTFS/proc"
    mount --bind "$ROOTFS/proc/sys" "$ROOTFS/proc/sys"
    mount -o remount,bind,ro "$ROOTFS/proc/sys"
    mount -t sysfs -o ro sysfs "$ROOTFS/sys"
    mount --rbind /dev "$ROOTFS/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$ROOTFS/run"
    mount -t tmpfs -o mode=1777 tmpfs "$ROOTFS/tmp"
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    # A site's own CAs (a TLS-inspecting proxy) go where a Pi's technician would put them.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
        cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
    fi
}

# The working tree (committed and uncommitted files), as a technician copies it to a Pi.
copy_source() {
    rm -rf "$ROOTFS/usr/src/myna-kiosk"
    mkdir -p "$ROOTFS/usr/src/myna-kiosk"
    (cd "$SRC" && git ls-files -z -c -o --exclude-standard \
        | tar --null -T - --ignore-failed-read -cf -) | tar -xf - -C "$ROOTFS/usr/src/myna-kiosk"
    echo "$(find "$ROOTFS/usr/src/myna-kiosk" -type f | wc -l) files"
    # The tree this run belongs to (the release gate compares it: source_id.py --gate).
    python3 "$SRC/deploy/pi-bench/source_id.py" "$SRC" | tee "$CACHE/source-id"
}

# install.sh exactly as on a Pi, but for the one tool that would reach past the root: sysctl
# writes the kernel's settings, and the bench's kernel is the host's.  Its stand-in records the
# call (systemctl and udevadm see the chroot and ignore reloads by themselves).
install_kiosk() {
    local shims=$ROOTFS/opt/pi-bench/shims
    mkdir -p "$shims"
    printf '#!/bin/sh\necho "pi-bench: sysctl $* not applied (the host kernel is not the Pi'"'"'s)"\n' > "$shims/sysctl"
    chmod 0755 "$shims/sysctl"
    in_root "export PATH=/opt/pi-bench/shims:\$PATH; cd /usr/src/myna-kiosk && deploy/install.sh"
}

kmsdrm_check() { in_root "/opt/kiosk/venv/bin/python -m kiosk.appliance.kmsdrm"; }

# The test tools go into a venv of their own that sees the production venv's packages
# (the installed, non-editable kiosk), so /opt/kiosk/venv stays as on a Pi.
test_tools() {
    in_root "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $BENCH_APT
             python3 -m venv /opt/pi-bench/venv
             site=\$(/opt/kiosk/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')
             echo \"\$site\" > \"\$(/opt/pi-bench/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')/kiosk-production.pth\"
             /opt/pi-bench/venv/bin/pip install -q $BENCH_PIP
             /opt/pi-bench/venv/bin/python -c 'import kiosk, sys; assert kiosk.__file__.startswith(\"/opt/kiosk/venv/\"), kiosk.__file__; print(kiosk.__file__)'"
}

run_tests() {
    local args=$TESTS
    [ "$TESTS" = all ] && args="tests --ignore=tests/appliance/test_ansible.py"
    # pytest (not python -m pytest): the source tree's kiosk/ must not shadow the installed one.
    in_root_offline "cd /usr/src/myna-kiosk && /opt/pi-bench/venv/bin/pytest -q -p no:cacheprovider $args"
}

inner() {
    mkdir -p "$LOGS"
    local failed=0
    step root-copy fresh_root
    mount_root
    step source-copy copy_source
    step install.sh install_kiosk || { summary; exit 1; }
    step kiosk-version in_root "kiosk --version" || failed=1
    step card-status in_root "kiosk card status --reader sim:resident --json" || failed=1
    # The simulated card: the installed config names the Pi's real reader ([reader] uri = "pcsc"),
    # and with a real reader the scenario runner refuses screenshots (a real card's screens).
    step scenario in_root "cd /usr/src/myna-kiosk && mkdir -p /root/pi-bench-out && printf '[reader]\nuri = \"\"\n' > /root/pi-bench-out/sim-reader.toml && kiosk run --headless --config /root/pi-bench-out/sim-reader.toml --scenario tests/display/scenarios/licence.toml --screenshots /root/pi-bench-out/shots && ls /root/pi-bench-out/shots | head -3" || failed=1
    step receipt-preview in_root "kiosk receipt --preview /root/pi-bench-out/receipt.png --sample licence && test -s /root/pi-bench-out/receipt.png" || failed=1
    step config-check in_root "kiosk config check" || failed=1
    step kiosk-status in_root "kiosk status" || failed=1
    step kmsdrm-libraries kmsdrm_check || failed=1
    step test-tools test_tools || failed=1
    step tests run_tests || failed=1
    summary
    return "$failed"
}

summary() {
    echo "== pi-bench summary (arm64 under qemu-user-static; KIOSK_TIME_FACTOR=$KIOSK_TIME_FACTOR)"
    awk '{ printf "   %-22s %s %8ss\n", $1, $2, $3; t += $3 } END { printf "   %-22s      %8.1fs\n", "total", t }' "$RESULTS"
    grep -hE '^[0-9]+ (passed|failed)|[0-9]+ passed' "$LOGS/tests.log" 2>/dev/null | tail -n 1 | sed 's/^/   tests: /' || true
}

if [ "${1:-}" = --inner ]; then
    inner
    exit $?
fi

mkdir -p "$CACHE" "$LOGS"
: > "$RESULTS"
rm -f "$CACHE/source-id" "$LOGS"/*.log     # the summary must never show an earlier run's test count
step base-root "$SRC/deploy/pi-bench/build-root.sh" "$BASE" || { summary; exit 1; }
# A private mount and PID namespace: the mounts and every process (pcscd, servers) end with it.
exec unshare --mount --propagation private --pid --fork "$0" --inner
