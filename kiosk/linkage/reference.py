"""The reference linkage gateway: HTTPS + JSON on loopback, FOR TESTS AND DEMOS ONLY.

It is NOT the Mynaportal linkage.  The official linkage of 運転者管理システム and
マイナポータル is done by the resident in the official app on a smartphone
(the leaflet: 「スマートフォンなど対応可能な端末で」); as far as public sources
show, no operator offers a gateway a kiosk could use for it (docs/linkage.md).
This server implements docs/linkage-protocol.md so the engine, the tests and
an integrator have something real to talk to.  It links nothing: a reference
number from it means only that the protocol ran.  Verifying JPKI signatures
as a business needs authorisation under 公的個人認証法 §17, so it listens on
loopback only, trusts the simulated card's TEST roots unless given others,
and answers ``"test_only": true`` on /v1/health so every client labels the
flow DEMO.

What it checks of the two certificates is all a gateway can check from them:
each chains to the right purpose's root and is valid now, and both signed
within one session (the auth key the session's challenge, the sign key an
application that carries the same challenge).  It does not pair them by
subject name: JPKI certificates carry opaque per-certificate ids.

Test hooks (``test_hooks=True``; ``/_test/*`` over HTTP, or the methods
below in-process) make it go down, answer slowly, answer 500, hand out a
challenge again, or change its terms between steps 6 and 9.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509

from kiosk.journal import ERR, log_event
from kiosk.linkage.cms import verify_signed_application
from kiosk.linkage.protocol import (
    CHALLENGE_BYTES,
    PATH_HEALTH,
    PATH_SESSIONS,
    PATH_TERMS,
    Refusal,
    b64d,
    b64e,
    parse_application_content,
)
from kiosk.linkage.tls import TlsMaterial, make_tls_material
from kiosk.linkage.trust import (
    TrustAnchors,
    load_der_certificate,
    verify_certificate,
    verify_rsa_sha256,
)

MAX_BODY = 64 * 1024
Answer = tuple[int, dict[str, Any]]        # HTTP status, JSON body
DEMO_OPERATOR = "myna-kiosk reference gateway (TEST/DEMO only; not the official linkage)"
TERMS_TEXT = (
    "【デモ】試験・デモ用ゲートウェイの規約（{version}）\n"
    "これは公式のマイナポータル連携ではありません。何も連携されず、電子証明書はどこにも提供されません。"
    "本当の連携は、スマートフォンなど対応可能な端末で公式アプリから行ってください。\n"
    "DEMO terms ({version}) of a test and demo gateway: this is not the official Mynaportal linkage. "
    "Nothing is linked and no certificate is passed on. The real linkage is done in the official app "
    "on a smartphone."
)
FAULT_KINDS = ("down", "slow", "error500", "replay_challenge")


@dataclass
class Fault:
    kind: str
    seconds: float = 0.0
    match: str | None = None         # substring of the path it applies to (None: every /v1 path)
    count: int | None = None         # applies this many times, then clears (None: until reset)


@dataclass
class Session:
    id: str
    challenge: bytes
    kiosk_id: str
    issued_at: float
    state: str = "issued"            # issued | authenticated | applied
    authenticated_at: float = 0.0
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)   # request_id -> answer


class ReferenceGateway:
    def __init__(self, anchors: TrustAnchors | None = None, tls_dir: str | Path | None = None,
                 host: str = "127.0.0.1", port: int = 0, challenge_ttl: float = 300.0,
                 session_ttl: float = 900.0, test_hooks: bool = False,
                 require_client_cert: bool = False, clock: Callable[[], float] = time.time,
                 verbose: bool = False):
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the reference gateway listens on loopback only (it is for testing)")
        self.anchors = anchors or TrustAnchors.simulated()
        self._own_dir = tls_dir is None
        self.tls_dir = Path(tls_dir) if tls_dir else Path(tempfile.mkdtemp(prefix="kiosk-gw-"))
        self.tls: TlsMaterial = make_tls_material(self.tls_dir)
        self.challenge_ttl = challenge_ttl
        self.session_ttl = session_ttl
        self.test_hooks = test_hooks
        self.clock = clock
        self.verbose = verbose
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sessions: dict[str, Session] = {}
        self.terms_revision = 1
        self.faults: list[Fault] = []
        self.requests: dict[str, int] = {}
        self.references: list[str] = []
        self._last_session: Session | None = None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.tls.cert_path, self.tls.key_path)
        ctx.load_verify_locations(self.tls.ca_path)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
        self.httpd = _Server((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.gateway = self
        # Handshake in the handler thread, so one stuck client cannot block accept().
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                            do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.url = f"https://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    @property
    def ca_path(self) -> str:
        return str(self.tls.ca_path)

    def start(self) -> ReferenceGateway:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="reference-gateway", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.stopping.set()                 # releases handlers waiting in a 'slow' fault
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
        self.httpd.server_close()
        if self._own_dir:
            shutil.rmtree(self.tls_dir, ignore_errors=True)

    # -- test hooks ------------------------------------------------------------
    def set_fault(self, kind: str, seconds: float = 0.0, match: str | None = None,
                  count: int | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise Refusal("bad_request", f"fault kind must be one of {', '.join(FAULT_KINDS)}")
        with self.lock:
            self.faults.append(Fault(kind, float(seconds), match, count))

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.references.clear()

    def change_terms(self) -> str:
        with self.lock:
            self.terms_revision += 1
            return self.terms_version

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": dict(self.requests), "references": len(self.references),
                    "terms_version": self.terms_version}

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.match is None or f.match in path:
                    if f.count is not None:
                        f.count -= 1
                        if f.count <= 0:
                            self.faults.remove(f)
                    return f
        return None

    # -- protocol --------------------------------------------------------------
    @property
    def terms_version(self) -> str:
        return f"2026-11-r{self.terms_revision}"

    def terms(self) -> dict[str, Any]:
        v = self.terms_version
        return {"version": v, "text": TERMS_TEXT.format(version=v)}

    def count(self, route: str) -> None:
        with self.lock:
            self.requests[route] = self.requests.get(route, 0) + 1

    def new_session(self, body: dict[str, Any], replay: bool) -> tuple[int, dict[str, Any]]:
        kiosk_id = body.get("kiosk_id")
        if not isinstance(kiosk_id, str) or not 1 <= len(kiosk_id) <= 64:
            raise Refusal("bad_request", "kiosk_id must be 1-64 characters")
        with self.lock:
            self._prune()
            if replay and self._last_session is not None:
                s = self._last_session          # the fault: hand out an old challenge again
            else:
                s = Session(secrets.token_hex(16), secrets.token_bytes(CHALLENGE_BYTES), kiosk_id,
                            self.clock())
                self.sessions[s.id] = s
                self._last_session = s
            return 201, {"session": s.id, "challenge": b64e(s.challenge),
                         "expires_in": max(0, int(s.issued_at + self.challenge_ttl - self.clock()))}

    def _prune(self) -> None:
        """Forget sessions nobody can use any more (memory stays bounded)."""
        horizon = self.clock() - self.challenge_ttl - self.session_ttl
        for sid in [k for k, v in self.sessions.items() if v.issued_at < horizon]:
            del self.sessions[sid]

    def _session(self, sid: str) -> Session:
        s = self.sessions.get(sid)
        if s is None:
            raise Refusal("unknown_session")
        return s

    def _idempotent(self, sid: str, body: dict[str, Any],
                    work: Callable[[Session, dict[str, Any]], Answer]) -> Answer:
        """Same request_id, same answer: a retried network call never counts twice."""
        rid = body.get("request_id")
        if not isinstance(rid, str) or not 8 <= len(rid) <= 64:
            raise Refusal("bad_request", "request_id must be 8-64 characters")
        with self.lock:
            s = self._session(sid)
            if rid in s.answers:
                return s.answers[rid]
            try:
                answer = work(s, body)
            except Refusal as r:
                doc = r.to_json()
                if r.code == "terms_changed":
                    doc["terms"] = self.terms()          # the new terms, to consent again
                answer = (r.status, doc)
            s.answers[rid] = answer
            return answer

    def authenticate(self, sid: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._idempotent(sid, body, self._authenticate)

    def _authenticate(self, s: Session, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        now = self.clock()
        if s.state != "issued":
            raise Refusal("challenge_used", "this challenge was answered already")
        if now > s.issued_at + self.challenge_ttl:
            raise Refusal("challenge_expired")
        cert = load_der_certificate(b64d(body.get("certificate"), "certificate"))
        signature = b64d(body.get("signature"), "signature")
        verify_certificate(cert, self.anchors, "auth", _utc(now))
        verify_rsa_sha256(cert, signature, s.challenge)
        s.state = "authenticated"
        s.authenticated_at = now
        return 200, {"session": s.id, "terms": self.terms()}

    def apply(self, sid: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._idempotent(sid, body, self._apply)

    def _apply(self, s: Session, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        now = self.clock()
        if s.state == "issued":
            raise Refusal("not_authenticated", "authenticate (step 5) first")
        if s.state == "applied":
            raise Refusal("already_applied")
        if now > s.authenticated_at + self.session_ttl:
            raise Refusal("challenge_expired", "the session expired")
        content, cert, _ = verify_signed_application(b64d(body.get("cms"), "cms"))
        doc = parse_application_content(content)
        if doc["challenge"] != b64e(s.challenge) or doc["kiosk_id"] != s.kiosk_id:
            raise Refusal("bad_request", "the application is for another session")
        # The sign certificate is tied to step 5 by the session's challenge inside the signed
        # content, never by its subject name (JPKI ids are per certificate).
        verify_certificate(cert, self.anchors, "sign", _utc(now))
        if doc["terms_version"] != self.terms_version:
            raise Refusal("terms_changed", "the terms changed since consent")
        s.state = "applied"
        ref = "DEMO-" + "".join(secrets.choice("0123456789") for _ in range(10))   # links nothing
        self.references.append(ref)
        return 201, {"reference": ref, "terms_version": doc["terms_version"]}


def _utc(stamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, dt.UTC)


class _Server(ThreadingHTTPServer):
    """The HTTP server, knowing its gateway (the handlers' shared state)."""

    gateway: ReferenceGateway


class _Handler(BaseHTTPRequestHandler):
    server_version = "kiosk-reference-gateway"
    protocol_version = "HTTP/1.1"
    timeout = 15

    @property
    def gw(self) -> ReferenceGateway:
        assert isinstance(self.server, _Server)
        return self.server.gateway

    def log_message(self, fmt: str, *args: Any) -> None:            # request lines only; bodies are never logged
        if self.gw.verbose:
            sys.stderr.write("gateway: " + (fmt % args) + "\n")

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, OSError, ValueError):
            pass                                 # a failed handshake or a vanished client

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        raw = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> dict[str, Any]:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise Refusal("bad_request", "bad Content-Length") from None
        if n > MAX_BODY:
            raise Refusal("bad_request", "body too large")
        raw = self.rfile.read(n) if n else b"{}"
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Refusal("bad_request", "body is not JSON") from None
        if not isinstance(doc, dict):
            raise Refusal("bad_request", "body must be a JSON object")
        return doc

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        gw = self.gw
        try:
            body = self._body() if method == "POST" else {}
            if path.startswith("/_test/"):
                if not gw.test_hooks:
                    raise Refusal("unknown_session", "no such endpoint")
                return self._send(*self._test_hook(method, path, body))
            fault = gw._take_fault(path)
            gw.count(_route(path))              # every attempt, so tests can see the retries
            if fault and fault.kind == "down":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)   # no answer at all: a dead gateway
                return
            if fault and fault.kind == "slow":
                gw.stopping.wait(fault.seconds)
            if fault and fault.kind == "error500":
                return self._send(500, Refusal("internal", "simulated failure").to_json())
            self._send(*self._route(method, path, body, replay=bool(fault and fault.kind == "replay_challenge")))
        except Refusal as r:
            if r.code == "bad_request":
                self.close_connection = True     # the body may be unread: no keep-alive after it
            self._send(r.status, r.to_json())
        except (ssl.SSLError, OSError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 -- journaled below; a gateway bug answers 500, never hangs
            log_event("linkage_gateway_internal", "reference gateway: internal error", priority=ERR,
                      ENDPOINT=_route(path), EXCEPTION=type(exc).__name__)
            self._send(500, Refusal("internal", type(exc).__name__).to_json())

    def _route(self, method: str, path: str, body: dict[str, Any], replay: bool) -> tuple[int, dict[str, Any]]:
        gw = self.gw
        if method == "GET" and path == PATH_HEALTH:
            return 200, {"status": "ok", "api": 1, "terms_version": gw.terms_version,
                         "test_only": True, "operator": DEMO_OPERATOR}
        if method == "GET" and path == PATH_TERMS:
            return 200, gw.terms()
        if method == "POST" and path == PATH_SESSIONS:
            return gw.new_session(body, replay)
        parts = path.split("/")
        if method == "POST" and len(parts) == 5 and "/".join(parts[:3]) == PATH_SESSIONS:
            if parts[4] == "auth":
                return gw.authenticate(parts[3], body)
            if parts[4] == "application":
                return gw.apply(parts[3], body)
        raise Refusal("unknown_session", "no such endpoint")

    def _test_hook(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        gw = self.gw
        if method == "POST" and path == "/_test/fault":
            gw.set_fault(str(body.get("kind")), float(body.get("seconds") or 0),
                         body.get("match"), body.get("count"))
        elif method == "POST" and path == "/_test/reset":
            gw.reset()
        elif method == "POST" and path == "/_test/terms":
            gw.change_terms()
        elif not (method == "GET" and path == "/_test/stats"):
            raise Refusal("unknown_session", "no such test hook")
        return 200, gw.stats()


def _route(path: str) -> str:
    """A path as a counter name: health, terms, sessions, auth, application."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def start_local_gateway(trust_anchors: TrustAnchors | list[x509.Certificate] | None = None,
                        **options: Any) -> ReferenceGateway:
    """Start the reference gateway on 127.0.0.1 (free port) in a background thread.

    ``trust_anchors``: a TrustAnchors, a list of certificates (trusted for
    both purposes) or None for the simulated card's TEST roots.
    """
    if isinstance(trust_anchors, (list, tuple)):
        trust_anchors = TrustAnchors(list(trust_anchors), list(trust_anchors))
    return ReferenceGateway(trust_anchors, **options).start()
