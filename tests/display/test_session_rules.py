"""Session rules: removal wipes, timeouts with visible countdowns, one VERIFY per OK,
the keypad path, and nothing of one resident left for the next."""

from __future__ import annotations

import dataclasses

import pygame
import pytest

from kiosk import journal
from kiosk.config import Config, LANGUAGES
from kiosk.display.scenario import ScenarioRunner, run_scenario
from kiosk.display.session import Session
from kiosk.display.sound import Sounds
from kiosk.errors import ConfigError, ReaderError
from kiosk.nfc.sim.profile import load_profile, shipped_profiles
from kiosk.signals import Bus, KioskState, ServiceCondition

from .helpers import TODAY, fake_linkage_factory
from .test_flows import linkage_steps, start


def run(steps, **kw):
    kw.setdefault("today", lambda: TODAY)
    kw.setdefault("linkage_factory", fake_linkage_factory())
    kw.setdefault("gateway_available", True)
    r = run_scenario(steps, **kw)
    assert r.ok, r.errors
    return r


# -- personal data scan ----------------------------------------------------------
SKIP = {"worker", "cfg", "clock", "bus", "sound", "on_wake", "receipt_builder", "printer", "today"}


def strings_in(obj, seen=None, depth=0):
    """Every str/bytes reachable from obj's data (not code, not the config)."""
    seen = seen if seen is not None else set()
    if id(obj) in seen or depth > 8:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, (bytes, bytearray)):
        yield bytes(obj).decode("utf-8", "replace")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from strings_in(k, seen, depth + 1)
            yield from strings_in(v, seen, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from strings_in(v, seen, depth + 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from strings_in(getattr(obj, f.name), seen, depth + 1)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("kiosk"):
        for k, v in vars(obj).items():
            if k not in SKIP:
                yield from strings_in(v, seen, depth + 1)


def wait_for(cond, timeout=5.0) -> bool:
    """Wait on a state with a bound (the worker unpowers the card asynchronously)."""
    import threading
    ev = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if cond():
            return True
        ev.wait(0.01)
    return cond()


def assert_no_personal_data(runner_or_session, profile: str):
    s = getattr(runner_or_session, "session", runner_or_session)
    canaries = load_profile(profile).canaries
    found = [c for text in strings_in(s) for c in canaries if c in text]
    assert not found, found
    w = s.worker
    assert wait_for(lambda: w.card is None and w.engine is None), "the card worker kept the card session"
    assert not any(s._pin)
    assert s.status is None and s.licence is None and s.photo is None
    view_text = "\n".join(runner_or_session.app.view.texts()) if hasattr(runner_or_session, "app") else ""
    assert not [c for c in canaries if c in view_text]


# -- removal at every screen ---------------------------------------------------------
def reach(screen: str) -> list[str]:
    """Steps that put the resident profile on ``screen``."""
    if screen.startswith("linkage_"):
        steps = linkage_steps()
        return steps[:steps.index(f"wait_screen {screen}") + 1]
    base = start("resident")
    return {
        "summary": base[:2],
        "menu": base,
        "pin_status": base + ["tap item_pin_status"],
        "licence_pin": base + ["tap item_licence", "wait_screen licence_pin", "tap key_1", "tap key_3"],
        "licence": base + ["tap item_licence", "wait_screen licence_pin", "key 1", "key 3", "key 5", "key 7",
                           "key enter", "wait_screen licence", "tap btn_toggle_number"],
        "renewal": base + ["tap item_renewal"],
        "lost_card": base + ["tap item_lost_card"],
    }[screen]


REMOVAL_SCREENS = ["summary", "menu", "pin_status", "licence_pin", "licence", "renewal", "lost_card",
                   "linkage_1", "linkage_2", "linkage_3", "linkage_4", "linkage_6", "linkage_7", "linkage_9"]


@pytest.mark.parametrize("screen", REMOVAL_SCREENS)
def test_card_removed_anywhere_wipes_and_returns_to_attract(screen):
    runner = ScenarioRunner(today=lambda: TODAY, linkage_factory=fake_linkage_factory(), gateway_available=True)
    runner.session.start()
    try:
        for line in reach(screen) + ["remove", "wait_screen card_removed", "expect_text カードが離れました"]:
            runner.step(line)
            assert runner.result.ok, runner.result.errors
        assert_no_personal_data(runner, "resident")
        runner.step("advance 6")
        runner.step("wait_screen attract")
        assert runner.result.ok, runner.result.errors
    finally:
        runner.session.stop()


def test_licence_locked_and_removal_during_reading():
    run(start("licence-locked") + ["tap item_licence", "wait_screen licence_locked", "remove",
                                   "wait_screen card_removed", "tap btn_ok", "wait_screen attract"])


# -- timeouts ---------------------------------------------------------------------------
def test_pin_timeout_with_visible_countdown():
    """30 s untouched on the pad: the digits are wiped and the menu returns; the session goes on."""
    runner = ScenarioRunner(today=lambda: TODAY)
    runner.session.start()
    try:
        for line in start("resident") + ["tap item_licence", "wait_screen licence_pin", "expect_text あと 30 秒",
                                         "tap key_1", "tap key_2", "advance 10", "expect_text あと 20 秒",
                                         "tap key_3", "expect_text あと 30 秒",   # input restarts it
                                         "advance 25", "expect_text あと 5 秒", "advance 4",
                                         "expect_text あと 1 秒", "wait_screen licence_pin"]:
            runner.step(line)
        assert runner.result.ok, runner.result.errors
        assert runner.session.pin_len == 3
        runner.step("advance 1")
        runner.step("wait_screen menu")
        runner.step("expect_text 入力した内容を消去しました")
        assert runner.result.ok, runner.result.errors
        s = runner.session
        assert s.pin_len == 0 and not any(s._pin) and s.status is not None and s.active
        assert "timed_out" not in runner.session.screens_seen
        assert not [v for v in runner.result.cards[0].verifies if v.with_data]
        for line in ["tap item_licence", "wait_screen licence_pin", "expect_text あと 30 秒"]:
            runner.step(line)                    # the same card, no re-insertion
        assert runner.result.ok, runner.result.errors
    finally:
        runner.session.stop()


def test_session_cap_with_visible_countdown():
    cfg = Config()
    cfg.timeouts.session_seconds = 180
    cfg.timeouts.inactivity_seconds = 600
    r = run(start("resident") + ["tap item_pin_status", "advance 149", "expect_no_text 終了まで",
                                 "advance 1", "expect_text 終了まで 30 秒", "advance 29",
                                 "expect_text 終了まで 1 秒", "expect_widget btn_back", "advance 1",
                                 "wait_screen timed_out", "remove", "wait_screen attract"], config=cfg)
    assert r.screens_seen[-2:] == ["timed_out", "attract"]


def test_timeouts_are_configurable():
    cfg = Config()
    cfg.timeouts.pin_seconds = 10
    cfg.timeouts.session_seconds = 60
    cfg.timeouts.inactivity_seconds = 600
    run(start("resident") + ["tap item_licence", "wait_screen licence_pin", "expect_text あと 10 秒",
                             "advance 10", "wait_screen menu"], config=cfg)
    run(start("resident") + ["advance 31", "expect_text 終了まで 29 秒", "advance 29", "wait_screen timed_out"],
        config=cfg)


# -- PIN entry ----------------------------------------------------------------------------
def press(app, wid):
    rect = app.frame.hits[wid]
    app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=rect.center, button=1, touch=False))
    app.handle(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=rect.center, button=1, touch=False))


