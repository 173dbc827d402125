"""A PIN check's outcome reaches the card's status (CardSession._learn, issue 12),
so a later preflight sees the counter the check left; the fourth `make mutation`
pass found no test of it in tests/nfc."""

from __future__ import annotations

import datetime as dt

from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim import pki

from .test_conversation import SELECT_JPKI, status_script

WRONG_AUTH_PIN = [
    (SELECT_JPKI, "9000"),
    ("00200098", "63C3"),                  # fresh counter: 3 left
    ("002000980432343638", "63C2"),        # VERIFY 2468: wrong, 2 left
]


def test_a_wrong_pin_check_leaves_its_new_counter_in_the_status(scripted):
    _key, cert = pki.card_certificate("auth", "learn", dt.date(2024, 5, 10), dt.date(2029, 5, 2))
    conn = scripted(status_script(cert) + WRONG_AUTH_PIN)
    session = CardSession(conn)
    before = session.read_status()
    check = session.check_pin("jpki_auth", Pin("jpki_auth", "2468"))
    conn.assert_done()
    assert (check.ok, check.tries_left) == (False, 2)
    assert session.status is not None and session.status.pins["jpki_auth"].tries_left == 2
    assert session.status.pins["jpki_sign"] == before.pins["jpki_sign"]
    assert before.pins["jpki_auth"].tries_left == 3            # the earlier snapshot is left as it was


def test_a_pin_check_before_any_status_read_leaves_no_status(scripted):
    conn = scripted(WRONG_AUTH_PIN)
    session = CardSession(conn)
    assert session.check_pin("jpki_auth", Pin("jpki_auth", "2468")).tries_left == 2
    conn.assert_done()
    assert session.status is None
