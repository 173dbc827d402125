"""Releases side by side, switched only while the kiosk is idle, rolled back when unhealthy.

Each release lives in /opt/kiosk/releases/<version> (its own venv, built offline
by deploy/install.sh --release); ``current`` and ``previous`` are symlinks next
to them and /opt/kiosk/venv points through ``current``, so the unit never
changes.  A switch is a rename of a fresh symlink over ``current`` (atomic: a
power cut leaves the old or the new link, never none).

``activate(version)``: wait until no resident session is active (kiosk.service
has no process, or the state file written by its MainPID says ready or booting;
a missing, stale or unreadable state counts as busy), switch, check idle again, restart kiosk.service, and wait for
it to report healthy: active after READY=1, its main process running the new
release, its state file written by that process, no config error, and still so
after a short settle time.  Otherwise switch back, restart the old release and
journal why (``release_rolled_back``).  ``.switching`` marks a switch in
progress, so a re-run after an interruption finishes it.

    kiosk release status | activate VERSION | link VERSION | restart | rollback | check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kiosk.appliance import runstate

BASE = Path(os.environ.get("KIOSK_RELEASES_BASE", "/opt/kiosk"))
UNIT = "kiosk.service"
# States with no resident at the kiosk: the attract screen, or still starting.
IDLE_STATES = frozenset({"ready", "booting"})
# Seconds, overridable from the environment; read when used (never at import: `kiosk status`
# imports this module and must not die on a typo in a variable it does not use).
DEFAULTS = {"KIOSK_RELEASE_IDLE_TIMEOUT": 1800.0, "KIOSK_RELEASE_HEALTH_TIMEOUT": 120.0,
            "KIOSK_RELEASE_SETTLE": 5.0}
POLL = 0.5

EXIT_OK, EXIT_ERROR, EXIT_ROLLED_BACK, EXIT_BUSY = 0, 1, 3, 4


@dataclass(frozen=True)
class Releases:
    """The release directories and the ``current`` / ``previous`` links under ``base``."""

    base: Path = BASE

    def dir(self, version: str) -> Path:
        return self.base / "releases" / version

    def installed(self) -> list[str]:
        root = self.base / "releases"
        return sorted(p.name for p in root.iterdir() if (p / ".complete").exists()) if root.is_dir() else []

    def _target(self, name: str) -> str | None:
        try:
            return Path(os.readlink(self.base / name)).name
        except OSError:
            return None

    def current(self) -> str | None:
        return self._target("current")

    def previous(self) -> str | None:
        return self._target("previous")

    def _point(self, name: str, version: str) -> None:
        tmp = self.base / f".{name}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(f"releases/{version}", tmp)
        os.replace(tmp, self.base / name)           # rename(2): atomic

    def link(self, version: str) -> str | None:
        """Make ``version`` current (and the old current previous); returns the old current."""
        if not (self.dir(version) / ".complete").exists():
            raise ReleaseError(f"release {version} is not installed completely in {self.dir(version)}")
        old = self.current()
        if old and old != version:
            self._point("previous", old)
        self._point("current", version)
        self._venv_link()
        fsync_dir(self.base)
        return old

    def _venv_link(self) -> None:
        """/opt/kiosk/venv -> current/venv; a venv from before releases is kept aside, not deleted."""
        venv = self.base / "venv"
        if venv.is_symlink() and os.readlink(venv) == "current/venv":
            return
        if venv.exists() and not venv.is_symlink():
            venv.rename(self.base / "venv.pre-release")
        tmp = self.base / f".venv.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink("current/venv", tmp)
        os.replace(tmp, venv)

    def restore(self, current: str | None, previous: str | None, switching: dict | None) -> None:
        """Put the links and the ``.switching`` marker back as they were (a switch called off)."""
        for name, version in (("current", current), ("previous", previous)):
            if version:
                self._point(name, version)
            else:
                (self.base / name).unlink(missing_ok=True)
        self.mark(".switching", switching)
        fsync_dir(self.base)

    # The switch in progress (for a re-run) and the last rollback (for kiosk status).
    def mark(self, name: str, data: dict | None) -> None:
        path = self.base / "releases" / name
        if data is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data) + "\n")

    def marker(self, name: str) -> dict | None:
        """The marker's fields, or None; its fields may be missing (a partial or hand-edited file)."""
        try:
            data = json.loads((self.base / "releases" / name).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


class ReleaseError(RuntimeError):
    pass


def seconds(name: str) -> float:
    """``name`` from the environment in seconds, or its default (with a message when it is not a number)."""
    default = DEFAULTS[name]
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (0 <= value < float("inf")):
        print(f"kiosk release: {name}={raw!r} is not a number of seconds >= 0; using {default:.0f}",
              file=sys.stderr)
        return default
    return value


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the kiosk as systemd sees it ----------------------------------------------------------------
def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def unit(*props: str) -> dict[str, str]:
    argv = ["systemctl", "show", UNIT] + [a for p in props for a in ("-p", p)]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class SystemctlError(RuntimeError):
    """systemctl did not answer (timed out) or could not run: the switch stops where it is."""


def systemctl(*args: str) -> int:
    try:
        return subprocess.run(["systemctl", "--no-ask-password", *args], timeout=120).returncode
    except subprocess.TimeoutExpired as exc:
        raise SystemctlError(f"systemctl {' '.join(args)} did not answer within {exc.timeout:.0f} s") from exc
    except OSError as exc:
        raise SystemctlError(f"systemctl {' '.join(args)}: {exc.strerror or exc}") from exc


def _stopped(version: str, exc: SystemctlError) -> int:
    """activate/rollback cut short by systemctl: keep ``.switching`` so a re-run finishes the switch."""
    from kiosk import journal
    if systemd_running():
        journal.configure("journal")
    journal.log_swallowed("release.systemctl", exc, journal.ERR)
    print(f"kiosk release: {version}: {exc}; the switch is unfinished (.switching kept): run it again",
          file=sys.stderr, flush=True)
    return EXIT_ERROR


def release_of_pid(pid: int, base: Path = BASE) -> str | None:
    """Which release a process runs: its interpreter path is <base>/releases/<version>/venv/bin/python."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = str(base / "releases") + "/"
    for arg in argv[:2]:
        text = arg.decode(errors="replace")
        if text.startswith(prefix):
            return text[len(prefix):].split("/", 1)[0]
    return None


# ActiveStates in which kiosk.service has no process, hence no resident at the kiosk.  Any other
# state (active, activating, reloading, deactivating) or none at all (systemctl timed out) needs the
# kiosk's own word that it is idle: fail closed.
NO_PROCESS = frozenset({"inactive", "failed"})


def idle(state: dict | None, main_pid: int) -> bool:
    """The kiosk process ``main_pid`` itself says it shows the attract screen (or boots).

    A missing, unreadable or stale file (written by another, earlier process) is not idle.
    """
    return (isinstance(state, dict) and main_pid > 0 and state.get("pid") == main_pid
            and bool(state.get("running")) and state.get("state") in IDLE_STATES)


def kiosk_idle(read=runstate.read_state) -> tuple[bool, str]:
    """(True, why) when a restart now interrupts no resident; (False, why) otherwise."""
    u = unit("ActiveState", "SubState", "MainPID")
    active, sub = u.get("ActiveState"), u.get("SubState")
    try:
        pid = int(u.get("MainPID") or 0)
    except ValueError:
        pid = 0
    if active in NO_PROCESS or (active == "activating" and sub == "auto-restart" and pid == 0):
        return True, f"kiosk.service {active}/{sub}: no kiosk process"
    if not active:
        return False, "the state of kiosk.service cannot be read"
    state = read()
    if idle(state, pid):
        return True, f"kiosk pid {pid} is {state['state']}"
    if not isinstance(state, dict):
        return False, f"kiosk.service {active}, pid {pid}: no readable state file"
    if state.get("pid") != pid:
        return False, f"kiosk.service {active}, pid {pid}: the state file is from pid {state.get('pid')}"
    return False, f"kiosk.service {active}, pid {pid}: state {state.get('state')!r}"


def wait_idle(timeout: float, check=None, clock=time.monotonic) -> tuple[bool, str]:
    deadline = clock() + timeout
    while True:
        ok, why = (check or kiosk_idle)()
        if ok or clock() > deadline:
            return ok, why
        time.sleep(POLL)                    # polling the kiosk's published state, with a deadline


def health(version: str, restarts_before: int, base: Path = BASE, read=runstate.read_state) -> tuple[bool | None, str]:
    """(True, why) healthy now, (False, why) failed for good, (None, why) not yet."""
    u = unit("ActiveState", "SubState", "Result", "MainPID", "NRestarts")
    restarts = int(u.get("NRestarts") or 0)
    if u.get("ActiveState") == "failed" or restarts > restarts_before:
        return False, (f"kiosk.service {u.get('ActiveState')}/{u.get('SubState')} result={u.get('Result')} "
                       f"restarts={restarts - restarts_before}")
    if u.get("ActiveState") != "active":
        return None, f"kiosk.service {u.get('ActiveState')}/{u.get('SubState')}"
    pid = int(u.get("MainPID") or 0)
    running = release_of_pid(pid, base)
    if running != version:                  # the old process until the queued restart stops it
        return None, f"kiosk.service runs release {running!r}, not {version!r} (yet)"
    state = read()
    if not state or state.get("pid") != pid:
        return None, "no state from the new kiosk process yet"
    if "config_error" in state.get("service_needed", []):
        return False, "the kiosk reports config_error"
    return True, f"active, pid {pid}, state {state.get('state')}"


def wait_healthy(version: str, restarts_before: int, timeout: float | None = None,
                 settle: float | None = None, base: Path = BASE) -> tuple[bool, str]:
    timeout = seconds("KIOSK_RELEASE_HEALTH_TIMEOUT") if timeout is None else timeout
    settle = seconds("KIOSK_RELEASE_SETTLE") if settle is None else settle
    deadline = time.monotonic() + timeout
    healthy_since = None
    why = "not checked"
    while time.monotonic() < deadline:
        ok, why = health(version, restarts_before, base)
        if ok is False:
            return False, why
        if ok:
            healthy_since = healthy_since or time.monotonic()
            if time.monotonic() - healthy_since >= settle:
                return True, why
        else:
            healthy_since = None
        time.sleep(POLL)                    # polling systemd and the state file, with a deadline
    return False, f"not healthy within {timeout:.0f} s: {why}"


def _journal(event: str, message: str, priority: int, **fields) -> None:
    from kiosk import journal
    if systemd_running():
        journal.configure("journal")
    journal.log_event(event, message, priority, **fields)
    print(message, flush=True)


# --- the switch ------------------------------------------------------------------------------------
def activate(version: str, releases: Releases | None = None, idle_timeout: float | None = None,
             health_timeout: float | None = None, settle: float | None = None) -> int:
    """Switch to ``version`` when idle, restart, health gate; roll back when unhealthy (module docstring)."""
    try:
        return _activate(version, releases, idle_timeout, health_timeout, settle)
    except SystemctlError as exc:
        return _stopped(version, exc)


def _activate(version: str, releases: Releases | None, idle_timeout: float | None,
              health_timeout: float | None, settle: float | None) -> int:
    from kiosk import journal
    idle_timeout = seconds("KIOSK_RELEASE_IDLE_TIMEOUT") if idle_timeout is None else idle_timeout
    rel = releases or Releases()
    if not (rel.dir(version) / ".complete").exists():
        print(f"kiosk release: {version} is not installed in {rel.dir(version)}", file=sys.stderr)
        return EXIT_ERROR
    pending = rel.marker(".switching")
    old = pending["from"] if pending and pending.get("to") == version else rel.current()
    if old == version:
        old = rel.previous()
    if systemd_running():
        ok, why = wait_idle(idle_timeout)
        if not ok:
            return _deferred(version, old, idle_timeout, why)
    u = unit("ActiveState", "UnitFileState") if systemd_running() else {}
    managed = (systemd_running() and not u.get("ActiveState")) \
        or u.get("ActiveState") in ("active", "activating", "reloading", "deactivating", "failed") \
        or u.get("UnitFileState") in ("enabled", "enabled-runtime")     # unreadable: restart, to be safe
    before = (rel.current(), rel.previous(), pending)
    rel.mark(".switching", {"from": old, "to": version})
    rel.link(version)
    if not managed:
        rel.mark(".switching", None)
        print(f"kiosk release: {version} is current (kiosk.service not running: used at its next start)")
        return EXIT_OK
    systemctl("reset-failed", UNIT)             # also zeroes NRestarts: read it after
    restarts = int(unit("NRestarts").get("NRestarts") or 0)
    ok, why = kiosk_idle()                      # a resident may have come while we switched
    if not ok:
        rel.restore(*before)
        return _deferred(version, old, idle_timeout, why)
    systemctl("restart", "--no-block", UNIT)
    ok, why = wait_healthy(version, restarts, health_timeout, settle, rel.base)
    if ok:
        rel.mark(".switching", None)
        rel.mark(".rolled-back", None)
        _journal("release_switched", f"release {version} is running and healthy (from {old or 'none'}): {why}",
                 journal.NOTICE, RELEASE=version, RELEASE_FROM=old or "")
        return EXIT_OK
    if not old:
        rel.mark(".switching", None)
        _journal("release_rolled_back", f"release {version} is not healthy ({why}) and there is no earlier "
                 "release to roll back to", journal.ERR, RELEASE=version, REASON=why)
        return EXIT_ROLLED_BACK
    return rollback(rel, version, old, why, health_timeout, settle)


def _deferred(version: str, old: str | None, idle_timeout: float, why: str) -> int:
    from kiosk import journal
    _journal("release_deferred", f"release {version}: the kiosk was not idle within {idle_timeout:.0f} s "
             f"({why}); not switched (run it again)", journal.WARNING, RELEASE=version, RELEASE_FROM=old or "")
    return EXIT_BUSY


def rollback(rel: Releases, bad: str, good: str, why: str, health_timeout: float | None = None,
             settle: float | None = None) -> int:
    try:
        return _rollback(rel, bad, good, why, health_timeout, settle)
    except SystemctlError as exc:
        return _stopped(good, exc)


def _rollback(rel: Releases, bad: str, good: str, why: str, health_timeout: float | None,
              settle: float | None) -> int:
    from kiosk import journal
    rel.mark(".switching", {"from": bad, "to": good, "rollback": True})   # a re-run finishes it
    rel.link(good)
    rel.mark(".rolled-back", {"version": bad, "to": good, "reason": why, "time": time.time()})
    systemctl("reset-failed", UNIT)             # also zeroes NRestarts: read it after
    restarts = int(unit("NRestarts").get("NRestarts") or 0)
    systemctl("restart", "--no-block", UNIT)
    ok, after = wait_healthy(good, restarts, health_timeout, settle, rel.base)
    rel.mark(".switching", None)
    _journal("release_rolled_back", f"release {bad} rolled back to {good}: {why}; {good} is "
             + ("healthy again" if ok else f"NOT healthy either: {after}"), journal.ERR,
             RELEASE=bad, RELEASE_TO=good, REASON=why)
    return EXIT_ROLLED_BACK


def summary(rel: Releases | None = None) -> dict:
    """The running and previous release (and the last rollback), for ``kiosk status``."""
    rel = rel or Releases()
    out: dict[str, object] = {"current": rel.current(), "previous": rel.previous(),
                              "installed": rel.installed()}
    pid = int(unit("MainPID").get("MainPID") or 0) if systemd_running() else 0
    out["running"] = release_of_pid(pid, rel.base) if pid else None
    if (rolled := rel.marker(".rolled-back")) is not None:
        out["rolled_back"] = rolled
    if (pending := rel.marker(".switching")) is not None:
        out["switching"] = pending
    return out


# --- kiosk release ... ----------------------------------------------------------------------------------
def register(sub) -> None:
    rp = sub.add_parser("release", help="side-by-side releases: status, activate, rollback")
    rs = rp.add_subparsers(dest="release_command", metavar="ACTION", required=True)
    st = rs.add_parser("status", help="current, previous and installed releases")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    ac = rs.add_parser("activate", help="switch when idle, restart, health gate, roll back if unhealthy")
    ac.add_argument("version")
    ac.add_argument("--idle-timeout", type=float, help="seconds (default $KIOSK_RELEASE_IDLE_TIMEOUT or 1800)")
    ac.add_argument("--health-timeout", type=float,
                    help="seconds (default $KIOSK_RELEASE_HEALTH_TIMEOUT or 120)")
    ac.set_defaults(func=cmd_activate)
    ln = rs.add_parser("link", help="only point current at VERSION (no restart: a chroot, an image build)")
    ln.add_argument("version")
    ln.set_defaults(func=lambda a: (Releases().link(a.version), EXIT_OK)[1])
    rr = rs.add_parser("restart", help="restart the current release when idle, with the health gate")
    rr.set_defaults(func=lambda a: activate(Releases().current() or "-"))
    rb = rs.add_parser("rollback", help="switch back to the previous release (with the health gate)")
    rb.set_defaults(func=cmd_rollback)
    ck = rs.add_parser("check", help="exit 0 only when the current release runs and is healthy "
                       "(1 when it is not, or when it cannot be checked)")
    ck.set_defaults(func=cmd_check)


def cmd_status(args) -> int:
    info = summary()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"current:   {info['current'] or '-'} (running: {info['running'] or '-'})")
        print(f"previous:  {info['previous'] or '-'}")
        print(f"installed: {' '.join(info['installed']) or '-'}")
        if "rolled_back" in info:
            r = info["rolled_back"]
            print(f"rolled back: {r.get('version', '?')} -> {r.get('to', '?')}: {r.get('reason', '?')}")
    return EXIT_OK


def cmd_activate(args) -> int:
    return activate(args.version, idle_timeout=args.idle_timeout, health_timeout=args.health_timeout)


def cmd_rollback(args) -> int:
    rel = Releases()
    pending = rel.marker(".switching")
    if pending and pending.get("rollback") and pending.get("to") and pending.get("from"):
        print(f"kiosk release: finishing the interrupted rollback {pending['from']} -> {pending['to']}")
        return rollback(rel, pending["from"], pending["to"], "finishing an interrupted rollback")
    cur, prev = rel.current(), rel.previous()
    if not prev:
        print("kiosk release: no previous release to roll back to", file=sys.stderr)
        return EXIT_ERROR
    idle_timeout = seconds("KIOSK_RELEASE_IDLE_TIMEOUT")
    if systemd_running():
        ok, why = wait_idle(idle_timeout)
        if not ok:
            return _deferred(prev, cur, idle_timeout, why)
    return rollback(rel, cur or "?", prev, "rollback requested")


def cmd_check(args) -> int:
    rel = Releases()
    cur = rel.current()
    if not cur:
        print(f"kiosk release check: no current release in {rel.base}", file=sys.stderr)
        return EXIT_ERROR
    if not systemd_running():               # cannot check is not healthy: Mender must not commit on it
        print(f"kiosk release check: {cur}: cannot check, systemd is not running", file=sys.stderr)
        return EXIT_ERROR
    ok, why = health(cur, int(unit("NRestarts").get("NRestarts") or 0), rel.base)
    print(f"{cur}: {'healthy' if ok else 'NOT healthy'}: {why}")
    return EXIT_OK if ok else EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk.appliance.release")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["release", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
