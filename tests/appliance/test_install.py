"""deploy/install.sh into a temporary root: every file, dry-run, idempotence, nothing executed."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "install.sh"
TOOLS = ("apt-get", "dpkg-query", "groupadd", "useradd", "usermod", "systemctl", "udevadm", "sysctl",
         "raspi-config", "plymouth-set-default-theme", "chgrp", "pip")
CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=1234abcd-02 rootfstype=ext4 fsck.repair=yes rootwait\n"

# target path -> (source in the repo, mode)
FILES = {
    "etc/kiosk/kiosk.toml": ("deploy/kiosk.toml", 0o640),
    "etc/kiosk/kiosk.toml.example": ("deploy/kiosk.toml", 0o644),
    "etc/systemd/system/kiosk.service": ("systemd/kiosk.service", 0o644),
    "etc/systemd/journald.conf.d/50-kiosk.conf": ("systemd/journald.conf.d/50-kiosk.conf", 0o644),
    "etc/systemd/coredump.conf.d/50-kiosk.conf": ("systemd/coredump.conf.d/50-kiosk.conf", 0o644),
    "etc/systemd/system.conf.d/50-kiosk-watchdog.conf": ("systemd/system.conf.d/50-kiosk-watchdog.conf", 0o644),
    "etc/udev/rules.d/60-kiosk-rcs380.rules": ("deploy/udev/60-kiosk-rcs380.rules", 0o644),
    "etc/udev/rules.d/61-kiosk-printers.rules": ("deploy/udev/61-kiosk-printers.rules", 0o644),
    "etc/udev/rules.d/62-kiosk-gpio.rules": ("deploy/udev/62-kiosk-gpio.rules", 0o644),
    "etc/modprobe.d/kiosk-blacklist-port100.conf": ("deploy/modprobe.d/kiosk-blacklist-port100.conf", 0o644),
    "etc/sysctl.d/90-kiosk.conf": ("deploy/sysctl.d/90-kiosk.conf", 0o644),
    "etc/polkit-1/rules.d/60-kiosk-pcscd.rules": ("deploy/polkit/60-kiosk-pcscd.rules", 0o644),
    "usr/local/sbin/kiosk-rw": ("deploy/sbin/kiosk-rw", 0o755),
    "opt/kiosk/docs/operations.md": ("docs/operations.md", 0o644),
}
LINKS = {
    "etc/systemd/system/multi-user.target.wants/kiosk.service": "/etc/systemd/system/kiosk.service",
    "etc/systemd/system/sockets.target.wants/pcscd.socket": "/lib/systemd/system/pcscd.socket",
    "etc/systemd/system/getty@tty1.service": "/dev/null",
    "usr/local/bin/kiosk": "/opt/kiosk/venv/bin/kiosk",
}
BOOT = {"boot/firmware/cmdline.txt", "boot/firmware/config.txt"}
DROPIN = "etc/systemd/system/kiosk.service.d/50-linkage-gateway.conf"


@pytest.fixture
def fake_tools(tmp_path) -> Path:
    """Stand-ins that record any call: in --root mode none of them may run."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    for tool in TOOLS:
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n')
        script.chmod(0o755)
    return bin_dir


@pytest.fixture
def target(tmp_path) -> Path:
    root = tmp_path / "root"
    (root / "boot/firmware").mkdir(parents=True)
    (root / "boot/firmware/cmdline.txt").write_text(CMDLINE)
    (root / "boot/firmware/config.txt").write_text("dtparam=audio=on\n[cm4]\notg_mode=1\n")
    return root


