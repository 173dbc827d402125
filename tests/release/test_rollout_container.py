"""Releases installed for real: apt in a systemd-nspawn container with no network.

One container (private network: only loopback) for the module.  The first
release installs offline and the kiosk starts; a second one installed while the
first runs idle switches; a switch waits while a resident session is active; a
deliberately broken third one rolls back by itself and journals why; the Mender
artifacts install, commit and roll back in standalone mode with the same gate.
"""

from __future__ import annotations

import json

import pytest

from tests.release.conftest import (BROKEN, GOOD, NEXT, ROOT, UNIT, container, current, need_containers, prepare_kiosk,
                                    push, running)

pytestmark = [pytest.mark.systemd, pytest.mark.timeout(1200)]

APT = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "--allow-downgrades",
       "-o", "Dpkg::Use-Pty=0"]


@pytest.fixture(scope="module")
def kiosk(releases):
    need_containers()
    with container("kiosk-release") as c:
        prepare_kiosk(c)
        yield c


def install(c, deb, timeout=600, **env):
    return c.run(APT + [push(c, deb)], check=False, timeout=timeout, env=env)


def ensure(c, releases, version):
    """Make ``version`` current first, so each test starts from a known release."""
    if not c.host_path("/opt/kiosk/current").is_symlink() or current(c) != version:
        result = install(c, releases.deb(version))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def pending(c) -> bool:
    """dpkg has myna-kiosk unpacked but not configured (an interrupted or deferred install)."""
    status = c.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "myna-kiosk"], check=False).stdout
    return status.strip() in ("iU", "iF")


def journal_events(c, event):
    return [r for r in c.journal("-t", "kiosk") if r.get("EVENT") == event]


def test_first_release_installs_with_no_network_and_the_kiosk_starts(kiosk, releases):
    routes = kiosk.run(["ip", "-o", "link"]).stdout
    assert [line.split(":")[1].strip() for line in routes.splitlines()] == ["lo"], routes
    result = install(kiosk, releases.deb(GOOD))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"build release {GOOD}" in result.stdout and "running and healthy" in result.stdout
    assert current(kiosk) == GOOD
    assert running(kiosk).startswith(f"/opt/kiosk/releases/{GOOD}/venv/bin/python")
    assert kiosk.show(UNIT, "ActiveState")["ActiveState"] == "active"
    # The venv was built from the wheelhouse: the manifest's pins are what is installed.
    manifest = json.loads(kiosk.read(f"/opt/kiosk/releases/{GOOD}/manifest.json"))
    frozen = kiosk.run([f"/opt/kiosk/releases/{GOOD}/venv/bin/pip", "list", "--local", "--format=json"]).stdout
    installed = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(frozen)}
    for wheel in manifest["wheels"]:
        assert installed.get(wheel["name"].lower().replace("_", "-")) == wheel["version"], wheel
    # Reinstalling the same release changes nothing and does not restart the kiosk.
    pid = kiosk.main_pid(UNIT)
    again = kiosk.run(["dpkg-reconfigure", "myna-kiosk"], check=False, timeout=300)
    assert again.returncode == 0 and "activate" not in again.stdout, again.stdout
    assert kiosk.main_pid(UNIT) == pid


def test_a_rerun_finishes_the_reloads_an_interrupted_run_left_pending(kiosk, releases):
    ensure(kiosk, releases, GOOD)
    rerun = ["bash", "/usr/lib/myna-kiosk/src/deploy/install.sh", "--no-apt", "--no-boot",
             "--release", "/usr/lib/myna-kiosk/release"]
    assert "nothing to change" in kiosk.run(rerun).stdout
    kiosk.write("/var/lib/kiosk-deploy/reload-pending", "")     # files written, then the power went
    out = kiosk.run(rerun).stdout
    assert "finishing the reloads" in out and "run: systemctl daemon-reload" in out
    assert not kiosk.host_path("/var/lib/kiosk-deploy/reload-pending").exists()


