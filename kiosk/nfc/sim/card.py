"""The simulated card's APDU engine.

Behaves like the real card where the kiosk can tell the difference:
* SELECT by AID / EF (P2=0C), READ BINARY (plain and short-EF), READ RECORD,
  VERIFY (empty = counter query, no try spent), COMPUTE DIGITAL SIGNATURE
  (80 2A 00 80, PKCS#1 v1.5 over the host's DigestInfo), GET RESPONSE;
* 6982 before VERIFY; wrong PIN -> 63Cx with the new count, the exhausting
  try -> 63C0, every VERIFY after -> 6984 (or what the profile says);
* verified state survives everything except power-off;
* faults: removal after APDU n, a lost response, garbage or truncated
  answers, slow answers, 61xx chaining and 6Cxx.

It records a masked trace of every command and a log of every VERIFY, which
the PIN-safety tests read.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kiosk.nfc.apdu import AID_TEXT, AID_VISUAL, TraceEntry, parse_apdu, trace_entry
from kiosk.nfc.sim.files import MF, SimFile, build_file_system
from kiosk.nfc.sim.profile import Profile, SimPin

ISD = bytes.fromhex("A000000151000000")[:7]
# A PC/SC Part 3 contactless Type B ATR (3B 88 80 01 ...), for a My Number Card.
ATR_TYPE_B = bytes.fromhex("3B888001E1F35E117781830021")
ATR_UNKNOWN = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")


class CardGone(Exception):
    """The simulated card left the field (fault injection or removal)."""


@dataclass
class Faults:
    remove_after: int | None = None        # answer this many APDUs, then leave
    lose_response_at: int | None = None    # process APDU n (1-based) but leave before answering
    garbage_at: dict[int, bytes] = field(default_factory=dict)   # n -> raw answer
    truncate_at: set[int] = field(default_factory=set)           # n -> answer cut to 1 byte
    delay: float = 0.0                     # seconds before each answer
    chain_chunk: int | None = None         # hand data out through 61xx in chunks
    endless_61xx: bool = False             # never stop answering 61xx
    wrong_le: bool = False                 # answer a READ whose Le is not what is left with 6Cxx first
    read_bytes: int | None = None          # answer each READ BINARY with at most this many bytes


@dataclass
class VerifyRecord:
    index: int
    pin_id: str
    with_data: bool
    sw: int


@functools.lru_cache(maxsize=256)
def _raw_rsa(key: Any, padded: bytes, size: int) -> bytes:
    """The card's RSA private operation (deterministic, so benches and the fuzzer may reuse it)."""
    n = key.private_numbers()
    m = int.from_bytes(padded, "big")
    # CRT, as cards do: about 3x faster than pow(m, d, n), so a loaded test
    # machine does not time out nfcpy's udp link while the card "signs".
    s1, s2 = pow(m, n.dmp1, n.p), pow(m, n.dmq1, n.q)
    sig = s2 + n.q * ((n.iqmp * (s1 - s2)) % n.p)
    out: bytes = sig.to_bytes(size, "big")
    return out


def _sw(sw: int) -> bytes:
    return bytes((sw >> 8, sw & 0xFF))