def finger(app, wid):
    rect = app.frame.hits[wid]
    w, h = app.surface.get_size()
    kw = dict(x=rect.centerx / w, y=rect.centery / h, dx=0, dy=0, touch_id=1, finger_id=1, pressure=1.0)
    app.handle(pygame.event.Event(pygame.FINGERDOWN, **kw))
    app.handle(pygame.event.Event(pygame.FINGERUP, **kw))


@pytest.mark.parametrize("how", ["mouse", "finger", "key"])
def test_double_tap_ok_sends_exactly_one_verify(how):
    runner = ScenarioRunner(today=lambda: TODAY)
    runner.session.start()
    try:
        for line in start("resident") + ["tap item_licence", "wait_screen licence_pin"]:
            runner.step(line)
        app = runner.app
        for d in "1111":
            (finger if how == "finger" else press)(app, f"key_{d}")
            app.draw()
        assert runner.session.pin_len == 4
        if how == "key":
            runner.step("key enter")
            runner.step("key enter")
        else:
            (finger if how == "finger" else press)(app, "key_ok")
            (finger if how == "finger" else press)(app, "key_ok")    # same frame: a double tap
        runner.step("wait_screen licence_pin")
        runner.step("expect_text 暗証番号が違います。あと 9 回")
        assert runner.result.ok, runner.result.errors
        assert len([v for v in runner.result.cards[0].verifies if v.with_data]) == 1
    finally:
        runner.session.stop()


def test_touch_copies_of_mouse_events_are_ignored():
    runner = ScenarioRunner(today=lambda: TODAY)
    runner.session.start()
    try:
        for line in start("resident") + ["tap item_licence", "wait_screen licence_pin"]:
            runner.step(line)
        app = runner.app
        rect = app.frame.hits["key_5"]
        app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=rect.center, button=1, touch=True))
        app.handle(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=rect.center, button=1, touch=True))
        assert runner.session.pin_len == 0
    finally:
        runner.session.stop()


