#!/bin/bash
# install.sh: provision a Raspberry Pi OS Bookworm 64-bit (Lite) Pi as a myna-kiosk.
#
#   sudo deploy/install.sh                  install or update this Pi (idempotent: run it again any time)
#   deploy/install.sh --dry-run             print every change it would make; change nothing
#   deploy/install.sh --root DIR            write the files into DIR instead of / (image builds, tests);
#                                           apt, useradd, pip and systemctl are printed, not run
#
# Options:
#   --config FILE         install FILE as /etc/kiosk/kiosk.toml (managed: replaced when it differs).
#                         Without it the example is installed once and an existing file is kept.
#   --overlayroot on|off  turn the read-only root (overlayroot=tmpfs) on or off at the next boot
#   --no-apt              skip apt-get (packages already installed)
#   --no-boot             leave cmdline.txt / config.txt alone
#   --release DIR         install an offline release payload (the .deb's postinst passes it): build
#                         /opt/kiosk/releases/<version> from its wheelhouse with no network and switch
#
# What it does (docs/operations.md explains each part):
#   apt packages (deploy/apt-pi.txt); the kiosk user and groups; a venv in /opt/kiosk/venv with
#   the kiosk; /etc/kiosk/kiosk.toml; kiosk.service, enabled, with the linkage-gateway IP drop-in;
#   udev rules (RC-S380, printers) and the port100 blacklist; polkit rule for pcscd; quiet boot with
#   a splash and no getty on tty1; a persistent, size-capped journal; no core dumps; the PID 1
#   hardware watchdog; the kiosk-rw helper for the optional read-only root.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=""
DRY_RUN=0
CONFIG=""
OVERLAY=""
APT=1
BOOT=1
RELEASE=""
KIOSK_USER=kiosk
KIOSK_GROUPS=(video render input plugdev lp gpio audio)
CHANGES=0

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --root) ROOT=$(realpath -m "${2:?--root needs a directory}"); shift ;;
        --root=*) ROOT=$(realpath -m "${1#*=}") ;;
        --config) CONFIG=$(realpath "${2:?--config needs a file}"); shift ;;
        --config=*) CONFIG=$(realpath "${1#*=}") ;;
        --overlayroot) OVERLAY=${2:?--overlayroot needs on or off}; shift ;;
        --overlayroot=*) OVERLAY=${1#*=} ;;
        --no-apt) APT=0 ;;
        --no-boot) BOOT=0 ;;
        --release) RELEASE=$(realpath "${2:?--release needs a directory}"); shift ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
    esac
    shift
done
case "$OVERLAY" in ""|on|off) ;; *) echo "install.sh: --overlayroot takes on or off" >&2; exit 2 ;; esac
if [ -n "$ROOT" ] && [ "$ROOT" = / ]; then ROOT=""; fi
if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (or use --dry-run / --root DIR)" >&2; exit 1
fi

log() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
change() {                       # change DESCRIPTION: count and announce one change
    CHANGES=$((CHANGES + 1))
    if [ "$DRY_RUN" = 1 ]; then log "would $*"; else log "$*"; fi
}
# run CMD...: a command that changes the system; printed in --dry-run and --root modes.
run() {
    if [ -n "$ROOT" ]; then log "skipped (--root): $*"; return 0; fi
    if [ "$DRY_RUN" = 1 ]; then log "would run: $*"; CHANGES=$((CHANGES + 1)); return 0; fi
    log "run: $*"; CHANGES=$((CHANGES + 1)); "$@"
}

# install_file SRC DEST MODE: write DEST (under ROOT) when missing or different.
install_file() {
    local src=$1 dest=$ROOT$2 mode=$3
    if [ ! -f "$src" ]; then
        log "WARNING: missing $src (not installed)"; return 0
    fi
    if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
        return 0
    fi
    change "install $2 (mode $mode)"
    [ "$DRY_RUN" = 1 ] && return 0
    mkdir -p "$(dirname "$dest")"
    install -m "$mode" "$src" "$dest.kiosk-new"
    mv -f "$dest.kiosk-new" "$dest"
}

