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

Block numbers follow ISO 14443-4 (the PICC rules: toggle on an I-block and on
an R(ACK) that continues a chain; R(NAK) of another number -> R(ACK)).  One
difference is deliberate: a frame on this link is never lost, only late, and
nfcpy's udp driver reads a late frame as the answer to the R(NAK) or R(ACK)
it sent after its timeout.  So each exchange is answered exactly once:

* a retry (R(NAK)/R(ACK) with the current block number) while the command
  still runs is answered at once: S(WTX), or the answer if it is ready;
* a retry after the answer went out is not answered again (a second copy
  would be read as the answer to the next command);
* a retry never runs the command twice, and a late S(WTX) echo is dropped.

The frame waiting time is the card's (FWI 8, 77 ms) or ``fwi``; the tag asks
for more time (S(WTX), WTXM 10) when half of the current waiting time has
passed, or after ``wtx_after`` seconds (a tag that answers late, like a busy
host).  ``card_delay`` makes every APDU take that much longer (a slow card).
``attrib_delays`` answers the next ATTRIBs that late, one delay each: nfcpy
waits a fixed 30 ms for the ATTRIB answer, which a busy or emulated host can
miss (issue 17: the arm64 bench); the reader's one retry must cover it.

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
import time
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

Address = tuple[str, int]             # the reader's UDP address (IPv4)


def sensb_fields(atr: bytes) -> tuple[bytes, bytes]:
    """(application data, protocol info) from a PC/SC Part 3 Type B ATR (3B 88 80 01 ...)."""
    if len(atr) >= 12 and atr[:4] == bytes.fromhex("3B888001"):
        return atr[4:8], atr[8:11]
    return DEFAULT_APP_DATA, DEFAULT_PROTO


