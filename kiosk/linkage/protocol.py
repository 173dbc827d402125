"""The kiosk <-> gateway protocol: paths, JSON shapes, error codes.

One place for both ends (client.py and reference.py), so they cannot drift.
docs/linkage-protocol.md is the prose version of this file.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

API = "/v1"
PATH_HEALTH = f"{API}/health"
PATH_TERMS = f"{API}/terms"
PATH_SESSIONS = f"{API}/sessions"                 # POST: new session + challenge


def path_auth(session: str) -> str:
    return f"{PATH_SESSIONS}/{session}/auth"


def path_application(session: str) -> str:
    return f"{PATH_SESSIONS}/{session}/application"


PURPOSE = "mynaportal-licence-linkage"
CHALLENGE_BYTES = 32
CONTENT_FIELDS = ("purpose", "terms_version", "consent_time", "kiosk_id", "challenge")

# Gateway error code -> HTTP status.  Codes are what the client reads; the
# status only has to be right for HTTP tooling.
ERRORS: dict[str, int] = {
    "bad_request": 400,
    "bad_signature": 401,
    "untrusted_certificate": 401,
    "certificate_expired": 401,
    "certificate_pair_mismatch": 401,    # reserved for an operator that can link the two certificates
                                         # (the reference gateway cannot: it never sends it)
    "unknown_session": 404,
    "challenge_used": 409,
    "not_authenticated": 409,
    "already_applied": 409,
    "terms_changed": 409,
    "challenge_expired": 410,
    "client_certificate_required": 403,
    "internal": 500,
    "unavailable": 503,
}


class Refusal(Exception):
    """A protocol-level 'no' with a code from ERRORS (never personal data)."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code.replace("_", " ")
        self.status = ERRORS.get(code, 400)

    def to_json(self, **extra: Any) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **extra}}


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise Refusal("bad_request", f"{field} must be base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise Refusal("bad_request", f"{field} is not base64") from None


def utc_iso(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def application_content(terms_version: str, consent_time: float, kiosk_id: str,
                        challenge: bytes) -> bytes:
    """The bytes the resident signs at step 8: canonical JSON, no personal data."""
    doc = {"purpose": PURPOSE, "terms_version": terms_version,
           "consent_time": utc_iso(consent_time), "kiosk_id": kiosk_id,
           "challenge": b64e(challenge)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_application_content(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refusal("bad_request", "signed content is not JSON") from None
    if not isinstance(doc, dict) or sorted(doc) != sorted(CONTENT_FIELDS):
        raise Refusal("bad_request", "signed content has the wrong fields")
    if not all(isinstance(doc[k], str) for k in CONTENT_FIELDS):
        raise Refusal("bad_request", "signed content fields must be strings")
    if doc["purpose"] != PURPOSE:
        raise Refusal("bad_request", "signed content has the wrong purpose")
    return doc
