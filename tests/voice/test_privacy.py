"""No PIN, typed digit or personal datum is ever spoken: every speech event of every shipped
scenario is scanned, through the real hook (Session -> kiosk.voice.attach -> Guide)."""

from __future__ import annotations

from pathlib import Path

import pytest

import kiosk.voice
from kiosk.display.scenario import ScenarioRunner, run_scenario
from kiosk.voice.guide import PIN_SCREENS, Guide
from kiosk.voice.prompts import PromptRefused, prompt

SCENARIOS = sorted((Path(__file__).parents[1] / "display" / "scenarios").glob("*.toml"))


class RecordingVoice:
    """The fake voice: what would be said, with the scenario step that caused it."""

    def __init__(self):
        self.events: list[tuple[int, str, str, str, object]] = []   # (step, screen, lang, key, prompt)
        self.refusals: list[str] = []
        self.step = -1
        self.steps: list[tuple[str, str]] = []                     # (step line, screen before it)
        self.session = None

    def say(self, lang, prompts, interrupt=True):
        for p in prompts:
            self.events.append((self.step, self.session.screen, lang, p.key, p))

    def refused(self, key):
        self.refusals.append(key)


def run_recorded(path, monkeypatch, guide_class=Guide):
    voice = RecordingVoice()

    def attach(session, cfg=None, player=None):
        voice.session = session
        return guide_class(voice).attach(session)

    monkeypatch.setattr(kiosk.voice, "attach", attach)
    original = ScenarioRunner.step

    def step(self, line):
        voice.step += 1
        voice.steps.append((line, self.session.screen))
        return original(self, line)

    monkeypatch.setattr(ScenarioRunner, "step", step)
    result = run_scenario(path, production=True)
    return result, voice


def canaries(result) -> list[str]:
    out = []
    for card in result.cards:
        prof = card.profile
        out += prof.canaries
        out += [str(v) for k, v in prof.person.items() if k in ("birth", "name", "address")]
        out += [str(v) for k, v in prof.licence_data.items() if k in ("number", "expiry")]
        for d in (prof.person.get("birth"), prof.licence_data.get("expiry")):
            if d:
                y, m, day = str(d).split("-")
                out += [f"{y}年{int(m)}月{int(day)}日", f"{y}/{m}/{day}", f"{y}.{int(m)}.{int(day)}"]
    return [c for c in out if c and len(c) >= 3]


def is_pin_key(line: str, screen: str) -> bool:
    parts = line.split()
    if screen not in PIN_SCREENS or len(parts) != 2:
        return False
    op, arg = parts
    return (op == "tap" and (arg.startswith("key_") and arg[4:].isdigit() or arg.startswith("kb_"))) or (
        op == "key" and len(arg) == 1 and arg.isalnum())


def violations(result, voice) -> list[str]:
    bad = [f"refused prompt: {r}" for r in voice.refusals]
    secrets = canaries(result)
    for step, _screen, lang, key, p in voice.events:
        text = p.text(lang)
        for secret in secrets:
            if secret in text or secret in text.replace(" ", ""):
                bad.append(f"step {step}: {key} speaks a personal datum or PIN")
    for i, (line, screen) in enumerate(voice.steps):
        if is_pin_key(line, screen):
            said = [(k, p.values) for s, _, _, k, p in voice.events if s == i]
            if said not in ([], [("voice.digit_entered", ())]):
                bad.append(f"step {i} ({line}) on {screen}: said {said}, not just 'one digit entered'")
    return bad


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_no_pin_or_personal_datum_is_ever_spoken(path, monkeypatch):
    result, voice = run_recorded(path, monkeypatch)
    assert result.ok, result.errors
    assert voice.events, "the scenario produced no speech at all: the hook is not wired"
    assert violations(result, voice) == []
    assert canaries(result), "no canaries: the scan would prove nothing"


def test_every_pin_digit_says_only_one_digit_entered(monkeypatch):
    result, voice = run_recorded(SCENARIOS[[p.stem for p in SCENARIOS].index("licence")], monkeypatch)
    digit_steps = [i for i, (line, screen) in enumerate(voice.steps) if is_pin_key(line, screen)]
    assert len(digit_steps) == 8
    for i in digit_steps:
        assert [k for s, _, _, k, _ in voice.events if s == i] == ["voice.digit_entered"]
    keys = [k for _, _, _, k, _ in voice.events]
    assert "pin.wrong" in keys and "licence.title" in keys and "attract.place_card" in keys


class DigitSpeakingGuide(Guide):
    """A mutation: speaks the last typed digit as a 'count'."""

    def __call__(self, session, event="input"):
        super().__call__(session, event)
        if session.screen in PIN_SCREENS and session.pin_len and event == "input":
            digit = session._pin[session.pin_len - 1] - 0x30
            if 0 <= digit <= 9:
                self.voice.say(session.lang, [prompt("pin.warn_few", left=digit)])


class FreeTextGuide(Guide):
    """A mutation: tries to pass the typed digit as a value the whitelist does not know."""

    def __call__(self, session, event="input"):
        super().__call__(session, event)
        if session.screen in PIN_SCREENS and session.pin_len and event == "input":
            try:
                prompt("voice.digit_entered", digit=session._pin[session.pin_len - 1] - 0x30)
            except PromptRefused as exc:
                self.voice.refused(str(exc))


@pytest.mark.parametrize("mutant", [DigitSpeakingGuide, FreeTextGuide])
def test_a_guide_that_speaks_the_digit_fails_the_scan(mutant, monkeypatch):
    result, voice = run_recorded(SCENARIOS[[p.stem for p in SCENARIOS].index("licence")], monkeypatch, mutant)
    assert violations(result, voice)


def test_the_whitelist_refuses_free_text_and_non_counts():
    for bad in (lambda: prompt("licence.number", number=1),          # not a prompt key
                lambda: prompt("voice.digit_entered", digit=1),       # a value the key does not take
                lambda: prompt("pin.wrong", left="1357", max=10),     # not an int
                lambda: prompt("pin.wrong", left=99, max=10),         # out of range
                lambda: prompt("pin.wrong", left=True, max=10),       # bool is not a count
                lambda: prompt("pin.wrong", left=1)):                 # missing value
        with pytest.raises(PromptRefused):
            bad()
    assert prompt("pin.wrong", left=2, max=3).text("en") == "Wrong PIN. 2 of 3 tries left."
