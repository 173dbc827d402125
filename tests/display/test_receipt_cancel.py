"""Behind a slow printer, a resident's queued slip is dropped when the session
wipes them (card taken away), and the next resident's slip still prints."""

from __future__ import annotations

import threading

from escpos.printer import Dummy

from kiosk.config import Config
from kiosk.printer.receipt import build_receipt
from kiosk.printer.service import ReceiptService
from kiosk.signals import Bus

from .helpers import live_session, pump_until

CUT = b"\x1dV"


class GatedDummy(Dummy):
    """Holds every write until ``gate`` opens: a printer stuck on the first slip."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def _raw(self, msg: bytes) -> None:
        self.entered.set()
        assert self.gate.wait(20), "test never released the printer"
        super()._raw(msg)


class WatchedService(ReceiptService):
    """Counts submitted jobs, so the test can wait for the session's print thread."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.submitted = threading.Semaphore(0)

    def submit(self, receipt, on_done=None, **kwargs):
        super().submit(receipt, on_done, **kwargs)
        self.submitted.release()


def test_a_queued_slip_of_a_resident_who_left_never_prints():
    cfg = Config()
    cfg.printer.backend = "dummy"
    device = GatedDummy()
    svc = WatchedService(cfg.printer, Bus(), open_printer=lambda: device)
    s, reader, woke = live_session(cfg, svc, build_receipt)

    def wait(cond, timeout=10.0):
        return pump_until(s, woke, cond, timeout)

    s.start()
    try:
        reader.insert("resident")
        assert wait(lambda: s.screen == "summary")
        s.tap("btn_continue")
        s.tap("item_pin_status")
        assert s.screen == "pin_status"
        s.tap("btn_print")                           # resident A's first slip: the printer hangs on it
        assert svc.submitted.acquire(timeout=10) and device.entered.wait(10)
        s.tap("btn_print")                           # A's second slip waits behind it
        assert svc.submitted.acquire(timeout=10)
        reader.remove()                              # A leaves
        assert wait(lambda: s.screen == "card_removed")

        reader.insert("myna-plain")                  # resident B prints too
        assert wait(lambda: s.screen == "summary")
        s.tap("btn_continue")
        s.tap("item_lost_card")
        s.tap("btn_print")
        assert svc.submitted.acquire(timeout=10)

        device.gate.set()
        assert wait(lambda: s.notice == ("receipt.done", {}))      # B's slip printed
        assert device.output.count(CUT) == 2         # A's first (already printing) and B's only
    finally:
        device.gate.set()
        s.stop()
        svc.close()
