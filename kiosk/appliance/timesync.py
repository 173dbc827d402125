"""Is the clock trustworthy?  A Pi has no RTC: until NTP has synchronised, "today" is a guess.

Certificate and card expiry, the licence renewal window and the date on a
slip all depend on today's date, so the kiosk makes no such judgment while the
clock is not synchronised (``today_if_synchronised`` returns None then) and
journals the condition once per change.

Sources, best first:
- the kernel's own flag: ``adjtimex(2)`` reports STA_UNSYNC until an NTP client
  has disciplined the clock (read-only with modes 0; works for ``kiosk status``);
- systemd-timesyncd's marker ``/run/systemd/timesync/synchronized`` (touched on
  every synchronisation since systemd 250).  Inside kiosk.service this is the
  source: ProtectClock= and ``~@clock`` deny adjtimex even read-only (EPERM),
  as the nspawn bench showed, so the kiosk relies on timesyncd, which
  install.sh configures.

The NTP servers come from ``[clock] ntp_servers`` in kiosk.toml; install.sh
writes them to /etc/systemd/timesyncd.conf.d/50-kiosk.conf (``timesyncd_conf``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

STA_UNSYNC = 0x0040
TIME_ERROR = 5                       # adjtimex's return value for "clock not synchronised"
MARKER = Path("/run/systemd/timesync/synchronized")
JST = dt.timezone(dt.timedelta(hours=9))


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h> (glibc, 64-bit and 32-bit alike: longs and ints).
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
                ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
                ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("_reserved", ctypes.c_int * 11)]


@dataclass(frozen=True)
class ClockState:
    synchronized: bool
    source: str                      # "adjtimex" | "timesyncd" | "none"
    max_error_ms: int | None = None  # the kernel's maximum error estimate

    def to_json(self) -> dict:
        return {"synchronized": self.synchronized, "source": self.source, "max_error_ms": self.max_error_ms}


def _adjtimex() -> tuple[int, _Timex] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        tx = _Timex()                # modes = 0: read only
        rc = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    return (rc, tx) if rc >= 0 else None


def clock_state(marker: Path = MARKER, adjtimex: Callable = _adjtimex) -> ClockState:
    """Whether the system clock is synchronised to a time source (never raises)."""
    result = adjtimex()
    if result is not None:
        rc, tx = result
        synced = rc != TIME_ERROR and not tx.status & STA_UNSYNC
        return ClockState(synced, "adjtimex", int(tx.maxerror // 1000))
    try:
        return ClockState(marker.exists(), "timesyncd")
    except OSError:
        return ClockState(False, "none")


def is_synchronized() -> bool:
    return clock_state().synchronized


class ClockWatch:
    """``today()`` for the session: the date in Japan, or None while the clock is not trusted.

    Checks at most every ``recheck`` seconds (adjtimex is cheap, the session asks
    often), journals ``clock_unsynchronized`` / ``clock_synchronized`` on every
    change, and tells ``on_change(synchronized)`` (the service condition).
    """

    def __init__(self, state: Callable[[], ClockState] | None = None, recheck: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 on_change: Callable[[bool], None] | None = None):
        self._state = state or (lambda: clock_state())
        self.recheck = recheck
        self._monotonic = monotonic
        self._wall = wall
        self.on_change = on_change
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self.synchronized: bool | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "ClockWatch":
        """Also check every ``recheck`` s, so the journal and the LEDs follow NTP on an idle kiosk."""
        self._thread = threading.Thread(target=self._run, name="kiosk-clock", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                self.check()
            except Exception as exc:      # noqa: BLE001 - the clock thread must not die; journaled
                from kiosk import journal
                journal.log_swallowed("clock.check", exc)
            if self._stop.wait(max(self.recheck, 0.5)):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self) -> bool:
        with self._lock:
            now = self._monotonic()
            if now - self._checked < self.recheck and self.synchronized is not None:
                return self.synchronized
            self._checked = now
            state = self._state()
            changed = state.synchronized != self.synchronized
            self.synchronized = state.synchronized
        if changed:
            from kiosk import journal     # lazily: install.sh runs this file with the bare python3
            if state.synchronized:
                journal.log_event("clock_synchronized", "system clock synchronised; date checks on",
                                  journal.NOTICE, CLOCK_SOURCE=state.source)
            else:
                journal.log_event("clock_unsynchronized",
                                  "system clock not synchronised (NTP); no judgment that depends on "
                                  "today's date until it is", journal.WARNING, CLOCK_SOURCE=state.source)
            if self.on_change is not None:
                try:
                    self.on_change(state.synchronized)
                except Exception as exc:  # noqa: BLE001 - a listener's fault is not the clock's; journaled
                    journal.log_swallowed("clock.on_change", exc)
        return state.synchronized

    def today(self) -> dt.date | None:
        """Today in Japan, or None: "the kiosk does not know today's date"."""
        if not self.check():
            return None
        return dt.datetime.fromtimestamp(self._wall(), JST).date()

    def now(self) -> dt.datetime | None:
        """Now in Japan (for a slip's printed date), or None while unsynchronised."""
        if not self.check():
            return None
        return dt.datetime.fromtimestamp(self._wall(), JST)


def timesyncd_conf(servers: list[str], fallback: list[str] | None = None) -> str | None:
    """/etc/systemd/timesyncd.conf.d/50-kiosk.conf for ``[clock] ntp_servers``; None: keep Debian's."""
    if not servers:
        return None
    lines = ["# Written by deploy/install.sh from [clock] ntp_servers in /etc/kiosk/kiosk.toml.",
             "# A closed city network has no pool.ntp.org: only the city's servers are asked.",
             "[Time]", "NTP=" + " ".join(servers), "FallbackNTP=" + " ".join(fallback or [])]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """python3 timesync.py /etc/kiosk/kiosk.toml: print the timesyncd drop-in (or nothing)."""
    import sys
    import tomllib
    try:
        with open(argv[0], "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return 0
    except (OSError, tomllib.TOMLDecodeError, IndexError) as exc:
        print(f"timesync: cannot read the config: {exc}", file=sys.stderr)
        return 1
    servers = data.get("clock", {}).get("ntp_servers", [])
    text = timesyncd_conf([str(s) for s in servers]) if isinstance(servers, list) else None
    if text:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
