"""Behaviours the independent mutation run found untested (issue 13).

Each test pins one rule of the PIN or My Number safety nets so that the
mutant that forgets it fails here (``make mutation`` checks that they do).
"""

from __future__ import annotations

import dataclasses

import pytest

from kiosk.errors import CardError, ForbiddenOperation, PinFormatError
from kiosk.nfc.apdu import (AID_JPKI, AID_TEXT, AID_VISUAL, INS_READ_RECORD, INS_VERIFY, UNKNOWN_DF,
                            ApduChannel)
from kiosk.nfc.card import CardSession, interpret_counter
from kiosk.nfc.pins import PIN_SPECS, Pin
from kiosk.nfc.sim.profile import load_profile
from kiosk.nfc.sim.reader import SimReader

SELECT_JPKI = "00A4040C0A" + AID_JPKI.hex()


def data_verifies(card, pin_id):
    return [v for v in card.verifies if v.with_data and v.pin_id == pin_id]


# -- counters -------------------------------------------------------------------------------------
def test_an_empty_verify_answered_9000_means_verified_not_locked():
    """Cards answer 9000 to the counter query once the PIN is verified in this power session."""
    profile = dataclasses.replace(load_profile("resident"), quirks=frozenset({"verified_empty_verify_9000"}))
    reader = SimReader(profile)
    card = reader.card
    session = CardSession(reader.connect())
    session.read_status()
    session.read_licence(Pin("licence", "1357"))
    counter = session.read_counter("licence")
    assert (counter.locked, counter.tries_left) == (False, None)
    assert card.verifies[-1].sw == 0x9000 and not card.verifies[-1].with_data
    session.read_licence(Pin("licence", "1357"))            # a second explicit entry is still served
    assert len(data_verifies(card, "licence")) == 2


def test_the_simulator_answers_9000_to_an_empty_verify_only_with_the_quirk():
    reader = SimReader(load_profile("resident"))
    session = CardSession(reader.connect())
    session.read_status()
    session.read_licence(Pin("licence", "1357"))
    assert reader.card.verifies[-1].sw == 0x9000                 # the VERIFY with data
    session.read_counter("licence")
    assert reader.card.verifies[-1].sw == 0x63CA                 # the plain profile keeps 63Cx


@pytest.mark.parametrize("pin_id", sorted(PIN_SPECS))
def test_6300_means_no_retry_limit_not_locked(pin_id):
    counter = interpret_counter(pin_id, 0x6300)
    assert (counter.locked, counter.tries_left) == (False, None)
    assert interpret_counter(pin_id, 0x9000).locked is False


def test_a_6300_counter_still_gets_the_one_verify(scripted):
    conn = scripted([
        (SELECT_JPKI, "9000"),
        ("00200098", "6300"),                  # no retry limit
        ("002000980432343638", "9000"),        # so the PIN is sent, once
        ("00A4020C020017", "9000"),
        ("802A0080" + "33" + "3031300d060960864801650304020105000420" + "00" * 32 + "00", "AB" * 256 + "9000"),
    ])
    with CardSession(conn).jpki_key("auth", Pin("jpki_auth", "2468")) as key:
        key.sign_digest_info(bytes.fromhex("3031300d060960864801650304020105000420") + bytes(32))
    conn.assert_done()


# -- the signature command ----------------------------------------------------------------------------
@pytest.mark.parametrize("sw", ["6982", "6985", "6986", "6900", "69FF", "6A80"])
def test_the_signature_command_is_sent_once_whatever_the_card_answers(scripted, sw):
    digest_info = "3031300d060960864801650304020105000420" + "00" * 32
    conn = scripted([
        (SELECT_JPKI, "9000"),
        ("0020009B", "63C5"),
        ("0020009B06" + b"KIOSK1".hex(), "9000"),
        ("00A4020C02001A", "9000"),
        ("802A008033" + digest_info + "00", sw),
    ])
    with CardSession(conn).jpki_key("sign", Pin("jpki_sign", "KIOSK1")) as key:
        with pytest.raises(CardError) as info:
            key.sign_digest_info(bytes.fromhex(digest_info))
    assert info.value.sw == int(sw, 16)
    conn.assert_done()                                        # no second 80 2A


