"""Filipino speech: espeak-ng has no Tagalog voice, so fil is read with the Indonesian one plus a
few respellings (docs/voice.md, "Filipino"); the voice per language is configurable."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kiosk.config import LANGUAGES, Config, load_config_safely, parse_config
from kiosk.errors import ConfigError
from kiosk.voice.backends import ESPEAK_VOICES, JTALK_LANGS, RESPELLINGS, EspeakNg, VoiceUnavailable, espeak_voice
from kiosk.voice.cache import PromptCache
from kiosk.voice.prompts import all_prompts, prompt
from tests.voice.test_audio import RMS_FLOOR, measure

ROOT = Path(__file__).resolve().parents[2]


def phonemes(voice: str, text: str) -> str:
    """espeak-ng's phoneme mnemonics for ``text`` (what the voice will say), text on stdin."""
    out = subprocess.run(["espeak-ng", "-q", "-x", "-v", voice], input=text, capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return " ".join(out.split())


def test_filipino_is_read_with_the_indonesian_voice_by_default():
    assert espeak_voice("fil") == "id"
    assert EspeakNg("fil").voice == "id"
    assert PromptCache.for_config(Config().voice).synth("fil").voice == "id"


def test_the_defaults_are_the_ones_docs_state():
    """docs/config.md lists the default voice of every espeak-ng language; docs/voice.md's table says fil -> id."""
    row = next(line for line in (ROOT / "docs" / "config.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| `voice.espeak_voices.<lang>`"))
    documented = dict(re.findall(r"(\w+) `([a-z0-9-]+)`[,\s(]", row.split("defaults", 1)[1]))
    espeak_langs = [lang for lang in LANGUAGES if lang not in JTALK_LANGS]
    assert documented == {lang: ESPEAK_VOICES[lang] for lang in espeak_langs}
    voice_md = (ROOT / "docs" / "voice.md").read_text(encoding="utf-8")
    assert re.search(r"^\| fil \| espeak-ng `id`", voice_md, re.M)


def test_tagalog_words_get_tagalog_sounds():
    """The respellings fix what the Indonesian rules get wrong for Tagalog: ``mga`` = /maˈŋa/ and
    ``ng`` = /naŋ/ (spelled out letter by letter otherwise), and English loans with c = /tʃ/."""
    fil = EspeakNg("fil")
    raw = phonemes("id", "ang mga PIN ng card")
    said = phonemes("id", fil.prepare("ang mga PIN ng card"))
    assert "mg'a" in raw and "Eng'e" in raw and "tS'aRd" in raw          # why the respellings exist
    assert said == "'aN m'aNa p'in n'aN k'aRd"
    # Five pure vowels and ng = /ŋ/ in native words: no English diphthongs or reduced vowels.
    assert phonemes("id", "Binura na ang inyong tinype") == "bin'uR2a n'a _|'aN 'in^oN t'in^p@"
    assert phonemes("id", fil.prepare("Huling subok: kapag mali")) == "h'uliN s'ubok k'apag m'ali"


def test_respellings_are_whole_words_and_keep_the_rest():
    fil = EspeakNg("fil")
    assert fil.prepare("Status ng PIN") == "Status nang pin"
    assert fil.prepare("Pakilagay ang inyong card sa reader") == "Pakilagay ang inyong kard sa rider"
    assert fil.prepare("ang My Number Card") == "ang may namber kard"
    assert fil.prepare("ngayon, mgaa, naka-lock, cards") == "ngayon, mgaa, naka-lock, cards"
    assert EspeakNg("fil", "es").prepare("ang mga card") == "ang mga card"   # only for the voice they fit


def test_every_respelled_word_occurs_in_a_filipino_prompt():
    texts = " ".join(p.text("fil") for p in all_prompts(full=False))
    dead = [word for word, _ in RESPELLINGS[("fil", "id")] if not word.isdigit()   # counts: below
            and not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", texts, re.IGNORECASE)]
    assert dead == []


def test_every_filipino_prompt_is_audible_with_the_chosen_voice(tmp_path):
    assert shutil.which("espeak-ng"), "espeak-ng missing (deploy/apt-dev.txt)"
    cache = PromptCache.for_config(Config().voice, tmp_path)
    assert cache.synth("fil").voice == "id"
    cache.build(["fil"], full=False)
    for p in all_prompts(full=False):
        path = cache.get("fil", p)
        assert path is not None, p.key
        seconds, rms = measure(path)
        assert 0.3 <= seconds <= 20, (p.key, seconds)
        assert rms >= RMS_FLOOR, (p.key, rms)


def test_the_configured_voice_is_used_and_keys_the_cache(tmp_path):
    cfg = parse_config('[voice]\nespeak_voices = {fil = "es", vi = "vi"}\n')
    assert cfg.voice.espeak_voices == {"fil": "es", "vi": "vi"}
    configured = PromptCache.for_config(cfg.voice, tmp_path)
    default = PromptCache.for_config(Config().voice, tmp_path)
    assert configured.synth("fil").voice == "es" and configured.synth("en").voice == "en-us"
    p = prompt("take_card.body")
    assert configured.path("fil", p) != default.path("fil", p)      # a new voice never plays a stale file
    seconds, rms = measure(configured.render("fil", p))
    assert seconds >= 0.3 and rms >= RMS_FLOOR


def test_kiosk_speak_uses_the_configured_voice(tmp_path, capsys):
    from kiosk.cli import main
    conf = tmp_path / "kiosk.toml"
    conf.write_text('[voice]\nespeak_voices = {fil = "zz"}\n', encoding="utf-8")
    out = tmp_path / "p.wav"
    # "zz" is well formed but no installed voice: espeak-ng fails, the command says so (exit != 0).
    assert main(["speak", "--config", str(conf), "--lang", "fil", "--key", "take_card.body",
                 "--out", str(out)]) != 0
    assert not out.exists()
    conf.write_text('[voice]\nespeak_voices = {fil = "id"}\n', encoding="utf-8")   # not the host's config
    assert main(["speak", "--config", str(conf), "--lang", "fil", "--key", "take_card.body",
                 "--out", str(out)]) == 0
    assert measure(out)[1] >= RMS_FLOOR


def test_a_voice_espeak_ng_lacks_is_voice_unavailable():
    with pytest.raises(VoiceUnavailable):
        EspeakNg("fil", "zz").synthesize("Pakikuha ang inyong card", 1.0)


@pytest.mark.parametrize("text", [
    '[voice]\nespeak_voices = {fil = "id; rm -rf /"}\n',     # not a voice id
    '[voice]\nespeak_voices = {fil = 3}\n',
    '[voice]\nespeak_voices = {ja = "ja"}\n',                # Japanese is Open JTalk's
    '[voice]\nespeak_voices = {tl = "id"}\n',                # not a kiosk language
    '[voice]\nespeak_voices = "id"\n',                       # not a table
])
def test_a_bad_espeak_voice_is_a_config_error(text, tmp_path):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "kiosk.toml")
    assert info.value.code == "config_error" and info.value.details["key"] == "voice.espeak_voices"
    conf = tmp_path / "kiosk.toml"
    conf.write_text(text, encoding="utf-8")
    cfg, err = load_config_safely(conf)
    assert err is not None and err.code == "config_error" and cfg.voice.espeak_voices == {}


def test_a_changed_respelling_misses_the_cache(tmp_path, monkeypatch):
    """The cache names a file after the text as the voice is given it: a new respelling re-renders."""
    p = prompt("summary.no_locked")                  # "Walang naka-lock sa inyong mga PIN."
    before = PromptCache(tmp_path).path("fil", p)
    monkeypatch.setitem(RESPELLINGS, ("fil", "id"), (("mga", "manga"),))
    assert PromptCache(tmp_path).path("fil", p) != before


def test_counts_are_said_in_tagalog():
    """The Indonesian voice reads digits in Indonesian (2 = "dua", 6 = "enam"): every count a
    prompt may carry is respelled as its Tagalog number, so "1 sa 3" is "isa sa tatlo"."""
    from kiosk.voice.prompts import VALUE_RANGES

    fil = EspeakNg("fil")
    tries = prompt("pin.tries_left", left=1, max=3).text("fil")
    assert "1" in tries and "3" in tries
    said = phonemes("id", fil.prepare(tries))
    assert "'isa" in said and "t'atlo" in said and "s'atu" not in said and "t'iga" not in said
    assert "'anim" in phonemes("id", fil.prepare(prompt("voice.language_option", pos=6).text("fil")))
    counts = sorted({v for r in VALUE_RANGES.values() for v in r})
    assert all(not any(ch.isdigit() for ch in fil.prepare(str(n))) for n in counts)
    assert EspeakNg("fil", "id+f3").prepare("mga 2") == "manga dalawa"      # a voice variant keeps them
