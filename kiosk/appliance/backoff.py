"""Restart back-off for kiosk.service on systemd 252 (RestartSteps= arrived in 254).

systemd restarts a crashed kiosk after a fixed ``RestartSec=``; five quick
crashes then hit the start limit, whose action reboots the Pi.  Without a
back-off a kiosk that crashes at start (a bad release, a broken library)
reboots every few seconds' worth of restarts, forever.  So the unit runs:

- ``ExecStartPre=-… -m kiosk.appliance.backoff start``: waits
  ``base * 2**(failures-1)`` seconds, capped, where ``failures`` counts the
  consecutive failed runs; journals ``restart_backoff``; stamps the start.
- ``ExecStopPost=-… -m kiosk.appliance.backoff stop``: systemd passes
  ``$SERVICE_RESULT``.  ``success`` (a clean stop) resets the count; a failure
  after a healthy run (at least ``healthy`` seconds) counts as the first one
  again; a failure soon after the start adds one.

The count lives in the StateDirectory, so it survives a reboot: a start-limit
reboot does not hand a crash loop a fresh, undelayed series.  The first start
of a boot never waits (a power cut after a crash must not delay the kiosk).
A missing display is not a failure at all: the kiosk waits for one with
READY=1 (kiosk/display/wiring.py), so it neither restarts nor reboots.
Both steps run in the unit's sandbox as the kiosk user; with the ``-``
prefix a broken state file can never stop the kiosk from starting.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "restart-backoff.json"
BASE_SEC = 5.0
# TimeoutStartSec=90s covers ExecStartPre: the cap leaves the kiosk 45 s to start.
CAP_SEC = 45.0
HEALTHY_SEC = 120.0


@dataclass
class Backoff:
    """Consecutive failed runs and the current start, as kept in the state file."""

    failures: int = 0
    boot_id: str = ""
    started: float = 0.0          # CLOCK_MONOTONIC of the last start (same boot only)

    @classmethod
    def load(cls, path: Path) -> "Backoff":
        try:
            raw = json.loads(path.read_text())
            return cls(failures=max(0, int(raw.get("failures", 0))), boot_id=str(raw.get("boot_id", "")),
                       started=float(raw.get("started", 0.0)))
        except (OSError, ValueError, TypeError, AttributeError):
            return cls()              # missing or damaged: no back-off (it must never block a start)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"failures": self.failures, "boot_id": self.boot_id, "started": self.started}))
        os.replace(tmp, path)


def delay_for(failures: int, base: float = BASE_SEC, cap: float = CAP_SEC) -> float:
    """Seconds to wait before the next start after ``failures`` consecutive failed runs."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures - 1, 30))


def boot_id(path: Path = Path("/proc/sys/kernel/random/boot_id")) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def on_start(state: Backoff, *, now: float, boot: str, base: float, cap: float) -> float:
    """The wait before this start (the state is updated for ``on_stop``)."""
    first_of_boot = state.boot_id != boot
    wait = 0.0 if first_of_boot else delay_for(state.failures, base, cap)
    state.boot_id = boot
    state.started = now + wait
    return wait


def on_stop(state: Backoff, result: str, *, now: float, boot: str, healthy: float) -> None:
    """Count this run: a clean stop resets, a failure after a healthy run starts again at one."""
    if result == "success":
        state.failures = 0
    elif state.boot_id == boot and now - state.started >= healthy:
        state.failures = 1
    else:
        state.failures += 1
    state.boot_id = boot


def _state_path() -> Path:
    # systemd sets $STATE_DIRECTORY for StateDirectory=kiosk.
    return Path(os.environ.get("STATE_DIRECTORY", "/var/lib/kiosk").split(":")[0]) / STATE_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk.appliance.backoff", description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("start", "stop"))
    parser.add_argument("--state", type=Path, default=None)
    parser.add_argument("--base", type=float, default=float(os.environ.get("KIOSK_BACKOFF_BASE_SEC", BASE_SEC)))
    parser.add_argument("--cap", type=float, default=float(os.environ.get("KIOSK_BACKOFF_CAP_SEC", CAP_SEC)))
    parser.add_argument("--healthy", type=float,
                        default=float(os.environ.get("KIOSK_BACKOFF_HEALTHY_SEC", HEALTHY_SEC)))
    args = parser.parse_args(argv)
    path = args.state or _state_path()
    state = Backoff.load(path)
    boot = boot_id()
    now = time.monotonic()
    from kiosk import journal
    if args.step == "start":
        wait = on_start(state, now=now, boot=boot, base=args.base, cap=args.cap)
        if wait:
            journal.log_event("restart_backoff", f"{state.failures} failed runs in a row; waiting {wait:.0f} s",
                              journal.WARNING, COUNT=state.failures, DELAY_SEC=f"{wait:g}")
    else:
        result = os.environ.get("SERVICE_RESULT", "success")
        on_stop(state, result, now=now, boot=boot, healthy=args.healthy)
        wait = 0.0
    try:
        state.save(path)
    except OSError as exc:
        journal.log_swallowed("backoff.save", exc)
    if wait:
        time.sleep(wait)          # this wait *is* the back-off (systemd 252 cannot grow RestartSec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
