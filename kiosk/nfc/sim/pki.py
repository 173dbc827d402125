"""A test PKI shaped like JPKI's, generated once and cached on disk.

Two self-signed roots (user authentication, digital signature) with JPKI's
issuer names plus a TEST marker, and per-card RSA-2048 keys.  Generating
RSA-2048 keys is the slow part, so keys are cached under
``$KIOSK_SIM_CACHE`` (default ``~/.cache/myna-kiosk/sim``); certificates are
cheap and rebuilt from the profile each time.  None of this is a secret.

The profile's ``[jpki]`` table reaches ``card_certificate`` as ``options``:
``subject_cn`` ("shared" or "per_certificate": whether the two certificates
carry one subject CN or each its own) and ``auth_certificate_hex`` /
``sign_certificate_hex`` (raw, e.g. malformed, bytes in place of a certificate).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from kiosk.errors import ConfigError

JPKI_SAN_ARC = "1.2.392.200149.8.5.5"          # otherName arc of the signature cert
AUTH_POLICY = "1.2.392.200149.8.5.1.3.30"
SIGN_POLICY = "1.2.392.200149.8.5.1.1.10"
JLIS = "Japan Agency for Local Authority Information Systems"

_lock = threading.Lock()
_memory: dict[str, rsa.RSAPrivateKey] = {}


def cache_dir() -> Path:
    base = os.environ.get("KIOSK_SIM_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "myna-kiosk" / "sim"


def key(name: str) -> rsa.RSAPrivateKey:
    """The cached RSA-2048 key called ``name``, generated on first use."""
    with _lock:
        if name in _memory:
            return _memory[name]
        path = cache_dir() / f"{name}.pem"
        k: rsa.RSAPrivateKey | None = None
        if path.exists():
            try:
                loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (ValueError, TypeError):
                loaded = None
            k = loaded if isinstance(loaded, rsa.RSAPrivateKey) else None    # else: regenerate
        if k is None:
            k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
                os.replace(tmp, path)
            except OSError:                # read-only cache: keep it in memory only
                pass
        _memory[name] = k
        return k


def _name(*ous: str, cn: str | None = None, locality: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP")]
    if locality:
        attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
    if cn is None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"))
        attrs += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous]
    else:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


ROOT_NAMES = {
    "auth": _name("JPKI for user authentication", JLIS, "TEST"),
    "sign": _name("JPKI for digital signature", JLIS, "TEST"),
}


@dataclass
class Root:
    purpose: str
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


_roots: dict[str, Root] = {}


def root(purpose: str) -> Root:
    """The test root CA for 'auth' or 'sign' (deterministic per cached key)."""
    with _lock:
        if purpose in _roots:
            return _roots[purpose]
    k = key(f"root-{purpose}")
    name = ROOT_NAMES[purpose]
    serial = int.from_bytes(hashlib.sha256(b"root" + purpose.encode()).digest()[:8], "big")
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(k.public_key())
            .serial_number(serial)
            .not_valid_before(dt.datetime(2023, 7, 16, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2043, 7, 15, 14, 59, 59, tzinfo=dt.UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
            .sign(k, hashes.SHA256()))
    r = Root(purpose, k, cert)
    with _lock:
        _roots[purpose] = r
    return r


def _utf8_der(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) < 0x80:
        return b"\x0c" + bytes((len(raw),)) + raw
    if len(raw) <= 0xFF:
        return b"\x0c\x81" + bytes((len(raw),)) + raw
    return b"\x0c\x82" + len(raw).to_bytes(2, "big") + raw


def _at_end_of_day_jst(day: dt.date) -> dt.datetime:
    """JPKI certificates end at 23:59:59 JST (14:59:59Z)."""
    return dt.datetime(day.year, day.month, day.day, 14, 59, 59, tzinfo=dt.UTC)


def opaque_common_name(card_id: str) -> str:
    """The certificates' subject CN: an opaque id, like JPKI's, but still personal."""
    return hashlib.sha256(f"cn/{card_id}".encode()).hexdigest()[:23].upper()


# How the two certificates' subject CNs relate (profile key ``[jpki] subject_cn``):
# "shared" gives both the same opaque id; "per_certificate" gives each its own, as
# real JPKI auth certificates carry a per-certificate id and nothing says the
# signature certificate shares it.  A gateway must never pair them by name.
SUBJECT_CN_SCHEMES = ("shared", "per_certificate")
# Profile keys that replace a certificate with raw bytes (hex), to test how the
# kiosk handles a malformed certificate read from the card.
CERTIFICATE_OVERRIDES = {"auth": "auth_certificate_hex", "sign": "sign_certificate_hex"}


def subject_common_name(card_id: str, purpose: str, options: dict[str, Any] | None = None) -> str:
    """The subject CN of one card's ``purpose`` certificate under the profile's scheme."""
    scheme = _scheme(options)
    if scheme == "per_certificate":
        return hashlib.sha256(f"cn/{card_id}/{purpose}".encode()).hexdigest()[:23].upper()
    return opaque_common_name(card_id)


def subject_common_names(card_id: str, options: dict[str, Any] | None = None) -> list[str]:
    """Every subject CN this card's certificates carry (canaries: personal data)."""
    return sorted({subject_common_name(card_id, p, options) for p in ("auth", "sign")})


