"""What the card layer's errors and counters carry (third `make mutation` run, issue 13).

The CLI prints ``KioskError.details`` as JSON (``{"error": {"code", "message", ...}}``)
and the UI picks the PIN screen by ``pin_id``: a wrong PIN, a locked counter or an
unexpected status word must name the PIN (and the try count or status word) it is about.
"""

from __future__ import annotations

import dataclasses

import pytest

from kiosk.errors import CardError, PinFormatError, PinLockedError, PinWrongError
from kiosk.nfc.card import CardSession, interpret_counter
from kiosk.nfc.pins import PIN_SPECS, Pin
from kiosk.nfc.sim.profile import SimPin, load_profile
from kiosk.nfc.sim.reader import SimReader

SELECT_JPKI = "00A4040C0A" + "D392F000260100000001"
SELECT_LICENCE = "00A4040C10A0000002310600000000000000000000"


def session_with(licence: SimPin | None = None) -> CardSession:
    profile = load_profile("resident")
    if licence is not None:
        profile = dataclasses.replace(profile, pins={**profile.pins, "licence": licence})
    return CardSession(SimReader(profile).connect())


# -- counters --------------------------------------------------------------------------------
@pytest.mark.parametrize("pin_id", sorted(PIN_SPECS))
@pytest.mark.parametrize("sw", [0x63C3, 0x63C0, 0x6983, 0x6984, 0x9000, 0x6300])
def test_every_counter_names_its_pin_and_its_maximum(pin_id, sw):
    counter = interpret_counter(pin_id, sw)
    assert (counter.id, counter.max_tries) == (pin_id, PIN_SPECS[pin_id].max_tries)


def test_an_unexpected_counter_answer_carries_its_status_word():
    with pytest.raises(CardError) as err:
        interpret_counter("licence", 0x6A82)
    assert err.value.details == {"sw": "6A82"}


def test_the_counter_after_a_right_pin_is_that_pins():
    session = session_with()
    session.read_licence(Pin("licence", "1357"))
    counter = session.counters["licence"]
    assert (counter.id, counter.tries_left, counter.max_tries, counter.locked) == ("licence", 10, 10, False)


# -- VERIFY's errors ---------------------------------------------------------------------------
def test_a_wrong_pin_names_the_pin_and_the_tries_left():
    with pytest.raises(PinWrongError) as err:
        session_with().read_licence(Pin("licence", "0000"))
    assert err.value.details == {"pin_id": "licence", "tries_left": 9}


def test_the_last_wrong_try_names_the_pin_it_locked():
    with pytest.raises(PinLockedError) as err:
        session_with(SimPin("1357", 1, 10)).read_licence(Pin("licence", "0000"))
    assert err.value.details == {"pin_id": "licence"}


@pytest.mark.parametrize("pin", [Pin("licence", "1357"), None], ids=["typed", "none_typed"])
def test_a_locked_counter_names_its_pin_and_gets_no_verify(pin):
    session = session_with(SimPin("1357", 0, 10))
    with pytest.raises(PinLockedError) as err:
        session.read_licence(pin)
    assert err.value.details == {"pin_id": "licence"}


def test_no_pin_typed_for_a_card_with_a_pin_set_asks_for_one():
    with pytest.raises(PinFormatError) as err:
        session_with().read_licence(None)
    assert err.value.details == {"pin_id": "licence"}


def test_a_pin_typed_for_another_counter_names_the_counter_it_was_offered_to():
    with pytest.raises(PinFormatError) as err:
        session_with().read_licence(Pin("jpki_auth", "1234"))
    assert err.value.details == {"pin_id": "licence"}


def test_an_unexpected_answer_to_verify_carries_the_status_word_and_the_pin(scripted):
    conn = scripted([(SELECT_JPKI, "9000"), ("00200098", "63C3"), ("002000980432343638", "6A80")])
    with pytest.raises(CardError) as err:
        with CardSession(conn).jpki_key("auth", Pin("jpki_auth", "2468")):
            pass
    assert err.value.details == {"sw": "6A80", "pin_id": "jpki_auth"}


