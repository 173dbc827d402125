"""Which Noto face draws which part of a text: one selection for the screen and the slip.

No single font covers every script a catalogue line mixes (a Nepali sentence
carries Latin "PIN" and the Japanese term マイナ免許証), so a line is split into
runs by script and each run is drawn with its face, shaped by HarfBuzz
(pygame-ce's SDL_ttf on screen, Pillow's libraqm on slips: kiosk/text/shaped.py).

Faces come from Debian packages (deploy/apt-*.txt):

* CJK (kana, kanji, hangul): fonts-noto-cjk, NotoSansCJK-Regular.ttc, face per
  region (JP / KR / SC) so a character looks the way its readers expect;
* Latin, including Vietnamese stacked diacritics: fonts-noto-core, NotoSans-Regular.ttf;
* Devanagari (Nepali conjuncts): fonts-noto-core, NotoSansDevanagari-Regular.ttf.

ja, en, zh, ko and ja@easy draw Latin with the CJK face as they always did
(one face for the whole line); the other languages use Noto Sans for Latin.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

CJK_FILES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc")
LATIN_FILES = ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",)
DEVANAGARI_FILES = ("/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf",)
FILES = {"cjk": CJK_FILES, "latin": LATIN_FILES, "deva": DEVANAGARI_FILES}
FC_LANG = {"cjk": "ja", "latin": "vi", "deva": "ne"}          # fontconfig fallback per script
PACKAGES = {"cjk": "fonts-noto-cjk", "latin": "fonts-noto-core", "deva": "fonts-noto-core"}

# The face of the CJK collection per language (Noto Sans CJK .ttc order: JP, KR, SC, TC, HK).
CJK_FACE = {"ko": 1, "zh": 2}
# Languages whose whole line is drawn with the CJK face (Latin included).
CJK_LANGS = ("ja", "en", "zh", "ko", "ja@easy")
# HarfBuzz script per run (ISO 15924): SDL_ttf and libraqm shape with it.
HB_SCRIPT = {"latin": "Latn", "deva": "Deva", "cjk": "Hani"}
# HarfBuzz/OpenType language per kiosk language (language-specific forms).
HB_LANGUAGE = {"ja": "ja", "ja@easy": "ja", "en": "en", "zh": "zh-Hans", "ko": "ko", "vi": "vi", "ne": "ne",
               "pt_BR": "pt-BR", "fil": "fil"}


class FontMissing(LookupError):
    """A script's face is not installed: name the Debian package."""


@dataclass(frozen=True)
class FaceSpec:
    """A font file and the face in it (a .ttc holds several)."""

    path: str
    index: int
    script: str              # "cjk", "latin" or "deva": the HarfBuzz script of its runs


def _fc_match(lang: str) -> str | None:
    if not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", f":lang={lang}"], capture_output=True, text=True,
                             timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


@functools.lru_cache(maxsize=None)
def font_path(script: str) -> str:
    """The installed file for ``script``: Debian's path, else what fontconfig offers."""
    for path in FILES[script]:
        if Path(path).is_file():
            return path
    found = _fc_match(FC_LANG[script])
    if found and Path(found).is_file():
        return found
    raise FontMissing(f"no {script} font: apt-get install {PACKAGES[script]}")


@functools.lru_cache(maxsize=None)
def face(lang: str, script: str) -> FaceSpec:
    """The face that draws ``script`` runs in ``lang``.  A missing Latin or Devanagari face
    falls back to the CJK one (journaled once): Devanagari then shows as boxes, but the
    kiosk keeps running and the technician sees which package to install."""
    if script != "cjk" and not (script == "latin" and lang in CJK_LANGS):
        try:
            return FaceSpec(font_path(script), 0, script)
        except FontMissing as exc:
            from kiosk import journal
            journal.log_swallowed("text.fonts", exc)
    path = font_path("cjk")
    return FaceSpec(path, CJK_FACE.get(lang, 0) if path.endswith(".ttc") else 0, "cjk")


def script_of(ch: str) -> str | None:
    """``deva``, ``cjk`` or ``latin`` for a character; None for one that joins its neighbours
    (spaces, ASCII digits and punctuation, combining marks, joiners)."""
    cp = ord(ch)
    if 0x0900 <= cp <= 0x097F or 0xA8E0 <= cp <= 0xA8FF or 0x1CD0 <= cp <= 0x1CFF:
        return "deva"
    if (0x1100 <= cp <= 0x11FF or 0x2E80 <= cp <= 0x2FDF or 0x3000 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7AF
            or 0xF900 <= cp <= 0xFAFF or 0xFE30 <= cp <= 0xFE4F or 0xFF00 <= cp <= 0xFFEF or cp >= 0x20000):
        return "cjk"
    if ch.isspace() or (cp < 0x80 and not ch.isalpha()) or 0x2000 <= cp <= 0x206F:
        return None
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return None
    return "latin"


def runs(text: str, lang: str) -> list[tuple[FaceSpec, str]]:
    """``text`` as consecutive (face, substring) runs; neutral characters join the run before them
    (or, at the start, the one after).  ja/en/zh/ko lines are one CJK run."""
    if not text:
        return []
    if lang in CJK_LANGS and not any(script_of(ch) == "deva" for ch in text):
        return [(face(lang, "cjk"), text)]
    scripts = [script_of(ch) for ch in text]
    first = next((s for s in scripts if s), "latin")
    out: list[tuple[str, list[str]]] = []
    current = first
    for ch, script in zip(text, scripts):
        script = script or current
        if lang in CJK_LANGS and script == "latin":
            script = "cjk"
        if script != "cjk" and not ch.isspace() and not covers(face(lang, script), ch):
            script = "cjk"                   # ☎ ① ※ ▶: symbols only the CJK face has
        if out and out[-1][0] == script:
            out[-1][1].append(ch)
        else:
            out.append((script, [ch]))
        current = script
    return [(face(lang, script), "".join(chars)) for script, chars in out]


NOT_A_CHARACTER = "\U0010FFFD"            # private use: every font draws it as .notdef


@functools.lru_cache(maxsize=4096)
def covers(spec: FaceSpec, ch: str) -> bool:
    """True when ``spec``'s face has a glyph for ``ch`` (its drawing is not the .notdef box)."""
    from PIL import Image

    font = _probe_font(spec)
    mask = font.getmask(ch)
    if mask.getbbox() is None:
        return unicodedata.category(ch) in ("Mn", "Me", "Cf", "Zs")      # marks and joiners draw nothing
    notdef = font.getmask(NOT_A_CHARACTER)
    blank = Image.new("L", (1, 1))
    return not (mask.size == notdef.size and blank._new(mask).tobytes() == blank._new(notdef).tobytes())


@functools.lru_cache(maxsize=None)
def _probe_font(spec: FaceSpec):
    from PIL import ImageFont

    return ImageFont.truetype(spec.path, 16, index=spec.index)


def primary(lang: str) -> FaceSpec:
    """The face most of a ``lang`` line is drawn with (its line height and baseline)."""
    if lang in CJK_LANGS:
        return face(lang, "cjk")
    return face(lang, "deva" if lang == "ne" else "latin")
