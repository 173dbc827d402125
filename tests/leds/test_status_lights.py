"""Status LEDs under gpiozero's MockFactory: pin states *and* timings for every state,
the service overlay, and the transitions of a whole scripted session.

Patterns run at half speed (timescale 0.5) so the suite stays fast while the
shortest frame (0.1 s) is still twice gpiozero's timing tolerance (0.05 s):
a frame of the wrong length fails.  Tests wait on frame counters, never sleep.
"""

from __future__ import annotations

import itertools

import pytest

from kiosk import journal
from kiosk.config import LedsSection
from kiosk.leds import NullLights, StatusLights
from kiosk.leds.patterns import PATTERNS, with_service
from kiosk.signals import Bus, KioskState, ServiceCondition

SCALE = 0.5
CHANNELS = ("red", "green", "blue", "buzzer")


@pytest.fixture
def bus():
    return Bus()


@pytest.fixture
def lights(bus):
    lights = StatusLights.from_config(LedsSection(enabled=True, pin_factory="mock", buzzer=18), bus,
                                      timescale=SCALE)
    assert isinstance(lights, StatusLights)
    yield lights
    lights.close()


def settle_on(lights, bus, state=KioskState.READY):
    """Show a steady state, then forget the pin history (nothing moves while steady)."""
    bus.state(state)
    assert lights.wait_frames(1)
    for channel in CHANNELS:
        lights.pin(channel).clear_states()


def check(lights, expected: dict[str, list[tuple[float, bool]]]) -> None:
    for channel, states in expected.items():
        pin = lights.pin(channel)
        assert len(pin.states) >= len(states), f"{channel}: {pin.states}"
        pin.assert_states_and_times(states)


def test_booting_blinks_blue(lights, bus):
    settle_on(lights, bus)
    bus.state(KioskState.BOOTING)
    assert lights.wait_frames(5)
    check(lights, {"blue": [(0, False), (0, True), (.25, False), (.25, True), (.25, False), (.25, True)],
                   "green": [(0, True), (0, False)]})
    assert len(lights.pin("red").states) == 1 and len(lights.pin("buzzer").states) == 1


def test_ready_is_steady_green(lights, bus):
    settle_on(lights, bus, KioskState.WORKING)
    bus.state(KioskState.READY)
    assert lights.wait_frames(1)
    assert not lights.wait_frames(2, timeout=0.3)          # steady: no second frame
    check(lights, {"green": [(0, False), (0, True)], "blue": [(0, True), (0, False)]})
    assert len(lights.pin("green").states) == 2


def test_working_is_steady_blue(lights, bus):
    settle_on(lights, bus)
    bus.state(KioskState.WORKING)
    assert lights.wait_frames(1) and not lights.wait_frames(2, timeout=0.3)
    check(lights, {"blue": [(0, False), (0, True)], "green": [(0, True), (0, False)]})
    assert len(lights.pin("blue").states) == 2


def test_waiting_pin_is_steady_yellow(lights, bus):
    settle_on(lights, bus)
    bus.state(KioskState.WAITING_PIN)
    assert lights.wait_frames(1) and not lights.wait_frames(2, timeout=0.3)
    check(lights, {"red": [(0, False), (0, True)], "green": [(0, True)]})
    assert len(lights.pin("green").states) == 1 and len(lights.pin("blue").states) == 1


def test_success_beeps_once_then_blinks_green(lights, bus):
    settle_on(lights, bus)
    bus.state(KioskState.SUCCESS)
    assert lights.wait_frames(5)
    check(lights, {"green": [(0, True), (.3, False), (.2, True), (.2, False)],
                   "buzzer": [(0, False), (0, True), (.1, False)]})
    assert len(lights.pin("buzzer").states) == 3


def test_resident_error_beeps_twice_then_stays_red(lights, bus):
    settle_on(lights, bus)
    bus.state(KioskState.RESIDENT_ERROR)
    assert lights.wait_frames(4) and not lights.wait_frames(5, timeout=0.3)
    check(lights, {"red": [(0, False), (0, True)], "green": [(0, True), (0, False)],
                   "buzzer": [(0, False), (0, True), (.1, False), (.1, True), (.1, False)]})
    assert len(lights.pin("red").states) == 2


