"""Serve a SimulatedCard as an ISO 14443-4 Type B tag to nfcpy's ``udp`` driver.

nfcpy's udp driver (``ContactlessFrontend('udp:HOST:PORT')``) sends one
datagram per RF frame, ``b"<brty> <hex>"`` (e.g. ``b"106B 050010"``), and
``b"RFOFF"`` when it switches its field off.  This server is the tag:

* SENSB_REQ/ALLB_REQ -> SENSB_RES (PUPI, and the application data and
  protocol info of the card's PC/SC Part 3 ATR, so both bench paths see one
  card); ATTRIB -> answer, the card is powered and ISO-DEP starts;
* ISO-DEP I-blocks carry the APDUs, with chaining both ways (FSC 256),
  R(ACK)/R(NAK) handling (an R(NAK) from nfcpy is its presence check) and
  S(WTX) while a slow command (a signature, an injected delay) runs;
* S(DESELECT) and RFOFF power the card down.

Removal: the card stops answering.  With ``yank="rfoff"`` (the default) the
server also sends ``RFOFF`` to the reader, which nfcpy reports at once as a
broken link; with ``yank="silent"`` the reader finds out through its own
timeouts, like a real card leaving an RC-S380.
"""

from __future__ import annotations

import concurrent.futures
import os
import select
import socket
import threading
from pathlib import Path
from typing import TextIO

from kiosk.nfc.sim.card import CardGone, SimulatedCard
from kiosk.nfc.sim.link import CardSlot

DEFAULT_PORT = 54321                  # nfcpy's udp default
BRTY = b"106B"
FSC = 256                             # FSCI 8
MAX_INF = FSC - 3                     # PCB + 2 CRC bytes
DEFAULT_APP_DATA = bytes.fromhex("E1F35E11")
DEFAULT_PROTO = bytes.fromhex("778183")   # 106 kbit/s, FSCI 8 / ISO 14443-4, FWI 8 (77 ms)
WTXM = 10


def sensb_fields(atr: bytes) -> tuple[bytes, bytes]:
    """(application data, protocol info) from a PC/SC Part 3 Type B ATR (3B 88 80 01 ...)."""
    if len(atr) >= 12 and atr[:4] == bytes.fromhex("3B888001"):
        return atr[4:8], atr[8:11]
    return DEFAULT_APP_DATA, DEFAULT_PROTO


