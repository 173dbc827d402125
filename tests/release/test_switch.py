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


R = {"running": True, "pid": 20}


@pytest.mark.parametrize("state, is_idle", [
    (None, False), ({}, False), ({"running": False, "pid": 20, "state": "ready"}, False),   # missing / dead
    ({"running": True, "pid": 10, "state": "ready"}, False),                               # stale: old pid
    ({"running": True, "state": "ready"}, False),
    (dict(R, state="ready"), True), (dict(R, state="booting"), True), (dict(R, state="working"), False),
    (dict(R, state="waiting_pin"), False), (dict(R, state="card_left"), False),
    (dict(R, state="success"), False), (dict(R, state="resident_error"), False),
])
def test_idle_only_when_the_main_process_itself_says_so(state, is_idle):
    assert release.idle(state, 20) is is_idle


@pytest.mark.parametrize("props, state, is_idle", [
    ({}, dict(R, state="ready"), False),                                   # systemctl show timed out
    ({"ActiveState": "active", "MainPID": "20"}, None, False),             # no state file
    ({"ActiveState": "active", "MainPID": "20"}, dict(R, pid=10, state="ready"), False),
    ({"ActiveState": "active", "MainPID": "20"}, dict(R, state="waiting_pin"), False),
    ({"ActiveState": "activating", "SubState": "start", "MainPID": "20"}, dict(R, state="working"), False),
    ({"ActiveState": "reloading", "MainPID": "20"}, dict(R, state="working"), False),
    ({"ActiveState": "deactivating", "MainPID": "20"}, None, False),
    ({"ActiveState": "active", "MainPID": "20"}, dict(R, state="ready"), True),
    ({"ActiveState": "activating", "SubState": "start", "MainPID": "20"}, dict(R, state="booting"), True),
    ({"ActiveState": "inactive", "MainPID": "0"}, None, True),
    ({"ActiveState": "failed", "MainPID": "0"}, None, True),
    ({"ActiveState": "activating", "SubState": "auto-restart", "MainPID": "0"}, None, True),  # crash loop
])
def test_kiosk_idle_fails_closed(monkeypatch, props, state, is_idle):
    monkeypatch.setattr(release, "unit", lambda *p: props)
    ok, why = release.kiosk_idle(read=lambda: state)
    assert ok is is_idle, why


def test_wait_idle_waits_for_the_resident_then_gives_up_at_its_deadline(monkeypatch):
    monkeypatch.setattr(release, "POLL", 0)
    answers = iter([(False, "waiting_pin"), (False, "card_left"), (True, "ready")])
    assert release.wait_idle(60, check=lambda: next(answers)) == (True, "ready")
    now = iter(range(0, 1000, 10))
    assert release.wait_idle(30, check=lambda: (False, "working"), clock=lambda: next(now)) == (False, "working")


class FakeSystemd:
    """systemctl as activate() sees it: ``show`` answers from ``props``, other calls are recorded."""

    def __init__(self, monkeypatch, props: dict, idle_answers: list[tuple[bool, str]]):
        self.calls: list[tuple[str, ...]] = []
        self.props = props
        self.answers = iter(idle_answers)
        monkeypatch.setattr(release, "systemd_running", lambda: True)
        monkeypatch.setattr(release, "POLL", 0)
        monkeypatch.setattr(release, "unit", lambda *p: {k: v for k, v in self.props.items() if k in p})
        monkeypatch.setattr(release, "kiosk_idle", lambda: next(self.answers))
        monkeypatch.setattr(release, "systemctl", lambda *a: self.calls.append(a) or 0)
        monkeypatch.setattr(release, "_journal", lambda event, msg, prio, **f: self.calls.append(("journal", event)))


def test_a_busy_or_unreadable_kiosk_defers_the_switch(tmp_path, monkeypatch):
    rel = installed(tmp_path, "1.0.1", "1.0.2")
    rel.link("1.0.1")
    monkeypatch.setattr(release, "unit", lambda *p: {})                  # systemctl show timed out
    monkeypatch.setattr(release, "systemd_running", lambda: True)
    monkeypatch.setattr(release, "_journal", lambda *a, **f: None)
    monkeypatch.setattr(release.runstate, "read_state", lambda: {"running": True, "pid": 1, "state": "ready"})
    assert release.activate("1.0.2", rel, idle_timeout=0) == release.EXIT_BUSY
    assert rel.current() == "1.0.1" and rel.marker(".switching") is None