def test_card_left_blinks_yellow_and_beeps(lights, bus):
    settle_on(lights, bus)
    bus.state(KioskState.CARD_LEFT)
    assert lights.wait_frames(5)
    check(lights, {"red": [(0, False), (0, True), (.1, False), (.1, True), (.1, False), (.3, True)],
                   "green": [(0, True), (.1, False), (.1, True), (.1, False), (.3, True)],
                   "buzzer": [(0, False), (0, True), (.1, False), (.5, True)]})


def test_service_condition_blinks_through_a_steady_state_until_cleared(lights, bus):
    settle_on(lights, bus)
    bus.service(ServiceCondition.PRINTER_PAPER_OUT, True)
    assert lights.wait_frames(6)
    magenta = [(0, False), (0, True), (.1, False), (.1, True), (.1, False), (.7, True)]
    check(lights, {"red": magenta, "blue": magenta,
                   "green": [(0, True), (0, False), (.5, True), (.5, False)]})
    assert len(lights.pin("buzzer").states) == 1          # a service flash never beeps
    for channel in CHANNELS:
        lights.pin(channel).clear_states()
    bus.service(ServiceCondition.PRINTER_PAPER_OUT, False)
    assert lights.wait_frames(1) and not lights.wait_frames(2, timeout=0.3)
    assert lights.pin("green").state and not lights.pin("red").state and not lights.pin("blue").state


def test_service_condition_survives_state_changes(lights, bus):
    settle_on(lights, bus)
    bus.service(ServiceCondition.NO_READER, True)
    bus.service(ServiceCondition.CONFIG_ERROR, True)
    bus.state(KioskState.WORKING)                         # the session moves on: the overlay stays
    assert lights.wait_frames(6)
    # magenta flashes, then the state's own blue for 0.5 s, then magenta again
    check(lights, {"blue": [(0, False), (0, True), (.1, False), (.1, True), (.1, False), (.2, True)],
                   "red": [(0, False), (0, True), (.1, False), (.1, True), (.1, False), (.7, True)]})
    bus.service(ServiceCondition.NO_READER, False)        # one still active: still flashing
    assert lights.conditions == {ServiceCondition.CONFIG_ERROR}
    assert lights.wait_frames(8)
    bus.service(ServiceCondition.CONFIG_ERROR, False)
    assert lights.wait_frames(1) and not lights.wait_frames(2, timeout=0.3)
    assert lights.pin("blue").state and not lights.pin("red").state


def test_service_over_a_blinking_state_keeps_its_rhythm(lights, bus):
    settle_on(lights, bus)
    bus.state(KioskState.BOOTING)
    bus.service(ServiceCondition.PRINTER_OFFLINE, True)
    assert lights.wait_frames(7)
    # service flashes (.1 .1 .1 .2) then one booting period (.25 on, .25 off), again and again
    check(lights, {"blue": [(0, False), (0, True), (.1, False), (.1, True), (.1, False), (.2, True),
                            (.25, False), (.25, True)],
                   "red": [(0, False), (0, True), (.1, False), (.1, True), (.1, False), (.7, True)]})


def test_timing_assertions_can_fail(lights, bus):
    settle_on(lights, bus)
    bus.state(KioskState.BOOTING)
    assert lights.wait_frames(3)
    with pytest.raises(AssertionError):                   # a blink twice as long would be caught
        lights.pin("blue").assert_states_and_times([(0, False), (0, True), (.5, False)])


def test_active_low_wiring_inverts_the_pins(bus):
    lights = StatusLights.from_config(LedsSection(enabled=True, pin_factory="mock", active_high=False),
                                      bus, timescale=SCALE)
    try:
        bus.state(KioskState.READY)
        assert lights.wait_frames(1)
        assert lights.pin("green").state is False and lights.pin("red").state is True
        assert lights.pin("buzzer") is None
    finally:
        lights.close()


