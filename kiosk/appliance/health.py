"""Liveness of the kiosk's loops, for the systemd watchdog.

The UI loop and the card worker each ``beat()`` while they are alive.  The
watchdog pings systemd only when *every* registered component has beaten
recently, so a hung card worker or a frozen UI gets the service restarted;
a timer thread alone would hide both.
"""

from __future__ import annotations

import threading
import time


class Health:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}

    def register(self, component: str) -> None:
        with self._lock:
            self._beats.setdefault(component, self._clock())

    def beat(self, component: str) -> None:
        with self._lock:
            self._beats[component] = self._clock()

    def components(self) -> list[str]:
        """Every component that has registered or beaten so far."""
        with self._lock:
            return list(self._beats)

    def stale(self, max_age: float) -> list[str]:
        """Components that have not beaten within ``max_age`` seconds."""
        now = self._clock()
        with self._lock:
            return [c for c, t in self._beats.items() if now - t > max_age]

    def alive(self, max_age: float) -> bool:
        with self._lock:
            registered = bool(self._beats)
        return registered and not self.stale(max_age)


HEALTH = Health()