def test_idle_is_checked_again_right_before_the_restart(tmp_path, monkeypatch):
    rel = installed(tmp_path, "1.0.0", "1.0.1", "1.0.2")
    rel.link("1.0.0")
    rel.link("1.0.1")
    fake = FakeSystemd(monkeypatch, {"ActiveState": "active", "UnitFileState": "enabled", "NRestarts": "0"},
                       [(True, "ready"), (False, "kiosk pid 20: state 'waiting_pin'")])
    assert release.activate("1.0.2", rel, idle_timeout=0) == release.EXIT_BUSY
    assert ("restart", "--no-block", release.UNIT) not in fake.calls
    assert ("journal", "release_deferred") in fake.calls
    assert (rel.current(), rel.previous()) == ("1.0.1", "1.0.0")        # the links are as before
    assert rel.marker(".switching") is None
    assert next(fake.answers, None) is None                             # asked twice: before and after


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


def status_report(release_info: dict) -> dict:
    """A kiosk status report (kiosk.appliance.status.collect's shape) with ``release_info``."""
    return {"kiosk_id": "k", "version": "1", "service": {"active": "active"},
            "kiosk": {"running": True, "state": "ready", "service_needed": []},
            "config": {"valid": True, "path": "/etc/kiosk/kiosk.toml", "exists": True},
            "readers": {"configured": "x", "usb": []}, "printer": {"backend": "none"},
            "leds": {"enabled": False}, "power": {"undervoltage": {"now": False, "available": False},
                                                   "throttled": {}, "temperature_c": None},
            "storage": {"ext4_errors": {}, "overlayroot": False}, "last_errors": [], "ok": True,
            "release": release_info}


def test_status_shows_running_and_previous_release():
    from kiosk.appliance import status
    report = status_report({"current": "1.0.2", "running": "1.0.2", "previous": "1.0.1",
                            "rolled_back": {"version": "1.0.3", "to": "1.0.2", "reason": "restarts=1"}})
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


def test_a_failed_state_write_leaves_no_stale_ready(tmp_path, monkeypatch):
    from kiosk import journal
    from kiosk.appliance import runstate
    from kiosk.signals import Bus
    path = tmp_path / "state.json"
    rs = runstate.RuntimeState(Bus(), path)
    rs.write()
    assert runstate.read_state(path)["state"] == "booting"
    records = []
    journal.add_sink(records.append)
    try:
        def full(*a, **k):
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(runstate.tempfile, "mkstemp", full)
        rs.state = "waiting_pin"
        rs.write()
        rs.write()
    finally:
        journal.remove_sink(records.append)
    assert runstate.read_state(path) is None                  # gone, so the switcher waits
    assert [r["WHERE"] for r in records if r.get("EVENT") == "error_swallowed"] == ["runstate.write"]
    monkeypatch.undo()
    rs.write()
    assert runstate.read_state(path)["state"] == "waiting_pin"


def test_check_is_an_error_when_it_cannot_check(tmp_path, monkeypatch, capsys):
    rel = installed(tmp_path, "1.0.1")
    monkeypatch.setattr(release, "BASE", tmp_path)
    monkeypatch.setattr(release.Releases.__init__, "__defaults__", (tmp_path,))      # Releases() is under tmp
    assert release.cmd_check(None) == release.EXIT_ERROR                 # no current release
    rel.link("1.0.1")
    monkeypatch.setattr(release, "systemd_running", lambda: False)
    assert release.cmd_check(None) == release.EXIT_ERROR
    assert "cannot check, systemd is not running" in capsys.readouterr().err


MENDER_MODULE = ROOT / "deploy" / "mender" / "kiosk-release"


def mender_commit(base: Path, python: str) -> subprocess.CompletedProcess:
    """The module's ArtifactCommit with ``python`` as the current release's interpreter."""
    exe = base / "releases" / "1.0.1" / "venv" / "bin" / "python"
    exe.write_text("#!/bin/sh\n" + python + "\n")
    exe.chmod(0o755)
    env = dict(os.environ, KIOSK_RELEASES_BASE=str(base), PYTHONPATH=str(ROOT))
    return subprocess.run(["sh", str(MENDER_MODULE), "ArtifactCommit", str(base / "files")],
                          env=env, capture_output=True, text=True, timeout=120)


def test_mender_commits_only_on_a_healthy_check(tmp_path):
    rel = installed(tmp_path, "1.0.1")
    assert mender_commit(tmp_path, "exit 0").returncode != 0             # no current release at all
    rel.link("1.0.1")
    assert mender_commit(tmp_path, "exit 0").returncode == 0
    assert mender_commit(tmp_path, "exit 1").returncode != 0
    if not release.systemd_running():            # as in CI: the real check cannot check -> no commit
        real = mender_commit(tmp_path, f'exec "{sys.executable}" "$@"')
        assert real.returncode != 0 and "cannot check" in real.stderr, real.stdout + real.stderr


