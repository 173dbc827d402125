"""Every card operation over both real paths gives what the in-process simulator gives."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from kiosk.errors import PinWrongError, SecurityStatusError
from kiosk.nfc.card import EF_SIGN_CERT, CardSession
from kiosk.nfc.apdu import AID_JPKI
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.profile import shipped_profiles
from kiosk.nfc.sim.reader import SimReader

pytestmark = pytest.mark.timeout(120)


def reference_status(profile: str) -> dict:
    reader = SimReader()
    reader.insert(profile)
    with CardSession(reader.connect()) as session:
        return session.read_status().to_json()


def verify_signature(cert_der: bytes, signature: bytes, message: bytes) -> None:
    cert = x509.load_der_x509_certificate(cert_der)
    cert.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("profile", sorted(shipped_profiles()))
def test_status_of_every_profile(card_path, profile):
    card = card_path.insert(profile)
    with CardSession(card_path.reader.connect()) as session:
        status = session.read_status()
    assert status.to_json() == reference_status(profile)
    assert not any(v.with_data for v in card.verifies), "status must never send a PIN"
    assert card.forbidden_touches == []


def test_atr_is_the_cards_own(card_path):
    card = card_path.insert("resident")
    conn = card_path.reader.connect()
    try:
        assert conn.atr[:4] == bytes.fromhex("3B888001")
        assert conn.atr[:-1] == card.atr[:-1]          # nfcpy rebuilds it from SENSB_RES (TCK may differ)
    finally:
        conn.close()


def test_licence_with_the_resident_pin(card_path):
    card = card_path.insert("resident")
    reference = SimReader()
    reference.insert("resident")
    with CardSession(reference.connect()) as ref_session:
        expected = ref_session.read_licence(Pin("licence", "1357")).to_json()
    with CardSession(card_path.reader.connect()) as session:
        licence = session.read_licence(Pin("licence", "1357"))
    assert licence.to_json() == expected
    assert licence.licence_number
    assert [v.with_data for v in card.verifies].count(True) == 1
    assert card.pin_tries("licence") == 10


def test_wrong_licence_pin_costs_exactly_one_try(card_path):
    card = card_path.insert("resident")
    before = card.pin_tries("licence")
    with CardSession(card_path.reader.connect()) as session:
        with pytest.raises(PinWrongError) as err:
            session.read_licence(Pin("licence", "0000"))
    assert err.value.tries_left == before - 1
    assert card.pin_tries("licence") == before - 1
    assert [v.with_data for v in card.verifies].count(True) == 1


def test_jpki_auth_signature_verifies_against_the_certificate(card_path):
    card = card_path.insert("resident")
    message = b"mynaportal login challenge"
    with CardSession(card_path.reader.connect()) as session:
        cert = session.read_auth_certificate()
        signature = session.jpki_sign("auth", Pin("jpki_auth", "2468"), message)
    verify_signature(cert, signature, message)
    assert [(v.pin_id, v.with_data) for v in card.verifies if v.with_data] == [("jpki_auth", True)]
    assert card.signatures == 1


def test_jpki_sign_key_reads_its_certificate_after_verify_and_signs(card_path):
    card = card_path.insert("resident")
    message = b"application form"
    with CardSession(card_path.reader.connect()) as session:
        # Before VERIFY the signature certificate is closed (6982).
        session.apdu.select_aid(AID_JPKI)
        session.apdu.select_ef(EF_SIGN_CERT)
        with pytest.raises(SecurityStatusError):
            session.apdu.read_chunk(0)
        with session.jpki_key("sign", Pin("jpki_sign", "kiosk2025")) as key:
            cert = key.certificate()
            signature = key.sign(message)
    verify_signature(cert, signature, message)
    assert x509.load_der_x509_certificate(cert).subject != x509.load_der_x509_certificate(
        card.fs[AID_JPKI][0x000A].content).subject
    assert [(v.pin_id, v.with_data) for v in card.verifies if v.with_data] == [("jpki_sign", True)]


def test_close_unpowers_so_no_verified_state_survives(card_path):
    card = card_path.insert("resident")
    with CardSession(card_path.reader.connect()) as session:
        session.read_licence(Pin("licence", "1357"))
    # A new session on the same card: the licence PIN is no longer verified,
    # so the counter reads 63CA (10 tries) and not 9000.
    with CardSession(card_path.reader.connect()) as session:
        counter = session.read_counter("licence")
    assert counter.tries_left == 10
    assert card.verifies[-1].sw == 0x63CA


def test_ic_licence_read_with_pin1(card_path):
    card = card_path.insert("ic-licence")
    reference = SimReader()
    reference.insert("ic-licence")
    with CardSession(reference.connect()) as ref_session:
        expected = ref_session.read_licence(Pin("ic_pin1", "1111")).to_json()
    with CardSession(card_path.reader.connect()) as session:
        licence = session.read_licence(Pin("ic_pin1", "1111"))
    assert licence.to_json() == expected and licence.expiry
    assert [v.with_data for v in card.verifies].count(True) == 1
