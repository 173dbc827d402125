"""TOML catalogues -> gettext PO (and the POT template): ``python -m kiosk.i18n.convert``.

Reads every kiosk/i18n/<domain>/<lang>.toml and writes
kiosk/i18n/locale/<lang>/LC_MESSAGES/<domain>.po plus locale/<domain>.pot.
``msgctxt`` is the dotted key, ``msgid`` the English text (``msgid_plural``
when English has plural forms), ``#. ja:`` the Japanese original.  A key the
TOML has wins over the PO; an entry only the PO has is kept, so a translator's
work is never dropped.  Idempotent: a file whose messages did not change is not
rewritten (its dates stay).  ``--check`` writes nothing and exits 1 if a PO or
POT is out of date with the TOML (a test runs it).

Kept after the TOML files are gone: the lead reruns it whenever a branch
brings new TOML keys, then deletes the TOML.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import tomllib
from pathlib import Path

from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.pofile import read_po, write_po

from kiosk.i18n import (DOMAINS, FALLBACK, LOCALE_DIR, ROOT, SOURCE, _flatten, cldr_locale, locale_id,
                        placeholders, plural_tags, po_path, toml_path)

PROJECT = "myna-kiosk"
DATE_LINES = (b'"POT-Creation-Date:', b'"PO-Revision-Date:')


def toml_messages(domain: str, lang: str) -> dict[str, str | dict[str, str]]:
    path = toml_path(domain, lang)
    if path is None:
        return {}
    return _flatten(tomllib.loads(path.read_text(encoding="utf-8")))


def toml_languages(domain: str) -> list[str]:
    """Locale ids of the TOML files (``ja-easy.toml`` is ``ja@easy``, ``pt-BR.toml`` ``pt_BR``)."""
    return sorted({locale_id(p.stem) for p in (ROOT / domain).glob("*.toml")})


def _source_id(value: str | dict[str, str] | None, key: str) -> str | tuple[str, str]:
    if value is None:
        return key
    if isinstance(value, dict):
        return (value.get("one", value["other"]), value["other"])
    return value


def _forms(value: str | dict[str, str], lang: str, plural: bool) -> str | tuple[str, ...]:
    if not plural:
        return value["other"] if isinstance(value, dict) else value
    if isinstance(value, str):
        return tuple(value for _ in plural_tags(lang))
    return tuple(value.get(tag, value["other"]) for tag in plural_tags(lang))


def _flags(msgid: str | tuple[str, str]) -> list[str]:
    text = msgid if isinstance(msgid, str) else msgid[1]
    return ["python-brace-format"] if placeholders(text) else []


def _ja_comment(ja: str | dict[str, str] | None) -> list[str]:
    if ja is None:
        return []
    text = ja["other"] if isinstance(ja, dict) else ja
    return [f"ja: {line}" for line in text.splitlines() or [""]]


def _po_bytes(cat: PoCatalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, cat, width=0, sort_output=False, ignore_obsolete=True, include_previous=False,
             omit_header=False)
    return buf.getvalue()


def _undated(data: bytes) -> bytes:
    return b"\n".join(line for line in data.splitlines() if not line.startswith(DATE_LINES))


def _new_catalog(domain: str, lang: str | None) -> PoCatalog:
    return PoCatalog(locale=cldr_locale(lang) if lang else None, domain=domain, project=PROJECT,
                     version="", copyright_holder="myna-kiosk", msgid_bugs_address="",
                     language_team=f"{lang} (myna-kiosk)" if lang else None, fuzzy=False)


def build(domain: str, lang: str, source: dict, ja: dict) -> PoCatalog:
    """The PO catalogue for one language: TOML entries first (in file order), then PO-only ones."""
    cat = _new_catalog(domain, lang)
    mine = toml_messages(domain, lang)
    existing = {}
    path = po_path(domain, lang)
    if path.is_file():
        with path.open("rb") as f:
            existing = {m.context: m for m in read_po(f) if m.context}
    order = list(source) + [k for k in mine if k not in source]
    for key in order:
        plural = isinstance(source.get(key), dict)
        msgid = _source_id(source.get(key, mine.get(key)), key)
        string: str | tuple[str, ...]
        if key in mine:
            string = _forms(mine[key], lang, plural)
        elif key in existing and existing[key].string:
            kept = existing[key].string
            string = kept if isinstance(kept, str) else tuple(kept or ())
        else:
            string = tuple("" for _ in plural_tags(lang)) if plural else ""
        cat.add(msgid, string, context=key, auto_comments=[] if lang == FALLBACK else _ja_comment(ja.get(key)),
                flags=_flags(msgid))
    for key, message in existing.items():
        if key not in order:
            cat[message.id] = message
    return cat


def template(domain: str, source: dict, ja: dict) -> PoCatalog:
    cat = _new_catalog(domain, None)
    for key, value in source.items():
        msgid = _source_id(value, key)
        cat.add(msgid, "" if isinstance(msgid, str) else ("", ""), context=key,
                auto_comments=_ja_comment(ja.get(key)), flags=_flags(msgid))
    return cat


def _write(path: Path, data: bytes, check: bool, changed: list[Path]) -> None:
    if path.is_file() and _undated(path.read_bytes()) == _undated(data):
        return
    changed.append(path)
    if not check:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def convert(check: bool = False, domains: tuple[str, ...] = DOMAINS) -> list[Path]:
    """Write (or with ``check``, list) every PO/POT that differs from the TOML catalogues."""
    changed: list[Path] = []
    for domain in domains:
        langs = toml_languages(domain)
        if not langs:
            continue
        source = toml_messages(domain, SOURCE)
        ja = toml_messages(domain, FALLBACK)
        if not source:
            source = ja
        _write(LOCALE_DIR / f"{domain}.pot", _po_bytes(template(domain, source, ja)), check, changed)
        for lang in langs:
            _write(po_path(domain, lang), _po_bytes(build(domain, lang, source, ja)), check, changed)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kiosk.i18n.convert", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a PO is out of date")
    args = ap.parse_args(argv)
    changed = convert(check=args.check)
    for path in changed:
        print(("out of date: " if args.check else "wrote ") + str(path.relative_to(ROOT.parent.parent)))
    if args.check and changed:
        return 1
    print(f"{len(changed)} file(s) {'out of date' if args.check else 'written'} "
          f"({dt.datetime.now(dt.UTC):%H:%M:%S} UTC)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
