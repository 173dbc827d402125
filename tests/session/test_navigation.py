"""Navigation a resident learns once (issue #11), checked on what was actually drawn (``--record``).

One recorded run goes through every kind of screen of a card session; on each
record Back/Cancel, the main action and Finish must sit in the same box wherever
they appear, and the language switch and the staff call must be on every screen.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict

from kiosk.display.scenario import run_scenario
from kiosk.display.screens import BACK_IDS, FINISH_IDS
from kiosk.session.states import NO_CHOOSER_SCREENS

from tests.display.helpers import TODAY, fake_linkage_factory

START = ["insert resident", "wait_screen summary"]
TOUR = START + [
    "tap btn_continue", "wait_screen menu",
    "tap item_pin_status", "wait_screen pin_status", "tap btn_back", "wait_screen menu",
    "tap item_renewal", "wait_screen renewal", "tap btn_back", "wait_screen menu",
    "tap item_lost_card", "wait_screen lost_card", "tap btn_back", "wait_screen menu",
    "tap item_licence", "wait_screen licence_pin", "tap key_1", "tap key_3", "tap key_5", "tap key_7",
    "tap key_ok", "wait_screen licence", "tap btn_back", "wait_screen menu",
    "tap item_linkage", "wait_screen linkage_preflight", "tap btn_pin_check", "wait_screen linkage_pin_check_choose",
    "tap btn_check_jpki_auth", "wait_screen linkage_pin_check", "tap btn_cancel",
    "wait_screen linkage_pin_check_choose",
    "tap btn_back", "wait_screen linkage_preflight", "tap btn_back", "wait_screen menu",
    "tap btn_language", "wait_screen language", "tap lang_en", "wait_screen menu",
    "tap item_finish", "wait_screen take_card",
]


def records(steps, **kw) -> list[dict]:
    out = io.StringIO()
    r = run_scenario(steps, record=out, today=lambda: TODAY, linkage_factory=fake_linkage_factory(),
                     gateway_available=False, **kw)
    assert r.ok, r.errors
    return [json.loads(line) for line in out.getvalue().splitlines()]


def fixed_boxes(recs: list[dict], ids) -> dict[str, set]:
    seen = defaultdict(set)
    for rec in recs:
        for w in rec["widgets"]:
            if w["id"] in ids and w["box"] is not None:
                seen[w["id"]].add(tuple(w["box"]))
    return seen


def test_back_main_finish_staff_and_language_are_where_they_always_are():
    recs = records(TOUR)
    screens = {rec["screen"] for rec in recs}
    assert {"summary", "menu", "pin_status", "renewal", "lost_card", "licence_pin", "licence",
            "linkage_preflight", "linkage_pin_check_choose", "linkage_pin_check"} <= screens
    # Back, Finish and the staff call: one box each, wherever they appear.
    for wid, boxes in fixed_boxes(recs, (*BACK_IDS, *FINISH_IDS, "btn_staff")).items():
        if wid == "btn_cancel":                    # the PIN pads keep their cancel beside the pad
            continue
        assert len(boxes) == 1, (wid, boxes)
    finish_on = {rec["screen"] for rec in recs if any(w["id"] == "item_finish" for w in rec["widgets"])}
    assert {"summary", "menu", "pin_status", "renewal", "licence", "linkage_preflight",
            "linkage_pin_check_choose"} <= finish_on
    # The main action of a footer (role primary, not Back/Finish) is in the main slot.
    mains = {tuple(w["box"]) for rec in recs for w in rec["widgets"]
             if w["kind"] == "button" and w["role"] == "primary" and w["box"] and w["id"].startswith("btn_")
             and w["box"][1] > rec["size"][1] * 0.8}
    assert len(mains) <= 1, mains
    # The staff call on every screen (the prompt is full screen on purpose), the language button
    # wherever the chooser may be opened (states.NO_CHOOSER_SCREENS);
    # with the default four languages the button opens the chooser, which lists them instead.
    assert "language" in screens
    for rec in recs:
        if rec["screen"] in ("still_there",):
            continue
        ids = {w["id"] for w in rec["widgets"]}
        assert "btn_staff" in ids, rec["screen"]
        if rec["screen"] in ("language", "attract"):      # these list the languages themselves
            assert [i for i in ids if i.startswith("lang_")] and "btn_language" not in ids
        elif rec["screen"] in NO_CHOOSER_SCREENS:         # card done with / reader out: no chooser
            assert "btn_language" not in ids, rec["screen"]
        else:
            assert "btn_language" in ids, rec["screen"]
    # The language button sits in one box wherever it appears.
    assert len(fixed_boxes(recs, ("btn_language",))["btn_language"]) == 1


def test_the_language_switch_keeps_the_session():
    choose = ["tap btn_language", "wait_screen language"]
    recs = records(START + ["tap btn_continue", "wait_screen menu", "tap item_pin_status", "wait_screen pin_status",
                            *choose, "tap lang_en", "wait_screen pin_status", "expect_text PIN",
                            *choose, "tap lang_zh", *choose, "tap lang_ko", *choose, "tap lang_ja",
                            "wait_screen pin_status", "tap btn_back", "wait_screen menu"])
    langs = [rec["lang"] for rec in recs if rec["screen"] == "pin_status"]
    langs = [lang for i, lang in enumerate(langs) if i == 0 or langs[i - 1] != lang]
    assert langs == ["ja", "en", "zh", "ko", "ja"]              # each choice back on the same screen
    after = recs[[rec["line"] for rec in recs].index("tap btn_language"):]
    assert all(rec["resident_data"] for rec in after)       # the card's facts were never dropped


def test_every_button_clicks_when_sound_is_on():
    r = run_scenario(START + ["tap btn_continue", "wait_screen menu", "tap item_renewal", "wait_screen renewal",
                              "tap btn_language", "tap lang_en", "tap btn_back", "wait_screen menu",
                              "tap item_lost_card", "wait_screen lost_card", "tap btn_staff", "tap btn_back",
                              "wait_screen menu"],
                     today=lambda: TODAY)
    assert r.ok, r.errors
    assert r.sounds.count("click") == 8, r.sounds


def test_a_language_switch_or_a_staff_call_on_a_pin_pad_clears_what_was_typed():
    """Digits typed before the chooser or the call do not stay in the buffer (or behind the dots):
    the pad comes back empty whether a language was chosen or Back pressed."""
    for action in (["tap btn_language", "tap lang_en"], ["tap btn_language", "tap btn_back"],
                   ["key f11", "key escape"], ["tap btn_staff"]):
        recs = records(START + ["tap btn_continue", "wait_screen menu", "tap item_licence",
                                "wait_screen licence_pin", "tap key_1", "tap key_3", *action])
        dots = [next(w["text"] for w in rec["widgets"] if w["id"] == "dots") for rec in recs
                if rec["screen"] == "licence_pin"]
        assert "●●○○" in dots and dots[-1] == "○○○○", (action, dots)


def test_after_a_wrong_pin_one_message_shows_the_new_count():
    recs = records(START + ["tap btn_continue", "wait_screen menu", "tap item_licence", "wait_screen licence_pin",
                            "tap key_0", "tap key_0", "tap key_0", "tap key_0", "tap key_ok",
                            "expect_text 暗証番号が違います"])
    texts = [w.get("text") or "" for w in recs[-1]["widgets"]]
    assert sum(text.count("あと 9 回") for text in texts) == 1, texts
