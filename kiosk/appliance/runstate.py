"""The running kiosk's state, published for ``kiosk status`` and ``kiosk diag``.

The kiosk process subscribes a RuntimeState to its Bus; every state change and
service condition is written atomically to /run/kiosk/state.json (mode 0644:
it holds states and condition codes only, never resident data).  The
technician's tools run as another process, so they read this file instead
of asking the kiosk, and they never have to open the reader or the printer
that the kiosk holds.

    RuntimeState(bus).attach()        # in the kiosk, once at start
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

from kiosk.signals import Bus

DEFAULT_PATH = Path(os.environ.get("RUNTIME_DIRECTORY", "/run/kiosk").split(":")[0]) / "state.json"


class BusTracker:
    """The kiosk's current state and open service conditions, followed from the Bus.

    Subclasses react in ``changed()`` (write the state file, send STATUS=)."""

    def __init__(self, bus: Bus):
        self.bus = bus
        self._lock = threading.Lock()
        self.state = "booting"
        self.conditions: dict[str, str] = {}     # condition -> detail
        self._failing = False                    # the last write failed (journalled once)

    def attach(self):
        self.bus.subscribe("state", self._on_state)
        self.bus.subscribe("service", self._on_service)
        self.changed()
        return self

    def _on_state(self, _topic: str, payload: dict) -> None:
        with self._lock:
            self.state = str(getattr(payload["state"], "value", payload["state"]))
        self.changed()

    def _on_service(self, _topic: str, payload: dict) -> None:
        cond = str(getattr(payload["condition"], "value", payload["condition"]))
        with self._lock:
            if payload.get("active"):
                self.conditions[cond] = str(payload.get("detail", ""))
            else:
                self.conditions.pop(cond, None)
        self.changed()

    def changed(self) -> None:
        pass


class RuntimeState(BusTracker):
    def __init__(self, bus: Bus, path: str | os.PathLike = DEFAULT_PATH, clock=time.time):
        super().__init__(bus)
        self.path = Path(path)
        self._clock = clock

    def changed(self) -> None:
        self.write()

    _write_lock = threading.Lock()

    def snapshot(self) -> dict:
        with self._lock:
            return {"state": self.state, "service_needed": sorted(self.conditions),
                    "details": dict(self.conditions), "pid": os.getpid(), "updated": self._clock()}

    def write(self) -> None:
        """Publish the snapshot; when that fails, publish nothing rather than an old state.

        The release switcher restarts the kiosk only when this file says idle, so a stale
        "ready" left behind by a failed write mid-session would let it cut a resident off.
        """
        # Snapshot and rename under one lock: two threads (UI, clock watch) publishing at once
        # must not let the older snapshot win the rename (the bench caught that).
        with self._write_lock:
            self._write()

    def _write(self) -> None:
        data = json.dumps(self.snapshot(), ensure_ascii=False)
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except OSError as exc:                  # status is best effort; the kiosk goes on
            self._write_failed(exc, tmp)
        else:
            self._failing = False

    def _write_failed(self, exc: OSError, tmp: str | None) -> None:
        from kiosk import journal
        for stale in ([Path(tmp)] if tmp else []) + [self.path]:
            try:
                stale.unlink(missing_ok=True)
            except OSError:
                try:                            # cannot remove it: at least stop it saying idle
                    stale.write_text(json.dumps({"state": "unknown", "pid": os.getpid()}), encoding="utf-8")
                except OSError:
                    pass
        if not self._failing:    # once per failing streak, not per state change
            self._failing = True
            journal.log_swallowed("runstate.write", exc)


def read_state(path: str | os.PathLike = DEFAULT_PATH) -> dict | None:
    """The last state the kiosk wrote, or None (not running, or never started)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    data["running"] = isinstance(pid, int) and Path(f"/proc/{pid}").exists()
    return data
