"""The reference gateway's checks, driven in-process with the card's keys
signing directly (no card): every refusal the protocol defines."""

from __future__ import annotations

import datetime as dt
import ssl
import time

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from kiosk.linkage.client import GatewayClient
from kiosk.linkage.cms import SignedApplication
from kiosk.linkage.errors import (GatewayProtocolError, GatewayRefusedError, LinkageGatewayError,
                                  TermsChangedError)
from kiosk.linkage.protocol import application_content, b64e
from kiosk.linkage.reference import ReferenceGateway, start_local_gateway
from kiosk.linkage.tls import make_tls_material
from kiosk.nfc.sim import pki

VALID = (dt.date(2024, 5, 10), dt.date(2029, 5, 2))


def card(card_id: str, purpose: str, valid=VALID, options=None):
    return pki.card_certificate(purpose, card_id, *valid, options=options)


def rsa_sign(key, message: bytes) -> bytes:
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


class FakeClock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def gw(clock):
    g = start_local_gateway(clock=clock, challenge_ttl=60, test_hooks=True)
    yield g
    g.stop()


@pytest.fixture
def client(gw):
    c = GatewayClient(gw.url, ca=gw.ca_path, timeout=5, retries=0, backoff=0)
    yield c
    c.close()


def authenticate(client, card_id="resident", options=None):
    ch = client.new_challenge("kiosk-1")
    key, cert = card(card_id, "auth", options=options)
    terms = client.submit_auth(ch.session, rsa_sign(key, ch.value), cert)
    return ch, terms


def application(ch, terms_version, card_id="resident", kiosk_id="kiosk-1", options=None,
                purpose="sign", valid=VALID):
    key, cert = card(card_id, purpose, valid, options)
    content = application_content(terms_version, time.time(), kiosk_id, ch.value)
    tbs = SignedApplication(content, cert, dt.datetime.now(dt.timezone.utc))
    return tbs.finish(rsa_sign(key, tbs.to_be_signed))


def refusal(excinfo) -> str:
    return excinfo.value.details["refusal"]


def test_happy_path(gw, client):
    assert client.health()["status"] == "ok"
    ch, (version, text) = authenticate(client)
    assert client.terms() == (version, text)
    ref = client.submit_application(ch.session, application(ch, version))
    assert ref.startswith("DEMO-") and gw.references == [ref]


def test_a_challenge_is_answered_once(client):
    ch, _ = authenticate(client)
    key, cert = card("resident", "auth")
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_auth(ch.session, rsa_sign(key, ch.value), cert)     # a replay
    assert refusal(exc) == "challenge_used"


def test_a_repeated_request_id_gets_the_first_answer(gw, client):
    """What makes the client's network retries safe."""
    ch = client.new_challenge("kiosk-1")
    key, cert = card("resident", "auth")
    doc = {"request_id": "r" * 16, "signature": b64e(rsa_sign(key, ch.value)), "certificate": b64e(cert)}
    with httpx.Client(base_url=gw.url, verify=ssl.create_default_context(cafile=gw.ca_path)) as h:
        first = h.post(f"/v1/sessions/{ch.session}/auth", json=doc)
        second = h.post(f"/v1/sessions/{ch.session}/auth", json=doc)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()


def test_an_expired_challenge_is_refused(client, clock):
    ch = client.new_challenge("kiosk-1")
    clock.now += 61
    key, cert = card("resident", "auth")
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_auth(ch.session, rsa_sign(key, ch.value), cert)
    assert refusal(exc) == "challenge_expired"


def test_old_sessions_are_forgotten(gw, client, clock):
    old = client.new_challenge("kiosk-1")
    clock.now += gw.challenge_ttl + gw.session_ttl + 1
    client.new_challenge("kiosk-1")
    assert old.session not in gw.sessions and len(gw.sessions) == 1


def test_a_bad_signature_is_refused(client):
    ch = client.new_challenge("kiosk-1")
    key, cert = card("resident", "auth")
    other_key, _ = card("resident", "sign")
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_auth(ch.session, rsa_sign(other_key, ch.value), cert)
    assert refusal(exc) == "bad_signature"


def test_an_unknown_ca_is_refused(client):
    """A signature certificate offered as the auth certificate chains to the
    wrong root; an auth certificate from a gateway trusting only other roots too."""
    ch = client.new_challenge("kiosk-1")
    key, cert = card("resident", "sign")
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_auth(ch.session, rsa_sign(key, ch.value), cert)
    assert refusal(exc) == "untrusted_certificate"


def test_only_configured_anchors_are_trusted(clock):
    g = start_local_gateway(trust_anchors=[pki.root("sign").certificate], clock=clock)
    try:
        c = GatewayClient(g.url, ca=g.ca_path, retries=0, backoff=0)
        with pytest.raises(GatewayRefusedError) as exc:
            authenticate(c)
        assert refusal(exc) == "untrusted_certificate"
        c.close()
    finally:
        g.stop()


def test_an_expired_certificate_is_refused(client):
    ch = client.new_challenge("kiosk-1")
    key, cert = card("cert-expired", "auth", (dt.date(2019, 7, 25), dt.date(2024, 5, 2)))
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_auth(ch.session, rsa_sign(key, ch.value), cert)
    assert refusal(exc) == "certificate_expired"


PER_CERTIFICATE = {"subject_cn": "per_certificate"}


