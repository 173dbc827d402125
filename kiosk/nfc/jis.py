"""JIS X 0208 / JIS X 0201 text and Japanese-era dates, as the licence cards store them."""

from __future__ import annotations

import datetime as dt

# era code -> (kanji, first Gregorian year); card-protocol.md §5.4, §6.
ERAS = {1: ("明治", 1868), 2: ("大正", 1912), 3: ("昭和", 1926), 4: ("平成", 1989), 5: ("令和", 2019)}
ERA_BY_NAME = {name: code for code, (name, _) in ERAS.items()}

# 外字/欠字 placeholders in JIS X 0208 fields (S4); shown as a geta mark.
_GAIJI = {bytes.fromhex(f"FF{n:02X}") for n in (0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xFA)}
GETA = "〓"


class JISError(ValueError):
    pass


def decode_jisx0208(value: bytes) -> str:
    """Two bytes per character, each 21-7E.  Gaiji placeholders become 〓.

    Undecodable pairs become U+FFFD rather than failing the whole field.
    """
    if len(value) % 2:
        value = value[:-1]
    out = []
    for i in range(0, len(value), 2):
        pair = bytes(value[i:i + 2])
        if pair in _GAIJI:
            out.append(GETA)
            continue
        if not (0x21 <= pair[0] <= 0x7E and 0x21 <= pair[1] <= 0x7E):
            out.append("\ufffd")
            continue
        try:
            out.append((b"\x1b$B" + pair + b"\x1b(B").decode("iso2022_jp"))
        except UnicodeDecodeError:
            out.append("\ufffd")
    return "".join(out).rstrip("\u3000 ")


def encode_jisx0208(text: str) -> bytes:
    """Inverse of decode_jisx0208 (used by the simulated card)."""
    enc = text.encode("iso2022_jp")
    if enc.startswith(b"\x1b$B"):
        enc = enc[3:]
    if enc.endswith(b"\x1b(B"):
        enc = enc[:-3]
    if b"\x1b" in enc or len(enc) % 2:
        raise JISError("text is not pure JIS X 0208")
    return enc


def decode_jisx0201(value: bytes) -> str:
    return bytes(value).decode("ascii", "replace").strip()


def era_date(value: bytes | str) -> dt.date | None:
    """'5070315' (era + YYMMDD) -> 2025-03-15.  Returns None for 'not held' (era + 000000).

    Raises JISError on anything that is not a real date.
    """
    text = value.decode("ascii", "replace") if isinstance(value, (bytes, bytearray)) else value
    text = text.strip()
    if len(text) != 7 or not (text.isascii() and text.isdigit()):
        raise JISError("era date must be 7 digits")
    era, yy, mm, dd = int(text[0]), int(text[1:3]), int(text[3:5]), int(text[5:7])
    if yy == mm == dd == 0:
        return None
    if era not in ERAS:
        raise JISError("unknown era code")
    if yy == 0:
        raise JISError("era year 0")
    try:
        return dt.date(ERAS[era][1] + yy - 1, mm, dd)
    except ValueError as exc:
        raise JISError(str(exc)) from None


def to_era(date: dt.date) -> str:
    """2025-03-15 -> '5070315' (used by the simulated card)."""
    for code in sorted(ERAS, reverse=True):
        start = ERAS[code][1]
        if date.year >= start:
            return f"{code}{date.year - start + 1:02d}{date.month:02d}{date.day:02d}"
    raise JISError("date before 明治")


def bcd_date(value: bytes) -> dt.date:
    """4-byte BCD YYYYMMDD (IC licence common data)."""
    text = bytes(value).hex()
    if len(text) != 8 or not text.isdigit():
        raise JISError("BCD date must be 8 digits")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as exc:
        raise JISError(str(exc)) from None


def ascii_date(value: bytes | str) -> dt.date:
    """'YYYYMMDD' in ASCII."""
    text = value.decode("ascii", "replace") if isinstance(value, (bytes, bytearray)) else value
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        raise JISError("date must be 8 digits")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as exc:
        raise JISError(str(exc)) from None
