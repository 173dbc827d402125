"""A slip and the screen it was printed from never disagree: the same guidance items, in order."""

from __future__ import annotations

import pytest

from .conftest import LANGS, guidance_screens, screen_pages, session, slip_for

SCREEN_ONLY = ("g_licence_number",)          # the licence number: masked on screen, absent on the slip


def screen_items(s) -> list[str]:
    """The guidance texts as the resident sees them, page after page (a paragraph split over two once)."""
    seen: dict[str, str] = {}
    for view in screen_pages(s):
        for w in view.widgets:
            if w.id.startswith("g_") and not w.id.startswith(SCREEN_ONLY) and not w.hidden:
                seen.setdefault(w.id, w.text)
    return list(seen.values())


def slip_items(receipt) -> list[str]:
    """The slip's guidance: the blocks between "what you did" and the footer rule, QR codes aside."""
    blocks = receipt.blocks
    start = next(i for i, b in enumerate(blocks) if b.style == "heading") + 2
    end = next(i for i, b in enumerate(blocks) if b.style == "rule")
    return [b.text for b in blocks[start:end] if b.style != "qr"]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("profile,screen", guidance_screens() + [(None, "lost_card")])
def test_slip_says_what_its_screen_says(profile, screen, lang):
    s = session(profile, screen, lang)
    shown = screen_items(s)
    printed = slip_items(slip_for(s))
    title = screen_pages(s)[0].get("title").text
    if printed and printed[0] == title and (not shown or shown[0] != title):
        printed = printed[1:]            # the screen's title bar carries the topic heading
    assert shown == printed


def test_the_comparison_can_fail():
    s = session("resident", "renewal", "en")
    printed = slip_items(slip_for(s))
    s.lang = "ja"                        # a slip in another language than the screen
    assert screen_items(s) != printed
