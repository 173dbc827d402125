"""End to end: the simulated card, the engine, the client and the reference
gateway process.  Each case asserts the outcome AND what happened to the
card's try counters, read from the card's own VERIFY log."""

from __future__ import annotations

import re

import pytest

from kiosk.errors import CardRemovedError, NoLicenceError, PinLockedError, PinWrongError
from kiosk.linkage.client import GatewayClient
from kiosk.linkage.engine import LinkageEngine, LinkageStateError
from kiosk.linkage.errors import (GatewayProtocolError, GatewayServerError, GatewaySlowError,
                                  GatewayUnreachableError, TermsChangedError)
from kiosk.nfc.apdu import AID_JPKI
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.card import Faults
from kiosk.nfc.sim.profile import load_profile

AUTH_PIN, SIGN_PIN = "2468", "KIOSK2025"


def start(bench, client, profile="resident", faults=None):
    card = bench.insert(profile, faults)
    session = bench.session()
    status = session.read_status()
    engine = LinkageEngine(session, status, client, "kiosk-test-01")
    return card, session, engine


def to_step4(engine):
    pre = engine.preflight()
    assert pre.ok, pre.problems
    for want in (2, 3, 4):
        assert engine.advance() == want


def pin_verifies(card, pin_id=None):
    """(pin id, status word) of every VERIFY that carried a PIN."""
    return [(v.pin_id, f"{v.sw:04X}") for v in card.verifies
            if v.with_data and (pin_id is None or v.pin_id == pin_id)]


def assert_counter_read_first(card):
    """Every VERIFY with data came right after an empty VERIFY of the same counter."""
    for i, v in enumerate(card.verifies):
        if v.with_data:
            before = card.verifies[i - 1]
            assert before.pin_id == v.pin_id and not before.with_data


def test_success(bench, client, gateway, records):
    card, session, engine = start(bench, client)
    to_step4(engine)
    engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    assert engine.step == 6
    version, text = engine.terms
    assert version == gateway.stats()["terms_version"] and text
    engine.accept_terms()
    assert engine.step == 7
    engine.submit_sign_pin(Pin("jpki_sign", SIGN_PIN.lower()))     # upper-cased by Pin
    assert engine.step == 9 and engine.outcome == "complete"
    assert re.fullmatch(r"DEMO-\d{10}", engine.reference)
    assert pin_verifies(card) == [("jpki_auth", "9000"), ("jpki_sign", "9000")]
    assert card.pin_tries("jpki_auth") == 3 and card.pin_tries("jpki_sign") == 5
    assert card.signatures == 2
    assert_counter_read_first(card)
    assert gateway.stats()["requests"] == {"health": 1, "sessions": 1, "auth": 1, "application": 1}
    steps = [int(r["STEP"]) for r in records if r["EVENT"] == "linkage_step"]
    assert steps == [0, 2, 3, 4, 5, 6, 7, 8, 9]
    # personal data never reaches the journal; the engine forgets the certificates
    dumped = repr(records)
    for canary in card.profile.canaries:
        assert canary not in dumped
    assert engine._auth_certificate is None and engine._sign_certificate is None
    session.close()


def test_wrong_auth_pin_then_right(bench, client, gateway):
    card, session, engine = start(bench, client)
    to_step4(engine)
    with pytest.raises(PinWrongError) as exc:
        engine.submit_auth_pin(Pin("jpki_auth", "1111"))
    assert exc.value.tries_left == 2 and exc.value.pin_id == "jpki_auth"
    assert engine.step == 4 and not engine.finished
    assert card.pin_tries("jpki_auth") == 2
    assert card.signatures == 0 and gateway.requests("auth") == 0
    engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))       # a new Pin, after confirming
    assert engine.step == 6
    assert card.pin_tries("jpki_auth") == 3                  # a right PIN resets the counter
    assert pin_verifies(card) == [("jpki_auth", "63C2"), ("jpki_auth", "9000")]
    assert gateway.requests("sessions") == 1                 # the unused challenge was kept
    assert_counter_read_first(card)
    session.close()


def test_wrong_sign_password_shows_counter(bench, client, gateway):
    card, session, engine = start(bench, client)
    to_step4(engine)
    engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    engine.accept_terms()
    with pytest.raises(PinWrongError) as exc:
        engine.submit_sign_pin(Pin("jpki_sign", "WRONG999"))
    assert exc.value.tries_left == 4 and exc.value.pin_id == "jpki_sign"
    assert session.counters["jpki_sign"].tries_left == 4     # what the UI shows
    assert engine.step == 7 and card.pin_tries("jpki_sign") == 4
    assert gateway.requests("application") == 0 and card.signatures == 1
    engine.submit_sign_pin(Pin("jpki_sign", SIGN_PIN))
    assert engine.outcome == "complete"
    assert pin_verifies(card, "jpki_sign") == [("jpki_sign", "63C4"), ("jpki_sign", "9000")]
    assert card.pin_tries("jpki_sign") == 5
    session.close()


