"""Every guidance key has a source row in docs/guidance-sources.md."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from kiosk.config import Config
from kiosk.guidance import TOPICS, Guide, topic_items
from kiosk.i18n import catalog

from .conftest import LANGS, PROFILES, card

DOC = Path(__file__).parents[2] / "docs" / "guidance-sources.md"
DATES = (dt.date(2026, 11, 25), dt.date(2029, 3, 1), dt.date(2035, 1, 1), None)


def documented() -> set[str]:
    return set(re.findall(r"^\| ((?:guide|licence|licence_locked|linkage)\.[a-z0-9_.]+) \|", DOC.read_text(),
                          re.M))


def used_keys() -> set[str]:
    """The key of every item any topic builds, for every shipped card, language and date."""
    keys: set[str] = set()
    cfg = Config()
    for profile in PROFILES:
        status, licence = card(profile)
        for lang in LANGS:
            for today in DATES:
                for topic in TOPICS:
                    keys |= {i.key for i in topic_items(topic, cfg, lang, today, status=status, licence=licence)}
                keys |= {i.key for i in Guide(cfg, lang, today).unlock(["licence", "ic_pin1", "jpki_auth",
                                                                         "jpki_sign", "kenhojo", "juki"])}
    return keys


def test_every_guidance_key_has_a_source_row():
    catalogue = {k for k in catalog("ui", "ja").messages if k.startswith("guide.")}
    missing = (catalogue | used_keys()) - documented()
    assert not missing, f"keys without a row in docs/guidance-sources.md: {sorted(missing)}"


def test_no_row_names_a_key_that_does_not_exist():
    stale = documented() - set(catalog("ui", "ja").messages)
    assert not stale, sorted(stale)


def test_the_check_can_fail():
    """A key that is not in the doc is reported."""
    assert "guide.no_such_key" not in documented()
    assert "guide.lost.keep" in documented()
