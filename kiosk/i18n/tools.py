"""Catalogue maintenance: compile PO -> MO, and check that every key the code uses exists.

``python -m kiosk.i18n compile``   every locale/*/LC_MESSAGES/*.po -> .mo (Babel; fuzzy skipped)
``python -m kiosk.i18n template``  locale/<domain>.pot from en.po + ja.po (then ``pybabel update``)
``python -m kiosk.i18n extract``   key literals in kiosk/**/*.py that no catalogue has (exit 1)
``python -m kiosk.i18n convert``   TOML -> PO (kiosk/i18n/convert.py)
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from kiosk.i18n import DOMAINS, FALLBACK, LOCALE_DIR, catalog

PACKAGE = Path(__file__).parent.parent
# The packages that put catalogue text in front of a resident (config, linkage and the card
# layer use dotted names for config keys and journal events, not messages).
TEXT_PACKAGES = ("display", "printer", "guidance", "voice")
JOURNAL_CALLS = {"log_swallowed", "event", "emit"}      # their dotted names are journal events


def compile_catalogs(root: Path = LOCALE_DIR) -> list[Path]:
    """Compile every PO under ``root`` to its .mo; returns the .mo files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(root.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as f:
            cat = read_po(f, locale=None, domain=po.stem)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as f:
            write_mo(f, cat, use_fuzzy=False)
        written.append(mo)
    return written


def write_templates(check: bool = False) -> list[Path]:
    """locale/<domain>.pot from en.po (keys, English msgids) and ja.po (the ``#. ja:`` comments):
    what ``pybabel update`` then merges into every language.  Returns the files that changed
    (with ``check``, that would change; nothing is written)."""
    from babel.messages.pofile import read_po

    from kiosk.i18n import SOURCE, po_path
    from kiosk.i18n.convert import _po_bytes, _write, template

    changed: list[Path] = []
    for domain in DOMAINS:
        if not po_path(domain, SOURCE).is_file():
            continue
        with po_path(domain, SOURCE).open("rb") as f:
            en = [m for m in read_po(f) if m.context]
        with po_path(domain, FALLBACK).open("rb") as f:
            ja = {m.context: (m.string[-1] if isinstance(m.string, (list, tuple)) else m.string)
                  for m in read_po(f) if m.context}
        source = {m.context: ({"one": m.id[0], "other": m.id[1]} if isinstance(m.id, (list, tuple)) else m.id)
                  for m in en}
        _write(LOCALE_DIR / f"{domain}.pot", _po_bytes(template(domain, source, ja)), check, changed)
    return changed


@dataclass(frozen=True)
class KeyUse:
    path: str
    line: int
    key: str            # the literal, or an f-string's constant head followed by "…"


def all_keys() -> set[str]:
    return {k for domain in DOMAINS for k in catalog(domain, FALLBACK).messages}


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def key_uses(root: Path = PACKAGE, keys: set[str] | None = None) -> list[KeyUse]:
    """String literals in the code that look like catalogue keys: ``section.name`` whose section
    is one the catalogues have (``pin.``, ``guide.`` ...), and f-strings starting so."""
    keys = all_keys() if keys is None else keys
    sections = {k.split(".", 1)[0] for k in keys}
    uses = []
    for path in sorted(root.rglob("*.py")):
        rel_parts = path.relative_to(root).parts
        if "i18n" in rel_parts[:1] or rel_parts[0] not in TEXT_PACKAGES:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        rel = str(path.relative_to(root.parent))
        inside_f = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        inside_f |= {id(a) for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n.func) in JOURNAL_CALLS
                     for a in n.args}
        for node in ast.walk(tree):
            if id(node) in inside_f:
                continue
            if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = str(node.values[0].value)
                if "." in head and head.split(".", 1)[0] in sections and " " not in head:
                    uses.append(KeyUse(rel, node.lineno, head + "…"))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if ("." in text and " " not in text and text.split(".", 1)[0] in sections
                        and all(part.isidentifier() for part in text.split("."))):
                    uses.append(KeyUse(rel, node.lineno, text))
    return uses


