"""The dates each language shows, on screen and on the slip printed from it (issue #16).

Licence dates are stored on the card in a Japanese era (card-protocol.md §5.4): Japanese shows
them in the era, やさしい日本語 adds the Western year, other languages read CLDR's Gregorian
date.  Certificate, card and IC-licence (EF 2F01, BCD) dates are Gregorian everywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from kiosk.i18n import LOCALE_DIR

from .conftest import LANGS, screen_text, session, slip_for

# The resident profile's licence: expiry 2027-06-15, renewal window from 2027-04-15.
LICENCE_EXPIRY = {
    "ja": "令和9年6月15日", "ja@easy": "令和9年（2027年）6月15日", "en": "15 Jun 2027",
    "vi": "15 tháng 6, 2027", "pt_BR": "15 de junho de 2027", "zh": "2027年6月15日",
    "ko": "2027년 6월 15일", "fil": "Hunyo 15, 2027", "ne": "2027 जुन 15",
}
WINDOW_START = {"ja": "令和9年4月15日", "ja@easy": "令和9年（2027年）4月15日", "en": "15 Apr 2027",
                "vi": "15 tháng 4, 2027", "pt_BR": "15 de abril de 2027"}
# Its user-authentication certificate: 2029-05-02, a Gregorian date (X.509).
CERT_EXPIRY = {"ja": "2029年5月2日", "ja@easy": "2029年5月2日", "en": "2 May 2029", "vi": "2 tháng 5, 2029",
               "pt_BR": "2 de maio de 2029"}


def nb(date: str) -> str:
    """A date as the kiosk shows it: its spaces are no-break spaces, so it never splits over lines."""
    return date.replace(" ", "\u00a0")


def test_every_language_has_an_expected_licence_date():
    assert set(LICENCE_EXPIRY) == set(LANGS)


@pytest.mark.parametrize("lang", LANGS)
def test_the_licence_expiry_on_screen_and_slip(lang):
    s = session("resident", "licence", lang)
    shown, printed = screen_text(s), "\n".join(slip_for(s).lines)
    for text in (shown, printed):
        assert nb(LICENCE_EXPIRY[lang]) in text
        if lang in WINDOW_START:
            assert nb(WINDOW_START[lang]) in text
    if lang not in ("ja", "ja@easy"):
        assert "令和" not in shown + printed            # an era only for Japanese readers


@pytest.mark.parametrize("lang", sorted(CERT_EXPIRY))
def test_certificate_dates_stay_gregorian(lang):
    s = session("resident", "renewal", lang)
    shown, printed = screen_text(s), "\n".join(slip_for(s).lines)
    for text in (shown, printed):
        assert nb(CERT_EXPIRY[lang]) in text
        assert "令和11年" not in text                    # 2029 is never turned into an era


def test_the_ic_licence_summary_date_is_gregorian_and_its_licence_date_in_the_era():
    """EF 2F01 stores the expiry as BCD YYYYMMDD; EF01 tag 1B as era + YYMMDD (card-protocol.md §6)."""
    from tests.display.helpers import card_data
    summary = screen_text(session("ic-licence", "summary", "ja"))
    s = session("ic-licence", "licence", "ja")
    s.status, s.licence = card_data("ic-licence", "1111")          # PIN1 of the shipped IC licence
    licence = screen_text(s)
    assert "2027年6月20日" in summary and "令和" not in summary
    assert "令和9年6月20日" in licence


@pytest.mark.parametrize("lang,date", [("ja", "2026年11月25日"), ("en", "25 Nov 2026"),
                                       ("vi", "25 tháng 11, 2026"), ("pt_BR", "25 de novembro de 2026")])
def test_the_slip_prints_its_date_the_cldr_way(lang, date):
    lines = slip_for(session("resident", "licence", lang)).lines
    assert any(nb(date) in line for line in lines[:4]), lines[:4]


def test_no_catalogue_keeps_a_date_pattern():
    """Dates come from CLDR (kiosk.i18n.dates); the old per-catalogue pattern and month names are gone."""
    files = sorted(Path(LOCALE_DIR).glob("**/*.po")) + sorted(Path(LOCALE_DIR).glob("*.pot"))
    assert files
    for path in files:
        with path.open("rb") as f:
            keys = {m.context for m in read_po(f) if m.context}
        assert not keys & {"fmt.date", "fmt.months"}, path