def install(root: Path, fake_tools: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{fake_tools}:{os.environ['PATH']}")
    result = subprocess.run(["bash", str(INSTALL), "--root", str(root), *args], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr
    return result.stdout


def snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_file():
            out[rel] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_mtime_ns)
        else:
            out[rel] = ("dir", stat.S_IMODE(st.st_mode))
    return out


def expected_files() -> dict[str, tuple[str, int]]:
    return {t: s for t, s in FILES.items() if (ROOT / s[0]).exists()}


def test_install_into_a_root_writes_exactly_the_expected_files(target, fake_tools, tmp_path):
    out = install(target, fake_tools)
    assert not (tmp_path / "calls.log").exists(), (tmp_path / "calls.log").read_text()
    for cmd in ("apt-get install", "useradd --system", "pip install", "systemctl daemon-reload"):
        assert re.search(rf"^skipped \(--root\): .*{cmd}", out, re.M), cmd
    written = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file() or p.is_symlink()}
    assert written == set(expected_files()) | set(LINKS) | BOOT
    for rel, (src, mode) in expected_files().items():
        path = target / rel
        assert path.read_bytes() == (ROOT / src).read_bytes(), rel
        assert stat.S_IMODE(path.stat().st_mode) == mode, rel
    for rel, dest in LINKS.items():
        assert os.readlink(target / rel) == dest
    assert (target / "var/log/journal").is_dir()
    assert stat.S_IMODE((target / "etc/kiosk").stat().st_mode) == 0o750
    cmdline = (target / "boot/firmware/cmdline.txt").read_text()
    assert cmdline.count("\n") == 1 and "console=tty1" not in cmdline and "console=tty3" in cmdline
    for token in ("quiet", "splash", "vt.global_cursor_default=0", "logo.nologo"):
        assert cmdline.split().count(token) == 1
    assert "root=PARTUUID=1234abcd-02" in cmdline
    assert (target / "boot/firmware/config.txt").read_text().endswith("[all]\ndisable_splash=1\n")
    assert "kiosk: " in out and "changes" in out


def test_second_run_changes_nothing(target, fake_tools):
    install(target, fake_tools)
    before = snapshot(target)
    out = install(target, fake_tools)
    assert "kiosk: up to date, nothing to change" in out
    assert not re.search(r"^(install|link|remove|create|set|add) ", out, re.M), out
    assert snapshot(target) == before


def test_dry_run_prints_every_change_and_writes_nothing(target, fake_tools):
    before = snapshot(target)
    out = install(target, fake_tools, "--dry-run")
    assert snapshot(target) == before
    planned = set(re.findall(r"^would (?:install|link) /(\S+)", out, re.M))
    planned |= set(re.findall(r"^would add '.*' to /(\S+)$", out, re.M))
    planned |= set(re.findall(r"^would set kernel command line in /(\S+):", out, re.M))
    planned_dirs = set(re.findall(r"^would create directory /(\S+)$", out, re.M))
    assert planned_dirs == {"etc/kiosk", "var/log/journal"}
    install(target, fake_tools)
    after = snapshot(target)
    changed = {k for k in after if before.get(k) != after[k] and after[k][0] != "dir"}
    assert planned == changed
    assert all(after[d][0] == "dir" for d in planned_dirs)


def test_existing_config_is_kept_and_managed_config_replaces_it(target, fake_tools, tmp_path):
    install(target, fake_tools)
    conf = target / "etc/kiosk/kiosk.toml"
    conf.write_text('[kiosk]\nid = "kiosk-07"\n')
    install(target, fake_tools)
    assert conf.read_text() == '[kiosk]\nid = "kiosk-07"\n'
    managed = tmp_path / "managed.toml"
    managed.write_text('[kiosk]\nid = "kiosk-08"\n[linkage]\ngateway = "https://10.20.30.40/"\n'
                       'allow_networks = ["10.99.0.0/16"]\n')
    out = install(target, fake_tools, "--config", str(managed))
    assert conf.read_text() == managed.read_text() and "install /etc/kiosk/kiosk.toml" in out
    # The allow-list is resolved at every service start (ExecStartPre), never frozen here;
    # an older release's install-time drop-in is removed.
    assert not (target / DROPIN).exists()
    assert "up to date" in install(target, fake_tools, "--config", str(managed))
    (target / DROPIN).parent.mkdir(parents=True, exist_ok=True)
    (target / DROPIN).write_text("[Service]\nIPAddressAllow=10.20.30.40\n")
    out = install(target, fake_tools, "--config", str(managed))
    assert not (target / DROPIN).exists() and f"remove /{DROPIN}" in out


