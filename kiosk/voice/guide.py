"""The session observer that decides what is said, and when.

The session calls ``Guide(session, event)`` after every screen change and
every input or card answer (``Session.observers``).  The guide takes a
``Snapshot`` of the few non-personal facts it needs (screen id, language,
message keys, counts of tries, how many characters are typed) and compares it
with the last one: a new screen speaks its main instruction; a new PIN
message, error or notice speaks that; one more or one fewer character on a
PIN pad says "one digit entered/deleted", never the digit (the guide does not
even see the digits, only ``pin_len``).
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.voice.prompts import Prompt, PromptRefused, prompt

PIN_SCREENS = ("licence_pin", "linkage_4", "linkage_7", "linkage_pin_check")   # kiosk.session.states
# screen -> its main instruction (screens with state-dependent prompts are in screen_prompts).
SCREEN_PROMPTS = {
    "attract": ("attract.place_card", "attract.hint"),
    "reading": ("reading.body",),
    "menu": ("menu.title",),
    "licence_locked": ("licence_locked.title", "licence_locked.body"),
    "licence": ("licence.title",),
    "renewal": ("renewal.title",),
    "lost_card": ("lost.title",),
    "take_card": ("take_card.body",),
    "timed_out": ("timed_out.title", "timed_out.body"),
    "card_removed": ("card_removed.title", "card_removed.body"),
    "service_needed": ("service.title", "service.body"),
    "licence_pin": ("pin_entry.title",),
    "linkage_4": ("pin_entry.title",),
    "linkage_7": ("pin_entry.title",),
    "linkage_pin_check_choose": ("pin_check.title",),    # the optional PIN check (issue #12)
    "linkage_pin_check": ("pin_entry.title", "pin_check.costs_try"),
    "still_there": ("still_there.title", "still_there.body"),
    "language": ("voice.choose_language",),             # then each language's own option (language_options)
    **{f"linkage_{n}": (f"linkage.s{n}.body",) for n in (1, 2, 3, 5, 6, 8, 9)},
}


@dataclass(frozen=True)
class Snapshot:
    """What the guide may know of the session: ids, keys and counts only."""
    screen: str
    lang: str
    pending: bool = False
    pin_len: int = 0
    tries: tuple[int, int] | None = None          # (left, max) of the pad's counter
    locked: int = 0                               # how many PINs are locked
    pin_message: tuple | None = None              # (key, ((name, count), ...))
    error: str | None = None                      # message key
    error_pin: str | None = None                  # PIN id of a locked-PIN error
    notice: str | None = None
    preflight: str | None = None                  # None (checking) | "ok" | "refused"
    languages: tuple[str, ...] = ()               # the city's languages, in the chooser's order


def _counts(values: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in (values or {}).items() if k in ("left", "max", "n")))


def snapshot(session) -> Snapshot:
    st = session.status
    tries, locked = None, 0
    if st is not None:
        locked = len(st.locked_pins)
        if session.screen in PIN_SCREENS:
            pin_id = {"linkage_4": "jpki_auth", "linkage_7": "jpki_sign"}.get(
                session.screen, session.pin_id or session.licence_pin_id())
            c = st.pins.get(pin_id)
            if c is not None and c.tries_left is not None:
                tries = (c.tries_left, c.max_tries)
    pm = session.pin_message
    err = session.error
    pre = session.linkage.get("preflight") if isinstance(session.linkage, dict) else None
    return Snapshot(
        screen=session.screen, lang=session.lang, pending=bool(session.pending),
        pin_len=session.pin_len, tries=tries, locked=locked,
        pin_message=(pm[0], _counts(pm[1])) if pm else None,
        error=err[0] if err else None,
        error_pin=(err[1] or {}).get("pin_id") if err else None,
        notice=session.notice[0] if session.notice else None,
        preflight=None if pre is None else ("ok" if getattr(pre, "ok", False) else "refused"),
        languages=tuple(getattr(session, "languages", ())),
    )


def screen_prompts(s: Snapshot) -> list[Prompt]:
    """The screen's main instruction (with its error, or its tries on a PIN pad)."""
    if s.screen == "summary":
        return [prompt("summary.title"),
                prompt("summary.locked", n=s.locked) if s.locked else prompt("summary.no_locked")]
    if s.screen == "pin_status":
        return [prompt("pin_status.title"),
                prompt("summary.locked", n=s.locked) if s.locked else prompt("summary.no_locked")]
    if s.screen == "linkage_preflight":
        return [prompt({None: "linkage.checking", "ok": "linkage.ok"}.get(s.preflight, "linkage.refused"))]
    if s.screen == "card_error":
        return [prompt(s.error or "card.error.card_error"), prompt("card_error.take")]
    if s.screen == "linkage_error":
        return [error_prompt(s)]
    out = [prompt(k) for k in SCREEN_PROMPTS.get(s.screen, ())]
    if s.screen in PIN_SCREENS:
        if s.pending:
            return [prompt("reading.body")]
        if s.tries is not None:
            left, mx = s.tries
            out.append(prompt("pin.tries_left", left=left, max=mx))
            if left <= 1:
                out.append(prompt("pin.warn_last"))
    return out


