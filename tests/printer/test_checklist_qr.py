"""The no-gateway checklist slip carries the Mynaportal QR: the resident continues on a
smartphone, so the slip must say where."""

from __future__ import annotations

import copy
import threading

import pytest

from kiosk.config import Config
from kiosk.display.scenario import run_scenario
from kiosk.printer.receipt import build_receipt

LANGS = ("ja", "en", "zh", "ko")


@pytest.mark.parametrize("lang", LANGS)
def test_checklist_slip_has_the_mynaportal_qr(resident, lang):
    _profile, status, _licence = resident
    cfg = Config()
    receipt = build_receipt("linkage_checklist", lang, cfg, status=status,
                            linkage={"checklist": ["card", "auth_pin", "sign_pin"]})
    assert receipt.qr_payloads == [cfg.receipt.qr_mynaportal]
    qr = [b for b in receipt.blocks if b.style == "qr"][0]
    caption = {"ja": "マイナポータル", "en": "Mynaportal", "zh": "Mynaportal", "ko": "마이나포털"}[lang]
    assert qr.text.startswith(caption)
    receipt.render(576)
    assert cfg.receipt.qr_mynaportal in receipt.drawn      # printed next to the code, too


def test_checklist_qr_follows_the_config(resident):
    _profile, status, _licence = resident
    cfg = copy.deepcopy(Config())
    cfg.receipt.qr_mynaportal = "https://example.invalid/portal"
    plain = build_receipt("linkage_checklist", "en", cfg, status=status, linkage={})
    assert plain.qr_payloads == ["https://example.invalid/portal"]     # one source: receipt.qr_mynaportal


class CollectingPrinter:
    """ReceiptService's submit(): keeps the receipt, answers on another thread."""

    available = True

    def __init__(self):
        self.submitted = []

    def submit(self, receipt, on_done, tag=None):
        self.submitted.append(receipt)
        ok = type("Result", (), {"ok": True, "code": None})()
        threading.Thread(target=on_done, args=(ok,), daemon=True).start()


def test_kiosk_without_gateway_prints_the_checklist_with_the_qr():
    """The whole path: the session (no gateway) builds the real slip through build_receipt."""
    from kiosk.linkage.engine import LinkageEngine

    printer = CollectingPrinter()
    r = run_scenario(["insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu",
                      "tap item_linkage", "wait_screen linkage_preflight", "tap btn_print", "advance 0.1",
                      "expect_text 印刷しました"],
                     printer=printer, receipt_builder=build_receipt, gateway_available=False,
                     linkage_factory=lambda card, status: LinkageEngine(card, status, None, "kiosk-test"))
    assert r.ok, r.errors
    assert [rc.kind for rc in printer.submitted] == ["linkage_checklist"]
    assert printer.submitted[0].qr_payloads == [Config().receipt.qr_mynaportal]
    assert not [v for v in r.cards[0].verifies if v.with_data]
