"""A slow or stuttering card ends within the configured deadline, through the real UI.

A real Session + CardWorker over PcscReader -> private pcscd -> vpcd -> the
simulated card (kiosk/testing/pcscd.py): a card answering 5 s per APDU, and
one answering 1 byte per READ BINARY, both end on the card_error screen
with a typed error well within ``timeouts.card_operation_seconds``; the
journal records ``card_not_responding`` and no PIN is sent twice.

Also here (no pcscd): a card the reader cannot unpower is journaled and puts
the kiosk on "service needed" until the card has left and the reader serves
again.
"""

from __future__ import annotations

import threading
import time

import pytest

from kiosk.config import Config
from kiosk.display.clock import ManualClock
from kiosk.display.session import Session
from kiosk.nfc.pcsc import PcscReader
from kiosk.nfc.sim.card import Faults
from kiosk.nfc.sim.reader import SimConnection, SimReader
from kiosk.signals import Bus, ServiceCondition

pytestmark = [pytest.mark.timeout(120)]
DEADLINE = 12.0          # seconds; the default (20 s) fits a slow real reader, this keeps the test short
EVENT_SLACK = 2.0        # pcscd notices an insertion within 0.3-0.5 s


class UiKiosk:
    """A started Session over ``open_reader``; ``until`` pumps the worker's answers."""

    def __init__(self, open_reader, deadline: float = DEADLINE):
        cfg = Config()
        cfg.timeouts.card_operation_seconds = deadline
        self.bus = Bus()
        self.service: list[tuple] = []
        self.bus.subscribe("service", lambda t, p: self.service.append((p["condition"], p["active"])))
        self.woke = threading.Event()
        self.session = Session(cfg, reader_factory=open_reader, clock=ManualClock(), bus=self.bus,
                               on_wake=self.woke.set)
        self.session.worker.retry = 0.05
        self.session.worker.idle_wait = 0.2
        self.session.start()

    def until(self, cond, timeout: float = 60.0) -> bool:
        end = time.monotonic() + timeout
        while not cond():
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.woke.clear()
            self.session.pump()
            if cond():
                return True
            self.woke.wait(min(left, 0.5))
        return True

    def screen(self, name: str, timeout: float = 60.0) -> bool:
        return self.until(lambda: self.session.screen == name, timeout)

    def enter_licence_pin(self, digits: str) -> None:
        assert self.session.tap("btn_continue") and self.screen("menu", 10)
        assert self.session.tap("item_licence") and self.screen("licence_pin", 10)
        for d in digits:
            self.session.tap(f"key_{d}")
        self.session.tap("key_ok")


def data_verifies(card) -> list:
    return [v for v in card.verifies if v.with_data]


def card_error_codes(records) -> list[str]:
    return [r["ERROR_CODE"] for r in records if r["EVENT"] == "card_error"]


@pytest.fixture
def pcsc_kiosk(pcsc_bench):
    """A real Session over PcscReader, on the attract screen; stopped and the slot emptied after."""
    kiosk = UiKiosk(lambda: PcscReader(pcsc_bench.reader_name))
    try:
        assert kiosk.screen("attract", 20)
        yield kiosk
    finally:
        kiosk.session.stop()
        pcsc_bench.remove(wait=False)


@pytest.mark.pcsc
def test_a_card_answering_5_s_per_apdu_ends_within_the_deadline(pcsc_kiosk, pcsc_bench, journal_records):
    card = pcsc_bench.insert("resident", Faults(delay=5.0))
    started = time.monotonic()
    assert pcsc_kiosk.screen("card_error", DEADLINE + 30), pcsc_kiosk.session.screens_seen
    elapsed = time.monotonic() - started
    assert elapsed <= DEADLINE + EVENT_SLACK, elapsed
    assert pcsc_kiosk.session.error == ("card_not_responding.body", {})
    events = [r for r in journal_records if r["EVENT"] == "card_not_responding"]
    assert len(events) == 1 and events[0]["OPERATION"] == "status"
    assert card_error_codes(journal_records) == ["card_not_responding"]
    assert data_verifies(card) == []
    assert card.apdu_count <= DEADLINE / 5.0          # nothing was sent past the deadline


@pytest.mark.pcsc
def test_a_card_answering_1_byte_per_read_ends_within_the_deadline(pcsc_kiosk, pcsc_bench, journal_records):
    card = pcsc_bench.insert("resident")
    assert pcsc_kiosk.screen("summary", 30), pcsc_kiosk.session.screens_seen
    card.set_faults(Faults(read_bytes=1))              # the licence file now comes 1 byte at a time
    started = time.monotonic()
    pcsc_kiosk.enter_licence_pin("1357")
    assert pcsc_kiosk.screen("card_error", DEADLINE + 30), pcsc_kiosk.session.screens_seen
    assert time.monotonic() - started <= DEADLINE
    assert card_error_codes(journal_records) == ["card_error"]
    assert len(data_verifies(card)) == 1               # the one VERIFY the resident confirmed
    reads = [e for e in card.trace[-card.apdu_count:] if e.ins == 0xB0]
    assert 0 < len(reads) <= 70                         # the READ cap, not 32,785
    assert pcsc_kiosk.session.licence is None


@pytest.mark.pcsc
def test_a_status_read_of_a_1_byte_card_is_a_typed_error_at_once(pcsc_kiosk, pcsc_bench, journal_records):
    card = pcsc_bench.insert("resident", Faults(read_bytes=1))
    started = time.monotonic()
    assert pcsc_kiosk.screen("card_error", DEADLINE + 30), pcsc_kiosk.session.screens_seen
    assert time.monotonic() - started <= DEADLINE
    assert card_error_codes(journal_records) == ["card_error"]
    assert data_verifies(card) == []


# -- no pcscd --------------------------------------------------------------------------------------
def test_a_failed_unpower_is_journaled_and_needs_service_until_the_card_left(monkeypatch, journal_records):
    reader = SimReader()
    real_close = SimConnection.close
    failures = []

    def close(self, unpower=True):
        if not failures:
            failures.append(self)
            raise OSError("reader would not unpower")
        real_close(self, unpower)
    monkeypatch.setattr(SimConnection, "close", close)
    kiosk = UiKiosk(lambda: reader)
    try:
        card = reader.insert("resident")
        assert kiosk.screen("summary", 10)
        kiosk.session.finish()
        assert kiosk.until(lambda: kiosk.service == [(ServiceCondition.NO_READER, True)], 10), kiosk.service
        assert kiosk.screen("service_needed", 10)
        events = [r for r in journal_records if r["EVENT"] == "unpower_failed"]
        assert len(events) == 1 and events[0]["EXCEPTION"] == "OSError"
        assert [r["ERROR_CODE"] for r in journal_records if r["EVENT"] == "reader_missing"] == ["unpower_failed"]
        assert card.powered                                 # the failure is real: the card is still powered
        reader.remove()                                     # it leaves the field: unpowered
        reader.insert("myna-plain")                         # the next resident is served on a fresh reader
        assert kiosk.screen("summary", 10), kiosk.session.screens_seen
        assert kiosk.service == [(ServiceCondition.NO_READER, True), (ServiceCondition.NO_READER, False)]
    finally:
        kiosk.session.stop()
