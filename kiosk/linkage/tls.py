"""TLS material for the reference gateway: a throwaway CA, a loopback server
certificate and a kiosk client certificate, made with cryptography at start.

The kiosk pins the CA (``[linkage] ca``); nothing here is trusted by the
system store, and nothing is reused between gateway runs unless a
``--tls-dir`` that already holds the files is given.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class TlsMaterial:
    ca_path: Path
    cert_path: Path
    key_path: Path
    client_cert_path: Path
    client_key_path: Path

    @classmethod
    def in_dir(cls, d: Path) -> TlsMaterial:
        return cls(d / "ca.pem", d / "server.pem", d / "server-key.pem",
                   d / "kiosk-client.pem", d / "kiosk-client-key.pem")

    def exists(self) -> bool:
        return all(p.exists() for p in (self.ca_path, self.cert_path, self.key_path,
                                        self.client_cert_path, self.client_key_path))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "myna-kiosk reference gateway (TEST)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _leaf(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, cn: str, eku: x509.ObjectIdentifier,
          san: list[x509.GeneralName] | None, days: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False),
                        critical=True)
         .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                        critical=False))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def make_tls_material(directory: Path, kiosk_id: str = "kiosk-test", days: int = 30) -> TlsMaterial:
    """Create (or reuse) the CA, server and client files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    m = TlsMaterial.in_dir(directory)
    if m.exists():
        return m
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ca = (x509.CertificateBuilder().subject_name(_name("reference gateway TEST CA"))
          .issuer_name(_name("reference gateway TEST CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server_key, server = _leaf(ca_key, ca, "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
                               [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                x509.IPAddress(ipaddress.ip_address("::1")),
                                x509.DNSName("localhost")], days)
    client_key, client = _leaf(ca_key, ca, kiosk_id, ExtendedKeyUsageOID.CLIENT_AUTH, None, days)
    pem = serialization.Encoding.PEM
    m.ca_path.write_bytes(ca.public_bytes(pem))
    m.cert_path.write_bytes(server.public_bytes(pem))
    _write_key(m.key_path, server_key)
    m.client_cert_path.write_bytes(client.public_bytes(pem))
    _write_key(m.client_key_path, client_key)
    return m
