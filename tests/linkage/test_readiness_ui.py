"""Linkage readiness through the real UI and the simulated card's own log (issue 12).

Each shipped profile is placed on the simulated reader and the resident walks
summary -> menu -> linkage, as a scripted session (the scenario runner: the real
CardWorker thread, the real screens drawn headless).  What the screen showed is
read back from the ``--record`` JSON lines, the stable interface of the UI: every
widget of every page with its id (``g_`` + the guidance key), role and text.
The card's log must show no VERIFY with data at all: readiness spends no try.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from kiosk.display.scenario import run_scenario  # noqa: E402

TODAY = dt.date(2026, 11, 25)
# Each profile's problems: the widget of every "danger" guidance item on the readiness screen.
PROBLEMS = {
    "resident": [],
    "licence-locked": [],                       # the licence PIN is not used by the linkage
    "jpki-locked": ["g_ready_pin_locked"],
    "cert-expired": ["g_ready_cert_expired"],
    "myna-plain": ["g_ready_no_licence"],
}
# What fixes each problem, and where: the contact item that follows it.
WHERE = {"g_ready_pin_locked": "g_where_municipality", "g_ready_cert_expired": "g_where_municipality",
         "g_ready_no_licence": "g_where_police"}
STEPS = ["wait_screen summary", "tap btn_continue", "wait_screen menu", "tap item_linkage",
         "wait_screen linkage_preflight"]


def readiness(profile: str, lang: str, tmp_path: Path):
    """(the readiness screen's record line, the simulated card, the result)."""
    record = tmp_path / f"{profile}-{lang}.jsonl"
    result = run_scenario([f"insert {profile}", *STEPS], lang=lang, record=str(record), today=lambda: TODAY)
    lines = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    return lines[-1], result.cards[0], result


def danger_items(line: dict) -> list[str]:
    """Every problem listed (the verdict "n problems" aside)."""
    return [w["id"] for w in line["widgets"]
            if w["id"].startswith("g_") and w["role"] == "danger" and w["id"] != "g_ready_problems"]


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("profile", [p for p in sorted(PROBLEMS) if p != "myna-plain"])
def test_the_readiness_screen_lists_exactly_the_cards_problems_and_spends_no_try(profile, lang, tmp_path):
    line, card, result = readiness(profile, lang, tmp_path)
    assert result.ok, result.errors
    assert line["screen"] == "linkage_preflight" and line["lang"] == lang
    assert danger_items(line) == PROBLEMS[profile]
    ids = [w["id"] for w in line["widgets"]]
    verdict = [i for i in ids if i in ("g_ready_all_ok", "g_ready_problems")]
    assert verdict == (["g_ready_problems"] if PROBLEMS[profile] else ["g_ready_all_ok"])
    for problem in PROBLEMS[profile]:
        assert ids[ids.index(problem) + 1] == WHERE[problem]
    # The signature certificate's expiry is unknown without the password: said, not judged.
    assert "g_sign_cert_unknown" in ids and "g_sign_cert_expired" not in ids
    # The card's own log: the status read's empty VERIFYs only, never one with data.
    assert card.verifies and [v for v in card.verifies if v.with_data] == []
    assert not any(w["kind"] == "button" and w["id"].startswith("key_") for w in line["widgets"])


def test_the_counted_problems_match_the_listed_ones(tmp_path):
    line, _, _ = readiness("jpki-locked", "en", tmp_path)
    verdict = next(w for w in line["widgets"] if w["id"] == "g_ready_problems")
    assert verdict["text"].startswith("1 problem")


def test_a_plain_my_number_card_reaches_readiness_from_the_menu(tmp_path):
    line, card, result = readiness("myna-plain", "en", tmp_path)
    assert result.ok, result.errors
    assert danger_items(line) == PROBLEMS["myna-plain"]
    assert [v for v in card.verifies if v.with_data] == []

