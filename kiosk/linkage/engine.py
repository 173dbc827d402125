"""The Mynaportal linkage as a state machine over the leaflet's nine steps.

    1 start  2 confirm  3 consent + prepare reading  4 auth PIN
    5 read + send auth signature  6 terms  7 sign password  8 read + sign  9 done

Independent of any UI: the touchscreen and ``kiosk linkage run`` drive the
same engine.  Blocking calls (card, gateway) run in the caller's worker
thread.  The card layer enforces the PIN rules (one VERIFY per ``Pin``,
counter read first, never a locked counter); the engine adds the flow rules:

* a wrong PIN leaves the step where it was, so the resident decides whether
  to try again, with a new ``Pin``;
* a gateway failure after a signature never re-signs on its own: the
  resident is asked again, or the flow ends;
* card removal, a locked PIN, cancel and completion all wipe certificates,
  challenge and anything else about the resident.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from kiosk.errors import (
    CardRemovedError,
    ForbiddenOperation,
    KioskError,
    NoLicenceError,
    PinLockedError,
    PinWrongError,
    UnsupportedCardError,
)
from kiosk.journal import INFO, NOTICE, WARNING, log_event
from kiosk.linkage.client import Challenge
from kiosk.linkage.cms import SignedApplication, load_card_certificate
from kiosk.linkage.errors import (
    GatewayNotConfiguredError,
    GatewayUnreachableError,
    LinkageGatewayError,
    TermsChangedError,
)
from kiosk.linkage.protocol import application_content
from kiosk.nfc.card import JST, CardSession
from kiosk.nfc.model import MYNA, MYNA_LICENCE, CardStatus
from kiosk.nfc.pins import Pin

STEPS = 9
STEP_NAMES = {0: "preflight", 1: "start", 2: "confirm", 3: "consent", 4: "auth_pin", 5: "auth_send",
              6: "terms", 7: "sign_pin", 8: "sign_send", 9: "complete"}
# Where a resident goes to fix each pre-flight problem.
MUNICIPALITY, POLICE, COUNTER = "municipality", "police", "counter"
MYNAPORTAL_URL = "https://myna.go.jp/"
PREFLIGHT_TIMEOUT = 3.0          # seconds per reachability probe: the resident is waiting

PROBLEM_WHERE = {
    "not_my_number_card": COUNTER,
    "jpki_auth_locked": MUNICIPALITY,
    "jpki_sign_locked": MUNICIPALITY,
    "no_sign_cert": MUNICIPALITY,
    "cert_expired": MUNICIPALITY,
    "no_licence": POLICE,
    "gateway_unreachable": COUNTER,
}


@dataclass(frozen=True)
class Problem:
    code: str
    where: str

    @property
    def message_key(self) -> str:
        return f"linkage.preflight.{self.code}"

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "where": self.where}


@dataclass
class Checklist:
    """What the no-gateway slip prints: PINs needed, tries left, validity.

    Counters and dates only; nothing that identifies the resident."""

    pins: list[dict[str, Any]] = field(default_factory=list)      # id, tries_left, max_tries, locked
    cert_valid_until: dt.date | None = None
    sign_cert_present: bool | None = None
    licence_present: bool = False
    continue_url: str = MYNAPORTAL_URL

    def to_json(self) -> dict[str, Any]:
        return {"pins": [dict(p) for p in self.pins],
                "cert_valid_until": self.cert_valid_until.isoformat() if self.cert_valid_until else None,
                "sign_cert_present": self.sign_cert_present, "licence_present": self.licence_present,
                "continue_url": self.continue_url}


@dataclass
class Preflight:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checklist: Checklist = field(default_factory=Checklist)

    @property
    def ok(self) -> bool:
        return not self.problems

    def codes(self) -> list[str]:
        return [p.code for p in self.problems]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [p.to_json() for p in self.problems],
                "warnings": list(self.warnings), "checklist": self.checklist.to_json()}

    def error(self) -> KioskError:
        """The first problem as the error ``kiosk card`` would raise for it."""
        problems = self.codes()
        first = problems[0]
        if first.endswith("_locked"):
            return PinLockedError("a PIN needed for the linkage is locked",
                                  pin_id=first.removesuffix("_locked"), problems=problems)
        if first == "no_licence":
            return NoLicenceError("this card carries no licence data", problems=problems)
        if first == "not_my_number_card":
            return UnsupportedCardError("the linkage needs a My Number Card", problems=problems)
        if first == "gateway_unreachable":
            return GatewayUnreachableError("the gateway cannot be reached", problems=problems)
        return ForbiddenOperation("the card cannot do the linkage", problems=problems)


class Gateway(Protocol):
    """The integration point (docs/linkage.md): what the engine needs from a
    linkage gateway.  GatewayClient implements it over docs/linkage-protocol.md;
    no public operator offers such a gateway today."""

    def health(self, timeout: float | None = None, retries: int | None = None) -> Any: ...

    def new_challenge(self, kiosk_id: str) -> Challenge: ...

    def submit_auth(self, session: str, signature: bytes, certificate: bytes) -> tuple[str, str]: ...

    def submit_application(self, session: str, cms_der: bytes) -> str: ...


class LinkageStateError(ForbiddenOperation):
    """A call that does not fit the current step (a UI bug); nothing was sent."""


class LinkageEngine:
    def __init__(self, card: CardSession, status: CardStatus, gateway: Gateway | None, kiosk_id: str,
                 clock: Callable[[], float] = time.time):
        self.card = card
        self.status = status
        self.gateway = gateway
        self.kiosk_id = kiosk_id
        self.clock = clock
        self.step = 1
        self.finished = False
        self.outcome: str | None = None           # complete | cancelled | card_removed | failed
        self.preflight_result: Preflight | None = None
        # True when the gateway says it is a test/demo one (the reference gateway):
        # whoever drives the engine must label the flow DEMO, never the official linkage.
        self.demo_gateway = False
        self._challenge: Challenge | None = None
        self._auth_certificate: bytes | None = None
        self._sign_certificate: bytes | None = None
        self._terms: tuple[str, str] | None = None
        self._consent_time: float | None = None
        self._reference: str | None = None

    # -- pre-flight: before step 1, spends no try ----------------------------------
    def preflight(self) -> Preflight:
        st = self.status
        pre = Preflight()
        today = dt.datetime.fromtimestamp(self.clock(), JST).date()
        problems = pre.problems
        if st.card_type not in (MYNA, MYNA_LICENCE):
            problems.append(Problem("not_my_number_card", COUNTER))
        else:
            for pin_id in ("jpki_auth", "jpki_sign"):
                c = st.pins.get(pin_id)
                if c is None:
                    continue
                pre.checklist.pins.append(c.to_json())
                if c.locked:
                    problems.append(Problem(f"{pin_id}_locked", MUNICIPALITY))
                elif c.last_try:
                    pre.warnings.append(f"{pin_id}_last_try")
            if st.sign_cert_present is False:
                problems.append(Problem("no_sign_cert", MUNICIPALITY))
            if st.auth_cert_expired(today):
                problems.append(Problem("cert_expired", MUNICIPALITY))
            if not st.licence_present:
                problems.append(Problem("no_licence", POLICE))
        pre.checklist.cert_valid_until = st.auth_cert_not_after
        pre.checklist.sign_cert_present = st.sign_cert_present
        pre.checklist.licence_present = st.licence_present
        if self.gateway is not None:
            try:
                health = self.gateway.health(timeout=PREFLIGHT_TIMEOUT, retries=1)
            except LinkageGatewayError:
                problems.append(Problem("gateway_unreachable", COUNTER))
            else:
                self.demo_gateway = isinstance(health, dict) and health.get("test_only") is True
        log_event("linkage_step", "linkage pre-flight", STEP=0, STEP_NAME="preflight",
                  RESULT="ok" if pre.ok else "refused", PROBLEMS=",".join(pre.codes()) or None,
                  WARNINGS=",".join(pre.warnings) or None,
                  GATEWAY=("demo" if self.demo_gateway else "operator") if self.gateway else None)
        self.preflight_result = pre
        return pre

    # -- steps 1-4 ---------------------------------------------------------------
    def advance(self) -> int:
        """1 -> 2 -> 3 -> 4.  Leaving step 3 fetches the gateway's challenge, so a
        dead gateway shows up before the resident types a PIN."""
        self._require(1, 2, 3)
        if self.step == 1:
            pre = self.preflight_result or self.preflight()
            if not pre.ok:
                raise pre.error()
        if self.step == 3:
            self._fetch_challenge()
        self.step += 1
        self._log_step()
        return self.step

    def _gateway(self) -> Gateway:
        if self.gateway is None:
            raise GatewayNotConfiguredError("no linkage gateway is configured")
        return self.gateway

    def _fetch_challenge(self) -> None:
        self._challenge = self._gateway().new_challenge(self.kiosk_id)

    # -- step 4 -> 5 -> 6 ------------------------------------------------------------
    def submit_auth_pin(self, pin: Pin) -> None:
        """Step 5 with the resident's 4-digit PIN: sign the challenge, send it."""
        self._require(4, pin=pin, pin_id="jpki_auth")
        try:
            if self._challenge is None or not self._challenge.fresh():
                self._fetch_challenge()               # network only; no PIN sent yet
            challenge = self._challenge
            if challenge is None:                     # a gateway that answered nothing usable
                raise LinkageStateError("no challenge from the gateway", step=self.step)
        except BaseException:
            pin.wipe()
            raise
        self.step = 5
        self._log_step()
        with self._card_step(back_to=4):
            try:
                # The auth certificate is public: check it before the VERIFY, so a
                # malformed one ends the flow without spending the resident's try.
                certificate = self._auth_certificate = self.card.read_auth_certificate()
                load_card_certificate(certificate, "auth")
            except BaseException:
                pin.wipe()
                raise
            with self.card.jpki_key("auth", pin) as key:
                signature = key.sign(challenge.value)
        with self._gateway_step(back_to=4):
            self._challenge = None                                # answered: never signed again
            self._terms = self._gateway().submit_auth(challenge.session, signature, certificate)
            self._session = challenge.session
            self._challenge_value = challenge.value
        self._auth_certificate = None                             # sent; not needed any more
        self.step = 6
        self._log_step()

    @property
    def terms(self) -> tuple[str, str]:
        self._require(6)
        if self._terms is None:
            raise LinkageStateError("no terms at this step", step=self.step)
        return self._terms

    def accept_terms(self) -> None:
        self._require(6)
        self._consent_time = self.clock()
        self.step = 7
        self._log_step()

    # -- step 7 -> 8 -> 9 ------------------------------------------------------------
    def submit_sign_pin(self, pin: Pin) -> None:
        """Step 8 with the signature password: one VERIFY, read the signature
        certificate, sign the application, send it."""
        self._require(7, pin=pin, pin_id="jpki_sign")
        terms, consent, session, challenge = (self._terms, self._consent_time, self._session,
                                              self._challenge_value)
        if terms is None or consent is None or session is None or challenge is None:
            pin.wipe()
            raise LinkageStateError("step 7 without terms, consent or session", step=self.step)
        self.step = 8
        self._log_step()
        content = application_content(terms[0], consent, self.kiosk_id, challenge)
        with self._card_step(back_to=7), self.card.jpki_key("sign", pin) as key:
            certificate = self._sign_certificate = key.certificate()
            tbs = SignedApplication(content, certificate,              # malformed: no signature
                                    dt.datetime.fromtimestamp(self.clock(), dt.UTC))
            cms_der = tbs.finish(key.sign(tbs.to_be_signed))
        with self._gateway_step(back_to=7):
            self._reference = self._gateway().submit_application(session, cms_der)
        self.step = 9
        self._finish("complete")
        self._log_step("complete")

    @property
    def reference(self) -> str:
        if self.outcome != "complete" or self._reference is None:
            raise LinkageStateError("no reference before step 9", step=self.step)
        return self._reference

    # -- ending ------------------------------------------------------------------
    def cancel(self) -> None:
        if not self.finished:
            self._log_step("cancelled")
            self._finish("cancelled")

    def wipe(self) -> None:
        """Drop everything about this resident: certificates, challenge, session,
        consent time, terms and the reference number.  A wiped flow is over."""
        self._drop_secrets()
        self._reference = None
        self._terms = None
        if not self.finished:
            self.finished = True
            self.outcome = "cancelled"

    def _drop_secrets(self) -> None:
        self._challenge = None
        self._auth_certificate = None
        self._sign_certificate = None
        self._session = None
        self._challenge_value = None
        self._consent_time = None

    def _finish(self, outcome: str) -> None:
        """End the flow; only a completed one keeps its reference (and terms) for step 9."""
        self.finished = True
        self.outcome = outcome
        self._drop_secrets()
        if outcome != "complete":
            self._reference = None
            self._terms = None

    # -- helpers ---------------------------------------------------------------------
    _session: str | None = None
    _challenge_value: bytes | None = None

    def _require(self, *steps: int, pin: Pin | None = None, pin_id: str | None = None) -> None:
        wrong_pin = pin is not None and getattr(pin, "pin_id", None) != pin_id
        if self.finished or self.step not in steps or wrong_pin:
            if isinstance(pin, Pin):
                pin.wipe()
            why = ("the linkage has ended" if self.finished else
                   f"step {self.step} needs a {pin_id} PIN" if wrong_pin and self.step in steps else
                   f"not possible at step {self.step}")
            raise LinkageStateError(why, step=self.step)

    def _log_step(self, result: str = "entered", priority: int = INFO) -> None:
        demo = " (DEMO gateway: not the official linkage)" if self.demo_gateway else ""
        log_event("linkage_step", f"linkage step {self.step}/{STEPS}: {result}{demo}", priority=priority,
                  STEP=self.step, STEP_NAME=STEP_NAMES[self.step], RESULT=result,
                  GATEWAY="demo" if self.demo_gateway else None)

    def _card_step(self, back_to: int) -> _Outcome:
        return _Outcome(self, back_to, card=True)

    def _gateway_step(self, back_to: int) -> _Outcome:
        return _Outcome(self, back_to, card=False)


