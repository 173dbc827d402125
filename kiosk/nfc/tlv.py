"""TLV decoders for the three encodings these cards use.

* DER/BER headers (certificates, JPKI EFs): ``der_total_length`` tells a READ
  BINARY loop when to stop.
* The licence TLV stream (マイナ免許証 WEF02, IC licence EF01): 1-byte tags,
  lengths of 1 byte, ``81 xx`` or ``82 xx xx``, padding ``FF``/``00`` at a tag
  position ends the data.  Tags above FF are written as two bytes whose first
  byte is below 20 (see licence_tags.py for why that is a guess).
* JICSAP simple TLV (共通AP records): 1-byte tag, 1-byte length or FF + 2 bytes.

Every decoder raises only TLVError, and the stream decoder never throws away
what it already decoded: it returns the items plus the error it stopped on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.errors import CardProtocolError


class TLVError(CardProtocolError):
    pass


def der_header(data: bytes | bytearray, offset: int = 0) -> tuple[int, int, int] | None:
    """(tag, header_length, value_length) of the DER element at offset; None if incomplete."""
    if len(data) < offset + 2:
        return None
    pos = offset
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:                       # multi-byte tag number
        tag_bytes = 0
        while True:
            if pos >= len(data):
                return None
            tag = (tag << 8) | data[pos]
            pos += 1
            tag_bytes += 1
            if not data[pos - 1] & 0x80:
                break
            if tag_bytes > 3:
                raise TLVError("tag too long")
    if pos >= len(data):
        return None
    first = data[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise TLVError("indefinite length is not DER")
    else:
        n = first & 0x7F
        if n > 3:
            raise TLVError("length field too long")
        if len(data) < pos + n:
            return None
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, pos - offset, length


def der_total_length(data: bytes | bytearray) -> int | None:
    """Total size of the DER element that starts the buffer, from its header."""
    h = der_header(data)
    if h is None:
        return None
    return h[1] + h[2]


@dataclass
class StreamResult:
    items: list[tuple[int, bytes]] = field(default_factory=list)
    error: str | None = None       # why decoding stopped early, if it did
    end: int = 0                   # offset where data ended (padding or EOF)
    complete: bool = False         # True when padding was seen (no more data to read)


def _licence_tag(data: bytes | bytearray, pos: int, style: str) -> tuple[int | None, int]:
    b = data[pos]
    if b in (0x00, 0xFF):
        return None, pos                          # padding: end of data
    two_byte = b == 0x5F if style == "ic" else b < 0x20
    if two_byte:                                  # IC: 5F xx; マイナ免許証: tags above FF
        if pos + 1 >= len(data):
            raise IndexError
        return (b << 8) | data[pos + 1], pos + 2
    return b, pos + 1


def _length(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    if first == 0x81:
        return data[pos + 1], pos + 2
    if first == 0x82:
        if pos + 2 >= len(data):
            raise IndexError
        return (data[pos + 1] << 8) | data[pos + 2], pos + 3
    raise TLVError(f"unsupported length byte {first:02X}")


def decode_licence_stream(data: bytes | bytearray, style: str = "myna", start: int = 0) -> StreamResult:
    """Decode as much of a licence TLV stream as the bytes allow.

    ``style`` "myna" (マイナ免許証 WEF02) or "ic" (conventional IC licence).
    ``start`` resumes at an item boundary found earlier (a READ loop decodes
    each chunk once, in linear time overall).
    """
    out = StreamResult()
    pos = start
    while pos < len(data):
        start = pos
        try:
            tag, pos = _licence_tag(data, pos, style)
            if tag is None:
                out.end = pos
                out.complete = True
                return out
            length, pos = _length(data, pos)
        except IndexError:
            out.error = "truncated header"
            out.end = start
            return out
        except TLVError as exc:
            out.error = str(exc)
            out.end = start
            return out
        if pos + length > len(data):
            out.error = "truncated value"
            out.end = start
            return out
        out.items.append((tag, bytes(data[pos:pos + length])))
        pos += length
    out.end = pos
    return out


def decode_simple_tlv(data: bytes) -> list[tuple[int, bytes]]:
    """JICSAP simple TLV (records of the 共通AP)."""
    items = []
    pos = 0
    while pos < len(data):
        tag = data[pos]
        if tag in (0x00, 0xFF):
            break
        if pos + 1 >= len(data):
            raise TLVError("truncated simple-TLV header")
        length = data[pos + 1]
        pos += 2
        if length == 0xFF:
            if pos + 2 > len(data):
                raise TLVError("truncated simple-TLV length")
            length = (data[pos] << 8) | data[pos + 1]
            pos += 2
        if pos + length > len(data):
            raise TLVError("truncated simple-TLV value")
        items.append((tag, bytes(data[pos:pos + length])))
        pos += length
    return items


def encode_licence_item(tag: int, value: bytes) -> bytes:
    """Inverse of the stream decoder (used by the simulated card)."""
    t = bytes((tag,)) if tag <= 0xFF else bytes((tag >> 8, tag & 0xFF))
    n = len(value)
    if n < 0x80:
        ln = bytes((n,))
    elif n <= 0xFF:
        ln = bytes((0x81, n))
    else:
        ln = bytes((0x82, n >> 8, n & 0xFF))
    return t + ln + value
