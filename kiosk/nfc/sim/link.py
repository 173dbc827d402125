"""What the two link servers (vpcd, nfc-udp) share: the card slot and its controls.

A link server presents one SimulatedCard at a time over a real transport.
Insert, remove, re-insert, swap and remove-after-N are the same for both, so
tests, the bench and ``kiosk sim serve`` drive either through this API.
The optional trace file gets the card's masked trace (``TraceEntry.render()``),
so no PIN can reach it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, TextIO

from kiosk.nfc.sim.card import Faults, SimulatedCard
from kiosk.nfc.sim.profile import Profile, load_profile


def make_card(what: Profile | str | SimulatedCard, faults: Faults | None = None) -> SimulatedCard:
    """A fresh card from a profile (name, path or Profile), or the same card placed again."""
    if isinstance(what, SimulatedCard):
        what.reinsert()
        if faults is not None:
            what.set_faults(faults)
        return what
    profile = load_profile(what) if isinstance(what, (str, Path)) else what
    return SimulatedCard(profile, faults)


class CardSlot:
    """The card in the field.  Subclasses connect/disconnect the transport."""

    def __init__(self, trace: str | Path | TextIO | None = None):
        # Called with ("inserted" | "removed" | "left", card); "left" = the card
        # removed itself (Faults.remove_after).  ``kiosk sim serve`` prints these.
        self.on_event: Callable[[str, SimulatedCard], None] | None = None
        self._cond = threading.Condition()
        self.card: SimulatedCard | None = None
        self.last_card: SimulatedCard | None = None
        self.insertions = 0
        self._trace_out: TextIO | None = None
        self._own_trace = False
        if isinstance(trace, (str, Path)):
            self._trace_out = open(trace, "a", encoding="utf-8")
            self._own_trace = True
        elif trace is not None:
            self._trace_out = trace
        self._traced = 0

    # -- controls ------------------------------------------------------------
    def insert(self, what: Profile | str | SimulatedCard, faults: Faults | None = None) -> SimulatedCard:
        """Place a card (a previous one is removed first) and connect the link."""
        self.remove()
        card = make_card(what, faults)
        with self._cond:
            self.card = self.last_card = card
            self.insertions += 1
            self._traced = len(card.trace)
            self._cond.notify_all()
        try:
            self._attach(card)
        except BaseException:
            with self._cond:                 # the link never came up: no card in the field
                self.card = None
                self._cond.notify_all()
            raise
        self._notify("inserted", card)
        return card

    def reinsert(self, faults: Faults | None = None) -> SimulatedCard:
        """The last card placed again (its PIN counters carry over, its power does not)."""
        if self.last_card is None:
            raise RuntimeError("no card has been inserted yet")
        return self.insert(self.last_card, faults)

    def swap(self, what: Profile | str | SimulatedCard) -> SimulatedCard:
        return self.insert(what)

    def remove_after(self, n: int) -> None:
        """The card in the field answers n more APDUs, then leaves."""
        card = self.card
        if card is not None:
            card.set_faults(Faults(remove_after=n))

    def remove(self) -> None:
        """Take the card out of the field: the link drops."""
        with self._cond:
            card, self.card = self.card, None
            self._cond.notify_all()
        if card is not None:
            self._detach(card)
            card.power_off()
            self._notify("removed", card)

    def card_left(self, card: SimulatedCard) -> None:
        """The card removed itself (Faults.remove_after): drop the link."""
        with self._cond:
            if self.card is not card:
                return
            self.card = None
            self._cond.notify_all()
        self._detach(card)
        self._notify("left", card)

    def _notify(self, event: str, card: SimulatedCard) -> None:
        if self.on_event is not None:
            self.on_event(event, card)

    def wait_removed(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.card is None, timeout)

    def close(self) -> None:
        self.remove()
        if self._own_trace and self._trace_out is not None:
            self._trace_out.close()
        self._trace_out = None

    # -- trace -----------------------------------------------------------------
    def flush_trace(self, card: SimulatedCard) -> None:
        """Append the card's new (masked) trace entries to the trace file."""
        if self._trace_out is None:
            return
        entries = card.trace[self._traced:]
        self._traced = len(card.trace)
        for entry in entries:
            self._trace_out.write(entry.render() + "\n")
        if entries:
            self._trace_out.flush()

    # -- transport hooks ---------------------------------------------------------
    def _attach(self, card: SimulatedCard) -> None:
        raise NotImplementedError

    def _detach(self, card: SimulatedCard) -> None:
        raise NotImplementedError

    def __enter__(self) -> "CardSlot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
