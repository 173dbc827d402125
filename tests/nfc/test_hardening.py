"""Card answers that crashed, hung or ran quadratic before (issue 13).

* Dates are total: a certificate or licence date becomes a date, "no expiry"
  or a typed error, never an exception (9999-12-31 crashed every card read).
* READ loops are bounded: per file by its declared or maximum size, and the
  licence stream is decoded once per byte however small the chunks.
* Each card operation has a deadline; past it: CardNotRespondingError, and no
  PIN is (re-)sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.cli import main
from kiosk.errors import CardNotRespondingError, CardProtocolError
from kiosk.nfc import tlv
from kiosk.nfc.apdu import AID_JPKI, ApduChannel, read_cap
from kiosk.nfc.card import (MAX_CERT_BYTES, MAX_WEF02_BYTES, NO_EXPIRY, CardSession, _StreamTotal,
                            cert_not_after, der_time_to_jst_date)
from kiosk.nfc.licence_tags import decode_myna_licence
from kiosk.nfc.model import months_before
from kiosk.nfc.pins import Pin
from kiosk.nfc.reader import Connection
from kiosk.nfc.sim import pki
from kiosk.nfc.sim.card import Faults
from kiosk.nfc.tlv import TLVError, decode_licence_stream, encode_licence_item


# -- dates ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("tag, text, expected", [
    (0x18, "99991231235959Z", NO_EXPIRY),                  # RFC 5280 "no well-defined expiration"
    (0x18, "99991231150000Z", NO_EXPIRY),                  # 10000-01-01 in JST
    (0x18, "99991231145959Z", dt.date(9999, 12, 31)),
    (0x17, "290502145959Z", dt.date(2029, 5, 2)),
    (0x17, "491231150000Z", dt.date(2050, 1, 1)),          # UTCTime 49 is 2049, +9 h
    (0x17, "500101000000Z", dt.date(1950, 1, 1)),          # UTCTime 50 is 1950
    (0x18, "00010101000000Z", dt.date(1, 1, 1)),
])
def test_certificate_dates_become_dates_or_no_expiry(tag, text, expected):
    assert der_time_to_jst_date(tag, text.encode()) == expected


@pytest.mark.parametrize("tag, text", [
    (0x18, "20290230000000Z"), (0x18, "00000101000000Z"), (0x18, "20291301000000Z"),
    (0x17, "ABCDEFGHIJKLZ"), (0x17, "290502145959"), (0x18, "2029050214595\uff19Z"),
    (0x18, "20290502145959.5Z"), (0x17, ""), (0x02, "290502145959Z"), (0x18, "20290502246060Z"),
])
def test_impossible_certificate_dates_are_typed_errors(tag, text):
    with pytest.raises(TLVError):
        der_time_to_jst_date(tag, text.encode())


@given(st.sampled_from([0x17, 0x18, 0x02, 0x30]),
       st.binary(max_size=20) | st.text("0123456789Z", max_size=16).map(str.encode))
@settings(max_examples=400, deadline=None)
def test_certificate_time_decoding_is_total(tag, raw):
    try:
        assert isinstance(der_time_to_jst_date(tag, raw), dt.date)
    except TLVError:
        pass


def _certificate(not_after: dt.datetime) -> bytes:
    k = pki.key("hardening-no-expiry")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
            .serial_number(1).not_valid_before(dt.datetime(2024, 5, 10, tzinfo=dt.timezone.utc))
            .not_valid_after(not_after).sign(k, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.DER)


FOREVER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)


def test_a_certificate_that_never_expires_is_no_expiry():
    assert cert_not_after(_certificate(FOREVER)) == NO_EXPIRY


@pytest.fixture
def no_expiry_cards(monkeypatch):
    """Every simulated card built from now on carries a 99991231235959Z certificate."""
    real = pki.card_certificate

    def forever(purpose, card_id, not_before, not_after, person=None, **options):
        key, _der = real(purpose, card_id, not_before, not_after, person, **options)
        return key, _certificate(FOREVER)
    monkeypatch.setattr(pki, "card_certificate", forever)


def test_card_status_json_says_no_expiry_instead_of_a_traceback(no_expiry_cards, capsys):
    assert main(["card", "status", "--reader", "sim:resident", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["auth_cert_no_expiry"] is True and data["auth_cert_not_after"] is None
    assert data["card_type"] == "myna_licence"


def test_card_licence_reads_a_card_whose_certificate_never_expires(no_expiry_cards, capsys, monkeypatch):
    import io
    import sys

    class Stdin(io.TextIOWrapper):
        def isatty(self):
            return False
    monkeypatch.setattr(sys, "stdin", Stdin(io.BytesIO(b"1357\n")))
    assert main(["card", "licence", "--reader", "sim:resident", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["expiry"] == "2027-06-15"


def test_card_status_text_says_no_expiry(no_expiry_cards, capsys):
    assert main(["card", "status", "--reader", "sim:resident"]) == 0
    assert "no expiry" in capsys.readouterr().out


@pytest.mark.parametrize("era_text", [b"9010101", b"5990230", b"5\xff\xfe0101", b"0000000", b"", b"51301",
                                      b"\xef\xbc\x95070315"])
def test_licence_dates_from_any_era_text_are_a_date_none_or_a_recorded_error(era_text):
    stream = decode_licence_stream(encode_licence_item(0xC5, era_text) + encode_licence_item(0xE9, era_text), "myna")
    lic = decode_myna_licence(stream)
    assert lic.expiry is None or isinstance(lic.expiry, dt.date)
    assert era_text == b"0000000" or lic.errors            # "not held" is no error; the rest is recorded
    assert lic.renewal_window is None or lic.expiry is not None   # nothing downstream trips on it


def test_months_before_the_first_day_is_the_first_day():
    assert months_before(dt.date(1, 1, 15), 2) == dt.date.min
    assert months_before(dt.date.max, 2) == dt.date(9999, 10, 31)


# -- bounded READ loops -----------------------------------------------------------------------------
class OneByteCard(Connection):
    """Answers every READ BINARY with the next byte of ``content`` and 9000."""

    def __init__(self, content: bytes):
        self.content, self.sent = content, []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(bytes(apdu))
        offset = (apdu[2] << 8) | apdu[3]
        return self.content[offset:offset + 1] + b"\x90\x00"

    def close(self, unpower: bool = True) -> None:
        pass

    def same_card(self) -> bool:
        return True


def test_a_one_byte_card_costs_at_most_the_read_cap_of_its_declared_size():
    cert = _certificate(FOREVER)
    card = OneByteCard(cert)
    with pytest.raises(CardProtocolError, match="chunks too small"):
        ApduChannel(card).read_binary(tlv.der_total_length, limit=MAX_CERT_BYTES)
    assert len(card.sent) == read_cap(len(cert)) < len(cert) // 50


def test_a_header_claiming_32_kb_is_refused_after_one_read(sim):
    reader, card = sim("resident")
    cert = card.fs[AID_JPKI][0x000A]
    cert.content = b"\x30\x82\x7f\xf0" + cert.content[4:]
    session = CardSession(reader.connect())
    before = card.apdu_count
    with pytest.raises(CardProtocolError, match="larger than"):
        session.read_auth_certificate()
    assert card.apdu_count - before == 3                    # SELECT AP, SELECT EF, one READ


def test_a_one_byte_per_read_card_ends_the_licence_read_in_a_few_dozen_apdus(sim):
    reader, card = sim("resident")
    session = CardSession(reader.connect())
    session.read_status()
    card.set_faults(Faults(read_bytes=1))
    with pytest.raises(CardProtocolError, match="chunks too small"):
        session.read_licence(Pin("licence", "1357"))
    reads = [e for e in card.trace if e.ins == 0xB0]
    assert card.apdu_count <= read_cap(MAX_WEF02_BYTES) + 6       # was 32,785
    assert len([v for v in card.verifies if v.with_data]) == 1
    assert len(reads) >= read_cap(MAX_WEF02_BYTES) - 1


def test_the_licence_stream_is_decoded_once_per_byte(monkeypatch):
    """1-byte chunks of a 6 KB stream: tag parses stay linear (they were quadratic)."""
    items = b"".join(encode_licence_item(0xC6 + i % 4, b"\x30\x21" * 20) for i in range(140))
    stream = items + b"\xff" * 16
    calls = 0
    real = tlv._licence_tag

    def counting(*args):
        nonlocal calls
        calls += 1
        return real(*args)
    monkeypatch.setattr(tlv, "_licence_tag", counting)
    total = _StreamTotal("myna")
    for n in range(1, len(stream) + 1):
        found = total(stream[:n])
        if found is not None:
            break
    assert found == len(items)
    assert calls <= len(stream) + 2 * 140                  # one per call plus one per item


# -- the operation deadline -----------------------------------------------------------------------------
def slow_session(sim, seconds, deadline, profile="resident"):
    return sim.slow(profile, seconds, deadline)


def test_five_seconds_per_apdu_ends_at_the_deadline_with_a_typed_error(sim):
    session, conn, _card = slow_session(sim, 5.0, 20.0)
    with pytest.raises(CardNotRespondingError) as info:
        session.read_status()
    assert info.value.code == "card_not_responding" and info.value.exit_code == 31
    assert conn.sent == 4 and conn.now <= 20.0              # a fifth APDU would end at 25 s


def test_the_deadline_is_per_operation(sim):
    session, conn, _card = slow_session(sim, 0.5, None)
    session.read_status()
    status_time = conn.now
    session.read_licence(Pin("licence", "1357"))
    licence_time = conn.now - status_time
    deadline = max(status_time, licence_time) + 0.5
    assert status_time + licence_time > deadline
    session, conn, _card = slow_session(sim, 0.5, deadline)
    session.read_status()
    session.read_licence(Pin("licence", "1357"))            # a fresh deadline for each operation


def test_a_deadline_before_the_verify_sends_no_pin_and_wipes_it(sim):
    session, conn, card = slow_session(sim, 1.0, 4.0)
    session.deadline = None
    session.read_status()
    session.deadline = 1.5                                  # the counter (1 s), then no time for a VERIFY
    pin = Pin("licence", "1357")
    with pytest.raises(CardNotRespondingError):
        session.read_licence(pin)
    assert pin.wiped
    assert [v for v in card.verifies if v.with_data] == []


def test_an_answer_arriving_late_is_still_used_and_nothing_is_resent(sim):
    """The deadline is checked before an APDU, never after: a VERIFY's late answer counts once."""
    session, conn, card = slow_session(sim, 1.0, 100.0)
    session.read_status()
    session.deadline = 3.0                 # counter (1 s), VERIFY (2 s), SELECT EF (3 s), then stop
    with pytest.raises(CardNotRespondingError):
        session.read_licence(Pin("licence", "1357"))
    assert len([v for v in card.verifies if v.with_data]) == 1
    assert card.pin_tries("licence") == 10                  # the right PIN: no try lost, none re-sent


