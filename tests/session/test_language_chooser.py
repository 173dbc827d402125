"""The language chooser (issue #16): the header's language button with 3+ languages.

Played through the real session, card worker and simulated card (``run_scenario``
with ``--record``), so what is checked is what a resident saw.
"""

from __future__ import annotations

import copy
import io
import json

from kiosk.config import LANGUAGES, Config
from kiosk.display.scenario import run_scenario

from tests.display.helpers import TODAY, card_data, offline_session

START = ["insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu"]


def config(languages) -> Config:
    cfg = copy.deepcopy(Config())
    cfg.kiosk.languages = list(languages)
    return cfg


def play(steps, languages=("ja", "en", "zh", "ko")) -> tuple[object, list[dict]]:
    out = io.StringIO()
    r = run_scenario(steps, config=config(languages), record=out, today=lambda: TODAY)
    assert r.ok, r.errors
    return r, [json.loads(line) for line in out.getvalue().splitlines()]


def ids(rec: dict) -> list[str]:
    return [w["id"] for w in rec["widgets"]]


def test_choosing_returns_to_the_same_screen_in_the_new_language_with_the_card_kept():
    r, recs = play(START + ["tap item_pin_status", "wait_screen pin_status", "tap btn_language",
                            "wait_screen language", "tap lang_ko", "wait_screen pin_status", "expect_text 남음"])
    chooser = next(rec for rec in recs if rec["screen"] == "language")
    assert [i for i in ids(chooser) if i.startswith("lang_")] == ["lang_ja", "lang_en", "lang_zh", "lang_ko"]
    assert recs[-1]["screen"] == "pin_status" and recs[-1]["lang"] == "ko"
    assert all(rec["resident_data"] for rec in recs[recs.index(chooser):])
    assert r.screens_seen[-3:] == ["pin_status", "language", "pin_status"]


def test_back_and_escape_return_unchanged():
    _, recs = play(START + ["tap item_renewal", "wait_screen renewal", "tap btn_language", "wait_screen language",
                            "tap btn_back", "wait_screen renewal", "key f11", "wait_screen language",
                            "key escape", "wait_screen renewal"])
    assert recs[-1]["lang"] == "ja" and recs[-1]["screen"] == "renewal"
    assert [rec["screen"] for rec in recs if rec["line"] in ("tap btn_back", "key escape")] == ["renewal"] * 2


def test_the_city_order_and_the_keypad_alone_choose():
    """Nine languages in a city's own order: digits 1-9 pick them in that order, from attract and
    mid-session, with the keypad's language key (F11); no touch at all."""
    order = ["vi", "ja", "en", "ne", "pt_BR", "fil", "zh", "ko", "ja@easy"]
    assert sorted(order) == sorted(LANGUAGES)
    _, recs = play(["key f11", "wait_screen language", "key 4", "wait_screen attract", "insert resident",
                    "wait_screen summary", "key enter", "wait_screen menu", "key f11", "wait_screen language",
                    "key 1", "wait_screen menu"], languages=order)
    chooser = next(rec for rec in recs if rec["screen"] == "language")
    labels = {w["id"]: w["text"] for w in chooser["widgets"]}
    assert [i[5:] for i in ids(chooser) if i.startswith("lang_")] == order
    assert [labels[f"lang_{lang}"].split()[0] for lang in order] == [str(n) for n in range(1, 10)]
    assert not labels["btn_back"][0].isdigit()              # no digit left for Back: Esc is Back
    assert [rec["lang"] for rec in recs if rec["line"] == "key 4"] == ["ne"]
    assert recs[-1]["screen"] == "menu" and recs[-1]["lang"] == "vi"


def test_a_pin_pad_is_wiped_on_the_way_to_the_chooser():
    """The digits are gone while the chooser shows (not only when the pad is drawn again)."""
    s = offline_session()
    s.status, _ = card_data("resident")
    s.session_started = s.clock.now()
    s.go("menu")
    assert s.tap("item_licence") and s.screen == "licence_pin"
    for digit in "135":
        s.tap(f"key_{digit}")
    assert s.pin_len == 3
    assert s.tap("btn_language") and s.screen == "language"
    assert s.pin_len == 0 and not any(s._pin)
    assert s.tap("lang_en") and (s.screen, s.lang, s.pin_len) == ("licence_pin", "en", 0)


def test_the_chooser_obeys_the_idle_timeout():
    """In a card session: the inactivity prompt comes on the chooser; Continue returns to it and a
    choice still goes back to where the resident was.  Unanswered, the session ends and wipes."""
    cfg = Config()
    idle, prompt = cfg.timeouts.inactivity_seconds, cfg.timeouts.prompt_seconds
    _, recs = play(START + ["tap item_pin_status", "wait_screen pin_status", "tap btn_language",
                            "wait_screen language", f"advance {idle + 1}", "wait_screen still_there",
                            "tap btn_continue_session", "wait_screen language", "tap lang_en",
                            "wait_screen pin_status", "tap btn_language", "wait_screen language",
                            f"advance {idle + prompt + 2}", "wait_screen timed_out"])
    assert recs[-1]["screen"] == "timed_out" and not recs[-1]["resident_data"]


def test_the_chooser_without_a_card_returns_to_attract_by_itself():
    cfg = Config()
    _, recs = play(["tap btn_lost_card", "wait_screen lost_card", "tap btn_language", "wait_screen language",
                    f"advance {cfg.timeouts.session_seconds + 1}", "wait_screen attract"])
    assert recs[-1]["screen"] == "attract"


def test_two_languages_toggle_with_one_tap_and_one_language_has_no_button():
    _, recs = play(START + ["tap lang_en", "expect_text What would you like to do", "key f11", "wait_screen menu"],
                   languages=("ja", "en"))
    menus = [rec for rec in recs if rec["screen"] == "menu"]
    assert "btn_language" not in ids(menus[0]) and "lang_en" in ids(menus[0])
    by_step = {rec["line"]: rec["lang"] for rec in menus}
    assert (by_step["tap lang_en"], by_step["key f11"]) == ("en", "ja")     # one tap, one key: a toggle
    assert "language" not in {rec["screen"] for rec in recs}
    _, recs = play(START + ["key f11"], languages=("ja",))
    shown = [i for rec in recs if rec["screen"] != "attract" for i in ids(rec)]
    assert not any(i.startswith("lang_") or i == "btn_language" for i in shown)
    assert recs[-1]["screen"] == "menu"


def test_no_chooser_where_the_card_is_done_with_or_the_reader_is_out():
    """The take-card reminder must not be left for the chooser (its no-card timeout would reach
    attract with the card still on the reader), nor may a service screen time out to attract
    through it: there the header has no language button and F11 does nothing."""
    r, recs = play(START + ["tap item_finish", "wait_screen take_card", "expect_no_widget btn_language",
                            "key f11", "wait_screen take_card"])
    take = [rec for rec in recs if rec["screen"] == "take_card"]
    assert take and all("btn_language" not in ids(rec) for rec in take)
    assert "language" not in r.screens_seen
    s = offline_session()
    for screen in ("take_card", "timed_out", "card_error", "card_removed", "service_needed", "still_there"):
        s.go(screen)
        assert not s.open_language_chooser() and s.screen == screen, screen
    s.go("menu")
    assert s.open_language_chooser() and s.screen == "language"