class NfcUdpCardServer(CardSlot):
    """A Type B tag on a UDP port.  ``insert``/``remove``/``swap`` come from CardSlot."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 trace: str | Path | TextIO | None = None, yank: str = "rfoff",
                 fwi: int | None = None, wtx_after: float | None = None, card_delay: float = 0.0,
                 attrib_delays: tuple[float, ...] = ()):
        super().__init__(trace)
        if yank not in ("rfoff", "silent"):
            raise ValueError("yank must be 'rfoff' or 'silent'")
        if fwi is not None and not 0 <= fwi <= 14:
            raise ValueError("fwi must be 0..14 (ISO 14443-4)")
        self.yank = yank
        self.fwi = fwi
        self.wtx_after = wtx_after
        self.card_delay = card_delay
        self.attrib_delays = list(attrib_delays)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self._wake_r, self._wake_w = os.pipe()
        self._done_r, self._done_w = os.pipe()      # the worker finished a command
        self._fd_lock = threading.Lock()
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
        self.peer: Address | None = None
        self._bn = 1                      # the PICC's block number (ISO 14443-4 rule C)
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
    def _send_raw(self, payload: bytes, addr: Address) -> None:
        try:
            self.sock.sendto(payload, addr)
        except OSError:
            pass

    def _send(self, frame: bytes, addr: Address) -> None:
        self._send_raw(BRTY + b" " + frame.hex().encode(), addr)

    def _recv(self, timeout: float | None) -> tuple[bytes, bytes | None, Address] | None:
        """One datagram as (brty, frame | None, addr); None on timeout or shutdown."""
        watched: list[socket.socket | int] = [self.sock, self._wake_r]
        ready, _, _ = select.select(watched, [], [], timeout)
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
    def _handle(self, brty: bytes, frame: bytes | None, addr: Address) -> None:
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
            app, proto = self._sensb(card)
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
            if self.attrib_delays:
                time.sleep(self.attrib_delays.pop(0))   # a late tag (bench setting), not synchronisation
            self._send(b"\x00", addr)               # MBLI 0, CID 0
            return
        if self.active:
            self._iso_dep(card, frame, addr)

    def _sensb(self, card: SimulatedCard) -> tuple[bytes, bytes]:
        app, proto = sensb_fields(card.atr)
        if self.fwi is not None:
            proto = proto[:2] + bytes(((self.fwi << 4) | (proto[2] & 0x0F),))
        return app, proto

    def fwt(self, card: SimulatedCard) -> float:
        """The frame waiting time the reader learns from SENSB_RES (ISO 14443-3: 256*16/fc*2^FWI)."""
        return 4096 / 13.56e6 * 2.0 ** (self._sensb(card)[1][2] >> 4)

    def _iso_dep(self, card: SimulatedCard, frame: bytes, addr: Address) -> None:
        pcb = frame[0]
        bn = pcb & 0x01
        if pcb & 0xE2 == 0x02:                      # I-block
            self._bn = bn                           # rule D: toggle (to the reader's number)
            self._rx_chain += frame[1:]
            if pcb & 0x10:                          # the reader chains: ACK this part
                self._send(bytes((0xA2 | bn,)), addr)
                return
            apdu, self._rx_chain = bytes(self._rx_chain), bytearray()
            response = self._run(card, apdu, addr)
            if response is None:
                return
            self._tx_rest = response
            self._send_next(addr)
        elif pcb & 0xF6 == 0xA2:                    # R(ACK)
            if bn != self._bn and self._tx_rest:    # rules E and 13: the next part of our chain
                self._bn = bn
                self._send_next(addr)
            # bn == ours: a retry of a block already sent; the late one answers it
        elif pcb & 0xF6 == 0xB2:                    # R(NAK)
            if bn != self._bn:                      # rule 12 (nfcpy's presence check): still here
                self._send(bytes((0xA2 | self._bn,)), addr)
        elif pcb & 0xF7 == 0xC2:                    # S(DESELECT)
            self._send(bytes((pcb,)), addr)
            with self._state_lock:
                self._reset_link()
            card.power_off()

    def _send_next(self, addr: Address) -> None:
        chunk, self._tx_rest = self._tx_rest[:MAX_INF], self._tx_rest[MAX_INF:]
        pcb = (0x12 if self._tx_rest else 0x02) | self._bn
        self._send(bytes((pcb,)) + chunk, addr)

    def _compute(self, card: SimulatedCard, apdu: bytes) -> bytes:
        if self.card_delay:
            time.sleep(self.card_delay)             # a slow card (bench setting), not synchronisation
        return card.process(apdu)

    def _wake_done(self, _future: concurrent.futures.Future[bytes]) -> None:
        with self._fd_lock:
            if not self._stopping:
                os.write(self._done_w, b"d")

    def _run(self, card: SimulatedCard, apdu: bytes, addr: Address) -> bytes | None:
        """Process one APDU; ask for waiting time (S(WTX)) while it runs.

        ``owed``: the reader's last frame is unanswered.  Any frame other than
        a retry or our S(WTX) echo means the reader moved on (field off, a new
        poll): the answer is dropped, the frame handled.
        """
        fwt = self.fwt(card)
        wait = self.wtx_after if self.wtx_after is not None else fwt / 2
        future = self._worker.submit(self._compute, card, apdu)
        future.add_done_callback(self._wake_done)
        owed, since = True, time.monotonic()
        while True:
            if owed and future.done():
                break
            timeout = max(0.0, since + wait - time.monotonic()) if owed else None
            watched: list[socket.socket | int] = [self.sock, self._wake_r, self._done_r]
            ready, _, _ = select.select(watched, [], [], timeout)
            if self._wake_r in ready:
                return None                         # shutting down
            if self._done_r in ready:
                os.read(self._done_r, 64)
                continue
            if not ready:                           # half the waiting time gone: ask for more
                self._send(bytes((0xF2, WTXM)), addr)
                owed = False
                continue
            got = self._recv(0)
            if got is None:
                continue
            frame = got[1] or b""
            if frame[:1] == b"\xF2" and len(frame) == 2:
                if not owed:                        # our S(WTX) granted: WTXM x FWT from now
                    owed, since = True, time.monotonic()
                    wait = (self.wtx_after if self.wtx_after is not None
                            else (frame[1] & 0x3F) * fwt / 2)
                continue                            # a late echo: dropped
            if got[0] == BRTY and frame and frame[0] & 0xE6 == 0xA2 and frame[0] & 0x01 == self._bn:
                if owed:                            # a retry: the reader is waiting, answer now
                    since = time.monotonic() - wait
                continue                            # already answered: the late block answers it
            future.cancel()                         # the reader moved on; a running command completes
            self._handle(*got)
            return None
        try:
            response = future.result()
        except CardGone:
            self.flush_trace(card)
            self._card_gone(card, addr)
            return None
        self.flush_trace(card)
        return response

    def _card_gone(self, card: SimulatedCard, addr: Address) -> None:
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
        with self._fd_lock:
            for fd in (self._wake_r, self._wake_w, self._done_r, self._done_w):
                os.close(fd)
