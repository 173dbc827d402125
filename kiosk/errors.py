"""One exception hierarchy for the whole kiosk.

Every error a resident or a technician can meet has a stable ``code`` (used in
the CLI's JSON, in journald's ERROR_CODE field and by the UI to pick a message)
and a documented exit code.  Messages never carry a PIN or personal data: they
are built from codes and counters only.
"""

from __future__ import annotations

from typing import Any

# code -> process exit code (documented in docs/cli.md; keep stable).
EXIT_CODES: dict[str, int] = {
    "no_reader": 10,
    "no_card": 11,
    "card_removed": 12,
    "unsupported_card": 13,
    "no_licence": 14,
    "pin_format": 20,
    "pin_wrong": 21,
    "pin_locked": 22,
    "card_error": 30,
    "card_not_responding": 31,
    "unpower_failed": 32,
    "config_error": 40,
    "gateway_error": 50,
    "cancelled": 60,
}


class KioskError(Exception):
    """Base of every error the kiosk raises on purpose."""

    code = "card_error"

    def __init__(self, message: str = "", **details: Any):
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.code, 1)

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class ReaderError(KioskError):
    """The reader (or pcscd, or the USB device) is not there."""

    code = "no_reader"


class UnpowerError(ReaderError):
    """The reader could not unpower the card: a verified PIN might outlive the resident."""

    code = "unpower_failed"


class NoCardError(KioskError):
    code = "no_card"


class CardRemovedError(KioskError):
    """The card left the field in the middle of an exchange.

    Any verified PIN state is gone with it; callers must restart from the
    counters and must never re-send a PIN on their own.
    """

    code = "card_removed"


class UnsupportedCardError(KioskError):
    code = "unsupported_card"


class NoLicenceError(KioskError):
    code = "no_licence"


class CardError(KioskError):
    """The card answered something we cannot use (bad SW, malformed data)."""

    code = "card_error"

    def __init__(self, message: str = "", sw: int | None = None, **details: Any):
        if sw is not None:
            details["sw"] = f"{sw:04X}"
        super().__init__(message, **details)
        self.sw = sw


class CardProtocolError(CardError):
    """Malformed or truncated response, or a card that loops on 61xx/6Cxx."""


class CardNotRespondingError(CardError):
    """The card operation passed its deadline (a slow, stuttering or hostile card).

    Nothing is retried: whatever PIN was handed in is spent or wiped, never re-sent.
    """

    code = "card_not_responding"


class SecurityStatusError(CardError):
    """6982: the file needs a VERIFY first."""


class FileNotFoundOnCard(CardError):
    """6A82: no such application or file."""


class ForbiddenOperation(CardError):
    """Our own guard refused a command (My Number EF, 照合番号A, a locked PIN).

    This is a programming error upstream; it is raised before anything is sent.
    """


class PinError(KioskError):
    """Base for PIN outcomes; carries the PIN id, never the PIN."""

    def __init__(self, message: str = "", pin_id: str | None = None, **details: Any):
        if pin_id is not None:
            details["pin_id"] = pin_id
        super().__init__(message, **details)
        self.pin_id = pin_id


class PinFormatError(PinError):
    code = "pin_format"


class PinWrongError(PinError):
    code = "pin_wrong"

    def __init__(self, message: str = "", pin_id: str | None = None, tries_left: int = 0, **details: Any):
        super().__init__(message, pin_id=pin_id, tries_left=tries_left, **details)
        self.tries_left = tries_left


class PinLockedError(PinError):
    code = "pin_locked"


class ConfigError(KioskError):
    code = "config_error"


class GatewayError(KioskError):
    code = "gateway_error"


class CancelledError(KioskError):
    code = "cancelled"