def test_a_real_slow_card_ends_within_the_deadline(sim):
    import time
    reader, card = sim("resident", Faults(delay=0.2))      # fault injection: 200 ms per APDU
    session = CardSession(reader.connect(), deadline=1.0)
    started = time.monotonic()
    with pytest.raises(CardNotRespondingError):
        session.read_status()
    # The deadline, plus at most one APDU that took longer than every one before it
    # (a loaded machine); without the deadline this read takes 20 APDUs, 4 s.
    assert time.monotonic() - started <= 1.0 + 0.2 + 0.5


def test_no_deadline_means_unbounded(sim):
    session, conn, _card = slow_session(sim, 5.0, 20.0)
    session.deadline = None
    assert session.read_status().card_type == "myna_licence"


# -- same_card fails closed -----------------------------------------------------------------------------
def test_a_backend_without_same_card_cannot_be_built():
    class Forgetful(Connection):
        def transmit(self, apdu):
            return b"\x90\x00"

        def close(self, unpower=True):
            pass
    with pytest.raises(TypeError, match="same_card"):
        Forgetful()


def test_every_shipped_backend_answers_same_card_itself():
    from kiosk.nfc.nfcpy_reader import NfcpyConnection
    from kiosk.nfc.pcsc import PcscConnection
    from kiosk.nfc.sim.reader import SimConnection
    for cls in (SimConnection, PcscConnection, NfcpyConnection):
        assert "same_card" in cls.__dict__, cls


def test_the_base_same_card_refuses():
    with pytest.raises(NotImplementedError):
        Connection.same_card(dataclasses.make_dataclass("X", [])())   # type: ignore[arg-type]
