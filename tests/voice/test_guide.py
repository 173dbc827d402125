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


def test_the_chooser_says_each_language_s_number_in_that_language(monkeypatch):
    """Keypad-first with voice (issue #16): on the chooser each offered language names its own
    number key in its own voice, after the chooser's prompt, queued behind it; and the number
    said is the key that picks that language.  Through the real session hook."""
    import copy

    import kiosk.voice
    from kiosk.config import LANGUAGES
    from kiosk.display.scenario import run_scenario
    from kiosk.voice.guide import Guide
    from kiosk.voice.prompts import spoken_text

    order = ["vi", "ja", "en", "ne", "pt_BR", "fil", "zh", "ko", "ja@easy"]
    assert sorted(order) == sorted(LANGUAGES)
    said: list[tuple[str, str, dict, bool]] = []

    class Recording:
        def say(self, lang, prompts, interrupt=True):
            said.extend((lang, p.key, dict(p.values), interrupt) for p in prompts)

        def refused(self, key):
            raise AssertionError(key)

    monkeypatch.setattr(kiosk.voice, "attach", lambda session, cfg=None, player=None:
                        Guide(Recording()).attach(session))
    cfg = copy.deepcopy(Config())
    cfg.kiosk.languages = order
    cfg.voice.enabled = True
    r = run_scenario(["key f11", "wait_screen language", "key 6", "wait_screen attract"], config=cfg)
    assert r.ok, r.errors
    start = [k for _, k, _, _ in said].index("voice.choose_language")
    options = said[start + 1:start + 1 + len(order)]
    assert said[start][0] == "ja" and said[start][3] is True        # the chooser's prompt, in the current language
    assert [(lang, v["pos"], interrupt) for lang, _, v, interrupt in options] == \
        [(lang, n, False) for n, lang in enumerate(order, start=1)]
    for lang, key, values, _ in options:
        assert key == "voice.language_option"
        assert str(values["pos"]) in spoken_text(key, lang, values)
    after = said[start + 1 + len(order):]
    assert after and after[0][:2] == ("fil", "attract.place_card")  # key 6, as said: Filipino


def test_language_options_only_on_arrival():
    from kiosk.voice.guide import language_options

    chooser = Snapshot("language", "en", languages=("ja", "en", "vi"))
    assert [lang for lang, _ in language_options(Snapshot("menu", "en"), chooser)] == ["ja", "en", "vi"]
    assert language_options(chooser, chooser) == []
    assert language_options(None, Snapshot("menu", "en", languages=("ja", "en"))) == []
