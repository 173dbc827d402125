"""Journal upload over HTTPS with certificates: a real systemd-journal-upload to a real
systemd-journal-remote on loopback (Debian 12's systemd 252).

What this proves about Debian 12: the uploader presents its client certificate and
verifies the server against the city's CA; the receiver serves HTTPS but is built
without GnuTLS (``systemd --version`` shows -GNUTLS), so it *cannot* verify client
certificates (``--trust`` is refused).  The journal_remote role therefore puts a
TLS proxy that requires client certificates in front of it (docs/operations.md).
"""

from __future__ import annotations

import configparser
import shutil
import socket
import subprocess
import sys
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


# --- the whole path as shipped: kiosk.toml -> install.sh's upload config -> journal-upload ->
# --- nginx (the journal_remote role's site, verifying client certificates) -> journal-remote
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROLE_SITE = DEPLOY / "ansible/roles/journal_remote/templates/nginx-journal-remote.conf.j2"
UPLOAD_TEMPLATE = DEPLOY / "journal-upload/50-kiosk.conf.in"


def _export(message: str) -> bytes:
    return (b"__REALTIME_TIMESTAMP=1764064800000000\n__MONOTONIC_TIMESTAMP=1\n"
            b"_BOOT_ID=3d1219c7c4c5404aaa1f6d2a48adfda4\nMESSAGE=" + message.encode()
            + b"\nSYSLOG_IDENTIFIER=kiosk\nEVENT=kiosk_started\n\n")


def _journal_with(tmp: Path, message: str) -> Path:
    out = tmp / f"{message.replace(' ', '-')}.journal"
    subprocess.run([REMOTE, "-o", str(out), "-"], input=_export(message), check=True, capture_output=True,
                   timeout=30)
    return out


@pytest.fixture(scope="module")
def stranger(pki, tmp_path_factory):
    """A client certificate from another CA (a laptop on the segment with its own PKI)."""
    d = tmp_path_factory.mktemp("stranger")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=city-log-ca", cwd=d)          # same name, different key
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
             "-subj", "/CN=kiosk-03", cwd=d)
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "client.crt", "-days", "2", cwd=d)
    return d


@pytest.fixture
def log_host(pki, tmp_path):
    """journal-remote on loopback HTTP behind nginx running the role's TLS site; yields (port, output)."""
    jinja2 = pytest.importorskip("jinja2")
    if not Path(NGINX).exists():
        pytest.fail("nginx missing: apt-get install nginx-light (deploy/apt-dev.txt)")
    port, backend = _port(), _port()
    site = jinja2.Template(ROLE_SITE.read_text()).render(
        ansible_managed="test", journal_remote_port=port, journal_remote_backend_port=backend,
        journal_remote_tls_cert=pki / "server.crt", journal_remote_tls_key=pki / "server.key",
        journal_remote_tls_ca=pki / "ca.crt")
    # Tests listen on loopback only; the role listens on every address.
    assert f"listen {port} ssl;" in site and "ssl_verify_client on;" in site
    site = site.replace(f"listen {port} ssl;", f"listen 127.0.0.1:{port} ssl;")
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    out = tmp_path / "remote.journal"
    remote = subprocess.Popen([REMOTE, f"--listen-http=127.0.0.1:{backend}", "--split-mode=none",
                               f"--output={out}"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(backend, remote)
        _wait_listening(port, nginx)
        yield port, out
    finally:
        for proc in (nginx, remote):
            proc.terminate()
            proc.wait(10)


def _arrived(out: Path) -> str:
    if not out.exists():
        return ""
    return subprocess.run(["journalctl", "--file", str(out), "-o", "cat"], capture_output=True, text=True,
                          timeout=30).stdout


def _kiosk_upload_config(tmp: Path, pki: Path, port: int) -> configparser.ConfigParser:
    """What install.sh writes for this kiosk.toml, read back (credential paths -> the test's files)."""
    from kiosk.appliance import journalupload
    toml = tmp / "kiosk.toml"
    toml.write_text(f'[logging]\nupload_url = "https://localhost:{port}"\nupload_key = "{pki}/client.key"\n'
                    f'upload_cert = "{pki}/client.crt"\nupload_ca = "{pki}/ca.crt"\n')
    run = [sys.executable, journalupload.__file__, str(toml), str(UPLOAD_TEMPLATE)]
    conf = subprocess.run([*run, "conf"], capture_output=True, text=True, check=True, timeout=30).stdout
    dropin = subprocess.run([*run, "dropin"], capture_output=True, text=True, check=True, timeout=30).stdout
    # LoadCredential=NAME:PATH, as systemd would copy them to the credentials directory.
    creds = tmp / "credentials"
    creds.mkdir()
    for line in dropin.splitlines():
        if line.startswith("LoadCredential="):
            name, source = line.removeprefix("LoadCredential=").split(":", 1)
            (creds / name).symlink_to(source)
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str                     # type: ignore[assignment,method-assign]
    parser.read_string(conf.replace(str(journalupload.CREDENTIALS), str(creds)))
    return parser


def test_a_kiosk_record_arrives_through_the_client_certificate_proxy(pki, log_host, tmp_path):
    port, out = log_host
    up = _kiosk_upload_config(tmp_path, pki, port)["Upload"]
    result = subprocess.run([UPLOAD, f"--url={up['URL']}", f"--key={up['ServerKeyFile']}",
                             f"--cert={up['ServerCertificateFile']}", f"--trust={up['TrustedCertificateFile']}",
                             f"--file={_journal_with(tmp_path, 'kiosk record')}", "--follow=no",
                             f"--save-state={tmp_path / 'state'}"],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "kiosk record" in _arrived(out)


def test_an_upload_without_a_client_certificate_is_refused(pki, log_host, tmp_path):
    import http.client
    import ssl
    port, out = log_host
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=30)
    try:
        conn.request("POST", "/upload", body=_export("anonymous record"),
                     headers={"Content-Type": "application/vnd.fdo.journal"})
        response = conn.getresponse()
        assert response.status == 400 and b"No required SSL certificate" in response.read()
    finally:
        conn.close()
    assert "anonymous record" not in _arrived(out)


def test_an_upload_with_a_certificate_from_another_ca_is_refused(pki, stranger, log_host, tmp_path):
    port, out = log_host
    result = subprocess.run([UPLOAD, f"--url=https://localhost:{port}", f"--key={stranger / 'client.key'}",
                             f"--cert={stranger / 'client.crt'}", f"--trust={pki / 'ca.crt'}",
                             f"--file={_journal_with(tmp_path, 'stranger record')}", "--follow=no",
                             f"--save-state={tmp_path / 'state'}"],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "stranger record" not in _arrived(out)
    # ...while the kiosk's own certificate still gets through the same proxy (the refusal is the CA's).
    ok = _upload(pki, port, _journal_with(tmp_path, "kiosk again"), pki / "ca.crt", tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "kiosk again" in _arrived(out)