@pytest.mark.parametrize("profile, code, where, error", [
    ("jpki-locked", "jpki_auth_locked", "municipality", PinLockedError),
    ("minor", "no_sign_cert", "municipality", None),
    ("cert-expired", "cert_expired", "municipality", None),
    ("myna-plain", "no_licence", "police", NoLicenceError),
])
def test_preflight_refusals(bench, client, gateway, profile, code, where, error):
    card, session, engine = start(bench, client, profile)
    pre = engine.preflight()
    assert not pre.ok
    assert [(p.code, p.where) for p in pre.problems] == [(code, where)]
    with pytest.raises(error or Exception) as exc:
        engine.advance()
    assert exc.value.details["problems"] == [code]
    assert engine.step == 1
    assert pin_verifies(card) == []                           # no PIN was ever sent
    assert gateway.requests("sessions") == 0
    if profile == "jpki-locked":
        assert pre.checklist.to_json()["pins"][0] == {"id": "jpki_auth", "tries_left": 0,
                                                     "max_tries": 3, "locked": True}
        assert card.pin_tries("jpki_auth") == 0
    session.close()


def test_preflight_warns_on_last_try(bench, client, gateway, tmp_path):
    text = load_profile("resident").path.read_text(encoding="utf-8")
    text = text.replace('jpki_auth = { value = "2468", tries_left = 3 }',
                        'jpki_auth = { value = "2468", tries_left = 1 }')
    (tmp_path / "last-try.toml").write_text(text, encoding="utf-8")
    card, session, engine = start(bench, client, load_profile(tmp_path / "last-try.toml"))
    pre = engine.preflight()
    assert pre.ok and pre.warnings == ["jpki_auth_last_try"]
    assert pre.checklist.cert_valid_until.isoformat() == "2029-05-02"
    assert pin_verifies(card) == []
    session.close()


def test_card_removed_at_step5(bench, client, gateway, records):
    card, session, engine = start(bench, client)
    to_step4(engine)
    # The public certificate is read before the VERIFY; with JPKI already selected,
    # the engine's read costs what a second read costs here.
    session.read_auth_certificate()
    n = len(card.trace)
    session.read_auth_certificate()
    cert_reads = len(card.trace) - n
    # The certificate read, the counter read and the VERIFY; then the card leaves.
    card.set_faults(Faults(remove_after=cert_reads + 2))
    with pytest.raises(CardRemovedError):
        engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    assert engine.finished and engine.outcome == "card_removed" and engine.step == 5
    assert engine._challenge is None and engine._auth_certificate is None
    assert pin_verifies(card) == [("jpki_auth", "9000")] and card.pin_tries("jpki_auth") == 3
    assert card.signatures == 0 and gateway.requests("auth") == 0
    with pytest.raises(LinkageStateError):
        engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    assert any(r.get("RESULT") == "card_removed" for r in records)


def test_card_removed_at_step8(bench, client, gateway):
    card, session, engine = start(bench, client)
    to_step4(engine)
    engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    engine.accept_terms()
    card.set_faults(Faults(remove_after=2))     # the sign counter read and the VERIFY, then gone
    with pytest.raises(CardRemovedError):
        engine.submit_sign_pin(Pin("jpki_sign", SIGN_PIN))
    assert engine.finished and engine.outcome == "card_removed" and engine.step == 8
    assert engine._sign_certificate is None and engine._session is None
    assert pin_verifies(card, "jpki_sign") == [("jpki_sign", "9000")]
    assert card.pin_tries("jpki_sign") == 5 and card.signatures == 1
    assert gateway.requests("application") == 0


def test_gateway_down_in_preflight(bench, client, gateway):
    card, session, engine = start(bench, client)
    gateway.fault("down")
    pre = engine.preflight()
    assert [(p.code, p.where) for p in pre.problems] == [("gateway_unreachable", "counter")]
    assert gateway.requests("health") == 2                  # the short probe: 1 + 1 retry
    assert pin_verifies(card) == []
    session.close()


def test_gateway_down_after_auth_signature(bench, client, gateway, records):
    card, session, engine = start(bench, client)
    to_step4(engine)
    gateway.fault("down", match="/auth")
    with pytest.raises(GatewayUnreachableError) as exc:
        engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    assert exc.value.retryable and exc.value.message_key == "linkage.error.unreachable"
    assert gateway.requests("auth") == 3                    # the network call was retried...
    assert pin_verifies(card) == [("jpki_auth", "9000")]     # ...the VERIFY was not
    assert card.signatures == 1
    assert engine.step == 4 and not engine.finished          # the resident may try again
    assert engine._auth_certificate is None and engine._challenge is None
    assert [r["ATTEMPTS"] for r in records if r["EVENT"] == "linkage_unreachable"] == ["3"]
    session.close()


def test_gateway_slow(bench, gateway):
    slow_client = GatewayClient(gateway.url, ca=gateway.ca, timeout=1.0, retries=1, backoff=0)
    card, session, engine = start(bench, slow_client)
    to_step4(engine)
    gateway.fault("slow", seconds=5, match="/auth")      # the server waits; the client gives up
    with pytest.raises(GatewaySlowError):
        engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    assert gateway.requests("auth") == 2
    assert pin_verifies(card) == [("jpki_auth", "9000")] and card.signatures == 1
    assert engine.step == 4
    slow_client.close()
    session.close()


