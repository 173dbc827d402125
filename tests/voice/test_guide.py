"""The guide's decisions and the voice's worker thread (fake synthesiser and player)."""

from __future__ import annotations

import threading

import pytest

from kiosk.config import Config
from kiosk.display.screens import BUILDERS
from kiosk.voice import attach
from kiosk.voice.backends import ToneSynth
from kiosk.voice.cache import PromptCache
from kiosk.voice.guide import Snapshot, decide, screen_prompts
from kiosk.voice.prompts import prompt
from kiosk.voice.speaker import Voice


class GatedPlayer:
    """Records what plays; each play waits for the test to open the gate (or an interrupt)."""

    def __init__(self):
        self.played: list[tuple[str, float, str]] = []
        self.started = threading.Semaphore(0)
        self.gate = threading.Event()

    def play(self, path, volume, stop):
        self.played.append((path.name.split("-")[0], volume, threading.current_thread().name))
        self.started.release()
        while not self.gate.wait(0.01) and not stop.is_set():
            pass

    def stop(self):
        pass


def make_voice(tmp_path, player, **kw):
    return Voice(PromptCache(tmp_path, synth_factory=lambda lang: ToneSynth()), player, **kw)


def test_every_screen_has_a_prompt():
    for screen in BUILDERS:
        assert screen_prompts(Snapshot(screen, "ja")), screen


def test_decisions():
    pad = Snapshot("licence_pin", "en", tries=(10, 10))
    assert [p.key for p in decide(None, pad)] == ["pin_entry.title", "pin.tries_left"]
    typed = Snapshot("licence_pin", "en", tries=(10, 10), pin_len=1)
    assert [p.key for p in decide(pad, typed)] == ["voice.digit_entered"]
    assert [p.key for p in decide(typed, pad)] == ["voice.digit_deleted"]
    four = Snapshot("licence_pin", "en", tries=(10, 10), pin_len=4)
    assert [p.key for p in decide(four, pad)] == ["voice.cleared"]
    sent = Snapshot("licence_pin", "en", tries=(10, 10), pending=True)
    assert [p.key for p in decide(four, sent)] == ["reading.body"]         # never "cleared" at OK
    wrong = Snapshot("licence_pin", "en", tries=(9, 10), pin_message=("pin.wrong", (("left", 9), ("max", 10))))
    said = decide(sent, wrong)
    assert [p.key for p in said] == ["pin.wrong"] and said[0].text("en") == "Wrong PIN. 9 of 10 tries left."
    last = Snapshot("licence_pin", "en", tries=(1, 10))
    assert [p.key for p in decide(None, last)][-1] == "pin.warn_last"
    assert decide(pad, pad) == []
    assert [p.key for p in decide(Snapshot("attract", "ja"), Snapshot("attract", "en"))][0] == "attract.place_card"
    locked = Snapshot("linkage_error", "ja", error="linkage.locked", error_pin="jpki_sign")
    assert [p.key for p in decide(None, locked)] == ["linkage.preflight.jpki_sign_locked"]


def test_say_returns_at_once_and_plays_on_the_worker(tmp_path):
    player = GatedPlayer()
    voice = make_voice(tmp_path, player, volume=0.5)
    try:
        voice.say("en", [prompt("take_card.body"), prompt("voice.digit_entered")])
        assert player.started.acquire(timeout=10)
        assert player.played[0] == ("take_card.body", 0.5, "kiosk-voice")
        # A new screen interrupts: the queued second prompt of the old one is never played.
        voice.say("en", [prompt("attract.place_card")])
        assert player.started.acquire(timeout=10)
        player.gate.set()
        assert [p[0] for p in player.played] == ["take_card.body", "attract.place_card"]
    finally:
        player.gate.set()
        voice.close()


def test_attach_follows_voice_enabled(tmp_path):
    from kiosk.display.session import Session
    cfg = Config()
    assert Session(cfg).voice is None and attach(Session(cfg)) is None
    cfg.voice.enabled, cfg.voice.cache_dir = True, str(tmp_path)
    player = GatedPlayer()
    player.gate.set()
    s = Session(cfg)
    guide = attach(s, player=player)
    assert guide is not None and guide in s.observers
    guide.voice.close()
    s.voice.voice.close()


def test_a_failing_observer_never_stops_the_session():
    from kiosk.display.session import Session
    s = Session(Config())

    def broken(session, event):
        raise RuntimeError("boom")

    s.observers.append(broken)
    s.go("menu")
    assert s.screen == "menu"


@pytest.mark.parametrize("key,value", [("voice.volume", 1.5), ("voice.rate", 0.1)])
def test_config_ranges(key, value):
    from kiosk.config import parse_config
    from kiosk.errors import ConfigError
    section, name = key.split(".")
    with pytest.raises(ConfigError):
        parse_config(f"[{section}]\n{name} = {value}\n")
