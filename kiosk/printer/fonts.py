"""Find a CJK font for receipts and check that it really has the glyphs.

python-escpos cannot print Japanese text (it sends GB18030 for kanji and
``?`` for kana), so receipts are Pillow rasters; that needs a font that covers
Japanese, Chinese and Korean.  Debian's fonts-noto-cjk ships one .ttc with a
face per region; we pick the face matching the language (JP/SC/KR).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

from kiosk.errors import KioskError

ENV_FONT = "KIOSK_RECEIPT_FONT"
KNOWN_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)
# The face family to prefer per receipt language (regional glyph shapes).
REGION = {"ja": "JP", "en": "JP", "zh": "SC", "ko": "KR"}
PROBE = "暗証番号あア한글中文"          # must render in every language's face
MISSING = "\U0010FFFD"                  # private use: no font maps it, so it shows .notdef


class FontNotFoundError(KioskError):
    """No usable CJK font: the kiosk cannot render receipts."""

    code = "config_error"


def _fc_match() -> str | None:
    if not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", ":lang=ja"], capture_output=True,
                             text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def candidates() -> list[str]:
    """Where to look, in order: $KIOSK_RECEIPT_FONT, Debian's paths, fontconfig."""
    out = []
    if os.environ.get(ENV_FONT):
        out.append(os.environ[ENV_FONT])
    out.extend(KNOWN_PATHS)
    match = _fc_match()
    if match:
        out.append(match)
    return out


def _ink(font: ImageFont.FreeTypeFont, text: str) -> Image.Image:
    left, top, right, bottom = font.getbbox(text)
    # FreeType boxes are whole pixels (Pillow types them float): int() only tells mypy so
    img = Image.new("L", (max(1, int(right - left) + 2), max(1, int(bottom - top) + 2)), 0)
    ImageDraw.Draw(img).text((-left + 1, -top + 1), text, font=font, fill=255)
    return img


def renders(font: ImageFont.FreeTypeFont, text: str) -> bool:
    """True when every non-space character of ``text`` draws ink that is not .notdef (tofu)."""
    tofu = _ink(font, MISSING)
    for ch in text:
        if ch.isspace():
            continue
        img = _ink(font, ch)
        if img.getbbox() is None:
            return False
        if img.size == tofu.size and ImageChops.difference(img, tofu).getbbox() is None:
            return False
    return True


@functools.lru_cache(maxsize=None)
def font_file() -> str:
    """The first candidate that exists and renders the probe text."""
    tried = []
    for path in candidates():
        if path in tried:
            continue
        tried.append(path)
        if not Path(path).is_file():
            continue
        try:
            font = ImageFont.truetype(path, 24, index=0)
        except OSError:
            continue
        if renders(font, PROBE):
            return path
    raise FontNotFoundError(
        "no CJK font for receipts: install Debian's fonts-noto-cjk "
        f"(apt-get install fonts-noto-cjk) or set ${ENV_FONT}; tried {', '.join(tried)}")


@functools.lru_cache(maxsize=None)
def face_index(path: str, lang: str) -> int:
    """The face of a .ttc collection matching the language's region (0 if none)."""
    want = REGION.get(lang, "JP")
    for index in range(16):
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0]
        except OSError:
            break
        if family is not None and family.endswith(f"CJK {want}") and "Mono" not in family:
            return index
    return 0


@functools.lru_cache(maxsize=64)
def load(lang: str, size: int) -> ImageFont.FreeTypeFont:
    """The slip font; languages beyond ja/en/zh/ko draw each script run with its Noto face,
    shaped by libraqm (Devanagari, Vietnamese: kiosk/text/shaped.py)."""
    from kiosk.text.fonts import CJK_LANGS
    if lang not in CJK_LANGS:
        from kiosk.text.shaped import SlipFont
        return SlipFont(lang, size)
    path = font_file()
    return ImageFont.truetype(path, size, index=face_index(path, lang))
