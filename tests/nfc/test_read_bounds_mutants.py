"""Byte-level read behaviours the last `make mutation` survivors showed (issue 13):
READ BINARY by short file id then by offset once past byte 255, EOF and limit at
their exact bounds, an auth certificate whose validity lies past byte 255, SELECT MF
when the MF is not current, the card information record's expiry field, and the
Le 00 bound on an answer's length."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.errors import CardError, CardProtocolError, FileNotFoundOnCard
from kiosk.nfc.apdu import INS_READ_BINARY, UNKNOWN_DF, ApduChannel
from kiosk.nfc.card import CardSession, cert_not_after

from .test_conversation import status_script

OK = "9000"
AUTH_CERT_READ = 5        # status_script's index of the auth certificate's first READ (short EF 0A)


def der(tag: int, content: bytes) -> bytes:
    """One DER element (definite length, short or long form)."""
    n = len(content)
    if n < 0x80:
        length = bytes((n,))
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes((0x80 | len(raw),)) + raw
    return bytes((tag,)) + length + content


def name(text: bytes) -> bytes:
    return der(0x30, der(0x31, der(0x30, der(0x06, b"\x55\x04\x03") + der(0x0C, text))))


VALIDITY = der(0x30, der(0x17, b"240510000000Z") + der(0x17, b"290502145959Z"))    # notAfter 2029-05-02 JST


def certificate(issuer_bytes: int = 20, signature_bytes: int = 256) -> bytes:
    """A DER certificate laid out like X.509 (enough for cert_not_after), issuer of a chosen size."""
    alg = der(0x30, der(0x06, bytes.fromhex("2a864886f70d01010b")) + der(0x0A, b""))
    tbs = der(0x30, der(0xA0, der(0x02, b"\x02")) + der(0x02, b"\x01" * 8) + alg
              + name(b"i" * issuer_bytes) + VALIDITY + name(b"subject") + der(0x30, b""))
    return der(0x30, tbs + alg + der(0x03, b"\x00" + b"\xAB" * signature_bytes))


def validity_end(cert: bytes) -> int:
    """The offset just past the validity SEQUENCE."""
    return cert.index(VALIDITY) + len(VALIDITY)


def read(offset: int, sfi: int | None = None) -> str:
    """The READ BINARY (Le 00) the kiosk sends for ``offset``, by short file id or by offset."""
    p1, p2 = (0x80 | sfi, offset) if sfi is not None else (offset >> 8, offset & 0xFF)
    return bytes((0x00, INS_READ_BINARY, p1, p2, 0x00)).hex()


def answer(data: bytes, sw: str = OK) -> str:
    return data.hex() + sw


# -- READ BINARY by short file id, then by offset -------------------------------------------
FILE = bytes(range(256)) * 2          # 512 bytes: two full chunks


@pytest.mark.parametrize("first", [200, 255])
def test_a_short_file_id_read_stays_by_short_file_id_up_to_offset_255(scripted, first):
    """P2 addresses bytes 0-255 by short file id: the second READ keeps the short file id."""
    conn = scripted([(read(0, 0x0A), answer(FILE[:first])),
                     (read(first, 0x0A), answer(FILE[first:first + 40], "6282"))])
    assert ApduChannel(conn).read_binary(lambda _d: None, sfi=0x0A) == FILE[:first + 40]
    conn.assert_done()


def test_past_byte_255_a_short_file_id_read_goes_on_by_offset_of_the_now_current_file(scripted):
    conn = scripted([(read(0, 0x0A), answer(FILE[:256])),
                     (read(256), answer(FILE[256:], "6282"))])
    ch = ApduChannel(conn)
    assert ch.read_binary(lambda _d: None, sfi=0x0A) == FILE
    conn.assert_done()
    assert ch.current_ef == 0x0A


# -- which file is current after a READ (what the My Number guard checks plain READs against) --
def test_a_fresh_channel_knows_neither_application_nor_file(scripted):
    ch = ApduChannel(scripted([]))
    assert (ch.current_df, ch.current_ef) == (UNKNOWN_DF, None)


@pytest.mark.parametrize("sw", ["9000", "6282"])
def test_a_short_file_id_read_that_succeeds_makes_its_file_current(scripted, sw):
    ch = ApduChannel(scripted([(read(0, 0x0A), answer(b"\x30", sw))]))
    ch.read_chunk(0, 0x0A)
    assert ch.current_ef == 0x0A


def test_a_short_file_id_read_that_fails_leaves_the_current_file(scripted):
    ch = ApduChannel(scripted([("00A4020C020017", OK), (read(0, 0x0A), "6A82"), (read(0, 0x0A), "6B00")]))
    ch.select_ef(0x0017)
    with pytest.raises(FileNotFoundOnCard):
        ch.read_chunk(0, 0x0A)
    assert ch.current_ef == 0x0017
    assert ch.read_chunk(0, 0x0A) == (b"", True)          # 6B00: past the end, not a read of the file
    assert ch.current_ef == 0x0017


def test_a_plain_read_keeps_the_current_file(scripted):
    ch = ApduChannel(scripted([("00A4020C020017", OK), (read(0), answer(b"\x30"))]))
    ch.select_ef(0x0017)
    ch.read_chunk(0)
    assert ch.current_ef == 0x0017


# -- EOF and the limit at their exact bounds ------------------------------------------------
def test_a_file_of_exactly_the_limit_is_read_to_its_eof(scripted):
    """256 bytes with limit 256: one more READ learns the end (6B00), no size error."""
    conn = scripted([(read(0), answer(FILE[:256])), (read(256), "6B00")])
    assert ApduChannel(conn).read_binary(lambda _d: None, limit=256) == FILE[:256]
    conn.assert_done()


def test_one_byte_past_the_limit_is_refused_without_another_read(scripted):
    conn = scripted([(read(0), answer(FILE[:257]))])
    with pytest.raises(CardProtocolError):
        ApduChannel(conn).read_binary(lambda _d: None, limit=256)
    conn.assert_done()


def test_eof_one_byte_short_of_the_header_length_is_a_protocol_error(scripted):
    conn = scripted([(read(0), answer(FILE[:99], "6282"))])
    with pytest.raises(CardProtocolError):
        ApduChannel(conn).read_binary(lambda _d: 100)


def test_eof_at_exactly_the_header_length_gives_the_file(scripted):
    conn = scripted([(read(0), answer(FILE[:100], "6282"))])
    assert ApduChannel(conn).read_binary(lambda _d: 100) == FILE[:100]


# -- Le 00 ---------------------------------------------------------------------------------
def test_le_00_allows_256_bytes_and_not_257(random_connection):
    ok = random_connection([bytes(256) + b"\x90\x00"])
    assert len(ApduChannel(ok).send(0x00, INS_READ_BINARY, 0, 0, b"", 0).data) == 256
    too_long = random_connection([bytes(257) + b"\x90\x00"])
    with pytest.raises(CardProtocolError):
        ApduChannel(too_long).send(0x00, INS_READ_BINARY, 0, 0, b"", 0)


# -- the auth certificate's validity past byte 255 ------------------------------------------
LATE = certificate(issuer_bytes=300)            # validity ends near byte 370
assert 300 < validity_end(LATE) < 512


def status_with_auth_reads(reads: list[tuple[str, str]], cert: bytes) -> list[tuple[str, str]]:
    script = status_script(cert)
    script[AUTH_CERT_READ:AUTH_CERT_READ + 1] = reads
    return script


def test_an_auth_certificate_with_its_validity_past_byte_255_is_read_on_by_offset(scripted):
    conn = scripted(status_with_auth_reads([(read(0, 0x0A), answer(LATE[:256])),
                                            (read(256), answer(LATE[256:512]))], LATE))
    status = CardSession(conn).read_status()
    conn.assert_done()
    assert status.auth_cert_not_after == dt.date(2029, 5, 2)


@pytest.mark.parametrize("first", [200, 255])
def test_an_auth_certificate_answered_in_short_chunks_stays_by_short_file_id(scripted, first):
    conn = scripted(status_with_auth_reads([(read(0, 0x0A), answer(LATE[:first])),
                                            (read(first, 0x0A), answer(LATE[first:first + 256]))], LATE))
    assert CardSession(conn).read_status().auth_cert_not_after == dt.date(2029, 5, 2)
    conn.assert_done()


def test_an_auth_certificate_whose_validity_is_not_in_4_reads_is_a_protocol_error(scripted):
    """Four READs at most (about 1 KB of a real certificate), then a typed error."""
    far = certificate(issuer_bytes=1200)
    reads = [(read(0, 0x0A), answer(far[:256]))] + [(read(o), answer(far[o:o + 256])) for o in (256, 512, 768)]
    conn = scripted(status_with_auth_reads(reads, far))
    with pytest.raises(CardProtocolError):
        CardSession(conn).read_status()
    assert len(conn.sent) == AUTH_CERT_READ + 4


@pytest.mark.parametrize("sw", ["6282", "9000"], ids=["eof_warning", "empty_chunk"])
def test_an_auth_certificate_that_ends_before_its_validity_is_a_protocol_error(scripted, sw):
    """6282 with the file's last bytes, or an empty 9000: one READ, no more, and a typed error."""
    data = LATE[:300] if sw == "6282" else b""
    reads = [(read(0, 0x0A), answer(LATE[:256]))] + [(read(256), answer(data[256:], sw))]
    conn = scripted(status_with_auth_reads(reads, LATE))
    with pytest.raises(CardProtocolError):
        CardSession(conn).read_status()
    assert len(conn.sent) == AUTH_CERT_READ + 2