def test_gateway_answers_500(bench, client, gateway, records):
    card, session, engine = start(bench, client)
    to_step4(engine)
    engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    engine.accept_terms()
    gateway.fault("error500", match="/application")
    with pytest.raises(GatewayServerError) as exc:
        engine.submit_sign_pin(Pin("jpki_sign", SIGN_PIN))
    assert exc.value.details["status"] == 500
    assert gateway.requests("application") == 3
    assert pin_verifies(card, "jpki_sign") == [("jpki_sign", "9000")] and card.signatures == 2
    assert engine.step == 7 and not engine.finished and engine._sign_certificate is None
    assert any(r["EVENT"] == "linkage_server_error" for r in records)
    session.close()


def test_gateway_replaying_a_challenge(bench, client, gateway, records):
    card, session, engine = start(bench, client)
    to_step4(engine)                                           # challenge #1
    session.close()
    gateway.fault("replay_challenge", match="/v1/sessions", count=1)
    card2, session2, engine2 = start(bench, client)
    engine2.preflight()
    engine2.advance()
    engine2.advance()
    with pytest.raises(GatewayProtocolError) as exc:
        engine2.advance()                                      # the same challenge again
    assert exc.value.details["refusal"] == "challenge_replayed"
    assert engine2.step == 3
    assert pin_verifies(card2) == [] and card2.signatures == 0
    assert any(r["EVENT"] == "linkage_protocol_error" for r in records)
    session2.close()


def test_terms_changed_between_steps_6_and_9(bench, client, gateway, records):
    card, session, engine = start(bench, client)
    to_step4(engine)
    engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    old_version = engine.terms[0]
    engine.accept_terms()
    new_version = gateway.change_terms()
    with pytest.raises(TermsChangedError):
        engine.submit_sign_pin(Pin("jpki_sign", SIGN_PIN))
    assert engine.step == 6 and engine.terms[0] == new_version != old_version
    assert gateway.stats()["references"] == 0
    engine.accept_terms()                                      # consent to the new terms
    engine.submit_sign_pin(Pin("jpki_sign", SIGN_PIN))       # and a new entry of the password
    assert engine.outcome == "complete"
    assert pin_verifies(card, "jpki_sign") == [("jpki_sign", "9000")] * 2
    assert card.pin_tries("jpki_sign") == 5 and card.signatures == 3
    assert any(r["EVENT"] == "linkage_terms_changed" for r in records)
    session.close()


def test_cancel_wipes_and_ends(bench, client, gateway):
    card, session, engine = start(bench, client)
    to_step4(engine)
    engine.cancel()
    assert engine.finished and engine.outcome == "cancelled" and engine._challenge is None
    pin = Pin("jpki_auth", AUTH_PIN)
    with pytest.raises(LinkageStateError):
        engine.submit_auth_pin(pin)
    assert pin.wiped and pin_verifies(card) == []
    session.close()


def test_no_gateway_configured(bench):
    card, session, engine = start(bench, None)
    pre = engine.preflight()
    assert pre.ok
    assert pre.checklist.to_json() == {
        "pins": [{"id": "jpki_auth", "tries_left": 3, "max_tries": 3, "locked": False},
                 {"id": "jpki_sign", "tries_left": 5, "max_tries": 5, "locked": False}],
        "cert_valid_until": "2029-05-02", "sign_cert_present": True, "licence_present": True,
        "continue_url": "https://myna.go.jp/"}
    engine.advance()
    engine.advance()
    from kiosk.linkage.errors import GatewayNotConfiguredError
    with pytest.raises(GatewayNotConfiguredError):
        engine.advance()
    assert pin_verifies(card) == []
    session.close()


def test_success_with_different_subject_names(bench, client, gateway, records):
    """A card whose two certificates carry different subject CNs (the
    `jpki-distinct-cn` profile) completes: nothing pairs them by name."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    card, session, engine = start(bench, client, "jpki-distinct-cn")
    names = {purpose: x509.load_der_x509_certificate(card.fs[AID_JPKI][ef].content).subject
             .get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
             for purpose, ef in (("auth", 0x000A), ("sign", 0x0001))}
    assert names["auth"] != names["sign"]
    to_step4(engine)
    engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    engine.accept_terms()
    engine.submit_sign_pin(Pin("jpki_sign", SIGN_PIN))
    assert engine.outcome == "complete" and re.fullmatch(r"DEMO-\d{10}", engine.reference)
    assert pin_verifies(card) == [("jpki_auth", "9000"), ("jpki_sign", "9000")]
    assert card.signatures == 2 and gateway.stats()["references"] == 1
    assert engine.demo_gateway                   # the reference gateway says it is a demo
    assert all(r.get("GATEWAY") == "demo" for r in records if r["EVENT"] == "linkage_step")
    dumped = repr(records)
    for canary in card.profile.canaries:          # both subject CNs are canaries
        assert canary not in dumped
    assert set(names.values()) <= set(card.profile.canaries)
    session.close()
