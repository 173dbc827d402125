"""Shared helpers for the display tests: real card data, session states, fakes."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field

from kiosk.config import Config
from kiosk.display.clock import ManualClock
from kiosk.display.session import Session
from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.profile import load_profile
from kiosk.nfc.sim.reader import SimReader

TODAY = dt.date(2026, 11, 25)


def card_data(profile: str, licence_pin: str | None = None):
    """(CardStatus, LicenceData | None) read from the simulated card through the card layer."""
    reader = SimReader(load_profile(profile))
    cs = CardSession(reader.connect())
    status = cs.read_status()
    lic = None
    if licence_pin is not None or status.licence_pin_set is False:
        pin_id = "ic_pin1" if status.card_type == "ic_licence" else "licence"
        lic = cs.read_licence(Pin(pin_id, licence_pin) if licence_pin else None)
    cs.close()
    return status, lic


def offline_session(lang="ja", large_text=False, **kwargs) -> Session:
    """A session with no card worker: its state is set by hand to render screens."""
    cfg = Config()
    s = Session(cfg, clock=ManualClock(), today=lambda: TODAY, **kwargs)
    s.lang = lang
    s.large_text = large_text
    return s


@dataclass
class FakePreflight:
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    checklist: object = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class FakeProblem:
    code: str
    where: str


class FakeEngine:
    """The linkage engine's interface, with real card VERIFYs for the two PINs."""

    instances: list = []

    def __init__(self, card: CardSession, status, problems=(), fail_at=None):
        self.card, self.status = card, status
        self.step = 1
        self.finished = False
        self.calls: list[str] = []
        self.problems = list(problems)
        self.fail_at = fail_at
        self.wiped = False
        FakeEngine.instances.append(self)

    def preflight(self):
        self.calls.append("preflight")
        return FakePreflight(list(self.problems))

    def advance(self):
        self.calls.append("advance")
        assert self.step in (1, 2, 3)
        self.step += 1

    def submit_auth_pin(self, pin: Pin):
        self.calls.append("submit_auth_pin")
        assert self.step == 4
        with self.card.jpki_key("auth", pin) as key:
            key.sign(b"challenge")
        self.step = 6

    @property
    def terms(self):
        return ("2026-01", "第1条 この規約は連携の手続きに適用されます。\n" * 12)

    def accept_terms(self):
        self.calls.append("accept_terms")
        self.step = 7

    def submit_sign_pin(self, pin: Pin):
        self.calls.append("submit_sign_pin")
        assert self.step == 7
        with self.card.jpki_key("sign", pin) as key:
            key.sign(b"application")
        self.step = 9
        self.finished = True

    @property
    def reference(self):
        return "REF-0001"

    def cancel(self):
        self.calls.append("cancel")
        self.finished = True

    def wipe(self):
        self.wiped = True


def fake_linkage_factory(**options):
    return lambda card, status: FakeEngine(card, status, **options)


@dataclass
class FakePrintResult:
    ok: bool
    code: str | None = None


class FakePrinter:
    """ReceiptService's interface; answers on another thread like the real one."""

    def __init__(self, ok: bool, available: bool = True):
        self.ok = ok
        self.available = available
        self.submitted: list = []

    def submit(self, receipt, on_done, tag=None):
        self.submitted.append(receipt)
        threading.Thread(target=on_done, args=(FakePrintResult(self.ok, None if self.ok else "paper_out"),),
                         daemon=True).start()


def fake_receipt_builder(kind, lang, cfg, status=None, licence=None, linkage=None, now=None):
    return {"kind": kind, "lang": lang}



def pump_until(session, woke: threading.Event, cond, timeout: float = 10.0) -> bool:
    """Apply the worker's messages until ``cond()`` holds (woken by ``on_wake``, bounded)."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() >= end:
            return False
        woke.clear()
        session.pump()
        woke.wait(0.05)
    return True


def live_session(cfg, printer=None, receipt_builder=None):
    """(Session with a real card worker on a SimReader, the reader, its wake event)."""
    reader = SimReader()
    woke = threading.Event()
    s = Session(cfg, reader_factory=lambda: reader, clock=ManualClock(), on_wake=woke.set,
                printer=printer, receipt_builder=receipt_builder, today=lambda: TODAY)
    s.worker.idle_wait = 0.05
    return s, reader, woke