def test_every_key_gives_identical_feedback():
    r = run(start("resident") + ["tap item_licence", "wait_screen licence_pin"] +
            [f"tap key_{d}" for d in "0123456789"] + ["tap key_back", "tap key_clear"] +
            [f"key {d}" for d in "9876"])
    # Continue and the menu item click too (every button sounds), then the 16 pad keys.
    assert r.sounds == ["click"] * 18
    snd = Sounds(enabled=False)
    assert len(set(snd.buffers)) == 5 and snd.buffers["click"]


def test_pin_buffer_wiped_on_cancel_and_back():
    runner = ScenarioRunner(today=lambda: TODAY)
    runner.session.start()
    try:
        for line in start("resident") + ["tap item_licence", "wait_screen licence_pin", "tap key_4", "tap key_2",
                                         "tap btn_cancel", "wait_screen menu"]:
            runner.step(line)
        assert runner.result.ok, runner.result.errors
        assert not any(runner.session._pin) and runner.session.pin_len == 0
    finally:
        runner.session.stop()


# -- keypad only --------------------------------------------------------------------------------
def test_keypad_alone_reaches_every_flow():
    """No touch at all: digits pick numbered buttons, Enter is the main button, Esc goes back."""
    r = run([
        "key 2", "expect_text Please place your card", "key 1",      # language by number
        "insert resident", "wait_screen summary", "key enter", "wait_screen menu",
        "key 2", "wait_screen pin_status", "key escape", "wait_screen menu",          # PIN status
        "key 4", "wait_screen renewal", "key escape", "wait_screen menu",             # renewal
        "key 5", "wait_screen lost_card", "key escape", "wait_screen menu",           # lost card
        "key 1", "wait_screen licence_pin", "key 1", "key 3", "key 5", "key 7", "key enter",
        "wait_screen licence", "key 2", "expect_text 912345678901", "key escape", "wait_screen menu",
        "key 3", "wait_screen linkage_1", "key enter", "wait_screen linkage_2", "key enter",
        "wait_screen linkage_3", "key enter", "wait_screen linkage_4", "key 2", "key 4", "key 6", "key 8",
        "key enter", "wait_screen linkage_6", "key enter", "wait_screen linkage_7",
        "key k", "key i", "key o", "key s", "key k", "key 2", "key 0", "key 2", "key 5", "key enter",
        "wait_screen linkage_9", "key enter", "wait_screen menu",
        "key 6", "wait_screen take_card", "remove", "wait_screen attract",
    ])
    for screen in ("pin_status", "renewal", "lost_card", "licence", "linkage_9", "take_card"):
        assert screen in r.screens_seen


def test_keypad_escape_cancels_pin_entry():
    run(start("resident") + ["key 1", "wait_screen licence_pin", "key 1", "key escape", "wait_screen menu"])


# -- a new resident never sees the last one --------------------------------------------------------
@pytest.mark.parametrize("profile", [p for p in shipped_profiles() if p != "unknown"])
def test_nothing_left_after_removal(profile):
    runner = ScenarioRunner(today=lambda: TODAY, linkage_factory=fake_linkage_factory(),
                            gateway_available=True)
    records = []
    journal.add_sink(records.append)
    runner.session.start()
    try:
        steps = ["insert " + profile, "wait_screen summary", "tap btn_continue", "wait_screen menu"]
        for line in steps:
            runner.step(line)
        pin = {"ic-licence": "1111"}.get(profile, "1357")
        if runner.app.view.enabled("item_licence"):
            runner.step("tap item_licence")
            if runner.session.screen == "licence_pin":
                for d in pin:
                    runner.step(f"tap key_{d}")
                runner.step("tap key_ok")
                if runner.session.last_try_armed:
                    runner.step("tap key_ok")      # the last try asks for a second OK
            if runner.session.screen != "licence_locked":
                runner.step("wait_screen licence")
                runner.step("tap btn_toggle_number")
        for line in ["remove", "wait_screen card_removed"]:
            runner.step(line)
        assert runner.result.ok, runner.result.errors
        assert_no_personal_data(runner, profile)
        for line in ["advance 6", "wait_screen attract", "insert myna-plain", "wait_screen summary",
                     "tap btn_continue", "wait_screen menu", "expect_no_widget item_licence"]:
            runner.step(line)
        assert runner.result.ok, runner.result.errors
    finally:
        runner.session.stop()
        journal.remove_sink(records.append)
    canaries = load_profile(profile).canaries
    leaked = [c for r in records for c in canaries if c in repr(r)]
    assert not leaked


# -- service states ---------------------------------------------------------------------------------
def test_bad_config_starts_on_service_needed():
    bus = Bus()
    seen = []
    bus.subscribe("service", lambda t, p: seen.append((p["condition"], p["active"])))
    s = Session(Config(), config_error=ConfigError("bad", key="display.width"), bus=bus)
    assert s.screen == "service_needed"
    assert (ServiceCondition.CONFIG_ERROR, True) in seen


