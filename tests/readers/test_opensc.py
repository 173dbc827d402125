"""Another middleware must accept our card: Debian's OpenSC (JPKI driver) through the private pcscd.

OpenSC's card-jpki.c matches the card by SELECTing the JPKI AID (its ATR
table only knows one contact ATR), reads each certificate's length from its
first 4 bytes, and reads PIN counters with an empty VERIFY after SELECT EF
0018 (auth) / 001B (sign).  A card that only our own client accepts proves
nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kiosk.errors import PinWrongError
from kiosk.nfc.apdu import AID_JPKI
from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin

pytestmark = [pytest.mark.timeout(120), pytest.mark.pcsc]


def pkcs15_tool(reader: str, *args: str) -> str:
    tool = shutil.which("pkcs15-tool")
    assert tool, "pkcs15-tool missing: apt-get install opensc (deploy/apt-dev.txt)"
    done = subprocess.run([tool, "--reader", reader, *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout


def tries_left(listing: str) -> dict[str, int]:
    out = {}
    for block in listing.split("PIN [")[1:]:
        name = block.split("]")[0]
        out[name] = int(re.search(r"Tries left\s*:\s*(\d+)", block).group(1))
    return out


def test_opensc_lists_and_reads_our_certificates(pcsc_path):
    card = pcsc_path.insert("resident")
    reader = pcsc_path.bench.reader_name
    listing = pkcs15_tool(reader, "--list-certificates")
    for label in ("User Authentication Certificate", "Digital Signature Certificate",
                  "User Authentication Certificate CA", "Digital Signature Certificate CA"):
        assert f"X.509 Certificate [{label}]" in listing
    jpki = card.fs[AID_JPKI]
    for cert_id, fid in (("1", 0x000A), ("3", 0x000B), ("4", 0x0002)):
        pem = pkcs15_tool(reader, "--read-certificate", cert_id)
        cert = x509.load_pem_x509_certificate(pem.encode())
        assert cert.public_bytes(Encoding.DER) == jpki[fid].content
    # OpenSC never sent a PIN, and never touched the My Number.
    assert not any(v.with_data for v in card.verifies)
    assert card.forbidden_touches == []


def test_opensc_reports_the_pin_counters_we_left(pcsc_path):
    card = pcsc_path.insert("resident")
    reader = pcsc_path.bench.reader_name
    assert tries_left(pkcs15_tool(reader, "--list-pins")) == {
        "User Authentication PIN": 3, "Digital Signature PIN": 5}
    # One wrong auth PIN through the kiosk costs one try; OpenSC sees exactly that.
    with CardSession(pcsc_path.reader.connect()) as session:
        with pytest.raises(PinWrongError):
            session.jpki_sign("auth", Pin("jpki_auth", "0000"), b"m")
    assert tries_left(pkcs15_tool(reader, "--list-pins")) == {
        "User Authentication PIN": 2, "Digital Signature PIN": 5}
    assert card.pin_tries("jpki_auth") == 2
