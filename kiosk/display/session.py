"""The resident's session: screens, rules and timers, without any pygame.

The session decides what is on screen (``screen``) and holds the little state
the screens show.  Card I/O happens in the CardWorker; answers arrive as
messages that ``pump()`` applies on the UI thread.  Time comes from an
injectable clock, so tests advance 30 s without sleeping.

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

import copy
import datetime as dt
import math
import queue
import threading
from collections import deque
from typing import Any, Callable

from kiosk import journal
from kiosk.display.clock import SystemClock
from kiosk.display.worker import CardWorker, Message, wipe_message
from kiosk.errors import PinFormatError
from kiosk.nfc.model import IC_LICENCE, MYNA, MYNA_LICENCE, PinCounter
from kiosk.nfc.pins import PIN_SPECS, Pin
from kiosk.signals import Bus, KioskState, ServiceCondition

# Seconds before the session cap at which the countdown appears.
SESSION_WARN_SECONDS = 30
# The full-screen "continue?" prompt shown after timeouts.inactivity_seconds.
PROMPT_SCREEN = "still_there"
# How long "card removed" stays before the attract screen returns.
CARD_REMOVED_SECONDS = 6
LINKAGE_STEPS = 9
# PIN screen of the linkage -> (PIN id, the screen while the card works, engine call)
LINKAGE_PIN_STEPS = {"linkage_4": ("jpki_auth", "linkage_5", "submit_auth_pin"),
                     "linkage_7": ("jpki_sign", "linkage_8", "submit_sign_pin")}
# How many recent screens ``Session.screens_seen`` keeps.
SCREENS_KEPT = 500
PIN_SCREENS = ("licence_pin", "linkage_4", "linkage_7")
# Screens on which the card is finished with and only its removal is awaited.
AWAIT_REMOVAL_SCREENS = ("take_card", "timed_out", "card_error")
# Screens with no resident to wait for: the inactivity prompt never comes on them.
NO_PROMPT_SCREENS = (*AWAIT_REMOVAL_SCREENS, "attract", "card_removed", "service_needed", PROMPT_SCREEN)

STATE_OF_SCREEN: dict[str, KioskState] = {
    "attract": KioskState.READY,
    "card_removed": KioskState.RESIDENT_ERROR,
    "card_error": KioskState.RESIDENT_ERROR,
    "licence_locked": KioskState.RESIDENT_ERROR,
    "linkage_error": KioskState.RESIDENT_ERROR,
    "licence_pin": KioskState.WAITING_PIN,
    "linkage_4": KioskState.WAITING_PIN,
    "linkage_7": KioskState.WAITING_PIN,
    "licence": KioskState.SUCCESS,
    "linkage_9": KioskState.SUCCESS,
    "take_card": KioskState.CARD_LEFT,
    "timed_out": KioskState.CARD_LEFT,
}

RECEIPT_KINDS = {
    "pin_status": "pin_status", "licence_locked": "pin_status", "licence": "licence",
    "renewal": "renewal", "lost_card": "lost_card", "linkage_preflight": "linkage_checklist",
    "linkage_9": "linkage_done",
}


class NoSound:
    def play(self, name: str) -> None:
        pass


class Session:
    """One kiosk's resident-facing state machine."""

    def __init__(self, cfg, *, reader_factory: Callable | None = None, config_error=None,
                 clock=None, bus: Bus | None = None, printer=None, receipt_builder=None,
                 linkage_factory=None, gateway_available: bool = False, sound=None,
                 on_wake: Callable[[], None] | None = None,
                 today: Callable[[], dt.date | None] = dt.date.today):
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.bus = bus or Bus()
        self.printer = printer
        self.receipt_builder = receipt_builder
        self._print_tag = 0                 # whose slips: a new tag after every wipe
        self._print_lock = threading.Lock()
        self.gateway_available = gateway_available
        self.sound = sound or NoSound()
        self.on_wake = on_wake
        # The trusted date, or None when the clock is not synchronised: then no screen or
        # slip judges a date (kiosk/guidance).
        self.today = today
        self.inbox: "queue.Queue[Message]" = queue.Queue()
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
        self.screen = "attract"
        self.screen_since = self.clock.now()
        # The recent screens, for the scenario runner and tests; bounded, as the kiosk runs for months.
        self.screens_seen: deque[str] = deque(["attract"], maxlen=SCREENS_KEPT)
        self._state: KioskState | None = None
        # Called as observer(session, "screen"|"input") after changes: the voice guide (kiosk/voice).
        self.observers: list[Callable[["Session", str], None]] = []
        self._pin = bytearray(16)
        self.gen = 0
        self._clear_resident()
        if config_error is not None:
            self._enter_service("config_error")
            journal.log_event("config_error", "configuration is invalid; kiosk needs service",
                              journal.ERR, ERROR_CODE=config_error.code,
                              KEY=config_error.details.get("key"))
        self._publish_state()
        from kiosk.voice import attach as attach_voice
        self.voice = attach_voice(self)     # the spoken guide; None unless [voice] enabled = true

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        if self.worker is not None and self.config_error is None:
            self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        while True:                         # answers nobody will read: wipe what they carry
            try:
                self._discard(self.inbox.get_nowait())
            except queue.Empty:
                break
        self.wipe()

    def _post(self, msg: Message) -> None:
        self.inbox.put(msg)
        if self.on_wake is not None:
            try:
                self.on_wake()
            except Exception:
                pass

    # -- what the resident leaves behind: nothing ----------------------------
    def _clear_resident(self) -> None:
        self.status = None
        self.licence = None
        self.photo = None
        self.show_number = False
        self.pin_id: str | None = None
        self.pin_len = 0
        self.last_try_armed = False
        self.pin_wrong_shown = False        # LEDs show resident_error until the resident types again
        self.pin_message: tuple[str, dict] | None = None
        self.notice: tuple[str, dict] | None = None
        self.error: tuple[str, dict] | None = None
        self.pending: str | None = None
        self.cancel_requested = False
        self.linkage: dict[str, Any] = {}
        self.terms_page = 0
        self.session_started: float | None = None
        self.pin_last_input: float | None = None
        self.last_input: float | None = None
        self.prompt_since: float | None = None
        self.prompt_return: str | None = None
        self.last_chime: float | None = None

    def wipe_pin(self) -> None:
        self._pin[:] = b"\x00" * len(self._pin)
        self.pin_len = 0
        self.last_try_armed = False

    def wipe(self) -> None:
        """Forget the resident: PIN buffer, licence, status, linkage, timers."""
        self.wipe_pin()
        if self.licence is not None:
            self.licence.wipe()
        if self.photo is not None:
            try:
                self.photo.close()
            except Exception:
                pass
        self._clear_resident()
        self.lang = self.default_lang
        self.large_text = bool(self.cfg.display.large_text)
        self.high_contrast = bool(getattr(self.cfg.display, "high_contrast", False))
        self._cancel_receipts()

    def _cancel_receipts(self) -> None:
        """The forgotten resident's slips that have not started printing never will."""
        with self._print_lock:
            tag, self._print_tag = self._print_tag, self._print_tag + 1
        cancel = getattr(self.printer, "cancel", None)
        if cancel is not None:
            try:
                cancel(tag)
            except Exception:
                pass

    # -- screens -------------------------------------------------------------
    def go(self, screen: str) -> None:
        if screen != self.screen:
            self.screen = screen
            self.screens_seen.append(screen)
            self.notice = None
            self.pages = {}
        self.screen_since = self.clock.now()
        self.last_input = self.clock.now()
        if screen in PIN_SCREENS:
            self.pin_last_input = self.clock.now()
        else:
            self.pin_last_input = None
            self.pin_wrong_shown = False
        self._publish_state()
        self._notify("screen")

    def _notify(self, event: str) -> None:
        """Tell the observers; one that fails is journaled and never stops the kiosk."""
        for observer in self.observers:
            try:
                observer(self, event)
            except Exception as exc:
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
        self.screen = "service_needed"
        self.screens_seen.append("service_needed")
        self.screen_since = self.clock.now()

    @property
    def active(self) -> bool:
        """A resident's card session is running (timers apply)."""
        return self.session_started is not None

    # -- timers ----------------------------------------------------------------
    def pin_remaining(self) -> float | None:
        if self.screen not in PIN_SCREENS or self.pin_last_input is None or self.pending:
            return None
        return self.cfg.timeouts.pin_seconds - (self.clock.now() - self.pin_last_input)

    def session_remaining(self) -> float | None:
        if self.session_started is None:
            return None
        return self.cfg.timeouts.session_seconds - (self.clock.now() - self.session_started)

    def idle_remaining(self) -> float | None:
        """Seconds until the "continue?" prompt; None while nothing is being waited for.

        Not on PIN screens (their own timer is shorter), not while the card or the
        gateway works (the resident is waiting for us), not once the card is done.
        """
        if (not self.active or self.pending or self.last_input is None or self.screen in PIN_SCREENS
                or self.screen in NO_PROMPT_SCREENS):
            return None
        return self.cfg.timeouts.inactivity_seconds - (self.clock.now() - self.last_input)

    def prompt_remaining(self) -> float | None:
        if self.screen != PROMPT_SCREEN or self.prompt_since is None:
            return None
        return self.cfg.timeouts.prompt_seconds - (self.clock.now() - self.prompt_since)

    def countdown(self) -> tuple[str, int] | None:
        """What countdown is on screen now: ("pin"|"session"|"prompt", whole seconds)."""
        prompt = self.prompt_remaining()
        if prompt is not None:
            return "prompt", max(0, math.ceil(prompt))
        pin = self.pin_remaining()
        ses = self.session_remaining()
        if ses is not None and ses <= SESSION_WARN_SECONDS and (pin is None or ses < pin):
            return "session", max(0, math.ceil(ses))
        if pin is not None:
            return "pin", max(0, math.ceil(pin))
        return None

    def tick(self) -> bool:
        """Apply timers.  Returns True when the screen must be redrawn."""
        now = self.clock.now()
        if self.screen == "card_removed" and now - self.screen_since >= CARD_REMOVED_SECONDS:
            self.go("attract")
            return True
        if self.screen == "lost_card" and not self.active and \
                now - self.screen_since >= self.cfg.timeouts.session_seconds:
            self.go("attract")                # lost-card help opened without a card
            return True
        if self.screen == "take_card":
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

    def next_deadline(self) -> float | None:
        """Seconds until the screen changes by itself (for the event wait)."""
        now = self.clock.now()
        waits = []
        cd = self.countdown()
        if cd is not None:
            rem = {"pin": self.pin_remaining, "session": self.session_remaining,
                   "prompt": self.prompt_remaining}[cd[0]]()
            if rem is not None:
                waits.append(max(0.0, rem - math.floor(rem)) or 1.0)
        ses = self.session_remaining()
        if ses is not None:
            waits.append(max(0.0, ses - SESSION_WARN_SECONDS) or 1.0)
        idle = self.idle_remaining()
        if idle is not None:
            waits.append(max(0.0, idle))
        if self.screen == "card_removed":
            waits.append(max(0.0, CARD_REMOVED_SECONDS - (now - self.screen_since)))
        if self.screen == "take_card":
            waits.append(1.0)
        return min(waits) if waits else None

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
        back, self.prompt_return, self.prompt_since = self.prompt_return or "menu", None, None
        self.screen = back
        self.screens_seen.append(back)
        self.last_input = self.clock.now()
        self._publish_state()

    def _pin_timeout(self) -> None:
        """A PIN pad left alone: wipe the digits, back to the screen before it; the session goes on."""
        journal.log_event("session_timeout", "pin timeout; typed digits wiped", journal.NOTICE,
                          SCREEN=self.screen, TIMEOUT="pin")
        if self.screen == "licence_pin":
            self._back_to_menu()
        else:
            self._linkage_cancel()           # linkage_4 / linkage_7: the engine cannot go back a step
        self.notice = ("still_there.pin_cleared", {})
        self.sound.play("error")

    def _timeout(self, kind: str) -> None:
        journal.log_event("session_timeout", f"{kind} timeout; resident data wiped", journal.NOTICE,
                          SCREEN=self.prompt_return or self.screen, TIMEOUT=kind)
        gen = self.gen
        self.wipe()
        self.go("timed_out")
        self.sound.play("error")
        if self.worker is not None:
            self.worker.submit("end", gen)

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

    def _stale(self, msg: Message) -> bool:
        return msg.gen != self.gen

    def _apply(self, msg: Message) -> None:
        kind, data = msg.kind, msg.data
        if kind == "reader_missing":
            journal.log_event("reader_missing", "card reader not available", journal.ERR,
                              ERROR_CODE=data.get("code"))
            if self.service != "config_error":
                self._enter_service("no_reader")
            return
        if kind == "reader_ok":
            journal.log_event("reader_recovered", "card reader available again", journal.NOTICE,
                              READER=data.get("reader"))
            if self.service == "no_reader":
                self.bus.service(ServiceCondition.NO_READER, False)
                self.service = None
                self.go("attract")
            return
        if kind == "inserted":
            lang, large, contrast = self.lang, self.large_text, self.high_contrast   # chosen on attract
            self.wipe()
            self.lang, self.large_text, self.high_contrast = lang, large, contrast
            self.gen = msg.gen
            self.session_started = self.clock.now()
            journal.log_event("card_inserted", "card placed", READER=data.get("reader"))
            if self.service is None:
                self.go("reading")
            return
        if kind == "print_done":
            if not self._stale(msg) and (self.active or self.screen == "lost_card"):
                self.notice = ("receipt.done", {}) if data.get("ok") else ("receipt.unavailable", {})
                self.sound.play("success" if data.get("ok") else "error")
            return
        if self._stale(msg):
            self._discard(msg)
            return
        if kind == "removed":
            self._removed()
            return
        if not self.active:
            self._discard(msg)
            return
        self.last_input = self.clock.now()          # the card answered: the resident is not idle
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(data)

    _discard = staticmethod(wipe_message)

    def _removed(self) -> None:
        was = self.screen
        if self.service:
            return
        journal.log_event("card_removed", "card taken away", SCREEN=was)
        if was in AWAIT_REMOVAL_SCREENS or was in ("attract", "card_removed"):
            self.wipe()
            self.go("attract")
            return
        self.wipe()
        self.go("card_removed")
        self.sound.play("error")

    def _on_status(self, data: dict) -> None:
        st = data["status"]
        self.status = st
        journal.log_event("pin_status_read", "card status read", CARD_TYPE=st.card_type,
                          LOCKED=",".join(st.locked_pins) or "none")
        if st.card_type not in (MYNA, MYNA_LICENCE, IC_LICENCE):
            self._card_error("unsupported_card")
            return
        self.go("summary")

    def _card_error(self, code: str, sw: str | None = None) -> None:
        journal.log_event("card_error", "card could not be used", journal.WARNING,
                          ERROR_CODE=code, SW=sw, SCREEN=self.screen)
        gen = self.gen
        self.wipe()
        self.session_started = None
        self.error = ("card.error." + code if code in ("unsupported_card", "no_licence") else
                      "card_not_responding.body" if code == "card_not_responding" else
                      "card.error.card_error", {})
        self.go("card_error")
        self.sound.play("error")
        if self.worker is not None:
            self.worker.submit("end", gen)

    def _on_card_error(self, data: dict) -> None:
        self._card_error(data.get("code", "card_error"), data.get("sw"))

    def _on_licence(self, data: dict) -> None:
        lic = data["licence"]
        if self.pending != "licence":
            self._discard(Message("licence", self.gen, data))
            return
        self.pending = None
        self.licence = lic
        self.show_number = False
        self.photo = data.get("photo")
        pin_id = self.pin_id or ("ic_pin1" if self.status.card_type == IC_LICENCE else "licence")
        c = self.status.pins.get(pin_id)
        if c is not None and self.status.licence_pin_set is not False:
            self.status.pins[pin_id] = PinCounter(pin_id, c.max_tries, c.max_tries, False)
        journal.log_event("licence_read", "licence data read", CARD_TYPE=self.status.card_type,
                          PIN_ID=pin_id)
        self.pin_id = None
        self.go("licence")
        self.sound.play("success")

    def _pin_wrong(self, data: dict, screen: str | None = None) -> None:
        """A wrong PIN: the new count on the pad (``screen``, default this one)."""
        pin_id, left = data.get("pin_id") or self.pin_id, data.get("tries_left", 0)
        self.pending = None
        self._set_counter(pin_id, left, False)
        journal.log_event("pin_wrong", "wrong PIN", journal.NOTICE, PIN_ID=pin_id, TRIES_LEFT=left,
                          SCREEN=self.screen)
        self.pin_message = ("pin.wrong", {"left": left, "max": PIN_SPECS[pin_id].max_tries})
        self.pin_wrong_shown = True
        self.go(screen or self.screen)
        self.sound.play("error")

    def _on_pin_wrong(self, data: dict) -> None:
        self._pin_wrong(data)

    def _pin_locked(self, data: dict) -> str:
        """The counter is now locked: record and journal it; returns the PIN id."""
        pin_id = data.get("pin_id") or self.pin_id
        self.pending = None
        self._set_counter(pin_id, 0, True)
        journal.log_event("pin_locked", "PIN is locked", journal.WARNING, PIN_ID=pin_id,
                          SCREEN=self.screen)
        return pin_id

    def _on_pin_locked(self, data: dict) -> None:
        self._pin_locked(data)
        self.pin_message = None
        self.go("licence_locked")
        self.sound.play("error")

    def _set_counter(self, pin_id: str, left: int, locked: bool) -> None:
        if self.status is not None and pin_id in PIN_SPECS:
            self.status.pins[pin_id] = PinCounter(pin_id, left, PIN_SPECS[pin_id].max_tries, locked)

    # linkage messages
    def _on_linkage_preflight(self, data: dict) -> None:
        if self.pending != "linkage_preflight":
            return
        self.pending = None
        pre = data["preflight"]
        self.linkage = {"preflight": pre, "step": data.get("step", 1)}
        if getattr(pre, "ok", False) and self.gateway_available:
            self.go("linkage_1")
        else:
            self.go("linkage_preflight")

    def _on_linkage_step(self, data: dict) -> None:
        if self.pending != "linkage":
            return
        self.pending = None
        step = int(data.get("step", 1))
        self.linkage["step"] = step
        if data.get("terms") is not None:
            self.linkage["terms"] = data["terms"]
        if data.get("reference") is not None:
            self.linkage["reference"] = data["reference"]
        if self.cancel_requested:
            self._linkage_cancel()
            return
        self.pin_message = None
        self.go(f"linkage_{min(max(step, 1), LINKAGE_STEPS)}")
        if step == LINKAGE_STEPS:
            self.sound.play("success")

    def _on_linkage_pin_wrong(self, data: dict) -> None:
        pin_id = data.get("pin_id") or self.pin_id
        self._pin_wrong(data, "linkage_7" if pin_id == "jpki_sign" else "linkage_4")

    def _on_linkage_pin_locked(self, data: dict) -> None:
        pin_id = self._pin_locked(data)
        self.error = ("linkage.locked", {"pin_id": pin_id})
        self.go("linkage_error")
        self.sound.play("error")

    def _on_linkage_error(self, data: dict) -> None:
        self.pending = None
        key = data.get("message_key") or "linkage.error.gateway_error"
        journal.log_event("linkage_error", "linkage stopped", journal.WARNING,
                          ERROR_CODE=data.get("code"), REASON=data.get("reason"), SCREEN=self.screen)
        step = data.get("step")
        if data.get("retryable") and not data.get("finished") and step in (4, 6, 7):
            # The engine went back a step: the resident may try again (a fresh PIN entry).
            if data.get("terms") is not None:
                self.linkage["terms"] = data["terms"]
                self.terms_page = 0
            self.linkage["step"] = step
            self.pin_message = (key, {})
            self.go(f"linkage_{step}")
            self.notice = (key, {}) if step == 6 else None
            self.sound.play("error")
            return
        self.error = (key, {"code": data.get("reason") or data.get("code")})
        self.go("linkage_error")
        self.sound.play("error")

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
        handler = getattr(self, f"_tap_{self.screen}", None)
        if handler is None and self.screen.startswith("linkage_"):
            handler = self._tap_linkage
        if widget.startswith("lang_") and self.screen == "attract":
            lang = widget[5:]
            if lang in self.languages:
                self.lang = lang
                self.sound.play("click")
                return True
            return False
        if widget == "btn_print":
            return self._print()
        if handler is None:
            return False
        return bool(handler(widget))

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
            self.go("lost_card")
            self.sound.play("click")
            return True
        return False

    def _tap_summary(self, w: str) -> bool:
        if w == "btn_continue":
            self.go("menu")
            return True
        return False

    def _tap_menu(self, w: str) -> bool:
        st = self.status
        if w == "item_finish":
            self.finish()
        elif w == "item_pin_status":
            self.go("pin_status")
        elif w == "item_renewal":
            self.go("renewal")
        elif w == "item_lost_card":
            self.go("lost_card")
        elif w == "item_licence" and st.licence_present:
            self._open_licence()
        elif w == "item_linkage" and st.card_type == MYNA_LICENCE and not self.gateway_available:
            self.linkage = {}                 # the hand-off: readiness from facts already read, no PIN try
            self.go("linkage_preflight")
        elif w == "item_linkage" and st.card_type == MYNA_LICENCE:
            self.pending = "linkage_preflight"
            self.linkage = {}
            self.go("linkage_preflight")
            self.worker.submit("linkage_begin", self.gen)
        else:
            return False
        return True

    def licence_pin_id(self) -> str:
        return "ic_pin1" if self.status and self.status.card_type == IC_LICENCE else "licence"

    def _open_licence(self) -> None:
        st = self.status
        pin_id = self.licence_pin_id()
        counter = st.pins.get(pin_id)
        self.wipe_pin()
        self.pin_message = None
        if st.licence_pin_set is False:
            # No PIN was ever set: no pad at all, the card layer sends the default.
            self.pending = "licence"
            self.pin_id = pin_id
            self.go("reading")
            self.worker.submit("read_licence", self.gen, None)
            return
        if counter is not None and counter.locked:
            journal.log_event("pin_locked", "licence PIN is locked; pad refused", journal.NOTICE,
                              PIN_ID=pin_id, SCREEN="licence_pin")
            self.go("licence_locked")
            return
        self.pin_id = pin_id
        self.go("licence_pin")

    def _back_to_menu(self) -> None:
        self.wipe_pin()
        self.pin_message = None
        if self.licence is not None:          # minimal retention: gone when the screen goes
            self.licence.wipe()
            self.licence = None
        if self.photo is not None:
            self.photo.close()
            self.photo = None
        self.show_number = False
        self.go("menu")

    def _tap_pin_status(self, w: str) -> bool:
        if w == "btn_back":
            self._back_to_menu()
            return True
        return False

    _tap_renewal = _tap_licence_locked = _tap_pin_status

    def _tap_lost_card(self, w: str) -> bool:
        if w == "btn_back" and not self.active:
            self.go("attract")                # opened from the attract screen, without a card
            return True
        return self._tap_pin_status(w)

    def _tap_licence(self, w: str) -> bool:
        if w == "btn_toggle_number":
            self.show_number = not self.show_number
            return True
        return self._tap_pin_status(w)

    def _tap_card_removed(self, w: str) -> bool:
        if w == "btn_ok":
            self.go("attract")
            return True
        return False

    # the PIN pad (licence, linkage step 4) and the password keyboard (step 7)
    def pin_capacity(self) -> int:
        return 16 if self.screen == "linkage_7" else 4

    def pin_ready(self) -> bool:
        if self.pending:
            return False
        if self.screen == "linkage_7":
            return 6 <= self.pin_len <= 16
        return self.pin_len == 4

    def _pad(self, w: str) -> bool | None:
        """Shared pad keys.  None when ``w`` is not a pad key."""
        if self.pending:
            return False
        if w.startswith("key_") and len(w) == 5 and w[4].isdigit() or (
                w.startswith("kb_") and len(w) == 4 and w[3].isalnum() and self.screen == "linkage_7"):
            ch = w[-1].upper()
            if self.screen != "linkage_7" and not ch.isdigit():
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
        if self.screen == "linkage_4":
            return "jpki_auth"
        if self.screen == "linkage_7":
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
        if self.screen == "licence_pin":
            pin = self._take_pin(self.pin_id or self.licence_pin_id())
            if pin is None:
                return
            self.pending = "licence"
            self.pin_message = None
            self.worker.submit("read_licence", self.gen, pin)
        elif self.screen in LINKAGE_PIN_STEPS:
            pin_id, next_screen, action = LINKAGE_PIN_STEPS[self.screen]
            pin = self._take_pin(pin_id)
            if pin is None:
                return
            self.pin_id = pin_id
            self.pending = "linkage"
            self.pin_message = None
            self.go(next_screen)
            self.worker.submit("linkage", self.gen, action, pin)

    def _tap_licence_pin(self, w: str) -> bool:
        handled = self._pad(w)
        if handled is not None:
            return handled
        if w == "btn_cancel" and not self.pending:
            self._back_to_menu()
            return True
        return False

    def _tap_linkage(self, w: str) -> bool:
        if w == "btn_cancel":
            if self.pending:
                self.cancel_requested = True
                return True
            self._linkage_cancel()
            return True
        if self.screen in ("linkage_4", "linkage_7"):
            handled = self._pad(w)
            return bool(handled)
        if self.pending:
            return False
        if self.screen in ("linkage_1", "linkage_2", "linkage_3") and w == "btn_next":
            self.pending = "linkage"
            self.worker.submit("linkage", self.gen, "advance")
            return True
        if self.screen == "linkage_6":
            if w == "btn_accept":
                self.pending = "linkage"
                self.worker.submit("linkage", self.gen, "accept_terms")
                return True
            if w in ("btn_terms_next", "btn_terms_prev"):
                self.terms_page = max(0, self.terms_page + (1 if w == "btn_terms_next" else -1))
                return True
        if self.screen in ("linkage_9", "linkage_preflight", "linkage_error") and w in ("btn_done", "btn_back"):
            self._linkage_cancel()
            return True
        return False

    def _linkage_cancel(self) -> None:
        self.cancel_requested = False
        self.pending = None
        if self.worker is not None:
            self.worker.submit("linkage", self.gen, "cancel")
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
        self.go("card_error" if had_card else "attract")
        if had_card and self.worker is not None:
            self.worker.submit("end", gen)

    def finish(self) -> None:
        """The resident is done: forget them now, then wait for the card to leave."""
        gen = self.gen
        self.wipe()
        self.go("take_card")
        self.last_chime = self.clock.now()
        self.sound.play("take_card")
        if self.worker is not None:
            self.worker.submit("end", gen)

    # -- printing -----------------------------------------------------------------
    def can_print(self) -> bool:
        return (self.printer is not None and self.receipt_builder is not None
                and self.screen in RECEIPT_KINDS and bool(getattr(self.printer, "available", False)))

    def _print(self) -> bool:
        if self.screen not in RECEIPT_KINDS or not (self.active or self.screen == "lost_card"):
            return False
        if not self.can_print():
            self.notice = ("receipt.unavailable", {})
            return True
        kind = RECEIPT_KINDS[self.screen]
        gen, lang, cfg = self.gen, self.lang, self.cfg
        # Copies taken here, on the UI thread: the UI may wipe the live objects (back, removal)
        # while the slip is still being built on the receipt thread.
        status = copy.deepcopy(self.status)
        licence = copy.deepcopy(self.licence) if kind == "licence" and self.licence is not None else None
        linkage = self._linkage_receipt() if kind.startswith("linkage") else None
        now = dt.datetime.now() if self.today() is not None else None   # a date only from a trusted clock
        self.notice = ("receipt.printing", {})
        builder, printer = self.receipt_builder, self.printer

        def done(result) -> None:
            self._post(Message("print_done", gen, {"ok": bool(getattr(result, "ok", False)),
                                                   "code": getattr(result, "code", None)}))

        tag = self._print_tag

        def job() -> None:
            try:
                receipt = builder(kind, lang, cfg, status=status, licence=licence, linkage=linkage, now=now)
                with self._print_lock:              # not between a wipe and its cancel
                    left = tag != self._print_tag   # the resident left while it was built
                    if not left:
                        printer.submit(receipt, done, tag=tag)
                if left:
                    self._post(Message("print_done", gen, {"ok": False, "code": "cancelled"}))
            except Exception as exc:
                self._post(Message("print_done", gen, {"ok": False, "code": type(exc).__name__}))
            finally:
                if licence is not None:          # the copy goes once the slip is built
                    licence.wipe()

        threading.Thread(target=job, name="kiosk-receipt", daemon=True).start()
        return True

    def _linkage_receipt(self) -> dict:
        """Counters and ids only, for the checklist / completion slip."""
        step = int(self.linkage.get("step") or 0)
        return {"reference": self.linkage.get("reference"), "steps_total": LINKAGE_STEPS,
                "steps_done": step if self.screen == "linkage_9" else 0}

    # -- keypad / keyboard ---------------------------------------------------------
    def key(self, name: str, view=None) -> bool:
        """A physical key: digits, letters, enter, backspace, escape, delete."""
        name = name.lower()
        if name in ("page_down", "page_up"):
            prefix = "page_next_" if name == "page_down" else "page_prev_"
            ids = [w.id for w in (view.widgets if view is not None else []) if w.id.startswith(prefix)]
            return bool(ids) and view.enabled(ids[0]) and self.tap(ids[0])
        if self.screen in PIN_SCREENS:
            if name.isdigit() and len(name) == 1:
                return self.tap(("kb_" if self.screen == "linkage_7" else "key_") + name)
            if self.screen == "linkage_7" and len(name) == 1 and name.isalpha() and name.isascii():
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
