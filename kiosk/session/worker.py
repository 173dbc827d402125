"""The card worker: the only thread that talks to the reader and the card.

The UI thread never blocks on a card.  It hands the worker commands (read the
licence with this Pin, run this linkage step) and the worker answers with
messages.  Every message carries the card's generation number, so an answer
that belongs to a card that has left can never reach the next resident.

Any Pin handed over is wiped on every path: used, refused, stale or dropped.

The real readers ride out an unplugged reader or a stopped pcscd without
raising, so after a wait that found nothing the worker asks the reader
``is_available()`` and posts ``reader_missing`` / ``reader_ok`` when that
changes; a card that "left" while the reader itself went is a missing reader.

Each card operation runs under a deadline (``card_deadline``, config
timeouts.card_operation_seconds): a card too slow for it ends in a typed
``card_not_responding`` error, journaled, with the card unpowered and nothing
re-sent.  A card the reader cannot unpower is journaled (``unpower_failed``) and
shown as a service condition (the reader is reopened before the next resident).
"""

from __future__ import annotations

import copy
import queue
import threading
from typing import Any, Callable

from kiosk import journal
from kiosk.appliance.health import HEALTH
from kiosk.errors import (CardNotRespondingError, CardRemovedError, KioskError, NoCardError,
                          PinLockedError, PinWrongError, ReaderError, UnpowerError)
from kiosk.nfc.apdu import DEFAULT_OPERATION_SECONDS
from kiosk.nfc.card import CardSession
from kiosk.nfc.model import PinCheck
from kiosk.nfc.pins import Pin
from kiosk.nfc.reader import Connection, Reader
from kiosk.session.messages import (Answer, BeginLinkage, CardFault, CheckPin, Command, EndSession, Inserted,
                                    LicenceRead, LinkageAction, LinkageCall, LinkageFailed, LinkagePinLocked,
                                    LinkagePinWrong, LinkageReady, LinkageStep, PinChecked, PinLocked, PinWrong,
                                    ReaderMissing, ReaderOk, ReadLicence, Removed, StatusRead, command_pin,
                                    wipe_answer)

# The engine call behind each linkage action: an explicit table, no names built from strings.
LINKAGE_CALLS: dict[LinkageAction, Callable[[Any, Pin | None], Any]] = {
    LinkageAction.ADVANCE: lambda engine, _pin: engine.advance(),
    LinkageAction.ACCEPT_TERMS: lambda engine, _pin: engine.accept_terms(),
    LinkageAction.SUBMIT_AUTH_PIN: lambda engine, pin: engine.submit_auth_pin(pin),
    LinkageAction.SUBMIT_SIGN_PIN: lambda engine, pin: engine.submit_sign_pin(pin),
    LinkageAction.CANCEL: lambda engine, _pin: engine.cancel(),
}


FAILED = object()                      # _card_op: the operation ended in an answer already sent


def _wipe_pin(cmd: Command) -> None:
    pin = command_pin(cmd)
    if pin is not None:
        pin.wipe()


