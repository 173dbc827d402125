"""The PO catalogues: complete, with the source's placeholders, translated, and what the code uses.

Each check runs on the real catalogues (no problem allowed) and on a broken copy
(the problem must be found), so a check that stopped working fails here.
"""

from __future__ import annotations

import io
import shutil

import pytest
from babel.messages.pofile import read_po, write_po

from kiosk.i18n import DOMAINS, LOCALE_DIR, catalog, languages, po_path
from kiosk.i18n import convert as conv
from kiosk.i18n import tools


def _read(path):
    with path.open("rb") as f:
        return read_po(f)


def _roundtrip(cat):
    buf = io.BytesIO()
    write_po(buf, cat)
    buf.seek(0)
    return read_po(buf)


PAIRS = [(d, lang) for d in DOMAINS for lang in languages(d)]


@pytest.mark.parametrize("domain,lang", PAIRS)
def test_every_catalogue_is_complete_and_translated(domain, lang):
    template = _read(LOCALE_DIR / f"{domain}.pot")
    assert tools.audit(template, _read(po_path(domain, lang)), lang) == []


def test_the_audit_finds_a_missing_key_a_bad_placeholder_and_an_untranslated_string():
    template = _read(LOCALE_DIR / "ui.pot")
    ko = _read(po_path("ui", "ko"))
    assert tools.audit(template, ko, "ko") == []
    broken = _roundtrip(ko)
    drop = next(m for m in broken if m.context == "attract.title")
    broken.delete(drop.id, context="attract.title")
    stray = next(m for m in broken if m.context == "pin.tries_left")
    stray.string = stray.string.replace("{max}", "{maximum}")
    same = next(m for m in broken if m.context == "reading.title")
    same.string = same.id
    empty = next(m for m in broken if m.context == "btn.back")
    empty.string = ""
    found = "\n".join(tools.audit(template, broken, "ko"))
    assert "attract.title: missing" in found
    assert "pin.tries_left: stray placeholder ['maximum']" in found
    assert "pin.tries_left: missing placeholder ['max']" in found
    assert "reading.title: untranslated (same as the English source)" in found
    assert "btn.back: untranslated (empty)" in found


def test_no_toml_catalogue_waits_to_be_converted():
    """The PO files are the source; a TOML contribution is converted (python -m kiosk.i18n.convert)."""
    assert not list((LOCALE_DIR.parent / "ui").glob("*.toml"))
    assert conv.convert(check=True) == []


def test_the_template_agrees_with_the_english_and_japanese_catalogues():
    assert tools.write_templates(check=True) == []


def test_convert_is_idempotent_and_keeps_po_only_entries(tmp_path, monkeypatch):
    root = tmp_path / "i18n"
    shutil.copytree(LOCALE_DIR.parent, root, ignore=shutil.ignore_patterns("*.mo", "__pycache__"))
    import kiosk.i18n as i18n

    monkeypatch.setattr(conv, "ROOT", root)
    monkeypatch.setattr(conv, "LOCALE_DIR", root / "locale")
    monkeypatch.setattr(i18n, "LOCALE_DIR", root / "locale")
    monkeypatch.setattr(i18n, "ROOT", root)
    assert conv.convert() == []                       # nothing changed: nothing written
    toml = root / "ui" / "en.toml"                   # a contribution sent as TOML (the tree has none)
    toml.parent.mkdir(parents=True, exist_ok=True)
    toml.write_text('[zz_test]\nhello = "Hello {name}"\n', encoding="utf-8")
    changed = {p.name for p in conv.convert()}
    assert changed == {"ui.pot", "ui.po"}
    en = _read(root / "locale" / "en" / "LC_MESSAGES" / "ui.po")
    assert next(m for m in en if m.context == "zz_test.hello").string == "Hello {name}"
    assert next(m for m in en if m.context == "btn.back").string == "Back"    # PO-only entries are kept
    assert conv.convert() == []
    # a TOML file named with BCP 47 hyphens becomes the gettext id's PO
    (root / "ui" / "ja-easy.toml").write_text('[zz_test]\nhello = "こんにちは {name}"\n', encoding="utf-8")
    conv.convert()
    easy = _read(root / "locale" / "ja@easy" / "LC_MESSAGES" / "ui.po")
    assert next(m for m in easy if m.context == "zz_test.hello").string == "こんにちは {name}"
    assert "ja@easy" in i18n.languages("ui")


def test_every_key_the_code_uses_exists():
    missing = tools.missing_keys()
    assert missing == [], "\n".join(f"{u.path}:{u.line}: {u.key}" for u in missing)
    assert len(tools.key_uses()) > 200          # the scan does see the screens, slips and guidance


def test_the_key_scan_reports_a_key_no_catalogue_has(tmp_path):
    pkg = tmp_path / "kiosk" / "display"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text('t("pin.tries_left")\nt("pin.no_such_key")\nt(f"pin.name.{x}")\n'
                              't(f"pin.nothing_{x}")\nlog_swallowed("pin.event", e)\n')
    keys = {u.key for u in tools.missing_keys(tmp_path / "kiosk")}
    assert keys == {"pin.no_such_key", "pin.nothing_…"}


def test_runtime_reads_the_compiled_catalogue(tmp_path):
    """The .mo (what the wheel ships) and the .po give the same messages."""
    import kiosk.i18n as i18n

    written = tools.compile_catalogs()
    assert {p.with_suffix(".po") for p in written} == set(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))
    for domain, lang in PAIRS:
        from_mo = i18n._load_gettext(domain, lang)
        with po_path(domain, lang).open("rb") as f:
            po = read_po(f)
        assert from_mo is not None
        messages = {m.context: (m.string[-1] if isinstance(m.string, (list, tuple)) else m.string)
                    for m in po if m.context}
        assert from_mo[0] == messages, (domain, lang)
    assert catalog("ui", "ja").text("btn.back")


def test_a_broken_compiled_catalogue_falls_back_instead_of_crashing(tmp_path, monkeypatch):
    """A truncated .mo (a half-written update, a bad SD card) is journaled and the .po is read."""
    import shutil

    import kiosk.i18n as i18n
    root = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, root)
    mo = root / "en" / "LC_MESSAGES" / "ui.mo"
    mo.write_bytes(b"\xde\x12\x04\x95 truncated")
    monkeypatch.setattr(i18n, "LOCALE_DIR", root)
    i18n.catalog.cache_clear()
    try:
        assert i18n.catalog("ui", "en").text("btn.back") == "Back"
        assert i18n.catalog("ui", "xx").text("btn.ok") == "OK"       # an unknown locale: the fallback
    finally:
        i18n.catalog.cache_clear()