def missing_keys(root: Path = PACKAGE) -> list[KeyUse]:
    """Key literals with no catalogue entry: neither a key, nor a key prefix (a namespace),
    nor (f-string) the head of some key."""
    keys = all_keys()
    out = []
    for use in key_uses(root, keys):
        if use.key.endswith("…"):
            head = use.key[:-1]
            ok = any(k.startswith(head) for k in keys)
        else:
            ok = use.key in keys or any(k.startswith(use.key + ".") for k in keys)
        if not ok:
            out.append(use)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kiosk.i18n", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("compile", help="compile every PO to MO")
    sub.add_parser("template", help="write locale/<domain>.pot from en.po and ja.po")
    sub.add_parser("extract", help="list key literals in the code that no catalogue has")
    sub.add_parser("convert", help="TOML catalogues -> PO (see kiosk/i18n/convert.py)").add_argument(
        "--check", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "compile":
        written = compile_catalogs()
        print(f"compiled {len(written)} catalogue(s)")
        return 0
    if args.cmd == "template":
        changed = write_templates()
        print(f"{len(changed)} template(s) changed")
        return 0
    if args.cmd == "convert":
        from kiosk.i18n.convert import main as convert_main
        return convert_main(["--check"] if args.check else [])
    missing = missing_keys()
    for use in missing:
        print(f"{use.path}:{use.line}: {use.key} is in no catalogue", file=sys.stderr)
    print(f"{len(key_uses())} key use(s), {len(missing)} missing")
    return 1 if missing else 0


# -- the translation audit (tests/i18n/test_catalogues.py) ------------------------------------
# Texts that stay the same in a translation: button labels kept in Latin letters, the card's
# official name, and loanwords Filipino and Portuguese use as English does.
SAME_AS_SOURCE = {"OK", "DEMO", "My Number Card", "Kiosk: {id}", ", tel. {phone}"}
# Keys whose callers pass a choice of values, of which a language uses some (a term with or
# without its Japanese original).  Dates are CLDR's (kiosk.i18n.dates), not a catalogue's.
PLACEHOLDER_CHOICE = {"fmt.term": {"term", "ja"}}


def _letters(text: str) -> str:
    """The text without its placeholders, digits and punctuation: what a translator translates."""
    from kiosk.i18n import FORMATTER

    try:
        bare = "".join(literal for literal, *_ in FORMATTER.parse(text))
    except ValueError:
        bare = text
    return "".join(ch for ch in bare if ch.isalpha())


def audit(template, translation, lang: str) -> list[str]:
    """Problems of one PO catalogue against the template (both Babel catalogues):
    a missing key, a stray or missing placeholder, an untranslated string."""
    from kiosk.i18n import placeholders

    problems = []
    have = {m.context: m for m in translation if m.context}
    for source in template:
        if not source.context:
            continue
        key = source.context
        message = have.get(key)
        if message is None:
            problems.append(f"{lang}: {key}: missing")
            continue
        ids = source.id if isinstance(source.id, (list, tuple)) else (source.id,)
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        want = set(placeholders(ids[-1]))
        for i, form in enumerate(strings):
            if not form:
                problems.append(f"{lang}: {key}: untranslated (empty)")
                continue
            got = set(placeholders(form))
            allowed = PLACEHOLDER_CHOICE.get(key, want)
            needed = set() if key in PLACEHOLDER_CHOICE or i < len(strings) - 1 else want
            if got - allowed:       # a singular form may spell out "one"; a choice needs none
                problems.append(f"{lang}: {key}: stray placeholder {sorted(got - allowed)}")
            if needed - got:
                problems.append(f"{lang}: {key}: missing placeholder {sorted(needed - got)}")
            if (lang != SOURCE_LANG and form in ids and _letters(form)
                    and form not in SAME_AS_SOURCE):
                problems.append(f"{lang}: {key}: untranslated (same as the English source)")
        if message.fuzzy:
            problems.append(f"{lang}: {key}: fuzzy (needs review)")
    return problems


SOURCE_LANG = "en"
