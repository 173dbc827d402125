"""The resident's session: screens, rules and timers, without any pygame.

The session decides what is on screen (``screen``, a Screen) and holds the
little state the screens show; the resident's card facts are one Resident
object, created on insertion and dropped on wipe.  Card I/O happens in the
CardWorker; its typed answers arrive in ``inbox`` and ``pump()`` applies them
on the UI thread through an explicit table (an answer of an unknown type is
journaled and wiped, never silently ignored).  Taps go through an explicit
per-screen table too.

The rules enforced here:
* card removed at any point: wipe everything, show "card removed", then attract;
* time is counted from the resident's last input (touch, key, card answer):
  after ``timeouts.inactivity_seconds`` a full-screen "continue?" prompt
  counts down ``timeouts.prompt_seconds`` before the session ends and wipes;
  a PIN screen untouched for ``timeouts.pin_seconds`` wipes the typed digits
  and goes back to the screen before it (the session goes on);
  ``timeouts.session_seconds`` is a hard cap from insertion, with its countdown;
* a PIN is built from the typed digits only at OK, exactly once (the pad is
  disabled while the card answers), and the typed buffer is wiped on every exit;
* Finish asks the resident to take the card, with a chime, until it is gone;
* nothing of one resident survives into the next session.
"""

from __future__ import annotations

import datetime as dt
import queue
from types import MappingProxyType
from collections import deque
from typing import Any, Callable

from kiosk import journal
from kiosk.session.clock import SystemClock
from kiosk.errors import PinFormatError
from kiosk.nfc.model import IC_LICENCE, MYNA, MYNA_LICENCE, CardStatus, LicenceData
from kiosk.nfc.pins import PIN_SPECS, Pin
from kiosk.session.messages import (Answer, BeginLinkage, CardFault, CheckPin, Command, EndSession, Inserted,
                                    LicenceRead, LinkageAction, LinkageCall, LinkageFailed, LinkagePinLocked,
                                    LinkagePinWrong, LinkageReady, LinkageStep, PinChecked, PinLocked, PinWrong,
                                    PrintDone, ReaderMissing, ReaderOk, ReadLicence, Removed, StatusRead,
                                    wipe_answer)
from kiosk.session.printing import ReceiptDesk, SlipRequest
from kiosk.session.resident import Resident
from kiosk.session.states import (AWAIT_REMOVAL_SCREENS, CHOOSER_SCREEN, LINKAGE_STEP_SCREENS, LINKAGE_STEPS,
                                  NO_CHOOSER_SCREENS,
                                  PIN_SCREENS, PROMPT_SCREEN, RECEIPT_KINDS, STATE_OF_SCREEN, Screen,
                                  linkage_step_screen)
from kiosk.session.timers import CARD_REMOVED_SECONDS, TimerRules
from kiosk.session.worker import CardWorker
from kiosk.signals import Bus, KioskState, ServiceCondition

# PIN screen of the linkage -> (PIN id, the screen while the card works, engine call)
LINKAGE_PIN_STEPS: dict[Screen, tuple[str, Screen, LinkageAction]] = {
    Screen.LINKAGE_4: ("jpki_auth", Screen.LINKAGE_5, LinkageAction.SUBMIT_AUTH_PIN),
    Screen.LINKAGE_7: ("jpki_sign", Screen.LINKAGE_8, LinkageAction.SUBMIT_SIGN_PIN),
}
# The optional PIN check (issue #12): the PIN ids it may check, in the order offered.
CHECKABLE_PINS = ("jpki_auth", "jpki_sign")
# How many recent screens ``Session.screens_seen`` keeps.
SCREENS_KEPT = 500


class NoSound:
    def play(self, name: str) -> None:
        pass


def _resident_view(name: str, default: Any) -> Any:
    """A read/write view of one Resident field for the screens and tests (default when nobody is there)."""

    def get(self: "Session") -> Any:
        r = self.resident
        if r is None:                      # nobody there: an empty, read-only value
            return MappingProxyType({}) if isinstance(default, dict) else default
        return getattr(r, name)

    def put(self: "Session", value: Any) -> None:
        if self.resident is None:
            self.resident = Resident(gen=self.gen)
        setattr(self.resident, name, value)

    return property(get, put, doc=f"The resident's {name} ({default!r} when no resident).")


