"""Plural forms and dates from CLDR (Babel), Japanese era dates, Korean particles, button names."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.i18n import Catalog, catalog, plural_function, plural_tags
from kiosk.i18n.dates import era_of, format_date, format_era
from kiosk.i18n.korean import particle


def test_english_plural_follows_the_count():
    en = catalog("ui", "en")
    assert en.text("summary.locked", n=1).startswith("1 PIN is locked")
    assert en.text("summary.locked", n=2).startswith("2 PINs are locked")


@pytest.mark.parametrize("lang,one,other", [("en", 1, 2), ("pt_BR", 1, 2), ("ne", 1, 2), ("fil", 1, 4)])
def test_cldr_rule_picks_the_form(lang, one, other):
    index = plural_function(lang)
    tags = plural_tags(lang)
    assert tags[index(one)] == "one" and tags[index(other)] == "other"


def test_a_language_without_plurals_has_one_form():
    assert plural_tags("ja") == plural_tags("zh") == plural_tags("ko") == ("other",)


def test_portuguese_plural_entry_from_a_catalogue():
    pt = Catalog("ui", "pt_BR", {"k": "{left} tentativas restantes"}, None,
                 {"k": ("{left} tentativa restante", "{left} tentativas restantes", "{left} tentativas restantes")},
                 plural_function("pt_BR"))
    assert pt.text("k", left=1) == "1 tentativa restante"
    assert pt.text("k", left=0) == "0 tentativa restante"        # CLDR pt: i = 0..1 is "one"
    assert pt.text("k", left=2) == "2 tentativas restantes"


def test_dates_per_locale():
    d = dt.date(2027, 3, 15)
    assert format_date(d, "ja") == "2027年3月15日"
    assert format_date(d, "en") == "15 Mar 2027"
    assert format_date(d, "ko") == "2027년 3월 15일"
    assert format_date(d, "vi") == "15 tháng 3, 2027"
    assert format_date(d, "pt_BR") == "15 de março de 2027"
    assert "मार्च" in format_date(d, "ne")


@pytest.mark.parametrize("day,expected", [
    (dt.date(2019, 4, 30), "平成31年4月30日"), (dt.date(2019, 5, 1), "令和元年5月1日"),
    (dt.date(2027, 3, 15), "令和9年3月15日"), (dt.date(1989, 1, 7), "昭和64年1月7日"),
    (dt.date(1989, 1, 8), "平成元年1月8日"), (dt.date(1926, 12, 25), "昭和元年12月25日"),
])
def test_japanese_era_dates(day, expected):
    assert format_era(day) == expected
    assert format_date(day, "ja", era=True) == expected


def test_era_only_where_asked_and_only_in_japanese():
    d = dt.date(2027, 3, 15)
    assert format_date(d, "ja@easy", era=True) == "令和9年（2027年）3月15日"
    assert format_date(d, "en", era=True) == "15 Mar 2027"
    with pytest.raises(ValueError):
        era_of(dt.date(1800, 1, 1))


@pytest.mark.parametrize("word,spec,expected", [
    ("마이나면허증 비밀번호(숫자 4자리)", "이/가", "가"), ("운전면허증 IC카드 비밀번호 1(숫자 4자리)", "이/가", "이"),
    ("서명용 비밀번호", "은/는", "는"), ("카드", "을/를", "를"), ("서울", "으로/로", "로"), ("집", "으로/로", "으로"),
    ("PIN", "이/가", "이(가)"),
])
def test_korean_particle_fits_the_noun(word, spec, expected):
    assert particle(word, spec) == expected


def test_korean_catalogue_uses_the_particle_not_a_fixed_one():
    ko = catalog("ui", "ko")
    for pin_id in ("licence", "ic_pin1"):
        name = ko.text(f"pin.name.{pin_id}")
        text = ko.text("linkage.locked", pin_name=name)
        assert text.startswith(name + ("가" if pin_id == "licence" else "이") + " ")
    assert not any("}가" in t or "}이(가)" in t or "}은(는)" in t for t in ko.messages.values())


@pytest.mark.parametrize("lang", ["ja", "en", "zh", "ko"])
def test_last_try_prompt_names_the_button_the_pad_shows(lang):
    t = catalog("ui", lang)
    assert t.text("pad.ok") in t.text("pin.confirm_last")


def test_a_bad_value_never_raises():
    t = catalog("ui", "en")
    assert t.text("slip.format.time", hour=None, minute="x")          # the template, not an exception
    assert t.text("no.such.key") == "no.such.key"
    assert t.text("summary.locked")                                   # no count: the "other" form