# install_text DEST MODE TEXT: like install_file for generated content.
install_text() {
    local tmp
    tmp=$(mktemp)
    printf '%s' "$3" > "$tmp"
    install_file "$tmp" "$1" "$2"
    rm -f "$tmp"
}

remove_file() {
    if [ -e "$ROOT$1" ] || [ -L "$ROOT$1" ]; then
        change "remove $1"
        [ "$DRY_RUN" = 1 ] || rm -f "$ROOT$1"
    fi
}

# link TARGET NAME: a symlink NAME (under ROOT) pointing at TARGET (as on the target system).
link() {
    local target=$1 name=$ROOT$2
    if [ -L "$name" ] && [ "$(readlink "$name")" = "$target" ]; then return 0; fi
    change "link $2 -> $target"
    [ "$DRY_RUN" = 1 ] && return 0
    mkdir -p "$(dirname "$name")"
    ln -sfn "$target" "$name"
}

make_dir() {
    [ -d "$ROOT$1" ] && return 0
    change "create directory $1"
    [ "$DRY_RUN" = 1 ] || install -d -m "$2" "$ROOT$1"
}

# cmdline_tokens FILE TOKEN...: add kernel options to the one-line cmdline.txt.
cmdline_tokens() {
    local rel=$1 file=$ROOT$1 line new token
    shift
    [ -f "$file" ] || { log "note: $rel not found, boot options left alone"; return 0; }
    line=$(head -n1 "$file")
    new=$line
    # The kernel console moves off tty1 so the kiosk owns the screen.
    new=$(printf '%s' "$new" | sed -E 's/(^| )console=tty1( |$)/\1console=tty3\2/')
    for token in "$@"; do
        case " $new " in *" $token "*) ;; *) new="$new $token" ;; esac
    done
    [ "$new" = "$line" ] && return 0
    change "set kernel command line in ${file#"$ROOT"}: $new"
    [ "$DRY_RUN" = 1 ] || { printf '%s\n' "$new" > "$file.kiosk-new"; mv -f "$file.kiosk-new" "$file"; }
}

config_txt_line() {                # appended under [all] so no board filter applies to it
    local file=$ROOT$1 line=$2
    [ -f "$file" ] || return 0
    grep -qxF "$line" "$file" && return 0
    change "add '$line' to ${file#"$ROOT"}"
    [ "$DRY_RUN" = 1 ] || printf '\n[all]\n%s\n' "$line" >> "$file"
}

packages() {
    grep -v '^\s*#' "$SRC/deploy/apt-pi.txt" | grep -v '^\s*$' | tr '\n' ' '
}

