"""Linkage readiness from facts already read: exactly the problems each shipped card has, no PIN try."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.config import Config, parse_config
from kiosk.guidance import Guide, Item, topic_items

from .conftest import card, screen_text, session

PROBLEMS = {
    "resident": [], "licence-locked": [], "licence-no-pin": [], "licence-last-try": [],
    "jpki-locked": ["guide.ready.pin_locked"], "cert-expired": ["guide.ready.cert_expired"],
    "minor": ["guide.ready.no_sign_cert"], "myna-plain": ["guide.ready.no_licence"],
    "ic-licence": ["guide.ready.not_my_number_card"],
}


@pytest.mark.parametrize("profile", sorted(PROBLEMS))
def test_readiness_lists_exactly_the_problems_of_the_card(profile):
    status, _ = card(profile)
    items = topic_items("readiness", Config(), "en", dt.date(2026, 11, 25), status=status)
    problems = [i.key for i in items if i.kind == "warning" and i.tone == "danger"]
    assert problems == PROBLEMS[profile]
    verdict = [i for i in items if i.key in ("guide.ready.problems", "guide.ready.all_ok")]
    assert len(verdict) == 1 and (verdict[0].key == "guide.ready.all_ok") == (not problems)


def test_every_problem_names_where_to_fix_it():
    status, _ = card("jpki-locked")
    items = topic_items("readiness", Config(), "ja", dt.date(2026, 11, 25), status=status)
    i = [n for n, it in enumerate(items) if it.tone == "danger" and it.kind == "warning"][0]
    assert items[i + 1].kind == "contact" and "市区町村" in items[i + 1].text


def test_handoff_names_the_pin_of_steps_4_and_7_with_this_cards_tries():
    status, _ = card("jpki-locked")
    text = "\n".join(i.text for i in topic_items("handoff", Config(), "en", None, status=status))
    assert "→ User-authentication PIN (4 digits, 利用者証明用)" in text and "This card: LOCKED" in text
    assert "→ Signature password" in text and "This card: 5 of 5 tries left" in text


def test_the_readiness_screen_spends_no_try():
    """Built from the status read at insertion: the screen has no PIN pad at all."""
    s = session("resident", "linkage_preflight", "ja")
    text = screen_text(s)
    assert "暗証番号を入力しません" in text
    assert s.pin_len == 0 and s.pending is None


def test_item_kinds_and_tones_are_checked():
    with pytest.raises(ValueError):
        Item("advice", "guide.x", "text")
    with pytest.raises(ValueError):
        Item("statement", "guide.x", "text", tone="red")


def test_offices_per_language_with_the_documented_fallback():
    cfg = parse_config("""
[offices.municipality]
name = "千代田区役所 区民課"
hours = "平日 8:30〜17:15"
phone = "03-0000-0000"
[offices.municipality.en]
name = "Chiyoda City Office, Residents' Division"
hours = "weekdays 8:30-17:15"
[offices.municipality.zh]
name = ""
""")
    en = Guide(cfg, "en", None).office("municipality")
    assert en.startswith("Chiyoda City Office") and "03-0000-0000" in en and "区" not in en
    ja = Guide(cfg, "ja", None).office("municipality")
    assert ja.startswith("千代田区役所 区民課") and "03-0000-0000" in ja
    zh = Guide(cfg, "zh", None).office("municipality")        # not configured: generic term, then the Japanese
    assert zh.startswith("您登记住址所在的市区町村窗口") and "千代田区役所" in zh
