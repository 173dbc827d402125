"""Message catalogues: gettext PO files, one per domain and locale, compiled with Babel.

    kiosk/i18n/locale/<locale>/LC_MESSAGES/<domain>.po   e.g. locale/pt_BR/LC_MESSAGES/ui.po
    kiosk/i18n/locale/<domain>.pot                       the template translators start from

Each entry's ``msgctxt`` is the flat dotted key (``pin.tries_left``), its
``msgid`` the English text and a ``#. ja:`` comment the Japanese original (the
leaflet's language).  Values are str.format templates (``"{left} of {max} tries
left"``); a Korean particle after a placeholder is written ``{pin_name:이/가}``
and chosen from the value's last sound.  Entries with ``msgid_plural`` pick
the form by CLDR's plural rule for the locale (see ``Catalog.text``).

Screens, slips and speech never hold literal text; they ask
``catalog(domain, lang).text(key, **values)``.  A missing key falls back to
Japanese, then to the key itself, so a translation gap shows up instead of
crashing.  The runtime reads the compiled ``.mo`` (``python -m kiosk.i18n
compile``) and falls back to the ``.po`` (the only source of the texts; a TOML
contribution is converted into it with ``python -m kiosk.i18n.convert``).
"""

from __future__ import annotations

import functools
import gettext
import string
import struct
import tomllib
from collections.abc import Callable
from pathlib import Path

from kiosk import journal
from kiosk.i18n.korean import PARTICLES, particle

ROOT = Path(__file__).parent
LOCALE_DIR = ROOT / "locale"
DOMAINS = ("ui", "voice")
SOURCE = "en"              # the msgid language (what translators read in Weblate)
FALLBACK = "ja"            # what a resident sees for a key missing in their language

# Locale ids are gettext/Babel ids (``pt_BR``, ``ja@easy``): the PO directory,
# the config value (``kiosk.languages``) and the Babel locale are one string.
LANGUAGE_NAMES = {
    "ja": "日本語", "en": "English", "zh": "中文", "ko": "한국어",
    "vi": "Tiếng Việt", "ne": "नेपाली", "pt_BR": "Português", "fil": "Filipino",
    "ja@easy": "やさしい日本語",
}
# The CLDR locale whose plural rules, dates and fonts a language uses.
CLDR = {"zh": "zh_Hans", "ja@easy": "ja"}


# Spellings of a locale id that legacy TOML file names may use (BCP 47 hyphens).
ALIASES = {"ja-easy": "ja@easy", "ja_easy": "ja@easy", "pt-BR": "pt_BR", "pt_br": "pt_BR", "pt": "pt_BR"}


def locale_id(name: str) -> str:
    """The gettext/Babel id for a file name or config spelling (``ja-easy`` -> ``ja@easy``)."""
    return ALIASES.get(name, name)


def toml_path(domain: str, lang: str) -> Path | None:
    """The legacy TOML catalogue of ``lang`` (any spelling of its id), if there is one."""
    for path in sorted((ROOT / domain).glob("*.toml")):
        if locale_id(path.stem) == lang:
            return path
    return None


def cldr_locale(lang: str) -> str:
    """The Babel locale id for ``lang`` (``ja@easy`` uses Japanese data)."""
    return CLDR.get(lang, lang)


def _flatten(data: dict, prefix: str = "") -> dict[str, str | dict[str, str]]:
    """TOML tables -> dotted keys; a table of CLDR plural categories stays one plural message."""
    out: dict[str, str | dict[str, str]] = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and is_plural_table(value):
            out[full] = {k: str(v) for k, v in value.items()}
        elif isinstance(value, dict):
            out.update(_flatten(value, full))
        else:
            out[full] = str(value)
    return out


PLURAL_TAGS = ("zero", "one", "two", "few", "many", "other")


def is_plural_table(value: dict) -> bool:
    """``{one = "...", other = "..."}`` in a TOML catalogue is one message with plural forms."""
    return "other" in value and all(k in PLURAL_TAGS and isinstance(v, str) for k, v in value.items())


class _Formatter(string.Formatter):
    """str.format plus Korean particles: ``{name:이/가}`` appends the particle that fits ``name``."""

    def format_field(self, value, format_spec: str) -> str:
        if format_spec in PARTICLES:
            text = str(value)
            return text + particle(text, format_spec)
        return super().format_field(value, format_spec)


FORMATTER = _Formatter()


class Catalog:
    """One domain in one language: ``messages`` (key -> template) and plural forms by key."""

    def __init__(self, domain: str, lang: str, messages: dict[str, str], fallback: "Catalog | None",
                 plurals: dict[str, tuple[str, ...]] | None = None,
                 plural_index: Callable[[int], int] | None = None):
        self.domain, self.lang = domain, lang
        self.messages = messages          # plural keys map to their last ("other") form
        self.plurals = plurals or {}
        self.plural_index = plural_index or (lambda n: 0)
        self.fallback = fallback

    def has(self, key: str) -> bool:
        return key in self.messages

    def template(self, key: str, values: dict) -> str:
        """The template for ``key``; a plural key picks its form by the count among ``values``."""
        if key in self.plurals:
            n = plural_count(self.plurals[key][-1], values)
            forms = self.plurals[key]
            if n is not None:
                index = self.plural_index(n)
                return forms[index] if 0 <= index < len(forms) else forms[-1]
            return forms[-1]
        if key in self.messages:
            return self.messages[key]
        if self.fallback is not None and self.fallback.has(key):
            return self.fallback.template(key, values)
        return key

    def text(self, key: str, **values) -> str:
        template = self.template(key, values)
        try:
            return FORMATTER.format(template, **values)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError):
            return template

    __call__ = text


