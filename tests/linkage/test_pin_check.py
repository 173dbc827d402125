"""The resident's optional PIN check (issue 12): CardSession.check_pin on the simulated card.

Each check is exactly one VERIFY with data, after the empty VERIFY that reads the counter;
a locked counter gets none; the buffer is wiped; nothing is signed.  A right signature
password also reads the signature certificate's notAfter (JPKI EF 0001 is readable only in
that verified state, card-protocol.md §3.1).
"""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.errors import CardProtocolError, ForbiddenOperation, PinFormatError
from kiosk.nfc.card import CardSession
from kiosk.nfc.model import PinCheck
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.profile import load_profile
from kiosk.nfc.sim.reader import SimReader

from .test_malformed_certificates import CASES, profile_with

RIGHT = {"jpki_auth": "2468", "jpki_sign": "KIOSK2025"}
WRONG = {"jpki_auth": "0000", "jpki_sign": "WRONG1"}
INS_SIGN = 0x2A


def insert(profile: str):
    reader = SimReader()
    card = reader.insert(load_profile(profile))
    return CardSession(reader.connect()), card


def with_data(card, pin_id=None):
    return [v for v in card.verifies if v.with_data and (pin_id is None or v.pin_id == pin_id)]


@pytest.fixture
def traced():
    """(session, card, trace): every exchange the card layer made, from its own trace hook."""
    def make(profile: str):
        reader = SimReader()
        card = reader.insert(load_profile(profile))
        trace: list = []
        session = CardSession(reader.connect(), trace=trace.append)
        return session, card, trace
    return make


def test_a_right_signature_password_reads_the_signature_certificate_expiry():
    session, card = insert("resident")
    status = session.read_status()
    assert status.sign_cert_not_after is None               # a status read cannot know it
    pin = Pin("jpki_sign", RIGHT["jpki_sign"])
    check = session.check_pin("jpki_sign", pin)
    assert check == PinCheck("jpki_sign", ok=True, tries_left=5, locked=False,
                             signature_not_after=dt.date(2029, 5, 2))
    assert len(with_data(card)) == 1 and pin.wiped
    assert card.pin_tries("jpki_sign") == 5


def test_the_expiry_is_that_of_the_signature_certificate_even_when_expired():
    session, _ = insert("cert-expired")
    session.read_status()
    check = session.check_pin("jpki_sign", Pin("jpki_sign", RIGHT["jpki_sign"]))
    assert check.ok and check.signature_not_after == dt.date(2024, 5, 2)


def test_a_right_auth_pin_reads_no_certificate_and_signs_nothing(traced):
    session, card, trace = traced("resident")
    session.read_status()
    before = len(trace)
    check = session.check_pin("jpki_auth", Pin("jpki_auth", RIGHT["jpki_auth"]))
    assert check == PinCheck("jpki_auth", ok=True, tries_left=3, locked=False)
    assert len(with_data(card)) == 1
    commands = [e.ins for e in trace[before:]]
    assert INS_SIGN not in commands and 0xB0 not in commands          # no READ BINARY, no signature


@pytest.mark.parametrize("pin_id, left", [("jpki_auth", 2), ("jpki_sign", 4)])
def test_a_wrong_pin_is_a_result_that_costs_exactly_one_try(pin_id, left):
    session, card = insert("resident")
    session.read_status()
    pin = Pin(pin_id, WRONG[pin_id])
    check = session.check_pin(pin_id, pin)
    assert check == PinCheck(pin_id, ok=False, tries_left=left, locked=False)
    assert card.pin_tries(pin_id) == left and len(with_data(card)) == 1 and pin.wiped


def test_the_counter_is_read_right_before_the_one_verify(traced):
    session, card, trace = traced("resident")
    session.check_pin("jpki_sign", Pin("jpki_sign", WRONG["jpki_sign"]))
    verifies = [e for e in trace if e.ins == 0x20]
    assert [v.lc for v in verifies] == [0, len(WRONG["jpki_sign"])]     # empty VERIFY, then the one with data
    assert all(v.header[3] == 0x9B for v in verifies) and verifies[1].data is None   # masked in the trace


def test_a_locked_counter_gets_no_pin_and_the_result_says_locked():
    session, card = insert("jpki-locked")
    session.read_status()
    pin = Pin("jpki_auth", RIGHT["jpki_auth"])
    check = session.check_pin("jpki_auth", pin)
    assert check == PinCheck("jpki_auth", ok=False, tries_left=0, locked=True)
    assert with_data(card) == [] and pin.wiped


def test_the_last_try_spent_wrong_is_locked_and_never_retried():
    session, card = insert("resident")
    for left in (2, 1):
        assert session.check_pin("jpki_auth", Pin("jpki_auth", "0000")).tries_left == left
    last = session.check_pin("jpki_auth", Pin("jpki_auth", "0000"))
    assert last.locked and not last.ok
    assert len(with_data(card)) == 3
    again = session.check_pin("jpki_auth", Pin("jpki_auth", RIGHT["jpki_auth"]))
    assert again.locked and len(with_data(card)) == 3                 # the locked counter got nothing