# -- cert_not_after's own bounds ------------------------------------------------------------
def test_the_date_appears_exactly_when_the_prefix_reaches_the_end_of_the_validity():
    cert = certificate()
    end = validity_end(cert)
    assert cert_not_after(cert[:end - 1]) is None
    assert cert_not_after(cert[:end]) == dt.date(2029, 5, 2)


def test_a_certificate_whose_tbs_header_is_shorter_than_its_outer_header_is_parsed():
    """Outer SEQUENCE 30 81 xx (over 127 bytes), tbsCertificate 30 xx: each header length counts."""
    cert = certificate(issuer_bytes=1, signature_bytes=60)
    assert cert[1] == 0x81 and cert[3] == 0x30 and cert[4] < 0x80
    assert cert_not_after(cert) == dt.date(2029, 5, 2)


# -- SELECT MF when the MF is not current ---------------------------------------------------
def test_an_ic_counter_on_a_fresh_session_selects_the_mf_first(scripted):
    conn = scripted([("00A40000", OK), ("00200081", "63C3")])
    assert CardSession(conn).read_counter("ic_pin1").tries_left == 3
    conn.assert_done()


def test_a_refused_select_mf_is_a_card_error_and_no_counter_is_read(scripted):
    conn = scripted([("00A40000", "6A82")])
    with pytest.raises(CardError):
        CardSession(conn).read_counter("ic_pin1")
    conn.assert_done()


# -- the card information record's expiry ---------------------------------------------------
def card_info(record: bytes) -> list[tuple[str, str]]:
    return [("00A4040C0AD3921000310001010100", OK), ("00B2010C00", answer(record))]


def test_the_expiry_comes_from_tag_01_not_from_an_earlier_long_item(scripted):
    other = b"\x02\x1c" + b"9" * 28
    item = b"\x01\x1c" + b"400000012719843" + b"13221" + b"20350217"
    conn = scripted(card_info(other + item))
    assert CardSession(conn)._card_expiry() == dt.date(2035, 2, 17)
    conn.assert_done()


def test_the_expiry_is_the_8_bytes_at_offset_20_of_a_longer_item(scripted):
    item = b"\x01\x1d" + b"400000012719843" + b"13221" + b"20350217" + b"X"
    assert CardSession(scripted(card_info(item)))._card_expiry() == dt.date(2035, 2, 17)
