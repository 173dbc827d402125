"""Synthesisers behind one small interface: text in, WAV bytes out.

Open JTalk (Debian ``open-jtalk`` + ``open-jtalk-mecab-naist-jdic`` + an HTS
voice) speaks Japanese; espeak-ng (Debian ``espeak-ng``) the other languages.
Both run as subprocesses, with the text on stdin or in a private temp file,
never in argv.  ``ToneSynth`` is the fake: a tone as long as the text, for
tests of the machinery that do not judge the voice.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
import tempfile
import wave
from array import array
from pathlib import Path
from typing import Callable, Mapping, Protocol

from kiosk.errors import KioskError

NAIST_JDIC = Path("/var/lib/mecab/dic/open-jtalk/naist-jdic")
# Where an HTS voice is looked for, in order (docs/voice.md).
HTS_VOICES = (
    Path("/var/lib/kiosk/voice/mei_normal.htsvoice"),          # kiosk speak --fetch-voice (install.sh)
    Path("/usr/share/hts-voice/nitech-jp-atr503-m001/nitech_jp_atr503_m001.htsvoice"),  # Debian non-free
    Path(__file__).resolve().parents[2] / ".cache" / "voice" / "mei_normal.htsvoice",   # make setup
)
# kiosk language -> espeak-ng voice; `[voice] espeak_voices` overrides it per language.
# espeak-ng has no Tagalog voice: Indonesian reads Filipino best (docs/voice.md, "Filipino").
ESPEAK_VOICES = {"en": "en-us", "zh": "cmn", "ko": "ko", "vi": "vi", "ne": "ne", "pt-BR": "pt-br",
                 "pt_BR": "pt-br", "fil": "id"}         # pt_BR: the catalogue id (kiosk/i18n/locale/pt_BR)
# (language, voice) -> whole-word respellings applied before synthesis: the Indonesian rules
# spell out "ng" and "mga" letter by letter and read English loanwords with c = /tʃ/.
RESPELLINGS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("fil", "id"): (
        ("ng", "nang"), ("mga", "manga"), ("My Number Card", "may namber kard"),
        ("number key", "namber ki"), ("Mynaportal", "maynaportal"), ("PIN", "pin"), ("OK", "o-key"),
        ("card", "kard"), ("reader", "rider"), ("certificate", "sertipikeyt"), ("user", "yuser"),
        ("session", "sesyon"), ("time-out", "taym-awt"), ("online", "onlayn"), ("renewal", "rinyuwal"),
        ("course", "kors"), ("checklist", "tseklist"), ("smartphone", "ismartfon"),
        ("license", "laysens"), ("counter", "kawnter"), ("available", "aveylabol"), ("tinype", "tinaip"),
        # Counts: the Indonesian voice would say 2 as "dua", 6 as "enam"; Tagalog numbers (0-16,
        # every count a prompt may carry: kiosk/voice/prompts.py VALUE_RANGES).
        *zip((str(n) for n in range(17)),
             ("sero", "isa", "dalawa", "tatlo", "apat", "lima", "anim", "pito", "walo", "siyam", "sampu",
              "labing-isa", "labindalawa", "labintatlo", "labing-apat", "labinlima", "labing-anim")),
    ),
}
JTALK_LANGS = ("ja", "ja@easy")
TIMEOUT = 30.0


class VoiceUnavailable(KioskError):
    code = "voice_unavailable"


class Synth(Protocol):
    name: str

    def synthesize(self, text: str, rate: float) -> bytes:
        """WAV bytes of ``text`` at ``rate`` (1.0 = normal speed)."""


def hts_voice() -> Path | None:
    env = os.environ.get("KIOSK_HTS_VOICE")
    for path in ([Path(env)] if env else []) + list(HTS_VOICES):
        if path.is_file():
            return path
    return None


class OpenJTalk:
    name = "open_jtalk"

    def __init__(self, voice: Path | None = None, dictionary: Path = NAIST_JDIC):
        binary = shutil.which("open_jtalk")
        self.voice = voice or hts_voice()
        self.dictionary = dictionary
        if not binary:
            raise VoiceUnavailable("open_jtalk is not installed (Debian package open-jtalk)")
        self.binary: str = binary
        if not (dictionary / "sys.dic").exists():
            raise VoiceUnavailable(f"no Open JTalk dictionary in {dictionary} (open-jtalk-mecab-naist-jdic)")
        if self.voice is None:
            raise VoiceUnavailable("no HTS voice found; run `kiosk speak --fetch-voice` (docs/voice.md)")

    def synthesize(self, text: str, rate: float) -> bytes:
        with tempfile.TemporaryDirectory(prefix="kiosk-voice-") as tmp:
            src, out = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
            src.write_text(text + "\n", encoding="utf-8")
            _run([self.binary, "-x", str(self.dictionary), "-m", str(self.voice), "-r", f"{rate:.2f}",
                  "-ow", str(out), str(src)])
            return out.read_bytes()


class EspeakNg:
    name = "espeak-ng"

    def __init__(self, lang: str, voice: str | None = None):
        binary = shutil.which("espeak-ng")
        if not binary:
            raise VoiceUnavailable("espeak-ng is not installed (Debian package espeak-ng)")
        self.binary: str = binary
        self.voice = voice or espeak_voice(lang)
        # by the voice without its "+variant": "id+f3" reads Filipino as "id" does
        self._respell = _respeller(RESPELLINGS.get((lang, self.voice.split("+")[0]), ()))

    def prepare(self, text: str) -> str:
        """The text as this voice is given it (the cache hashes this, so a new respelling re-renders)."""
        return self._respell(text)

    def synthesize(self, text: str, rate: float) -> bytes:
        wpm = max(80, min(400, int(round(175 * rate))))
        with tempfile.TemporaryDirectory(prefix="kiosk-voice-") as tmp:   # --stdout leaves no length in the header
            out = Path(tmp) / "out.wav"
            _run([self.binary, "-v", self.voice, "-s", str(wpm), "-w", str(out)],
                 self.prepare(text).encode("utf-8"))
            return out.read_bytes()


def espeak_voice(lang: str, overrides: Mapping[str, str] | None = None) -> str:
    """The espeak-ng voice for a kiosk language: the config's override, else ESPEAK_VOICES."""
    return (overrides or {}).get(lang) or ESPEAK_VOICES.get(lang, lang)


