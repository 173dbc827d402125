"""The kiosk's side of the gateway protocol (docs/linkage-protocol.md), over httpx.

* TLS with a pinned CA (``ca``; never the system store when one is given) and
  an optional client certificate that identifies the kiosk.
* A timeout on every call.  A transient failure (connection refused or
  dropped, timeout, 5xx) repeats the *network call* with the same
  ``request_id``, so the gateway answers a repeat exactly like the first;
  nothing here can reach the card, so a retry never repeats a VERIFY or a
  signature.
* Every failure becomes one LinkageGatewayError subclass and one journald
  event; nothing personal (certificates, signatures) is logged.
"""

from __future__ import annotations

import collections
import ssl
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import httpx

from kiosk.config import LinkageSection, call_seconds
from kiosk.errors import ConfigError
from kiosk.journal import WARNING, log_event
from kiosk.linkage.errors import (
    GatewayProtocolError,
    GatewayRefusedError,
    GatewayServerError,
    GatewaySlowError,
    GatewayUnreachableError,
    LinkageGatewayError,
    TermsChangedError,
)
from kiosk.linkage.protocol import (
    CHALLENGE_BYTES,
    PATH_HEALTH,
    PATH_SESSIONS,
    PATH_TERMS,
    Refusal,
    b64d,
    b64e,
    path_application,
    path_auth,
)

RETRY_STATUS = (500, 502, 503, 504)


@dataclass
class Challenge:
    session: str
    value: bytes
    expires_at: float                  # time.monotonic() deadline

    def fresh(self, margin: float = 30.0) -> bool:
        return time.monotonic() + margin < self.expires_at


