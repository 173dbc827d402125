"""Production wiring for ``kiosk run``: the real reader, LEDs, printer and linkage.

Each part belongs to another area and is imported lazily here, so the
display package (and its tests) never depend on them; a part that cannot
start is left out with a note on stderr and a journald event, and the kiosk
keeps serving residents.
"""

from __future__ import annotations

import sys
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
    lights: Any = None
    closers: list = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                pass


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
    except Exception as exc:
        _note(f"status LEDs not available ({type(exc).__name__})")

    try:
        from kiosk.printer.receipt import build_receipt
        from kiosk.printer.service import ReceiptService
        parts.printer = ReceiptService.from_config(cfg, bus)
        parts.receipt_builder = build_receipt
        if hasattr(parts.printer, "close"):
            parts.closers.append(parts.printer.close)
    except Exception as exc:
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
        client = GatewayClient.from_config(section)
        if client is not None and hasattr(client, "close"):
            parts.closers.append(client.close)
        kiosk_id = cfg.kiosk.id
        parts.linkage_factory = lambda card, status: LinkageEngine(card, status, client, kiosk_id)
        parts.gateway_available = client is not None
    except Exception as exc:
        _note(f"Mynaportal linkage not available ({type(exc).__name__})")
        journal.log_event("linkage_error", "linkage unavailable at start", journal.WARNING,
                          ERROR_CODE=getattr(exc, "code", type(exc).__name__))
    return parts