# --- 1. packages -------------------------------------------------------------------
step_packages() {
    [ "$APT" = 1 ] || return 0
    local missing="" p
    for p in $(packages); do
        if [ -n "$ROOT" ] || ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $p"
        fi
    done
    [ -z "$missing" ] && return 0
    run apt-get update -qq
    # shellcheck disable=SC2086
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

# --- 2. the kiosk user ---------------------------------------------------------------
step_user() {
    local g
    for g in "${KIOSK_GROUPS[@]}"; do
        if [ -n "$ROOT" ] || ! getent group "$g" >/dev/null; then
            # gpio: Raspberry Pi OS has it; plain Debian does not (62-kiosk-gpio.rules gives it gpiochip).
            run groupadd --system -f "$g"
        fi
    done
    if [ -n "$ROOT" ] || ! id "$KIOSK_USER" >/dev/null 2>&1; then
        run useradd --system --home-dir /var/lib/kiosk --no-create-home --shell /usr/sbin/nologin \
            --user-group --groups "$(IFS=,; echo "${KIOSK_GROUPS[*]}")" "$KIOSK_USER"
    elif [ "$(id -nG "$KIOSK_USER" | tr ' ' '\n' | sort | tr '\n' ' ')" != \
           "$(printf '%s\n' "$KIOSK_USER" "${KIOSK_GROUPS[@]}" | sort | tr '\n' ' ')" ]; then
        run usermod --groups "$(IFS=,; echo "${KIOSK_GROUPS[*]}")" "$KIOSK_USER"
    fi
}

# --- 3. the venv with the kiosk ----------------------------------------------------------
source_hash() {
    (cd "$SRC" && find kiosk pyproject.toml -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
        | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

step_venv() {
    [ -z "$RELEASE" ] || return 0          # a release brings its own venv (step_release)
    local venv=/opt/kiosk/venv hash
    hash=$(source_hash)
    if [ -n "$ROOT" ]; then
        run python3 -m venv "$venv"
        run "$venv/bin/pip" install --upgrade "${SRC}[hardware]"
        return 0
    fi
    if [ ! -x "$venv/bin/python" ]; then
        run python3 -m venv "$venv"
    fi
    if [ "$(cat /opt/kiosk/.source-hash 2>/dev/null)" != "$hash" ]; then
        # Stop at the first failing pip step, naming it.  `pip install --upgrade pip` exits 0 when
        # the index is unreachable (it keeps the old pip), so pip is fetched first: that fails.
        local wheels=$venv/.pip-upgrade          # pip download creates it
        run "$venv/bin/pip" download -q --no-deps --dest "$wheels" pip \
            || die "pip: cannot fetch pip from the package index (network, proxy or CA?)"
        run "$venv/bin/pip" install -q --upgrade --no-index --find-links "$wheels" pip \
            || die "pip: upgrading pip in $venv failed"
        [ "$DRY_RUN" = 1 ] || rm -rf "$wheels"
        run "$venv/bin/pip" install -q --upgrade "${SRC}[hardware]" || die "pip: installing the kiosk into $venv failed"
        [ "$DRY_RUN" = 1 ] || printf '%s\n' "$hash" > /opt/kiosk/.source-hash
    fi
}

# --- 3b. spoken guidance: the Japanese HTS voice and the pre-rendered prompts (docs/voice.md) ---
step_voice() {
    [ -z "$ROOT" ] || return 0          # rendered on the Pi itself, not into an image root
    # A release installs with no network and brings no voice download: the voice stays off
    # (voice.enabled defaults to false) until a technician runs `kiosk speak --fetch-voice`.
    [ -z "$RELEASE" ] || { log "voice: skipped for a release install (docs/voice.md)"; return 0; }
    local kiosk=/opt/kiosk/venv/bin/kiosk hash
    hash=$(source_hash)
    if [ ! -e /var/lib/kiosk/voice/mei_normal.htsvoice ]; then
        # Needs PyPI; without it the kiosk still runs, silent (voice is optional).
        run "$kiosk" speak --fetch-voice /var/lib/kiosk/voice ||
            { log "WARNING: the Japanese voice could not be fetched; voice stays silent"; return 0; }
    fi
    if [ "$(cat /var/cache/kiosk/voice/.source-hash 2>/dev/null)" != "$hash" ]; then
        run "$kiosk" speak --config /etc/kiosk/kiosk.toml --build-cache --dir /var/cache/kiosk/voice ||
            { log "WARNING: the voice cache could not be built"; return 0; }
        [ "$DRY_RUN" = 1 ] || printf '%s\n' "$hash" > /var/cache/kiosk/voice/.source-hash
    fi
}

# --- 4. files ---------------------------------------------------------------------------
step_files() {
    make_dir /etc/kiosk 0750
    if [ -n "$CONFIG" ]; then
        install_file "$CONFIG" /etc/kiosk/kiosk.toml 0640
    elif [ ! -e "$ROOT/etc/kiosk/kiosk.toml" ]; then
        install_file "$SRC/deploy/kiosk.toml" /etc/kiosk/kiosk.toml 0640
    fi
    install_file "$SRC/deploy/kiosk.toml" /etc/kiosk/kiosk.toml.example 0644
    # The kiosk reads its config through group kiosk (0640 root:kiosk), also after a replacement.
    local f
    for f in /etc/kiosk /etc/kiosk/kiosk.toml /etc/kiosk/kiosk.toml.example; do
        if [ -n "$ROOT" ]; then
            log "skipped (--root): chgrp $KIOSK_USER $f"
        elif [ -e "$f" ] && [ "$(stat -c %G "$f")" != "$KIOSK_USER" ]; then
            run chgrp "$KIOSK_USER" "$f"
        elif [ ! -e "$f" ] && [ "$DRY_RUN" = 1 ]; then
            run chgrp "$KIOSK_USER" "$f"
        fi
    done

    install_file "$SRC/systemd/kiosk.service" /etc/systemd/system/kiosk.service 0644
    install_file "$SRC/systemd/journald.conf.d/50-kiosk.conf" /etc/systemd/journald.conf.d/50-kiosk.conf 0644
    install_file "$SRC/systemd/coredump.conf.d/50-kiosk.conf" /etc/systemd/coredump.conf.d/50-kiosk.conf 0644
    install_file "$SRC/systemd/system.conf.d/50-kiosk-watchdog.conf" /etc/systemd/system.conf.d/50-kiosk-watchdog.conf 0644
    install_file "$SRC/deploy/udev/60-kiosk-rcs380.rules" /etc/udev/rules.d/60-kiosk-rcs380.rules 0644
    install_file "$SRC/deploy/udev/61-kiosk-printers.rules" /etc/udev/rules.d/61-kiosk-printers.rules 0644
    install_file "$SRC/deploy/udev/62-kiosk-gpio.rules" /etc/udev/rules.d/62-kiosk-gpio.rules 0644
    install_file "$SRC/deploy/modprobe.d/kiosk-blacklist-port100.conf" /etc/modprobe.d/kiosk-blacklist-port100.conf 0644
    install_file "$SRC/deploy/sysctl.d/90-kiosk.conf" /etc/sysctl.d/90-kiosk.conf 0644
    install_file "$SRC/deploy/polkit/60-kiosk-pcscd.rules" /etc/polkit-1/rules.d/60-kiosk-pcscd.rules 0644
    install_file "$SRC/deploy/sbin/kiosk-rw" /usr/local/sbin/kiosk-rw 0755
    install_file "$SRC/docs/operations.md" /opt/kiosk/docs/operations.md 0644
    link /opt/kiosk/venv/bin/kiosk /usr/local/bin/kiosk
    make_dir /var/log/journal 2755

    # Network: kiosk.service resolves its allow-list at every start (ExecStartPre, netallow.py
    # --apply); the install-time drop-in of older releases froze the addresses: remove it.
    remove_file /etc/systemd/system/kiosk.service.d/50-linkage-gateway.conf
}

# reload_udev: new rules now when udevd runs; a container (no udevd) picks them up at boot.
reload_udev() {
    if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && [ ! -S /run/udev/control ]; then
        log "note: udev is not running here; the udev rules apply at the next boot"
        return 0
    fi
    run udevadm control --reload
}

# reload_sysctl: kernel settings now, except in a container (its /proc/sys is read-only).
reload_sysctl() {
    if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && systemd-detect-virt --container --quiet 2>/dev/null; then
        log "note: in a container; kernel settings (sysctl.d) are the host's"
        return 0
    fi
    run sysctl --quiet --system
}

# --- 4b. clock and metrics (issue 15): the city's NTP servers; the node exporter reads the kiosk's metrics
step_clock_metrics() {
    local conf
    conf=$(python3 "$SRC/kiosk/appliance/timesync.py" "$ROOT/etc/kiosk/kiosk.toml" 2>/dev/null || true)
    if [ -n "$conf" ]; then
        install_text /etc/systemd/timesyncd.conf.d/50-kiosk.conf 0644 "$conf"
    else
        remove_file /etc/systemd/timesyncd.conf.d/50-kiosk.conf
    fi
    if [ -e "$ROOT/lib/systemd/system/prometheus-node-exporter.service" ]; then
        install_text /etc/systemd/system/prometheus-node-exporter.service.d/50-kiosk.conf 0644 \
"# Written by deploy/install.sh: the textfile collector reads the kiosk's metrics ([metrics] directory).
[Service]
ExecStart=
ExecStart=/usr/bin/prometheus-node-exporter \$ARGS --collector.textfile.directory=/run/kiosk/metrics
"
    fi
}

# --- 4c. journal upload (issue 15): HTTPS with this kiosk's client certificate ([logging] upload_*)
step_journal_upload() {
    local gen=$SRC/kiosk/appliance/journalupload.py tmpl=$SRC/deploy/journal-upload/50-kiosk.conf.in
    local conf=/etc/systemd/journal-upload.conf.d/50-kiosk.conf
    local dropin=/etc/systemd/system/systemd-journal-upload.service.d/50-kiosk-credentials.conf
    local wants=/etc/systemd/system/multi-user.target.wants/systemd-journal-upload.service
    local text creds
    if ! text=$(python3 "$gen" "$ROOT/etc/kiosk/kiosk.toml" "$tmpl" conf 2>&1); then
        log "WARNING: journal upload left off: $text"
        text=""
    fi
    if [ -z "$text" ]; then
        remove_file "$conf"; remove_file "$dropin"; remove_file "$wants"
        return 0
    fi
    creds=$(python3 "$gen" "$ROOT/etc/kiosk/kiosk.toml" "$tmpl" dropin)
    install_text "$conf" 0644 "$text"$'\n'
    install_text "$dropin" 0644 "$creds"$'\n'
    if [ -e "$ROOT/lib/systemd/system/systemd-journal-upload.service" ]; then
        link /lib/systemd/system/systemd-journal-upload.service "$wants"
    else
        log "note: journal upload configured, but systemd-journal-remote (journal-upload) is not installed"
    fi
}

# --- 5. services: enabled kiosk, pcscd socket, no getty on tty1 -------------------------------
step_services() {
    link /etc/systemd/system/kiosk.service /etc/systemd/system/multi-user.target.wants/kiosk.service
    link /lib/systemd/system/pcscd.socket /etc/systemd/system/sockets.target.wants/pcscd.socket
    link /dev/null /etc/systemd/system/getty@tty1.service
    if [ "$CHANGES" -gt 0 ] || reloads_pending; then
        reloads_pending mark
        run systemctl daemon-reload
        reload_udev
        reload_sysctl
        reloads_pending clear
        log "note: journald, the PID 1 watchdog and boot options take effect at the next reboot"
    fi
}

# reloads_pending [mark|clear]: a run that changed files but died before its reloads leaves
# the marker, so the next run reloads even though it finds nothing else to change.
reloads_pending() {
    local marker=$ROOT/var/lib/kiosk-deploy/reload-pending
    case "${1:-}" in
        mark)  [ "$DRY_RUN" = 1 ] || [ -n "$ROOT" ] || { mkdir -p "${marker%/*}"; : > "$marker"; } ;;
        clear) [ "$DRY_RUN" = 1 ] || rm -f "$marker" ;;
        *)     [ -e "$marker" ] && log "finishing the reloads an interrupted run left pending" ;;
    esac
}

