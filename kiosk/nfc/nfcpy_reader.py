"""Readers driven by nfcpy: the Sony RC-S380 (no PC/SC driver on Linux) and nfcpy's udp driver.

URIs: ``nfcpy:usb`` (the first supported USB reader), ``nfcpy:usb:VID:PID``
(e.g. ``nfcpy:usb:054c:06c3``) and ``nfcpy:udp:HOST:PORT`` (the bench).

The card is sensed as Type B at 106 kbit/s, activated as ISO-DEP (nfcpy's
Type4BTag: ATTRIB) and APDUs go through ``tag.transceive``.  To the layers
above this is the same Reader/Connection as PC/SC, down to the ATR, which is
built from the SENSB_RES the way a PC/SC reader builds it (PC/SC Part 3).

RF has no card events: a reader finds a card by sensing.  Waits therefore
sense, then wait ``poll_interval`` on an Event (which ``close()`` sets).
Removal of an active card shows as an R(NAK) presence check failing; in the
middle of an exchange as a broken link or a timeout -> CardRemovedError.
Unpowering is switching the field off.

A missing USB reader shows when the device cannot be opened or its I/O
fails.  The udp driver cannot tell "no tag" from "nobody there" (a sense is
one datagram and a timeout), so ``is_available()`` also checks that the
peer's port is open (see ``udp_port_open``).
"""

from __future__ import annotations

from typing import Any

import logging
import select
import socket
import threading
import time

import nfc
import nfc.clf
from nfc.tag.tt4 import Type4BTag, Type4Tag, Type4TagCommandError

from kiosk.errors import CardRemovedError, NoCardError, ReaderError, UnsupportedCardError
from kiosk.nfc.reader import Connection, Reader, ReaderInfo

# nfcpy logs every ISO-DEP error as a warning; a card leaving is normal here.
logging.getLogger("nfc").setLevel(logging.CRITICAL)

RCS380_IDS = ((0x054C, 0x06C1), (0x054C, 0x06C3))
# Poll + ATTRIB attempts per connect: a second one covers an ATTRIB answer that came
# after nfcpy's fixed 30 ms (before any APDU, so no PIN try is at stake).
ACTIVATE_ATTEMPTS = 2


def part3_atr(sensb_res: bytes, attrib_res: bytes = b"\x00") -> bytes:
    """The ATR a PC/SC reader reports for this Type B card (3B 88 80 01 ...)."""
    body = bytearray.fromhex("3B888001") + sensb_res[5:9] + sensb_res[9:12]
    body.append((attrib_res[0] & 0xF0) if attrib_res else 0x00)
    tck = 0
    for b in body[1:]:
        tck ^= b
    return bytes(body + bytes((tck,)))


def udp_port_open(host: str, port: int, wait: float = 0.1) -> bool:
    """Does anything listen on ``host:port`` (UDP)?

    A datagram to a closed port comes back as ICMP port-unreachable, which
    only a connected socket reports (ECONNREFUSED).  The probe is one word
    that is not an nfcpy frame, so the tag ignores it.  Silence counts as
    open: a tag says nothing unless sensed, and a firewall may drop the ICMP.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, port))
            probe.send(b"PING")
            if select.select([probe], [], [], wait)[0]:
                probe.recv(64)
        except OSError:                  # refused, unreachable, unknown host
            return False
    return True


def udp_address(path: str) -> tuple[str, int]:
    """``udp[:HOST][:PORT]`` with nfcpy's defaults."""
    parts = path.split(":")
    host = parts[1] if len(parts) > 1 and parts[1] else "localhost"
    port = int(parts[2]) if len(parts) > 2 and parts[2] else 54321
    return host, port