def error_prompt(s: Snapshot) -> Prompt:
    if s.error == "linkage.locked":
        return prompt("linkage.preflight.jpki_sign_locked" if s.error_pin == "jpki_sign"
                      else "linkage.preflight.jpki_auth_locked")
    try:
        return prompt(s.error or "linkage.error.gateway_error")
    except PromptRefused:
        return prompt("linkage.error.gateway_error")


class Guide:
    """Observer of one session; speaks through a ``Voice`` (or a recording fake)."""

    def __init__(self, voice, on: bool = True):
        self.voice = voice
        self.on = on
        self.last: Snapshot | None = None

    def attach(self, session) -> "Guide":
        session.observers.append(self)
        self.last = snapshot(session)
        return self

    def set_on(self, on: bool, lang: str = "ja") -> None:
        """The resident's switch: says "voice on/off" as it changes."""
        if on != self.on:
            self.on = True
            self._say(lang, [prompt("voice.on" if on else "voice.off")])
            self.on = on

    def __call__(self, session, event: str = "input") -> None:
        now = snapshot(session)
        prev, self.last = self.last, now
        try:
            prompts = decide(prev, now)
        except PromptRefused as exc:
            self.voice.refused(str(exc))
            return
        if prompts:
            self._say(now.lang, prompts)
            for lang, option in language_options(prev, now):
                self._say(lang, [option], interrupt=False)

    def _say(self, lang: str, prompts: list[Prompt], interrupt: bool = True) -> None:
        if self.on:
            self.voice.say(lang, prompts, interrupt=interrupt)


def language_options(prev: Snapshot | None, now: Snapshot) -> list[tuple[str, Prompt]]:
    """On arriving at the chooser: each language names its own number key, in its own voice,
    so a resident who cannot read this language (or the screen) still finds theirs."""
    if now.screen != "language" or (prev is not None and prev.screen == "language" and prev.lang == now.lang):
        return []
    return [(lang, prompt("voice.language_option", pos=i))
            for i, lang in enumerate(now.languages[:9], start=1)]


def decide(prev: Snapshot | None, now: Snapshot) -> list[Prompt]:
    """What to say for the change from ``prev`` to ``now`` (nothing if nothing new)."""
    if prev is None or now.screen != prev.screen or now.lang != prev.lang:
        said = [Prompt(*now.pin_message)] if now.pin_message else []   # e.g. a wrong PIN, back on the pad
        return said + screen_prompts(now)
    if now.pin_message and now.pin_message != prev.pin_message:
        return [Prompt(*now.pin_message)]
    if now.error and (now.error, now.error_pin) != (prev.error, prev.error_pin):
        return screen_prompts(now)
    if now.notice and now.notice != prev.notice and now.notice != (prev.pin_message or (None,))[0]:
        return [prompt(now.notice)]
    if screen_prompts(now) != screen_prompts(prev):
        return screen_prompts(now)
    if now.screen in PIN_SCREENS and not now.pending and now.pin_len != prev.pin_len:
        if now.pin_len == prev.pin_len + 1:
            return [prompt("voice.digit_entered")]
        if now.pin_len == prev.pin_len - 1:
            return [prompt("voice.digit_deleted")]
        if now.pin_len == 0:
            return [prompt("voice.cleared")]
    return []
