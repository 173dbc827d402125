"""The step-8 CMS SignedData: built with asn1crypto, verified by us and by OpenSSL."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from kiosk.linkage.cms import SignedApplication, verify_signed_application
from kiosk.linkage.protocol import Refusal, application_content, parse_application_content
from kiosk.nfc.card import digest_info_sha256
from kiosk.nfc.sim import pki

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def signer():
    key, cert = pki.card_certificate("sign", "resident", dt.date(2024, 5, 10), dt.date(2029, 5, 2))
    return key, cert


def card_sign(key, message: bytes) -> bytes:
    """What the card does: PKCS#1 v1.5 over the host's DigestInfo(SHA-256(message))."""
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def build(signer, content: bytes) -> bytes:
    key, cert = signer
    tbs = SignedApplication(content, cert, NOW)
    return tbs.finish(card_sign(key, tbs.to_be_signed))


def test_roundtrip(signer):
    content = application_content("2026-11-r1", NOW.timestamp(), "kiosk-1", bytes(range(32)))
    content_out, cert, signing_time = verify_signed_application(build(signer, content))
    assert content_out == content
    assert cert.public_bytes(serialization.Encoding.DER) == signer[1]
    assert signing_time == NOW
    doc = parse_application_content(content_out)
    assert doc == {"purpose": "mynaportal-licence-linkage", "terms_version": "2026-11-r1",
                   "consent_time": "2026-11-25T10:00:00Z", "kiosk_id": "kiosk-1",
                   "challenge": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}


def test_card_signature_is_sha256_with_rsa(signer):
    """The card signs DigestInfo(SHA-256(attrs)) with PKCS#1 v1.5 padding: the same
    bytes cryptography's sha256WithRSAEncryption makes, which is what CMS expects."""
    key, _ = signer
    message = b"signed attributes"
    di = digest_info_sha256(message)
    size = key.key_size // 8
    padded = b"\x00\x01" + b"\xff" * (size - 3 - len(di)) + b"\x00" + di
    n = key.private_numbers()
    raw = pow(int.from_bytes(padded, "big"), n.d, n.public_numbers.n).to_bytes(size, "big")
    assert raw == card_sign(key, message)


def test_tampered_content_is_refused(signer):
    content = application_content("2026-11-r1", NOW.timestamp(), "kiosk-1", bytes(32))
    der = bytearray(build(signer, content))
    at = bytes(der).index(b"kiosk-1")
    der[at:at + 7] = b"kiosk-2"
    with pytest.raises(Refusal) as exc:
        verify_signed_application(bytes(der))
    assert exc.value.code == "bad_signature"


def test_signature_over_other_attributes_is_refused(signer):
    key, cert = signer
    a = SignedApplication(b"content A", cert, NOW)
    b = SignedApplication(b"content B", cert, NOW)
    with pytest.raises(Refusal) as exc:
        verify_signed_application(a.finish(card_sign(key, b.to_be_signed)))
    assert exc.value.code == "bad_signature"


@pytest.mark.parametrize("garbage", [b"", b"\x30\x03\x02\x01\x01", b"not der at all"])
def test_garbage_is_a_bad_request(garbage):
    with pytest.raises(Refusal) as exc:
        verify_signed_application(garbage)
    assert exc.value.code == "bad_request"


def test_openssl_accepts_it(signer, tmp_path):
    """Interoperability: OpenSSL's own CMS verifier checks our structure and chain."""
    content = application_content("2026-11-r1", NOW.timestamp(), "kiosk-1", bytes(32))
    (tmp_path / "app.p7").write_bytes(build(signer, content))
    (tmp_path / "root.pem").write_bytes(
        pki.root("sign").certificate.public_bytes(serialization.Encoding.PEM))
    out = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "app.p7"),
                          "-CAfile", str(tmp_path / "root.pem"), "-purpose", "any",
                          "-attime", str(int(NOW.timestamp()))],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == content


def test_mutated_cms_is_only_ever_refused():
    """The gateway side of the same rule: whatever bytes arrive as the CMS, the
    answer is the content or a Refusal (bad_request / bad_signature), never a crash."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    key, cert = pki.card_certificate("sign", "resident", dt.date(2024, 5, 10), dt.date(2029, 5, 2))
    good = build((key, cert), application_content("2026-11-r1", NOW.timestamp(), "kiosk-1", bytes(32)))

    @settings(max_examples=200, deadline=None)
    @given(edits=st.lists(st.tuples(st.integers(0, 8192), st.integers(0, 255)), min_size=1, max_size=4),
           cut=st.none() | st.integers(1, 4000))
    def check(edits, cut):
        raw = bytearray(good)
        for pos, value in edits:
            raw[pos % len(raw)] = value
        try:
            verify_signed_application(bytes(raw[:cut] if cut else raw))
        except Refusal as r:
            assert r.code in ("bad_request", "bad_signature", "untrusted_certificate")

    check()


def test_a_damaged_public_key_in_the_signer_certificate_is_refused():
    """cryptography parses a certificate's key only on public_key(): a CMS whose embedded
    certificate loads but whose RSA key bytes are damaged must be refused, not crash
    (found by the mutation property above: ValueError from verify_rsa_sha256)."""
    key, cert = pki.card_certificate("sign", "resident", dt.date(2024, 5, 10), dt.date(2029, 5, 2))
    good = build((key, cert), application_content("2026-11-r1", NOW.timestamp(), "kiosk-1", bytes(32)))
    from cryptography import x509

    spki = x509.load_der_x509_certificate(cert).public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    at = good.find(spki)
    assert at > 0
    # RSAPublicKey SEQUENCE, then the modulus INTEGER 02 82 01 01 00 <high byte>: zeroing the
    # high byte leaves well-formed DER for asn1crypto but a non-minimal INTEGER, which
    # cryptography's key parser refuses with ValueError.
    modulus = spki.index(b"\x03\x82") + 5 + 4
    assert spki[modulus:modulus + 5] == b"\x02\x82\x01\x01\x00"
    raw = bytearray(good)
    raw[at + modulus + 5] = 0x00
    with pytest.raises(Refusal) as refused:
        verify_signed_application(bytes(raw))
    assert refused.value.code in ("untrusted_certificate", "bad_request")