@pytest.mark.parametrize("marker", ['{"version": "1.0.3"}', '{}', '["1.0.3"]', '"x"'])
def test_a_partial_rolled_back_marker_does_not_break_status(tmp_path, monkeypatch, capsys, marker):
    from kiosk.appliance import status
    rel = installed(tmp_path, "1.0.1")
    rel.link("1.0.1")
    (tmp_path / "releases" / ".rolled-back").write_text(marker)
    monkeypatch.setattr(release.Releases.__init__, "__defaults__", (tmp_path,))
    monkeypatch.setattr(release, "systemd_running", lambda: False)
    assert release.cmd_status(type("A", (), {"json": False})()) == release.EXIT_OK
    text = capsys.readouterr().out
    if marker.startswith("{"):
        assert "rolled back: " in text
    report = status_report({"current": "1.0.2", "previous": "1.0.1", "rolled_back": {"version": "1.0.3"}})
    assert "rolled back 1.0.3 -> ?: ?" in status.render(report)
    report["release"]["rolled_back"] = ["1.0.3"]
    assert "rolled back ? -> ?: ?" in status.render(report)


def test_a_systemctl_timeout_stops_the_switch_and_a_rerun_finishes_it(tmp_path, monkeypatch):
    rel = installed(tmp_path, "1.0.1", "1.0.2")
    rel.link("1.0.1")
    fake = FakeSystemd(monkeypatch, {"ActiveState": "active", "UnitFileState": "enabled", "NRestarts": "0"},
                       [(True, "ready")] * 4)

    def hangs(argv, timeout):
        raise subprocess.TimeoutExpired(argv, timeout)
    monkeypatch.setattr(release.subprocess, "run", lambda argv, timeout: hangs(argv, timeout))
    monkeypatch.setattr(release, "systemctl", SYSTEMCTL)
    assert release.activate("1.0.2", rel, idle_timeout=0) == release.EXIT_ERROR
    assert rel.marker(".switching") == {"from": "1.0.1", "to": "1.0.2"}          # kept for the re-run
    monkeypatch.setattr(release, "systemctl", lambda *a: fake.calls.append(a) or 0)
    monkeypatch.setattr(release, "wait_healthy", lambda *a: (True, "active"))
    assert release.activate("1.0.2", rel, idle_timeout=0) == release.EXIT_OK
    assert ("restart", "--no-block", release.UNIT) in fake.calls
    assert rel.marker(".switching") is None and (rel.current(), rel.previous()) == ("1.0.2", "1.0.1")
    # The same in a rollback: it stops with EXIT_ERROR, and `kiosk release rollback` finishes it.
    monkeypatch.setattr(release, "systemctl", SYSTEMCTL)
    assert release.rollback(rel, "1.0.2", "1.0.1", "test") == release.EXIT_ERROR
    assert rel.marker(".switching") == {"from": "1.0.2", "to": "1.0.1", "rollback": True}
    monkeypatch.setattr(release, "systemctl", lambda *a: fake.calls.append(a) or 0)
    monkeypatch.setattr(release.Releases.__init__, "__defaults__", (tmp_path,))
    assert release.cmd_rollback(None) == release.EXIT_ROLLED_BACK
    assert rel.current() == "1.0.1" and rel.marker(".switching") is None


SYSTEMCTL = release.systemctl               # the real one (FakeSystemd replaces it per test)


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("1", pytest.fail.Exception),
                                         ("", pytest.skip.Exception), ("false", pytest.skip.Exception)])
def test_a_missing_container_tool_fails_in_ci_and_says_so_when_skipped(monkeypatch, ci, outcome):
    from tests.release import conftest
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(conftest, "unavailable", lambda: "systemd-nspawn is not installed")
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as info:    # a skip must not skip this
        conftest.need_containers()
    assert info.type is outcome
    assert "systemd-nspawn is not installed" in str(info.value)
    assert ("CI is set" if outcome is pytest.fail.Exception else "with CI set this test fails") in str(info.value)
    monkeypatch.setattr(conftest.shutil, "which", lambda tool: None)
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as info:
        conftest.need_tool("mender-artifact", "mender-artifact")
    assert info.type is outcome
    monkeypatch.setattr(conftest, "unavailable", lambda: None)
    conftest.need_containers()                      # available: neither


@pytest.mark.parametrize("cached, routed, ci, outcome", [
    (False, False, "", pytest.skip.Exception), (False, False, "true", pytest.fail.Exception),
    (True, False, "", None), (False, True, "", None)])
def test_a_release_build_without_wheelhouse_or_network_says_so(monkeypatch, cached, routed, ci, outcome):
    """The pi-bench's offline root: no cached wheels and no route is a stated skip, not a failed build."""
    from tests.release import conftest
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(conftest, "wheelhouse_cached", lambda: cached)
    monkeypatch.setattr(conftest, "has_default_route", lambda: routed)
    if outcome is None:
        conftest.need_wheelhouse()
        return
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as info:
        conftest.need_wheelhouse()
    assert info.type is outcome
    assert "no network to download it" in str(info.value) and "apt-dev" not in str(info.value)
