"""Every prompt key has real audio (Open JTalk for ja and ja@easy, espeak-ng for the others) in every
language: non-silent and of sensible length, measured from the WAV samples and with sox."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import wave
from array import array

import pytest

from kiosk.config import LANGUAGES
from kiosk.i18n import catalog
from kiosk.voice.backends import JTALK_LANGS
from kiosk.voice.cache import PromptCache
from kiosk.voice.prompts import PROMPT_KEYS, all_prompts, domain

LANGS = LANGUAGES                    # every language a city may enable, not only the default four
RMS_FLOOR = 0.02                     # of full scale; silence and near-silence fail


def measure(path) -> tuple[float, float]:
    """(seconds, RMS of full scale) of a 16-bit WAV."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        frames = w.readframes(w.getnframes())
        seconds = w.getnframes() / w.getframerate()
    samples = array("h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / max(1, len(samples))) / 32768
    return seconds, rms


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache for the module; each language is built by its own test (nine languages in one
    fixture outran the per-test timeout on the shared 2-core machine)."""
    return PromptCache(tmp_path_factory.mktemp("voice-cache"))


def test_every_prompt_key_is_translated_in_every_language():
    for lang in LANGS:
        missing = [k for k in PROMPT_KEYS if not catalog(domain(k), lang).has(k)]
        assert missing == [], (lang, missing)


@pytest.mark.parametrize("lang", LANGS)
def test_every_prompt_has_audible_audio_of_sensible_length(cache, lang):
    assert cache.synth(lang).name == ("open_jtalk" if lang in JTALK_LANGS else "espeak-ng")
    cache.build([lang], full=False)
    for p in all_prompts(full=False):
        path = cache.get(lang, p)
        assert path is not None, (lang, p.key)
        seconds, rms = measure(path)
        assert 0.3 <= seconds <= 20, (lang, p.key, seconds)
        assert rms >= RMS_FLOOR, (lang, p.key, rms)


def test_the_measure_rejects_silence(tmp_path):
    from kiosk.voice.backends import wav_bytes
    path = tmp_path / "silence.wav"
    path.write_bytes(wav_bytes(b"\0\0" * 16000, 16000))
    seconds, rms = measure(path)
    assert seconds == 1.0 and rms < RMS_FLOOR


def test_sox_agrees(cache):
    sox = shutil.which("sox")
    assert sox, "sox missing: apt-get install sox (deploy/apt-dev.txt)"
    for lang in LANGS:
        path = cache.render(lang, all_prompts(full=False)[0])
        out = subprocess.run([sox, str(path), "-n", "stat"], capture_output=True, text=True).stderr
        stats = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
        assert 0.3 <= float(stats["Length (seconds)"]) <= 20
        assert float(stats["RMS     amplitude"]) >= RMS_FLOOR


def test_kiosk_speak_renders_one_prompt_and_lists_keys(tmp_path, capsys):
    from kiosk.cli import main
    out = tmp_path / "p.wav"
    assert main(["speak", "--lang", "ja", "--key", "pin.wrong", "--value", "left=2", "--value", "max=3",
                 "--out", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["text"].startswith("暗証番号が違います")
    seconds, rms = measure(out)
    assert 0.3 <= seconds <= 20 and rms >= RMS_FLOOR
    assert main(["speak", "--list"]) == 0
    listed = capsys.readouterr().out.split("\n")
    assert "voice.digit_entered" in listed and "pin.wrong  (left, max)" in listed
    assert main(["speak", "--lang", "en", "--key", "licence.number", "--out", str(out)]) == 40


def test_the_rate_shapes_the_audio(tmp_path):
    from kiosk.voice.prompts import prompt
    p = prompt("take_card.body")
    slow = measure(PromptCache(tmp_path / "a", rate=0.7).render("en", p))[0]
    fast = measure(PromptCache(tmp_path / "b", rate=1.5).render("en", p))[0]
    assert slow > fast * 1.3
