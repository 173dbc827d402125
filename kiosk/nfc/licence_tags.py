"""The licence tag tables, and the decoders that apply them.

Source, and how far to trust it (shared/reference/card-protocol.md):

* マイナ免許証 WEF02 (§5.4): a transcription of the NPA specification
  『運転免許証及び運転免許証作成システム等仕様書』 version 010 (menkyo20240719_145.pdf),
  relayed by a third-party library.  Confidence **medium-low**.  Only C5 (expiry,
  era + YYMMDD) and the leading C2/C3 pair are confirmed by real-card code.
  The byte encoding of tags above FF (the photo, 107) is **unknown**; we read
  a first byte below 20 as the high byte of a two-byte tag number.
* Conventional IC licence DF1/EF01 (§6): tags 11-33, implemented by several
  real-card readers.  Confidence high.

So the decoders are tolerant: an unknown tag is kept raw, a field that fails
to decode is recorded in ``errors`` and left None, and nothing that did decode
is ever lost.  Change tags only here.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from kiosk.nfc.jis import JISError, bcd_date, decode_jisx0201, decode_jisx0208, era_date
from kiosk.nfc.model import IC_LICENCE, MYNA_LICENCE, LicenceClass, LicenceData
from kiosk.nfc.tlv import StreamResult

T = TypeVar("T")

# Licence classes in the order both cards list them: (code, 日本語).
CLASSES = [
    ("ogata", "大型"), ("futsu", "普通"), ("daitoku", "大特"), ("ojini", "大自二"),
    ("fujini", "普自二"), ("kotoku", "小特"), ("gentsuki", "原付"), ("kehiki", "け引"),
    ("dai2", "大二"), ("futsu2", "普二"), ("daitoku2", "大特二"), ("kehiki2", "け引二"),
    ("chugata", "中型"), ("chu2", "中二"), ("junchu", "準中型"),
]

# --- マイナ免許証 WEF02 (EF 001B of the licence AP) -------------------------
MYNA_COLOUR = 0xC4
MYNA_EXPIRY = 0xC5
MYNA_CONDITIONS = list(range(0xC6, 0xCA)) + list(range(0xCC, 0xD4))     # 条件 1-4, 5-12
MYNA_REMARKS = list(range(0xD7, 0xDF))                                    # 備考 1-8
MYNA_RESERVED = list(range(0xDF, 0xE7))                                   # 予備 1-8
MYNA_GAIJI = [0xCA, 0xCB, 0xD4, 0xD5, 0xD6]
MYNA_NUMBER = 0xE7
MYNA_HISTORY_NUMBER = 0xE8
MYNA_DATES = {0xE9: "two_small_moped", 0xEA: "other", 0xEB: "second_class"}
MYNA_CLASS_FLAGS = {0xEC + i: cls for i, cls in enumerate(CLASSES)}       # EC..FA
MYNA_HISTORY = (0xC2, 0xC3)                                               # 運転経歴 (empty on a licence)
MYNA_PHOTO = 0x0107                                                       # encoding unknown, see above

# --- conventional IC licence DF1/EF01 ---------------------------------------
IC_NAME, IC_BIRTH, IC_ADDRESS, IC_ISSUE = 0x12, 0x16, 0x17, 0x18
IC_COLOUR, IC_EXPIRY, IC_NUMBER = 0x1A, 0x1B, 0x21
IC_CONDITIONS = [0x1C, 0x1D, 0x1E, 0x1F]
IC_DATES = {0x22: "two_small_moped", 0x23: "other", 0x24: "second_class"}
IC_CLASS_DATES = {0x25 + i: cls for i, cls in enumerate(CLASSES)}        # 25..33
IC_KNOWN_IGNORED = {0x11, 0x13, 0x14, 0x15, 0x19, 0x20}                   # kept out of the kiosk's view


def _field(data: LicenceData, label: str, fn: Callable[[bytes], T], value: bytes) -> T | None:
    try:
        return fn(value)
    except (JISError, ValueError, IndexError) as exc:
        data.errors.append(f"{label}: {exc}")
        return None


def decode_myna_licence(stream: StreamResult) -> LicenceData:
    data = LicenceData(source=MYNA_LICENCE)
    if stream.error:
        data.errors.append(f"stream: {stream.error}")
    conditions: dict[int, str] = {}
    for tag, value in stream.items:
        if tag in MYNA_HISTORY or tag in MYNA_GAIJI or tag in MYNA_RESERVED and not value:
            continue
        if tag == MYNA_COLOUR:
            data.colour_class = _field(data, "colour", decode_jisx0208, value)
        elif tag == MYNA_EXPIRY:
            data.expiry = _field(data, "expiry", era_date, value)
        elif tag in MYNA_CONDITIONS:
            text = _field(data, f"condition {tag:02X}", decode_jisx0208, value)
            if text:
                conditions[tag] = text
        elif tag in MYNA_REMARKS:
            text = _field(data, f"remark {tag:02X}", decode_jisx0208, value)
            if text:
                data.remarks.append(text)
        elif tag == MYNA_NUMBER:
            data.licence_number = _field(data, "number", decode_jisx0201, value) or None
        elif tag in MYNA_DATES:
            data.dates[MYNA_DATES[tag]] = _field(data, f"date {tag:02X}", era_date, value)
        elif tag in MYNA_CLASS_FLAGS:
            code, name = MYNA_CLASS_FLAGS[tag]
            data.classes.append(LicenceClass(code, name, held=bool(value) and value[0] != 0))
        elif tag == MYNA_PHOTO:
            data.photo_jp2 = value or None
        elif tag == MYNA_HISTORY_NUMBER and not value.strip(b"\x00 "):
            continue
        else:
            data.unknown[f"{tag:02X}"] = value.hex()
    data.conditions = [conditions[k] for k in sorted(conditions)]
    return data


def decode_ic_licence(stream: StreamResult) -> LicenceData:
    data = LicenceData(source=IC_LICENCE)
    if stream.error:
        data.errors.append(f"stream: {stream.error}")
    for tag, value in stream.items:
        if tag == IC_NAME:
            data.name = _field(data, "name", decode_jisx0208, value)
        elif tag == IC_ADDRESS:
            data.address = _field(data, "address", decode_jisx0208, value)
        elif tag == IC_BIRTH:
            data.birth_date = _field(data, "birth", era_date, value)
        elif tag == IC_ISSUE:
            data.issue_date = _field(data, "issue", era_date, value)
        elif tag == IC_COLOUR:
            data.colour_class = _field(data, "colour", decode_jisx0208, value)
        elif tag == IC_EXPIRY:
            data.expiry = _field(data, "expiry", era_date, value)
        elif tag in IC_CONDITIONS:
            text = _field(data, f"condition {tag:02X}", decode_jisx0208, value)
            if text:
                data.conditions.append(text)
        elif tag == IC_NUMBER:
            data.licence_number = _field(data, "number", decode_jisx0201, value) or None
        elif tag in IC_DATES:
            data.dates[IC_DATES[tag]] = _field(data, f"date {tag:02X}", era_date, value)
        elif tag in IC_CLASS_DATES:
            code, name = IC_CLASS_DATES[tag]
            since = _field(data, f"class {tag:02X}", era_date, value)
            data.classes.append(LicenceClass(code, name, held=since is not None, since=since))
        elif tag in IC_KNOWN_IGNORED:
            continue
        else:
            data.unknown[f"{tag:02X}"] = value.hex()
    return data


def decode_ic_common(value: bytes) -> dict[str, Any]:
    """IC licence EF 2F01 tag 45: spec version, issue date, expiry (BCD)."""
    if len(value) < 11:
        raise JISError("common data too short")
    return {"issue_date": bcd_date(value[3:7]), "expiry": bcd_date(value[7:11])}
