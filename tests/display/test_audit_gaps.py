"""Behaviours the acceptance audit found built but untested: linkage gateway errors on
screen, the PIN pad's rules, sounds, and the large-text / high-contrast switch.

The linkage tests run the real LinkageEngine on the real card layer and simulated
card; only the gateway (the network edge) is a scripted stand-in.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygame
import pytest

from kiosk.display.scenario import ScenarioRunner
from kiosk.i18n import LANGUAGE_NAMES, catalog, languages
from kiosk.linkage import errors as gw
from kiosk.linkage.client import Challenge
from kiosk.linkage.engine import LinkageEngine

from .helpers import TODAY, offline_session

ROOT = Path(__file__).resolve().parents[2]
START = ["insert {p}", "wait_screen summary", "tap btn_continue", "wait_screen menu"]


def start(profile: str) -> list[str]:
    return [s.format(p=profile) for s in START]


def data_verifies(card, pin_id=None):
    return [v for v in card.verifies if v.with_data and (pin_id is None or v.pin_id == pin_id)]


class Played:
    """A ScenarioRunner driven step by step, so a test can look between steps."""

    def __init__(self, **kw):
        kw.setdefault("today", lambda: TODAY)
        self.runner = ScenarioRunner(**kw)
        self.session = self.runner.session

    def __enter__(self):
        self.session.start()
        return self

    def __exit__(self, *exc):
        self.session.stop()

    def __call__(self, *lines: str) -> None:
        for line in lines:
            self.runner.step(line)
            assert self.runner.result.ok, self.runner.result.errors

    @property
    def card(self):
        return self.runner.result.cards[0]

    def text(self) -> str:
        self.runner.settle_async()
        return self.runner.app.view.text()


# -- 1. linkage gateway errors on the display ------------------------------------------------
class ScriptedGateway:
    """The gateway's interface; raises the given error at submit_auth / submit_application once."""

    def __init__(self, auth_error=None, application_error=None):
        self.auth_error, self.application_error = auth_error, application_error
        self.calls: list[str] = []

    def health(self, timeout=None, retries=None):
        self.calls.append("health")

    def new_challenge(self, kiosk_id):
        self.calls.append("new_challenge")
        return Challenge("S-1", os.urandom(32), time.monotonic() + 300)

    def submit_auth(self, session, signature, certificate):
        self.calls.append("submit_auth")
        err, self.auth_error = self.auth_error, None
        if err is not None:
            raise err
        return ("2026-01", "第1条 旧い規約です。")

    def submit_application(self, session, cms_der):
        self.calls.append("submit_application")
        err, self.application_error = self.application_error, None
        if err is not None:
            raise err
        return "REF-4242"


def engine_factory(gateway):
    return lambda card, status: LinkageEngine(card, status, gateway, "kiosk-test")


TO_STEP_4 = start("resident") + ["tap item_linkage", "wait_screen linkage_1", "tap btn_next",
                                 "wait_screen linkage_2", "tap btn_next", "wait_screen linkage_3",
                                 "tap btn_next", "wait_screen linkage_4"]
AUTH_OK = ["tap key_2", "tap key_4", "tap key_6", "tap key_8", "tap key_ok"]
TO_STEP_7 = AUTH_OK + ["wait_screen linkage_6", "tap btn_accept", "wait_screen linkage_7"]
SIGN_OK = [f"tap kb_{c}" for c in "KIOSK2025"] + ["tap key_ok"]

RETRYABLE = [gw.GatewayUnreachableError, gw.GatewaySlowError, gw.GatewayServerError]
FATAL = [gw.GatewayRefusedError, gw.GatewayProtocolError]


def ja(key: str) -> str:
    return catalog("ui", "ja").messages[key]


@pytest.mark.parametrize("error", RETRYABLE, ids=lambda e: e.reason)
def test_retryable_gateway_error_at_step_5_goes_back_to_the_pin_pad(error):
    gateway = ScriptedGateway(auth_error=error())
    with Played(linkage_factory=engine_factory(gateway), gateway_available=True) as play:
        play(*TO_STEP_4, *AUTH_OK, "wait_screen linkage_4")
        s = play.session
        assert s.pin_message == (f"linkage.error.{error.reason}", {})
        assert ja(f"linkage.error.{error.reason}") in play.text()
        assert s.pin_len == 0 and "linkage_error" not in s.screens_seen
        assert len(data_verifies(play.card, "jpki_auth")) == 1
        # Nothing is retried on the resident's behalf: a fresh entry, one more VERIFY.
        play(*AUTH_OK, "wait_screen linkage_6")
        assert len(data_verifies(play.card, "jpki_auth")) == 2
        assert gateway.calls.count("submit_auth") == 2


