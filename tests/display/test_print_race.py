"""The wipe-during-print race: a slip is built from a copy taken on the UI thread.

Reproduction (before the fix): the resident presses Print on the licence
screen and at once Back; Back wipes the licence (minimal retention) while the
receipt thread is still building the slip from that same live object, so a
slip built from wiped data went to the printer.  Here the build is held on an
event until the UI has wiped, and the printed slip must still be the full,
correct one; the copy is wiped once the slip is built.
"""

from __future__ import annotations

import threading

from escpos.printer import Dummy

from kiosk.config import Config
from kiosk.printer.receipt import build_receipt
from kiosk.printer.service import ReceiptService
from kiosk.signals import Bus

from .helpers import card_data, live_session, pump_until

CUT = b"\x1dV"


def test_a_slip_built_while_the_ui_wipes_is_built_from_the_copy():
    cfg = Config()
    cfg.printer.backend = "dummy"
    cfg.receipt.include_licence_number = True
    device = Dummy()
    svc = ReceiptService(cfg.printer, Bus(), open_printer=lambda: device)
    entered, gate = threading.Event(), threading.Event()
    built: list = []
    seen: list = []
    stamps: list = []                           # the time the session passed (trusted clock only)

    def gated_builder(kind, lang, cfg_, *, status=None, licence=None, linkage=None, now=None):
        entered.set()
        assert gate.wait(20), "test never opened the gate"
        seen.append(licence)
        stamps.append(now)
        receipt = build_receipt(kind, lang, cfg_, status=status, licence=licence, linkage=linkage, now=now)
        built.append(receipt)
        return receipt

    s, reader, woke = live_session(cfg, svc, gated_builder)
    s.start()
    try:
        reader.insert("resident")
        assert pump_until(s, woke, lambda: s.screen == "summary")
        for wid in ("btn_continue", "item_licence", "key_1", "key_3", "key_5", "key_7", "key_ok"):
            s.tap(wid)
        assert pump_until(s, woke, lambda: s.screen == "licence")
        live = s.licence
        s.tap("btn_print")
        assert entered.wait(10)                     # the receipt thread is building the slip now
        s.tap("btn_back")                           # ... and the UI wipes the licence meanwhile
        assert s.screen == "menu" and s.licence is None and live.expiry is None
        gate.set()
        assert pump_until(s, woke, lambda: device.output.count(CUT) == 1)
        assert pump_until(s, woke, lambda: s.inbox.empty() and not s.pump())     # its PrintDone applied
        assert s.notice is None                     # "printed" is said only on the screen it was printed from
    finally:
        gate.set()
        s.stop()
        svc.close()
    # The slip is the one a fresh read of the same card gives: nothing of it was wiped away.
    status, lic = card_data("resident", "1357")
    assert stamps and stamps[0] is not None          # the test's clock is trusted (today=TODAY)
    expected = build_receipt("licence", "ja", cfg, status=status, licence=lic, now=stamps[0])
    assert built and built[0].lines == expected.lines
    assert lic.expiry is not None and any(lic.licence_number[-4:] in line for line in built[0].lines)
    # The copy the thread used is wiped once the slip is built.
    assert seen[0] is not live and seen[0].expiry is None and seen[0].licence_number is None