@pytest.mark.parametrize("pin_id", ["licence", "kenhojo", "juki"])
def test_only_the_two_jpki_pins_can_be_checked(pin_id):
    session, card = insert("resident")
    pin = Pin(pin_id, "1357")
    with pytest.raises(ForbiddenOperation):
        session.check_pin(pin_id, pin)
    assert with_data(card) == [] and pin.wiped


def test_a_pin_of_the_other_counter_is_refused_before_the_card():
    session, card = insert("resident")
    pin = Pin("jpki_auth", RIGHT["jpki_auth"])
    with pytest.raises(PinFormatError):
        session.check_pin("jpki_sign", pin)
    assert with_data(card) == [] and pin.wiped


def test_a_malformed_signature_certificate_is_a_typed_card_error_after_one_verify(tmp_path):
    reader = SimReader()
    card = reader.insert(load_profile(str(profile_with(tmp_path, "sign", CASES["not-der"]))))
    session = CardSession(reader.connect())
    with pytest.raises(CardProtocolError):
        session.check_pin("jpki_sign", Pin("jpki_sign", RIGHT["jpki_sign"]))
    assert len(with_data(card)) == 1


def test_a_check_never_leaves_a_pin_for_a_signature():
    """The verified state is not a licence to sign: a signature needs its own VERIFY."""
    session, card = insert("resident")
    assert session.check_pin("jpki_sign", Pin("jpki_sign", RIGHT["jpki_sign"])).ok
    session.jpki_sign("sign", Pin("jpki_sign", RIGHT["jpki_sign"]), b"challenge")
    assert len(with_data(card, "jpki_sign")) == 2


def test_the_status_learns_the_check_without_changing_the_original():
    session, _ = insert("resident")
    status = session.read_status()
    check = session.check_pin("jpki_sign", Pin("jpki_sign", RIGHT["jpki_sign"]))
    learned = status.with_pin_check(check)
    assert learned.sign_cert_not_after == dt.date(2029, 5, 2) and status.sign_cert_not_after is None
    wrong = status.with_pin_check(PinCheck("jpki_auth", ok=False, tries_left=2, locked=False))
    assert wrong.pins["jpki_auth"].tries_left == 2 and wrong.sign_cert_not_after is None
    assert learned.to_json()["sign_cert_not_after"] == "2029-05-02"


def test_the_date_comes_from_the_signature_certificate_not_the_auth_one(tmp_path):
    """A signature certificate issued after a move: its own notAfter, not the auth certificate's."""
    from kiosk.nfc.sim import pki
    der = pki.card_certificate("sign", "resident", dt.date(2026, 6, 1), dt.date(2031, 3, 15), {"name": "試験"})[1]
    reader = SimReader()
    card = reader.insert(load_profile(str(profile_with(tmp_path, "sign", der))))
    session = CardSession(reader.connect())
    status = session.read_status()
    assert status.auth_cert_not_after == dt.date(2029, 5, 2)
    check = session.check_pin("jpki_sign", Pin("jpki_sign", RIGHT["jpki_sign"]))
    assert check.signature_not_after == dt.date(2031, 3, 15) and len(with_data(card)) == 1


def test_a_signature_certificate_without_expiry_is_not_a_made_up_date(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from kiosk.nfc.sim import pki
    key = pki.key("card-resident-sign")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sign")])
    der = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
           .serial_number(7).not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
           .not_valid_after(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    reader = SimReader()
    reader.insert(load_profile(str(profile_with(tmp_path, "sign", der))))
    check = CardSession(reader.connect()).check_pin("jpki_sign", Pin("jpki_sign", RIGHT["jpki_sign"]))
    assert check.ok and check.signature_not_after is None and check.signature_no_expiry


def test_a_right_password_on_a_card_without_a_signature_certificate_is_a_right_password():
    """An under-15s card has no signature certificate: the check says "right", the date stays
    unknown, and no card error ends the session after the resident spent the try."""
    session, card = insert("minor")
    status = session.read_status()
    assert status.sign_cert_present is False
    check = session.check_pin("jpki_sign", Pin("jpki_sign", RIGHT["jpki_sign"]))
    assert check.ok and check.signature_not_after is None and not check.signature_no_expiry
    assert len(with_data(card)) == 1


def test_the_card_sessions_own_status_learns_each_check():
    """A later preflight (built from the card layer's status) sees the counter a check left."""
    session, card = insert("resident")
    session.read_status()
    session.check_pin("jpki_auth", Pin("jpki_auth", WRONG["jpki_auth"]))
    assert session.status is not None and session.status.pins["jpki_auth"].tries_left == 2
    session.check_pin("jpki_sign", Pin("jpki_sign", RIGHT["jpki_sign"]))
    assert session.status.sign_cert_not_after == dt.date(2029, 5, 2)
