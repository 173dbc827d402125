"""The APDU layer: caps, EOF, guards, masking, and malformed responses."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.errors import (CardProtocolError, ForbiddenOperation, KioskError)
from kiosk.nfc.apdu import AID_TEXT, AID_VISUAL, ApduChannel, build_apdu, trace_entry
from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin


def test_endless_61xx_is_capped(random_connection):
    conn = random_connection([b"\x61\x10"] * 200)
    with pytest.raises(CardProtocolError):
        ApduChannel(conn).send(0, 0xB0, 0, 0, b"", 256)
    assert len(conn.sent) <= 66


def test_repeated_6cxx_gives_up_after_one_resend(random_connection):
    conn = random_connection([b"\x6c\x10", b"\x6c\x08"])
    with pytest.raises(CardProtocolError):
        ApduChannel(conn).send(0, 0xB0, 0, 0, b"", 256)
    assert len(conn.sent) == 2


def test_verify_is_never_resent_on_6cxx(random_connection):
    conn = random_connection([b"\x6c\x04"])
    resp = ApduChannel(conn).verify(0x86, bytearray(b"1357"))
    assert len(conn.sent) == 1 and resp.sw == 0x6C04


def test_read_binary_stops_at_eof_and_refuses_zero_progress(random_connection):
    ch = ApduChannel(random_connection([b"A" * 256 + b"\x90\x00", b"B" * 10 + b"\x62\x82"]))
    assert len(ch.read_binary(lambda d: None)) == 266
    ch = ApduChannel(random_connection([b"A" * 256 + b"\x90\x00", b"\x6b\x00"]))
    assert len(ch.read_binary(lambda d: None)) == 256
    ch = ApduChannel(random_connection([b"A" * 256 + b"\x90\x00", b"\x90\x00"]))
    with pytest.raises(CardProtocolError):
        ch.read_binary(lambda d: None)


def test_read_binary_trusts_the_header_not_a_guess(random_connection):
    ch = ApduChannel(random_connection([b"\x30\x82\x01\x00" + b"x" * 252 + b"\x90\x00",
                                        b"y" * 8 + b"\x90\x00"]))
    assert len(ch.read_binary(lambda d: 0x104)) == 0x104
    ch = ApduChannel(random_connection([b"\x30\x82\x01\x00" + b"x" * 20 + b"\x6b\x00"]))
    with pytest.raises(CardProtocolError):
        ch.read_binary(lambda d: 0x104)


def test_short_response_is_a_protocol_error(random_connection):
    with pytest.raises(CardProtocolError):
        ApduChannel(random_connection([b"\x90"])).send(0, 0xA4, 4, 0x0C, b"\x01")


@pytest.mark.parametrize("df,cmd", [
    (AID_TEXT, (0x00, 0xA4, 0x02, 0x0C, b"\x00\x01")),       # SELECT the My Number EF
    (AID_TEXT, (0x00, 0xB0, 0x81, 0x00, b"")),               # READ BINARY by short EF 01
    (AID_TEXT, (0x00, 0x20, 0x00, 0x94, b"")),               # 照合番号A counter
    (AID_TEXT, (0x00, 0xA4, 0x02, 0x0C, b"\x00\x14")),
    (AID_VISUAL, (0x00, 0x20, 0x00, 0x93, b"")),
], ids=["select-my-number", "read-sfi-01", "verify-collation-a", "select-collation-a", "visual-collation-a"])
def test_my_number_guard_refuses_before_sending(random_connection, df, cmd):
    conn = random_connection([])
    ch = ApduChannel(conn)
    ch.current_df = df
    with pytest.raises(ForbiddenOperation):
        ch.send(*cmd)
    assert conn.sent == []


def test_trace_masks_verify_and_change_data():
    for ins in (0x20, 0x24):
        e = trace_entry(build_apdu(0, ins, 0, 0x86, b"1357"), b"", 0x9000)
        assert e.masked and "1357" not in e.render() and "31333537" not in e.render()
    e = trace_entry(build_apdu(0, 0xB0, 0, 0, b"", 256), b"", 0x9000)
    assert not e.masked


def test_sent_verify_apdu_is_wiped():
    class Keeper:
        def transmit(self, apdu):
            self.kept = apdu                  # the very buffer the channel built
            self.at_send = bytes(apdu)
            return b"\x90\x00"
    conn = Keeper()
    ApduChannel(conn).verify(0x86, bytearray(b"1357"))
    assert conn.at_send.endswith(b"1357")
    assert not any(conn.kept), "the VERIFY APDU buffer still holds the PIN"


responses = st.lists(st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"\x90\x00", b"\x62\x82", b"\x6b\x00", b"\x61\x00", b"\x6c\x00", b"\x63\xc0",
                     b"\x69\x84", b"\x69\x82", b"\x6a\x82", b"\x67\x00", b"\x6f\x00", b""]),
    st.binary(min_size=1, max_size=300).map(lambda b: b + b"\x90\x00"),
), max_size=40)


@given(responses)
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_malformed_cards_raise_only_typed_errors(random_connection, answers):
    conn = random_connection(answers)
    session = CardSession(conn)
    try:
        status = session.read_status()
        if status.licence_present:
            session.read_licence(Pin("licence", "1357") if status.card_type == "myna_licence"
                                 else Pin("ic_pin1", "1357"))
    except KioskError:
        pass
    verifies_with_data = [a for a in conn.sent if a[1] == 0x20 and len(a) > 4]
    assert len(verifies_with_data) <= 1, "a PIN went to the card more than once"


def test_guard_holds_when_the_current_application_is_unknown(sim):
    from kiosk.nfc.apdu import AID_TEXT as text
    reader, card = sim("resident")
    ch = ApduChannel(reader.connect())
    ch.select_aid(text)
    assert not ch.select_aid(bytes.fromhex("A0000000000000"), required=False)
    with pytest.raises(ForbiddenOperation):
        ch.select_ef(0x0001)          # the card may still be in the text AP
    assert card.forbidden_touches == []


@pytest.mark.parametrize("cmd", [
    (0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("D39210003100010104")),   # prefix of the text AP's AID
    (0x00, 0xA4, 0x08, 0x0C, bytes.fromhex("00010001")),             # SELECT by path
    (0x00, 0xA4, 0x09, 0x0C, bytes.fromhex("0001")),
])
def test_guard_refuses_other_select_forms(random_connection, cmd):
    conn = random_connection([])
    with pytest.raises(ForbiddenOperation):
        ApduChannel(conn).send(*cmd)
    assert conn.sent == []


def test_fresh_channel_refuses_my_number_file_ids(random_connection):
    conn = random_connection([])
    ch = ApduChannel(conn)
    for cmd in ((0x00, 0xA4, 0x02, 0x0C, b"\x00\x01"), (0x00, 0xA4, 0x00, 0x0C, b"\x00\x01"),
                (0x00, 0xB0, 0x81, 0x00, b""), (0x00, 0x20, 0x00, 0x94, b"")):
        with pytest.raises(ForbiddenOperation):
            ch.send(*cmd)
    assert conn.sent == []