@pytest.mark.parametrize("error", RETRYABLE, ids=lambda e: e.reason)
def test_retryable_gateway_error_at_step_8_goes_back_to_the_password(error):
    gateway = ScriptedGateway(application_error=error())
    with Played(linkage_factory=engine_factory(gateway), gateway_available=True) as play:
        play(*TO_STEP_4, *TO_STEP_7, *SIGN_OK, "wait_screen linkage_7")
        assert play.session.pin_message == (f"linkage.error.{error.reason}", {})
        assert ja(f"linkage.error.{error.reason}") in play.text()
        assert len(data_verifies(play.card, "jpki_sign")) == 1
        play(*SIGN_OK, "wait_screen linkage_9", "expect_text REF-4242")
        assert len(data_verifies(play.card, "jpki_sign")) == 2


def test_terms_changed_goes_back_to_consent_with_the_new_terms():
    new_terms = ("2026-02", "第2条 新しい規約です。")
    gateway = ScriptedGateway(application_error=gw.TermsChangedError(terms=new_terms))
    with Played(linkage_factory=engine_factory(gateway), gateway_available=True) as play:
        play(*TO_STEP_4, *TO_STEP_7, *SIGN_OK, "wait_screen linkage_6")
        s = play.session
        assert s.notice == ("linkage.error.terms_changed", {})
        assert s.linkage["terms"] == new_terms and s.terms_page == 0
        text = play.text()
        assert ja("linkage.error.terms_changed") in text
        assert "第2条 新しい規約です。" in text and "旧い規約" not in text
        assert "2026-02" in text
        # Consent again, then a new password entry: one more VERIFY, never a silent resend.
        play("tap btn_accept", "wait_screen linkage_7", *SIGN_OK, "wait_screen linkage_9")
        assert len(data_verifies(play.card, "jpki_sign")) == 2


@pytest.mark.parametrize("error", FATAL, ids=lambda e: e.reason)
@pytest.mark.parametrize("at", ["auth", "application"])
def test_fatal_gateway_error_ends_on_the_linkage_error_screen(error, at):
    gateway = ScriptedGateway(**{f"{at}_error": error()})
    with Played(linkage_factory=engine_factory(gateway), gateway_available=True) as play:
        play(*TO_STEP_4, *(AUTH_OK if at == "auth" else TO_STEP_7 + SIGN_OK), "wait_screen linkage_error")
        s = play.session
        assert s.error == (f"linkage.error.{error.reason}", {"code": error.reason})
        assert ja(f"linkage.error.{error.reason}") in play.text()
        assert "linkage_9" not in s.screens_seen
        play("tap btn_back", "wait_screen menu")
        assert s.linkage == {} and s.error is None


def test_every_gateway_error_has_its_own_message_in_every_catalogue():
    classes = [gw.GatewaySlowError, gw.GatewayServerError, gw.GatewayProtocolError,
               gw.GatewayUnreachableError, gw.GatewayRefusedError, gw.TermsChangedError]
    keys = [c().message_key for c in classes]
    assert len(set(keys)) == len(keys), keys
    assert {k.rsplit(".", 1)[1] for k in keys} == {"slow", "server_error", "protocol", "unreachable",
                                                   "refused", "terms_changed"}
    assert set(languages("ui")) == set(LANGUAGE_NAMES)     # one catalogue per registered language
    for lang in languages("ui"):
        messages = catalog("ui", lang).messages               # its own texts, not the fallback's
        for key in keys:
            text = messages.get(key)
            assert isinstance(text, str) and text.strip(), f"{lang}: {key} missing"
        generic = messages["linkage.error.gateway_error"]
        assert all(messages[k] != generic for k in keys), lang


# -- 2. PIN pad rules ----------------------------------------------------------------------------
def test_ok_with_fewer_than_four_digits_sends_nothing():
    with Played() as play:
        play(*start("resident"), "tap item_licence", "wait_screen licence_pin", "tap key_1", "tap key_3",
             "tap key_5")
        view = play.runner.app.view
        assert not view.enabled("key_ok")                       # the pad shows OK as not ready
        assert play.session.tap("key_ok") is False              # a tap anyway: refused
        play("key enter")                                       # the keypad's Enter: refused too
        assert play.session.screen == "licence_pin" and not play.session.pending
        assert play.session.pin_len == 3
        assert "●●●○" in play.text()
        assert data_verifies(play.card) == []
        assert play.card.pin_tries("licence") == 10


def test_clear_empties_the_buffer_and_ok_needs_four_new_digits():
    with Played() as play:
        play(*start("resident"), "tap item_licence", "wait_screen licence_pin",
             "tap key_9", "tap key_9", "tap key_9", "tap key_9", "tap key_clear")
        assert play.session.pin_len == 0
        assert "○○○○" in play.text()
        play("tap key_1", "tap key_3", "tap key_5", "key enter")
        assert play.session.screen == "licence_pin" and data_verifies(play.card) == []
        play("key 7", "key enter", "wait_screen licence")
        verifies = data_verifies(play.card, "licence")
        assert len(verifies) == 1 and play.card.pin_tries("licence") == 10   # 1357: the right PIN


