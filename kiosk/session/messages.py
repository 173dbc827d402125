"""What the UI thread and the card worker say to each other: typed, frozen messages.

Every message carries the card's generation number, so an answer that belongs
to a card that has left can never reach the next resident.  Frozen, because a
message is handed from one thread to another and must not change on the way;
what it points to (a CardStatus) is a copy the worker no longer touches.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kiosk.nfc.model import CardStatus, LicenceData, PinCheck
from kiosk.nfc.pins import Pin


# -- worker -> UI -------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """Base of every worker -> UI message."""

    gen: int


@dataclass(frozen=True)
class ReaderMissing(Answer):
    code: str


@dataclass(frozen=True)
class ReaderOk(Answer):
    reader: str = ""


@dataclass(frozen=True)
class Inserted(Answer):
    reader: str = ""


@dataclass(frozen=True)
class Removed(Answer):
    pass


@dataclass(frozen=True)
class StatusRead(Answer):
    status: CardStatus           # a snapshot: the worker keeps its own copy


@dataclass(frozen=True)
class CardFault(Answer):
    code: str = "card_error"
    detail: str | None = None
    sw: str | None = None


@dataclass(frozen=True)
class LicenceRead(Answer):
    licence: LicenceData
    photo: Any = None            # a decoded pygame-free PIL image, or None


@dataclass(frozen=True)
class PinWrong(Answer):
    pin_id: str | None
    tries_left: int


@dataclass(frozen=True)
class PinLocked(Answer):
    pin_id: str | None


@dataclass(frozen=True)
class LinkageReady(Answer):
    preflight: Any
    step: int = 1


@dataclass(frozen=True)
class LinkageStep(Answer):
    action: str
    step: int
    terms: Any = None
    reference: str | None = None


@dataclass(frozen=True)
class LinkagePinWrong(Answer):
    pin_id: str | None
    tries_left: int
    step: int


@dataclass(frozen=True)
class LinkagePinLocked(Answer):
    pin_id: str | None


@dataclass(frozen=True)
class LinkageFailed(Answer):
    code: str = "gateway_error"
    message_key: str | None = None
    reason: str | None = None
    retryable: bool = False
    step: int | None = None
    finished: bool = False
    terms: Any = None


@dataclass(frozen=True)
class PinChecked(Answer):
    """The optional PIN check's result (issue #12): one VERIFY, its outcome (a frozen PinCheck)."""

    check: PinCheck

    @property
    def pin_id(self) -> str:
        return self.check.pin_id

    @property
    def ok(self) -> bool:
        return self.check.ok

    @property
    def tries_left(self) -> int | None:
        return self.check.tries_left

    @property
    def locked(self) -> bool:
        return self.check.locked

    @property
    def signature_not_after(self) -> dt.date | None:
        return self.check.signature_not_after


@dataclass(frozen=True)
class PrintDone(Answer):
    ok: bool
    code: str | None = None


# -- UI -> worker ---------------------------------------------------------------
class LinkageAction(StrEnum):
    """The linkage engine calls the UI may ask for (an explicit table in the worker)."""

    ADVANCE = "advance"
    ACCEPT_TERMS = "accept_terms"
    SUBMIT_AUTH_PIN = "submit_auth_pin"
    SUBMIT_SIGN_PIN = "submit_sign_pin"
    CANCEL = "cancel"


@dataclass(frozen=True)
class Command:
    """Base of every UI -> worker request."""

    gen: int


@dataclass(frozen=True)
class EndSession(Command):
    pass


@dataclass(frozen=True)
class ReadLicence(Command):
    pin: Pin | None = None       # None: no PIN was ever set, the card layer sends the default


@dataclass(frozen=True)
class BeginLinkage(Command):
    pass


@dataclass(frozen=True)
class LinkageCall(Command):
    action: LinkageAction
    pin: Pin | None = None


@dataclass(frozen=True)
class CheckPin(Command):
    """Spend exactly one try of ``pin_id`` on the resident's confirmed entry (issue #12)."""

    pin_id: str
    pin: Pin


def command_pin(cmd: Command) -> Pin | None:
    """The Pin a command carries, to be wiped on every path."""
    pin = getattr(cmd, "pin", None)
    return pin if isinstance(pin, Pin) else None


def wipe_answer(msg: Answer) -> None:
    """A dropped answer may hold licence data: wipe it."""
    if isinstance(msg, LicenceRead):
        msg.licence.wipe()
        if msg.photo is not None:
            msg.photo.close()
