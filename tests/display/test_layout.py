"""Layout facts over every screen, language, shipped profile, both sizes, normal and large text.

Each check reads the layout *records* the renderer produces (``Placed.record()``,
the same dicts ``kiosk run --scenario F --record OUT.jsonl`` writes):

* no text below the floor (22 px at 480 px height, scaled), reading text not below 24 px;
* large text draws every reading text at >= 1.4x its normal size (labels: never smaller);
* no clipped text (what does not fit gets pages, with page buttons on screen);
* no line broken against the 禁則 rules.

The last test plays scenarios through ``--record`` itself and applies the same checks.
"""

from __future__ import annotations

import json

import pygame
import pytest

from kiosk.display.render import Renderer
from kiosk.display.screens import BODY_FLOOR, BODY_ROLES, FLOOR, build_view
from kiosk.nfc.sim.profile import shipped_profiles
from kiosk.text import kinsoku_violations

from .helpers import TODAY, fake_linkage_factory
from .test_screens import LANG_PARAMS, VARIANTS, _status, render

SIZES = ((800, 480), (1024, 600))
PROFILES = [p for p in shipped_profiles() if p != "unknown"]     # "unknown" is the card_error screen


def all_variants():
    v = list(VARIANTS)
    for prof in PROFILES:
        for screen in ("summary", "menu", "pin_status", "renewal", "lost_card"):
            v.append((f"{screen}-{prof}*", screen, lambda s, p=prof: _status(s, p)))
    return v


ALL = all_variants()


def records(surface, lang, large, screen, setup) -> list[dict]:
    _, view, frame = render(surface, lang, large, screen, setup)
    return [p.record() for p in frame.placed]


def problems_of(normal: list[dict], large: list[dict], height: int, label: str) -> list[str]:
    floor, body_floor = round(FLOOR * height), round(BODY_FLOOR * height)
    out = []
    for mode, recs in (("normal", normal), ("large", large)):
        for r in recs:
            where = f"{label}/{mode}/{r['id']}"
            if r["px"] < floor:
                out.append(f"{where}: {r['px']} px below the floor {floor}")
            if r["kind"] == "text" and r["role"] in BODY_ROLES and r["px"] < body_floor:
                out.append(f"{where}: reading text {r['px']} px below {body_floor}")
            if r["clipped"]:
                out.append(f"{where}: clipped {r['text'][:40]!r}")
            for bad in kinsoku_violations(r.get("lines") or []):
                out.append(f"{where}: 禁則 {bad}")
    px = {r["id"]: r["px"] for r in normal}
    for r in large:
        if r["id"] in px and not r["id"].startswith("page"):
            need = px[r["id"]] if r["label"] else 1.4 * px[r["id"]]
            if r["px"] < need - 1:
                out.append(f"{label}/{r['id']}: large {r['px']} px < {need:.0f} (normal {px[r['id']]})")
    return out


@pytest.fixture(scope="module", params=SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def surface(request):
    pygame.display.init()
    pygame.font.init()
    return pygame.Surface(request.param)


@pytest.mark.parametrize("lang", LANG_PARAMS)
def test_type_scale_pages_and_line_breaks(surface, lang):
    problems = []
    for label, screen, setup in ALL:
        normal = records(surface, lang, False, screen, setup)
        large = records(surface, lang, True, screen, setup)
        assert normal and large, label
        problems += problems_of(normal, large, surface.get_height(), f"{label}/{lang}")
    assert not problems, "\n".join(problems[:60])


def test_the_checks_can_fail(surface):
    """A widget drawn below the floor, clipped, not enlarged or mis-broken is reported."""
    h = surface.get_height()
    base = {"id": "x", "kind": "text", "role": "body", "text": "あ", "px": round(BODY_FLOOR * h),
            "clipped": False, "lines": ["あ"], "label": False}
    assert not problems_of([base], [dict(base, px=round(1.4 * base["px"]))], h, "ok")
    assert problems_of([dict(base, px=round(FLOOR * h) - 1)], [], h, "floor")
    assert problems_of([dict(base, clipped=True)], [], h, "clip")
    assert problems_of([base], [dict(base, px=base["px"] + 1)], h, "ratio")
    assert problems_of([dict(base, lines=["手数料は（", "1,500円）"])], [], h, "kinsoku")


def test_long_text_gets_page_buttons_a_resident_can_press(surface):
    """The PIN table in large text takes pages: ▼ is a real button (keypad 9), and page 2 shows the rest."""
    from .helpers import offline_session
    s = offline_session("ja", True)
    _status(s, "jpki-locked")
    s.screen = "pin_status"
    r = Renderer(surface)
    view = build_view(s)
    frame = r.draw(view)
    key, (page, n) = next(iter(frame.pages.items()))
    assert page == 0 and n > 1
    nxt = f"page_next_{key}"
    assert view.enabled(nxt) and nxt in frame.hits and not view.enabled(f"page_prev_{key}")
    assert view.shortcuts.get("9") == nxt
    first = {p.id for p in frame.placed if p.box is not None and p.paginated}
    assert s.key("9", view)                                  # the keypad turns the page
    view = build_view(s)
    frame = r.draw(view)
    assert frame.pages[key] == (1, n) and view.enabled(f"page_prev_{key}")
    second = {p.id for p in frame.placed if p.box is not None and p.paginated}
    assert second and not first & second
    assert s.tap(f"page_prev_{key}") and s.pages[key] == 0


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("large", [False, True], ids=["normal", "large"])
def test_recorded_scenarios_pass_the_same_checks(tmp_path, size, large):
    """``--record``: the JSONL of the licence and linkage scenarios, checked line by line."""
    from kiosk.config import Config
    from kiosk.display.scenario import run_scenario
    cfg = Config()
    cfg.display.large_text = large
    out = tmp_path / "rec.jsonl"
    steps = ["insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu",
             "tap item_pin_status", "wait_screen pin_status", "tap btn_language", "wait_screen language",
             "key escape", "wait_screen pin_status", "tap btn_back", "tap item_licence",
             "wait_screen licence_pin", "key 1", "key 3", "key 5", "key 7", "key enter", "wait_screen licence",
             "tap btn_back", "tap item_linkage", "wait_screen linkage_1", "tap btn_next", "wait_screen linkage_2",
             "tap btn_cancel", "wait_screen menu", "tap item_finish", "wait_screen take_card", "remove",
             "wait_screen attract"]
    r = run_scenario(steps, config=cfg, size=size, record=out, today=lambda: TODAY,
                     linkage_factory=fake_linkage_factory(), gateway_available=True)
    assert r.ok, r.errors
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(steps) + 1
    screens = {x["screen"] for x in lines}
    assert {"attract", "summary", "menu", "pin_status", "language", "licence_pin", "licence", "linkage_1"} <= screens
    for x in lines:
        assert x["size"] == list(size) and x["lang"] == "ja" and x["large_text"] is large
        assert x["widgets"] and all({"id", "role", "text", "px", "box", "paginated", "clipped"} <= set(w)
                                    for w in x["widgets"])
        problems = problems_of(x["widgets"], [], size[1], f"{x['step']}:{x['screen']}")
        assert not problems, problems
    # Resident data: held from the card's answer on, gone after Finish.
    by_screen = {x["screen"]: x["resident_data"] for x in lines}
    assert by_screen["licence"] and by_screen["menu"] is True
    assert by_screen["take_card"] is False and lines[-1]["resident_data"] is False
