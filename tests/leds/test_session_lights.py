"""The status LEDs driven by a real display session (card worker, card layer, simulated
card) on gpiozero's MockFactory: a resident types a wrong PIN, then the right one,
finishes and takes the card.  Pin states and pattern timings are checked at each step.

Patterns run at half speed (timescale 0.5), as in test_status_lights.  Tests wait
on the session's screens and the lights' frame counter, never on sleeps.
"""

from __future__ import annotations

from math import isclose

import pytest

from kiosk.config import LedsSection
from kiosk.session import core as session_module
from kiosk.display.scenario import ScenarioRunner
from kiosk.leds import StatusLights
from kiosk.signals import Bus, KioskState

SCALE = 0.5
CHANNELS = ("red", "green", "blue", "buzzer")
TODAY = __import__("datetime").date(2026, 11, 25)
K = KioskState


def lit_kiosk(monkeypatch, **runner_options):
    """A scenario runner whose session publishes on the bus the lights listen to (as `kiosk run`)."""
    bus = Bus()
    states: list[KioskState] = []
    bus.subscribe("state", lambda _t, p: states.append(p["state"]))
    lights = StatusLights.from_config(LedsSection(enabled=True, pin_factory="mock", buzzer=18), bus,
                                      timescale=SCALE)
    assert isinstance(lights, StatusLights)
    monkeypatch.setattr(session_module, "Bus", lambda: bus)
    runner = ScenarioRunner(today=lambda: TODAY, **runner_options)
    assert runner.session.bus is bus
    runner.session.start()
    try:
        yield runner, lights, states
    finally:
        runner.session.stop()
        lights.close()


@pytest.fixture
def kiosk(monkeypatch):
    yield from lit_kiosk(monkeypatch)


def play(runner, *lines):
    for line in lines:
        runner.step(line)
        assert runner.result.ok, runner.result.errors


def lit(lights) -> dict[str, bool]:
    return {c: bool(lights.pin(c).state) for c in CHANNELS}


def colour(red=False, green=False, blue=False, buzzer=False) -> dict[str, bool]:
    return {"red": red, "green": green, "blue": blue, "buzzer": buzzer}


def forget(lights) -> None:
    for channel in CHANNELS:
        lights.pin(channel).clear_states()


def after_first_change(lights, channel, expected: list[tuple[float, bool]]) -> None:
    """The pin's changes after its first one (that one waits for the card), with gpiozero's tolerance."""
    states = lights.pin(channel).states[2:]
    assert len(states) >= len(expected), f"{channel}: {lights.pin(channel).states}"
    for actual, (seconds, value) in zip(states, expected):
        assert isclose(actual.timestamp, seconds, rel_tol=0.05, abs_tol=0.05), (channel, states)
        assert bool(actual.state) == value, (channel, states)


def steady(lights, frames: int) -> bool:
    """The pattern reached ``frames`` frames and then held (a steady state)."""
    return lights.wait_frames(frames) and not lights.wait_frames(frames + 1, timeout=0.3)


