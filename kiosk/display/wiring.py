"""Production wiring for ``kiosk run``: the real reader, LEDs, printer and linkage.

Each part belongs to another area and is imported lazily here, so the
display package (and its tests) never depend on them; a part that cannot
start is left out with a note on stderr and a journald event, and the kiosk
keeps serving residents.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from kiosk import journal
from kiosk.signals import Bus


@dataclass
class Parts:
    reader_factory: Callable
    tray: Any = None                       # SimReader when the card tray is on
    printer: Any = None
    receipt_builder: Any = None
    linkage_factory: Any = None
    gateway_available: bool = False
    demo: bool = False                     # the linkage uses the loopback reference gateway
    lights: Any = None
    clock: Any = None                      # timesync.ClockWatch: today() is None while unsynchronised
    today: Callable | None = None
    closers: list = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - shutting down: every part gets its close, journaled
                journal.log_swallowed("wiring.close", exc)


def _note(text: str) -> None:
    print(f"kiosk: {text}", file=sys.stderr, flush=True)


def build_parts(cfg, bus: Bus, *, local_gateway: bool = True) -> Parts:
    """Everything the session needs, from ``cfg``."""
    from kiosk.nfc.reader import open_reader
    from kiosk.nfc.sim.reader import SimReader

    if cfg.reader.uri:
        uri = cfg.reader.uri
        parts = Parts(reader_factory=lambda: open_reader(uri))
    else:
        tray = SimReader(name="Simulated reader (card tray F1-F9)")
        parts = Parts(reader_factory=lambda: tray, tray=tray)

    try:
        from kiosk.leds import StatusLights
        parts.lights = StatusLights.from_config(cfg.leds, bus)
        if hasattr(parts.lights, "close"):
            parts.closers.append(parts.lights.close)
    except Exception as exc:  # noqa: BLE001 - the kiosk runs without LEDs; StatusLights journals its own
        _note(f"status LEDs not available ({type(exc).__name__})")

    try:
        from kiosk.printer.receipt import build_receipt
        from kiosk.printer.service import ReceiptService
        parts.printer = ReceiptService.from_config(cfg, bus)
        parts.receipt_builder = build_receipt
        if hasattr(parts.printer, "close"):
            parts.closers.append(parts.printer.close)
    except Exception as exc:  # noqa: BLE001 - the kiosk runs without a printer; journaled here
        journal.log_swallowed("wiring.printer", exc, journal.ERR)
        _note(f"receipt printer not available ({type(exc).__name__})")

    try:
        from kiosk.linkage.client import GatewayClient
        from kiosk.linkage.engine import LinkageEngine
        section = cfg.linkage
        if not section.gateway and not cfg.reader.uri and local_gateway:
            # Desktop / demo with the simulated card: the loopback reference gateway.
            from kiosk.linkage.reference import start_local_gateway
            gw = start_local_gateway()
            parts.closers.append(gw.stop)
            section = replace(section, gateway=gw.url, ca=gw.ca_path)
            parts.demo = True              # screens of this linkage carry a DEMO badge
        client = GatewayClient.from_config(section)
        if client is not None:
            # Each gateway call keeps the card worker alive for its own worst case, no longer.
            from kiosk.appliance.health import HEALTH
            client.busy = HEALTH.busy_hook("card")
        if client is not None and hasattr(client, "close"):
            parts.closers.append(client.close)
        kiosk_id = cfg.kiosk.id
        parts.linkage_factory = lambda card, status: LinkageEngine(card, status, client, kiosk_id)
        parts.gateway_available = client is not None
    except Exception as exc:  # noqa: BLE001 - the kiosk runs without the linkage; journaled below
        _note(f"Mynaportal linkage not available ({type(exc).__name__})")
        journal.log_event("linkage_error", "linkage unavailable at start", journal.WARNING,
                          ERROR_CODE=getattr(exc, "code", type(exc).__name__))

    parts.clock = build_clock(bus).start()
    parts.closers.append(parts.clock.stop)
    parts.today = parts.clock.today
    return parts


def build_clock(bus: Bus, **kwargs):
    """The session's ``today``: None (no date judgment) while the clock is not synchronised."""
    from kiosk.appliance.timesync import ClockWatch
    from kiosk.signals import ServiceCondition
    return ClockWatch(on_change=lambda ok: bus.service(ServiceCondition.CLOCK_UNSYNCED, not ok,
                                                       "" if ok else "NTP not synchronised"), **kwargs)


def wait_for_display(open_once: Callable, bus: Bus, status, stop: threading.Event, *,
                     retry: float = 2.0, driver: str = "", monotonic=time.monotonic,
                     hotplug: Callable | None = None, safety_retry: float = 60.0):
    """The DisplayResult once a screen opens, or None when ``stop`` is set first.

    No display is not a crash: the kiosk tells systemd it is up (READY=1, so
    no start timeout, no restart loop, no start-limit reboot) with a STATUS
    that says what it waits for, journals ``display_missing`` once per reason,
    lights the service LED pattern, keeps the watchdog fed from this loop and
    tries again when a DRM device appears (a monitor switched on, a cable
    plugged in: a uevent, kiosk.appliance.hotplug) and every ``safety_retry``
    seconds (plymouth letting go of the screen sends none).  Without a uevent
    monitor, or for a device that exists but does not open, it polls every
    ``retry`` seconds.  ``hotplug``: the watch factory (tests pass their own).
    """
    from kiosk.appliance import notify
    from kiosk.appliance.health import HEALTH
    from kiosk.signals import ServiceCondition

    result = open_once()
    if result.ok:
        return result
    interval = notify.watchdog_interval()
    if interval:
        retry = min(retry, interval / 4)      # beat well inside the watchdog's grace
    started = monotonic()
    watchdog = None
    reason = None
    from kiosk.appliance.hotplug import HotplugWatch
    watch = (hotplug or HotplugWatch)()
    tried = monotonic()
    try:
        while not result.ok:
            if result.problem != reason:
                reason = result.problem
                code = getattr(reason, "value", str(reason))
                journal.log_event("display_missing", f"no display ({code}); waiting for one, no restart",
                                  journal.ERR, ERROR_CODE=code, DRIVER=driver or "default",
                                  DETAIL=result.detail, HOTPLUG=watch.mode)
                _note(f"no display: {code} ({result.detail}); waiting")
                bus.service(ServiceCondition.NO_DISPLAY, True, code)
                status.set_override(f"waiting for a display: {code}")
                if watchdog is None:
                    status.ready()
                    HEALTH.register("ui")
                    watchdog = notify.start_watchdog(components=("ui",))
            HEALTH.beat("ui")
            if watch.live and getattr(reason, "value", reason) == "no_display_device":
                plugged = watch.wait(retry, stop)          # a uevent, or time to beat again
                if stop.is_set():
                    return None
                if not plugged and monotonic() - tried < safety_retry:
                    continue
            elif stop.wait(retry):
                return None
            tried = monotonic()
            result = open_once()
        journal.log_event("display_found", "display opened", journal.NOTICE, DRIVER=driver or "default",
                          WAITED_SEC=f"{monotonic() - started:.0f}")
        bus.service(ServiceCondition.NO_DISPLAY, False)
        status.set_override(None)
        return result
    finally:
        watch.close()
        if watchdog is not None:
            watchdog.stop()
