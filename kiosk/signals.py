"""The kiosk's states and a tiny publish/subscribe bus between its parts.

The session (display) publishes what the kiosk is doing; the status LEDs,
the journal and the watchdog health check subscribe.  Keeping this as one
small module means no part imports another part's internals.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import Callable


class KioskState(str, Enum):
    BOOTING = "booting"
    READY = "ready"                  # attract screen, waiting for a card
    WORKING = "working"              # card present, reading / signing
    WAITING_PIN = "waiting_pin"      # PIN pad on screen
    SUCCESS = "success"
    RESIDENT_ERROR = "resident_error"   # wrong PIN, unsupported card, card pulled …
    CARD_LEFT = "card_left"          # flow finished, card still on the reader


class ServiceCondition(str, Enum):
    """Conditions a technician must fix; they survive every state until cleared."""

    NO_READER = "no_reader"
    PRINTER_PAPER_OUT = "printer_paper_out"
    PRINTER_OFFLINE = "printer_offline"
    CONFIG_ERROR = "config_error"
    NO_DISPLAY = "no_display"        # waiting for a screen (kiosk/display/wiring.py)
    CLOCK_UNSYNCED = "clock_unsynchronized"   # no NTP yet: no date judgments (appliance/timesync.py)


Listener = Callable[[str, dict], None]
_reporting = threading.local()


def _listener_failed(topic: str, exc: Exception) -> None:
    """Journal a listener's fault once; a journal sink that publishes again cannot recurse."""
    if getattr(_reporting, "active", False):
        return
    _reporting.active = True
    try:
        from kiosk import journal       # lazily: the journal's sinks may themselves use the bus
        journal.log_swallowed(f"bus.{topic}", exc)
    finally:
        _reporting.active = False


class Bus:
    """Synchronous pub/sub.  Topics: 'state' {state}, 'service' {condition, active}."""

    def __init__(self):
        self._lock = threading.Lock()
        self._listeners: dict[str, list[Listener]] = {}

    def subscribe(self, topic: str, listener: Listener) -> None:
        with self._lock:
            self._listeners.setdefault(topic, []).append(listener)

    def publish(self, topic: str, **payload) -> None:
        with self._lock:
            listeners = list(self._listeners.get(topic, ()))
        for listener in listeners:
            try:
                listener(topic, payload)
            except Exception as exc:     # noqa: BLE001 - one broken listener never stops the kiosk; journaled
                _listener_failed(topic, exc)

    def state(self, state: KioskState) -> None:
        self.publish("state", state=KioskState(state))

    def service(self, condition: ServiceCondition, active: bool, detail: str = "") -> None:
        self.publish("service", condition=ServiceCondition(condition), active=active, detail=detail)
