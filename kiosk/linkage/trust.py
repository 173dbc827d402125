"""Certificate checks for the gateway: chain to a trust anchor, validity, key use.

JPKI end-entity certificates are issued directly by the purpose's root, and
every root generation repeats the same DN, so the issuer is found by
signature, not by name (card-protocol.md §8).  The card's own CA copies
(EF 0002 / 000B) prove nothing and are never used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kiosk.linkage.protocol import Refusal

PURPOSES = ("auth", "sign")


@dataclass
class TrustAnchors:
    """Roots per purpose: an auth certificate never chains to a sign root."""

    auth: list[x509.Certificate] = field(default_factory=list)
    sign: list[x509.Certificate] = field(default_factory=list)

    def for_purpose(self, purpose: str) -> list[x509.Certificate]:
        return self.auth if purpose == "auth" else self.sign

    @classmethod
    def from_pem_files(cls, auth: list[str], sign: list[str]) -> TrustAnchors:
        def load(paths: list[str]) -> list[x509.Certificate]:
            out: list[x509.Certificate] = []
            for p in paths:
                with open(p, "rb") as fh:
                    out += x509.load_pem_x509_certificates(fh.read())
            return out
        return cls(load(auth), load(sign))

    @classmethod
    def simulated(cls) -> TrustAnchors:
        """The simulated card's TEST roots (never for production)."""
        from kiosk.nfc.sim import pki
        return cls([pki.root("auth").certificate], [pki.root("sign").certificate])


def load_der_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise Refusal("bad_request", "not a DER certificate") from None


def _in_validity(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def verify_certificate(cert: x509.Certificate, anchors: TrustAnchors, purpose: str,
                       now: dt.datetime) -> x509.Certificate:
    """The anchor that issued ``cert``; Refusal when none did or it is out of date."""
    issuer = None
    for anchor in anchors.for_purpose(purpose):
        try:
            cert.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        issuer = anchor
        break
    if issuer is None:
        raise Refusal("untrusted_certificate", f"{purpose} certificate is not from a trusted CA")
    if not _in_validity(issuer, now):
        raise Refusal("untrusted_certificate", "the issuing CA is out of its validity")
    if not _in_validity(cert, now):
        raise Refusal("certificate_expired", f"{purpose} certificate is not valid now")
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is None or not ku.digital_signature:
        raise Refusal("untrusted_certificate", f"{purpose} certificate may not sign")
    rsa_public_key(cert)
    return issuer


def rsa_public_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    """The certificate's RSA key; Refusal when the key does not parse or is not RSA.

    ``public_key()`` parses lazily: a certificate whose key bytes are damaged still loads,
    and only this call raises (ValueError), so it must not escape as a crash."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError):
        raise Refusal("untrusted_certificate", "the certificate's public key does not parse") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refusal("untrusted_certificate", "JPKI keys are RSA")
    return key


def verify_rsa_sha256(cert: x509.Certificate, signature: bytes, message: bytes) -> None:
    """PKCS#1 v1.5 / SHA-256, what the card makes from a host-built DigestInfo."""
    key = rsa_public_key(cert)
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        raise Refusal("bad_signature", "the signature does not verify") from None