class CardWorker:
    """Owns the reader, the CardSession and (during a linkage) the engine."""

    def __init__(self, open_reader: Callable[[], Reader], post: Callable[[Answer], None],
                 linkage_factory: Callable[[CardSession, Any], Any] | None = None,
                 poll: float = 0.1, idle_wait: float = 0.5, retry: float = 2.0,
                 card_deadline: float | None = DEFAULT_OPERATION_SECONDS):
        self._open_reader = open_reader
        self._post = post
        self._linkage_factory = linkage_factory
        self.poll = poll                  # command wait while a card session runs
        self.idle_wait = idle_wait        # reader waits (they return at once on a change)
        self.retry = retry
        self.card_deadline = card_deadline
        self.reader: Reader | None = None
        self.card: CardSession | None = None
        self.conn: Connection | None = None      # the card's connection, to tell a swapped card
        self.engine: Any = None
        self.gen = 0
        self._await_removal = False
        self._reader_missing = False
        self._commands: "queue.Queue[Command]" = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.busy = False

    # -- UI side ------------------------------------------------------------
    def start(self) -> None:
        HEALTH.register("card")
        self._thread = threading.Thread(target=self._run, name="kiosk-card-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._drop_commands()

    def submit(self, cmd: Command) -> None:
        self._commands.put(cmd)

    # -- worker thread --------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            HEALTH.beat("card")
            try:
                if self.reader is None:
                    if not self._open():
                        self._stop.wait(self.retry)
                    continue
                if self.card is None and not self._await_removal:
                    self._drop_commands()
                    if self.reader.wait_for_card(self.idle_wait) and not self._stop.is_set():
                        self._reader_state(True)
                        self._start_card()
                    elif not self._stop.is_set():
                        self._reader_state(self.reader.is_available())
                elif self._await_removal:
                    self._drop_commands()
                    if self.reader.wait_for_removal(self.idle_wait):
                        self._require_reader()       # "no card" because the reader itself went?
                        self._await_removal = False
                        self._post(Removed(self.gen))
                else:
                    try:
                        cmd = self._commands.get(timeout=self.poll)
                    except queue.Empty:
                        cmd = None
                    if cmd is not None:
                        self._execute(cmd)
                    if self.card is not None and not (self.reader.card_present() and self._same_card()):
                        self._require_reader()
                        self._card_left()
            except ReaderError as exc:
                self._reader_lost(exc)
            except Exception as exc:  # noqa: BLE001 - never let the worker die
                self._close_card()
                if not self._await_removal:          # say it once, not once per failed retry
                    self._post(CardFault(self.gen, "card_error", detail=type(exc).__name__))
                self._await_removal = True
                self._stop.wait(self.retry)          # a fault that repeats must not spin the CPU
        self._close_card()
        if self.reader is not None:
            try:
                self.reader.close()
            except Exception as exc:  # noqa: BLE001 - shutting down; the reader is dropped either way
                journal.log_swallowed("worker.reader_close", exc)

    def _open(self) -> bool:
        try:
            self.reader = self._open_reader()
        except KioskError as exc:
            self._reader_state(False, exc.code)
            return False
        return True          # reader_ok once a wait or is_available() shows it is really there

    def _reader_state(self, available: bool, code: str = "no_reader") -> None:
        """Tell the session when the reader goes away or comes back (changes only)."""
        if available != self._reader_missing:
            return
        self._reader_missing = not available
        if available:
            self._post(ReaderOk(self.gen, getattr(self.reader, "name", "")))
        else:
            self._post(ReaderMissing(self.gen, code))

    def _require_reader(self) -> None:
        """The real backends report "no card" while their reader is gone: tell the two apart."""
        assert self.reader is not None, "called only while the loop holds a reader"
        if not self.reader.is_available():
            raise ReaderError("the reader went away", reader=getattr(self.reader, "name", ""))

    def _reader_lost(self, exc: KioskError) -> None:
        self._close_card()
        try:
            if self.reader is not None:
                self.reader.close()
        except Exception as close_exc:  # noqa: BLE001 - the reader is already lost; it is dropped below
            journal.log_swallowed("worker.reader_close", close_exc)
        self.reader = None
        self._await_removal = False
        self._reader_state(False, exc.code)
        self._stop.wait(self.retry)

    def _start_card(self) -> None:
        self.gen += 1
        inserted = Inserted(self.gen, getattr(self.reader, "name", ""))
        assert self.reader is not None, "called only while the loop holds a reader"
        try:
            conn = self.reader.connect()
        except NoCardError:
            return                                   # gone before it answered: nobody saw it
        except ReaderError:
            raise
        except Exception as exc:  # noqa: BLE001 - a card we cannot talk to: the resident is told, CardFault below
            # A card we cannot talk to (not ISO-DEP, held by another program,
            # garbage in its answer to sensing): the resident still gets a message.
            self._post(inserted)
            code = exc.code if isinstance(exc, KioskError) else "card_error"
            self._post(CardFault(self.gen, code, detail=type(exc).__name__))
            self._await_removal = True
            return
        self.conn = conn
        self.card = CardSession(conn, deadline=self.card_deadline)
        self.card.apdu.busy = HEALTH.busy_hook("card")   # each card operation: alive for its deadline
        self._post(inserted)
        try:
            status = self.card.read_status()
        except CardRemovedError:
            self._card_left()
            return
        except ReaderError:
            raise
        except KioskError as exc:
            self._journal_not_responding(exc, "status")
            self._post(CardFault(self.gen, exc.code, sw=exc.details.get("sw")))
            self._end()
            return
        self._post(StatusRead(self.gen, copy.deepcopy(status)))   # the UI's own snapshot

    def _card_left(self) -> None:
        self._close_card()
        self._await_removal = False
        self._post(Removed(self.gen))

    def _journal_not_responding(self, exc: BaseException, operation: str) -> None:
        """The journal's record of a card that passed its deadline (no PIN was re-sent)."""
        if isinstance(exc, CardNotRespondingError):
            journal.log_event("card_not_responding", "card operation passed its deadline; card unpowered",
                              journal.WARNING, OPERATION=operation, ERROR_CODE=exc.code,
                              DEADLINE_SEC=self.card_deadline)

    def _close_card(self) -> None:
        if self.engine is not None:
            try:
                self.engine.wipe()
            except Exception as exc:  # noqa: BLE001 - the engine is dropped below either way
                journal.log_swallowed("worker.engine_wipe", exc)
            self.engine = None
        card, self.card, self.conn = self.card, None, None
        if card is not None:
            try:
                card.close()               # unpowers: no verified PIN outlives the resident
            except CardRemovedError:
                pass                       # the card left: it is unpowered by leaving
            except Exception as exc:  # noqa: BLE001 - an unpower that failed: journaled and a service condition
                self._unpower_failed(exc)

    def _unpower_failed(self, exc: BaseException) -> None:
        """A card we could not unpower may keep a verified PIN: service, and a fresh reader."""
        journal.log_event("unpower_failed", "could not unpower the card; reader needs service",
                          journal.ERR, ERROR_CODE=UnpowerError.code, EXCEPTION=type(exc).__name__,
                          READER=getattr(self.reader, "uri", ""))
        reader, self.reader = self.reader, None        # reopened by the loop, reader_ok when it works
        if reader is not None:
            try:
                reader.close()
            except Exception as close_exc:  # noqa: BLE001 - already failing; the reader is dropped
                journal.log_swallowed("worker.reader_close", close_exc)
        self._await_removal = True         # only a card that left the field is surely unpowered
        if not self._reader_missing:
            self._reader_missing = True
            self._post(ReaderMissing(self.gen, UnpowerError.code))

    def _same_card(self) -> bool:
        try:
            return self.conn is not None and self.conn.same_card()
        except Exception as exc:  # noqa: BLE001 - cannot tell: treat it as another card
            journal.log_swallowed("worker.same_card", exc)
            return False

    def _answer(self, msg: Answer) -> None:
        """Post what the card (or the gateway, for it) answered, unless that card
        left or was swapped during the call: its answer must not reach the next card."""
        if not self._same_card():
            wipe_answer(msg)
            self._card_left()
            return
        self._post(msg)

    def _end(self) -> None:
        """Session over: unpower now, then report when the card is taken."""
        self._close_card()
        if self.reader is None:
            return                         # unpower failed: reopening the reader, then awaiting removal
        if self.reader.card_present():
            self._await_removal = True
        else:
            self._post(Removed(self.gen))

    def _drop_commands(self) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            _wipe_pin(cmd)

    def _execute(self, cmd: Command) -> None:
        if cmd.gen != self.gen or self.card is None:
            _wipe_pin(cmd)
            return
        self.busy = True
        try:
            # The command's own work between calls gets the default budget; each gateway
            # call and card operation inside opens its own busy() with its own deadline.
            with HEALTH.busy("card"):
                self._dispatch(cmd)
        finally:
            self.busy = False
            _wipe_pin(cmd)

    def _dispatch(self, cmd: Command) -> None:
        if isinstance(cmd, EndSession):
            self._end()
        elif isinstance(cmd, ReadLicence):
            self._read_licence(cmd)
        elif isinstance(cmd, BeginLinkage):
            self._linkage_begin(cmd)
        elif isinstance(cmd, LinkageCall):
            self._linkage_call(cmd)
        elif isinstance(cmd, CheckPin):
            self._check_pin(cmd)
        else:
            raise TypeError(f"unknown card command {type(cmd).__name__}")

    def _card_op(self, cmd: Command, operation: str, call: Callable[[], Any],
                 on_pin: Callable[[PinWrongError | PinLockedError], Answer]) -> Any:
        """Run one card operation; a PIN result becomes ``on_pin``'s answer, a card fault a
        CardFault, a card that left the end of the session.  Returns FAILED for all of those."""
        try:
            return call()
        except (PinWrongError, PinLockedError) as exc:
            self._answer(on_pin(exc))
        except CardRemovedError:
            self._card_left()
        except ReaderError:
            raise
        except KioskError as exc:
            self._journal_not_responding(exc, operation)
            self._answer(CardFault(cmd.gen, exc.code, sw=exc.details.get("sw")))
        return FAILED

    def _read_licence(self, cmd: ReadLicence) -> None:
        card = self.card
        assert card is not None, "_execute runs commands only with a card"

        def on_pin(exc: PinWrongError | PinLockedError) -> Answer:
            if isinstance(exc, PinWrongError):
                return PinWrong(cmd.gen, exc.pin_id, exc.tries_left)
            return PinLocked(cmd.gen, exc.pin_id)

        lic = self._card_op(cmd, "licence", lambda: card.read_licence(cmd.pin), on_pin)
        if lic is FAILED:
            return
        photo = lic.photo_image()          # decoded here: JPEG 2000 is too slow for the UI thread
        self._answer(LicenceRead(cmd.gen, lic, photo))

    def _check_pin(self, cmd: CheckPin) -> None:
        """One VERIFY of a JPKI PIN through the card layer's rules (issue #12): CardSession.check_pin
        returns a wrong or locked PIN as a result; card faults stay typed card errors."""
        assert self.card is not None, "_execute runs commands only with a card"
        card = self.card

        def on_pin(exc: PinWrongError | PinLockedError) -> Answer:   # check_pin answers these itself
            locked = isinstance(exc, PinLockedError)
            return PinChecked(cmd.gen, PinCheck(exc.pin_id or cmd.pin_id, False,
                                                0 if locked else getattr(exc, "tries_left", None), locked))

        result = self._card_op(cmd, "check_pin", lambda: card.check_pin(cmd.pin_id, cmd.pin), on_pin)
        if result is FAILED:
            return
        self._answer(PinChecked(cmd.gen, result))

    def _linkage_begin(self, cmd: BeginLinkage) -> None:
        if self._linkage_factory is None:
            self._answer(LinkageFailed(cmd.gen, "not_available"))
            return
        try:
            if self.engine is not None:
                self.engine.wipe()
            assert self.card is not None, "_execute runs commands only with a card"
            self.engine = self._linkage_factory(self.card, self.card.status)
            pre = self.engine.preflight()
        except CardRemovedError:
            self._card_left()
            return
        except ReaderError:
            raise
        except Exception as exc:  # noqa: BLE001 - the gateway's or engine's fault: a message, never a dead worker
            self._answer(LinkageFailed(cmd.gen, **_error_data(exc)))
            return
        self._answer(LinkageReady(cmd.gen, pre, getattr(self.engine, "step", 1)))

    def _linkage_call(self, cmd: LinkageCall) -> None:
        engine = self.engine
        if engine is None:
            return                         # _execute wipes the Pin
        try:
            LINKAGE_CALLS[cmd.action](engine, cmd.pin)
        except PinWrongError as exc:
            self._answer(LinkagePinWrong(cmd.gen, exc.pin_id, exc.tries_left, engine.step))
            return
        except PinLockedError as exc:
            self._answer(LinkagePinLocked(cmd.gen, exc.pin_id))
            return
        except CardRemovedError:
            self._card_left()
            return
        except ReaderError:
            raise
        except Exception as exc:  # noqa: BLE001 - the gateway's or engine's fault: a message, never a dead worker
            self._journal_not_responding(exc, f"linkage.{cmd.action}")
            finished = bool(getattr(engine, "finished", False))
            terms = _safe(engine, "terms") if not finished and engine.step == 6 else None
            self._answer(LinkageFailed(cmd.gen, **_error_data(exc), step=engine.step, finished=finished,
                                       terms=terms))
            return
        if cmd.action is LinkageAction.CANCEL:
            try:
                engine.wipe()
            except Exception as exc:  # noqa: BLE001 - the engine is dropped below either way
                journal.log_swallowed("worker.engine_wipe", exc)
            self.engine = None
            return
        self._answer(LinkageStep(cmd.gen, cmd.action, engine.step,
                                 terms=_safe(engine, "terms") if engine.step == 6 else None,
                                 reference=_safe(engine, "reference") if engine.step >= 9 else None))


def _safe(engine: Any, name: str) -> Any:
    """An engine property that may refuse outside its step."""
    try:
        return getattr(engine, name)
    except Exception as exc:  # noqa: BLE001 - refused outside its step: shown as unknown
        journal.log_swallowed(f"worker.engine.{name}", exc, journal.DEBUG)
        return None


def _error_data(exc: Exception) -> dict[str, Any]:
    """Codes only: an exception message could in principle carry card data."""
    data: dict[str, Any] = {"code": getattr(exc, "code", "card_error")}
    key = getattr(exc, "message_key", None)
    if key:
        data["message_key"] = key
    reason = getattr(exc, "reason", None)
    if reason:
        data["reason"] = reason
    if getattr(exc, "retryable", False):
        data["retryable"] = True
    return data
