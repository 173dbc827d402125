"""Engine rules that do not depend on the card path: misuse by a UI is refused
without touching the card, and a wiped engine is over."""

from __future__ import annotations

import pytest

from kiosk.linkage.engine import STEP_NAMES, STEPS, LinkageEngine, LinkageStateError
from kiosk.nfc.card import CardSession
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
        engine.terms
    with pytest.raises(LinkageStateError):
        engine.reference
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
    assert engine.reference.startswith("ML-")
    engine.wipe()
    assert engine.outcome == "complete"
    with pytest.raises(LinkageStateError):
        engine.reference


def test_step_names_cover_every_step():
    assert sorted(STEP_NAMES) == list(range(STEPS + 1))
