"""Liveness of the kiosk's loops, for the systemd watchdog.

The UI loop and the card worker each ``beat()`` while they are alive.  The
watchdog pings systemd only when *every* registered component has beaten
recently, so a hung card worker or a frozen UI gets the service restarted;
a timer thread alone would hide both.

A loop that is inside a blocking call with its own deadline (the card worker
waiting on the linkage gateway or the card) is ``busy``: it counts as alive
until that deadline, and only then as stale.  So a slow but working gateway
never gets the kiosk killed, and a call that hangs past its deadline still does.

``busy`` nests: one worker command may be a challenge fetch, a VERIFY and sign,
and a submit.  Each gateway call and each card operation opens its own ``busy``
with its own deadline (kiosk/display/wiring.py hands the hooks to the gateway
client and the card session); when it ends, the enclosing one (the command, with
the default budget for the work between calls) starts a fresh stretch.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

DEFAULT_BUSY_SECONDS = 30.0          # a worker command's own work between its calls (photo decode, parsing)


class Health:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}
        self._busy_until: dict[str, float] = {}
        self._busy_stack: dict[str, list[float]] = {}       # seconds of each open busy()
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
        seconds = self.budget(component) if seconds is None else float(seconds)
        with self._lock:
            now = self._clock()
            self._beats[component] = now
            self._busy_stack.setdefault(component, []).append(seconds)
            self._busy_until[component] = now + seconds
        try:
            yield
        finally:
            with self._lock:
                now = self._clock()
                stack = self._busy_stack.get(component, [])
                if stack:
                    stack.pop()
                if stack:                # back in the enclosing call: a fresh stretch of its budget
                    self._busy_until[component] = now + stack[-1]
                else:
                    self._busy_until.pop(component, None)
                    self._busy_stack.pop(component, None)
                self._beats[component] = now

    def busy_hook(self, component: str):
        """``busy`` for one component, as the hardware layers take it: hook(seconds)."""
        return lambda seconds: self.busy(component, seconds)

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
