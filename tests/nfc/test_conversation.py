"""Byte-exact conversations: every command the kiosk sends, against scripted answers."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from kiosk.errors import CardRemovedError, PinLockedError, PinWrongError
from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim import pki

SELECT_JPKI = "00A4040C0AD392F000260100000001"
SELECT_TEXT = "00A4040C0AD3921000310001010408"
SELECT_COMMON = "00A4040C0AD3921000310001010100"
SELECT_LICENCE = "00A4040C10A0000002310600000000000000000000"
TOKEN = (b"JPKIAPICCTOKEN2".ljust(32, b" ") + bytes(128)).hex() + "9000"
RECORD = (b"\x01\x1c" + b"400000012719843" + b"13221" + b"20350217").hex() + "9000"


@pytest.fixture(scope="module")
def auth_cert() -> bytes:
    _key, der = pki.card_certificate("auth", "conversation", dt.date(2024, 5, 10), dt.date(2029, 5, 2))
    return der


def status_script(cert: bytes, licence: bool = True) -> list[tuple[str, str]]:
    script = [
        (SELECT_JPKI, "9000"),
        ("00B0860000", TOKEN),                 # token, short EF 06, Le=00
        ("00200098", "63C3"),                  # JPKI auth counter: empty VERIFY, short EF 18
        ("0020009B", "63C5"),                  # JPKI sign counter
        ("00B0880000", "8F8F009000"),          # certificate availability
        ("00B08A0000", cert[:256].hex() + "9000"),   # auth cert: first 256 bytes only
        (SELECT_TEXT, "9000"),
        ("00200091", "63C2"),                  # 券面事項入力補助 counter
        (SELECT_COMMON, "9000"),
        ("0020009C", "63C3"),                  # 住基 counter
        ("00B2010C00", RECORD),                # card information record 1
    ]
    if licence:
        script += [
            (SELECT_LICENCE, "9000"),
            ("00B09A0000", "C101019000"),      # WEF01: PIN set
            ("00200086", "63CA"),              # licence counter: 10 left
        ]
    else:
        script += [(SELECT_LICENCE, "6A82")]
    return script


def test_status_of_a_myna_licence_card(scripted, auth_cert):
    conn = scripted(status_script(auth_cert))
    status = CardSession(conn).read_status()
    conn.assert_done()
    assert len(conn.sent) <= 16
    assert status.card_type == "myna_licence"
    assert {p.id: (p.tries_left, p.max_tries, p.locked) for p in status.pins.values()} == {
        "jpki_auth": (3, 3, False), "jpki_sign": (5, 5, False), "kenhojo": (2, 3, False),
        "juki": (3, 3, False), "licence": (10, 10, False)}
    assert status.auth_cert_not_after == dt.date(2029, 5, 2)
    assert status.card_expiry == dt.date(2035, 2, 17)
    assert status.sign_cert_present is True
    assert status.licence_pin_set is True


def test_status_of_a_plain_card_has_no_licence(scripted, auth_cert):
    conn = scripted(status_script(auth_cert, licence=False))
    status = CardSession(conn).read_status()
    conn.assert_done()
    assert status.card_type == "myna"
    assert "licence" not in status.pins
    assert not status.licence_present


@pytest.mark.parametrize("sw", ["63C0", "6983", "6984"])
def test_every_locked_answer_means_locked(scripted, auth_cert, sw):
    script = status_script(auth_cert)
    script[2] = ("00200098", sw)
    status = CardSession(scripted(script)).read_status()
    assert status.pins["jpki_auth"].locked and status.pins["jpki_auth"].tries_left == 0


def test_unknown_card_is_unsupported(scripted):
    conn = scripted([(SELECT_JPKI, "6A82"), ("00A40000", "6A82")])
    assert CardSession(conn).read_status().card_type == "unsupported"
    conn.assert_done()


def test_ic_licence_status(scripted):
    common = "450B303130" + "20220520" + "20270620" + "46020101"
    conn = scripted([
        (SELECT_JPKI, "6A82"),
        ("00A40000", "9000"),                  # MF
        ("00A4020C022F01", "9000"),            # EF01 common data
        ("00B0000000", common + "9000"),
        ("00A4020C02000A", "9000"),            # PIN setting
        ("00B0000000", "0501019000"),
        ("00200081", "63C3"),                  # PIN1 counter
        ("00200082", "63C2"),                  # PIN2 counter
    ])
    status = CardSession(conn).read_status()
    conn.assert_done()
    assert status.card_type == "ic_licence"
    assert (status.ic_issue_date, status.ic_expiry) == (dt.date(2022, 5, 20), dt.date(2027, 6, 20))
    assert status.pins["ic_pin2"].tries_left == 2


def licence_tail() -> str:
    from kiosk.nfc.jis import encode_jisx0208
    from kiosk.nfc.tlv import encode_licence_item as item
    body = (item(0xC2, b"") + item(0xC3, b"") + item(0xC4, encode_jisx0208("優良\u3000"))
            + item(0xC5, b"5090615") + item(0xC6, encode_jisx0208("眼鏡等"))
            + item(0xE7, b"912345678901") + item(0xED, b"\x01") + b"\xff" * 8)
    return body.hex()


def test_licence_read_sends_one_verify_then_reads_wef02(scripted, auth_cert):
    script = status_script(auth_cert) + [
        ("00200086", "63CA"),                  # fresh counter right before the PIN
        ("002000860431333537", "9000"),        # VERIFY licence PIN 1357 (P2=86)
        ("00A4020C02001B", "9000"),            # WEF02
        ("00B0000000", licence_tail() + "9000"),
    ]
    conn = scripted(script)
    session = CardSession(conn)
    session.read_status()
    lic = session.read_licence(Pin("licence", "1357"))
    conn.assert_done()
    assert lic.colour_class == "優良" and lic.online_course_eligible
    assert lic.expiry == dt.date(2027, 6, 15)
    assert lic.renewal_window == (dt.date(2027, 4, 15), dt.date(2027, 6, 15))
    assert lic.conditions == ["眼鏡等"]
    assert lic.licence_number == "912345678901"
    assert [c.name for c in lic.held_classes] == ["普通"]
    assert conn.exclusive, "a verified card is held exclusively"


def test_wrong_licence_pin_reports_the_new_count_and_sends_nothing_more(scripted, auth_cert):
    conn = scripted(status_script(auth_cert) + [("00200086", "63CA"),
                                                ("002000860430303030", "63C9")])
    session = CardSession(conn)
    session.read_status()
    with pytest.raises(PinWrongError) as err:
        session.read_licence(Pin("licence", "0000"))
    conn.assert_done()
    assert err.value.tries_left == 9
    assert "0000" not in str(err.value) and "0000" not in repr(err.value.to_json())


def test_no_pin_set_sends_asterisks(scripted, auth_cert):
    script = status_script(auth_cert)
    script[12] = ("00B09A0000", "C101009000")
    script += [("00200086", "63CA"), ("00200086042A2A2A2A", "9000"), ("00A4020C02001B", "9000"),
               ("00B0000000", licence_tail() + "9000")]
    conn = scripted(script)
    session = CardSession(conn)
    assert session.read_status().licence_pin_set is False
    session.read_licence(None)
    conn.assert_done()


def test_locked_licence_counter_gets_no_verify(scripted, auth_cert):
    conn = scripted(status_script(auth_cert) + [("00200086", "6984")])
    session = CardSession(conn)
    session.read_status()
    with pytest.raises(PinLockedError):
        session.read_licence(Pin("licence", "1357"))
    conn.assert_done()


def test_jpki_signature_conversation(scripted):
    message = b"challenge"
    digest_info = "3031300d060960864801650304020105000420" + hashlib.sha256(message).hexdigest()
    signature = "AB" * 256
    conn = scripted([
        (SELECT_JPKI, "9000"),
        ("00200098", "63C3"),                  # counter before the PIN
        ("002000980432343638", "9000"),        # VERIFY auth PIN 2468 by short EF
        ("00A4020C020017", "9000"),            # auth key EF
        ("802A008033" + digest_info + "00", signature + "9000"),
    ])
    sig = CardSession(conn).jpki_sign("auth", Pin("jpki_auth", "2468"), message)
    conn.assert_done()
    assert sig == bytes.fromhex(signature)


def test_signature_password_is_upper_cased(scripted):
    conn = scripted([
        (SELECT_JPKI, "9000"),
        ("0020009B", "63C5"),
        ("0020009B09" + b"KIOSK2025".hex(), "9000"),
        ("00A4020C020001", "9000"),            # signature certificate, readable after VERIFY
        ("00B0000000", "3003020100" + "9000"),
    ])
    session = CardSession(conn)
    with session.jpki_key("sign", Pin("jpki_sign", "kiosk2025")) as key:
        assert key.certificate() == bytes.fromhex("3003020100")
    conn.assert_done()


def test_get_response_and_wrong_le_are_followed(scripted):
    conn = scripted([
        (SELECT_JPKI, "9000"),
        ("00B0860000", "6C20"),                # wrong Le: re-send with 20
        ("00B0860020", "6110"),                # more data: GET RESPONSE
        ("00C0000010", (b"JPKIAPICCTOKEN2".ljust(16, b" ")).hex() + "9000"),
    ])
    session = CardSession(conn)
    session.apdu.select_aid(bytes.fromhex("D392F000260100000001"))
    data, _ = session.apdu.read_chunk(0, 0x06)
    assert data.startswith(b"JPKIAPICCTOKEN2")
    conn.assert_done()


def test_card_removed_mid_status_is_typed(random_connection):
    conn = random_connection([bytes.fromhex("9000")])
    with pytest.raises(CardRemovedError):
        CardSession(conn).read_status()


def test_close_unpowers(scripted):
    conn = scripted([])
    CardSession(conn).close()
    assert conn.closed_unpowered is True


def ic_status_script() -> list[tuple[str, str]]:
    common = "450B303130" + "20220520" + "20270620" + "46020101"
    return [
        (SELECT_JPKI, "6A82"), ("00A40000", "9000"), ("00A4020C022F01", "9000"),
        ("00B0000000", common + "9000"), ("00A4020C02000A", "9000"), ("00B0000000", "0501019000"),
        ("00200081", "63C3"), ("00200082", "63C3"),
    ]


def ic_matters() -> str:
    from kiosk.nfc.jis import encode_jisx0208
    from kiosk.nfc.tlv import encode_licence_item as item
    body = (item(0x11, b"\x01") + item(0x12, encode_jisx0208("試験　七海"))
            + item(0x16, b"3630520") + item(0x17, encode_jisx0208("神奈川県"))
            + item(0x18, b"4040520") + item(0x1A, encode_jisx0208("一般\u3000"))
            + item(0x1B, b"5090620") + item(0x1C, encode_jisx0208("眼鏡等"))
            + item(0x21, b"301234567890") + item(0x23, b"4200601")
            + item(0x26, b"4200601") + item(0x25, b"5000000") + b"\xff" * 16)
    return body.hex()


def test_ic_licence_read_is_pin1_then_df1_ef01(scripted):
    conn = scripted(ic_status_script() + [
        ("00200081", "63C3"),                  # fresh PIN1 counter
        ("002000810431313131", "9000"),        # VERIFY PIN1 1111 (P2=81)
        ("00A4040C10A0000002310100000000000000000000", "9000"),   # DF1
        ("00A4020C020001", "9000"),            # EF01 記載事項
        ("00B0000000", ic_matters() + "9000"),
    ])
    session = CardSession(conn)
    session.read_status()
    lic = session.read_licence(Pin("ic_pin1", "1111"))
    conn.assert_done()
    assert lic.source == "ic_licence"
    assert (lic.name, lic.address) == ("試験　七海", "神奈川県")
    assert lic.birth_date == dt.date(1988, 5, 20)
    assert lic.issue_date == dt.date(1992, 5, 20)
    assert lic.expiry == dt.date(2027, 6, 20)
    assert lic.colour_class == "一般" and lic.conditions == ["眼鏡等"]
    assert lic.licence_number == "301234567890"
    assert lic.dates == {"other": dt.date(2008, 6, 1)}
    held = {c.code: c.since for c in lic.held_classes}
    assert held == {"futsu": dt.date(2008, 6, 1)}, "大型 (era + 000000) is not held"


def test_myna_licence_dates_and_class_flags(sim):
    from kiosk.nfc.card import CardSession as Session
    reader, _card = sim("resident")
    session = Session(reader.connect())
    session.read_status()
    lic = session.read_licence(Pin("licence", "1357"))
    assert lic.dates == {"two_small_moped": dt.date(2012, 3, 1), "other": dt.date(2010, 4, 1),
                         "second_class": None}
    assert [c.code for c in lic.held_classes] == ["futsu", "fujini"]
    assert len(lic.classes) == 15 and not any(c.held for c in lic.classes if c.code == "ogata")


def test_signature_key_conversation_reads_certificate_then_signs(scripted):
    message = b"linkage application"
    digest_info = "3031300d060960864801650304020105000420" + hashlib.sha256(message).hexdigest()
    cert = "3082010a" + "00" * 0x10a
    conn = scripted([
        (SELECT_JPKI, "9000"),
        ("0020009B", "63C5"),
        ("0020009B09" + b"KIOSK2025".hex(), "9000"),
        ("00A4020C020001", "9000"),                       # signature certificate (after VERIFY)
        ("00B0000000", cert[:512] + "9000"),              # first 256 bytes; length from the header
        ("00B0010000", cert[512:] + "9000"),              # the rest, at offset 256
        ("00A4020C02001A", "9000"),                       # signature key EF
        ("802A008033" + digest_info + "00", "CD" * 256 + "9000"),
    ])
    with CardSession(conn).jpki_key("sign", Pin("jpki_sign", "KIOSK2025")) as key:
        assert key.certificate() == bytes.fromhex(cert)
        assert key.sign(message) == bytes.fromhex("CD" * 256)
    conn.assert_done()


def test_auth_certificate_read_needs_no_pin(scripted, auth_cert):
    chunks = [auth_cert[i:i + 256] for i in range(0, len(auth_cert), 256)]
    script = [(SELECT_JPKI, "9000"), ("00A4020C02000A", "9000")]
    for i, chunk in enumerate(chunks):
        script.append((f"00B0{(i * 256) >> 8:02X}{(i * 256) & 0xFF:02X}00", chunk.hex() + "9000"))
    conn = scripted(script)
    assert CardSession(conn).read_auth_certificate() == auth_cert
    conn.assert_done()
    assert not any(c[1] == 0x20 for c in conn.sent)