@pytest.fixture
def profile_with_tries(tmp_path):
    source = (ROOT / "kiosk" / "nfc" / "sim" / "profiles" / "resident.toml").read_text(encoding="utf-8")
    old = 'licence   = { value = "1357", tries_left = 10 }'
    assert old in source

    def make(tries: int) -> str:
        path = tmp_path / f"licence-{tries}-left.toml"
        path.write_text(source.replace(old, f'licence   = {{ value = "1357", tries_left = {tries} }}'),
                        encoding="utf-8")
        return str(path)
    return make


@pytest.mark.parametrize("tries,warned", [(3, True), (2, True), (4, False), (10, False)])
def test_few_tries_warning_from_three_down(profile_with_tries, tries, warned):
    warn_few = ja("pin.warn_few").split("{left}")
    with Played() as play:
        play(*start(profile_with_tries(tries)), "tap item_licence", "wait_screen licence_pin")
        text = play.text()
        assert f"あと {tries} 回（全 10 回）" in text
        widget = play.runner.app.view.get("warn")
        if warned:
            assert widget is not None and widget.text == f"{warn_few[0]}{tries}{warn_few[1]}"
        else:
            assert widget is None and warn_few[1] not in text
        assert data_verifies(play.card) == []


# -- 4. sounds -------------------------------------------------------------------------------------
def test_success_and_error_sounds_follow_the_card_answer():
    with Played() as play:
        play(*start("resident"), "tap item_licence", "wait_screen licence_pin")
        sounds = play.runner.sounds.played
        assert "success" not in sounds and "error" not in sounds
        play("key 1", "key 1", "key 1", "key 1", "key enter", "expect_text あと 9 回（全 10 回）")
        assert sounds[-1] == "error" and "success" not in sounds
        assert sounds.count("error") == 1
        play("key 1", "key 3", "key 5", "key 7")
        assert sounds[-4:] == ["click"] * 4                    # typing: the one click, no verdict yet
        play("key enter", "wait_screen licence")
        assert sounds[-1] == "success" and sounds.count("success") == 1 and sounds.count("error") == 1


def test_sounds_without_an_audio_device_are_silent_and_never_raise(monkeypatch):
    from kiosk.display import sound

    def no_device(*a, **k):
        raise pygame.error("No available audio device")

    made = []
    monkeypatch.setattr(pygame.mixer, "get_init", lambda: None)
    monkeypatch.setattr(pygame.mixer, "init", no_device)
    monkeypatch.setattr(pygame.mixer, "Sound", lambda *a, **k: made.append(1))
    sounds = sound.Sounds(enabled=True)
    for name in ("click", "success", "error", "take_card", "no_such_sound"):
        sounds.play(name)
    assert made == [] and sounds._sounds == {}
    assert sounds.played == ["click", "success", "error", "take_card", "no_such_sound"]


# -- 5. large text / high contrast -------------------------------------------------------------
def _render(session, size=(800, 480)):
    from kiosk.display.render import Renderer
    from kiosk.display.screens import build_view
    surface = pygame.Surface(size)
    renderer = Renderer(surface)
    view = build_view(session)
    frame = renderer.draw(view)
    return surface, frame, view


def _brightness(surface) -> float:
    return sum(pygame.transform.average_color(surface)[:3]) / 3


def test_large_text_enlarges_and_high_contrast_is_a_switch_of_its_own():
    s = offline_session()
    normal_surface, normal_frame, normal = _render(s)
    assert s.tap("btn_large_text") and s.large_text
    large_surface, large_frame, large = _render(s)
    assert large.large_text and not normal.large_text
    # Every text is drawn bigger: 1.4x for reading text, labels at least as big.
    px = {p.id: p.px for p in normal_frame.placed}
    for p in large_frame.placed:
        if p.id in px:
            assert p.px >= (px[p.id] if p.label else 1.4 * px[p.id]) - 1, (p.id, px[p.id], p.px)
    # Large text keeps the normal colours: contrast is not forced on.
    assert _brightness(normal_surface) > 180 and _brightness(large_surface) > 180
    assert s.tap("btn_high_contrast") and s.high_contrast
    dark_surface, _, dark = _render(s)
    assert dark.high_contrast and _brightness(dark_surface) < 80
    assert s.tap("btn_high_contrast") and s.tap("btn_large_text")
    again, _, _ = _render(s)
    assert _brightness(again) > 180 and not s.large_text
