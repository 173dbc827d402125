"""Dates per locale from CLDR (Babel), and Japanese era (和暦) dates.

``format_date(d, lang)`` is CLDR's date for the language (vi ``15 tháng 3,
2027``, pt_BR ``15 de março de 2027``, ja ``2027年3月15日``).  With
``era=True`` (a date the card stores in an era: licence dates, card-protocol.md
§5.4) Japanese and やさしい日本語 show the era as the card does (``令和9年3月15日``;
やさしい日本語 adds the Western year); other languages keep the Gregorian date.

Babel has no Japanese calendar (ICU's ``@calendar=japanese`` would need PyICU),
so the eras are a small table.  Start dates: 令和 2019-05-01 (元号を改める政令,
平成31年政令第143号), 平成 1989-01-08 (元号を改める政令, 昭和64年政令第1号), 昭和
1926-12-25, 大正 1912-07-30 (改元の詔書), 明治 1868-01-25 (明治元年 = 慶応4年1月1日
by the 改元の詔, 1868-10-23, applied retroactively).  Year 1 is written 元年.
"""

from __future__ import annotations

import datetime as dt

from kiosk.i18n import cldr_locale

ERAS = (                                   # newest first: (name, romanised, first day)
    ("令和", "Reiwa", dt.date(2019, 5, 1)),
    ("平成", "Heisei", dt.date(1989, 1, 8)),
    ("昭和", "Showa", dt.date(1926, 12, 25)),
    ("大正", "Taisho", dt.date(1912, 7, 30)),
    ("明治", "Meiji", dt.date(1868, 1, 25)),
)
# The CLDR locale for dates where it differs from the language's (the kiosk writes British English).
DATE_LOCALE = {"en": "en_GB"}
DATE_FORMAT = {"en": "medium"}              # "15 Mar 2027": fits a slip line; the rest use "long"
JAPANESE = ("ja", "ja@easy")


def era_of(d: dt.date) -> tuple[str, int]:
    """(era name, year in the era) for a date from 明治 on; ValueError before it."""
    for name, _, start in ERAS:
        if d >= start:
            return name, d.year - start.year + 1
    raise ValueError(f"{d.isoformat()} is before 明治")


def era_year(d: dt.date) -> str:
    """``令和9年`` (``令和元年`` for the first year)."""
    name, year = era_of(d)
    return f"{name}{'元' if year == 1 else year}年"


def format_era(d: dt.date) -> str:
    """``令和9年3月15日``."""
    return f"{era_year(d)}{d.month}月{d.day}日"


def format_date(d: dt.date, lang: str, era: bool = False) -> str:
    """The date as a resident of ``lang`` reads it (CLDR), in the era where ``era`` and Japanese."""
    if era and lang in JAPANESE and d >= ERAS[-1][2]:
        if lang == "ja@easy":
            return f"{era_year(d)}（{d.year}年）{d.month}月{d.day}日"
        return format_era(d)
    from babel.dates import format_date as babel_format_date

    locale = DATE_LOCALE.get(lang, cldr_locale(lang))
    return babel_format_date(d, DATE_FORMAT.get(lang, "long"), locale=locale)


NO_BREAK_SPACE = "\u00a0"      # kiosk/text/breaks.py never breaks a line there


def shown_date(d: dt.date, lang: str, era: bool = False) -> str:
    """``format_date`` as screens and slips show it: its spaces are no-break spaces, so a date is
    never split over two lines ("15 tháng / 6, 2027")."""
    return format_date(d, lang, era=era).replace(" ", NO_BREAK_SPACE)
