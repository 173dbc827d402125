"""What the session keeps for tests and scenarios stays bounded over months of uptime."""

from __future__ import annotations

from kiosk.display.session import SCREENS_KEPT

from .helpers import offline_session


def test_screens_seen_keeps_only_the_recent_screens():
    s = offline_session()
    for n in range(SCREENS_KEPT * 3):
        s.go("menu" if n % 2 else "summary")
    s.go("pin_status")
    assert len(s.screens_seen) == SCREENS_KEPT
    assert list(s.screens_seen)[-3:] == ["summary", "menu", "pin_status"]