def test_bad_option_is_refused(target, fake_tools):
    result = subprocess.run(["bash", str(INSTALL), "--root", str(target), "--frobnicate"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown option --frobnicate" in result.stderr
    assert not (target / "etc").exists()


def test_shell_scripts_pass_shellcheck():
    exe = shutil.which("shellcheck")
    assert exe, "shellcheck missing: apt-get install shellcheck (deploy/apt-dev.txt)"
    result = subprocess.run([exe, "--severity=style", str(INSTALL), str(ROOT / "deploy/sbin/kiosk-rw")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_dry_run_on_this_machine_changes_nothing(fake_tools, tmp_path):
    """The real-system path (no --root) in --dry-run: only read-only queries run, nothing is written."""
    env = dict(os.environ, PATH=f"{fake_tools}:{os.environ['PATH']}")

    def dry_run() -> str:
        result = subprocess.run(["bash", str(INSTALL), "--dry-run"], capture_output=True, text=True, env=env,
                                timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stderr == ""
        return result.stdout

    first = dry_run()
    calls = (tmp_path / "calls.log").read_text().splitlines() if (tmp_path / "calls.log").exists() else []
    assert all(c.split()[0] in ("dpkg-query", "plymouth-set-default-theme") and len(c.split()) < 5
               for c in calls), calls
    assert re.search(r"^would run: .*apt-get install", first, re.M)
    planned = re.findall(r"^would install (/\S+)", first, re.M)
    assert "/etc/systemd/system/kiosk.service" in planned or Path("/etc/systemd/system/kiosk.service").exists()
    # Had the dry run written anything, the second plan would be shorter.
    assert dry_run() == first


def test_journal_upload_is_configured_from_the_kiosk_config(target, fake_tools, tmp_path):
    conf = "etc/systemd/journal-upload.conf.d/50-kiosk.conf"
    dropin = "etc/systemd/system/systemd-journal-upload.service.d/50-kiosk-credentials.conf"
    install(target, fake_tools)
    assert not (target / conf).exists()                 # no upload_url: no upload
    managed = tmp_path / "managed.toml"
    managed.write_text('[logging]\nupload_url = "https://logs-01.city.lan:19532"\n'
                       'upload_key = "/etc/kiosk/tls/upload.key"\nupload_cert = "/etc/kiosk/tls/upload.crt"\n'
                       'upload_ca = "/etc/kiosk/tls/log-ca.crt"\n')
    install(target, fake_tools, "--config", str(managed))
    upload = (target / conf).read_text()
    assert "URL=https://logs-01.city.lan:19532\n" in upload
    assert "ServerKeyFile=/run/credentials/systemd-journal-upload.service/key\n" in upload
    assert "TrustedCertificateFile=/run/credentials/systemd-journal-upload.service/ca\n" in upload
    assert "@" not in upload.replace("@URL@", "")
    creds = (target / dropin).read_text()
    assert "LoadCredential=key:/etc/kiosk/tls/upload.key\n" in creds
    assert "LoadCredential=ca:/etc/kiosk/tls/log-ca.crt\n" in creds
    # Plain http (anyone on the segment could inject records) is refused, and the upload switched off.
    managed.write_text('[logging]\nupload_url = "http://logs-01.city.lan:19532"\n')
    out = install(target, fake_tools, "--config", str(managed))
    assert "WARNING: journal upload left off" in out and "https" in out
    assert not (target / conf).exists() and not (target / dropin).exists()
