"""Serve a SimulatedCard to pcscd through the vsmartcard ``vpcd`` driver.

vpcd (server mode, ``DEVICENAME /dev/null:PORT``) listens on PORT; a virtual
card connects to it.  Every message is a 2-byte big-endian length and a
payload: one byte is a control (00 power off, 01 power on, 02 reset,
04 GET ATR), anything longer is a command APDU answered with its R-APDU.

* inserting the card = connecting; removing it = closing the socket;
* GET ATR is answered at any time (pcscd's presence poll sends it mid-session);
* TCP_NODELAY, and TCP_QUICKACK before every recv: vpcd writes the length and
  the payload separately, and a delayed ACK would add ~44 ms per APDU.

vpcd listens on every interface: never install it on a production kiosk
(docs/hil.md).
"""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path
from typing import TextIO

from kiosk.nfc.sim.card import CardGone, SimulatedCard
from kiosk.nfc.sim.link import CardSlot

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0x00, 0x01, 0x02, 0x04
DEFAULT_PORT = 0x8C7B          # Debian's /etc/reader.conf.d/vpcd (35963)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)   # Linux clears it after each ACK
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("vpcd closed the connection")
        buf += chunk
    return bytes(buf)


class VpcdCardServer(CardSlot):
    """One virtual card slot on a vpcd port.  ``insert``/``remove``/``swap`` come from CardSlot."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 trace: str | Path | TextIO | None = None, connect_timeout: float = 5.0):
        super().__init__(trace)
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self._links: dict[int, tuple[socket.socket, threading.Thread]] = {}   # id(card) -> link

    # -- CardSlot hooks --------------------------------------------------------
    def _attach(self, card: SimulatedCard) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(target=self._serve, args=(sock, card),
                                  name=f"vpcd-card-{self.port}", daemon=True)
        self._links[id(card)] = (sock, thread)
        thread.start()

    def _detach(self, card: SimulatedCard) -> None:
        link = self._links.pop(id(card), None)
        if link is None:
            return
        sock, thread = link
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        if thread is not threading.current_thread():
            thread.join(timeout=5.0)

    # -- the card's side of the vpcd protocol -----------------------------------
    def _serve(self, sock: socket.socket, card: SimulatedCard) -> None:
        try:
            while True:
                (length,) = struct.unpack(">H", _recv_exact(sock, 2))
                msg = _recv_exact(sock, length)
                if length == 1:
                    answer = self._control(card, msg[0])
                    if answer is not None:
                        sock.sendall(struct.pack(">H", len(answer)) + answer)
                    continue
                try:
                    response = card.process(msg)
                except CardGone:
                    self.flush_trace(card)
                    self.card_left(card)        # the link drops, like a card leaving the field
                    return
                self.flush_trace(card)
                sock.sendall(struct.pack(">H", len(response)) + response)
        except (OSError, ConnectionError, struct.error):
            return                              # removed by us, or vpcd went away

    @staticmethod
    def _control(card: SimulatedCard, code: int) -> bytes | None:
        try:
            if code == CTRL_ATR:
                return card.atr
            if code == CTRL_ON:
                card.power_on()
            elif code == CTRL_OFF:
                card.power_off()
            elif code == CTRL_RESET:
                card.power_off()
                card.power_on()
        except CardGone:
            pass
        return None