def placeholders(template: str) -> list[str]:
    """The field names of a str.format template, in order (``{left} of {max}`` -> left, max)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError:
        return []


def plural_count(template: str, values: dict) -> int | None:
    """The count a plural message depends on: ``n`` if given, else its first integer placeholder."""
    if isinstance(values.get("n"), int):
        return values["n"]
    for name in placeholders(template):
        value = values.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def po_path(domain: str, lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


def _load_mo(mo: Path) -> tuple[dict, dict, Callable[[int], int]]:
    """A compiled catalogue, read with the standard library (what a release ships and reads)."""
    with mo.open("rb") as f:
        translations = gettext.GNUTranslations(f)
    messages: dict[str, str] = {}
    forms: dict[str, dict[int, str]] = {}
    for key, value in translations._catalog.items():          # type: ignore[attr-defined]
        if isinstance(key, tuple):                            # (ctxt\x04msgid, form index)
            msgid, index = key
            if "\x04" in msgid:
                forms.setdefault(msgid.split("\x04", 1)[0], {})[index] = value
        elif "\x04" in key and value:
            messages[key.split("\x04", 1)[0]] = value
    plurals = {ctx: tuple(by_index[i] for i in sorted(by_index)) for ctx, by_index in forms.items()
               if all(by_index.values())}          # Babel compiles a partly translated plural too
    messages.update({ctx: f[-1] for ctx, f in plurals.items()})
    return messages, plurals, translations.plural                # type: ignore[attr-defined]


def _load_gettext(domain: str, lang: str) -> tuple[dict, dict, Callable[[int], int]] | None:
    """Messages from the compiled .mo (when not older than the .po) or the .po itself (Babel)."""
    po = po_path(domain, lang)
    mo = po.with_suffix(".mo")
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        try:
            return _load_mo(mo)
        except (OSError, struct.error, UnicodeDecodeError) as exc:    # a truncated .mo: read the .po
            journal.log_swallowed("i18n.mo", exc)
    if not po.is_file():
        return None
    from babel.messages import pofile

    with po.open("rb") as f:
        cat = pofile.read_po(f, locale=cldr_locale(lang), domain=domain)
    messages: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for message in cat:
        if not message.id or not message.context or message.fuzzy:
            continue
        if isinstance(message.string, (list, tuple)):
            forms = tuple(message.string)
            if not all(forms):
                continue                       # as compiled: a partly translated plural is not used
            plurals[message.context] = forms
            messages[message.context] = forms[-1]
        elif message.string:
            messages[message.context] = message.string
    return messages, plurals, plural_function(lang)


@functools.lru_cache(maxsize=None)
def plural_function(lang: str) -> Callable[[int], int]:
    """CLDR's plural rule for ``lang`` as a gettext index function (Babel's Plural-Forms)."""
    from babel.core import UnknownLocaleError
    from babel.messages.plurals import get_plural

    try:
        expr = get_plural(cldr_locale(lang)).plural_expr
    except (ValueError, KeyError, UnknownLocaleError):
        return lambda n: 0
    return gettext.c2py(expr)


def _load_toml(domain: str, lang: str) -> tuple[dict, dict, Callable[[int], int]] | None:
    path = toml_path(domain, lang)
    if path is None:
        return None
    flat = _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
    messages: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for key, value in flat.items():
        if isinstance(value, dict):
            forms = tuple(value.get(tag, value["other"]) for tag in plural_tags(lang))
            plurals[key] = forms
            messages[key] = forms[-1]
        else:
            messages[key] = value
    return messages, plurals, plural_function(lang)


@functools.lru_cache(maxsize=None)
def plural_tags(lang: str) -> tuple[str, ...]:
    """The CLDR categories in gettext index order for ``lang`` (en: one, other; ja: other).

    The number of forms is Babel's Plural-Forms header (what the PO files carry).
    """
    from babel import Locale
    from babel.core import UnknownLocaleError
    from babel.messages.plurals import get_plural

    try:
        count = get_plural(cldr_locale(lang)).num_plurals
        tags = Locale.parse(cldr_locale(lang)).plural_form.tags
    except (ValueError, LookupError, UnknownLocaleError):
        return ("other",)
    ordered = tuple(t for t in PLURAL_TAGS if t in tags and t != "other")
    return ordered[:count - 1] + ("other",)


@functools.lru_cache(maxsize=None)
def catalog(domain: str, lang: str) -> Catalog:
    loaded = None
    for load in (_load_gettext, _load_toml):
        try:
            loaded = load(domain, lang)
        except (OSError, ValueError, struct.error, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            # A truncated .mo or a broken file: the next source, then the fallback language.
            journal.log_swallowed("i18n.catalog", exc)
            loaded = None
        if loaded:
            break
    loaded = loaded or ({}, {}, plural_function(lang))
    fallback = None if lang == FALLBACK else catalog(domain, FALLBACK)
    messages, plurals, index = loaded
    return Catalog(domain, lang, messages, fallback, plurals, index)


def languages(domain: str) -> list[str]:
    """Every language with a catalogue for ``domain`` (PO or legacy TOML)."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{domain}.po")}
    found |= {locale_id(p.stem) for p in (ROOT / domain).glob("*.toml")}
    return sorted(found)
