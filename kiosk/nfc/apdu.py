"""APDU framing and exchange, with every card-protocol safety net in one place.

* short APDUs only; READ BINARY with Le=00 looping on the offset;
* 61xx (GET RESPONSE) and 6Cxx (re-send with Le) handled, each capped, so a
  hostile card cannot loop us;
* status words become typed exceptions;
* one trace hook sees every exchange, with VERIFY/CHANGE data masked;
* a guard that refuses, before sending, anything that would touch the My
  Number (券面事項入力補助AP EF 0001) or use 照合番号A.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterator

from kiosk.errors import (CardError, CardNotRespondingError, CardProtocolError, FileNotFoundOnCard,
                          ForbiddenOperation, SecurityStatusError)
from kiosk.nfc.reader import Connection

SW_OK = 0x9000
SW_EOF_WARNING = 0x6282
SW_EOF = 0x6B00
SW_SECURITY = 0x6982
SW_AUTH_BLOCKED = 0x6983
SW_PIN_BLOCKED = 0x6984
SW_NOT_FOUND = 0x6A82

INS_VERIFY = 0x20
INS_CHANGE = 0x24
INS_CHANGE_KEY = 0x32          # JICSAP CHANGE KEY (80 32)
INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_READ_RECORD = 0xB2
INS_GET_RESPONSE = 0xC0
INS_SIGN = 0x2A
MASKED_INS = (INS_VERIFY, INS_CHANGE, INS_CHANGE_KEY)

MAX_GET_RESPONSE = 64          # iterations of 61xx per command
MAX_RESPONSE_BYTES = 65536     # bytes gathered through 61xx per command
MAX_READ_BYTES = 65536         # bytes gathered by one READ BINARY loop
# A READ BINARY loop may send at most ceil(size / MIN_READ_AVERAGE) + 1 READs for a
# file of ``size`` bytes (its declared size, else the caller's maximum): a card
# that answers 1 byte at a time ends in a typed error after a few dozen APDUs,
# not 32,000.  Real cards answer 256 bytes per Le=00 READ.
MIN_READ_AVERAGE = 128
# Seconds one card operation (status, licence, a certificate, a signature) may
# take: about 30 APDUs at 300 ms each on a slow contactless reader fits twice.
# config key timeouts.card_operation_seconds (docs/config.md).
DEFAULT_OPERATION_SECONDS = 20.0


def read_cap(size: int) -> int:
    """The most READ BINARY commands one file of ``size`` bytes may cost."""
    return math.ceil(max(size, 1) / MIN_READ_AVERAGE) + 1

# AIDs (card-protocol.md §1.1).
AID_JPKI = bytes.fromhex("D392F000260100000001")
AID_TEXT = bytes.fromhex("D3921000310001010408")       # 券面事項入力補助AP
AID_VISUAL = bytes.fromhex("D3921000310001010402")     # 券面事項確認AP
AID_COMMON = bytes.fromhex("D3921000310001010100")     # 共通カードAP
AID_LICENCE = bytes.fromhex("A0000002310600000000000000000000")
AID_IC_DF1 = bytes.fromhex("A0000002310100000000000000000000")

UNKNOWN_DF = b"?"     # after power-on or a failed SELECT: where the card is, we do not assume

# (DF, EF) pairs that must never be selected, read or verified against.
_FORBIDDEN_EFS = {
    (AID_TEXT, 0x0001): "the My Number EF",
    (AID_TEXT, 0x0014): "照合番号A",
    (AID_VISUAL, 0x0013): "照合番号A",
    (AID_VISUAL, 0x0005): "the My Number image",
}
_FORBIDDEN_FIDS = {fid for _df, fid in _FORBIDDEN_EFS}


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK


@dataclass(frozen=True)
class TraceEntry:
    """One exchange as the trace records it; VERIFY/CHANGE data never kept."""

    header: bytes            # CLA INS P1 P2
    lc: int                  # length of the data field (0 when absent)
    data: bytes | None       # None when masked
    le: int | None
    response: bytes          # data part of the response
    sw: int | None           # None when the card left or the response was malformed
    note: str = ""

    @property
    def ins(self) -> int:
        return self.header[1]

    @property
    def masked(self) -> bool:
        return self.data is None and self.lc > 0

    def render(self) -> str:
        parts = [self.header.hex(" ").upper()]
        if self.lc:
            parts.append(f"{self.lc:02X}")
            parts.append("<masked>" if self.data is None else self.data.hex().upper())
        if self.le is not None:
            parts.append(f"{self.le & 0xFF:02X}")
        sw = "----" if self.sw is None else f"{self.sw:04X}"
        resp = f" [{len(self.response)} B]" if self.response else ""
        note = f" ({self.note})" if self.note else ""
        return f"> {' '.join(parts)}  < {sw}{resp}{note}"


def build_apdu(cla: int, ins: int, p1: int, p2: int, data: bytes | bytearray = b"",
               le: int | None = None) -> bytearray:
    """A short APDU (a bytearray, so a VERIFY can be wiped).  Le 256 is written as 00."""
    if len(data) > 255:
        raise CardProtocolError("command data longer than a short APDU allows")
    out = bytearray((cla, ins, p1, p2))
    if data:
        out.append(len(data))
        out += data
    if le is not None:
        if not 0 <= le <= 256:
            raise CardProtocolError("bad Le")
        out.append(le & 0xFF)
    return out


def parse_apdu(apdu: bytes | bytearray, keep_data: bool = True) -> tuple[bytes, int, bytes, int | None, bool]:
    """(header, Lc, data, Le, well_formed) of a short command APDU; Le 00 is 256.

    ``keep_data=False`` copies no data (the trace never copies a PIN)."""
    header = bytes(apdu[:4]).ljust(4, b"\x00")
    body = apdu[4:]
    lc, data, le, ok = 0, b"", None, len(apdu) >= 4
    if len(body) == 1:
        le = body[0] or 256
    elif len(body) > 1:
        lc = body[0]
        present = len(body) - 1
        data = bytes(body[1:1 + lc]) if keep_data else b""
        rest = body[1 + lc:]
        ok = ok and present >= lc and len(rest) <= 1
        if rest:
            le = rest[0] or 256
    return header, lc, data, le, ok


def trace_entry(apdu: bytes | bytearray, response: bytes, sw: int | None, note: str = "") -> TraceEntry:
    """Parse a short command APDU into a trace entry, masking PIN data."""
    masked = len(apdu) > 5 and apdu[1] in MASKED_INS
    header, lc, data, le, _ok = parse_apdu(apdu, keep_data=not masked)
    return TraceEntry(header, lc, None if masked else data, le, bytes(response), sw, note)


TraceHook = Callable[[TraceEntry], None]


class ApduChannel:
    """Send APDUs over a Connection; the only place that talks to a card."""

    def __init__(self, connection: Connection, trace: TraceHook | None = None):
        self.connection = connection
        self.trace = trace
        self.current_df: bytes | None = UNKNOWN_DF
        self.current_ef: int | None = None
        self.count = 0               # APDUs sent, for benches
        self.bytes_exchanged = 0
        self.deadline: float | None = None     # time.monotonic() by which the operation ends
        # busy(seconds) -> context manager, around each outermost operation: the watchdog
        # counts the worker alive for exactly the operation's deadline (appliance/health.py).
        self.busy: Callable[[float], ContextManager[Any]] = lambda _seconds: nullcontext()
        self._slowest = 0.0                    # longest exchange seen in this operation
        self.clock: Callable[[], float] = time.monotonic

    # -- the operation deadline ---------------------------------------------
    @contextmanager
    def operation(self, seconds: float | None) -> Iterator[None]:
        """Bound one card operation in time; nested operations share the outer deadline.

        The check runs before each APDU, never after: an answer that arrives
        late (a VERIFY's, say) is still used, and an APDU that would end past
        the deadline, judged by the slowest exchange so far, is not sent.
        """
        if self.deadline is not None or seconds is None:
            yield
            return
        with self.busy(seconds):
            self.deadline, self._slowest = self.clock() + seconds, 0.0
            try:
                yield
            finally:
                self.deadline = None

    def _check_deadline(self) -> None:
        if self.deadline is not None and self.clock() + self._slowest > self.deadline:
            raise CardNotRespondingError("the card did not finish the operation in time")

    # -- the raw exchange -------------------------------------------------
    def _exchange(self, apdu: bytes | bytearray) -> Response:
        self._check_deadline()
        self.count += 1
        started = self.clock()
        try:
            raw = self.connection.transmit(apdu)
        except Exception:
            self._trace(apdu, b"", None, "no response")
            raise
        finally:
            self._slowest = max(self._slowest, self.clock() - started)
        self.bytes_exchanged += len(apdu) + len(raw)
        if not isinstance(raw, (bytes, bytearray)) or len(raw) < 2:
            self._trace(apdu, b"", None, "malformed response")
            raise CardProtocolError("response shorter than a status word")
        resp = Response(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])
        self._trace(apdu, resp.data, resp.sw)
        return resp

    def _trace(self, apdu: bytes | bytearray, data: bytes, sw: int | None, note: str = "") -> None:
        if self.trace is not None:
            self.trace(trace_entry(apdu, data, sw, note))

    def send(self, cla: int, ins: int, p1: int, p2: int, data: bytes | bytearray = b"",
             le: int | None = None) -> Response:
        """One command, following 61xx and 6Cxx within their caps."""
        self._guard(ins, p1, p2, data)
        apdu = build_apdu(cla, ins, p1, p2, data, le)
        try:
            resp = self._exchange(apdu)
        finally:
            if ins in MASKED_INS:
                apdu[:] = b"\x00" * len(apdu)      # no PIN copy outlives the exchange
        if resp.sw >> 8 == 0x6C and ins not in MASKED_INS:
            # Wrong Le: re-send once with the Le the card asks for.  Never for
            # VERIFY: a second VERIFY would spend a second try.
            resp = self._exchange(build_apdu(cla, ins, p1, p2, bytes(data), (resp.sw & 0xFF) or 256))
            if resp.sw >> 8 == 0x6C:
                raise CardProtocolError("card repeated 6Cxx", sw=resp.sw)
        if resp.sw >> 8 == 0x61:
            resp = self._get_response_chain(resp)
        if le is not None and len(resp.data) > (le or 256) and resp.sw >> 8 != 0x61:
            raise CardProtocolError("card returned more data than asked for", sw=resp.sw)
        return resp

    def _get_response_chain(self, first: Response) -> Response:
        gathered = bytearray(first.data)
        resp = first
        for _ in range(MAX_GET_RESPONSE):
            if resp.sw >> 8 != 0x61:
                return Response(bytes(gathered), resp.sw)
            resp = self._exchange(build_apdu(0x00, INS_GET_RESPONSE, 0, 0, b"", (resp.sw & 0xFF) or 256))
            gathered += resp.data
            if len(gathered) > MAX_RESPONSE_BYTES:
                raise CardProtocolError("GET RESPONSE chain too long")
        raise CardProtocolError("card kept answering 61xx", sw=resp.sw)

    # -- the My Number guard ---------------------------------------------
    def _guard(self, ins: int, p1: int, p2: int, data: bytes | bytearray) -> None:
        """Refuse, before sending, anything that could reach the My Number or 照合番号A.

        The guard must hold even if the current DF is not what we think: after
        power-on or a failed SELECT the DF is UNKNOWN_DF, and then the forbidden
        file ids are refused in any application.
        """
        ef = None
        if ins == INS_SELECT:
            if p1 == 0x04:
                aid = bytes(data)
                for protected in (AID_TEXT, AID_VISUAL):
                    if aid != protected and protected.startswith(aid):
                        raise ForbiddenOperation("refused: partial AID of an application holding the My Number")
                return
            if p1 == 0x00 and not data:
                return                                  # SELECT MF
            if p1 in (0x00, 0x02) and len(data) == 2:
                ef = (data[0] << 8) | data[1]
            else:
                raise ForbiddenOperation("refused: only SELECT by AID, MF or file id is used")
        elif ins == INS_READ_BINARY and p1 & 0x80:
            ef = p1 & 0x1F
        elif ins == INS_READ_BINARY:
            ef = self.current_ef
        elif ins == INS_READ_RECORD and p2 & 0xF8:
            ef = p2 >> 3
        elif ins == INS_READ_RECORD:
            ef = self.current_ef
        elif ins == INS_VERIFY and p2 & 0x80 and p2 & 0x1F:
            ef = p2 & 0x1F
        elif ins == INS_VERIFY and p2 == 0x80:
            ef = self.current_ef
        if ef is None:
            return
        if self.current_df == UNKNOWN_DF:
            if ef in _FORBIDDEN_FIDS:
                raise ForbiddenOperation("refused: file id of the My Number or 照合番号A in an unknown application")
        elif self.current_df is not None and (self.current_df, ef) in _FORBIDDEN_EFS:
            raise ForbiddenOperation(f"refused: {_FORBIDDEN_EFS[(self.current_df, ef)]} is never touched")

    # -- ISO commands -----------------------------------------------------
    def check(self, resp: Response, what: str) -> Response:
        if resp.ok:
            return resp
        if resp.sw == SW_SECURITY:
            raise SecurityStatusError(f"{what}: security status not satisfied", sw=resp.sw)
        if resp.sw == SW_NOT_FOUND:
            raise FileNotFoundOnCard(f"{what}: not found", sw=resp.sw)
        raise CardError(f"{what}: card answered {resp.sw:04X}", sw=resp.sw)

    def select_aid(self, aid: bytes, required: bool = True) -> bool:
        resp = self.send(0x00, INS_SELECT, 0x04, 0x0C, aid)
        if resp.ok:
            self.current_df, self.current_ef = aid, None
            return True
        self.current_df, self.current_ef = UNKNOWN_DF, None
        if not required and resp.sw in (SW_NOT_FOUND, 0x6A86, 0x6A81, 0x6999):
            return False
        self.check(resp, "SELECT application")
        return False

    def select_mf(self) -> bool:
        """ISO SELECT MF (the conventional IC licence only; see card-protocol §1.2)."""
        resp = self.send(0x00, INS_SELECT, 0x00, 0x00)
        self.current_df, self.current_ef = (b"MF", None) if resp.ok else (UNKNOWN_DF, None)
        return resp.ok

    def select_ef(self, fid: int) -> None:
        resp = self.send(0x00, INS_SELECT, 0x02, 0x0C, bytes((fid >> 8, fid & 0xFF)))
        self.check(resp, f"SELECT EF {fid:04X}")
        self.current_ef = fid

    def read_chunk(self, offset: int, sfi: int | None = None, le: int = 256) -> tuple[bytes, bool]:
        """One READ BINARY.  Returns (data, eof)."""
        if sfi is not None:
            if offset > 0xFF:
                raise CardProtocolError("short-EF READ BINARY offset above 255")
            p1, p2 = 0x80 | sfi, offset
        else:
            if offset > 0x7FFF:
                raise CardProtocolError("READ BINARY offset above 32767")
            p1, p2 = offset >> 8, offset & 0xFF
        resp = self.send(0x00, INS_READ_BINARY, p1, p2, b"", le)
        if sfi is not None and resp.sw in (SW_OK, SW_EOF_WARNING):
            self.current_ef = sfi
        if resp.sw == SW_EOF_WARNING:
            return resp.data, True
        if resp.sw == SW_EOF:
            return b"", True
        self.check(resp, "READ BINARY")
        return resp.data, False

    def read_binary(self, total: Callable[[bytearray], int | None], sfi: int | None = None,
                    limit: int = MAX_READ_BYTES) -> bytes:
        """Read the current EF (or SFI) until ``total(data_so_far)`` is satisfied.

        ``total`` parses what was read so far (incrementally: it is called once
        per chunk and must not re-decode the whole buffer) and returns the full
        length, or None when it cannot tell yet.  The loop stops at that length
        and at EOF; it refuses zero-progress chunks, files above ``limit`` (the
        file's maximum size) and more than ``read_cap`` READs for the file.
        """
        first, eof = self.read_chunk(0, sfi)
        data = bytearray(first)
        reads = 1
        while True:
            want = total(data)
            if want is not None and len(data) >= want:
                return bytes(data[:want])
            if eof:
                if want is not None:        # the return above did not fire: shorter than its header
                    raise CardProtocolError("EF ended before the length its header gives")
                return bytes(data)
            if want is not None and want > limit or len(data) > limit:
                raise CardProtocolError("EF larger than the kiosk reads")
            if reads >= read_cap(want if want is not None else limit):
                raise CardProtocolError("card answers READ BINARY in chunks too small to finish")
            if sfi is not None and len(data) > 0xFF:
                sfi = None          # continue with plain offsets on the now-current EF
            chunk, eof = self.read_chunk(len(data), sfi)
            reads += 1
            if not chunk and not eof:
                raise CardProtocolError("READ BINARY made no progress")
            data += chunk

    def read_record(self, record: int, sfi: int | None = None) -> bytes:
        p2 = (sfi << 3) | 0x04 if sfi is not None else 0x04
        resp = self.send(0x00, INS_READ_RECORD, record, p2, b"", 256)
        self.check(resp, "READ RECORD")
        return resp.data

    def verify(self, p2: int, pin: bytes | bytearray | None) -> Response:
        """VERIFY; an empty one reads the counter without spending a try.

        Only card.py calls this, with the PIN rules enforced around it.
        """
        if pin is not None and len(pin) < 4:
            raise ForbiddenOperation("a VERIFY with data needs at least 4 bytes")
        return self.send(0x00, INS_VERIFY, 0x00, p2, pin if pin is not None else b"")
