"""Message catalogues: one TOML file per domain and language.

    kiosk/i18n/<domain>/<lang>.toml     e.g. kiosk/i18n/ui/en.toml

Keys are flat dotted ids (``pin.tries_left``); values are str.format
templates (``"{left} of {max} tries left"``).  Screens and receipts never
hold literal text; they ask ``catalog(domain, lang).text(key, **values)``.
A missing key falls back to Japanese, then to the key itself, so a
translation gap shows up instead of crashing.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent
LANGUAGE_NAMES = {"ja": "日本語", "en": "English", "zh": "中文", "ko": "한국어",
                  "vi": "Tiếng Việt", "ne": "नेपाली", "pt_BR": "Português", "fil": "Filipino",
                  "ja-easy": "やさしい にほんご"}
FALLBACK = "ja"


def _flatten(data: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flatten(value, full))
        else:
            out[full] = str(value)
    return out


class Catalog:
    def __init__(self, domain: str, lang: str, messages: dict[str, str], fallback: "Catalog | None"):
        self.domain, self.lang = domain, lang
        self.messages = messages
        self.fallback = fallback

    def has(self, key: str) -> bool:
        return key in self.messages

    def text(self, key: str, **values) -> str:
        template = self.messages.get(key)
        if template is None:
            template = self.fallback.messages.get(key, key) if self.fallback else key
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return template

    __call__ = text


@functools.lru_cache(maxsize=None)
def catalog(domain: str, lang: str) -> Catalog:
    def load(code: str) -> dict[str, str]:
        path = ROOT / domain / f"{code}.toml"
        if not path.exists():
            return {}
        return _flatten(tomllib.loads(path.read_text(encoding="utf-8")))

    fallback = None if lang == FALLBACK else catalog(domain, FALLBACK)
    return Catalog(domain, lang, load(lang), fallback)


def languages(domain: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / domain).glob("*.toml"))