def test_a_resident_session_drives_the_leds(kiosk):
    runner, lights, states = kiosk
    # Waiting for a card: steady green.
    assert steady(lights, 1) and lit(lights) == colour(green=True)

    # Card placed, read, menu: steady blue.
    play(runner, "insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu")
    assert steady(lights, 1) and lit(lights) == colour(blue=True)

    # The PIN pad: steady yellow.
    play(runner, "tap item_licence", "wait_screen licence_pin")
    assert steady(lights, 1) and lit(lights) == colour(red=True, green=True)

    # A wrong PIN: two beeps, then steady red.
    play(runner, "key 1", "key 1", "key 1", "key 1")
    assert lit(lights) == colour(red=True, green=True)          # typing changes nothing
    forget(lights)
    play(runner, "key enter", "expect_text あと 9 回（全 10 回）")
    assert steady(lights, 4) and lit(lights) == colour(red=True)
    after_first_change(lights, "buzzer", [(.1, False), (.1, True), (.1, False)])
    assert len(lights.pin("red").states) == 1                   # red all along: yellow -> red
    assert len(lights.pin("green").states) == 2

    # The resident types again: back to yellow; the right PIN: one beep, then green blinks.
    play(runner, "key 1")
    assert steady(lights, 1) and lit(lights) == colour(red=True, green=True)
    play(runner, "key 3", "key 5", "key 7")
    forget(lights)
    play(runner, "key enter", "wait_screen licence")
    assert lights.wait_frames(5)
    after_first_change(lights, "green", [(.2, True), (.2, False)])
    after_first_change(lights, "buzzer", [(.1, False)])
    assert len(lights.pin("buzzer").states) == 3                # one beep only

    # Finish with the card still on the reader: yellow blinks with a beep.
    play(runner, "key escape", "wait_screen menu")
    assert steady(lights, 1) and lit(lights) == colour(blue=True)
    forget(lights)
    play(runner, "key 6", "wait_screen take_card")
    assert lights.wait_frames(5)
    after_first_change(lights, "buzzer", [(.1, False), (.5, True)])
    after_first_change(lights, "red", [(.1, False), (.1, True), (.1, False), (.3, True)])

    # Card taken: ready again, steady green.
    play(runner, "remove", "wait_screen attract")
    assert steady(lights, 1) and lit(lights) == colour(green=True)

    assert states == [K.READY, K.WORKING, K.WAITING_PIN, K.RESIDENT_ERROR, K.WAITING_PIN, K.SUCCESS,
                      K.WORKING, K.CARD_LEFT, K.READY]


class ChallengeOnlyGateway:
    """Enough of the gateway for steps 1-5: a wrong PIN stops at the card, before any upload."""

    def health(self, timeout=None, retries=None):
        pass

    def new_challenge(self, kiosk_id):
        import os
        import time

        from kiosk.linkage.client import Challenge
        return Challenge("S-1", os.urandom(32), time.monotonic() + 300)


@pytest.fixture
def linkage_kiosk(monkeypatch):
    from kiosk.linkage.engine import LinkageEngine
    yield from lit_kiosk(monkeypatch, gateway_available=True, linkage_factory=lambda card, st: LinkageEngine(
        card, st, ChallengeOnlyGateway(), "kiosk-test"))


def test_a_wrong_linkage_pin_shows_red_until_the_resident_types_again(linkage_kiosk):
    runner, lights, states = linkage_kiosk
    play(runner, "insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu",
         "tap item_linkage", "wait_screen linkage_1", "tap btn_next", "wait_screen linkage_2",
         "tap btn_next", "wait_screen linkage_3", "tap btn_next", "wait_screen linkage_4")
    assert steady(lights, 1) and lit(lights) == colour(red=True, green=True)
    play(runner, "key 1", "key 1", "key 1", "key 1", "key enter", "wait_screen linkage_4",
         "expect_text あと 2 回（全 3 回）")
    assert steady(lights, 4) and lit(lights) == colour(red=True)
    play(runner, "key 2")
    assert steady(lights, 1) and lit(lights) == colour(red=True, green=True)
    assert states[-3:] == [K.WORKING, K.RESIDENT_ERROR, K.WAITING_PIN], states   # 5 (card), 4 (wrong), typing
    assert runner.result.cards[0].pin_tries("jpki_auth") == 2


def test_the_staff_call_button_raises_its_led_pattern_and_a_journal_event(kiosk, journal_records):
    runner, lights, states = kiosk
    play(runner, "insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu")
    assert steady(lights, 1) and lit(lights) == colour(blue=True)
    forget(lights)
    play(runner, "tap btn_staff")
    assert lights.staff_called
    assert [r for r in journal_records if r.get("EVENT") == "staff_called"][0]["SCREEN"] == "menu"
    assert lights.wait_frames(5)                   # one beep, then green and blue in turn
    assert [bool(s.state) for s in lights.pin("buzzer").states[1:3]] == [True, False]
    assert sum(bool(s.state) for s in lights.pin("green").states) >= 2
    assert sum(bool(s.state) for s in lights.pin("blue").states) >= 1
    assert not lights.pin("red").states[1:] or not any(s.state for s in lights.pin("red").states[1:])
    # The call ends with the session: the state's own pattern returns.
    play(runner, "tap item_finish", "wait_screen take_card", "remove", "wait_screen attract")
    assert not lights.staff_called
    assert steady(lights, 1) and lit(lights) == colour(green=True)