class NfcUdpCardServer(CardSlot):
    """A Type B tag on a UDP port.  ``insert``/``remove``/``swap`` come from CardSlot."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 trace: str | Path | TextIO | None = None, yank: str = "rfoff"):
        super().__init__(trace)
        if yank not in ("rfoff", "silent"):
            raise ValueError("yank must be 'rfoff' or 'silent'")
        self.yank = yank
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self._wake_r, self._wake_w = os.pipe()
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nfc-udp-card")
        self._state_lock = threading.RLock()
        self._reset_link()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name=f"nfc-udp-{self.port}", daemon=True)
        self._thread.start()

    # -- link state ----------------------------------------------------------------
    def _reset_link(self) -> None:
        self.active = False               # ATTRIB done, ISO-DEP running
        self.ready = False                # answered SENSB_REQ
        self.peer = None
        self._last_block = b""
        self._rx_chain = bytearray()
        self._tx_rest = b""
        self._pupi = b""

    def _attach(self, card: SimulatedCard) -> None:
        with self._state_lock:
            self._reset_link()
            self._pupi = os.urandom(4)

    def _detach(self, card: SimulatedCard) -> None:
        with self._state_lock:
            peer, active = self.peer, self.active
            self._reset_link()
        if self.yank == "rfoff" and active and peer is not None:
            self._send_raw(b"RFOFF", peer)

    # -- datagrams -------------------------------------------------------------------
    def _send_raw(self, payload: bytes, addr) -> None:
        try:
            self.sock.sendto(payload, addr)
        except OSError:
            pass

    def _send(self, frame: bytes, addr) -> None:
        self._send_raw(BRTY + b" " + frame.hex().encode(), addr)

    def _recv(self, timeout: float | None):
        """One datagram as (brty, frame | None, addr); None on timeout or shutdown."""
        ready, _, _ = select.select([self.sock, self._wake_r], [], [], timeout)
        if self._wake_r in ready or not ready:
            return None
        data, addr = self.sock.recvfrom(4096)
        if data.startswith(b"RFOFF"):
            return b"RFOFF", None, addr
        parts = data.split()
        if len(parts) != 2:
            return b"", None, addr
        try:
            return parts[0], bytes.fromhex(parts[1].decode("ascii")), addr
        except ValueError:
            return b"", None, addr

    def _serve(self) -> None:
        while not self._stopping:
            try:
                got = self._recv(None)
            except OSError:
                return
            if got is None:
                return
            brty, frame, addr = got
            try:
                self._handle(brty, frame, addr)
            except OSError:
                return

    # -- the tag ----------------------------------------------------------------------
    def _handle(self, brty: bytes, frame: bytes | None, addr) -> None:
        card = self.card
        if brty == b"RFOFF":
            with self._state_lock:
                self._reset_link()
            if card is not None:
                card.power_off()
            return
        if card is None or frame is None or brty != BRTY or not frame:
            return                                  # no card in the field: silence
        if len(frame) == 3 and frame[0] == 0x05:    # SENSB_REQ / ALLB_REQ: a fresh field
            card.power_off()
            app, proto = sensb_fields(card.atr)
            with self._state_lock:
                self._reset_link()
                self._pupi = self._pupi or os.urandom(4)
                self.ready, self.peer = True, addr
                pupi = self._pupi
            self._send(b"\x50" + pupi + app + proto, addr)
            return
        if frame[0] == 0x1D and len(frame) >= 9:    # ATTRIB
            with self._state_lock:
                if not self.ready or frame[1:5] != self._pupi:
                    return
                self.active, self.peer = True, addr
            try:
                card.power_on()
            except CardGone:
                self._card_gone(card, addr)
                return
            self._send(b"\x00", addr)               # MBLI 0, CID 0
            return
        if self.active:
            self._iso_dep(card, frame, addr)

    def _iso_dep(self, card: SimulatedCard, frame: bytes, addr) -> None:
        pcb = frame[0]
        bn = pcb & 0x01
        if pcb & 0xE2 == 0x02:                      # I-block
            self._rx_chain += frame[1:]
            if pcb & 0x10:                          # the reader chains: ACK this part
                self._block(bytes((0xA2 | bn,)), addr)
                return
            apdu, self._rx_chain = bytes(self._rx_chain), bytearray()
            response = self._run(card, apdu, addr)
            if response is None:
                return
            self._tx_rest = response
            self._send_next(bn, addr)
        elif pcb & 0xF6 == 0xA2:                    # R(ACK)
            if self._tx_rest and self._last_block and self._last_block[0] & 0x01 != bn:
                self._send_next(bn, addr)
            elif self._last_block:
                self._block(self._last_block, addr)
        elif pcb & 0xF6 == 0xB2:                    # R(NAK)
            if self._last_block and self._last_block[0] & 0x01 == bn:
                self._block(self._last_block, addr)  # our block was lost: send it again
            else:
                last = self._last_block[0] & 0x01 if self._last_block else bn ^ 1
                self._send(bytes((0xA2 | last,)), addr)   # presence check: still here
        elif pcb & 0xF7 == 0xC2:                    # S(DESELECT)
            self._send(bytes((pcb,)), addr)
            with self._state_lock:
                self._reset_link()
            card.power_off()

    def _send_next(self, bn: int, addr) -> None:
        chunk, self._tx_rest = self._tx_rest[:MAX_INF], self._tx_rest[MAX_INF:]
        pcb = (0x12 if self._tx_rest else 0x02) | bn
        self._block(bytes((pcb,)) + chunk, addr)

    def _block(self, block: bytes, addr) -> None:
        self._last_block = block
        self._send(block, addr)

    def _run(self, card: SimulatedCard, apdu: bytes, addr) -> bytes | None:
        """Process one APDU; ask for waiting time (S(WTX)) while it runs."""
        fwt = 4096 / 13.56e6 * 2 ** (sensb_fields(card.atr)[1][2] >> 4)
        future = self._worker.submit(card.process, apdu)
        while True:
            try:
                response = future.result(timeout=fwt / 2)
                break
            except concurrent.futures.TimeoutError:
                self._send(bytes((0xF2, WTXM)), addr)
                got = self._recv(fwt * WTXM)        # the reader echoes S(WTX)
                if got is None or got[1] is None or got[1][:1] != b"\xF2":
                    future.cancel()                  # the reader gave up (field off, new poll)
                    if got is not None:
                        self._handle(*got)
                    return None
            except CardGone:
                self.flush_trace(card)
                self._card_gone(card, addr)
                return None
        self.flush_trace(card)
        return response

    def _card_gone(self, card: SimulatedCard, addr) -> None:
        with self._state_lock:
            self.peer = addr
        self.card_left(card)

    # -- shutdown -----------------------------------------------------------------------
    def close(self) -> None:
        super().close()
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5.0)
        self._worker.shutdown(wait=False)
        self.sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
