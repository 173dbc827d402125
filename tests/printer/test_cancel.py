"""ReceiptService.cancel(tag): a resident's queued slips never print after they left."""

from __future__ import annotations

import threading

from kiosk.config import Config
from kiosk.printer import backend
from kiosk.printer.receipt import build_receipt
from kiosk.printer.service import PrintResult, ReceiptService
from kiosk.signals import Bus

CUT = b"\x1dV"
READY = {backend.DLE_EOT_PRINTER: b"\x12", backend.DLE_EOT_PAPER: b"\x12"}


class Result:
    def __init__(self):
        self.done = threading.Event()
        self.value: PrintResult | None = None

    def __call__(self, result: PrintResult) -> None:
        self.value = result
        self.done.set()

    def get(self, timeout: float = 20.0) -> PrintResult:
        assert self.done.wait(timeout), "on_done was never called"
        return self.value


def test_cancel_drops_the_unstarted_jobs_of_one_tag_only(status_printer):
    class SlowPrinter(status_printer):
        """Its status answer is held until the test opens the gate: a slow or stuck printer."""

        entered = threading.Event()

        def _read(self) -> bytes:
            self.entered.set()
            return super()._read()

    cfg = Config()
    cfg.printer.backend = "dummy"
    printer = SlowPrinter(READY, threading.Event())
    svc = ReceiptService.from_config(cfg, Bus(), open_printer=lambda: printer)
    try:
        a_first, a_second, b_first = Result(), Result(), Result()
        svc.submit(build_receipt("pin_status", "ja", cfg), a_first, tag="A")
        assert printer.entered.wait(10)                  # A's first slip is printing (held)
        svc.submit(build_receipt("renewal", "ja", cfg), a_second, tag="A")
        svc.submit(build_receipt("lost_card", "ja", cfg), b_first, tag="B")

        assert svc.cancel("A") == 1                      # only the one still waiting
        assert a_second.get(0) == PrintResult(False, "cancelled")   # reported at once
        assert svc.cancel("A") == 0

        printer.gate.set()
        assert a_first.get().ok                          # a started job is not interrupted
        assert b_first.get().ok
        flushed = Result()
        svc.check(flushed)                               # FIFO: everything before it is done
        assert flushed.get().ok
        assert printer.output.count(CUT) == 2            # A's first and B's; never A's second
        assert a_second.value == PrintResult(False, "cancelled")
    finally:
        printer.gate.set()
        svc.close()
