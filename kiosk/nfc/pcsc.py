"""PC/SC readers through pcscd (pyscard's low-level ``smartcard.scard`` API).

URIs: ``pcsc`` (the first reader) and ``pcsc:NAME`` (the first reader whose
name contains NAME).  CCID readers: Sony RC-S300/RC-S660, ACS ACR1252U,
contact readers, and the vpcd bench.

* Card and reader events come from SCardGetStatusChange, including the
  ``\\\\?PnP?\\Notification`` pseudo-reader for hot-plug: no polling sleeps.
* ``wait_for_card`` rides out a missing reader or a stopped pcscd: it logs
  ``reader_missing`` once, keeps waiting and logs ``reader_recovered`` when
  the reader is back.  Only a pcscd that is not running has no event to
  wait on; then the loop retries every ``retry_interval`` seconds.
  ``is_available()`` tells the kiosk whether pcscd lists the reader now, so
  it can show "service needed" while the waits ride the outage out.
* Every wait and every connection uses its own PC/SC context, so a pcscd
  restart never leaves a stale handle behind, and ``close()`` can cancel a
  wait from another thread (SCardCancel).
* The card is held exclusively while a PIN is verified (``set_exclusive``),
  and released with SCARD_UNPOWER_CARD so no verified state reaches the next
  resident.
* Errors: a card that left (or stopped answering) -> CardRemovedError; a
  reader or pcscd that went away -> ReaderError.
"""

from __future__ import annotations

from typing import Any

import threading
import time

from smartcard import scard

from kiosk.errors import CardError, CardRemovedError, KioskError, NoCardError, ReaderError, UnpowerError
from kiosk.nfc.reader import Connection, Reader, ReaderInfo

PNP = "\\\\?PnP?\\Notification"
PROTOCOLS = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1


def _code(hr: int) -> int:
    return hr & 0xFFFFFFFF


def _c(name: str) -> int:
    return _code(getattr(scard, name))


# The card left, was reset by someone else, or stopped answering: the
# verified state is gone, so the session restarts from the counters.
CARD_GONE = {_c(n) for n in ("SCARD_W_REMOVED_CARD", "SCARD_E_NO_SMARTCARD", "SCARD_W_RESET_CARD",
                             "SCARD_W_UNPOWERED_CARD", "SCARD_W_UNRESPONSIVE_CARD",
                             "SCARD_E_NOT_TRANSACTED", "SCARD_E_COMM_DATA_LOST")}
# pcscd or the reader went away.
READER_GONE = {_c(n) for n in ("SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED",
                               "SCARD_E_READER_UNAVAILABLE", "SCARD_E_UNKNOWN_READER",
                               "SCARD_E_NO_READERS_AVAILABLE", "SCARD_E_INVALID_HANDLE",
                               "SCARD_F_COMM_ERROR")}
OK = _c("SCARD_S_SUCCESS")
TIMEOUT = _c("SCARD_E_TIMEOUT")
CANCELLED = _c("SCARD_E_CANCELLED")
SHARING = _c("SCARD_E_SHARING_VIOLATION")


def _message(hr: int) -> str:
    try:
        return str(scard.SCardGetErrorMessage(hr)).strip().rstrip(".")
    except (TypeError, ValueError, OverflowError):      # pragma: no cover - an hr pyscard cannot name
        return f"PC/SC error {_code(hr):#010x}"


def _establish() -> int:
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if _code(hr) != OK:
        raise ReaderError(f"pcscd is not available ({_message(hr)})", reader="pcsc")
    return int(ctx)


def list_reader_names(ctx: int) -> list[str]:
    hr, names = scard.SCardListReaders(ctx, [])
    code = _code(hr)
    if code == OK:
        return [str(n) for n in names]
    if code in (_c("SCARD_E_NO_READERS_AVAILABLE"),):
        return []
    raise ReaderError(f"cannot list PC/SC readers ({_message(hr)})", reader="pcsc")


