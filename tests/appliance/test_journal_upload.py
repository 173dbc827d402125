"""Journal upload over HTTPS with certificates: a real systemd-journal-upload to a real
systemd-journal-remote on loopback (Debian 12's systemd 252).

What this proves about Debian 12: the uploader presents its client certificate and
verifies the server against the city's CA; the receiver serves HTTPS but is built
without GnuTLS (``systemd --version`` shows -GNUTLS), so it *cannot* verify client
certificates (``--trust`` is refused).  The journal_remote role therefore puts a
TLS proxy that requires client certificates in front of it (docs/operations.md).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REMOTE = "/lib/systemd/systemd-journal-remote"
UPLOAD = "/lib/systemd/systemd-journal-upload"
pytestmark = pytest.mark.skipif(not (Path(REMOTE).exists() and Path(UPLOAD).exists()
                                     and shutil.which("openssl") and shutil.which("journalctl")),
                                reason="systemd-journal-remote / openssl not installed (deploy/apt-dev.txt)")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=city-log-ca", cwd=d)
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn, ext in (("server", "localhost", ["-extfile", "san.ext"]), ("client", "kiosk-03", [])):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", *ext, cwd=d)
    return d


@pytest.fixture
def journal_file(tmp_path):
    """A journal file with one kiosk record (journal-remote writes it from export format)."""
    export = (b"__REALTIME_TIMESTAMP=1764064800000000\n__MONOTONIC_TIMESTAMP=1\n"
              b"_BOOT_ID=3d1219c7c4c5404aaa1f6d2a48adfda4\nMESSAGE=upload check\n"
              b"SYSLOG_IDENTIFIER=kiosk\nEVENT=kiosk_started\n\n")
    out = tmp_path / "in.journal"
    subprocess.run([REMOTE, "-o", str(out), "-"], input=export, check=True, capture_output=True, timeout=30)
    return out


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(pki: Path, out: Path, port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([REMOTE, f"--listen-https=127.0.0.1:{port}", f"--key={pki / 'server.key'}",
                             f"--cert={pki / 'server.crt'}", "--split-mode=none", f"--output={out}", *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(proc.stderr.read().decode())
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)                      # until the server listens (deadline above)
    pytest.fail("journal-remote did not listen")


def _upload(pki: Path, port: int, journal: Path, trust: Path, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run([UPLOAD, f"--url=https://localhost:{port}", f"--key={pki / 'client.key'}",
                           f"--cert={pki / 'client.crt'}", f"--trust={trust}", f"--file={journal}",
                           "--follow=no", f"--save-state={tmp / 'state'}"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def test_upload_over_https_with_a_client_certificate_and_a_pinned_ca(pki, journal_file, tmp_path):
    port = _port()
    out = tmp_path / "remote.journal"
    server = _serve(pki, out, port)
    try:
        _wait_listening(port, server)
        result = _upload(pki, port, journal_file, pki / "ca.crt", tmp_path)
        assert result.returncode == 0, result.stderr
        # A server the city's CA did not sign is refused by the uploader.
        wrong = _upload(pki, port, journal_file, pki / "client.crt", tmp_path)
        assert wrong.returncode != 0
    finally:
        server.terminate()
        server.wait(10)
    got = subprocess.run(["journalctl", "--file", str(out), "-o", "cat"], capture_output=True, text=True,
                         timeout=30).stdout
    assert "upload check" in got


def test_debian_12_journal_remote_cannot_verify_client_certificates(pki, tmp_path):
    """Why the role needs a client-verifying TLS proxy: --trust is not available here."""
    version = subprocess.run([REMOTE, "--version"], capture_output=True, text=True, timeout=10).stdout
    if "+GNUTLS" in version:
        pytest.skip("this systemd can verify client certificates itself")
    proc = _serve(pki, tmp_path / "r.journal", _port(), f"--trust={pki / 'ca.crt'}")
    try:
        assert proc.wait(20) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "--trust is not available" in proc.stderr.read().decode()