class Session(TimerRules):
    """One kiosk's resident-facing state machine."""

    status: CardStatus | None = _resident_view("status", None)
    licence: LicenceData | None = _resident_view("licence", None)
    photo: Any = _resident_view("photo", None)
    show_number: bool = _resident_view("show_number", False)
    pin_id: str | None = _resident_view("pin_id", None)
    pending: str | None = _resident_view("pending", None)
    cancel_requested: bool = _resident_view("cancel_requested", False)
    linkage: dict[str, Any] = _resident_view("linkage", {})
    terms_page: int = _resident_view("terms_page", 0)
    session_started: float | None = _resident_view("started", None)
    pin_checks: dict[str, PinChecked] = _resident_view("pin_checks", {})

    def __init__(self, cfg: Any, *, reader_factory: Callable[[], Any] | None = None, config_error: Any = None,
                 clock: Any = None, bus: Bus | None = None, printer: Any = None,
                 receipt_builder: Callable[..., Any] | None = None,
                 linkage_factory: Callable[..., Any] | None = None, gateway_available: bool = False,
                 sound: Any = None, on_wake: Callable[[], None] | None = None, demo: bool = False,
                 today: Callable[[], dt.date | None] = dt.date.today):
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.bus = bus or Bus()
        self.desk = ReceiptDesk(printer, receipt_builder, self._post)
        self.gateway_available = gateway_available
        self.demo = demo                    # the linkage runs against the reference gateway (DEMO badge)
        self.sound = sound or NoSound()
        self.on_wake = on_wake
        # The trusted date, or None when the clock is not synchronised: then no screen or
        # slip judges a date (kiosk/guidance).
        self.today = today
        self.inbox: "queue.Queue[Answer]" = queue.Queue()
        self.worker = CardWorker(reader_factory, self._post, linkage_factory,
                                 card_deadline=cfg.timeouts.card_operation_seconds) if reader_factory else None
        self.config_error = config_error
        self.default_lang = cfg.kiosk.default_language
        self.languages = list(cfg.kiosk.languages)
        self.lang = self.default_lang
        self.large_text = bool(cfg.display.large_text)
        self.high_contrast = bool(getattr(cfg.display, "high_contrast", False))
        self.pages: dict[str, int] = {}      # paginated block -> page shown (render.py)
        self.service: str | None = None
        self.screen: Screen = Screen.ATTRACT
        self.screen_since = self.clock.now()
        # The recent screens, for the scenario runner and tests; bounded, as the kiosk runs for months.
        self.screens_seen: deque[str] = deque([Screen.ATTRACT], maxlen=SCREENS_KEPT)
        self._state: KioskState | None = None
        # Called as observer(session, "screen"|"input") after changes: the voice guide (kiosk/voice).
        self.observers: list[Callable[["Session", str], None]] = []
        self._pin = bytearray(16)
        self.pin_len = 0
        self.staff_called = False
        self.gen = 0
        self.resident: Resident | None = None
        self.error: tuple[str, dict[str, Any]] | None = None
        self.notice: tuple[str, dict[str, Any]] | None = None
        self.notice_screen: Screen | None = None   # the screen the notice belongs to
        self._clear_entry()
        self._answers: dict[type, Callable[[Any], None]] = {
            StatusRead: self._on_status, CardFault: self._on_card_fault, LicenceRead: self._on_licence,
            PinWrong: self._on_pin_wrong, PinLocked: self._on_pin_locked, LinkageReady: self._on_linkage_ready,
            LinkageStep: self._on_linkage_step, LinkagePinWrong: self._on_linkage_pin_wrong,
            LinkagePinLocked: self._on_linkage_pin_locked, LinkageFailed: self._on_linkage_failed,
            PinChecked: self._on_pin_checked,
        }
        self._taps: dict[Screen, Callable[[str], bool]] = {
            Screen.ATTRACT: self._tap_attract, Screen.SUMMARY: self._tap_summary, Screen.MENU: self._tap_menu,
            Screen.PIN_STATUS: self._tap_back_only, Screen.RENEWAL: self._tap_back_only,
            Screen.LICENCE_LOCKED: self._tap_back_only, Screen.LOST_CARD: self._tap_lost_card,
            Screen.LICENCE: self._tap_licence, Screen.CARD_REMOVED: self._tap_card_removed,
            Screen.LICENCE_PIN: self._tap_licence_pin, Screen.LINKAGE_PREFLIGHT: self._tap_linkage,
            Screen.LINKAGE_ERROR: self._tap_linkage, Screen.LINKAGE_PIN_CHECK: self._tap_pin_check,
            Screen.LINKAGE_PIN_CHECK_CHOOSE: self._tap_pin_check_choose, CHOOSER_SCREEN: self._tap_language,
            **{step: self._tap_linkage for step in LINKAGE_STEP_SCREENS},
        }
        if config_error is not None:
            self._enter_service("config_error")
            journal.log_event("config_error", "configuration is invalid; kiosk needs service",
                              journal.ERR, ERROR_CODE=config_error.code,
                              KEY=config_error.details.get("key"))
        self._publish_state()
        from kiosk.voice import attach as attach_voice
        self.voice = attach_voice(self)     # the spoken guide; None unless [voice] enabled = true

    # the printer, for the screens and tests
    @property
    def printer(self) -> Any:
        return self.desk.printer

    @printer.setter
    def printer(self, value: Any) -> None:
        self.desk.printer = value

    @property
    def receipt_builder(self) -> Any:
        return self.desk.builder

    @receipt_builder.setter
    def receipt_builder(self, value: Any) -> None:
        self.desk.builder = value

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        if self.worker is not None and self.config_error is None:
            self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        while True:                         # answers nobody will read: wipe what they carry
            try:
                wipe_answer(self.inbox.get_nowait())
            except queue.Empty:
                break
        self.wipe()

    def _post(self, msg: Answer) -> None:
        self.inbox.put(msg)
        if self.on_wake is not None:
            try:
                self.on_wake()
            except Exception as exc:  # noqa: BLE001 - the wake-up is only a hint: the next tick reads the inbox
                journal.log_swallowed("session.on_wake", exc)

    def _submit(self, cmd: Command) -> None:
        """To the card worker; without one (offline rendering) a Pin is wiped at once."""
        if self.worker is not None:
            self.worker.submit(cmd)
        else:
            pin = getattr(cmd, "pin", None)
            if isinstance(pin, Pin):
                pin.wipe()

    # -- what the resident leaves behind: nothing ----------------------------
    @property
    def active(self) -> bool:
        """A resident's card session is running (timers apply)."""
        return self.resident is not None and self.resident.started is not None

    def _clear_entry(self) -> None:
        """The UI state around the resident: pad messages, timers."""
        self.last_try_armed = False
        self.pin_wrong_shown = False        # LEDs show resident_error until the resident types again
        self.pin_message: tuple[str, dict[str, Any]] | None = None
        self.notice = None
        self.notice_screen = None
        self.printed_from: Screen | None = None
        self.error = None
        self.pin_last_input: float | None = None
        self.last_input: float | None = None
        self.prompt_since: float | None = None
        self.prompt_return: Screen | None = None
        self.chooser_return: Screen | None = None    # where the language chooser goes back to
        self.last_chime: float | None = None

    def wipe_pin(self) -> None:
        self._pin[:] = b"\x00" * len(self._pin)
        self.pin_len = 0
        self.last_try_armed = False

    def wipe(self) -> None:
        """Forget the resident: PIN buffer, licence, status, linkage, timers."""
        self.wipe_pin()
        resident, self.resident = self.resident, None
        if resident is not None:
            resident.wipe()
        self._clear_entry()
        self.lang = self.default_lang
        self.large_text = bool(self.cfg.display.large_text)
        self.high_contrast = bool(getattr(self.cfg.display, "high_contrast", False))
        self.desk.cancel_pending()
        if self.staff_called:               # the call ends with the session it was made in
            self.staff_called = False
            self.bus.publish("staff", active=False)

    # -- screens -------------------------------------------------------------
    def go(self, screen: str) -> None:
        """Show ``screen`` (a Screen or its name; any other name raises ValueError)."""
        target = Screen(screen)
        if target != CHOOSER_SCREEN:
            self.chooser_return = None       # the chooser was left (chosen, Back, or the card moved on)
        if target != self.screen:
            self.screen = target
            self.screens_seen.append(target)
            self.pages = {}
        if self.notice_screen is not None and self.notice_screen != target:
            self.notice = self.notice_screen = None      # a notice is shown only where it was given
        self.screen_since = self.clock.now()
        self.last_input = self.clock.now()
        if target in PIN_SCREENS:
            self.pin_last_input = self.clock.now()
        else:
            self.pin_last_input = None
            self.pin_wrong_shown = False
        self._publish_state()
        self._notify("screen")

    def say(self, key: str, **values: Any) -> None:
        """A notice on the current screen only (printing, PIN cleared, ...)."""
        self.notice = (key, dict(values))
        self.notice_screen = self.screen

    def _notify(self, event: str) -> None:
        """Tell the observers; one that fails is journaled and never stops the kiosk."""
        for observer in self.observers:
            try:
                observer(self, event)
            except Exception as exc:  # noqa: BLE001 - an observer (the voice guide) must not stop the kiosk; journaled below
                journal.log_event("voice_error", "a session observer failed", journal.ERR,
                                  ERROR_CODE="observer_failed", DETAIL=type(exc).__name__,
                                  SCREEN=self.screen)

    def _publish_state(self) -> None:
        if self.service:
            return
        state = STATE_OF_SCREEN.get(self.screen, KioskState.WORKING)
        if state == KioskState.WAITING_PIN and self.pin_wrong_shown:
            state = KioskState.RESIDENT_ERROR
        if state != self._state:
            self._state = state
            self.bus.state(state)

    def _enter_service(self, code: str) -> None:
        self.service = code
        cond = ServiceCondition.CONFIG_ERROR if code == "config_error" else ServiceCondition.NO_READER
        self.bus.service(cond, True)
        self.wipe()
        self.screen = Screen.SERVICE_NEEDED
        self.screens_seen.append(Screen.SERVICE_NEEDED)
        self.screen_since = self.clock.now()

    # -- timers ----------------------------------------------------------------
    def tick(self) -> bool:
        """Apply timers.  Returns True when the screen must be redrawn."""
        now = self.clock.now()
        if self.screen == Screen.CARD_REMOVED and now - self.screen_since >= CARD_REMOVED_SECONDS:
            self.go(Screen.ATTRACT)
            return True
        if self.screen in (Screen.LOST_CARD, CHOOSER_SCREEN) and not self.active and \
                now - self.screen_since >= self.cfg.timeouts.session_seconds:
            self.go(Screen.ATTRACT)           # lost-card help or the chooser opened without a card
            return True
        if self.screen == Screen.TAKE_CARD:
            interval = max(2, self.cfg.timeouts.card_left_seconds // 2)
            if self.last_chime is None or now - self.last_chime >= interval:
                self.last_chime = now
                self.sound.play("take_card")
        prompt = self.prompt_remaining()
        if prompt is not None and prompt <= 0:
            self._timeout("inactivity")
            return True
        pin = self.pin_remaining()
        if pin is not None and pin <= 0:
            self._pin_timeout()
            return True
        ses = self.session_remaining()
        if ses is not None and ses <= 0:
            self._timeout("session")
            return True
        idle = self.idle_remaining()
        if idle is not None and idle <= 0:
            self._prompt()
            return True
        return self.countdown() is not None

    def _prompt(self) -> None:
        """No input for a while: ask, full screen, whether the resident is still there."""
        self.prompt_return = self.screen
        self.prompt_since = self.clock.now()
        self.screen = PROMPT_SCREEN
        self.screens_seen.append(PROMPT_SCREEN)
        self.sound.play("prompt")
        self._publish_state()

    def _resume(self) -> None:
        """The resident answered the prompt: back to where they were, nothing lost."""
        back, self.prompt_return, self.prompt_since = self.prompt_return or Screen.MENU, None, None
        self.screen = back
        self.screens_seen.append(back)
        self.last_input = self.clock.now()
        self._publish_state()

    def _pin_timeout(self) -> None:
        """A PIN pad left alone: wipe the digits, back to the screen before it; the session goes on."""
        journal.log_event("session_timeout", "pin timeout; typed digits wiped", journal.NOTICE,
                          SCREEN=self.screen, TIMEOUT="pin")
        if self.screen == Screen.LICENCE_PIN:
            self._back_to_menu()
        elif self.screen == Screen.LINKAGE_PIN_CHECK:
            self.wipe_pin()
            self.pin_message = None
            self.pin_id = None
            self.go(Screen.LINKAGE_PIN_CHECK_CHOOSE)
        else:
            self._linkage_cancel()           # linkage_4 / linkage_7: the engine cannot go back a step
        self.say("still_there.pin_cleared")
        self.sound.play("error")

    def _timeout(self, kind: str) -> None:
        journal.log_event("session_timeout", f"{kind} timeout; resident data wiped", journal.NOTICE,
                          SCREEN=self.prompt_return or self.screen, TIMEOUT=kind)
        gen = self.gen
        self.wipe()
        self.go(Screen.TIMED_OUT)
        self.sound.play("error")
        self._submit(EndSession(gen))

    # -- worker messages -------------------------------------------------------
    def pump(self) -> bool:
        """Apply every message from the card worker.  True if anything changed."""
        changed = False
        while True:
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                if changed:
                    self._notify("input")
                return changed
            self._apply(msg)
            changed = True

    def _apply(self, msg: Answer) -> None:
        if isinstance(msg, ReaderMissing):
            journal.log_event("reader_missing", "card reader not available", journal.ERR, ERROR_CODE=msg.code)
            if self.service != "config_error":
                self._enter_service("no_reader")
            return
        if isinstance(msg, ReaderOk):
            journal.log_event("reader_recovered", "card reader available again", journal.NOTICE,
                              READER=msg.reader)
            if self.service == "no_reader":
                self.bus.service(ServiceCondition.NO_READER, False)
                self.service = None
                self.go(Screen.ATTRACT)
            return
        if isinstance(msg, Inserted):
            lang, large, contrast = self.lang, self.large_text, self.high_contrast   # chosen on attract
            self.wipe()
            self.lang, self.large_text, self.high_contrast = lang, large, contrast
            self.gen = msg.gen
            self.resident = Resident(gen=msg.gen, started=self.clock.now())
            journal.log_event("card_inserted", "card placed", READER=msg.reader)
            if self.service is None:
                self.go(Screen.READING)
            return
        if isinstance(msg, PrintDone):
            if msg.gen == self.gen and (self.active or self.screen == Screen.LOST_CARD) \
                    and self.screen == self.printed_from:      # told only where it was printed from
                self.say("receipt.done" if msg.ok else "receipt.unavailable")
                self.sound.play("success" if msg.ok else "error")
            return
        if msg.gen != self.gen:
            wipe_answer(msg)
            return
        if isinstance(msg, Removed):
            self._removed()
            return
        handler = self._answers.get(type(msg))
        if handler is None:
            journal.log_event("card_error", "card worker answer of an unknown type", journal.ERR,
                              ERROR_CODE="unknown_answer", DETAIL=type(msg).__name__, SCREEN=self.screen)
            wipe_answer(msg)
            return
        if not self.active:
            wipe_answer(msg)
            return
        self.last_input = self.clock.now()          # the card answered: the resident is not idle
        handler(msg)

    def _removed(self) -> None:
        was = self.screen
        if self.service:
            return
        journal.log_event("card_removed", "card taken away", SCREEN=was)
        self.wipe()
        if was in AWAIT_REMOVAL_SCREENS or was in (Screen.ATTRACT, Screen.CARD_REMOVED):
            self.go(Screen.ATTRACT)
            return
        self.go(Screen.CARD_REMOVED)
        self.sound.play("error")

    def _on_status(self, msg: StatusRead) -> None:
        st = msg.status
        self.status = st
        journal.log_event("pin_status_read", "card status read", CARD_TYPE=st.card_type,
                          LOCKED=",".join(st.locked_pins) or "none")
        if st.card_type not in (MYNA, MYNA_LICENCE, IC_LICENCE):
            self._card_error("unsupported_card")
            return
        self.go(Screen.SUMMARY)

    def _card_error(self, code: str, sw: str | None = None) -> None:
        journal.log_event("card_error", "card could not be used", journal.WARNING,
                          ERROR_CODE=code, SW=sw, SCREEN=self.screen)
        gen = self.gen
        self.wipe()
        self.error = ("card.error." + code if code in ("unsupported_card", "no_licence") else
                      "card_not_responding.body" if code == "card_not_responding" else
                      "card.error.card_error", {})
        self.go(Screen.CARD_ERROR)
        self.sound.play("error")
        self._submit(EndSession(gen))

    def _on_card_fault(self, msg: CardFault) -> None:
        self._card_error(msg.code, msg.sw)

    def _on_licence(self, msg: LicenceRead) -> None:
        r = self.resident
        if r is None or r.pending != "licence" or r.status is None:
            wipe_answer(msg)
            return
        r.pending = None
        r.licence, r.photo, r.show_number = msg.licence, msg.photo, False
        pin_id = r.pin_id or self.licence_pin_id()
        c = r.status.pins.get(pin_id)
        if c is not None and r.status.licence_pin_set is not False:
            r.set_counter(pin_id, c.max_tries, False)       # a right PIN resets the counter
        journal.log_event("licence_read", "licence data read", CARD_TYPE=r.status.card_type, PIN_ID=pin_id)
        r.pin_id = None
        self.go(Screen.LICENCE)
        self.sound.play("success")

    def _pin_wrong(self, pin_id: str, left: int, screen: Screen | None = None) -> None:
        """A wrong PIN: ONE message on the pad with the new count (``screen``, default this one)."""
        self.pending = None
        self._set_counter(pin_id, left, False)
        journal.log_event("pin_wrong", "wrong PIN", journal.NOTICE, PIN_ID=pin_id, TRIES_LEFT=left,
                          SCREEN=self.screen)
        self.pin_message = ("pin.wrong", {"left": left, "max": PIN_SPECS[pin_id].max_tries})
        self.pin_wrong_shown = True
        self.go(screen or self.screen)
        self.sound.play("error")

    def _on_pin_wrong(self, msg: PinWrong) -> None:
        self._pin_wrong(msg.pin_id or self.pin_id or self.licence_pin_id(), msg.tries_left)

    def _pin_locked(self, pin_id: str) -> None:
        """The counter is now locked: record and journal it."""
        self.pending = None
        self._set_counter(pin_id, 0, True)
        journal.log_event("pin_locked", "PIN is locked", journal.WARNING, PIN_ID=pin_id, SCREEN=self.screen)

    def _on_pin_locked(self, msg: PinLocked) -> None:
        self._pin_locked(msg.pin_id or self.pin_id or self.licence_pin_id())
        self.pin_message = None
        self.go(Screen.LICENCE_LOCKED)
        self.sound.play("error")

    def _set_counter(self, pin_id: str, left: int, locked: bool) -> None:
        if self.resident is not None:
            self.resident.set_counter(pin_id, left, locked)

    # linkage messages
    def _on_linkage_ready(self, msg: LinkageReady) -> None:
        if self.pending != "linkage_preflight":
            return
        self.pending = None
        self.linkage = {"preflight": msg.preflight, "step": msg.step}
        if getattr(msg.preflight, "ok", False) and self.gateway_available:
            self.go(Screen.LINKAGE_1)
        else:
            self.go(Screen.LINKAGE_PREFLIGHT)

    def _on_linkage_step(self, msg: LinkageStep) -> None:
        if self.pending != "linkage":
            return
        self.pending = None
        self.linkage["step"] = msg.step
        if msg.terms is not None:
            self.linkage["terms"] = msg.terms
        if msg.reference is not None:
            self.linkage["reference"] = msg.reference
        if self.cancel_requested:
            self._linkage_cancel()
            return
        self.pin_message = None
        self.go(linkage_step_screen(msg.step))
        if msg.step == LINKAGE_STEPS:
            self.sound.play("success")

    def _on_linkage_pin_wrong(self, msg: LinkagePinWrong) -> None:
        pin_id = msg.pin_id or self.pin_id or "jpki_auth"
        self._pin_wrong(pin_id, msg.tries_left, Screen.LINKAGE_7 if pin_id == "jpki_sign" else Screen.LINKAGE_4)

    def _on_linkage_pin_locked(self, msg: LinkagePinLocked) -> None:
        pin_id = msg.pin_id or self.pin_id or "jpki_auth"
        self._pin_locked(pin_id)
        self.error = ("linkage.locked", {"pin_id": pin_id})
        self.go(Screen.LINKAGE_ERROR)
        self.sound.play("error")

    def _on_linkage_failed(self, msg: LinkageFailed) -> None:
        self.pending = None
        key = msg.message_key or "linkage.error.gateway_error"
        journal.log_event("linkage_error", "linkage stopped", journal.WARNING,
                          ERROR_CODE=msg.code, REASON=msg.reason, SCREEN=self.screen)
        step = msg.step
        if msg.retryable and not msg.finished and step in (4, 6, 7):
            # The engine went back a step: the resident may try again (a fresh PIN entry).
            assert step is not None
            if msg.terms is not None:
                self.linkage["terms"] = msg.terms
                self.terms_page = 0
            self.linkage["step"] = step
            self.pin_message = (key, {})
            self.go(linkage_step_screen(step))
            if step == 6:
                self.say(key)
            self.sound.play("error")
            return
        self.error = (key, {"code": msg.reason or msg.code})
        self.go(Screen.LINKAGE_ERROR)
        self.sound.play("error")

    def _on_pin_checked(self, msg: PinChecked) -> None:
        """The optional check's one VERIFY came back: its result, the new count, back to readiness."""
        if self.pending != "pin_check":
            return
        self.pending = None
        self.pin_checks = {**self.pin_checks, msg.pin_id: msg}
        if msg.locked:
            self._pin_locked(msg.pin_id)
        elif msg.ok or msg.tries_left is not None:
            if self.resident is not None:       # the counter, and the signature certificate's expiry if read
                self.resident.learn_pin_check(msg.check)
        journal.log_event("pin_checked", "optional PIN check", journal.NOTICE, PIN_ID=msg.pin_id,
                          OK=msg.ok, TRIES_LEFT=msg.tries_left, LOCKED=msg.locked)
        self.pin_message = None
        self.pin_id = None
        self.go(Screen.LINKAGE_PIN_CHECK_CHOOSE)
        self.sound.play("success" if msg.ok else "error")

    # -- resident input ----------------------------------------------------------
    def tap(self, widget: str) -> bool:
        """A button was pressed (touch, mouse or keypad).  True if anything changed."""
        changed = self._tap(widget)
        self._notify("input")
        return changed

    def _tap(self, widget: str) -> bool:
        self.last_input = self.clock.now()
        if self.screen == PROMPT_SCREEN:
            if widget == "btn_continue_session":
                self._resume()
                self.sound.play("click")
                return True
            if widget == "btn_finish_session":
                self.finish()
                return True
            return False
        if widget.startswith(("page_next_", "page_prev_")):
            block = widget[len("page_next_"):]
            self.pages[block] = max(0, self.pages.get(block, 0) + (1 if widget.startswith("page_next_") else -1))
            self.sound.play("click")
            return True
        if self.screen in PIN_SCREENS and not self.pending:
            self.pin_last_input = self.clock.now()
            if self.pin_wrong_shown:              # the resident acts again: the pad waits (yellow)
                self.pin_wrong_shown = False
                self._publish_state()
        if widget.startswith("lang_"):           # on every screen: the session goes on
            return self.choose_language(widget[5:])
        if widget == "btn_language":
            return self.open_language_chooser()
        if widget == "btn_print":
            return self._print()
        if widget == "item_finish" and self.active and self.screen != Screen.MENU:
            self.finish()                     # the footer's Finish slot (the menu handles its own)
            return True
        if widget == "btn_staff":
            self._leave_pin_entry()           # staff stand beside the pad: nothing typed may stay
            return self.call_staff()
        if widget == "btn_voice":
            return self.toggle_voice()
        handler = self._taps.get(self.screen)
        if handler is None:
            return False
        return handler(widget)

    def open_language_chooser(self) -> bool:
        """The header's language button with 3+ languages: the chooser, which returns here.
        A PIN pad left for it is wiped (it comes back empty)."""
        if not self.chooser_offered():
            return False
        self._leave_pin_entry()
        back = self.screen
        self.go(CHOOSER_SCREEN)
        self.chooser_return = back
        self.sound.play("click")
        return True

    def chooser_offered(self) -> bool:
        """3+ languages, on a screen the resident may leave for the chooser (states.NO_CHOOSER_SCREENS)."""
        return len(self.languages) >= 3 and self.screen not in NO_CHOOSER_SCREENS

    def language_key_target(self) -> str:
        """What the language key presses: the chooser with 3+ languages, else the other language."""
        langs = [lang for lang in self.languages if lang != self.lang]
        if len(self.languages) >= 3:
            return "btn_language"
        return f"lang_{langs[0]}" if langs else ""

    def choose_language(self, lang: str) -> bool:
        """A language button (attract, the two-language toggle, the chooser): the session goes on;
        from the chooser, back to the screen it was opened from, in the new language."""
        if lang not in self.languages:
            return False
        self._leave_pin_entry()
        self.lang = lang
        self.sound.play("click")
        if self.screen == CHOOSER_SCREEN:
            self._close_language_chooser()
        return True

    def _close_language_chooser(self) -> None:
        self.go(self.chooser_return or (Screen.MENU if self.active else Screen.ATTRACT))

    def _tap_language(self, w: str) -> bool:
        if w == "btn_back":                   # Back: where the resident was, language unchanged
            self.sound.play("click")
            self._close_language_chooser()
            return True
        return False

    def _leave_pin_entry(self) -> None:
        """A language switch or a staff call on a PIN screen clears what was typed (and an armed
        last-try confirmation): the resident types again, in the new language or after help."""
        if self.screen in PIN_SCREENS:
            self.wipe_pin()
            self.pin_message = None

    def call_staff(self) -> bool:
        """The resident asks for help: a service signal (LED pattern) and a journal event."""
        journal.log_event("staff_called", "resident asked for staff", journal.WARNING, SCREEN=self.screen)
        self.staff_called = True
        self.bus.publish("staff", active=True)
        self.say("nav.staff_called")
        self.sound.play("click")
        return True

    def toggle_voice(self) -> bool:
        """Voice guidance on/off (issue #16): the guide is told; with no guide, nothing to switch."""
        if self.voice is None:
            self.say("nav.voice_unavailable")
            self.sound.play("click")
            return True
        self.voice.set_on(not self.voice.on, self.lang)
        self.sound.play("click")
        return True

    def _tap_attract(self, w: str) -> bool:
        if w == "btn_large_text":
            self.large_text = not self.large_text
            self.sound.play("click")
            return True
        if w == "btn_high_contrast":
            self.high_contrast = not self.high_contrast
            self.sound.play("click")
            return True
        if w == "btn_lost_card":              # no card needed: the resident may have lost it
            self.go(Screen.LOST_CARD)
            self.sound.play("click")
            return True
        return False

    def _tap_summary(self, w: str) -> bool:
        if w == "btn_continue":
            self.sound.play("click")
            self.go(Screen.MENU)
            return True
        if w == "item_finish":
            self.finish()
            return True
        return False

    def _tap_menu(self, w: str) -> bool:
        st = self.status
        if st is None:
            return False
        if w == "item_finish":
            self.finish()
            return True
        self.sound.play("click")
        if w == "item_pin_status":
            self.go(Screen.PIN_STATUS)
        elif w == "item_renewal":
            self.go(Screen.RENEWAL)
        elif w == "item_lost_card":
            self.go(Screen.LOST_CARD)
        elif w == "item_licence" and st.licence_present:
            self._open_licence()
        elif w == "item_linkage" and st.card_type in (MYNA_LICENCE, MYNA) and not self.gateway_available:
            self.linkage = {}                 # the hand-off: readiness from facts already read, no PIN try
            self.go(Screen.LINKAGE_PREFLIGHT)
        elif w == "item_linkage" and st.card_type in (MYNA_LICENCE, MYNA):
            self.pending = "linkage_preflight"
            self.linkage = {}
            self.go(Screen.LINKAGE_PREFLIGHT)
            self._submit(BeginLinkage(self.gen))
        else:
            return False
        return True

    def licence_pin_id(self) -> str:
        return "ic_pin1" if self.status and self.status.card_type == IC_LICENCE else "licence"

    def _open_licence(self) -> None:
        st = self.status
        assert st is not None, "the menu offers the licence only with a status"
        pin_id = self.licence_pin_id()
        counter = st.pins.get(pin_id)
        self.wipe_pin()
        self.pin_message = None
        if st.licence_pin_set is False:
            # No PIN was ever set: no pad at all, the card layer sends the default.
            self.pending = "licence"
            self.pin_id = pin_id
            self.go(Screen.READING)
            self._submit(ReadLicence(self.gen, None))
            return
        if counter is not None and counter.locked:
            journal.log_event("pin_locked", "licence PIN is locked; pad refused", journal.NOTICE,
                              PIN_ID=pin_id, SCREEN="licence_pin")
            self.go(Screen.LICENCE_LOCKED)
            return
        self.pin_id = pin_id
        self.go(Screen.LICENCE_PIN)

    def _back_to_menu(self) -> None:
        self.wipe_pin()
        self.pin_message = None
        if self.resident is not None:          # minimal retention: gone when the screen goes
            self.resident.drop_licence()
        self.sound.play("click")
        self.go(Screen.MENU)

    def _tap_back_only(self, w: str) -> bool:
        if w == "btn_back":
            self._back_to_menu()
            return True
        return False

    def _tap_lost_card(self, w: str) -> bool:
        if w == "btn_back" and not self.active:
            self.sound.play("click")
            self.go(Screen.ATTRACT)           # opened from the attract screen, without a card
            return True
        return self._tap_back_only(w)

    def _tap_licence(self, w: str) -> bool:
        if w == "btn_toggle_number":
            self.show_number = not self.show_number
            self.sound.play("click")
            return True
        return self._tap_back_only(w)

    def _tap_card_removed(self, w: str) -> bool:
        if w == "btn_ok":
            self.sound.play("click")
            self.go(Screen.ATTRACT)
            return True
        return False

    # the PIN pad (licence, linkage step 4, the PIN check) and the password keyboard (step 7)
    def _keyboard_screen(self) -> bool:
        """The password keyboard (6-16 characters A-Z0-9) rather than the 4-digit pad."""
        return self.screen == Screen.LINKAGE_7 or (self.screen == Screen.LINKAGE_PIN_CHECK
                                                   and self.pin_id == "jpki_sign")

    def pin_capacity(self) -> int:
        return 16 if self._keyboard_screen() else 4

    def pin_ready(self) -> bool:
        if self.pending:
            return False
        if self._keyboard_screen():
            return 6 <= self.pin_len <= 16
        return self.pin_len == 4

    def _pad(self, w: str) -> bool | None:
        """Shared pad keys.  None when ``w`` is not a pad key."""
        if self.pending:
            return False
        if w.startswith("key_") and len(w) == 5 and w[4].isdigit() or (
                w.startswith("kb_") and len(w) == 4 and w[3].isalnum() and self._keyboard_screen()):
            ch = w[-1].upper()
            if not self._keyboard_screen() and not ch.isdigit():
                return False
            if self.pin_len < self.pin_capacity():
                self._pin[self.pin_len] = ord(ch)
                self.pin_len += 1
                self._disarm_last_try()
            self.sound.play("click")          # identical for every key, even when full
            return True
        if w == "key_back":
            if self.pin_len:
                self.pin_len -= 1
                self._pin[self.pin_len] = 0
                self._disarm_last_try()
            self.sound.play("click")
            return True
        if w == "key_clear":
            self.wipe_pin()
            self.sound.play("click")
            return True
        if w == "key_ok":
            if not self.pin_ready():
                return False
            self.sound.play("click")
            if self._last_try_unconfirmed():
                # The last try of a counter: one more explicit OK before it is spent.
                self.last_try_armed = True
                self.pin_message = ("pin.confirm_last", {})
                return True
            self._submit_pin()
            return True
        return None

    def _disarm_last_try(self) -> None:
        if self.last_try_armed:
            self.last_try_armed = False
            self.pin_message = None

    def _pad_pin_id(self) -> str:
        if self.screen == Screen.LINKAGE_4:
            return "jpki_auth"
        if self.screen == Screen.LINKAGE_7:
            return "jpki_sign"
        return self.pin_id or self.licence_pin_id()

    def _last_try_unconfirmed(self) -> bool:
        counter = self.status.pins.get(self._pad_pin_id()) if self.status else None
        return bool(counter and counter.tries_left == 1 and not self.last_try_armed)

    def _take_pin(self, pin_id: str) -> Pin | None:
        typed = bytearray(self._pin[:self.pin_len])
        self.wipe_pin()
        try:
            return Pin(pin_id, typed)          # checks the format; wipes ``typed``
        except PinFormatError:
            self.pin_message = ("pin.format", {})
            return None
        finally:
            typed[:] = b"\x00" * len(typed)

    def _submit_pin(self) -> None:
        if self.screen == Screen.LICENCE_PIN:
            pin = self._take_pin(self.pin_id or self.licence_pin_id())
            if pin is None:
                return
            self.pending = "licence"
            self.pin_message = None
            self._submit(ReadLicence(self.gen, pin))
        elif self.screen == Screen.LINKAGE_PIN_CHECK and self.pin_id in CHECKABLE_PINS:
            pin_id = self.pin_id
            counter = self.status.pins.get(pin_id) if self.status else None
            if not self.pin_check_enabled() or (counter is not None and counter.locked):
                self.wipe_pin()                            # the card layer refuses too; never even ask
                return
            pin = self._take_pin(pin_id)
            if pin is None:
                return
            self.pending = "pin_check"
            self.pin_message = None
            self._submit(CheckPin(self.gen, pin_id, pin))
        elif self.screen in LINKAGE_PIN_STEPS:
            pin_id, next_screen, action = LINKAGE_PIN_STEPS[self.screen]
            pin = self._take_pin(pin_id)
            if pin is None:
                return
            self.pin_id = pin_id
            self.pending = "linkage"
            self.pin_message = None
            self.go(next_screen)
            self._submit(LinkageCall(self.gen, action, pin))

    def _tap_licence_pin(self, w: str) -> bool:
        handled = self._pad(w)
        if handled is not None:
            return handled
        if w == "btn_cancel" and not self.pending:
            self._back_to_menu()
            return True
        return False

    def pin_check_enabled(self) -> bool:
        """The optional PIN check of the readiness screen (config [linkage] pin_check)."""
        return bool(self.cfg.linkage.pin_check)

    def _tap_pin_check(self, w: str) -> bool:
        handled = self._pad(w)
        if handled is not None:
            return handled
        if w in ("btn_cancel", "btn_back") and not self.pending:
            self.wipe_pin()
            self.pin_message = None
            self.pin_id = None
            self.sound.play("click")
            self.go(Screen.LINKAGE_PIN_CHECK_CHOOSE)
            return True
        return False

    def pin_check_offered(self) -> bool:
        """The readiness screen offers the check: switched on, a card session, a JPKI counter read."""
        st = self.status
        return (self.pin_check_enabled() and self.active and not self.pending and st is not None
                and any(st.pins.get(p) is not None for p in CHECKABLE_PINS))

    def _tap_pin_check_choose(self, w: str) -> bool:
        if w.startswith("btn_check_"):
            pin_id = w[len("btn_check_"):]
            return pin_id in CHECKABLE_PINS and self._open_pin_check(pin_id)
        if w == "btn_back":
            self.sound.play("click")
            self.go(Screen.LINKAGE_PREFLIGHT)
            return True
        return False

    def _open_pin_check(self, pin_id: str) -> bool:
        counter = self.status.pins.get(pin_id) if self.status else None
        if self.pending or not self.pin_check_enabled() or counter is None or counter.locked:
            return False                       # never a pad for a locked counter
        self.wipe_pin()
        self.pin_message = None
        self.pin_id = pin_id
        self.sound.play("click")
        self.go(Screen.LINKAGE_PIN_CHECK)
        return True

    def _tap_linkage(self, w: str) -> bool:
        if w == "btn_cancel":
            if self.pending:
                self.cancel_requested = True
                return True
            self._linkage_cancel()
            return True
        if self.screen in (Screen.LINKAGE_4, Screen.LINKAGE_7):
            return bool(self._pad(w))
        if self.pending:
            return False
        if self.screen == Screen.LINKAGE_PREFLIGHT and w == "btn_pin_check":
            if not self.pin_check_offered():
                return False
            self.sound.play("click")
            self.go(Screen.LINKAGE_PIN_CHECK_CHOOSE)
            return True
        if self.screen in (Screen.LINKAGE_1, Screen.LINKAGE_2, Screen.LINKAGE_3) and w == "btn_next":
            self.pending = "linkage"
            self.sound.play("click")
            self._submit(LinkageCall(self.gen, LinkageAction.ADVANCE))
            return True
        if self.screen == Screen.LINKAGE_6:
            if w == "btn_accept":
                self.pending = "linkage"
                self.sound.play("click")
                self._submit(LinkageCall(self.gen, LinkageAction.ACCEPT_TERMS))
                return True
            if w in ("btn_terms_next", "btn_terms_prev"):
                self.terms_page = max(0, self.terms_page + (1 if w == "btn_terms_next" else -1))
                self.sound.play("click")
                return True
        if self.screen in (Screen.LINKAGE_9, Screen.LINKAGE_PREFLIGHT, Screen.LINKAGE_ERROR) and \
                w in ("btn_done", "btn_back"):
            self._linkage_cancel()
            return True
        return False

    def _linkage_cancel(self) -> None:
        self.cancel_requested = False
        self.pending = None
        self._submit(LinkageCall(self.gen, LinkageAction.CANCEL))
        self.linkage = {}
        self.terms_page = 0
        self.error = None
        self._back_to_menu()

    def recover(self, detail: str) -> None:
        """After an unexpected error in the UI: forget the resident, ask for the card back."""
        journal.log_event("card_error", "unexpected UI error; session ended", journal.ERR,
                          ERROR_CODE="ui_error", DETAIL=detail, SCREEN=self.screen)
        gen, had_card = self.gen, self.active
        self.wipe()
        self.error = ("card.error.card_error", {})
        self.go(Screen.CARD_ERROR if had_card else Screen.ATTRACT)
        if had_card:
            self._submit(EndSession(gen))

    def finish(self) -> None:
        """The resident is done: forget them now, then wait for the card to leave."""
        gen = self.gen
        self.wipe()
        self.go(Screen.TAKE_CARD)
        self.last_chime = self.clock.now()
        self.sound.play("take_card")
        self._submit(EndSession(gen))

    # -- printing -----------------------------------------------------------------
    def can_print(self) -> bool:
        return self.desk.available and self.screen in RECEIPT_KINDS

    def _print(self) -> bool:
        if self.screen not in RECEIPT_KINDS or not (self.active or self.screen == Screen.LOST_CARD):
            return False
        if not self.can_print():
            self.say("receipt.unavailable")
            return True
        kind = RECEIPT_KINDS[self.screen]
        # The copies are taken here, on the UI thread: the UI may wipe the live objects
        # (Back, removal) while the slip is still being built on the receipt thread.
        now = dt.datetime.now() if self.today() is not None else None   # a date only from a trusted clock
        request = SlipRequest.take(kind, self.lang, self.gen, self.status, self.licence,
                                   self._linkage_receipt() if kind.startswith("linkage") else None, now)
        self.say("receipt.printing")
        self.printed_from = self.screen
        self.sound.play("click")
        self.desk.print(self.cfg, request)
        return True

    def _linkage_receipt(self) -> dict[str, Any]:
        """Counters and ids only, for the checklist / completion slip."""
        step = int(self.linkage.get("step") or 0)
        return {"reference": self.linkage.get("reference"), "steps_total": LINKAGE_STEPS,
                "steps_done": step if self.screen == Screen.LINKAGE_9 else 0}

    # -- keypad / keyboard ---------------------------------------------------------
    def key(self, name: str, view: Any = None) -> bool:
        """A physical key: digits, letters, enter, backspace, escape, delete."""
        name = name.lower()
        if name in ("page_down", "page_up"):
            prefix = "page_next_" if name == "page_down" else "page_prev_"
            ids = [w.id for w in (view.widgets if view is not None else []) if w.id.startswith(prefix)]
            return bool(ids) and view.enabled(ids[0]) and self.tap(ids[0])
        if name == "v" and self.screen == Screen.ATTRACT or name == "f10":
            return self.tap("btn_voice")        # the keypad's voice key (issue #16)
        if name == "f11" and self.screen != PROMPT_SCREEN:
            return self.tap(self.language_key_target())   # the keypad's language key, on every screen
        if self.screen in PIN_SCREENS:
            keyboard = self._keyboard_screen()
            if name.isdigit() and len(name) == 1:
                return self.tap(("kb_" if keyboard else "key_") + name)
            if keyboard and len(name) == 1 and name.isalpha() and name.isascii():
                return self.tap("kb_" + name.upper())
            mapping = {"enter": "key_ok", "backspace": "key_back", "delete": "key_clear",
                       "escape": "btn_cancel"}
            if name in mapping:
                return self.tap(mapping[name])
            return False
        if view is None or view.screen != self.screen:
            from kiosk.display.screens import build_view
            view = build_view(self)
        target = None
        if name.isdigit() and len(name) == 1:
            target = view.shortcuts.get(name)
        elif name == "enter":
            target = view.default
        elif name == "escape":
            target = view.back
        if target and view.enabled(target):
            return self.tap(target)
        return False
