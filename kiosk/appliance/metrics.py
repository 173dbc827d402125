"""Fleet metrics: Prometheus text for the node exporter's textfile collector.

No personal data, ever: counters by outcome and error code, device and clock
states, the time of the last successful session and the release.  The file is
written atomically (temp file + rename in the same directory), as the textfile
collector requires, to ``[metrics] directory`` (default /run/kiosk/metrics,
which install.sh points prometheus-node-exporter at).

    writer = MetricsWriter(cfg.metrics, bus).attach()    # in the kiosk, once
    writer.write()                                        # also every interval_seconds

Sources: the Bus ('state', 'service') and the kiosk's journal events (a sink),
so nothing in the session needs to know about metrics.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from kiosk import __version__, journal

FILENAME = "kiosk.prom"
# Session outcomes as the kiosk's states and events show them.
OUTCOME_STATES = {"success": "success", "resident_error": "resident_error"}
OUTCOME_EVENTS = {"session_timeout": "timeout"}
# A PIN pad left alone logs session_timeout with TIMEOUT=pin, but the session goes on:
# it is not an outcome.
NOT_AN_OUTCOME = {"session_timeout": ("pin",)}
ERROR_EVENTS = ("card_error", "linkage_error", "printer_error")
DEVICE_CONDITIONS = {"reader": ("no_reader",), "printer": ("printer_offline",),
                     "paper": ("printer_paper_out",), "display": ("no_display",),
                     "clock": ("clock_unsynchronized",), "config": ("config_error",)}
_LABEL_SAFE = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


def _label(value: str) -> str:
    return str(value).translate(_LABEL_SAFE)[:64]


class MetricsWriter:
    def __init__(self, section, bus=None, clock: Callable[[], float] = time.time,
                 version: str = __version__, kiosk_id: str = ""):
        self.directory = Path(section.directory)
        self.interval = section.interval_seconds
        self.enabled = section.enabled
        self.bus = bus
        self._clock = clock
        self.version = version
        self.kiosk_id = kiosk_id
        self._lock = threading.Lock()
        self.sessions: dict[str, int] = {k: 0 for k in ("success", "resident_error", "timeout")}
        self.errors: dict[tuple[str, str], int] = {}
        self.conditions: set[str] = set()
        self.state = "booting"
        self.last_success: float | None = None
        self.started = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- sources ---------------------------------------------------------------------------
    def attach(self) -> "MetricsWriter":
        if self.bus is not None:
            self.bus.subscribe("state", self._on_state)
            self.bus.subscribe("service", self._on_service)
        journal.add_sink(self.on_record)
        return self

    def detach(self) -> None:
        journal.remove_sink(self.on_record)

    def _on_state(self, _topic: str, payload: dict) -> None:
        state = str(getattr(payload["state"], "value", payload["state"]))
        with self._lock:
            changed = state != self.state
            self.state = state
            if changed and state in OUTCOME_STATES:
                self.sessions[OUTCOME_STATES[state]] += 1
                if state == "success":
                    self.last_success = self._clock()
        if changed and state in OUTCOME_STATES:
            self.write()

    def _on_service(self, _topic: str, payload: dict) -> None:
        cond = str(getattr(payload["condition"], "value", payload["condition"]))
        with self._lock:
            (self.conditions.add if payload.get("active") else self.conditions.discard)(cond)
        self.write()

    def on_record(self, record: dict) -> None:
        event = record.get("EVENT", "")
        with self._lock:
            if event in OUTCOME_EVENTS and record.get("TIMEOUT") not in NOT_AN_OUTCOME.get(event, ()):
                self.sessions[OUTCOME_EVENTS[event]] += 1
            if event in ERROR_EVENTS:
                key = (event, record.get("ERROR_CODE") or "unknown")
                self.errors[key] = self.errors.get(key, 0) + 1

    # -- output ----------------------------------------------------------------------------
    def render(self) -> str:
        with self._lock:
            sessions = dict(self.sessions)
            errors = dict(self.errors)
            conditions = set(self.conditions)
            state, last = self.state, self.last_success
        out = ["# HELP kiosk_info The running myna-kiosk release.", "# TYPE kiosk_info gauge",
               f'kiosk_info{{version="{_label(self.version)}",kiosk_id="{_label(self.kiosk_id)}"}} 1',
               "# HELP kiosk_sessions_total Resident sessions by outcome since the kiosk started.",
               "# TYPE kiosk_sessions_total counter"]
        out += [f'kiosk_sessions_total{{outcome="{k}"}} {v}' for k, v in sorted(sessions.items())]
        out += ["# HELP kiosk_errors_total Card, linkage and printer errors by event and code.",
                "# TYPE kiosk_errors_total counter"]
        out += [f'kiosk_errors_total{{event="{_label(e)}",code="{_label(c)}"}} {v}'
                for (e, c), v in sorted(errors.items())]
        out += ["# HELP kiosk_device_ok 1 when the device or condition is fine, 0 when it needs service.",
                "# TYPE kiosk_device_ok gauge"]
        for device, conds in DEVICE_CONDITIONS.items():
            out.append(f'kiosk_device_ok{{device="{device}"}} {0 if conditions & set(conds) else 1}')
        out += ["# HELP kiosk_service_needed 1 while any service condition is open.",
                "# TYPE kiosk_service_needed gauge", f"kiosk_service_needed {1 if conditions else 0}",
                "# HELP kiosk_state The kiosk's current state (1 for the current one).",
                "# TYPE kiosk_state gauge", f'kiosk_state{{state="{_label(state)}"}} 1',
                "# HELP kiosk_last_success_timestamp_seconds When the last session succeeded (0: none yet).",
                "# TYPE kiosk_last_success_timestamp_seconds gauge",
                f"kiosk_last_success_timestamp_seconds {last or 0:.0f}",
                "# HELP kiosk_start_timestamp_seconds When this kiosk process started.",
                "# TYPE kiosk_start_timestamp_seconds gauge", f"kiosk_start_timestamp_seconds {self.started:.0f}"]
        return "\n".join(out) + "\n"

    def write(self) -> bool:
        """Atomically replace DIRECTORY/kiosk.prom; False (never raises) when it cannot."""
        if not self.enabled:
            return False
        text = self.render()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".kiosk-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o644)             # the node exporter runs as another user
            os.replace(tmp, self.directory / FILENAME)
            return True
        except OSError:
            return False

    def start(self) -> "MetricsWriter":
        self.write()
        self._thread = threading.Thread(target=self._run, name="kiosk-metrics", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.write()
        self.detach()
