"""The card worker under faults the card layer does not type: a card that
breaks connect() gets a message, a fault that repeats does not spin, and an
answer that took long (a gateway call) never reaches a card swapped meanwhile."""

from __future__ import annotations

import threading
import time

from kiosk.config import Config
from kiosk.display.clock import ManualClock
from kiosk.display.session import Session
from kiosk.nfc.sim.reader import SimReader

from .helpers import TODAY


def session_over(reader: SimReader, retry: float = 0.05, **kwargs) -> tuple[Session, threading.Event]:
    """A started session; ``s.posted`` lists the message types of the worker's messages."""
    woke = threading.Event()
    s = Session(Config(), reader_factory=lambda: reader, clock=ManualClock(), on_wake=woke.set,
                today=lambda: TODAY, **kwargs)
    s.posted = []
    post = s.worker._post
    s.worker._post = lambda msg: (s.posted.append(type(msg).__name__), post(msg))
    s.worker.retry = retry
    s.worker.idle_wait = 0.05
    s.start()
    return s, woke


def wait(s: Session, woke: threading.Event, cond, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while True:
        woke.clear()
        s.pump()
        if cond():
            return True
        if time.monotonic() >= end:
            return False
        woke.wait(0.05)


class GarbledReader(SimReader):
    """connect() fails with an untyped error (e.g. a short SENSB_RES: IndexError)."""

    def connect(self, exclusive: bool = False):
        raise IndexError("index out of range")


def test_a_card_that_breaks_connect_gets_a_card_error_screen():
    reader = GarbledReader()
    s, woke = session_over(reader)
    try:
        reader.insert("resident")
        assert wait(s, woke, lambda: s.screen == "card_error"), s.screens_seen
        assert s.error[0] == "card.error.card_error"
        reader.remove()
        assert wait(s, woke, lambda: s.screen == "attract")
    finally:
        s.stop()


class RemovalFails(SimReader):
    """wait_for_removal keeps raising something that is not a ReaderError."""

    def __init__(self):
        super().__init__()
        self.calls: list[float] = []
        self.twice = threading.Event()

    def wait_for_removal(self, timeout=None):
        self.calls.append(time.monotonic())
        if len(self.calls) >= 3:
            self.twice.set()
        raise RuntimeError("driver bug")


def test_a_repeating_worker_fault_backs_off_instead_of_spinning():
    reader = RemovalFails()
    s, woke = session_over(reader, retry=0.3)
    try:
        reader.insert("resident")
        assert wait(s, woke, lambda: s.screen == "summary")
        s.finish()                                   # the worker now awaits the removal
        assert reader.twice.wait(10)                 # three failed waits
        gaps = [b - a for a, b in zip(reader.calls, reader.calls[1:])]
        assert min(gaps) >= 0.25, gaps              # the retry interval, not a busy loop
        # The resident was told to take the card before the faults began: a failing
        # removal wait adds nothing for them (and never once per retry).
        assert s.posted.count("CardFault") == 0
    finally:
        s.stop()


class SlowPreflight:
    """A linkage engine whose pre-flight (a gateway round trip) takes until the test says."""

    def __init__(self, card, status, release: threading.Event, started: threading.Event):
        self.step = 1
        self.release, self.started = release, started

    def preflight(self):
        self.started.set()
        assert self.release.wait(10)
        return object()

    def wipe(self):
        pass


def test_an_answer_for_a_card_swapped_during_a_long_call_is_dropped():
    release, started = threading.Event(), threading.Event()
    reader = SimReader()
    s, woke = session_over(reader, linkage_factory=lambda card, st: SlowPreflight(card, st, release, started),
                           gateway_available=True)
    try:
        reader.insert("resident")
        assert wait(s, woke, lambda: s.screen == "summary")
        s.tap("btn_continue")
        s.tap("item_linkage")
        assert s.screen == "linkage_preflight" and started.wait(10)
        reader.insert("myna-plain")                  # swapped while the gateway answers
        release.set()
        assert wait(s, woke, lambda: "card_removed" in s.screens_seen)
        assert "LinkageReady" not in s.posted   # card A's answer never reached card B
        assert wait(s, woke, lambda: s.screen == "summary" and s.status.card_type == "myna")
    finally:
        release.set()
        s.stop()