def test_missing_reader_shows_service_needed_then_recovers():
    import threading
    from kiosk.nfc.sim.reader import SimReader
    attempts = []
    reader = SimReader()
    ready = threading.Event()

    def factory():
        attempts.append(1)
        if not ready.is_set():
            raise ReaderError("no reader", reader="pcsc")
        return reader

    bus = Bus()
    states, service = [], []
    bus.subscribe("state", lambda t, p: states.append(p["state"]))
    bus.subscribe("service", lambda t, p: service.append((p["condition"], p["active"])))
    woke = threading.Event()
    s = Session(Config(), reader_factory=factory, bus=bus, on_wake=woke.set)
    s.worker.retry = 0.05
    s.start()
    try:
        assert woke.wait(5)
        s.pump()
        assert s.screen == "service_needed"
        ready.set()
        for _ in range(200):
            woke.clear()
            s.pump()
            if s.screen == "attract":
                break
            woke.wait(0.05)
        assert s.screen == "attract"
        assert service == [(ServiceCondition.NO_READER, True), (ServiceCondition.NO_READER, False)]
        assert states[0] == KioskState.READY
    finally:
        s.stop()


def test_states_published_for_the_leds():
    bus = Bus()
    states = []
    bus.subscribe("state", lambda t, p: states.append(p["state"]))
    runner = ScenarioRunner(today=lambda: TODAY)
    runner.session.bus = bus
    runner.session.start()
    try:
        for line in start("resident") + ["tap item_licence", "wait_screen licence_pin", "key 1", "key 3",
                                         "key 5", "key 7", "key enter", "wait_screen licence", "key escape",
                                         "key 6", "wait_screen take_card", "remove", "wait_screen attract"]:
            runner.step(line)
        assert runner.result.ok, runner.result.errors
    finally:
        runner.session.stop()
    assert states == [KioskState.WORKING, KioskState.WAITING_PIN, KioskState.SUCCESS, KioskState.WORKING,
                      KioskState.CARD_LEFT, KioskState.READY]


def test_all_languages_configured():
    from kiosk.i18n import LANGUAGE_NAMES
    assert set(LANGUAGES) == set(LANGUAGE_NAMES)
    assert Config().kiosk.languages == ["ja", "en", "zh", "ko"]


# -- the card or the reader leaves in the middle of an exchange --------------------------------------
@pytest.mark.parametrize("fault", ["before_verify", "response_lost"])
def test_card_pulled_at_verify_never_retries(fault):
    from kiosk.nfc.sim.card import Faults
    runner = ScenarioRunner(today=lambda: TODAY)
    runner.session.start()
    try:
        for line in start("resident") + ["tap item_licence", "wait_screen licence_pin"] + \
                [f"tap key_{d}" for d in "1357"]:
            runner.step(line)
        card = runner.result.cards[0]
        # the card layer reads the counter (1 APDU) and then sends the VERIFY (the 2nd)
        card.set_faults(Faults(remove_after=1) if fault == "before_verify" else Faults(lose_response_at=2))
        runner.step("tap key_ok")
        runner.step("wait_screen card_removed")
        assert runner.result.ok, runner.result.errors
        assert_no_personal_data(runner, "resident")
        sent = len([v for v in card.verifies if v.with_data])
        assert sent == (0 if fault == "before_verify" else 1)
        runner.reader.remove()
        runner.result.cards.append(runner.reader.insert(card))     # the same card placed again
        runner.step("wait_screen summary")
        runner.step("tap btn_continue")
        runner.step("wait_screen menu")
        assert runner.result.ok, runner.result.errors
        assert len([v for v in card.verifies if v.with_data]) == sent     # nothing re-sent on our own
    finally:
        runner.session.stop()


def test_reader_unplugged_mid_session_wipes_and_needs_service():
    import threading
    from kiosk.nfc.sim.reader import SimReader

    class FlakyReader(SimReader):
        unplugged = False

        def card_present(self):
            if self.unplugged:
                raise ReaderError("reader gone", reader="sim")
            return super().card_present()

    reader = FlakyReader()
    woke = threading.Event()
    from kiosk.display.clock import ManualClock
    s = Session(Config(), reader_factory=lambda: reader, clock=ManualClock(), on_wake=woke.set,
                today=lambda: TODAY)
    s.worker.retry = 0.05
    s.start()

    def wait(cond):
        for _ in range(300):
            woke.clear()
            s.pump()
            if cond():
                return True
            woke.wait(0.05)
        return False
    try:
        reader.insert("resident")
        assert wait(lambda: s.screen == "summary")
        reader.unplugged = True
        assert wait(lambda: s.screen == "service_needed")
        assert s.status is None and s.service == "no_reader"
    finally:
        reader.unplugged = False
        s.stop()
