"""sd_notify for systemd: READY=1, STATUS=…, and a health-gated watchdog.

systemd-python's ``daemon.notify`` is used when installed (the ``systemd``
extra); otherwise a few lines of stdlib send the same datagram, so the kiosk
behaves identically in a bare venv.  Without ``NOTIFY_SOCKET`` (not under
systemd) every call is a harmless no-op returning False.

The watchdog pings ``WATCHDOG=1`` at half of ``WatchdogSec`` *only* while the
Health registry shows every required loop alive.  A free-running timer thread
would keep a frozen UI or a hung card worker "alive" forever; here a stalled
loop stops the pings, systemd kills the kiosk with SIGABRT and restarts it.
"""

from __future__ import annotations

import os
import socket
import threading

from kiosk import journal
from kiosk.appliance.health import HEALTH, Health
from kiosk.appliance.runstate import BusTracker

REQUIRED = ("ui", "card")


def _stdlib_notify(state: str) -> bool:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or address[0] not in "@/":
        return False
    if address[0] == "@":
        address = "\0" + address[1:]          # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), address)
        return True
    except OSError:
        return False


def _systemd_daemon():
    try:
        from systemd import daemon
    except ImportError:
        return None
    return daemon


def notify(state: str) -> bool:
    """Send one sd_notify message (``KEY=value`` lines); True if it was delivered."""
    daemon = _systemd_daemon()
    if daemon is None:
        return _stdlib_notify(state)
    try:
        return bool(daemon.notify(state))
    except (OSError, ValueError):
        return False


def notify_ready(status: str = "ready") -> bool:
    """Call once: the first frame is on screen and the reader loop runs."""
    return notify(f"READY=1\nSTATUS={status}")


def notify_status(text: str) -> bool:
    """One line for ``systemctl status kiosk`` (never personal data)."""
    return notify("STATUS=" + " ".join(str(text).split()))


def notify_stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """WatchdogSec in seconds when systemd asked *this* process to ping, else None."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """Checks Health every ``interval / 2`` and pings systemd only when it is good."""

    def __init__(self, interval: float, health: Health = HEALTH, components=REQUIRED,
                 max_age: float | None = None, send=notify):
        self.interval = interval
        self.period = interval / 2
        # A loop may legitimately be busy for a while (the card worker waits on the
        # linkage gateway: linkage.timeout x attempts), so the default grace is
        # three quarters of WatchdogSec; systemd still kills a stalled kiosk
        # within WatchdogSec of the last ping.
        self.max_age = max_age if max_age is not None else 0.75 * interval
        self.health = health
        self.components = tuple(components)
        self._send = send
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self.checks = 0
        self.pings = 0
        self.withheld: list[str] = []
        self._thread: threading.Thread | None = None

    def not_alive(self) -> list[str]:
        """Required components that never beat or beat too long ago."""
        known = set(self.health.components())
        stale = set(self.health.stale(self.max_age))
        return [c for c in self.components if c not in known or c in stale]

    def check(self) -> bool:
        """One round: ping if every component is alive, else log why not."""
        bad = self.not_alive()
        if not bad:
            self._send("WATCHDOG=1")
            if self.withheld:
                journal.log_event("watchdog", "all loops alive again; watchdog pings resumed",
                                  journal.NOTICE, STATE="resumed")
            self.withheld = []
        elif bad != self.withheld:
            journal.log_event("watchdog", f"withholding watchdog ping: {', '.join(bad)} not alive",
                              journal.WARNING, STATE="withheld", STALE=",".join(bad),
                              MAX_AGE_SEC=f"{self.max_age:g}")
            self.withheld = bad
        with self._cond:
            self.checks += 1
            self.pings += not bad
            self._cond.notify_all()
        return not bad

    def wait_checks(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` checks ran (tests and diagnostics)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.checks >= count, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception as exc:          # noqa: BLE001 - the watchdog thread must not die; journaled
                journal.log_swallowed("watchdog.check", exc)
            self._stop.wait(self.period)

    def start(self) -> "Watchdog":
        for c in self.components:
            self.health.register(c)
        self._thread = threading.Thread(target=self._run, name="kiosk-watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_watchdog(health: Health = HEALTH, components=REQUIRED, max_age: float | None = None,
                   send=notify) -> Watchdog | None:
    """Start pinging when systemd set WatchdogSec for this process; None otherwise."""
    interval = watchdog_interval()
    if interval is None:
        return None
    return Watchdog(interval, health, components, max_age, send).start()


class StatusReporter(BusTracker):
    """STATUS= that tells the truth: the kiosk's state plus every open service condition.

    Follows the Bus ('state', 'service'); sends only on a change, so
    ``systemctl status kiosk`` shows e.g. ``ready; service needed: no_reader``
    or ``waiting for a display: no_display_device``.  Codes only, never
    resident data.
    """

    def __init__(self, bus, send=notify):
        super().__init__(bus)
        self._send = send
        self.override: str | None = None       # e.g. "waiting for a display: …"
        self.last: str | None = None
        self.readied = False                   # STATUS follows from READY=1 on

    def changed(self) -> None:
        self.push()

    def text(self) -> str:
        with self._lock:
            head = self.override or self.state
            conds = sorted(c for c in self.conditions if not (self.override and c == "no_display"))
        if not conds:
            return head
        if head == "booting":                   # the session shows only its service screen
            return f"service needed: {', '.join(conds)}"
        return f"{head}; service needed: {', '.join(conds)}"

    def set_override(self, text: str | None) -> None:
        with self._lock:
            self.override = text
        self.push()

    def push(self, force: bool = False) -> bool:
        text = self.text()
        if not self.readied or (text == self.last and not force):
            return False
        self.last = text
        return bool(self._send("STATUS=" + " ".join(text.split())))

    def ready(self) -> bool:
        """READY=1 with the current STATUS (once the kiosk serves, or waits for a display)."""
        text = self.text()
        self.last = text
        self.readied = True
        return bool(self._send(f"READY=1\nSTATUS={' '.join(text.split())}"))
