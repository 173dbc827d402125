"""An unsynchronised clock (today=None): dates shown, no judgment, no date line on a slip."""

from __future__ import annotations

import pytest

from kiosk.config import Config
from kiosk.display.session import RECEIPT_KINDS
from kiosk.guidance import TOPICS, topic_items
from kiosk.i18n import catalog

from .conftest import LANGS, PROFILES, TODAY, card, screen_text, session, slip_for

# Every key that judges a date against today.
JUDGMENTS = ("guide.dates.cert_soon", "guide.dates.cert_expired", "guide.dates.card_soon",
             "guide.dates.card_expired", "guide.licence.expired", "guide.licence.in_window",
             "guide.licence.before_window", "guide.ready.cert_expired", "guide.ready.card_expired")
SCREENS = ("summary", "pin_status", "renewal", "licence", "linkage_preflight", "lost_card")


def fragments(lang: str) -> list[str]:
    """The fixed words of each judgment (the template up to its first placeholder)."""
    t = catalog("ui", lang)
    return [t.messages[k].split("{")[0] for k in JUDGMENTS if len(t.messages[k].split("{")[0]) >= 6]


@pytest.mark.parametrize("profile", PROFILES)
def test_no_item_judges_a_date_without_a_trusted_clock(profile):
    status, licence = card(profile)
    for lang in LANGS:
        for topic in TOPICS:
            keys = {i.key for i in topic_items(topic, Config(), lang, None, status=status, licence=licence)}
            assert not keys & set(JUDGMENTS), (profile, topic, keys & set(JUDGMENTS))


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("profile", PROFILES)
def test_no_screen_or_slip_judges_a_date_without_a_trusted_clock(profile, lang):
    status, licence = card(profile)
    for screen in SCREENS:
        if screen == "licence" and licence is None:
            continue
        s = session(profile, screen, lang, today=None)
        texts = [screen_text(s)]
        if screen in RECEIPT_KINDS:
            receipt = slip_for(s, now=None)
            texts.append("\n".join(receipt.lines))
            assert not any(line.startswith(catalog("ui", lang).text("slip.header.printed").split("{")[0])
                           for line in receipt.lines), "a date line without a trusted clock"
        for text in texts:
            said = [f for f in fragments(lang) if f in text]
            assert not said, (profile, screen, said)


def test_the_judgment_check_can_fail():
    """With a trusted date on an expired card, the same check finds the judgment."""
    s = session("cert-expired", "renewal", "ja")
    assert any(f in screen_text(s) for f in fragments("ja"))
    assert session("cert-expired", "renewal", "ja", today=None).today() is None


def test_the_session_prints_no_date_without_a_trusted_clock():
    s = session("resident", "renewal", "ja", today=None)
    with_clock = slip_for(session("resident", "renewal", "ja"))
    assert any(line.startswith("発行日時") for line in with_clock.lines)
    assert not any(line.startswith("発行日時") for line in slip_for(s, now=None).lines)
    assert "今日の日付を確かめられない" in "\n".join(slip_for(s, now=None).lines)


@pytest.mark.parametrize("today, dated", [(None, False), (TODAY, True)])
def test_the_session_passes_a_time_only_from_a_trusted_clock(today, dated):
    """Session._print hands build_receipt now=None while the clock is not synchronised."""
    import threading

    got: dict = {}
    done = threading.Event()

    class Printer:
        available = True

        def submit(self, receipt, on_done, tag=None):
            done.set()

        def cancel(self, tag):
            pass

    def builder(kind, lang, cfg, **kw):
        got.update(kw)
        return object()

    s = session("resident", "renewal", "ja", today=today)
    s.printer, s.receipt_builder = Printer(), builder
    assert s.tap("btn_print")
    assert done.wait(10)
    assert (got["now"] is not None) == dated


def test_the_model_judges_no_date_without_a_trusted_date(monkeypatch):
    """None means unknown: no fallback to the system clock, even one that says "long expired"."""
    import datetime as dt

    import kiosk.nfc.model as model

    class FarFuture(dt.date):
        @classmethod
        def today(cls):
            return cls(2099, 1, 1)

    monkeypatch.setattr(model.dt, "date", FarFuture)
    for profile in PROFILES:
        status, licence = card(profile)
        assert status.auth_cert_expired(None) is None, profile
        assert status.auth_cert_expired() is None, profile
        if licence is not None:
            assert licence.in_renewal_window(None) is None, profile
    status, licence = card("cert-expired")
    assert status.auth_cert_expired(TODAY) is True           # a trusted date still judges


@pytest.mark.parametrize("lang", LANGS)
def test_no_screen_of_any_profile_judges_a_date_with_today_none(lang):
    """today=lambda: None over every screen a card reaches (and every slip), every profile, every language."""
    from kiosk.display.screens import SCREENS as ALL_SCREENS
    reachable = [x for x in ALL_SCREENS if x in SCREENS or x in ("menu", "licence_pin", "licence_locked")]
    for profile in PROFILES:
        status, licence = card(profile)
        for screen in reachable:
            if screen == "licence" and licence is None:
                continue
            s = session(profile, screen, lang, today=None)
            s.today = lambda: None
            texts = [screen_text(s)]
            if screen in RECEIPT_KINDS:
                texts.append("\n".join(slip_for(s, now=None).lines))
            for text in texts:
                said = [f for f in fragments(lang) if f in text]
                assert not said, (profile, screen, said)
