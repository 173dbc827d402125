"""The screens a session can be on, as an enum, and what each one means.

Screen is a StrEnum: a screen compares equal to its name ("menu"), which is
what the view builders, the scenario files and the recorded runs use; a name
that is not a screen raises instead of silently showing nothing.
"""

from __future__ import annotations

from enum import StrEnum

from kiosk.signals import KioskState


class Screen(StrEnum):
    ATTRACT = "attract"
    READING = "reading"
    SUMMARY = "summary"
    MENU = "menu"
    PIN_STATUS = "pin_status"
    LICENCE_PIN = "licence_pin"
    LICENCE_LOCKED = "licence_locked"
    LICENCE = "licence"
    RENEWAL = "renewal"
    LOST_CARD = "lost_card"
    LINKAGE_PREFLIGHT = "linkage_preflight"
    LINKAGE_PIN_CHECK_CHOOSE = "linkage_pin_check_choose"   # which PIN to check (issue #12)
    LINKAGE_PIN_CHECK = "linkage_pin_check"                 # its pad / keyboard
    LINKAGE_1 = "linkage_1"
    LINKAGE_2 = "linkage_2"
    LINKAGE_3 = "linkage_3"
    LINKAGE_4 = "linkage_4"
    LINKAGE_5 = "linkage_5"
    LINKAGE_6 = "linkage_6"
    LINKAGE_7 = "linkage_7"
    LINKAGE_8 = "linkage_8"
    LINKAGE_9 = "linkage_9"
    LINKAGE_ERROR = "linkage_error"
    TAKE_CARD = "take_card"
    TIMED_OUT = "timed_out"
    CARD_REMOVED = "card_removed"
    CARD_ERROR = "card_error"
    SERVICE_NEEDED = "service_needed"
    STILL_THERE = "still_there"
    LANGUAGE = "language"                                   # the language chooser (issue #16)


LINKAGE_STEPS = 9
LINKAGE_STEP_SCREENS: tuple[Screen, ...] = tuple(Screen(f"linkage_{n}") for n in range(1, LINKAGE_STEPS + 1))


def linkage_step_screen(step: int) -> Screen:
    """The screen of linkage step ``step`` (clamped to 1..9)."""
    return LINKAGE_STEP_SCREENS[min(max(step, 1), LINKAGE_STEPS) - 1]


# The full-screen "continue?" prompt shown after timeouts.inactivity_seconds.
PROMPT_SCREEN = Screen.STILL_THERE
# The language chooser: a detour that returns to the screen it was opened from.
CHOOSER_SCREEN = Screen.LANGUAGE
# Screens with a PIN pad or the password keyboard.
PIN_SCREENS = (Screen.LICENCE_PIN, Screen.LINKAGE_4, Screen.LINKAGE_7, Screen.LINKAGE_PIN_CHECK)
# Screens on which the card is finished with and only its removal is awaited.
AWAIT_REMOVAL_SCREENS = (Screen.TAKE_CARD, Screen.TIMED_OUT, Screen.CARD_ERROR)
# Screens with no resident to wait for: the inactivity prompt never comes on them.
NO_PROMPT_SCREENS = (*AWAIT_REMOVAL_SCREENS, Screen.ATTRACT, Screen.CARD_REMOVED, Screen.SERVICE_NEEDED,
                     PROMPT_SCREEN)
# Screens without the language chooser: the card is done with or unreadable, or the inactivity
# prompt runs its countdown; leaving them for the chooser would lose the take-card reminder or
# let the chooser's timeout reach attract while a card still lies on the reader.
NO_CHOOSER_SCREENS = (*AWAIT_REMOVAL_SCREENS, Screen.CARD_REMOVED, Screen.SERVICE_NEEDED, PROMPT_SCREEN,
                      CHOOSER_SCREEN)
# Screens the card works behind (no input but Cancel).
BUSY_SCREENS = (Screen.READING, Screen.LINKAGE_5, Screen.LINKAGE_8)

STATE_OF_SCREEN: dict[Screen, KioskState] = {
    Screen.ATTRACT: KioskState.READY,
    Screen.CARD_REMOVED: KioskState.RESIDENT_ERROR,
    Screen.CARD_ERROR: KioskState.RESIDENT_ERROR,
    Screen.LICENCE_LOCKED: KioskState.RESIDENT_ERROR,
    Screen.LINKAGE_ERROR: KioskState.RESIDENT_ERROR,
    Screen.LICENCE_PIN: KioskState.WAITING_PIN,
    Screen.LINKAGE_4: KioskState.WAITING_PIN,
    Screen.LINKAGE_7: KioskState.WAITING_PIN,
    Screen.LINKAGE_PIN_CHECK: KioskState.WAITING_PIN,
    Screen.LICENCE: KioskState.SUCCESS,
    Screen.LINKAGE_9: KioskState.SUCCESS,
    Screen.TAKE_CARD: KioskState.CARD_LEFT,
    Screen.TIMED_OUT: KioskState.CARD_LEFT,
}

# The slip each screen can print (kiosk/printer/receipt.py kinds).
RECEIPT_KINDS: dict[str, str] = {
    Screen.PIN_STATUS: "pin_status", Screen.LICENCE_LOCKED: "pin_status", Screen.LICENCE: "licence",
    Screen.RENEWAL: "renewal", Screen.LOST_CARD: "lost_card", Screen.LINKAGE_PREFLIGHT: "linkage_checklist",
    Screen.LINKAGE_9: "linkage_done",
}
