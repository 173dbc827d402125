"""Engine rules that do not depend on the card path: misuse by a UI is refused
without touching the card, and a wiped engine is over."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.linkage.engine import STEP_NAMES, STEPS, LinkageEngine, LinkageStateError
from kiosk.nfc.card import CardSession
from kiosk.nfc.model import CardStatus, PinCounter
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.reader import SimReader


@pytest.fixture
def at_step4(client, gateway):
    reader = SimReader()
    card = reader.insert("resident")
    session = CardSession(reader.connect())
    engine = LinkageEngine(session, session.read_status(), client, "kiosk-test-01")
    engine.preflight()
    for _ in range(3):
        engine.advance()
    yield card, engine
    session.close()


def test_a_pin_for_the_wrong_counter_is_refused_and_wiped(at_step4):
    card, engine = at_step4
    pin = Pin("jpki_sign", "KIOSK2025")
    with pytest.raises(LinkageStateError):
        engine.submit_auth_pin(pin)
    assert pin.wiped and engine.step == 4 and not engine.finished
    assert [v for v in card.verifies if v.with_data] == []


def test_steps_out_of_order_are_refused(at_step4):
    card, engine = at_step4
    with pytest.raises(LinkageStateError):
        engine.advance()
    with pytest.raises(LinkageStateError):
        engine.accept_terms()
    with pytest.raises(LinkageStateError):
        _ = engine.terms
    with pytest.raises(LinkageStateError):
        _ = engine.reference
    assert engine.step == 4 and not engine.finished


def test_wipe_ends_the_flow(at_step4):
    card, engine = at_step4
    engine.wipe()
    assert engine.finished and engine.outcome == "cancelled" and engine._challenge is None
    pin = Pin("jpki_auth", "2468")
    with pytest.raises(LinkageStateError):
        engine.submit_auth_pin(pin)
    assert pin.wiped and [v for v in card.verifies if v.with_data] == []


def test_wipe_after_completion_drops_the_reference(at_step4):
    card, engine = at_step4
    engine.submit_auth_pin(Pin("jpki_auth", "2468"))
    engine.accept_terms()
    engine.submit_sign_pin(Pin("jpki_sign", "KIOSK2025"))
    assert engine.reference.startswith("DEMO-")
    engine.wipe()
    assert engine.outcome == "complete"
    with pytest.raises(LinkageStateError):
        _ = engine.reference


def test_step_names_cover_every_step():
    assert sorted(STEP_NAMES) == list(range(STEPS + 1))


def status(**overrides):
    st = CardStatus(card_type="myna_licence", licence_present=True, sign_cert_present=True,
                    auth_cert_not_after=dt.date(2029, 5, 2),
                    pins={"jpki_auth": PinCounter("jpki_auth", 3, 3, False),
                          "jpki_sign": PinCounter("jpki_sign", 5, 5, False)})
    for k, v in overrides.items():
        setattr(st, k, v)
    return st


@pytest.mark.parametrize("changes, problems, warnings", [
    ({}, [], []),
    ({"pins": {"jpki_auth": PinCounter("jpki_auth", 1, 3, False),
               "jpki_sign": PinCounter("jpki_sign", 1, 5, False)}}, [],
     ["jpki_auth_last_try", "jpki_sign_last_try"]),
    ({"pins": {"jpki_auth": PinCounter("jpki_auth", 3, 3, False),
               "jpki_sign": PinCounter("jpki_sign", 0, 5, True)}},
     [("jpki_sign_locked", "municipality")], []),
    ({"card_type": "ic_licence", "pins": {}}, [("not_my_number_card", "counter")], []),
    ({"sign_cert_present": False, "licence_present": False,
      "auth_cert_not_after": dt.date(2026, 11, 24)},
     [("no_sign_cert", "municipality"), ("cert_expired", "municipality"), ("no_licence", "police")], []),
])
def test_preflight_from_status(changes, problems, warnings):
    def clock() -> float:
        return 1795600000.0               # 2026-11-25 (JST)
    engine = LinkageEngine(None, status(**changes), None, "kiosk-1", clock=clock)
    pre = engine.preflight()
    assert [(p.code, p.where) for p in pre.problems] == problems
    assert pre.warnings == warnings and pre.ok == (not problems)
    if problems:
        with pytest.raises(Exception) as exc:
            engine.advance()
        assert exc.value.details["problems"] == [p for p, _ in problems]


def test_preflight_skips_the_gateway_when_none_is_configured():
    class Exploding:
        def health(self, **kw):
            raise AssertionError("must not be called")
    assert LinkageEngine(None, status(), None, "k").preflight().ok
    with pytest.raises(AssertionError):
        LinkageEngine(None, status(), Exploding(), "k").preflight()


class _OperatorGateway:
    """A gateway whose health answer does not say test_only (an operator's)."""

    def __init__(self, health):
        self._health = health

    def health(self, timeout=None, retries=None):
        return self._health


@pytest.mark.parametrize("health, demo", [({"status": "ok"}, False), ({"test_only": "yes"}, False),
                                          (None, False), ({"status": "ok", "test_only": True}, True)])
def test_only_a_gateway_that_says_test_only_is_labelled_demo(health, demo, records):
    reader = SimReader()
    reader.insert("resident")
    session = CardSession(reader.connect())
    engine = LinkageEngine(session, session.read_status(), _OperatorGateway(health), "kiosk-test-01")
    assert engine.preflight().ok and engine.demo_gateway is demo
    pre = [r for r in records if r["EVENT"] == "linkage_step" and r["STEP"] in (0, "0")]
    assert pre[-1]["GATEWAY"] == ("demo" if demo else "operator")
    session.close()