# --- 6. boot: quiet, splash, console off tty1 ---------------------------------------------------
step_boot() {
    [ "$BOOT" = 1 ] || return 0
    local boot=/boot/firmware
    [ -e "$ROOT$boot/cmdline.txt" ] || boot=/boot
    cmdline_tokens "$boot/cmdline.txt" quiet splash loglevel=3 logo.nologo vt.global_cursor_default=0 \
        consoleblank=0 plymouth.ignore-serial-consoles fsck.repair=yes
    config_txt_line "$boot/config.txt" "disable_splash=1"
    if [ -z "$ROOT" ] && command -v plymouth-set-default-theme >/dev/null \
        && [ "$(plymouth-set-default-theme)" != spinner ]; then
        run plymouth-set-default-theme spinner
    fi
}

# --- 7. optional read-only root --------------------------------------------------------------------
# Only a change of the configured state needs a reboot, and only then does it say so
# ("reboot needed:" is what the Ansible role's reboot condition looks for).
step_overlay() {
    local boot=/boot/firmware configured=off
    [ -e "$ROOT$boot/cmdline.txt" ] || boot=/boot
    grep -qs 'overlayroot=tmpfs' "$ROOT$boot/cmdline.txt" && configured=on
    [ -z "$OVERLAY" ] || [ "$OVERLAY" = "$configured" ] && return 0
    case "$OVERLAY" in
        on)  run apt-get install -y -qq --no-install-recommends overlayroot
             run raspi-config nonint do_overlayfs 0
             log "reboot needed: read-only root on after the next reboot (kiosk-rw explains how to change things)" ;;
        off) run raspi-config nonint do_overlayfs 1
             log "reboot needed: read-only root off after the next reboot" ;;
    esac
}

