"""Liveness of the kiosk's loops, for the systemd watchdog.

The UI loop and the card worker each ``beat()`` while they are alive.  The
watchdog pings systemd only when *every* registered component has beaten
recently, so a hung card worker or a frozen UI gets the service restarted;
a timer thread alone would hide both.

A loop that is inside a blocking call with its own deadline (the card worker
waiting on the linkage gateway or the card) is ``busy``: it counts as alive
until that deadline, and only then as stale.  So a slow but working gateway
never gets the kiosk killed, and a call that hangs past its deadline still does.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

DEFAULT_BUSY_SECONDS = 30.0          # a card operation (read, sign, decode) at worst


class Health:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}
        self._busy_until: dict[str, float] = {}
        self._budgets: dict[str, float] = {}

    def register(self, component: str) -> None:
        with self._lock:
            self._beats.setdefault(component, self._clock())

    def beat(self, component: str) -> None:
        with self._lock:
            self._beats[component] = self._clock()

    def set_budget(self, component: str, seconds: float) -> None:
        """How long one blocking call of ``component`` may take (from the config)."""
        with self._lock:
            self._budgets[component] = float(seconds)

    def budget(self, component: str) -> float:
        with self._lock:
            return self._budgets.get(component, DEFAULT_BUSY_SECONDS)

    @contextmanager
    def busy(self, component: str, seconds: float | None = None):
        """A blocking call with a deadline: alive until ``seconds`` (the budget) have passed."""
        seconds = self.budget(component) if seconds is None else seconds
        with self._lock:
            self._beats[component] = self._clock()
            self._busy_until[component] = self._clock() + seconds
        try:
            yield
        finally:
            with self._lock:
                self._busy_until.pop(component, None)
                self._beats[component] = self._clock()

    def components(self) -> list[str]:
        """Every component that has registered or beaten so far."""
        with self._lock:
            return list(self._beats)

    def stale(self, max_age: float) -> list[str]:
        """Components that have not beaten within ``max_age`` seconds."""
        now = self._clock()
        with self._lock:
            return [c for c, t in self._beats.items()
                    if now - t > max_age and not now < self._busy_until.get(c, float("-inf"))]

    def alive(self, max_age: float) -> bool:
        with self._lock:
            registered = bool(self._beats)
        return registered and not self.stale(max_age)


HEALTH = Health()
