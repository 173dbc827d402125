"""What the kiosk may say: prompt keys and the few values a prompt may carry.

A prompt is a catalogue message key (``catalog("ui", lang)``, or the small
``voice`` catalogue for phrases only the voice needs, such as "one digit
entered").  The speech API takes a ``Prompt`` and nothing else, and a
``Prompt`` refuses any key not listed here and any value that is not a small
whitelisted count.  So free text, a PIN digit, a name, an address or a date
cannot reach a synthesiser: the structure forbids it, not a filter.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from kiosk.i18n import catalog
from kiosk.nfc.pins import PIN_SPECS

# value name -> the integers it may take (counts of tries and of characters typed).
MAX_TRIES = tuple(sorted({spec.max_tries for spec in PIN_SPECS.values()}))
VALUE_RANGES: dict[str, range | tuple[int, ...]] = {
    "left": range(0, max(MAX_TRIES) + 1),     # tries left on a PIN counter
    "max": MAX_TRIES,                         # that counter's maximum
    "n": range(0, 17),                        # how many PINs are locked / characters typed
    "pos": range(1, 10),                      # a language's number key on the chooser
}

# Each screen's main instruction, every error and every result.
SCREEN_KEYS = (
    "attract.place_card", "attract.hint", "reading.body", "summary.title", "summary.no_locked",
    "summary.locked", "menu.title", "pin_status.title", "pin_entry.title", "licence_locked.title",
    "licence_locked.body", "licence.title", "renewal.title", "lost.title", "linkage.title",
    "linkage.checking", "linkage.ok", "linkage.refused",
    "linkage.s1.body", "linkage.s2.body", "linkage.s3.body", "linkage.s5.body",
    "linkage.s6.body", "linkage.s8.body", "linkage.s9.body",
    "take_card.body", "timed_out.title", "timed_out.body", "card_removed.title", "card_removed.body",
    "card_error.title", "card_error.take", "service.title", "service.body",
    "still_there.title", "still_there.body", "pin_check.title", "pin_check.costs_try", "nav.staff_called",
)
PIN_KEYS = ("pin.tries_left", "pin.warn_few", "pin.warn_last", "pin.wrong", "pin.format",
            "pin.confirm_last")
ERROR_KEYS = (
    "card.error.unsupported_card", "card.error.no_licence", "card.error.card_error",
    "card_not_responding.body",
    "linkage.error.gateway_error", "linkage.error.not_available", "linkage.error.not_configured",
    "linkage.error.unreachable", "linkage.error.slow", "linkage.error.server_error",
    "linkage.error.refused", "linkage.error.terms_changed", "linkage.error.protocol",
    "linkage.preflight.jpki_auth_locked", "linkage.preflight.jpki_sign_locked",
    "receipt.printing", "receipt.done", "receipt.unavailable",
)
# Phrases only the voice needs (kiosk/i18n/voice/<lang>.toml).
VOICE_KEYS = ("voice.digit_entered", "voice.digit_deleted", "voice.cleared", "voice.on", "voice.off",
              "voice.choose_language",     # the language chooser (screen "language")
              "voice.language_option")     # "For English, press 2": said by each language in its own voice
PROMPT_KEYS = SCREEN_KEYS + PIN_KEYS + ERROR_KEYS + VOICE_KEYS

_FIELD = re.compile(r"{(\w+)}")


class PromptRefused(ValueError):
    """A prompt with an unknown key or a value that is not a whitelisted count."""


def domain(key: str) -> str:
    return "voice" if key.startswith("voice.") else "ui"


def fields_of(key: str) -> tuple[str, ...]:
    """The placeholders of a prompt's Japanese template (all languages share them)."""
    return tuple(dict.fromkeys(_FIELD.findall(catalog(domain(key), "ja").messages.get(key, ""))))


@dataclass(frozen=True)
class Prompt:
    """One thing to say: a listed key plus whitelisted counts, checked on creation."""
    key: str
    values: tuple[tuple[str, int], ...] = ()

    def __post_init__(self):
        if self.key not in PROMPT_KEYS:
            raise PromptRefused(f"not a prompt key: {self.key!r}")
        wanted = set(fields_of(self.key))
        names = [name for name, _ in self.values]
        if set(names) != wanted or len(names) != len(wanted):
            raise PromptRefused(f"prompt {self.key!r} takes exactly {sorted(wanted)}")
        for name, value in self.values:
            if type(value) is not int or value not in VALUE_RANGES[name]:
                raise PromptRefused(f"prompt {self.key!r}: {name} is not an allowed count")

    def text(self, lang: str) -> str:
        return spoken_text(self.key, lang, dict(self.values))


def prompt(key: str, **values: int) -> Prompt:
    return Prompt(key, tuple(sorted(values.items())))


def spoken_text(key: str, lang: str, values: dict[str, int] | None = None) -> str:
    """The catalogue sentence, without the marks a synthesiser reads out or stumbles on."""
    text = catalog(domain(key), lang).text(key, **(values or {}))
    text = re.sub(r"[●○×…▲▼\"“”「」]", " ", text)
    if lang == "ja@easy":           # 暗証番号（あんしょうばんごう）: the reading is for the eye, not said twice
        text = re.sub(r"（[ぁ-ゖー 　]+）", "", text)
    text = text.replace("（", "、").replace("）", "、") if lang.startswith("ja") else text
    return re.sub(r"\s+", " ", text).strip(" 、")


def value_sets(key: str):
    """Every allowed combination of a prompt's values (what the cache renders)."""
    names = fields_of(key)
    if set(names) == {"left", "max"}:
        for mx in MAX_TRIES:
            for left in range(0, mx + 1):
                yield {"left": left, "max": mx}
        return
    if not names:
        yield {}
        return
    for combo in itertools.product(*(VALUE_RANGES[n] for n in names)):
        yield dict(zip(names, combo))


def sample_values(key: str) -> dict[str, int]:
    """One representative combination (tests render each key once per language)."""
    return {name: (VALUE_RANGES[name][-1] if name == "max" else 2) for name in fields_of(key)}


def all_prompts(full: bool = True) -> list[Prompt]:
    out = []
    for key in PROMPT_KEYS:
        combos = value_sets(key) if full else [sample_values(key)]
        out += [prompt(key, **v) for v in combos]
    return out