def subject_cn(cert_der: bytes) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    cert = x509.load_der_x509_certificate(cert_der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_certificates_with_different_subject_names_complete(gw, client):
    """Nothing pairs the two certificates by name: JPKI ids are per certificate."""
    auth_cn = subject_cn(card("distinct", "auth", options=PER_CERTIFICATE)[1])
    sign_cn = subject_cn(card("distinct", "sign", options=PER_CERTIFICATE)[1])
    assert auth_cn != sign_cn
    ch, (version, _) = authenticate(client, "distinct", PER_CERTIFICATE)
    ref = client.submit_application(ch.session, application(ch, version, "distinct",
                                                            options=PER_CERTIFICATE))
    assert ref.startswith("DEMO-") and gw.references == [ref]


def test_what_binds_the_pair_is_the_session_challenge(gw, client):
    """The gateway can check only roots, validity and the one session: an application
    signed for another session's challenge, by a key of the wrong purpose, or with an
    expired signature certificate is refused; an equal subject name proves nothing."""
    ch, (version, _) = authenticate(client)
    other = client.new_challenge("kiosk-1")
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_application(ch.session, application(other, version))
    assert refusal(exc) == "bad_request"
    with pytest.raises(GatewayRefusedError) as exc:                 # the auth key signs an application
        client.submit_application(ch.session, application(ch, version, purpose="auth"))
    assert refusal(exc) == "untrusted_certificate"
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_application(ch.session, application(
            ch, version, "cert-expired", valid=(dt.date(2019, 7, 25), dt.date(2024, 5, 2))))
    assert refusal(exc) == "certificate_expired"
    assert gw.references == []
    assert client.submit_application(ch.session, application(ch, version)).startswith("DEMO-")


def test_health_and_terms_say_the_reference_gateway_is_a_demo(client):
    doc = client.health()
    assert doc["test_only"] is True and "not the official linkage" in doc["operator"]
    _, text = client.terms()                       # what the terms screen (step 6) shows
    assert text.startswith("【デモ】") and "not the official Mynaportal linkage" in text
    assert "公式のマイナポータル連携ではありません" in text


def test_the_application_must_follow_authentication(client):
    ch = client.new_challenge("kiosk-1")
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_application(ch.session, application(ch, "2026-11-r1"))
    assert refusal(exc) == "not_authenticated"


def test_the_application_must_name_its_session(client):
    ch, (version, _) = authenticate(client)
    other = client.new_challenge("kiosk-1")
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_application(ch.session, application(other, version))
    assert refusal(exc) == "bad_request"
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_application(ch.session, application(ch, version, kiosk_id="kiosk-2"))
    assert refusal(exc) == "bad_request"


def test_one_application_per_session(client):
    ch, (version, _) = authenticate(client)
    client.submit_application(ch.session, application(ch, version))
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_application(ch.session, application(ch, version))
    assert refusal(exc) == "already_applied"


def test_terms_changed(gw, client):
    ch, (version, _) = authenticate(client)
    new = gw.change_terms()
    with pytest.raises(TermsChangedError) as exc:
        client.submit_application(ch.session, application(ch, version))
    assert exc.value.terms[0] == new != version
    assert client.submit_application(ch.session, application(ch, new)).startswith("DEMO-")


def test_unknown_session(client):
    with pytest.raises(GatewayRefusedError) as exc:
        client.submit_auth("nope", b"sig", b"cert")
    assert refusal(exc) == "unknown_session"


def test_a_client_pinned_to_another_ca_does_not_talk(gw, tmp_path):
    other = make_tls_material(tmp_path / "other")
    c = GatewayClient(gw.url, ca=str(other.ca_path), retries=2, backoff=0)
    with pytest.raises(GatewayProtocolError) as exc:
        c.health()
    assert refusal(exc) == "untrusted_gateway"
    assert gw.stats()["requests"] == {}              # no retries against an untrusted server
    c.close()


def test_client_certificate_identifies_the_kiosk(clock):
    g = start_local_gateway(clock=clock, require_client_cert=True)
    try:
        with_cert = GatewayClient(g.url, ca=g.ca_path, client_cert=str(g.tls.client_cert_path),
                                  client_key=str(g.tls.client_key_path), retries=0, backoff=0)
        assert with_cert.health()["status"] == "ok"
        without = GatewayClient(g.url, ca=g.ca_path, retries=0, backoff=0)
        with pytest.raises(LinkageGatewayError):
            without.health()
        with_cert.close()
        without.close()
    finally:
        g.stop()


def test_loopback_only():
    with pytest.raises(ValueError):
        ReferenceGateway(host="0.0.0.0")


def test_test_hooks_are_off_by_default(clock):
    g = start_local_gateway(clock=clock)
    try:
        with httpx.Client(base_url=g.url, verify=False) as h:
            assert h.post("/_test/terms", json={}).status_code == 404
        assert g.terms_version.endswith("r1")
    finally:
        g.stop()


def test_trust_anchors_from_pem_files(tmp_path, clock):
    from cryptography.hazmat.primitives.serialization import Encoding

    from kiosk.linkage.trust import TrustAnchors
    for purpose in ("auth", "sign"):
        (tmp_path / f"{purpose}.pem").write_bytes(pki.root(purpose).certificate.public_bytes(Encoding.PEM))
    right = TrustAnchors.from_pem_files([str(tmp_path / "auth.pem")], [str(tmp_path / "sign.pem")])
    crossed = TrustAnchors.from_pem_files([str(tmp_path / "sign.pem")], [str(tmp_path / "auth.pem")])
    for anchors, works in ((right, True), (crossed, False)):
        g = start_local_gateway(trust_anchors=anchors, clock=clock)
        c = GatewayClient(g.url, ca=g.ca_path, retries=0, backoff=0)
        try:
            if works:
                ch, (version, _) = authenticate(c)
                assert c.submit_application(ch.session, application(ch, version)).startswith("DEMO-")
            else:
                with pytest.raises(GatewayRefusedError):
                    authenticate(c)
        finally:
            c.close()
            g.stop()