# --- 0. the read-only root: never write an update into RAM ---------------------------------------
# With overlayroot on, / is a tmpfs overlay: what this script writes would vanish at the next
# power cut.  Inside overlayroot-chroot (the lower filesystem) it is fine; kiosk-update does both.
step_rootfs() {
    [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] || return 0
    awk '$1 == "overlayroot" && $2 == "/" { found = 1 } END { exit !found }' /proc/mounts || return 0
    [ "$(stat -c %d:%i /)" = "$(stat -c %d:%i /proc/1/root/)" ] || return 0     # chrooted: the lower fs
    [ "${KIOSK_OVERLAY_OK:-}" = 1 ] && return 0
    echo "install.sh: the read-only root (overlayroot) is on: this install would land in RAM and vanish" >&2
    echo "at the next power cut.  Install a release with: sudo kiosk-update FILE.deb, or change the" >&2
    echo "lower filesystem with: sudo overlayroot-chroot bash $0 ...  (docs/operations.md)" >&2
    exit 1
}

# --- 8. an offline release: its own venv, side by side, switched when idle --------------------------
# /opt/kiosk/releases/<version>/venv is built from the release's wheelhouse with pip --no-index and
# hash checking; .complete is written last, so an interrupted build is redone on the next run.
# The switch (idle wait, restart, health gate, rollback) is kiosk.appliance.release's.
step_release() {
    [ -n "$RELEASE" ] || return 0
    local version dir sums
    (cd "$RELEASE" && sha256sum --quiet -c SHA256SUMS) || { log "ERROR: $RELEASE fails its SHA256SUMS"; exit 1; }
    version=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$RELEASE/manifest.json")
    dir=/opt/kiosk/releases/$version
    sums=$(sha256sum < "$RELEASE/SHA256SUMS" | cut -d' ' -f1)
    if [ "$(cat "$ROOT$dir/.complete" 2>/dev/null)" != "$sums" ]; then
        change "build release $version in $dir (offline, from the release's wheelhouse)"
        if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ]; then
            rm -rf "$dir"
            mkdir -p "$dir"
            python3 -m venv --system-site-packages "$dir/venv"
            "$dir/venv/bin/pip" install -q --no-index --no-cache-dir --find-links "$RELEASE/wheels" \
                --require-hashes --only-binary=:all: -r "$RELEASE/requirements.lock"
            "$dir/venv/bin/pip" install -q --no-index --no-cache-dir --no-deps "$RELEASE"/wheels/myna_kiosk-*.whl
            cp "$RELEASE/manifest.json" "$dir/manifest.json"
            printf '%s\n' "$sums" > "$dir/.complete"
        fi
    fi
    if [ "${KIOSK_RELEASE_SWITCH:-yes}" = no ]; then
        log "release $version ready in $dir, not switched (KIOSK_RELEASE_SWITCH=no)"
        return 0
    fi
    # Switch unless this release is current already and no earlier switch was left half done.
    if [ -n "$ROOT" ] || [ "$(readlink "/opt/kiosk/current")" != "releases/$version" ] \
        || [ -e /opt/kiosk/releases/.switching ]; then
        run "$dir/venv/bin/python" -m kiosk.appliance.release activate "$version"
    fi
}


main() {
    if [ "$DRY_RUN" = 1 ]; then log "dry run: nothing is changed"; fi
    if [ -n "$ROOT" ]; then log "installing into $ROOT"; fi
    step_rootfs
    step_packages
    step_user
    step_venv
    step_files
    step_clock_metrics
    step_journal_upload
    step_voice
    step_services
    step_boot
    step_overlay
    step_release
    if [ "$CHANGES" = 0 ]; then
        log "kiosk: up to date, nothing to change"
    elif [ "$DRY_RUN" = 1 ]; then
        log "dry run: $CHANGES changes"
    else
        log "kiosk: $CHANGES changes"
        if [ -z "$ROOT" ] && [ -z "$RELEASE" ]; then
            log "next: kiosk config check && sudo systemctl restart kiosk (or reboot)"
        fi
    fi
}

main
