"""The PIN-status page colours each counter by its state: full, a few tries gone, last try, locked."""

from __future__ import annotations

import dataclasses

from kiosk.config import Config
from kiosk.display.screens import COUNTER_ROLES, build_view
from kiosk.guidance import counter_tone, topic_items

from .conftest import card, session


def test_each_counter_state_gives_its_tone_and_colour_role():
    status, _ = card("resident")
    base = next(iter(status.pins.values()))
    cases = {"ok": dict(tries_left=base.max_tries, locked=False),
             "few": dict(tries_left=base.max_tries - 1, locked=False),
             "last": dict(tries_left=1, locked=False), "locked": dict(tries_left=0, locked=True)}
    for want, change in cases.items():
        c = dataclasses.replace(base, **change)
        assert counter_tone(c) == want, (want, c)
        st = dataclasses.replace(status, pins={k: c for k in status.pins})
        rows = [i for i in topic_items("pin_status", Config(), "ja", None, status=st) if i.key == "guide.pins.row"]
        assert rows and all(i.tone == want for i in rows), want
        s = session("resident", "pin_status", "ja")
        s.status = st
        roles = {w.role for w in build_view(s).widgets if w.id.startswith("g_pins_row")}
        assert roles == {want} and want in COUNTER_ROLES, (want, roles)
