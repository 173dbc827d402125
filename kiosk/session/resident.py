"""Everything the kiosk knows about the resident at the reader, in one object.

Created when a card is placed, dropped (and wiped) when the resident goes: on
removal, on a timeout, at Finish.  Nothing of it is kept anywhere else, so
dropping this one object is what "nothing of one resident survives into the
next session" means.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kiosk import journal
from kiosk.nfc.model import CardStatus, LicenceData, PinCheck, PinCounter
from kiosk.nfc.pins import PIN_SPECS


@dataclass
class Resident:
    """The current resident's card facts and where they are in the flow."""

    gen: int = 0                               # the card worker's generation of this card
    started: float | None = None               # clock time of insertion (the session cap counts from it)
    status: CardStatus | None = None           # the UI thread's own snapshot (never the worker's object)
    licence: LicenceData | None = None         # kept only while the licence screen shows it
    photo: Any = None                          # its decoded face photo (PIL image)
    show_number: bool = False
    pin_id: str | None = None                  # the PIN the pad is for
    pending: str | None = None                 # what the card worker is doing for us now
    cancel_requested: bool = False
    linkage: dict[str, Any] = field(default_factory=dict)
    terms_page: int = 0
    pin_checks: dict[str, Any] = field(default_factory=dict)   # pin id -> PinChecked (issue #12)

    def learn_pin_check(self, check: PinCheck) -> None:
        """A PIN check's result replaces the snapshot (readiness and hand-off redraw from it)."""
        if self.status is not None and check.pin_id in PIN_SPECS:
            self.status = self.status.with_pin_check(check)

    def set_counter(self, pin_id: str, left: int, locked: bool) -> None:
        """A new count for one PIN: a new snapshot, the old one is not changed under a reader."""
        if self.status is None or pin_id not in PIN_SPECS:
            return
        pins = dict(self.status.pins)
        pins[pin_id] = PinCounter(pin_id, left, PIN_SPECS[pin_id].max_tries, locked)
        self.status = dataclasses.replace(self.status, pins=pins)

    def drop_licence(self) -> None:
        """Minimal retention: the licence goes when its screen goes."""
        if self.licence is not None:
            self.licence.wipe()
            self.licence = None
        if self.photo is not None:
            try:
                self.photo.close()
            except (OSError, ValueError) as exc:    # an image already closed: nothing left to free
                journal.log_swallowed("resident.photo_close", exc)
            self.photo = None
        self.show_number = False

    def wipe(self) -> None:
        self.drop_licence()
        self.status = None
        self.linkage = {}
        self.pin_checks = {}
        self.pending = None