# -- Pin -----------------------------------------------------------------------------------------
def test_the_signature_password_is_uppercased_from_a_to_z():
    assert bytes(Pin("jpki_sign", "az09za").take()) == b"AZ09ZA"


@pytest.mark.parametrize("pin_id, typed", [("licence", b"\xb1\xb2\xb3\xb4"), ("jpki_sign", b"\xe3\x81\x82ABCDE")])
def test_non_ascii_bytes_are_not_a_pin(pin_id, typed):
    with pytest.raises(PinFormatError) as err:
        Pin(pin_id, typed)
    assert err.value.details == {"pin_id": pin_id}


@pytest.mark.parametrize("pin_id, typed, says", [("licence", "12", "4 digits"), ("jpki_sign", "ab", "6-16")])
def test_a_format_error_names_the_format_of_that_kind_of_pin(pin_id, typed, says):
    with pytest.raises(PinFormatError) as err:
        Pin(pin_id, typed)
    assert says in err.value.message and err.value.details == {"pin_id": pin_id}


def test_an_unknown_pin_id_is_named():
    with pytest.raises(PinFormatError) as err:
        Pin("nope", "1234")
    assert err.value.details == {"pin_id": "nope"}


def test_a_pin_is_taken_once():
    pin = Pin("licence", "1357")
    pin.take()
    with pytest.raises(PinFormatError) as err:
        pin.take()
    assert err.value.details == {"pin_id": "licence"}


# -- the status: keys and token ------------------------------------------------------------------
def token_answer(token: bytes) -> str:
    return (token.ljust(32, b"\x00") + bytes(128)).hex() + "9000"


def test_each_counter_is_filed_under_its_own_pin_and_the_token_is_kept():
    status = session_with().read_status()
    assert sorted(status.pins) == ["jpki_auth", "jpki_sign", "juki", "kenhojo", "licence"]
    assert all(key == counter.id for key, counter in status.pins.items())
    assert status.token == "JPKIAPICCTOKEN2"


@pytest.mark.parametrize("raw, token", [
    (b"XOTHER TOKEN X", "XOTHER TOKEN X"),          # NUL padding goes, the card's own letters stay
    (b"\xffBAD", "\ufffdBAD"),                       # not ASCII: replaced, never an exception
    (b"", None),
], ids=["other", "not_ascii", "empty"])
def test_a_card_with_another_token_is_unsupported_and_its_token_reported(scripted, raw, token):
    conn = scripted([(SELECT_JPKI, "9000"), ("00B0860000", token_answer(raw))])
    status = CardSession(conn).read_status()
    conn.assert_done()
    assert (status.card_type, status.token) == ("unsupported", token)


# -- which card, which error ----------------------------------------------------------------------
@pytest.mark.parametrize("pin", [None, "1357"], ids=["no_pin", "pin"])
def test_a_plain_my_number_card_has_no_licence_and_an_unknown_card_is_unsupported(pin):
    from kiosk.errors import NoLicenceError, UnsupportedCardError
    for profile, error in (("myna-plain", NoLicenceError), ("unknown", UnsupportedCardError)):
        session = CardSession(SimReader(load_profile(profile)).connect())
        typed = Pin("licence", pin) if pin else None
        with pytest.raises(error) as err:
            session.read_licence(typed)
        assert type(err.value) is error, profile


@pytest.mark.parametrize("wef01", ["C20101", "01C101", "C10201", "C101"])
def test_a_malformed_pin_setting_file_is_a_protocol_error(scripted, wef01):
    """Only C1 01 xx says whether a PIN is set; anything else is not guessed."""
    from kiosk.errors import CardProtocolError
    conn = scripted([(SELECT_LICENCE, "9000"), ("00B09A0000", wef01 + "9000")])
    session = CardSession(conn)
    session.apdu.current_df = None
    with pytest.raises(CardProtocolError):
        session._select(bytes.fromhex(SELECT_LICENCE[10:]))
        session._read_licence_pin_set()