def test_a_switch_waits_while_a_resident_session_is_active(kiosk, releases):
    """The kiosk says it is busy (its state file: a card on the reader): no switch, no restart."""
    ensure(kiosk, releases, GOOD)
    pid = kiosk.main_pid(UNIT)
    state = json.loads(kiosk.read("/run/kiosk/state.json"))
    kiosk.write("/run/kiosk/state.json", json.dumps(dict(state, state="waiting_pin")))
    try:
        result = install(kiosk, releases.deb(NEXT), KIOSK_RELEASE_IDLE_TIMEOUT="3")
    finally:
        kiosk.write("/run/kiosk/state.json", json.dumps(state))
    assert result.returncode != 0
    assert current(kiosk) == GOOD and kiosk.main_pid(UNIT) == pid
    deferred = journal_events(kiosk, "release_deferred")
    assert deferred and deferred[-1]["RELEASE"] == NEXT
    assert pending(kiosk)            # dpkg keeps it unconfigured: the next run finishes it


def test_second_release_switches_while_the_first_runs_idle(kiosk, releases):
    if not pending(kiosk):
        ensure(kiosk, releases, GOOD)
    before = kiosk.main_pid(UNIT)
    if pending(kiosk):               # re-running the deferred install (dpkg --configure -a) finishes it
        result = kiosk.run(["dpkg", "--configure", "-a"], check=False, timeout=600)
    else:
        result = install(kiosk, releases.deb(NEXT))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert current(kiosk) == NEXT
    assert running(kiosk).startswith(f"/opt/kiosk/releases/{NEXT}/")
    assert kiosk.main_pid(UNIT) != before
    assert kiosk.run(["readlink", "/opt/kiosk/previous"]).stdout.strip() == f"releases/{GOOD}"
    switched = journal_events(kiosk, "release_switched")
    assert switched[-1]["RELEASE"] == NEXT and switched[-1]["RELEASE_FROM"] == GOOD
    status = json.loads(kiosk.run(["kiosk", "status", "--json"], check=False).stdout)
    assert status["release"]["running"] == NEXT and status["release"]["previous"] == GOOD


def test_broken_release_rolls_back_by_itself(kiosk, releases):
    ensure(kiosk, releases, NEXT)
    result = install(kiosk, releases.deb(BROKEN), KIOSK_RELEASE_SETTLE="2")
    assert result.returncode != 0
    assert f"release {BROKEN} rolled back to {NEXT}" in result.stdout
    assert current(kiosk) == NEXT
    assert running(kiosk).startswith(f"/opt/kiosk/releases/{NEXT}/")
    assert kiosk.show(UNIT, "ActiveState")["ActiveState"] == "active"
    rolled = journal_events(kiosk, "release_rolled_back")[-1]
    assert rolled["RELEASE"] == BROKEN and rolled["RELEASE_TO"] == NEXT and "restarts=" in rolled["REASON"]
    assert int(rolled["PRIORITY"]) == 3
    text = kiosk.run(["kiosk", "status"], check=False).stdout
    assert f"release:      {NEXT}" in text and f"rolled back {BROKEN}" in text, text


def test_mender_artifact_installs_commits_and_a_broken_one_rolls_back(kiosk, releases):
    ensure(kiosk, releases, NEXT)
    kiosk.run(["sh", str(ROOT / "deploy/mender/provision.sh"), "myna-kiosk-test"])   # host / is the lower layer
    art = push(kiosk, releases.mender(GOOD))
    result = kiosk.run(["mender", "--no-syslog", "install", art], check=False, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert current(kiosk) == GOOD                                   # a downgrade, switched while idle
    commit = kiosk.run(["mender", "--no-syslog", "commit"], check=False, timeout=300)
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert kiosk.run(["mender", "show-artifact"]).stdout.strip() == f"myna-kiosk-{GOOD}"
    bad = push(kiosk, releases.mender(BROKEN))
    result = kiosk.run(["mender", "--no-syslog", "install", bad], check=False, timeout=600,
                       env={"KIOSK_RELEASE_SETTLE": "2"})
    assert result.returncode != 0
    assert current(kiosk) == GOOD and running(kiosk).startswith(f"/opt/kiosk/releases/{GOOD}/")
    assert kiosk.run(["mender", "show-artifact"]).stdout.strip() == f"myna-kiosk-{GOOD}"
    assert journal_events(kiosk, "release_rolled_back")[-1]["RELEASE"] == BROKEN
