"""TLV, JIS X 0208 and era-date decoders: exact cases plus property tests."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.errors import KioskError
from kiosk.nfc import licence_tags
from kiosk.nfc.jis import (JISError, decode_jisx0208, encode_jisx0208, era_date, to_era)
from kiosk.nfc.tlv import (TLVError, decode_licence_stream, decode_simple_tlv, der_total_length,
                           encode_licence_item)


def test_era_dates():
    assert era_date(b"5070315") == dt.date(2025, 3, 15)
    assert era_date("4010108") == dt.date(1989, 1, 8)
    assert era_date("3640107") == dt.date(1989, 1, 7)
    assert era_date("1450730") == dt.date(1912, 7, 30)
    assert era_date("5000000") is None                 # class not held
    for bad in ("6010101", "5131301", "50101", "abcdefg", "5000101"):
        with pytest.raises(JISError):
            era_date(bad)


def test_jis_round_trip_and_gaiji():
    assert decode_jisx0208(encode_jisx0208("優良\u3000")) == "優良"
    assert decode_jisx0208(bytes.fromhex("3B6E") + bytes.fromhex("FFF1")) == "試〓"
    assert decode_jisx0208(b"\x00\x01") == "\ufffd"


def test_licence_stream_two_byte_tags_and_padding():
    data = encode_licence_item(0xC5, b"5090615") + encode_licence_item(0x0107, b"\x00" * 300) + b"\xff\xff"
    res = decode_licence_stream(data)
    assert res.complete and [t for t, _ in res.items] == [0xC5, 0x0107]
    assert len(res.items[1][1]) == 300


def test_stream_keeps_what_decoded_before_an_error():
    data = encode_licence_item(0xC5, b"5090615") + b"\xC6\x85\x00"
    res = decode_licence_stream(data)
    assert res.items == [(0xC5, b"5090615")] and res.error
    lic = licence_tags.decode_myna_licence(res)
    assert lic.expiry == dt.date(2027, 6, 15) and lic.errors


def test_unknown_tags_are_kept_raw_and_bad_fields_do_not_lose_others():
    data = (encode_licence_item(0xC4, b"\x7f\x7f") + encode_licence_item(0xC5, b"5999999")
            + encode_licence_item(0xE7, b"912345678901") + encode_licence_item(0xFB, b"\x01\x02") + b"\xff")
    lic = licence_tags.decode_myna_licence(decode_licence_stream(data))
    assert lic.licence_number == "912345678901"
    assert lic.expiry is None and any("expiry" in e for e in lic.errors)
    assert lic.unknown == {"FB": "0102"}


def test_der_length_from_header():
    assert der_total_length(bytes.fromhex("308206210000")) == 0x0621 + 4
    assert der_total_length(b"\x30") is None
    assert decode_simple_tlv(b"\x01\x03abc\xff") == [(1, b"abc")]
    with pytest.raises(TLVError):
        decode_simple_tlv(b"\x01\x05ab")


@given(st.binary(max_size=600))
@settings(max_examples=400, deadline=None)
def test_stream_decoders_never_raise(data):
    for style in ("myna", "ic"):
        res = decode_licence_stream(data, style)
        licence_tags.decode_myna_licence(res)
        licence_tags.decode_ic_licence(res)


@given(st.binary(max_size=64))
@settings(max_examples=300, deadline=None)
def test_header_decoders_raise_only_typed_errors(data):
    for fn in (der_total_length, decode_simple_tlv):
        try:
            fn(data)
        except KioskError:
            pass


@given(st.binary(max_size=40))
@settings(max_examples=300, deadline=None)
def test_jis_decoder_never_raises(data):
    assert isinstance(decode_jisx0208(data), str)


@given(st.dates(min_value=dt.date(1868, 10, 23), max_value=dt.date(2099, 12, 31)))
def test_era_round_trip(day):
    text = to_era(day)
    assert era_date(text) == day


@given(st.text(min_size=7, max_size=7))
def test_era_date_raises_only_jis_error(text):
    try:
        era_date(text)
    except JISError:
        pass


def test_certificate_with_an_empty_validity_is_a_typed_error():
    from kiosk.nfc.card import cert_not_after
    # SEQ{ SEQ{ [0]{INT 2}, INT 1, SEQ{}, SEQ{}, SEQ{} (empty validity) } }
    tbs = bytes.fromhex("A003020102" "020101" "3000" "3000" "3000")
    cert = b"\x30" + bytes((len(tbs) + 2,)) + b"\x30" + bytes((len(tbs),)) + tbs
    with pytest.raises(TLVError):
        cert_not_after(cert)


def test_licence_data_repr_and_wipe_leave_nothing_personal():
    from kiosk.nfc.model import LicenceClass, LicenceData
    lic = LicenceData(source="ic_licence", licence_number="912345678901", name="試験　花子",
                      address="東京都", expiry=dt.date(2027, 6, 15), colour_class="優良",
                      conditions=["眼鏡等"], dates={"other": dt.date(2010, 4, 1)},
                      classes=[LicenceClass("futsu", "普通", True, dt.date(2010, 4, 1))],
                      photo_jp2=b"\xff\x4fsecretpix")
    for value in ("912345678901", "試験", "東京都", "2027", "secretpix", "ff4f"):
        assert value not in repr(lic)
    lic.wipe()
    assert lic.to_json()["licence_number"] is None and lic.classes == [] and lic.dates == {}
    assert lic.expiry is None and lic.colour_class is None and lic.conditions == []


def test_oversized_photo_is_not_decoded():
    import io

    from PIL import Image

    from kiosk.nfc.model import LicenceData
    buf = io.BytesIO()
    Image.new("L", (2000, 1000)).save(buf, "PNG")
    assert LicenceData(source="myna_licence", photo_jp2=buf.getvalue()).photo_image() is None