def _respeller(pairs: tuple[tuple[str, str], ...]) -> Callable[[str], str]:
    if not pairs:
        return lambda text: text
    table = {word.casefold(): spelled for word, spelled in pairs}
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(w) for w, _ in pairs) + r")(?![\w-])",
                         re.IGNORECASE)
    return lambda text: pattern.sub(lambda m: table[m.group(1).casefold()], text)


class ToneSynth:
    """The fake: 0.1 s of tone per word-ish chunk, so length follows the text."""
    name = "tone"

    def synthesize(self, text: str, rate: float) -> bytes:
        seconds = max(0.3, min(10.0, len(text) * 0.06 / rate))
        pcm = array("h", (int(8000 * math.sin(2 * math.pi * 440 * i / 16000))
                          for i in range(int(16000 * seconds))))
        return wav_bytes(pcm.tobytes(), 16000)


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def _run(argv: list[str], stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VoiceUnavailable(f"{Path(argv[0]).name} failed: {type(exc).__name__}") from None
    if proc.returncode != 0:
        raise VoiceUnavailable(f"{Path(argv[0]).name} exited with {proc.returncode}")
    return proc.stdout


def synth_for(lang: str, espeak_voices: Mapping[str, str] | None = None) -> Synth:
    """The real synthesiser for a kiosk language; VoiceUnavailable if it is not installed."""
    return OpenJTalk() if lang in JTALK_LANGS else EspeakNg(lang, espeak_voice(lang, espeak_voices))