def test_discrete_leds_use_the_same_table(bus):
    lights = StatusLights.from_config(LedsSection(enabled=True, kind="discrete", pin_factory="mock",
                                                  red=5, green=6, blue=13), bus, timescale=SCALE)
    try:
        bus.state(KioskState.RESIDENT_ERROR)
        assert lights.wait_frames(4)
        assert lights.pin("red").state and lights.pin("red").info.name == "GPIO5"
    finally:
        lights.close()


def test_walk_lights_each_led_then_the_buzzer_and_resumes(lights, bus):
    settle_on(lights, bus)
    assert lights.walk()
    for channel in ("red", "blue", "buzzer"):
        assert [s.state for s in lights.pin(channel).states][:3] == [False, True, False]
    assert lights.wait_frames(1) and lights.pin("green").state       # back to READY


def test_disabled_lights_are_a_no_op(bus):
    lights = StatusLights.from_config(LedsSection(enabled=False), bus)
    assert isinstance(lights, NullLights)
    bus.state(KioskState.SUCCESS)
    bus.service(ServiceCondition.NO_READER, True)
    assert lights.wait_frames(3) and lights.pin("red") is None and lights.walk() is False
    lights.close()


def test_unusable_pins_fall_back_to_no_op_and_tell_the_technician(bus):
    records = []
    journal.reset_rate_limits()
    journal.add_sink(records.append)
    try:
        lights = StatusLights.from_config(LedsSection(enabled=True, pin_factory="mock", red=17, green=17),
                                          bus)
    finally:
        journal.remove_sink(records.append)
    assert isinstance(lights, NullLights)
    assert any(r["EVENT"] == "service_needed" and r["ERROR_CODE"] == "leds_unavailable" for r in records)


# -- a whole scripted session --------------------------------------------------------------
def expected_timeline(segments, channel):
    """Per-pin (seconds since last change, state) for frames played in order.

    ``segments`` is a list of frame lists; the last frame of each segment is cut
    short by the next state (the test publishes right after it started).
    """
    states, last, elapsed = [(0.0, False)], False, 0.0
    for frames in segments:
        for i, frame in enumerate(frames):
            value = getattr(frame, channel)
            if value != last:
                states.append((elapsed, value))
                last, elapsed = value, 0.0
            if i < len(frames) - 1:
                elapsed += frame.seconds * SCALE
    return states


def frames_of(state, service, count, intro=True):
    first, loop = with_service(PATTERNS[state.value], service, intro)
    return list(itertools.islice(itertools.chain(first, itertools.cycle(loop)), count))


def test_a_scripted_session_drives_the_expected_transitions(bus):
    lights = StatusLights.from_config(LedsSection(enabled=True, pin_factory="mock", buzzer=18), bus,
                                      timescale=SCALE)
    # (what happens, frames to let run before the next event, service active afterwards)
    script = [
        (None, 3, False),                                          # constructed: booting
        (KioskState.READY, 1, False),
        (KioskState.WORKING, 1, False),                            # card placed
        (KioskState.WAITING_PIN, 1, False),
        (KioskState.WORKING, 1, False),                            # PIN confirmed, reading
        (KioskState.SUCCESS, 3, False),
        (ServiceCondition.PRINTER_PAPER_OUT, 6, True),             # the receipt failed: paper out
        (KioskState.CARD_LEFT, 6, True),
        (KioskState.READY, 5, True),                               # card taken
        (("clear", ServiceCondition.PRINTER_PAPER_OUT), 1, False),  # technician loads paper
    ]
    segments, state, service = [], KioskState.BOOTING, False
    try:
        for event, count, service_after in script:
            intro = True
            if isinstance(event, KioskState):
                state = event
                bus.state(event)
            elif isinstance(event, ServiceCondition):
                bus.service(event, True)
                intro = False
            elif event is not None:
                bus.service(event[1], False)
                intro = False
            service = service_after
            assert lights.wait_frames(count)
            segments.append(frames_of(state, service, count, intro))
        for channel in CHANNELS:
            expected = expected_timeline(segments, channel)
            pin = lights.pin(channel)
            assert len(pin.states) == len(expected), f"{channel}: {pin.states} != {expected}"
            pin.assert_states_and_times(expected)
    finally:
        lights.close()
