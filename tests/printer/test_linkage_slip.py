"""The no-gateway linkage slip: which PINs are needed, tries left, certificate validity."""

from __future__ import annotations

from kiosk.config import Config
from kiosk.printer.receipt import build_receipt


def test_checklist_slip_lists_jpki_counters_and_certificate_validity(resident):
    _profile, status, _licence = resident
    receipt = build_receipt("linkage_checklist", "en", Config(), status=status,
                            linkage={"checklist": ["card", "auth_pin", "sign_pin"]})
    text = "\n".join(receipt.lines)
    assert "3 of 3" in text and "5 of 5" in text
    assert "2029" in text, "the certificate's valid-until date is on the slip"
    assert "10 of 10" not in text, "the licence PIN is not needed for the linkage"


def test_done_slip_has_no_counters(resident):
    _profile, status, _licence = resident
    receipt = build_receipt("linkage_done", "en", Config(), status=status,
                            linkage={"reference": "REF-1"})
    text = "\n".join(receipt.lines)
    assert "REF-1" in text and "3 of 3" not in text