class SimulatedCard:
    def __init__(self, profile: Profile, faults: Faults | None = None):
        self.profile = profile
        self.fs = build_file_system(profile)
        self.pins: dict[str, SimPin] = {k: SimPin(v.value, v.tries_left, v.max_tries, v.locked_answer)
                                        for k, v in profile.pins.items()}
        self._exhausted: set[str] = {k for k, v in self.pins.items() if v.tries_left == 0}
        self.faults = faults or Faults()
        self.lock = threading.RLock()
        self.trace: list[TraceEntry] = []
        self.verifies: list[VerifyRecord] = []
        self.forbidden_touches: list[str] = []
        self.signatures = 0
        self.apdu_count = 0
        self.powered = False
        self.gone = False
        self._reset_state()

    @property
    def atr(self) -> bytes:
        return ATR_UNKNOWN if self.profile.card == "unknown" else ATR_TYPE_B

    # -- power ---------------------------------------------------------------
    def _reset_state(self) -> None:
        self.verified: set[str] = set()
        self.df: bytes | None = MF if self.profile.card == "ic_licence" else None
        self.ef: int | None = None
        self._pending = b""

    def power_on(self) -> bytes:
        with self.lock:
            if self.gone:
                raise CardGone()
            if not self.powered:
                self._reset_state()
            self.powered = True
            return self.atr

    def power_off(self) -> None:
        """Power loss clears every verified PIN (the reason to unpower between residents)."""
        with self.lock:
            self.powered = False
            self._reset_state()

    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self.apdu_count = 0

    def reinsert(self) -> None:
        """The same card placed again (powered down in between)."""
        with self.lock:
            self.gone = False
            self.faults = Faults()
            self.apdu_count = 0
            self.power_off()

    def pin_tries(self, pin_id: str) -> int:
        return self.pins[pin_id].tries_left

    # -- the exchange ---------------------------------------------------------
    def process(self, apdu: bytes | bytearray) -> bytes:
        """One command APDU in, one response out.  Raises CardGone."""
        with self.lock:
            if self.gone:
                raise CardGone()
            if not self.powered:
                self.power_on()
            f = self.faults
            n = self.apdu_count + 1
            if f.remove_after is not None and self.apdu_count >= f.remove_after:
                self._leave()
            self.apdu_count = n
            if f.delay:
                time.sleep(f.delay)          # fault injection: a slow card, not synchronisation
            try:
                resp = self._dispatch(bytes(apdu))
            except Exception as exc:         # noqa: BLE001 - a simulator bug must look like a card error
                from kiosk.journal import log_swallowed
                log_swallowed("sim.dispatch", exc)
                resp = _sw(0x6F00)
            self.trace.append(trace_entry(apdu, resp[:-2], (resp[-2] << 8) | resp[-1]
                                          if len(resp) >= 2 else None))
            if f.lose_response_at == n:
                self._leave()
            if n in f.garbage_at:
                return f.garbage_at[n]
            if n in f.truncate_at:
                return resp[:1]
            return resp

    def _leave(self) -> None:
        self.gone = True
        self.powered = False
        self._reset_state()
        raise CardGone()

    def _dispatch(self, apdu: bytes) -> bytes:
        header, lc, data, le, well_formed = parse_apdu(apdu)
        if not well_formed:
            return _sw(0x6700)
        cla, ins, p1, p2 = header
        if self.profile.card == "unknown":
            return _sw(0x6A82) if ins == 0xA4 else _sw(0x6D00)
        if ins == 0xC0 and cla == 0x00:
            return self._get_response(le or 256)
        self._pending = b""
        if cla == 0x00 and ins == 0xA4:
            return self._select(p1, p2, data)
        if cla == 0x00 and ins == 0xB0:
            return self._read_binary(p1, p2, le, apdu)
        if cla == 0x00 and ins == 0xB2:
            return self._read_record(p1, p2)
        if cla == 0x00 and ins == 0x20:
            return self._verify(p1, p2, data if lc else None)
        if cla == 0x80 and ins == 0x2A:
            return self._sign(p1, p2, data)
        return _sw(0x6D00)

    # -- commands -------------------------------------------------------------
    def _select(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 == 0x04:
            if data == ISD:
                self.df, self.ef = None, None
                return _sw(0x9000)
            if data in self.fs and data != MF:
                self.df, self.ef = data, None
                return _sw(0x9000)
            return _sw(0x6A82)
        if p1 == 0x00:
            if MF in self.fs:
                self.df, self.ef = MF, None
                return _sw(0x9000)
            return _sw(0x6A86)
        if p1 == 0x02 and len(data) == 2:
            fid = (data[0] << 8) | data[1]
            self._note_touch(fid)
            if self.df in self.fs and fid in self.fs[self.df]:
                self.ef = fid
                return _sw(0x9000)
            return _sw(0x6A82)
        return _sw(0x6A86)

    def _note_touch(self, fid: int) -> None:
        if (self.df == AID_TEXT and fid in (0x0001, 0x0014)) or (self.df == AID_VISUAL and fid == 0x0013):
            self.forbidden_touches.append(f"{self.df.hex()}/{fid:04X}")

    def _file(self, sfi_or_none: int | None) -> tuple[SimFile | None, int | None]:
        if self.df not in self.fs:
            return None, None
        fid = self.ef if sfi_or_none is None else sfi_or_none
        if fid is None:
            return None, None
        return self.fs[self.df].get(fid), fid

    def _allowed(self, f: SimFile) -> bool:
        return all(p in self.verified for p in f.needs)

    def _deliver(self, data: bytes, sw: int) -> bytes:
        f = self.faults
        if f.endless_61xx:
            self._pending = data
            return _sw(0x6100)
        if f.chain_chunk and len(data) > f.chain_chunk:
            self._pending = data[f.chain_chunk:]
            rest = min(len(self._pending), 256) & 0xFF
            return data[:f.chain_chunk] + _sw(0x6100 | rest)
        return data + _sw(sw)

    def _get_response(self, le: int) -> bytes:
        if self.faults.endless_61xx:
            return b"\x00" + _sw(0x6100)
        if not self._pending:
            return _sw(0x6985)
        out, self._pending = self._pending[:le], self._pending[le:]
        if self._pending:
            return out + _sw(0x6100 | (min(len(self._pending), 256) & 0xFF))
        return out + _sw(0x9000)

    def _read_binary(self, p1: int, p2: int, le: int | None, apdu: bytes) -> bytes:
        if p1 & 0x80:
            sfi, offset = p1 & 0x1F, p2
            self._note_touch(sfi)
        else:
            sfi, offset = None, (p1 << 8) | p2
            if self.ef is not None:
                self._note_touch(self.ef)
        f, fid = self._file(sfi)
        if f is None:
            return _sw(0x6A82)
        if f.kind != "binary":
            return _sw(0x6981)
        if not self._allowed(f):
            return _sw(0x6982)
        self.ef = fid
        if offset >= len(f.content):
            return _sw(0x6B00)
        want = le if le is not None else 256
        left = len(f.content) - offset
        if self.faults.wrong_le and left < 256 and want != left:
            return _sw(0x6C00 | left)         # ISO 7816-4: "wrong Le, xx bytes available"
        if self.faults.read_bytes is not None:
            want = min(want, self.faults.read_bytes)
        chunk = f.content[offset:offset + want]
        sw = 0x6282 if (le is not None and le != 256 and len(chunk) < want) else 0x9000
        return self._deliver(chunk, sw)

    def _read_record(self, p1: int, p2: int) -> bytes:
        if p2 & 0x07 != 0x04:
            return _sw(0x6A86)
        sfi = p2 >> 3 or None
        f, fid = self._file(sfi)
        if f is None:
            return _sw(0x6A82)
        if f.kind != "record":
            return _sw(0x6981)
        if not self._allowed(f):
            return _sw(0x6982)
        if not 1 <= p1 <= len(f.records):
            return _sw(0x6A83)
        self.ef = fid
        return self._deliver(f.records[p1 - 1], 0x9000)

    def _verify(self, p1: int, p2: int, pin: bytes | None) -> bytes:
        if p1 != 0x00 or not p2 & 0x80:
            return _sw(0x6A86)
        sfi = p2 & 0x1F
        if sfi:
            self._note_touch(sfi)
        f, _fid = self._file(sfi or None)
        if f is None or f.kind != "pin" or f.pin_id not in self.pins:
            return _sw(0x6A88 if f is None else 0x6981)
        pin_id = f.pin_id
        state = self.pins[pin_id]
        sw = self._verify_answer(pin_id, state, pin)
        self.verifies.append(VerifyRecord(self.apdu_count, pin_id, pin is not None, sw))
        return _sw(sw)

    def _verify_answer(self, pin_id: str, state: SimPin, pin: bytes | None) -> int:
        blocked = int(state.locked_answer, 16)
        if pin is None:
            if pin_id in self.verified and "verified_empty_verify_9000" in self.profile.quirks:
                return 0x9000
            return blocked if state.tries_left == 0 else 0x63C0 | state.tries_left
        if state.tries_left == 0:
            return 0x6984 if blocked == 0x63C0 else blocked
        if pin == state.value.encode("ascii"):
            state.tries_left = state.max_tries
            self.verified.add(pin_id)
            return 0x9000
        state.tries_left -= 1
        self.verified.discard(pin_id)
        return 0x63C0 | state.tries_left

    def _sign(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 != 0x00 or p2 != 0x80:
            return _sw(0x6A86)
        f, _ = self._file(None)
        if f is None or f.kind != "key":
            return _sw(0x6985)
        if not self._allowed(f):
            return _sw(0x6982)
        k: Any = f.key
        size = (k.key_size + 7) // 8
        if not data or len(data) > size - 11:
            return _sw(0x6700)
        padded = b"\x00\x01" + b"\xff" * (size - 3 - len(data)) + b"\x00" + data
        self.signatures += 1
        return self._deliver(_raw_rsa(k, padded, size), 0x9000)
