"""Behaviours `make mutation` found untested (second run, issue 13): the IC licence
paths, per-file READ limits, deadlines on a JPKI key's later calls, the trace
format, and GET RESPONSE bounds."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from kiosk.errors import CardNotRespondingError, CardProtocolError
from kiosk.nfc.apdu import AID_IC_DF1, AID_JPKI, ApduChannel, TraceEntry
from kiosk.nfc.card import CardSession
from kiosk.nfc.model import UNSUPPORTED
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.profile import SimPin, load_profile
from kiosk.nfc.sim.reader import SimReader

SELECT_JPKI = "00A4040C0A" + AID_JPKI.hex()


def reads(card) -> int:
    return sum(1 for e in card.trace if e.ins == 0xB0)


# -- the IC licence -----------------------------------------------------------------------------
def test_ic_licence_status_from_the_simulated_card():
    reader = SimReader(load_profile("ic-licence"))
    status = CardSession(reader.connect()).read_status()
    assert (status.card_type, status.licence_present, status.licence_pin_set) == ("ic_licence", True, True)
    assert sorted(status.pins) == ["ic_pin1", "ic_pin2"]
    assert (status.ic_issue_date, status.ic_expiry) == (dt.date(2022, 5, 20), dt.date(2027, 6, 20))


def no_pin_ic_card() -> SimReader:
    profile = load_profile("ic-licence")
    profile = dataclasses.replace(profile, licence_data={**profile.licence_data, "pin_set": False},
                                  pins={**profile.pins, "ic_pin1": SimPin("****", 3, 3)})
    return SimReader(profile)


def test_an_ic_licence_without_a_pin_is_read_with_the_default_and_one_verify():
    reader = no_pin_ic_card()
    session = CardSession(reader.connect())
    status = session.read_status()
    assert status.licence_pin_set is False
    lic = session.read_licence(None)
    assert lic.expiry == dt.date(2027, 6, 20) and lic.name == "試験　七海"
    assert [(v.pin_id, v.with_data, v.sw) for v in reader.card.verifies if v.with_data] == [("ic_pin1", True, 0x9000)]


def test_a_3_byte_ic_pin_setting_with_00_means_no_pin(scripted):
    common = "450B303130" + "20220520" + "20270620"
    conn = scripted([
        (SELECT_JPKI, "6A82"), ("00A40000", "9000"), ("00A4020C022F01", "9000"),
        ("00B0000000", common + "9000"), ("00A4020C02000A", "9000"),
        ("00B0000000", "0501009000"),                       # exactly 3 bytes, 00: no PIN set
        ("00200081", "63C3"), ("00200082", "63C3"),
    ])
    assert CardSession(conn).read_status().licence_pin_set is False


def test_an_ic_common_file_claiming_more_than_512_bytes_is_refused_after_one_read(scripted):
    conn = scripted([
        (SELECT_JPKI, "6A82"), ("00A40000", "9000"), ("00A4020C022F01", "9000"),
        ("00B0000000", "45820200" + "00" * 252 + "9000"),
    ])
    with pytest.raises(CardProtocolError, match="larger than"):
        CardSession(conn).read_status()
    conn.assert_done()


def test_a_card_with_an_mf_but_no_licence_files_is_unsupported(scripted):
    conn = scripted([(SELECT_JPKI, "6A82"), ("00A40000", "9000"), ("00A4020C022F01", "6A82")])
    assert CardSession(conn).read_status().card_type == UNSUPPORTED
    conn.assert_done()


def test_the_ic_licence_file_is_capped_at_4_kb():
    reader = SimReader(load_profile("ic-licence"))
    reader.card.fs[AID_IC_DF1][0x0001].content = b"\x12\x82\xff\xff" + bytes(9996)
    session = CardSession(reader.connect())
    session.read_status()
    before = reads(reader.card)
    with pytest.raises(CardProtocolError, match="larger than"):
        session.read_licence(Pin("ic_pin1", "1111"))
    assert reads(reader.card) - before <= 4096 // 256 + 2


def test_the_signature_certificate_is_capped_at_8_kb():
    reader = SimReader(load_profile("resident"))
    cert = reader.card.fs[AID_JPKI][0x0001]
    cert.content = b"\x30\x82\x7f\xf0" + cert.content[4:]
    session = CardSession(reader.connect())
    with session.jpki_key("sign", Pin("jpki_sign", "KIOSK2025")) as key:
        before = reads(reader.card)
        with pytest.raises(CardProtocolError, match="larger than"):
            key.certificate()
    assert reads(reader.card) - before == 1


def test_close_forgets_the_status():
    reader = SimReader(load_profile("resident"))
    session = CardSession(reader.connect())
    session.read_status()
    session.close()
    assert session.status is None and session.counters == {}


# -- deadlines on a JPKI key's later calls ---------------------------------------------------------
@pytest.mark.parametrize("call", ["certificate", "sign"])
def test_a_jpki_keys_certificate_and_signature_have_their_own_deadline(sim, call):
    session, conn, card = sim.slow("resident", 1.0, 100.0)
    with session.jpki_key("auth", Pin("jpki_auth", "2468")) as key:
        session.deadline = 0.5                      # no time for even one more APDU
        with pytest.raises(CardNotRespondingError):
            key.certificate() if call == "certificate" else key.sign(b"x")
    assert card.signatures == 0


# -- the trace format ------------------------------------------------------------------------------
@pytest.mark.parametrize("entry, text", [
    (TraceEntry(bytes.fromhex("00200086"), 4, None, None, b"", 0x63C9), "> 00 20 00 86 04 <masked>  < 63C9"),
    (TraceEntry(bytes.fromhex("00b08a00"), 0, b"", 256, b"\x30" * 300, 0x9000), "> 00 B0 8A 00 00  < 9000 [300 B]"),
    (TraceEntry(bytes.fromhex("00b00000"), 0, b"", 0x1FF, b"", None, "no response"),
     "> 00 B0 00 00 FF  < ---- (no response)"),
    (TraceEntry(bytes.fromhex("00a4020c"), 2, b"\x00\x0a", None, b"", 0x9000), "> 00 A4 02 0C 02 000A  < 9000"),
])
def test_trace_lines_are_exact(entry, text):
    assert entry.render() == text


# -- GET RESPONSE bounds ---------------------------------------------------------------------------
def test_a_get_response_chain_of_exactly_64_kb_is_accepted(random_connection):
    conn = random_connection([b"\x61\x00", b"\x5a" * 65536 + b"\x90\x00"])
    resp = ApduChannel(conn).send(0x00, 0xA4, 0x04, 0x0C, AID_JPKI)
    assert len(resp.data) == 65536 and resp.sw == 0x9000


def test_a_card_that_keeps_answering_61xx_is_reported_with_its_status_word(random_connection):
    conn = random_connection([b"\x61\x10"] + [b"\x00\x61\x10"] * 80)
    with pytest.raises(CardProtocolError) as info:
        ApduChannel(conn).send(0x00, 0xA4, 0x04, 0x0C, AID_JPKI)
    assert info.value.sw == 0x6110


# -- what a VERIFY's answer leaves behind ------------------------------------------------------------
def _licence_verify(scripted, answer: str):
    from kiosk.nfc.apdu import AID_LICENCE
    conn = scripted([
        ("00A4040C10" + AID_LICENCE.hex(), "9000"),
        ("00B09A0000", "C101019000"),             # PIN set
        ("00200086", "63C9"),                      # counter
        ("002000860431333537", answer),            # the one VERIFY
    ])
    return CardSession(conn)


@pytest.mark.parametrize("answer, error, details", [
    ("63C8", "PinWrongError", {"pin_id": "licence", "tries_left": 8}),
    ("63C0", "PinLockedError", {"pin_id": "licence"}),
    ("6984", "PinLockedError", {"pin_id": "licence"}),
    ("6983", "PinLockedError", {"pin_id": "licence"}),
    ("6A80", "CardError", {"pin_id": "licence", "sw": "6A80"}),
])
def test_a_verify_answer_becomes_an_error_with_its_pin_id_and_counter(scripted, answer, error, details):
    session = _licence_verify(scripted, answer)
    with pytest.raises(Exception) as info:
        session._read_myna_licence(Pin("licence", "1357"))
    assert type(info.value).__name__ == error and info.value.details == details
    counter = session.counters.get("licence")
    if error == "CardError":
        assert counter is None                      # unknown until the card says
    else:
        assert counter is not None and counter.locked == (error == "PinLockedError")


def test_a_verified_counter_is_recorded_unlocked_with_all_tries(scripted):
    from kiosk.nfc.apdu import AID_LICENCE
    conn = scripted([
        ("00A4040C10" + AID_LICENCE.hex(), "9000"), ("00B09A0000", "C101019000"),
        ("00200086", "63C9"), ("002000860431333537", "9000"),
    ])
    session = CardSession(conn)
    session._select(AID_LICENCE)
    session._read_licence_pin_set()
    counter = session._verify("licence", Pin("licence", "1357"))
    assert session.counters["licence"] == counter
    assert (counter.locked, counter.tries_left, counter.max_tries) == (False, 10, 10)


def test_a_dropped_pin_zeroes_its_buffer():
    pin = Pin("licence", "1357")
    buf = pin._buf
    pin.__del__()
    assert bytes(buf) == b"\x00\x00\x00\x00"
