"""Linkage failures, one class per thing the resident and the technician must tell apart.

Gateway failures all keep ``code = "gateway_error"`` (exit code 50, like
every other area's gateway failure); a malformed certificate read from the
card is ``CardCertificateError``, ``code = "card_error"`` (exit code 30).
Each adds:

* ``reason``: stable id, also in ``details`` and so in the CLI's JSON;
* ``message_key``: the resident message in the UI catalogue;
* ``event``: the journald event the client emits (kiosk.journal.EVENTS);
* ``retryable``: whether the resident may try the step again (with a fresh
  PIN entry; the kiosk never repeats a VERIFY or a signature on its own).
"""

from __future__ import annotations

from typing import Any

from kiosk.errors import CardProtocolError, GatewayError


class LinkageGatewayError(GatewayError):
    reason = "gateway_error"
    event = "linkage_error"
    retryable = False

    def __init__(self, message: str = "", **details: Any):
        details["reason"] = type(self).reason
        super().__init__(message or self.reason.replace("_", " "), **details)

    @property
    def message_key(self) -> str:
        return f"linkage.error.{type(self).reason}"


class GatewayNotConfiguredError(LinkageGatewayError):
    """No gateway in the config: pre-flight and the slip only."""

    reason = "not_configured"


class GatewayUnreachableError(LinkageGatewayError):
    """Network down, connection refused or reset, DNS: nothing answered."""

    reason = "unreachable"
    event = "linkage_unreachable"
    retryable = True


class GatewaySlowError(LinkageGatewayError):
    """The gateway did not answer within the timeout, even after retries."""

    reason = "slow"
    event = "linkage_slow"
    retryable = True


class GatewayServerError(LinkageGatewayError):
    """The gateway answered 5xx, even after retries."""

    reason = "server_error"
    event = "linkage_server_error"
    retryable = True


class GatewayRefusedError(LinkageGatewayError):
    """The gateway understood and said no (bad signature, unknown CA, replayed
    or expired challenge...).  ``details['refusal']`` carries its error code."""

    reason = "refused"
    event = "linkage_refused"


class TermsChangedError(LinkageGatewayError):
    """The terms changed between consent (step 6) and submission (step 9)."""

    reason = "terms_changed"
    event = "linkage_terms_changed"
    retryable = True

    def __init__(self, message: str = "", terms: tuple[str, str] | None = None, **details: Any):
        super().__init__(message or "the terms changed; consent again", **details)
        self.terms = terms


class GatewayProtocolError(LinkageGatewayError):
    """The gateway broke the protocol: bad JSON, a challenge it had handed out
    before (replay), a TLS certificate we do not pin."""

    reason = "protocol"
    event = "linkage_protocol_error"


class CardCertificateError(CardProtocolError):
    """A certificate read from the card (EF 000A or EF 0001) is not a usable
    X.509 certificate: truncated or malformed DER, a name that is not valid
    UTF-8, a missing field, a key that is not RSA.  A card error (exit 30), not
    a gateway one; raised before the card is asked to sign anything.  The
    resident is sent to the counter (the certificate must be reissued); the
    journal gets ``REASON=malformed_certificate`` and the certificate (``auth``
    or ``sign``), never its bytes."""

    reason = "malformed_certificate"
    message_key = "linkage.error.gateway_error"     # "could not be completed; ask at the counter"
    retryable = False

    def __init__(self, message: str = "", purpose: str | None = None, **details: Any):
        details["reason"] = type(self).reason
        if purpose is not None:
            details["certificate"] = purpose
        super().__init__(message or "the card's certificate cannot be read", **details)
        self.purpose = purpose