def _scheme(options: dict[str, Any] | None) -> str:
    scheme = str((options or {}).get("subject_cn", "shared"))
    if scheme not in SUBJECT_CN_SCHEMES:
        raise ConfigError(f"profile key 'jpki.subject_cn' must be one of {', '.join(SUBJECT_CN_SCHEMES)}",
                          key="jpki.subject_cn")
    return scheme


def _override(purpose: str, options: dict[str, Any] | None) -> bytes | None:
    name = CERTIFICATE_OVERRIDES[purpose]
    raw = (options or {}).get(name)
    if raw is None:
        return None
    try:
        return bytes.fromhex(str(raw))
    except ValueError:
        raise ConfigError(f"profile key 'jpki.{name}' must be hex bytes", key=f"jpki.{name}") from None


def card_certificate(purpose: str, card_id: str, not_before: dt.date, not_after: dt.date,
                     person: dict[str, Any] | None = None,
                     options: dict[str, Any] | None = None) -> tuple[rsa.RSAPrivateKey, bytes]:
    """(private key, certificate DER) for one card's auth or sign key.

    ``options`` is the profile's ``[jpki]`` table: ``subject_cn`` picks the CN
    scheme, ``auth_certificate_hex`` / ``sign_certificate_hex`` put raw (say
    malformed) bytes on the card instead of the certificate; the key stays real."""
    issuer = root(purpose)
    k = key(f"card-{card_id}-{purpose}")
    override = _override(purpose, options)
    if override is not None:
        return k, override
    serial = int.from_bytes(hashlib.sha256(f"{card_id}/{purpose}".encode()).digest()[:8], "big")
    opaque_cn = subject_common_name(card_id, purpose, options)
    person = person or {}
    builder = (x509.CertificateBuilder()
               .issuer_name(issuer.certificate.subject)
               .public_key(k.public_key())
               .serial_number(serial)
               .not_valid_before(dt.datetime(not_before.year, not_before.month, not_before.day,
                                             tzinfo=dt.UTC))
               .not_valid_after(_at_end_of_day_jst(not_after))
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer.key.public_key()), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
               .add_extension(x509.IssuerAlternativeName([x509.DirectoryName(x509.Name([
                   x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                   x509.NameAttribute(NameOID.ORGANIZATION_NAME, "公的個人認証サービス"),
                   x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                      "公的個人認証サービス利用者証明用" if purpose == "auth"
                                      else "公的個人認証サービス署名用"),
                   x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "地方公共団体情報システム機構")]))]),
                   critical=False))
    if purpose == "auth":
        builder = (builder.subject_name(_name(cn=opaque_cn))
                   .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                       ObjectIdentifier(AUTH_POLICY), None)]), critical=True))
    else:
        others = []
        for suffix, field in ((1, "name"), (3, "sex"), (4, "birth_era"), (5, "address")):
            if person.get(field):
                others.append(x509.OtherName(ObjectIdentifier(f"{JPKI_SAN_ARC}.{suffix}"),
                                             _utf8_der(str(person[field]))))
        builder = (builder.subject_name(_name(cn=opaque_cn, locality=person.get("locality") or "Test-shi"))
                   .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                       ObjectIdentifier(SIGN_POLICY), None)]), critical=True))
        if others:
            builder = builder.add_extension(x509.SubjectAlternativeName(others), critical=False)
    cert = builder.sign(issuer.key, hashes.SHA256())
    return k, cert.public_bytes(serialization.Encoding.DER)
