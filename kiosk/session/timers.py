"""The session's clocks: PIN pad, inactivity prompt, session cap, and what is on screen of them.

Time is counted from the resident's last input (touch, key, card answer) and
comes from an injectable clock, so tests advance 30 s without sleeping.  This
mixin only measures; the session decides what a timer that ran out does.
"""

from __future__ import annotations

import math
from typing import Any

from kiosk.session.states import NO_PROMPT_SCREENS, PIN_SCREENS, PROMPT_SCREEN, Screen

# Seconds before the session cap at which the countdown appears.
SESSION_WARN_SECONDS = 30
# How long "card removed" stays before the attract screen returns.
CARD_REMOVED_SECONDS = 6


class TimerRules:
    """Remaining times, from the session's clock and the timestamps it keeps."""

    cfg: Any
    clock: Any
    screen: Screen
    screen_since: float
    pin_last_input: float | None
    last_input: float | None
    prompt_since: float | None

    @property
    def active(self) -> bool:
        raise NotImplementedError

    @property
    def session_started(self) -> float | None:
        raise NotImplementedError

    @property
    def pending(self) -> str | None:
        raise NotImplementedError

    def pin_remaining(self) -> float | None:
        if self.screen not in PIN_SCREENS or self.pin_last_input is None or self.pending:
            return None
        return float(self.cfg.timeouts.pin_seconds - (self.clock.now() - self.pin_last_input))

    def session_remaining(self) -> float | None:
        started = self.session_started
        if started is None:
            return None
        return float(self.cfg.timeouts.session_seconds - (self.clock.now() - started))

    def idle_remaining(self) -> float | None:
        """Seconds until the "continue?" prompt; None while nothing is being waited for.

        Not on PIN screens (their own timer is shorter), not while the card or the
        gateway works (the resident is waiting for us), not once the card is done.
        """
        if (not self.active or self.pending or self.last_input is None or self.screen in PIN_SCREENS
                or self.screen in NO_PROMPT_SCREENS):
            return None
        return float(self.cfg.timeouts.inactivity_seconds - (self.clock.now() - self.last_input))

    def prompt_remaining(self) -> float | None:
        if self.screen != PROMPT_SCREEN or self.prompt_since is None:
            return None
        return float(self.cfg.timeouts.prompt_seconds - (self.clock.now() - self.prompt_since))

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
        if self.screen == Screen.CARD_REMOVED:
            waits.append(max(0.0, CARD_REMOVED_SECONDS - (now - self.screen_since)))
        if self.screen == Screen.TAKE_CARD:
            waits.append(1.0)
        return min(waits) if waits else None
