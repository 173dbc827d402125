"""Clocks for the session's timers.

The session never reads time itself: it asks a clock, so tests and scenarios
advance a ``ManualClock`` by 30 s instead of sleeping 30 s.
"""

from __future__ import annotations

import threading
import time


class SystemClock:
    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to (``advance``)."""

    def __init__(self, start: float = 1000.0):
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
