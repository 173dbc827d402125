"""An in-process reader holding the simulated card (URI ``sim:PROFILE``).

Insert, remove and swap are methods, so tests and the desktop card tray (F1-F9)
drive it directly; waits use a Condition, never sleeps.
"""

from __future__ import annotations

import threading

from kiosk.errors import CardRemovedError, NoCardError
from kiosk.nfc.reader import Connection, Reader
from kiosk.nfc.sim.card import CardGone, Faults, SimulatedCard
from kiosk.nfc.sim.profile import Profile, load_profile


class SimConnection(Connection):
    def __init__(self, reader: "SimReader", card: SimulatedCard):
        self._reader = reader
        self._card = card
        self.atr = card.power_on()
        self.exclusive = False
        self.closed = False

    def transmit(self, apdu: bytes | bytearray) -> bytes:
        if self.closed:
            raise CardRemovedError("connection closed")
        if self._reader.card is not self._card:
            raise CardRemovedError("card removed")
        try:
            return self._card.process(apdu)
        except CardGone:
            self._reader._card_left(self._card)
            raise CardRemovedError("card removed") from None

    def set_exclusive(self, exclusive: bool) -> None:
        self.exclusive = exclusive

    def same_card(self) -> bool:
        return not self.closed and self._reader.card is self._card and not self._card.gone

    def close(self, unpower: bool = True) -> None:
        if not self.closed and unpower and self._reader.card is self._card:
            self._card.power_off()
        self.closed = True


class SimReader(Reader):
    def __init__(self, profile: Profile | None = None, name: str = "Simulated reader"):
        self.name = name
        self.uri = "sim:" + (profile.name if profile else "")
        self._cond = threading.Condition()
        self.card: SimulatedCard | None = None
        self.last_card: SimulatedCard | None = None
        if profile is not None:
            self.insert(profile)

    # -- test and card-tray controls ------------------------------------------
    def insert(self, profile: Profile | str | SimulatedCard, faults: Faults | None = None) -> SimulatedCard:
        if isinstance(profile, SimulatedCard):
            card = profile
            card.reinsert()
        else:
            card = SimulatedCard(load_profile(profile) if isinstance(profile, str) else profile, faults)
        with self._cond:
            self.card = card
            self.last_card = card
            self._cond.notify_all()
        return card

    def remove(self) -> None:
        with self._cond:
            if self.card is not None:
                self.card.power_off()
            self.card = None
            self._cond.notify_all()

    def _card_left(self, card: SimulatedCard) -> None:
        with self._cond:
            if self.card is card:
                self.card = None
                self._cond.notify_all()

    # -- Reader ------------------------------------------------------------------
    def card_present(self) -> bool:
        return self.card is not None and not self.card.gone

    def wait_for_card(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(self.card_present, timeout)

    def wait_for_removal(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self.card_present(), timeout)

    def connect(self, exclusive: bool = False) -> SimConnection:
        card = self.card
        if card is None or card.gone:
            raise NoCardError("no card on the reader")
        try:
            conn = SimConnection(self, card)
        except CardGone:
            self._card_left(card)
            raise NoCardError("no card on the reader") from None
        conn.set_exclusive(exclusive)
        return conn


def open_sim_reader(rest: str) -> SimReader:
    """``sim:`` (empty reader), ``sim:NAME`` or ``sim:path/to/profile.toml``."""
    return SimReader(load_profile(rest) if rest else None)
