"""kiosk.appliance.release with no systemd: links, idle, the interrupted switch; install.sh's parts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.appliance import release
from tests.release.conftest import ROOT

INSTALL = ROOT / "deploy" / "install.sh"


def installed(base: Path, *versions: str) -> release.Releases:
    for v in versions:
        d = base / "releases" / v / "venv" / "bin"
        d.mkdir(parents=True)
        (base / "releases" / v / ".complete").write_text("x\n")
    return release.Releases(base)


def test_link_switches_current_and_previous_atomically(tmp_path):
    rel = installed(tmp_path, "1.0.1", "1.0.2")
    assert rel.current() is None
    rel.link("1.0.1")
    assert rel.current() == "1.0.1" and rel.previous() is None
    assert os.readlink(tmp_path / "venv") == "current/venv"
    rel.link("1.0.2")
    assert (rel.current(), rel.previous()) == ("1.0.2", "1.0.1")
    assert os.readlink(tmp_path / "current") == "releases/1.0.2"       # relative: valid in a chroot too
    assert not list(tmp_path.glob(".current.*"))                        # the temporary link was renamed
    rel.link("1.0.2")
    assert rel.previous() == "1.0.1"                                    # re-linking keeps the rollback target


def test_an_incomplete_release_is_never_linked(tmp_path):
    rel = installed(tmp_path, "1.0.1")
    (tmp_path / "releases" / "1.0.2" / "venv").mkdir(parents=True)      # interrupted build: no .complete
    rel.link("1.0.1")
    with pytest.raises(release.ReleaseError):
        rel.link("1.0.2")
    assert rel.current() == "1.0.1"
    assert release.activate("1.0.2", rel) == release.EXIT_ERROR


def test_a_venv_from_before_releases_is_kept_aside(tmp_path):
    rel = installed(tmp_path, "1.0.1")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    rel.link("1.0.1")
    assert (tmp_path / "venv.pre-release" / "bin").is_dir() and (tmp_path / "venv").is_symlink()


@pytest.mark.parametrize("state, is_idle", [
    (None, True), ({"running": False, "state": "working"}, True), ({"running": True, "state": "ready"}, True),
    ({"running": True, "state": "booting"}, True), ({"running": True, "state": "working"}, False),
    ({"running": True, "state": "waiting_pin"}, False), ({"running": True, "state": "card_left"}, False),
    ({"running": True, "state": "success"}, False), ({"running": True, "state": "resident_error"}, False),
])
def test_idle_only_without_a_resident(state, is_idle):
    assert release.idle(state) is is_idle


def test_wait_idle_waits_for_the_resident_then_gives_up_at_its_deadline(monkeypatch):
    monkeypatch.setattr(release, "POLL", 0)
    states = iter([{"running": True, "state": "waiting_pin"}, {"running": True, "state": "card_left"},
                   {"running": True, "state": "ready"}])
    assert release.wait_idle(60, read=lambda: next(states)) is True
    now = iter(range(0, 1000, 10))
    busy = {"running": True, "state": "working"}
    assert release.wait_idle(30, read=lambda: busy, clock=lambda: next(now)) is False


def test_activate_without_systemd_only_switches(tmp_path, monkeypatch):
    monkeypatch.setattr(release, "systemd_running", lambda: False)
    rel = installed(tmp_path, "1.0.1", "1.0.2")
    assert release.activate("1.0.1", rel) == 0 and rel.current() == "1.0.1"
    assert release.activate("1.0.2", rel) == 0
    assert (rel.current(), rel.previous()) == ("1.0.2", "1.0.1")
    assert rel.marker(".switching") is None


def test_release_of_pid_reads_the_interpreter_path(tmp_path):
    assert release.release_of_pid(os.getpid(), tmp_path) is None
    assert release.release_of_pid(999_999_999, tmp_path) is None


def test_status_shows_running_and_previous_release():
    from kiosk.appliance import status
    report = {"kiosk_id": "k", "version": "1", "service": {"active": "active"},
              "kiosk": {"running": True, "state": "ready", "service_needed": []},
              "config": {"valid": True, "path": "/etc/kiosk/kiosk.toml", "exists": True},
              "readers": {"configured": "x", "usb": []}, "printer": {"backend": "none"},
              "leds": {"enabled": False}, "power": {"undervoltage": {"now": False, "available": False},
                                                     "throttled": {}, "temperature_c": None},
              "storage": {"ext4_errors": {}, "overlayroot": False}, "last_errors": [], "ok": True,
              "release": {"current": "1.0.2", "running": "1.0.2", "previous": "1.0.1",
                          "rolled_back": {"version": "1.0.3", "to": "1.0.2", "reason": "restarts=1"}}}
    text = status.render(report)
    assert "release:      1.0.2 (previous 1.0.1)" in text
    assert "rolled back 1.0.3 -> 1.0.2: restarts=1" in text


def run_install(*args: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), "--root", str(root), "--no-apt", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("configured, wanted, reboot", [
    ("", "on", True), ("overlayroot=tmpfs ", "on", False), ("overlayroot=tmpfs ", "off", True), ("", "off", False),
])
def test_overlay_step_asks_for_a_reboot_only_on_a_change(tmp_path, configured, wanted, reboot):
    boot = tmp_path / "boot/firmware"
    boot.mkdir(parents=True)
    (boot / "cmdline.txt").write_text(configured + "console=tty3 quiet splash loglevel=3 logo.nologo "
                                      "vt.global_cursor_default=0 consoleblank=0 plymouth.ignore-serial-consoles "
                                      "fsck.repair=yes\n")
    (boot / "config.txt").write_text("[all]\ndisable_splash=1\n")
    out = run_install("--overlayroot", wanted, root=tmp_path)
    assert out.returncode == 0, out.stderr
    assert ("reboot needed:" in out.stdout) is reboot


def test_release_mode_builds_its_own_venv_not_the_source_venv(tmp_path, releases):
    src = tmp_path / "x"
    subprocess.run(["dpkg-deb", "-x", str(releases.deb("1.0.1")), str(src)], check=True)
    payload = src / "usr/lib/myna-kiosk"
    out = subprocess.run(["bash", str(payload / "src/deploy/install.sh"), "--dry-run", "--root", str(tmp_path / "t"),
                          "--no-apt", "--no-boot", "--release", str(payload / "release")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "would build release 1.0.1 in /opt/kiosk/releases/1.0.1" in out.stdout
    assert "pip\" install --upgrade" not in out.stdout and "[hardware]" not in out.stdout
    assert json.loads((payload / "release/manifest.json").read_text())["version"] == "1.0.1"


@pytest.mark.parametrize("props, state, expect", [
    ({"ActiveState": "deactivating", "NRestarts": "0"}, None, None),                 # restart under way
    ({"ActiveState": "active", "MainPID": "10", "NRestarts": "0"}, None, None),      # old process, not yet
    ({"ActiveState": "active", "MainPID": "20", "NRestarts": "0"}, None, None),      # new, no state yet
    ({"ActiveState": "active", "MainPID": "20", "NRestarts": "0"}, {"pid": 20, "state": "ready"}, True),
    ({"ActiveState": "active", "MainPID": "20", "NRestarts": "0"},
     {"pid": 20, "state": "ready", "service_needed": ["config_error"]}, False),
    ({"ActiveState": "activating", "SubState": "auto-restart", "NRestarts": "1"}, None, False),  # crashed once
    ({"ActiveState": "failed", "NRestarts": "0"}, None, False),
])
def test_health_gate(monkeypatch, props, state, expect):
    monkeypatch.setattr(release, "unit", lambda *p: props)
    monkeypatch.setattr(release, "release_of_pid", lambda pid, base: {10: "1.0.1", 20: "1.0.2"}.get(pid))
    ok, why = release.health("1.0.2", 0, read=lambda: state)
    assert ok is expect, why


def test_release_scripts_pass_shellcheck():
    exe = shutil.which("shellcheck")
    assert exe, "shellcheck missing: apt-get install shellcheck (deploy/apt-dev.txt)"
    scripts = [ROOT / "deploy/release" / n for n in ("kiosk-update", "lock.sh")]
    scripts += sorted((ROOT / "deploy/release/debian").iterdir()) + sorted((ROOT / "deploy/mender").iterdir())
    result = subprocess.run([exe, "--severity=style", *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_a_bad_timeout_in_the_environment_does_not_break_importing_and_falls_back(monkeypatch, capsys):
    env = dict(os.environ, KIOSK_RELEASE_IDLE_TIMEOUT="x", KIOSK_RELEASE_SETTLE="nan")
    out = subprocess.run([sys.executable, "-c",
                          "import kiosk.cli, kiosk.appliance.status, kiosk.appliance.release"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    monkeypatch.setenv("KIOSK_RELEASE_IDLE_TIMEOUT", "x")
    assert release.seconds("KIOSK_RELEASE_IDLE_TIMEOUT") == 1800
    assert "KIOSK_RELEASE_IDLE_TIMEOUT='x' is not a number of seconds" in capsys.readouterr().err
    monkeypatch.setenv("KIOSK_RELEASE_IDLE_TIMEOUT", "-5")
    assert release.seconds("KIOSK_RELEASE_IDLE_TIMEOUT") == 1800
    monkeypatch.setenv("KIOSK_RELEASE_IDLE_TIMEOUT", " 3 ")
    assert release.seconds("KIOSK_RELEASE_IDLE_TIMEOUT") == 3
    monkeypatch.delenv("KIOSK_RELEASE_IDLE_TIMEOUT")
    assert release.seconds("KIOSK_RELEASE_IDLE_TIMEOUT") == 1800
