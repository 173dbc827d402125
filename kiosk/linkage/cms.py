"""The step-8 application as CMS SignedData (RFC 5652), built with asn1crypto.

The card signs in the middle, so building is two calls::

    tbs = SignedApplication(content, sign_certificate_der, signing_time)
    der = tbs.finish(jpki_key.sign(tbs.to_be_signed))

``to_be_signed`` is the DER of the signed attributes as a SET (RFC 5652
§5.4); JpkiKey.sign hashes it with SHA-256 and the card signs the DigestInfo,
which is exactly sha256WithRSAEncryption.  ``verify_signed_application`` is
the gateway side.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa

from kiosk.linkage.errors import CardCertificateError
from kiosk.linkage.protocol import Refusal
from kiosk.linkage.trust import load_der_certificate, verify_rsa_sha256

# What asn1crypto and cryptography raise on bytes that are not what they claim
# (truncated or malformed DER, bad UTF-8 in a name, absurd lengths or nesting).
MALFORMED = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
             RecursionError, UnsupportedAlgorithm, x509.InvalidVersion, x509.DuplicateExtension,
             x509.UnsupportedGeneralNameType)
MAX_CERTIFICATE = 8 * 1024         # a JPKI certificate is under 2 KiB


def load_card_certificate(der: bytes, purpose: str) -> asn1_x509.Certificate:
    """A certificate read from the card, decoded completely now, or
    CardCertificateError: nothing the card sends escapes as another exception.

    Every field is decoded (names as UTF-8 included), both by asn1crypto, which
    builds the CMS, and by cryptography, which the gateway side uses; the
    issuer, serial number and validity must be there and the key must be RSA."""
    if not isinstance(der, (bytes, bytearray)) or not der or len(der) > MAX_CERTIFICATE:
        raise CardCertificateError("the card's certificate is empty or too large", purpose=purpose)
    der = bytes(der)
    try:
        cert = asn1_x509.Certificate.load(der, strict=True)
        _ = cert.native                               # decodes every field, or raises
        tbs = cert["tbs_certificate"]
        if cert.serial_number is None or not tbs["issuer"].chosen \
                or tbs["validity"]["not_after"].native is None:
            raise CardCertificateError("the card's certificate lacks a field", purpose=purpose)
        if cert.public_key.algorithm != "rsa":
            raise CardCertificateError("the card's key is not RSA", purpose=purpose)
        parsed = x509.load_der_x509_certificate(der)
        _ = (parsed.subject.rfc4514_string(), parsed.issuer.rfc4514_string(), parsed.not_valid_after_utc)
        if not isinstance(parsed.public_key(), rsa.RSAPublicKey):
            raise CardCertificateError("the card's key is not RSA", purpose=purpose)
        list(parsed.extensions)
    except MALFORMED as exc:
        raise CardCertificateError(f"the card's {purpose} certificate is malformed "
                                   f"({type(exc).__name__})", purpose=purpose) from None
    return cert


def _set_der(signed_attrs: cms.CMSAttributes) -> bytes:
    """Signed attributes re-tagged from [0] IMPLICIT to SET OF, as signed."""
    der: bytes = signed_attrs.dump()
    return b"\x31" + der[1:]


class SignedApplication:
    """A SignedData waiting for the card's signature."""

    def __init__(self, content: bytes, certificate_der: bytes, signing_time: dt.datetime):
        self.content = content
        self.certificate = load_card_certificate(certificate_der, "sign")     # before any signature
        attrs = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time",
                              "values": [cms.Time({"utc_time": signing_time.astimezone(dt.UTC)
                                                   .replace(microsecond=0)})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
        ])
        self._signer = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
                "issuer": self.certificate.issuer,
                "serial_number": self.certificate.serial_number})}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}),
            "signature": b"",
        })
        self.to_be_signed = _set_der(self._signer["signed_attrs"])

    def finish(self, signature: bytes) -> bytes:
        """The ContentInfo DER with the card's signature in place."""
        self._signer["signature"] = signature
        signed_data = cms.SignedData({
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "data", "content": self.content},
            "certificates": [cms.CertificateChoices(name="certificate", value=self.certificate)],
            "signer_infos": [self._signer],
        })
        der: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
        return der


def verify_signed_application(der: bytes) -> tuple[bytes, x509.Certificate, dt.datetime | None]:
    """(content, signer certificate, signing time) of a SignedData whose one
    signature verifies.  The caller still checks the certificate's chain."""
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise Refusal("bad_request", "not a CMS SignedData")
        sd = info["content"]
        encap = sd["encap_content_info"]
        if encap["content_type"].native != "data" or encap["content"].native is None:
            raise Refusal("bad_request", "SignedData must carry its data content")
        content = encap["content"].native
        signers = list(sd["signer_infos"])
        if len(signers) != 1:
            raise Refusal("bad_request", "exactly one signer expected")
        si = signers[0]
        certs = [c.chosen for c in sd["certificates"] if c.name == "certificate"] \
            if sd["certificates"].native is not None else []
        sid = si["sid"]
        if sid.name != "issuer_and_serial_number":
            raise Refusal("bad_request", "signer must be named by issuer and serial")
        want = sid.chosen
        signer_cert = next((c for c in certs if c.issuer == want["issuer"]
                            and c.serial_number == want["serial_number"].native), None)
        if signer_cert is None:
            raise Refusal("bad_request", "the signer's certificate is not in the SignedData")
        if si["digest_algorithm"]["algorithm"].native != "sha256":
            raise Refusal("bad_request", "digest must be SHA-256")
        if si["signature_algorithm"]["algorithm"].native not in ("sha256_rsa", "rsassa_pkcs1v15"):
            raise Refusal("bad_request", "signature must be RSA PKCS#1 v1.5")
        attrs = si["signed_attrs"]
        if not attrs.native:
            raise Refusal("bad_request", "signed attributes are required")
        found: dict[str, list[Any]] = {}
        for attr in attrs:
            found.setdefault(attr["type"].native, []).extend(attr["values"])
        if [v.native for v in found.get("content_type", [])] != ["data"]:
            raise Refusal("bad_request", "content-type attribute must be data")
        digests = [v.native for v in found.get("message_digest", [])]
        if digests != [hashlib.sha256(content).digest()]:
            raise Refusal("bad_signature", "message digest does not match the content")
        times = [v.native for v in found.get("signing_time", [])]
        tbs = _set_der(attrs)
        signature = si["signature"].native
        cert = load_der_certificate(signer_cert.dump())
    except MALFORMED as exc:
        raise Refusal("bad_request", f"malformed CMS: {type(exc).__name__}") from None
    verify_rsa_sha256(cert, signature, tbs)
    return content, cert, (times[0] if len(times) == 1 else None)