# -- PIN format and wiping --------------------------------------------------------------------------
@pytest.mark.parametrize("length, ok", [(5, False), (6, True), (16, True), (17, False)])
def test_the_signature_password_is_6_to_16_characters(length, ok):
    typed = ("A1" * 9)[:length]
    if ok:
        assert len(Pin("jpki_sign", typed)) == length
    else:
        with pytest.raises(PinFormatError):
            Pin("jpki_sign", typed)


@pytest.mark.parametrize("pin_id, typed", [("licence", b"12a4"), ("licence", b"12345"),
                                           ("jpki_sign", b"SHORT"), ("jpki_sign", b"A" * 17)])
def test_a_rejected_pin_buffer_is_wiped(pin_id, typed):
    """The Pin's own copy, still referenced by the traceback, holds no digit after a refusal."""
    with pytest.raises(PinFormatError) as info:
        Pin(pin_id, bytearray(typed))
    frames = []
    tb = info.tb
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    bufs = [f.f_locals["buf"] for f in frames if "buf" in f.f_locals]
    assert bufs and all(not any(b) for b in bufs)


# -- the My Number guard ------------------------------------------------------------------------------
def test_the_my_number_image_file_is_never_selected(random_connection):
    conn = random_connection([b"\x90\x00"])
    ch = ApduChannel(conn)
    assert ch.select_aid(AID_VISUAL)
    with pytest.raises(ForbiddenOperation):
        ch.select_ef(0x0005)
    with pytest.raises(ForbiddenOperation):
        ch.read_chunk(0, sfi=0x05)
    assert len(conn.sent) == 1


def test_read_record_by_short_file_id_of_the_my_number_is_refused(random_connection):
    conn = random_connection([b"\x90\x00"])
    ch = ApduChannel(conn)
    assert ch.select_aid(AID_TEXT)
    for sfi in (0x01, 0x14):
        with pytest.raises(ForbiddenOperation):
            ch.read_record(1, sfi=sfi)
    assert len(conn.sent) == 1


def test_verify_and_read_record_on_the_current_file_follow_the_current_ef(random_connection):
    conn = random_connection([])
    ch = ApduChannel(conn)
    ch.current_df, ch.current_ef = AID_TEXT, 0x0001            # however the channel got there
    with pytest.raises(ForbiddenOperation):
        ch.send(0x00, INS_VERIFY, 0x00, 0x80)
    with pytest.raises(ForbiddenOperation):
        ch.send(0x00, INS_READ_RECORD, 0x01, 0x04, b"", 256)
    assert conn.sent == []


def test_a_failed_select_forgets_the_previous_application(random_connection):
    """After 9000 for the JPKI AP and an error for the text AP the card may be anywhere:
    the My Number's file id is refused as if the text AP were current."""
    conn = random_connection([b"\x90\x00", b"\x6a\x82"])
    ch = ApduChannel(conn)
    assert ch.select_aid(AID_JPKI)
    assert not ch.select_aid(AID_TEXT, required=False)
    assert ch.current_df == UNKNOWN_DF
    with pytest.raises(ForbiddenOperation):
        ch.select_ef(0x0001)
    assert len(conn.sent) == 2


def test_a_failed_select_mf_forgets_the_previous_application(random_connection):
    conn = random_connection([b"\x90\x00", b"\x6a\x86"])
    ch = ApduChannel(conn)
    assert ch.select_aid(AID_JPKI)
    assert not ch.select_mf()
    assert ch.current_df == UNKNOWN_DF
    with pytest.raises(ForbiddenOperation):
        ch.select_ef(0x0014)


@pytest.mark.parametrize("data", [b"", b"1", b"12", b"123", bytearray(b"123")])
def test_a_verify_with_fewer_than_4_data_bytes_is_refused_unsent(random_connection, data):
    conn = random_connection([])
    with pytest.raises(ForbiddenOperation):
        ApduChannel(conn).verify(0x86, data)
    assert conn.sent == []


def test_a_verify_with_4_data_bytes_is_sent(random_connection):
    conn = random_connection([b"\x63\xc9"])
    assert ApduChannel(conn).verify(0x86, bytearray(b"0000")).sw == 0x63C9
    assert len(conn.sent) == 1
