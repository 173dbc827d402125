"""Build the simulated card's file system from a profile.

Layouts follow card-protocol.md §3 (My Number APs), §5 (licence AP) and §6
(conventional IC licence).  Everything personal comes from the profile's
[person] and [licence_data] tables, which tests use as canaries.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from dataclasses import dataclass, field

from kiosk.nfc.apdu import (AID_COMMON, AID_IC_DF1, AID_JPKI, AID_LICENCE, AID_TEXT,
                            AID_VISUAL)
from kiosk.nfc.jis import encode_jisx0208, to_era
from kiosk.nfc.licence_tags import (CLASSES, IC_CLASS_DATES, MYNA_CLASS_FLAGS, MYNA_PHOTO)
from kiosk.nfc.sim import pki
from kiosk.nfc.sim.profile import Profile
from kiosk.nfc.tlv import encode_licence_item

MF = b"MF"
AID_IC_DF2 = bytes.fromhex("A0000002310200000000000000000000")


@dataclass
class SimFile:
    kind: str                          # "binary" | "record" | "pin" | "key"
    content: bytes = b""
    records: list[bytes] = field(default_factory=list)
    needs: tuple[str, ...] = ()        # PIN ids that must be verified to read/use
    pin_id: str | None = None          # for kind "pin"
    key: object | None = None          # RSA private key for kind "key"


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFF:
        return bytes((0x81, n))
    return bytes((0x82, n >> 8, n & 0xFF))


def _ber(tag: bytes, value: bytes) -> bytes:
    return tag + _der_len(len(value)) + value


@functools.lru_cache(maxsize=8)
def _photo(seed: str) -> bytes:
    """A small monochrome JPEG 2000 portrait (a drawn silhouette)."""
    from PIL import Image, ImageDraw
    img = Image.new("L", (96, 120), 235)
    d = ImageDraw.Draw(img)
    shade = 60 + (sum(seed.encode()) % 80)
    d.ellipse((28, 14, 68, 58), fill=shade)
    d.rounded_rectangle((14, 62, 82, 130), radius=22, fill=shade)
    buf = io.BytesIO()
    try:
        img.save(buf, "JPEG2000", quality_mode="rates", quality_layers=[20])
    except (OSError, KeyError):
        return b""
    return buf.getvalue()


def _jis_padded(text: str, chars: int) -> bytes:
    return encode_jisx0208(text.ljust(chars, "\u3000")[:chars])


def _date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def myna_licence_wef02(profile: Profile) -> bytes:
    ld = profile.licence_data
    out = bytearray()
    out += encode_licence_item(0xC2, b"") + encode_licence_item(0xC3, b"")
    if ld.get("colour_raw"):
        out += encode_licence_item(0xC4, bytes.fromhex(ld["colour_raw"]))
    elif ld.get("colour"):
        out += encode_licence_item(0xC4, _jis_padded(ld["colour"], 3))
    if ld.get("expiry"):
        out += encode_licence_item(0xC5, to_era(_date(ld["expiry"])).encode())
    for i, cond in enumerate(ld.get("conditions", [])[:4]):
        out += encode_licence_item(0xC6 + i, encode_jisx0208(cond))
    if ld.get("number"):
        out += encode_licence_item(0xE7, str(ld["number"]).encode())
    dates = ld.get("dates", {})
    for tag, key in ((0xE9, "two_small_moped"), (0xEA, "other"), (0xEB, "second_class")):
        value = to_era(_date(dates[key])) if dates.get(key) else "0000000"
        out += encode_licence_item(tag, value.encode())
    held = set(ld.get("classes", []))
    for tag, (code, _name) in MYNA_CLASS_FLAGS.items():
        out += encode_licence_item(tag, b"\x01" if code in held else b"\x00")
    for tag_hex, value_hex in (ld.get("extra_tags") or {}).items():
        out += encode_licence_item(int(tag_hex, 16), bytes.fromhex(value_hex))
    if ld.get("photo", True):
        photo = _photo(profile.name)
        if photo:
            out += encode_licence_item(MYNA_PHOTO, photo)
    return bytes(out) + b"\xff" * 96


def ic_matters(profile: Profile) -> bytes:
    ld, person = profile.licence_data, profile.person
    out = bytearray()
    out += encode_licence_item(0x11, b"\x01")
    if person.get("name"):
        out += encode_licence_item(0x12, encode_jisx0208(person["name"]))
    if person.get("birth"):
        out += encode_licence_item(0x16, to_era(_date(person["birth"])).encode())
    if person.get("address"):
        out += encode_licence_item(0x17, encode_jisx0208(person["address"]))
    if ld.get("issue_date"):
        out += encode_licence_item(0x18, to_era(_date(ld["issue_date"])).encode())
    if ld.get("colour"):
        out += encode_licence_item(0x1A, _jis_padded(ld["colour"], 3))
    if ld.get("expiry"):
        out += encode_licence_item(0x1B, to_era(_date(ld["expiry"])).encode())
    for i, cond in enumerate(ld.get("conditions", [])[:4]):
        out += encode_licence_item(0x1C + i, encode_jisx0208(cond))
    out += encode_licence_item(0x20, encode_jisx0208("試験県公安委員会"))
    if ld.get("number"):
        out += encode_licence_item(0x21, str(ld["number"]).encode())
    dates = ld.get("dates", {})
    for tag, key in ((0x22, "two_small_moped"), (0x23, "other"), (0x24, "second_class")):
        value = to_era(_date(dates[key])) if dates.get(key) else "0000000"
        out += encode_licence_item(tag, value.encode())
    since = ld.get("class_dates", {})
    for tag, (code, _name) in IC_CLASS_DATES.items():
        value = to_era(_date(since[code])) if code in since else "5000000"
        out += encode_licence_item(tag, value.encode())
    return bytes(out).ljust(880, b"\xff")


def _bcd(day: dt.date) -> bytes:
    return bytes.fromhex(day.strftime("%Y%m%d"))


def build_file_system(profile: Profile) -> dict[bytes, dict[int, SimFile]]:
    """Application (AID or MF) -> EF id -> file."""
    if profile.card == "unknown":
        return {}
    if profile.card == "ic_licence":
        return _ic_licence(profile)
    card_id = profile.name
    person = dict(profile.person)
    if person.get("birth"):
        person["birth_era"] = to_era(_date(person["birth"])) + "0"  # EYYYYMMDD-ish marker
    auth_key, auth_cert = pki.card_certificate("auth", card_id, profile.auth_not_before,
                                               profile.auth_not_after, options=profile.jpki_options)
    jpki: dict[int, SimFile] = {
        0x0006: SimFile("binary", b"JPKIAPICCTOKEN2".ljust(32, b" ") + bytes(128)),
        0x0008: SimFile("binary", bytes((0x8F if profile.sign_certificate else 0x00, 0x8F, 0x00))),
        0x000A: SimFile("binary", auth_cert),
        0x000B: SimFile("binary", pki.root("auth").der),
        0x0017: SimFile("key", key=auth_key, needs=("jpki_auth",)),
        0x0018: SimFile("pin", pin_id="jpki_auth"),
        0x001B: SimFile("pin", pin_id="jpki_sign"),
    }
    if profile.sign_certificate:
        sign_key, sign_cert = pki.card_certificate("sign", card_id, profile.auth_not_before,
                                                   profile.auth_not_after, person,
                                                   options=profile.jpki_options)
        jpki[0x0001] = SimFile("binary", sign_cert, needs=("jpki_sign",))
        jpki[0x0002] = SimFile("binary", pki.root("sign").der)
        jpki[0x001A] = SimFile("key", key=sign_key, needs=("jpki_sign",))
    my_number = str(person.get("my_number", "000000000000"))
    attrs = b"".join([
        _ber(b"\xdf\x22", str(person.get("name", "")).encode()),
        _ber(b"\xdf\x23", str(person.get("address", "")).encode()),
        _ber(b"\xdf\x24", str(person.get("birth", "")).replace("-", "").encode()),
        _ber(b"\xdf\x25", str(person.get("sex", "9")).encode()),
    ])
    text = {
        0x0001: SimFile("binary", b"\xff\x10\x0c" + my_number.encode() + b"\xff\xff", needs=("kenhojo",)),
        0x0002: SimFile("binary", _ber(b"\xff\x20", attrs) + b"\xff" * 16, needs=("kenhojo",)),
        0x0011: SimFile("pin", pin_id="kenhojo"),
    }
    serial = "4" + f"{abs(hash(card_id)) % 10**14:014d}"
    record = (serial[:15] + "13101" + profile.card_expiry.strftime("%Y%m%d")).encode()
    common = {
        0x0001: SimFile("record", records=[b"\x01\x1c" + record]),
        0x001C: SimFile("pin", pin_id="juki"),
    }
    fs: dict[bytes, dict[int, SimFile]] = {AID_JPKI: jpki, AID_TEXT: text, AID_COMMON: common,
                                           AID_VISUAL: {}}
    if profile.licence:
        pin_set = profile.licence_data.get("pin_set", True)
        fs[AID_LICENCE] = {
            0x0006: SimFile("pin", pin_id="licence"),
            0x001A: SimFile("binary", bytes((0xC1, 0x01, 0x01 if pin_set else 0x00))),
            0x001B: SimFile("binary", myna_licence_wef02(profile), needs=("licence",)),
            0x001C: SimFile("binary", _ber(b"\x01\x08", bytes(256)), needs=("licence",)),
        }
    return fs


def _ic_licence(profile: Profile) -> dict[bytes, dict[int, SimFile]]:
    ld = profile.licence_data
    issue = _date(ld.get("issue_date", "2022-05-01"))
    expiry = _date(ld.get("expiry", "2027-06-15"))
    common = b"\x45\x0b" + b"010" + _bcd(issue) + _bcd(expiry) + b"\x46\x02\x01\x01"
    pin_set = ld.get("pin_set", True)
    mf = {
        0x2F01: SimFile("binary", common),
        0x000A: SimFile("binary", bytes((0x05, 0x01, 0x01 if pin_set else 0x00))),
        0x0001: SimFile("pin", pin_id="ic_pin1"),
        0x0002: SimFile("pin", pin_id="ic_pin2"),
    }
    photo = _photo(profile.name)
    return {
        MF: mf,
        AID_IC_DF1: {0x0001: SimFile("binary", ic_matters(profile), needs=("ic_pin1",))},
        AID_IC_DF2: {0x0001: SimFile("binary", _ber(b"\x5f\x40", photo), needs=("ic_pin1", "ic_pin2"))},
    }


CLASS_CODES = [c for c, _ in CLASSES]