class NfcpyConnection(Connection):
    def __init__(self, reader: "NfcpyReader", tag: Type4Tag, atr: bytes):
        self._reader = reader
        self._tag = tag
        self.atr = atr
        self.closed = False

    def transmit(self, apdu: bytes | bytearray) -> bytes:
        if self.closed or self._tag is None or self._reader._tag is not self._tag:
            raise CardRemovedError("the connection to the card is closed")
        try:
            response = self._tag.transceive(bytes(apdu))  # type: ignore[union-attr]  # checked above
        except (Type4TagCommandError, nfc.clf.CommunicationError):
            self._reader._tag_lost(self._tag)
            raise CardRemovedError("the card left the field") from None
        except OSError as exc:                       # USB gone (libusb errors are IOError)
            self._reader._tag_lost(self._tag)
            self._reader._drop_frontend()
            self._reader._set_available(False, str(exc))
            raise ReaderError(f"the reader went away ({exc})", reader=self._reader.uri) from None
        if response is None or len(response) < 2:
            self._reader._tag_lost(self._tag)
            raise CardRemovedError("the card stopped answering")
        return bytes(response)

    def same_card(self) -> bool:
        """Our activated tag still answers the ISO-DEP presence check (a new card
        would need sensing and ATTRIB first)."""
        with self._reader._lock:
            if self.closed or self._tag is None or self._reader._tag is not self._tag:
                return False
            try:
                return bool(self._tag.is_present)  # type: ignore[union-attr]  # checked above
            except Exception as exc:        # noqa: BLE001 - nfcpy raises anything from a dying link: fail closed, journaled
                from kiosk.journal import DEBUG, log_swallowed
                log_swallowed("nfcpy.same_card", exc, DEBUG)
                return False

    def close(self, unpower: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        if unpower:
            self._reader._field_off()


class NfcpyReader(Reader):
    def __init__(self, path: str, poll_interval: float = 0.1, retry_interval: float = 1.0):
        self.path = path
        self.uri = f"nfcpy:{path}"
        self.name = self.uri
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.available: bool | None = None
        self._clf: nfc.ContactlessFrontend | None = None
        self._tag: Type4Tag | None = None
        self._lock = threading.RLock()
        self._closed = threading.Event()

    # -- the front end ---------------------------------------------------------------
    def _frontend(self) -> nfc.ContactlessFrontend:
        if self._clf is None:
            clf = nfc.ContactlessFrontend()
            try:
                found = clf.open(self.path)
            except (OSError, ValueError) as exc:
                self._set_available(False, str(exc))
                raise ReaderError(f"cannot open nfcpy reader {self.path} ({exc})", reader=self.uri) from None
            if not found:
                self._set_available(False, "not found")
                raise ReaderError(f"no nfcpy reader on {self.path}", reader=self.uri)
            self._clf = clf
            self.name = f"{clf.device} ({self.path})" if clf.device else self.uri
            self._set_available(True)
        return self._clf

    def _drop_frontend(self) -> None:
        clf, self._clf = self._clf, None
        self._tag = None
        if clf is not None:
            try:
                clf.close()
            except Exception as exc:        # noqa: BLE001 - the frontend is dropped whatever close() did
                from kiosk.journal import log_swallowed
                log_swallowed("nfcpy.close_frontend", exc)

    def _sense(self) -> Any:
        """One Type B poll: the target or None.  Switches the field off first (nfcpy does)."""
        with self._lock:
            clf = self._frontend()
            self._tag = None
            try:
                return clf.sense(nfc.clf.RemoteTarget("106B"))
            except nfc.clf.CommunicationError:
                return None
            except OSError as exc:
                self._drop_frontend()
                self._set_available(False, str(exc))
                raise ReaderError(f"the reader went away ({exc})", reader=self.uri) from None

    def _field_off(self) -> None:
        """Unpower the card: the field goes off (udp: RFOFF)."""
        with self._lock:
            self._tag = None
            clf = self._clf
            if clf is not None and clf.device is not None:
                try:
                    with clf.lock:
                        clf.device.mute()
                except Exception as exc:    # noqa: BLE001 - field off failed: journaled, the tag is forgotten anyway
                    from kiosk.journal import log_swallowed
                    log_swallowed("nfcpy.field_off", exc)

    def _tag_lost(self, tag: Type4Tag) -> None:
        with self._lock:
            if self._tag is tag:
                self._tag = None

    # -- Reader ------------------------------------------------------------------------
    def card_present(self) -> bool:
        try:
            return self.card_present_strict()
        except ReaderError:
            return False

    def _wait(self, want_present: bool, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed.is_set():
            try:
                if self.card_present_strict() == want_present:
                    return True
                pause = self.poll_interval
            except ReaderError:
                if not want_present:
                    return True                  # no reader: no card on it
                pause = self.retry_interval      # wait for the reader to come back
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._closed.wait(pause if left is None else min(pause, left))
        return False

    def card_present_strict(self) -> bool:
        """Like card_present, but a missing reader raises ReaderError."""
        with self._lock:
            tag = self._tag
            if tag is not None:
                try:
                    if tag.is_present:           # ISO-DEP R(NAK)
                        return True
                except OSError as exc:
                    self._drop_frontend()
                    self._set_available(False, str(exc))
                    raise ReaderError(f"the reader went away ({exc})", reader=self.uri) from None
                self._tag = None
                return False
        return self._sense() is not None

    def is_available(self) -> bool:
        """The device opens (USB: plugged in); over udp, the peer's port is open too."""
        with self._lock:
            try:
                self._frontend()
            except ReaderError:
                return False
            if self.path.startswith("udp") and not udp_port_open(*udp_address(self.path)):
                self._set_available(False, "nothing listens on the udp port")
                return False
            self._set_available(True)
            return True

    def wait_for_card(self, timeout: float | None = None) -> bool:
        return self._wait(True, timeout)

    def wait_for_removal(self, timeout: float | None = None) -> bool:
        return self._wait(False, timeout)

    def connect(self, exclusive: bool = False) -> NfcpyConnection:
        """Poll and activate the card: one more poll + ATTRIB if the first ATTRIB goes unanswered.

        nfcpy waits a fixed 30 ms for the ATTRIB answer.  A card still sliding onto
        the reader, or a busy host on the udp link, can miss it.  The retry is safe:
        no APDU has been sent, so no PIN try can be spent, and the new poll switches
        the field off first (a fresh udp socket, so a late answer cannot be misread).
        """
        with self._lock:
            for attempt in range(ACTIVATE_ATTEMPTS):
                target = self._sense()
                if target is None:
                    raise NoCardError("no card on the reader")
                clf = self._frontend()
                sensb_res = bytes(target.sensb_res or b"")
                if len(sensb_res) < 12 or not sensb_res[10] & 0x01:
                    raise UnsupportedCardError("the card does not speak ISO 14443-4")
                try:
                    tag = Type4BTag(clf, target)         # ATTRIB
                    break
                except (nfc.clf.CommunicationError, Type4TagCommandError):
                    if attempt + 1 == ACTIVATE_ATTEMPTS:
                        raise NoCardError("the card left while connecting") from None
                except OSError as exc:
                    self._drop_frontend()
                    raise ReaderError(f"the reader went away ({exc})", reader=self.uri) from None
            self._tag = tag
            return NfcpyConnection(self, tag, part3_atr(bytes(target.sensb_res)))

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._field_off()
            self._drop_frontend()


def list_readers() -> list[ReaderInfo]:
    """RC-S380s on USB (for ``kiosk readers``).  A reader in use by the kiosk shows as unavailable."""
    try:
        import usb1
        with usb1.USBContext() as ctx:
            found = [(d.getBusNumber(), d.getDeviceAddress(), d.getVendorID(), d.getProductID())
                     for d in ctx.getDeviceList(skip_on_error=True)
                     if (d.getVendorID(), d.getProductID()) in RCS380_IDS]
    except Exception as exc:                      # noqa: BLE001 - no libusb: reported as the reader's state
        return [ReaderInfo("nfcpy:usb", "libusb", "nfcpy", "unavailable", str(exc))]
    return [probe(f"nfcpy:usb:{bus:03d}:{adr:03d}", f"Sony RC-S380 {vid:04x}:{pid:04x}")
            for bus, adr, vid, pid in found]


def probe(uri: str, name: str = "") -> ReaderInfo:
    """Open ``uri`` briefly and sense once."""
    reader = NfcpyReader(uri.partition(":")[2])
    try:
        present = reader.card_present_strict()
        return ReaderInfo(uri, name or reader.name, "nfcpy", "card_present" if present else "empty")
    except ReaderError as exc:
        return ReaderInfo(uri, name or uri, "nfcpy", "unavailable", exc.message)
    finally:
        reader.close()


def open_nfcpy_reader(rest: str) -> NfcpyReader:
    """``usb``, ``usb:VID:PID`` or ``udp:HOST:PORT``."""
    if not (rest == "usb" or rest.startswith("usb:") or rest.startswith("udp")):
        raise ReaderError("nfcpy reader URI must be nfcpy:usb[:VID:PID] or nfcpy:udp:HOST:PORT",
                          reader=f"nfcpy:{rest}")
    return NfcpyReader(rest)