class _Outcome:
    """Maps what went wrong in step 5 or 8 to where the flow goes next."""

    def __init__(self, engine: LinkageEngine, back_to: int, card: bool):
        self.engine, self.back_to, self.card = engine, back_to, card

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc is None:
            return False
        e = self.engine
        if self.back_to == 4:                          # whatever happened, this reading is over
            e._auth_certificate = None
        else:
            e._sign_certificate = None
        if isinstance(exc, PinWrongError):
            e.step = self.back_to                      # the resident decides; a new Pin
        elif isinstance(exc, CardRemovedError):
            e._log_step("card_removed", NOTICE)
            e._finish("card_removed")
        elif isinstance(exc, TermsChangedError):
            # Consent was for other terms: show the new ones; a new signature needs a new entry.
            e._terms = exc.terms
            e._consent_time = None
            e.step = 6
            if e._terms is None:
                e._finish("failed")
        elif isinstance(exc, LinkageGatewayError) and exc.retryable:
            e.step = self.back_to                      # the resident may try again (new PIN entry)
        else:
            log_event("linkage_error", f"linkage ended at step {e.step}", priority=WARNING, STEP=e.step,
                      STEP_NAME=STEP_NAMES[e.step], ERROR_CODE=getattr(exc, "code", "internal"),
                      REASON=getattr(exc, "reason", None), CERTIFICATE=getattr(exc, "purpose", None),
                      RESULT="failed")
            e._finish("failed")
        return False
