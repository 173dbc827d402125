"""End to end on one bus: the receipt printer runs out of paper, the LEDs show it."""

from __future__ import annotations

import threading

from escpos.printer import Dummy

from kiosk.config import Config, LedsSection
from kiosk.leds import StatusLights
from kiosk.printer.receipt import build_receipt
from kiosk.printer.service import ReceiptService
from kiosk.signals import Bus, KioskState, ServiceCondition


class PaperOutPrinter(Dummy):
    """Answers every DLE EOT with 0x72: online, paper end."""

    paper = b"\x72"

    def _read(self) -> bytes:
        return self.paper


def test_paper_out_blinks_the_service_pattern_and_reloading_clears_it():
    bus = Bus()
    lights = StatusLights.from_config(LedsSection(enabled=True, pin_factory="mock"), bus, timescale=0.5)
    printer = PaperOutPrinter()
    cfg = Config()
    cfg.printer.backend = "dummy"
    svc = ReceiptService.from_config(cfg, bus, open_printer=lambda: printer)
    try:
        bus.state(KioskState.SUCCESS)
        assert lights.wait_frames(2)
        results, done = [], threading.Event()
        svc.submit(build_receipt("pin_status", "ja", cfg), lambda r: (results.append(r), done.set()))
        bus.state(KioskState.CARD_LEFT)              # the session goes on while the printer is asked
        assert done.wait(10) and results[0].code == "paper_out"
        assert lights.wait_frames(6)
        assert lights.conditions == {ServiceCondition.PRINTER_PAPER_OUT}
        assert lights.state == KioskState.CARD_LEFT
        printer.paper = b"\x12"                       # paper loaded
        checked = threading.Event()
        svc.check(lambda r: checked.set())
        assert checked.wait(10)
        assert lights.conditions == set()
    finally:
        svc.close()
        lights.close()
