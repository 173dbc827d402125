"""Shared for the guidance tests: every shipped card, read through the real card layer;
the screen a session shows for it (every page), and the slip printed from that screen."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pytest

from kiosk.config import Config
from kiosk.display.clock import ManualClock
from kiosk.display.screens import build_view
from kiosk.display.session import RECEIPT_KINDS, Session
from kiosk.i18n import LANGUAGE_NAMES
from kiosk.printer.receipt import build_receipt
from kiosk.printer.sample import read_sample

PROFILES = sorted(p.stem for p in (Path(__file__).parents[2] / "kiosk/nfc/sim/profiles").glob("*.toml")
                  if p.stem != "unknown")
LANGS = tuple(LANGUAGE_NAMES)          # every registered language (kiosk.i18n)
TODAY = dt.date(2026, 11, 25)


@functools.lru_cache(maxsize=None)
def card(profile: str):
    """(CardStatus, LicenceData | None) of a shipped profile (licence read with its own test PIN)."""
    return read_sample(profile)


def session(profile: str | None, screen: str, lang: str, today=TODAY, cfg: Config | None = None) -> Session:
    s = Session(cfg or Config(), clock=ManualClock(), today=lambda: today)
    s.lang = lang
    if profile is not None:
        status, licence = card(profile)
        s.status = status
        s.licence = licence if screen == "licence" else None
        s.session_started = s.clock.now()
    s.screen = screen
    return s


def screen_pages(s: Session, size=(800, 480)) -> list:
    """Every page of the screen (a View each, as drawn), turning ▼ as a resident would."""
    import os
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from kiosk.display.render import Renderer
    from kiosk.display.screens import GUIDE_BLOCK
    renderer = Renderer(pygame.Surface(size))
    views = []
    s.pages = {}
    for _ in range(20):
        view = build_view(s)
        frame = renderer.draw(view)
        views.append(view)
        nxt = f"page_next_{GUIDE_BLOCK}"
        if GUIDE_BLOCK not in frame.pages or not view.enabled(nxt):
            return views
        s.tap(nxt)
    raise AssertionError("more than 20 pages")


def screen_text(s: Session) -> str:
    return "\n".join(v.text() for v in screen_pages(s))


def slip_for(s: Session, now: dt.datetime | None = dt.datetime(2026, 11, 25, 10, 30)):
    """The slip the session would print from its screen (same inputs as Session._print)."""
    kind = RECEIPT_KINDS[s.screen]
    linkage = s._linkage_receipt() if kind.startswith("linkage") else None
    return build_receipt(kind, s.lang, s.cfg, status=s.status, licence=s.licence if kind == "licence" else None,
                         linkage=linkage, now=now)


# Menu item -> the guidance screen it opens.
SCREEN_OF_ITEM = {"item_pin_status": "pin_status", "item_renewal": "renewal", "item_lost_card": "lost_card",
                  "item_licence": "licence", "item_linkage": "linkage_preflight"}


def guidance_screens() -> list[tuple[str, str]]:
    """(profile, screen) for every guidance screen a shipped card's menu offers."""
    from kiosk.display.screens import menu_items
    out = []
    for profile in PROFILES:
        status, licence = card(profile)
        for item in menu_items(status):
            screen = SCREEN_OF_ITEM.get(item)
            if screen and not (screen == "licence" and licence is None):
                out.append((profile, screen))
    return out


@pytest.fixture
def cfg():
    return Config()
