"""The one table: kiosk state -> what the LEDs and the buzzer do.

A pattern is an ``intro`` (played once when the state starts, e.g. a beep)
and a ``loop`` (repeated until the state changes).  A frame with
``seconds=None`` holds until the next change.  Colours are three channels
(red, green, blue) so the same table drives an RGB LED or three discrete
LEDs; yellow = red + green, magenta = red + blue.

A service condition (no reader, printer out of paper or offline, config
error) survives every state: ``with_service`` interleaves the
``service_needed`` flashes with the state's own pattern until it is cleared.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kiosk.signals import KioskState


@dataclass(frozen=True)
class Frame:
    seconds: float | None            # None: hold until the next change
    red: bool = False
    green: bool = False
    blue: bool = False
    buzzer: bool = False


@dataclass(frozen=True)
class Pattern:
    intro: tuple[Frame, ...]
    loop: tuple[Frame, ...]


def _f(seconds, colour="", buzz=False) -> Frame:
    return Frame(seconds, red="r" in colour, green="g" in colour, blue="b" in colour, buzzer=buzz)


SERVICE_NEEDED = "service_needed"
STAFF_CALLED = "staff_called"
# How long the state's own pattern shows between two service flashes.
SERVICE_GAP_SECONDS = 1.0

PATTERNS: dict[str, Pattern] = {
    # starting up: slow blue blink
    KioskState.BOOTING.value: Pattern((), (_f(0.5, "b"), _f(0.5))),
    # waiting for a card: steady green
    KioskState.READY.value: Pattern((), (_f(None, "g"),)),
    # card present, reading or signing: steady blue
    KioskState.WORKING.value: Pattern((), (_f(None, "b"),)),
    # PIN pad on screen, the resident must act: steady yellow
    KioskState.WAITING_PIN.value: Pattern((), (_f(None, "rg"),)),
    # done: one short beep, then a slow green blink
    KioskState.SUCCESS.value: Pattern((_f(0.2, "g", True),), (_f(0.4, "g"), _f(0.4))),
    # wrong PIN, unsupported card, card pulled: two beeps, then steady red
    KioskState.RESIDENT_ERROR.value: Pattern((_f(0.2, "r", True), _f(0.2, "r"), _f(0.2, "r", True)),
                                             (_f(None, "r"),)),
    # flow finished but the card is still on the reader: fast yellow blink with a beep
    KioskState.CARD_LEFT.value: Pattern((), (_f(0.2, "rg", True), _f(0.2), _f(0.2, "rg"), _f(0.6))),
    # a technician must act: two magenta flashes (interleaved with the state's pattern)
    SERVICE_NEEDED: Pattern((), (_f(0.2, "rb"), _f(0.2), _f(0.2, "rb"), _f(0.4))),
    # a resident pressed "call staff": one beep, then green and blue in turn until the session ends
    STAFF_CALLED: Pattern((_f(0.2, "", True),), (_f(0.3, "g"), _f(0.3, "b"))),
}

# The technician's walk (kiosk selftest): each LED, then the buzzer.
WALK = Pattern((_f(0.4, "r"), _f(0.4, "g"), _f(0.4, "b"), _f(0.2), _f(0.2, "", True), _f(0.2)), ())


def with_service(pattern: Pattern, service: bool, intro: bool = True) -> tuple[tuple[Frame, ...], tuple[Frame, ...]]:
    """(intro, loop) frames for a state, with the service flashes woven in when needed."""
    first = pattern.intro if intro else ()
    if not service:
        return first, pattern.loop
    base = pattern.loop
    if any(f.seconds is None for f in base):
        base = tuple(replace(f, seconds=SERVICE_GAP_SECONDS) for f in base if f.seconds is None)[:1]
    else:
        period = sum(f.seconds for f in base if f.seconds is not None)   # all of them (checked above)
        base = base * max(1, -int(-SERVICE_GAP_SECONDS // period))
    return first, PATTERNS[SERVICE_NEEDED].loop + base
