"""Sample receipt data read from a shipped simulated card, for previews, the bench and selftest.

The data comes through the real card layer (SimReader + CardSession), so a
preview shows exactly what a resident with that card would get.
"""

from __future__ import annotations

from kiosk.nfc.card import CardSession
from kiosk.nfc.model import CardStatus, LicenceData
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.profile import load_profile
from kiosk.nfc.sim.reader import SimReader

SAMPLE_PROFILE = "resident"
SAMPLE_LINKAGE = {"reference": "LK-2026-0042", "steps_done": 9, "steps_total": 9}


def read_sample(profile_name: str = SAMPLE_PROFILE) -> tuple[CardStatus, LicenceData | None]:
    """The card status and (when the card has one) the licence of a simulated card."""
    profile = load_profile(profile_name)
    reader = SimReader(profile)
    session = CardSession(reader.connect())
    try:
        status = session.read_status()
        licence = None
        counter = status.pins.get("licence")
        if status.licence_present and status.licence_pin_set is False:
            licence = session.read_licence(None)
        elif status.licence_present and counter is not None and not counter.locked:
            # The simulated card's own test PIN, from its profile: never typed, never printed.
            licence = session.read_licence(Pin("licence", profile.pins["licence"].value))
        return status, licence
    finally:
        session.close()
        reader.close()


def sample_kwargs(kind: str, profile_name: str = SAMPLE_PROFILE) -> dict:
    """Keyword arguments for build_receipt(kind, ...) with sample data."""
    status, licence = read_sample(profile_name)
    linkage = dict(SAMPLE_LINKAGE) if kind.startswith("linkage") else None
    if kind == "linkage_checklist" and linkage:
        linkage = {"steps_done": 0, "steps_total": 9}
    return {"status": status, "licence": licence if kind == "licence" else None, "linkage": linkage}
