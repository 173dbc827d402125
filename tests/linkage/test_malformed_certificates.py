"""A malformed certificate read from the card is a typed card error on every
surface: kiosk/linkage/cms.py, the engine's sign and auth steps, the touchscreen's
linkage error screen and `kiosk linkage run` (exit 30, reason malformed_certificate).

The bad bytes are put on the simulated card by a profile (`[jpki]
sign_certificate_hex` / `auth_certificate_hex`), so the real card layer reads
them with real APDUs; nothing between the card and the code under test is faked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.errors import EXIT_CODES, CardProtocolError
from kiosk.linkage.cms import SignedApplication, load_card_certificate
from kiosk.linkage.engine import LinkageEngine
from kiosk.linkage.errors import CardCertificateError
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim import pki
from kiosk.nfc.sim.profile import PROFILE_DIR

ROOT = Path(__file__).resolve().parents[2]
AUTH_PIN, SIGN_PIN = "2468", "KIOSK2025"
VALID = (dt.date(2024, 5, 10), dt.date(2029, 5, 2))


def good_sign_certificate() -> bytes:
    return pki.card_certificate("sign", "resident", *VALID, {"name": "試験"})[1]


def bad_utf8_in_subject(der: bytes) -> bytes:
    """The real certificate with one byte of its subject CN replaced by 0xFF."""
    cn = pki.opaque_common_name("resident").encode()
    at = der.index(b"\x0c" + bytes((len(cn),)) + cn)
    return der[:at + 2] + b"\xff" + der[at + 3:]


def ec_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not JPKI")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(dt.datetime(2024, 1, 1))
            .not_valid_after(dt.datetime(2030, 1, 1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def malformed_cases() -> dict[str, bytes]:
    good = good_sign_certificate()
    return {
        "tiny-sequence": bytes.fromhex("3003020100"),           # the example
        "truncated": good[:len(good) // 2],
        "truncated-by-one": good[:-1],
        "bad-utf8-name": bad_utf8_in_subject(good),
        "missing-fields": bytes.fromhex("300d3006a003020102020101300003020000"),
        "trailing-byte": good + b"\x00",
        "not-rsa": ec_certificate(),
        "not-der": b"\xff" * 40,
    }


CASES = malformed_cases()


# -- 1. cms.py ------------------------------------------------------------------------------
def test_a_good_certificate_loads():
    cert = load_card_certificate(good_sign_certificate(), "sign")
    assert cert.serial_number


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_certificates_are_typed_card_errors(name):
    with pytest.raises(CardCertificateError) as exc:
        load_card_certificate(CASES[name], "sign")
    err = exc.value
    assert isinstance(err, CardProtocolError) and err.code == "card_error" and err.exit_code == 30
    assert err.details == {"reason": "malformed_certificate", "certificate": "sign"}
    with pytest.raises(CardCertificateError):                # what the engine's sign step builds
        SignedApplication(b"content", CASES[name], dt.datetime.now(dt.timezone.utc))


def _mutate(der: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    raw = bytearray(der)
    for pos, value in edits:
        raw[pos % len(raw)] = value
    return bytes(raw[:cut] if cut else raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), max_size=6),
       cut=st.none() | st.integers(1, 2000))
def test_mutated_certificates_never_escape_as_other_exceptions(edits, cut):
    """Any byte edits or truncation of a real certificate: a certificate or a
    CardCertificateError, never ValueError, UnicodeDecodeError or anything else."""
    der = _mutate(GOOD, edits, cut)
    try:
        load_card_certificate(der, "sign")
    except CardCertificateError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_escape_as_other_exceptions(raw):
    try:
        load_card_certificate(b"\x30\x82" + len(raw).to_bytes(2, "big") + raw, "auth")
    except CardCertificateError:
        pass
    try:
        load_card_certificate(raw, "auth")
    except CardCertificateError:
        pass


GOOD = good_sign_certificate()


# -- 2. the engine --------------------------------------------------------------------------
def profile_with(tmp_path: Path, purpose: str, der: bytes) -> Path:
    """The resident profile with ``der`` in place of its ``purpose`` certificate."""
    text = (PROFILE_DIR / "resident.toml").read_text(encoding="utf-8")
    text = text.replace("sign_certificate = true",
                        f'sign_certificate = true\n{purpose}_certificate_hex = "{der.hex()}"')
    path = tmp_path / f"malformed-{purpose}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_sign_certificate_ends_the_flow_with_a_card_error(bench, client, gateway, records,
                                                                   tmp_path):
    card = bench.insert(str(profile_with(tmp_path, "sign", CASES["tiny-sequence"])))
    session = bench.session()
    engine = LinkageEngine(session, session.read_status(), client, "kiosk-test-01")
    assert engine.preflight().ok
    for _ in range(3):
        engine.advance()
    engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    engine.accept_terms()
    with pytest.raises(CardCertificateError) as exc:
        engine.submit_sign_pin(Pin("jpki_sign", SIGN_PIN))
    assert exc.value.purpose == "sign"
    assert engine.finished and engine.outcome == "failed"
    assert card.signatures == 1                       # the auth signature only: the card never signed
    assert gateway.requests("application") == 0
    assert engine._sign_certificate is None
    ended = [r for r in records if r["EVENT"] == "linkage_error"]
    assert [(r["ERROR_CODE"], r["REASON"], r["CERTIFICATE"]) for r in ended] == [
        ("card_error", "malformed_certificate", "sign")]
    session.close()


def test_malformed_auth_certificate_ends_at_step_5_without_signing(bench, client, gateway, records,
                                                                  tmp_path):
    der = bad_utf8_in_subject(pki.card_certificate("auth", "resident", *VALID)[1])
    card = bench.insert(str(profile_with(tmp_path, "auth", der)))
    session = bench.session()
    engine = LinkageEngine(session, session.read_status(), client, "kiosk-test-01")
    assert engine.preflight().ok
    for _ in range(3):
        engine.advance()
    with pytest.raises(CardCertificateError) as exc:
        engine.submit_auth_pin(Pin("jpki_auth", AUTH_PIN))
    assert exc.value.purpose == "auth"
    assert engine.outcome == "failed" and card.signatures == 0
    assert gateway.requests("auth") == 0
    assert [r["REASON"] for r in records if r["EVENT"] == "linkage_error"] == ["malformed_certificate"]
    session.close()


@pytest.mark.parametrize("pin", [AUTH_PIN, "1357"])
def test_malformed_auth_certificate_spends_no_try(bench, client, gateway, tmp_path, pin):
    """The auth certificate is public: it is checked before the VERIFY, so a
    malformed one (with the right PIN or a wrong one) costs the resident no try."""
    der = bad_utf8_in_subject(pki.card_certificate("auth", "resident", *VALID)[1])
    card = bench.insert(str(profile_with(tmp_path, "auth", der)))
    session = bench.session()
    engine = LinkageEngine(session, session.read_status(), client, "kiosk-test-01")
    for _ in range(3):
        engine.advance()
    tries = card.pin_tries("jpki_auth")
    entered = Pin("jpki_auth", pin)
    with pytest.raises(CardCertificateError):
        engine.submit_auth_pin(entered)
    assert entered.wiped
    assert engine.outcome == "failed"
    assert card.pin_tries("jpki_auth") == tries
    assert [v for v in card.verifies if v.with_data] == []
    assert not any(e.header[1] == 0x20 and e.lc for e in card.trace)     # no VERIFY with data
    session.close()


def test_no_challenge_is_a_typed_error_and_wipes_the_pin(bench, gateway, tmp_path):
    """A gateway that hands back no challenge: a typed error, the PIN wiped, nothing sent."""
    from kiosk.linkage.engine import LinkageStateError

    class NoChallenge:
        def health(self, **_):
            return {}

        def new_challenge(self, kiosk_id):
            return None

    card = bench.insert("resident")
    session = bench.session()
    engine = LinkageEngine(session, session.read_status(), NoChallenge(), "kiosk-test-01")
    for _ in range(2):
        engine.advance()
    engine.advance()                                   # 3 -> 4 stores the (missing) challenge
    entered = Pin("jpki_auth", AUTH_PIN)
    with pytest.raises(LinkageStateError):
        engine.submit_auth_pin(entered)
    assert entered.wiped and engine.step == 4
    assert [v for v in card.verifies if v.with_data] == []
    session.close()


# -- 3. the touchscreen ---------------------------------------------------------------------
def test_the_linkage_error_screen_shows_it_in_every_language(tmp_path, records):
    """The real session, worker, engine and card layer; only the gateway is scripted.
    The resident sees the linkage error screen (ask at the counter), not a crash."""
    from kiosk.i18n import catalog

    from tests.display.test_audit_gaps import (SIGN_OK, TO_STEP_4, TO_STEP_7, Played,
                                               ScriptedGateway, engine_factory)
    gateway = ScriptedGateway()
    # the first three reach cms.py; a truncated file is already refused by the card layer
    # (its DER header promises more than the card has): a card error too, same screen
    for lang, case, code in [("ja", "bad-utf8-name", "malformed_certificate"),
                             ("en", "tiny-sequence", "malformed_certificate"),
                             ("zh", "missing-fields", "malformed_certificate"),
                             ("ko", "truncated", "card_error")]:
        profile = profile_with(tmp_path, "sign", CASES[case])
        steps = [s.replace("insert resident", f"insert {profile}") for s in TO_STEP_4]
        gateway.calls.clear()
        with Played(linkage_factory=engine_factory(gateway), gateway_available=True, lang=lang) as play:
            play(*steps, *TO_STEP_7, *SIGN_OK, "wait_screen linkage_error")
            s = play.session
            assert s.lang == lang
            assert s.error == ("linkage.error.gateway_error", {"code": code})
            assert catalog("ui", lang).text("linkage.error.gateway_error") in play.text()
            assert "submit_application" not in gateway.calls
            assert play.card.signatures == 1 and "linkage_9" not in s.screens_seen
            play("tap btn_back", "wait_screen menu")
            assert s.linkage == {} and s.error is None
    ui = [r for r in records if r["EVENT"] == "linkage_error" and r.get("SCREEN")]
    assert [(r["ERROR_CODE"], r.get("REASON")) for r in ui] == [
        ("card_error", "malformed_certificate")] * 3 + [("card_error", None)]


# -- 4. `kiosk linkage run` -----------------------------------------------------------------
def linkage_run(gateway, profile: Path, stdin: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "linkage", "run", "--reader", f"sim:{profile}", "--gateway",
         gateway.url, "--ca", gateway.ca, "--retries", "0", "--accept-terms", *extra],
        input=stdin.encode(), capture_output=True, timeout=120, cwd=ROOT, env=dict(os.environ))


@pytest.mark.parametrize("purpose, case", [("sign", "tiny-sequence"), ("sign", "bad-utf8-name"),
                                           ("auth", "bad-utf8-name")])
def test_kiosk_linkage_run_exits_30_with_json(gateway, tmp_path, purpose, case):
    der = CASES[case] if purpose == "sign" else bad_utf8_in_subject(
        pki.card_certificate("auth", "resident", *VALID)[1])
    profile = profile_with(tmp_path, purpose, der)
    out = linkage_run(gateway, profile, f"{AUTH_PIN}\n{SIGN_PIN}\n", "--json")
    assert out.returncode == EXIT_CODES["card_error"] == 30, out.stderr.decode()
    doc = json.loads(out.stdout.decode().strip().splitlines()[-1])
    assert doc["error"]["code"] == "card_error"
    assert doc["error"]["reason"] == "malformed_certificate" and doc["error"]["certificate"] == purpose
    assert b"Traceback" not in out.stderr
    assert gateway.stats()["references"] == 0


def test_kiosk_linkage_run_text_output(gateway, tmp_path):
    out = linkage_run(gateway, profile_with(tmp_path, "sign", CASES["bad-utf8-name"]),
                      f"{AUTH_PIN}\n{SIGN_PIN}\n")
    assert out.returncode == 30
    err = out.stderr.decode()
    assert "kiosk: card_error: the card's sign certificate is malformed" in err
    assert "Traceback" not in err and "DEMO" in err


# -- the simulated card's [jpki] options ------------------------------------------------------
@pytest.mark.parametrize("options, key", [({"subject_cn": "by_name"}, "jpki.subject_cn"),
                                          ({"sign_certificate_hex": "30zz"}, "jpki.sign_certificate_hex")])
def test_bad_profile_options_are_config_errors(options, key):
    from kiosk.errors import ConfigError
    with pytest.raises(ConfigError) as exc:
        pki.card_certificate("sign", "resident", *VALID, options=options)
    assert exc.value.details["key"] == key


def test_subject_cn_schemes():
    shared = pki.subject_common_names("resident")
    assert shared == [pki.opaque_common_name("resident")]
    distinct = pki.subject_common_names("resident", {"subject_cn": "per_certificate"})
    assert len(distinct) == 2 and shared[0] not in distinct