class PcscConnection(Connection):
    def __init__(self, reader: "PcscReader", ctx: int, handle: int, protocol: int, atr: bytes,
                 exclusive: bool):
        self._reader = reader
        self._ctx = ctx
        self._handle = handle
        self._protocol = protocol
        self.atr = atr
        self.exclusive = exclusive
        self.closed = False

    def _fail(self, hr: int, what: str) -> KioskError:
        code = _code(hr)
        if code in READER_GONE or not self._reader._reader_listed():
            return ReaderError(f"{what}: the reader went away ({_message(hr)})", reader=self._reader.name)
        if code in CARD_GONE:
            return CardRemovedError(f"{what}: the card left ({_message(hr)})")
        return CardError(f"{what}: {_message(hr)}")

    def transmit(self, apdu: bytes | bytearray) -> bytes:
        if self.closed:
            raise CardRemovedError("the connection to the card is closed")
        hr, response = scard.SCardTransmit(self._handle, self._protocol, list(apdu))
        if _code(hr) != OK:
            raise self._fail(hr, "transmit")
        if len(response) < 2:
            # No status word at all: the card stopped answering mid-exchange
            # (vpcd reports a dropped card this way).
            raise CardRemovedError("transmit: the card stopped answering")
        return bytes(response)

    def same_card(self) -> bool:
        """SCardStatus on our handle fails (REMOVED/RESET) once the card left, even if
        another card lies on the reader now; PRESENT would not tell."""
        if self.closed:
            return False
        hr = scard.SCardStatus(self._handle)[0]
        return _code(hr) == OK

    def set_exclusive(self, exclusive: bool) -> None:
        """Re-connect in the other share mode, leaving the card powered (the PIN stays verified)."""
        if self.closed or exclusive == self.exclusive:
            return
        share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
        hr, protocol = scard.SCardReconnect(self._handle, share, PROTOCOLS, scard.SCARD_LEAVE_CARD)
        if _code(hr) == SHARING:
            raise CardError("another program is using the card", reader=self._reader.name)
        if _code(hr) != OK:
            raise self._fail(hr, "reconnect")
        self._protocol = protocol
        self.exclusive = exclusive

    def close(self, unpower: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        disposition = scard.SCARD_UNPOWER_CARD if unpower else scard.SCARD_LEAVE_CARD
        try:
            hr = scard.SCardDisconnect(self._handle, disposition)
        finally:
            scard.SCardReleaseContext(self._ctx)
            self._reader._connections.discard(self)
        code = _code(hr)
        if unpower and code != OK and code not in CARD_GONE | READER_GONE:
            # The card may still be powered with a verified PIN: never silent (the worker
            # journals unpower_failed and needs service).  A card that left is unpowered;
            # a reader or pcscd that went away is already a service condition.
            raise UnpowerError(f"SCardDisconnect: {_message(hr)}", reader=self._reader.name)


class PcscReader(Reader):
    """One PC/SC reader, chosen by name substring (empty: the first one)."""

    def __init__(self, pattern: str = "", retry_interval: float = 0.25):
        self.pattern = pattern
        self.uri = "pcsc" + (f":{pattern}" if pattern else "")
        self.name = pattern or "pcsc"
        self.retry_interval = retry_interval
        self.available: bool | None = None      # None until the first look
        self._lock = threading.Lock()
        self._wait_ctxs: set[int] = set()
        self._connections: set[PcscConnection] = set()
        self._closed = threading.Event()

    # -- reader lookup -------------------------------------------------------------
    def _match(self, names: list[str]) -> str | None:
        for n in names:
            if self.pattern.lower() in n.lower():
                return n
        return None

    def _lookup(self) -> tuple[str | None, str]:
        """The matching reader's name, or None and why (pcscd down, reader not listed)."""
        try:
            ctx = _establish()
        except ReaderError as exc:
            return None, exc.message
        try:
            return self._match(list_reader_names(ctx)), "no matching reader"
        except ReaderError as exc:
            return None, exc.message
        finally:
            scard.SCardReleaseContext(ctx)

    def _reader_listed(self) -> bool:
        return self._lookup()[0] is not None

    def is_available(self) -> bool:
        """pcscd answers and lists a reader matching the pattern."""
        name, detail = self._lookup()
        if name is not None:
            self.name = name
        self._set_available(name is not None, detail)
        return name is not None

    # -- waits -----------------------------------------------------------------------
    def _status_change(self, ctx: int, timeout_ms: int, states: list[Any]) -> tuple[int, list[Any]]:
        with self._lock:
            if self._closed.is_set():
                return CANCELLED, []
            self._wait_ctxs.add(ctx)
        try:
            hr, new = scard.SCardGetStatusChange(ctx, timeout_ms, states)
            return int(hr), list(new)
        finally:
            with self._lock:
                self._wait_ctxs.discard(ctx)

    def _wait(self, want_present: bool, timeout: float | None) -> bool:
        """Wait for the card state, riding out a missing reader or pcscd."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            try:
                done = self._wait_once(want_present, deadline)
            except ReaderError as exc:
                self._set_available(False, exc.message)
                if not want_present:
                    return True                 # no reader: certainly no card on it
                wait = self.retry_interval if left is None else min(self.retry_interval, max(left, 0))
                self._closed.wait(wait)         # pcscd down: nothing to wait on but time
                continue
            if done is not None:
                return done
        return False

    def _wait_once(self, want_present: bool, deadline: float | None) -> bool | None:
        """One context's worth of waiting.  True/False: answer; None: look again."""
        def ms() -> int:
            return _ms(None if deadline is None else deadline - time.monotonic())

        ctx = _establish()
        try:
            name = self._match(list_reader_names(ctx))
            if name is None:
                self._set_available(False, "no matching reader")
                if not want_present:
                    return True
                # Hot-plug: block until the reader list changes.
                pnp = _pnp_state(ctx)
                if self._match(list_reader_names(ctx)) is not None:
                    return None                 # it arrived meanwhile
                hr, _ = self._status_change(ctx, ms(), pnp)
                return self._after_wait(hr)
            self.name = name
            self._set_available(True)
            states = [(name, scard.SCARD_STATE_UNAWARE)]
            while True:
                hr, new = self._status_change(ctx, ms(), states)
                if _code(hr) != OK:
                    return self._after_wait(hr)
                event = new[0][1]
                if event & (scard.SCARD_STATE_UNAVAILABLE | scard.SCARD_STATE_UNKNOWN):
                    return None                 # the reader went away: look it up again
                present = bool(event & scard.SCARD_STATE_PRESENT) and not event & scard.SCARD_STATE_MUTE
                if present == want_present:
                    return True
                states = [(name, event & ~scard.SCARD_STATE_CHANGED)]
        finally:
            scard.SCardReleaseContext(ctx)

    def _after_wait(self, hr: int) -> bool | None:
        """A wait that returned without the wanted state: None to look again (the
        caller checks its deadline), False when closed; ReaderError when pcscd went."""
        code = _code(hr)
        if code == TIMEOUT:
            return None
        if code == CANCELLED:
            return False if self._closed.is_set() else None
        if code in READER_GONE:
            raise ReaderError(f"pcscd or the reader went away ({_message(hr)})", reader=self.uri)
        if code == OK:
            return None
        raise ReaderError(f"waiting for the card failed ({_message(hr)})", reader=self.uri)

    def wait_for_card(self, timeout: float | None = None) -> bool:
        return self._wait(True, timeout)

    def wait_for_removal(self, timeout: float | None = None) -> bool:
        return self._wait(False, timeout)

    def card_present(self) -> bool:
        try:
            ctx = _establish()
        except ReaderError as exc:
            self._set_available(False, exc.message)
            return False
        try:
            name = self._match(list_reader_names(ctx))
            if name is None:
                self._set_available(False, "no matching reader")
                return False
            self._set_available(True)
            self.name = name
            hr, new = scard.SCardGetStatusChange(ctx, 0, [(name, scard.SCARD_STATE_UNAWARE)])
            if _code(hr) != OK:
                return False
            event = new[0][1]
            return bool(event & scard.SCARD_STATE_PRESENT) and not event & scard.SCARD_STATE_MUTE
        except ReaderError as exc:
            self._set_available(False, exc.message)
            return False
        finally:
            scard.SCardReleaseContext(ctx)

    # -- connect ---------------------------------------------------------------------
    def connect(self, exclusive: bool = False) -> PcscConnection:
        ctx = _establish()
        try:
            name = self._match(list_reader_names(ctx))
            if name is None:
                raise ReaderError("no PC/SC reader matches", reader=self.uri)
            self.name = name
            share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
            hr, handle, protocol = scard.SCardConnect(ctx, name, share, PROTOCOLS)
            code = _code(hr)
            if code != OK:
                if code in READER_GONE:
                    raise ReaderError(f"the reader went away ({_message(hr)})", reader=self.uri)
                if code in CARD_GONE:
                    raise NoCardError("no card on the reader")
                if code == SHARING:
                    raise CardError("another program is using the card", reader=name)
                raise CardError(f"cannot connect to the card ({_message(hr)})", reader=name)
            hr, _reader, _state, _proto, atr = scard.SCardStatus(handle)
            if _code(hr) != OK:
                scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
                raise NoCardError("the card left while connecting")
        except BaseException:
            scard.SCardReleaseContext(ctx)
            raise
        conn = PcscConnection(self, ctx, handle, protocol, bytes(atr), exclusive)
        self._connections.add(conn)
        return conn

    def close(self) -> None:
        """Cancel waits in other threads and release every open card."""
        self._closed.set()
        with self._lock:
            ctxs = list(self._wait_ctxs)
        for ctx in ctxs:
            scard.SCardCancel(ctx)
        for conn in list(self._connections):
            conn.close(unpower=True)


# The longest single SCardGetStatusChange: an SCardCancel that lands just
# before a wait starts is lost, so no wait may block forever on its own.
MAX_WAIT_SLICE = 2.0


def _ms(left: float | None) -> int:
    if left is None or left > MAX_WAIT_SLICE:
        return int(MAX_WAIT_SLICE * 1000)
    return max(0, int(left * 1000))


def _pnp_state(ctx: int) -> Any:
    """The PnP pseudo-reader's current state, to block until it changes."""
    hr, new = scard.SCardGetStatusChange(ctx, 0, [(PNP, scard.SCARD_STATE_UNAWARE)])
    return [(PNP, new[0][1] & ~scard.SCARD_STATE_CHANGED)] if _code(hr) == OK and new else \
        [(PNP, scard.SCARD_STATE_UNAWARE)]


def list_readers() -> list[ReaderInfo]:
    """Every PC/SC reader with its state (for ``kiosk readers``)."""
    try:
        ctx = _establish()
    except ReaderError as exc:
        return [ReaderInfo("pcsc", "pcscd", "pcsc", "unavailable", exc.message)]
    try:
        names = list_reader_names(ctx)
        if not names:
            return []
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(n, scard.SCARD_STATE_UNAWARE) for n in names])
        out = []
        for name, event, atr in (states if _code(hr) == OK else [(n, 0, []) for n in names]):
            if event & scard.SCARD_STATE_PRESENT:
                state = "card_present"
            elif event & scard.SCARD_STATE_EMPTY:
                state = "empty"
            else:
                state = "unavailable"
            detail = "ATR " + bytes(atr).hex(" ").upper() if atr and state == "card_present" else ""
            if event & scard.SCARD_STATE_EXCLUSIVE:
                detail = (detail + ", in exclusive use").lstrip(", ")
            out.append(ReaderInfo(f"pcsc:{name}", str(name), "pcsc", state, detail))
        return out
    except ReaderError as exc:
        return [ReaderInfo("pcsc", "pcscd", "pcsc", "unavailable", exc.message)]
    finally:
        scard.SCardReleaseContext(ctx)


def open_pcsc_reader(rest: str) -> PcscReader:
    """``pcsc`` -> the first reader; ``pcsc:NAME`` -> the first whose name contains NAME."""
    return PcscReader(rest)