def _tls_failure(exc: BaseException) -> bool:
    seen = 0
    link: BaseException | None = exc
    while link is not None and seen < 8:
        if isinstance(link, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(link):
            return True
        link = link.__cause__ or link.__context__
        seen += 1
    return False


class GatewayClient:
    def __init__(self, url: str, ca: str | None = None, client_cert: str | None = None,
                 client_key: str | None = None, timeout: float = 10, retries: int = 2, *,
                 backoff: float = 0.25, transport: httpx.BaseTransport | None = None):
        if not url.startswith("https://"):
            raise ConfigError("linkage.gateway must be an https:// URL", key="linkage.gateway")
        if retries < 0 or timeout <= 0:
            raise ConfigError("linkage.timeout must be > 0 and linkage.retries >= 0", key="linkage.retries")
        try:
            ctx = ssl.create_default_context(cafile=ca or None)
            if client_cert:
                ctx.load_cert_chain(client_cert, client_key or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"linkage TLS files cannot be loaded ({type(exc).__name__})",
                              key="linkage.ca") from None
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = backoff
        self._http = httpx.Client(base_url=self.url, verify=ctx, timeout=httpx.Timeout(self.timeout),
                                  transport=transport, trust_env=False, follow_redirects=False)
        self._seen: collections.deque[bytes] = collections.deque(maxlen=4096)
        # busy(seconds) -> context manager around each call (all its attempts): the watchdog
        # counts the card worker alive for exactly that call's worst case (appliance/health.py).
        self.busy: Callable[[float], ContextManager[Any]] = lambda _seconds: nullcontext()

    @classmethod
    def from_config(cls, section: LinkageSection) -> GatewayClient | None:
        """None when no gateway is configured (the default: pre-flight and slip only)."""
        if not section.gateway:
            return None
        return cls(section.gateway, ca=section.ca or None, client_cert=section.client_cert or None,
                   client_key=section.client_key or None, timeout=section.timeout,
                   retries=section.retries)

    def close(self) -> None:
        self._http.close()

    # -- the protocol ----------------------------------------------------------
    def health(self, timeout: float | None = None, retries: int | None = None) -> dict[str, Any]:
        """Reachability.  The pre-flight passes a short timeout: a resident is waiting."""
        return self._call("GET", PATH_HEALTH, "health", timeout=timeout, retries=retries)

    def terms(self) -> tuple[str, str]:
        return self._terms(self._call("GET", PATH_TERMS, "terms"), "terms")

    def new_challenge(self, kiosk_id: str) -> Challenge:
        """A fresh challenge.  One the gateway handed out before is refused here,
        before any PIN is asked for: the card never signs the same challenge twice."""
        doc = self._call("POST", PATH_SESSIONS, "sessions", {"kiosk_id": kiosk_id})
        try:
            value = b64d(doc.get("challenge"), "challenge")
            session = doc["session"]
            expires_in = float(doc.get("expires_in", 0))
        except (Refusal, KeyError, TypeError, ValueError):
            raise self._fail(GatewayProtocolError("malformed challenge"), "sessions") from None
        if len(value) != CHALLENGE_BYTES or not isinstance(session, str):
            raise self._fail(GatewayProtocolError("challenge has the wrong size"), "sessions")
        if value in self._seen:
            raise self._fail(GatewayProtocolError("the gateway replayed a challenge",
                                                  refusal="challenge_replayed"), "sessions")
        self._seen.append(value)
        return Challenge(session, value, time.monotonic() + expires_in)

    def submit_auth(self, session: str, signature: bytes, certificate: bytes) -> tuple[str, str]:
        """Step 5: the user-authentication signature and certificate; returns the terms."""
        doc = self._call("POST", path_auth(session), "auth",
                         {"signature": b64e(signature), "certificate": b64e(certificate)})
        return self._terms(doc.get("terms"), "auth")

    def _terms(self, doc: object, route: str) -> tuple[str, str]:
        try:
            return _terms(doc)
        except GatewayProtocolError as exc:
            raise self._fail(exc, route) from None

    def submit_application(self, session: str, cms_der: bytes) -> str:
        """Step 8/9: the signed application; returns the gateway's reference number."""
        doc = self._call("POST", path_application(session), "application", {"cms": b64e(cms_der)})
        ref = doc.get("reference")
        if not isinstance(ref, str) or not ref:
            raise self._fail(GatewayProtocolError("no reference number"), "application")
        return ref

    # -- transport ---------------------------------------------------------------
    def _call(self, method: str, path: str, route: str, body: dict[str, Any] | None = None,
              timeout: float | None = None, retries: int | None = None) -> dict[str, Any]:
        if body is not None:
            body = dict(body, request_id=uuid.uuid4().hex)     # the same on every retry
        timeout = min(timeout, self.timeout) if timeout else self.timeout
        retries = self.retries if retries is None else min(retries, self.retries)
        with self.busy(call_seconds(timeout, retries, self.backoff)):
            return self._attempts(method, path, route, body, timeout, retries)

    def _attempts(self, method: str, path: str, route: str, body: dict[str, Any] | None,
                  timeout: float, retries: int) -> dict[str, Any]:
        last: LinkageGatewayError | None = None
        attempts = 0
        for attempt in range(retries + 1):
            if attempt and self.backoff:
                time.sleep(self.backoff * attempt)     # spacing retries, not synchronisation
            attempts += 1
            try:
                resp = self._http.request(method, path, json=body, timeout=timeout)
            except httpx.TimeoutException:
                last = GatewaySlowError(f"no answer within {timeout:g} s")
                continue
            except httpx.TransportError as exc:
                if _tls_failure(exc):
                    raise self._fail(GatewayProtocolError("the gateway's TLS certificate is not the pinned CA's",
                                                          refusal="untrusted_gateway"), route, attempts) from exc
                last = GatewayUnreachableError("the gateway cannot be reached")
                continue
            if resp.status_code in RETRY_STATUS:
                last = GatewayServerError(f"the gateway answered {resp.status_code}",
                                          status=resp.status_code)
                continue
            return self._decode(resp, route, attempts)
        raise self._fail(last or GatewayUnreachableError("no attempt was made"), route, attempts)

    def _decode(self, resp: httpx.Response, route: str, attempts: int) -> dict[str, Any]:
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise self._fail(GatewayProtocolError("the gateway's answer is not JSON",
                                                  status=resp.status_code), route, attempts)
        if resp.status_code < 300:
            return doc
        err = doc["error"] if isinstance(doc.get("error"), dict) else {}
        code = str(err.get("code") or "unknown")
        if code == "terms_changed":
            try:
                terms = _terms(doc.get("terms"))
            except GatewayProtocolError:
                terms = None
            raise self._fail(TermsChangedError(terms=terms, status=resp.status_code), route, attempts)
        raise self._fail(GatewayRefusedError(f"the gateway refused: {code}", refusal=code,
                                             status=resp.status_code), route, attempts)

    def _fail(self, exc: LinkageGatewayError, route: str, attempts: int = 1) -> LinkageGatewayError:
        exc.details.setdefault("endpoint", route)
        log_event(exc.event, exc.message, priority=WARNING, ERROR_CODE=exc.code, REASON=exc.reason,
                  REFUSAL=exc.details.get("refusal"), ENDPOINT=route, ATTEMPTS=attempts,
                  HTTP_STATUS=exc.details.get("status"))
        return exc


def _terms(doc: object) -> tuple[str, str]:
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), str) \
            or not isinstance(doc.get("text"), str):
        raise GatewayProtocolError("the gateway sent no terms")
    return doc["version"], doc["text"]
