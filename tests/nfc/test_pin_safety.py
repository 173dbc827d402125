"""The PIN rules, enforced by the card layer whatever the caller does."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kiosk.errors import (ForbiddenOperation, KioskError, PinFormatError, PinLockedError,
                          PinWrongError)
from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.profile import load_profile, shipped_profiles

FORMAT_MESSAGES = {"PIN has the wrong format (4 digits)",
                   "password has the wrong format (6-16 of A-Z, 0-9)"}
WRONG = {"licence": "0000", "jpki_auth": "0000", "jpki_sign": "WRONG1", "ic_pin1": "0000"}


def verifies_with_data(card, pin_id=None):
    return [v for v in card.verifies if v.with_data and (pin_id is None or v.pin_id == pin_id)]


def attempt(session, pin_id, value):
    if pin_id in ("licence", "ic_pin1"):
        return session.read_licence(Pin(pin_id, value))
    return session.jpki_sign("auth" if pin_id == "jpki_auth" else "sign", Pin(pin_id, value), b"x")


@pytest.mark.parametrize("profile,pin_id", [("resident", "licence"), ("resident", "jpki_auth"),
                                            ("resident", "jpki_sign"), ("ic-licence", "ic_pin1")])
def test_one_wrong_pin_costs_exactly_one_try(sim, profile, pin_id):
    reader, card = sim(profile)
    session = CardSession(reader.connect())
    session.read_status()
    before = card.pin_tries(pin_id)
    with pytest.raises(PinWrongError) as err:
        attempt(session, pin_id, WRONG[pin_id])
    assert card.pin_tries(pin_id) == before - 1 == err.value.tries_left
    assert len(verifies_with_data(card)) == 1


@pytest.mark.parametrize("profile,pin_id,value", [("licence-locked", "licence", "1357"),
                                                  ("jpki-locked", "jpki_auth", "2468")])
def test_locked_counter_receives_no_verify_with_data(sim, profile, pin_id, value):
    reader, card = sim(profile)
    session = CardSession(reader.connect())
    session.read_status()
    with pytest.raises(PinLockedError):
        attempt(session, pin_id, value)
    assert verifies_with_data(card) == []


def test_exhausting_the_last_try_reports_locked_and_stops(sim):
    reader, card = sim("licence-last-try")
    session = CardSession(reader.connect())
    assert session.read_status().pins["licence"].last_try
    with pytest.raises(PinLockedError):
        session.read_licence(Pin("licence", "0000"))
    with pytest.raises(PinLockedError):
        session.read_licence(Pin("licence", "1357"))
    assert len(verifies_with_data(card)) == 1


# Arbitrary text, plus text near the formats (4 digits; 6-16 letters and digits) so
# both bounds of both formats are crossed, not just approached.
NEAR_FORMATS = st.one_of(st.text(max_size=20), st.text(alphabet="0129", min_size=3, max_size=5),
                         st.text(alphabet="AZaz09-", min_size=5, max_size=17))


@given(NEAR_FORMATS)
@example("123")
@example("1234")
@example("12345")
@example("A1B2C")
@example("a1b2c3")
@example("A1B2C3D4E5F6G7H8")
@example("A1B2C3D4E5F6G7H8J")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ill_formed_pins_send_nothing(sim, typed):
    for pin_id in ("licence", "jpki_sign"):
        try:
            pin = Pin(pin_id, typed)
        except PinFormatError as exc:
            assert str(exc) in FORMAT_MESSAGES, "error text must not depend on what was typed"
            continue
        assert (pin_id == "licence" and typed.isascii() and typed.isdigit() and len(typed) == 4) or \
               (pin_id == "jpki_sign" and 6 <= len(typed) <= 16 and typed.isascii() and typed.isalnum())
        pin.wipe()


def test_format_is_checked_before_anything_is_sent(sim):
    reader, card = sim("resident")
    session = CardSession(reader.connect())
    session.read_status()
    sent = card.apdu_count
    for bad in ("123", "12345", "12a4", "１２３４", ""):
        with pytest.raises(PinFormatError):
            session.read_licence(Pin("licence", bad))
    assert card.apdu_count == sent


def test_a_pin_is_used_once_and_wiped(sim):
    reader, card = sim("resident")
    session = CardSession(reader.connect())
    session.read_status()
    pin = Pin("licence", "1357")
    session.read_licence(pin)
    assert pin.wiped
    with pytest.raises(PinFormatError):
        session.read_licence(pin)
    assert len(verifies_with_data(card)) == 1
    for leak in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            leak(Pin("licence", "1357"))
    assert "1357" not in repr(Pin("licence", "1357")) + str(Pin("licence", "1357"))


def test_typed_buffer_is_wiped_by_the_pin():
    typed = bytearray(b"1357")
    Pin("licence", typed)
    assert typed == bytearray(4)


def test_pin_of_another_counter_is_refused_before_sending(sim):
    reader, card = sim("resident")
    session = CardSession(reader.connect())
    session.read_status()
    with pytest.raises(PinFormatError):
        session.jpki_sign("auth", Pin("licence", "2468"), b"x")
    assert verifies_with_data(card) == []


def test_each_signature_needs_a_fresh_entry(sim):
    reader, card = sim("resident")
    session = CardSession(reader.connect())
    with session.jpki_key("sign", Pin("jpki_sign", "KIOSK2025")) as key:
        key.sign(b"one")
        with pytest.raises(ForbiddenOperation):
            key.sign(b"two")
    with pytest.raises(ForbiddenOperation):
        key.certificate()
    session.jpki_sign("sign", Pin("jpki_sign", "KIOSK2025"), b"two")
    assert len(verifies_with_data(card, "jpki_sign")) == 2 and card.signatures == 2


def run_every_operation(reader, card):
    """Status, a wrong and a right licence PIN, both JPKI keys; errors collected."""
    texts = []
    session = CardSession(reader.connect())
    status = session.read_status()
    profile = card.profile
    attempts = []
    if status.card_type == "myna_licence":
        attempts = [("licence", "0000"), ("licence", profile.pins["licence"].value
                                         if status.licence_pin_set else "0000")]
    elif status.card_type == "ic_licence":
        attempts = [("ic_pin1", "0000"), ("ic_pin1", profile.pins["ic_pin1"].value)]
    if status.card_type in ("myna", "myna_licence"):
        attempts += [("jpki_auth", "0000"), ("jpki_auth", profile.pins["jpki_auth"].value),
                     ("jpki_sign", "WRONG1"), ("jpki_sign", profile.pins["jpki_sign"].value)]
    for pin_id, value in attempts:
        try:
            result = attempt(session, pin_id, value)
            if hasattr(result, "to_json"):
                texts.append(repr(result.to_json()))
        except KioskError as exc:
            texts += [str(exc), repr(exc), repr(exc.to_json())]
    session.close()
    return texts


@pytest.mark.parametrize("name", sorted(shipped_profiles()))
def test_no_pin_in_traces_logs_or_errors_and_no_my_number(sim, journal_records, caplog, name):
    reader, card = sim(name)
    host_trace = []
    texts = []
    conn = reader.connect()
    session = CardSession(conn, trace=host_trace.append)
    session.read_status()
    session.close()
    reader.insert(card)
    texts += run_every_operation(reader, card)
    assert card.forbidden_touches == [], "something touched the My Number EF or 照合番号A"
    rendered = "\n".join(e.render() for e in card.trace + host_trace)
    pins = [p.value for p in load_profile(name).pins.values() if p.value != "****"]
    haystack = rendered + "\n".join(texts) + repr(journal_records) + caplog.text
    for value in pins:
        assert value not in haystack
        assert value.encode().hex().upper() not in rendered.replace(" ", "")
    my_number = load_profile(name).person.get("my_number")
    if my_number:
        assert my_number not in haystack


def test_pin_is_wiped_when_the_card_fails_before_the_verify(sim):
    from kiosk.errors import CardRemovedError
    from kiosk.nfc.sim.card import Faults
    reader, card = sim("resident", Faults(remove_after=1))
    session = CardSession(reader.connect())
    pin = Pin("jpki_auth", "2468")
    with pytest.raises(CardRemovedError):
        session.jpki_sign("auth", pin, b"x")
    assert pin.wiped
    reader, card = sim("resident", Faults(remove_after=1))
    pin = Pin("licence", "1357")
    with pytest.raises(CardRemovedError):
        CardSession(reader.connect()).read_licence(pin)
    assert pin.wiped
