"""The signature certificate's expiry in the readiness check (issue 12).

Before a signature-password check the card cannot tell it: the item says so
conditionally and is no problem.  After a check the resident confirmed, it is
judged like the user-authentication certificate's (never on an untrusted clock).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from kiosk.config import Config
from kiosk.guidance import topic_items
from kiosk.nfc.model import PinCheck

from .conftest import LANGS, TODAY, card


def readiness(status, today=TODAY, lang="en"):
    return topic_items("readiness", Config(), lang, today, status=status)


def keys(items):
    return [i.key for i in items]


def problems(items):
    return [i.key for i in items if i.kind == "warning" and i.tone == "danger"]


def signed(status, not_after=None, no_expiry=False):
    return status.with_pin_check(PinCheck("jpki_sign", ok=True, tries_left=5, locked=False,
                                          signature_not_after=not_after, signature_no_expiry=no_expiry))


@pytest.mark.parametrize("lang", LANGS)
def test_before_a_check_the_expiry_is_unknown_and_said_conditionally(lang):
    status, _ = card("resident")
    items = readiness(status, lang=lang)
    assert "guide.sign_cert.unknown" in keys(items) and "guide.sign_cert.until" not in keys(items)
    unknown = next(i for i in items if i.key == "guide.sign_cert.unknown")
    assert unknown.kind == "statement" and problems(items) == []
    # Where to go if it lapsed after a move or name change: the question that follows says so.
    moved = keys(items).index("guide.ready.q_moved_yes")
    assert moved > keys(items).index("guide.sign_cert.unknown")
    assert {"ja": "市区町村", "en": "city office", "zh": "市区町村", "ko": "시구정촌", "vi": "市区町村",
             "ne": "नगरपालिका कार्यालय", "pt_BR": "prefeitura", "fil": "city office", "ja@easy": "市区町村"}[lang] in items[moved].text


def test_no_signature_certificate_is_a_problem_and_has_no_expiry_line():
    status, _ = card("minor")
    items = readiness(status)
    assert problems(items) == ["guide.ready.no_sign_cert"]
    assert not [k for k in keys(items) if k.startswith("guide.sign_cert.")]


def test_after_a_check_a_valid_certificate_shows_its_date():
    status, _ = card("resident")
    items = readiness(signed(status, dt.date(2029, 5, 2)))
    until = next(i for i in items if i.key == "guide.sign_cert.until")
    assert "2029" in until.text and until.tone == "ok" and problems(items) == []
    assert "guide.sign_cert.unknown" not in keys(items)


def test_after_a_check_an_expired_certificate_is_a_problem_with_where_to_renew():
    status, _ = card("resident")
    items = readiness(signed(status, dt.date(2026, 11, 24)))
    assert problems(items) == ["guide.sign_cert.expired"]
    at = keys(items).index("guide.sign_cert.expired")
    assert items[at + 1].kind == "contact" and items[at + 1].key == "guide.where.municipality"
    assert any(i.key == "guide.ready.problems" for i in items)
    assert not any(i.key == "guide.ready.all_ok" for i in items)


def test_the_expiry_day_itself_is_still_valid():
    status, _ = card("resident")
    assert problems(readiness(signed(status, TODAY))) == []


def test_an_untrusted_clock_shows_the_date_without_judging_it_and_warns_once():
    status, _ = card("resident")
    items = readiness(signed(status, dt.date(2020, 1, 1)), today=None)
    assert problems(items) == [] and "guide.sign_cert.until" in keys(items)
    assert keys(items).count("guide.clock_unknown") == 1


def test_no_expiry_is_not_a_made_up_date():
    status, _ = card("resident")
    items = readiness(signed(status, None, no_expiry=True))
    assert "guide.sign_cert.no_expiry" in keys(items) and problems(items) == []


def test_a_wrong_check_teaches_nothing_about_the_certificate():
    status, _ = card("resident")
    after = status.with_pin_check(PinCheck("jpki_sign", ok=False, tries_left=4, locked=False))
    items = readiness(after)
    assert "guide.sign_cert.unknown" in keys(items)
    assert any("4 of 5" in i.text for i in items if i.key == "guide.ready.pin_ok")


def test_a_check_that_locked_the_password_is_a_problem():
    status, _ = card("resident")
    after = status.with_pin_check(PinCheck("jpki_sign", ok=False, tries_left=0, locked=True))
    assert problems(readiness(after)) == ["guide.ready.pin_locked"]


def test_the_status_itself_is_not_changed_by_a_check():
    status, _ = card("resident")
    before = dataclasses.asdict(status)
    signed(status, dt.date(2029, 5, 2))
    assert dataclasses.asdict(status) == before


@pytest.mark.parametrize("topic", ["renewal", "pin_status"])
def test_renewal_and_pin_status_share_the_date_once_it_is_known(topic):
    status, _ = card("resident")
    assert not [i for i in topic_items(topic, Config(), "en", TODAY, status=status)
                if i.key.startswith("guide.sign_cert.")]
    expired = topic_items(topic, Config(), "en", TODAY, status=signed(status, dt.date(2026, 1, 1)))
    assert [i.key for i in expired if i.key.startswith("guide.sign_cert.")] == ["guide.sign_cert.expired"]
    untrusted = topic_items(topic, Config(), "en", None, status=signed(status, dt.date(2026, 1, 1)))
    assert keys(untrusted).count("guide.clock_unknown") == 1 and problems(untrusted) == []
