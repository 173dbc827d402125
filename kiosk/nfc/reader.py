"""The one interface every card transport implements, and reader URIs.

Modelled on nfcpy's driver layer: a reader is opened from a URI and the
backend module is imported only when that URI is used, so the core installs
and runs without pyscard, nfcpy or hardware.

    sim:PROFILE            the simulated card (a shipped profile name or a .toml path)
    pcsc / pcsc:NAME       pcscd through pyscard (NAME is a substring of the reader name)
    nfcpy:usb[:VID:PID]    a Sony RC-S380 through nfcpy
    nfcpy:udp:HOST:PORT    nfcpy's udp driver (the hardware-in-the-loop bench)
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Self

from kiosk.errors import ReaderError


class Connection(ABC):
    """A powered card.  ``transmit`` takes a command APDU and returns data+SW."""

    atr: bytes = b""

    @abstractmethod
    def transmit(self, apdu: bytes | bytearray) -> bytes:
        """Raises CardRemovedError when the card left, ReaderError when the reader did."""

    @abstractmethod
    def close(self, unpower: bool = True) -> None:
        """Release the card; unpower it so a verified PIN cannot outlive the resident."""

    def set_exclusive(self, exclusive: bool) -> None:  # noqa: B027 - a no-op default on purpose
        """Hold the card exclusively while a PIN is verified (PC/SC); no-op elsewhere."""

    @abstractmethod
    def same_card(self) -> bool:
        """Is the card this connection powered still there, never removed since?

        "A card is present" is not enough after a long call (a gateway round
        trip): the resident may have swapped cards meanwhile.  Every backend
        must answer from what it can observe; there is no default that could
        say True by accident (fail closed).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement same_card()")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(unpower=True)


class Reader(ABC):
    uri: str = ""
    name: str = ""
    available: bool | None = None      # last known availability; None until first checked

    def _set_available(self, available: bool, detail: str = "") -> None:
        """Journal reader_missing / reader_recovered on transitions only."""
        if available == self.available:
            return
        from kiosk.journal import WARNING, log_event
        was, self.available = self.available, available
        if not available:
            log_event("reader_missing", "card reader not available; waiting for it", WARNING,
                      READER=self.uri, DETAIL=detail)
        elif was is False:
            log_event("reader_recovered", "card reader is back", READER=self.name or self.uri)

    @abstractmethod
    def wait_for_card(self, timeout: float | None = None) -> bool:
        """Block until a card is present (True) or the timeout passes (False)."""

    @abstractmethod
    def wait_for_removal(self, timeout: float | None = None) -> bool:
        """Block until no card is present (True) or the timeout passes (False)."""

    @abstractmethod
    def card_present(self) -> bool: ...

    @abstractmethod
    def connect(self, exclusive: bool = False) -> Connection:
        """Power the card.  Raises NoCardError, ReaderError."""

    def is_available(self) -> bool:
        """Is the reader there right now?

        The waits ride out a missing reader (they return False, or True for
        removal) instead of raising, so this is how the kiosk learns that it
        needs service and when it can serve again.  A reader that cannot go
        away (the simulated one) is always available.
        """
        return True

    def close(self) -> None:  # noqa: B027 - a no-op default on purpose
        """Release the reader itself."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ReaderInfo:
    uri: str
    name: str
    backend: str
    state: str          # "card_present" | "empty" | "unavailable"
    detail: str = ""

    def to_json(self) -> dict:
        return {"uri": self.uri, "name": self.name, "backend": self.backend,
                "state": self.state, "detail": self.detail}


# scheme -> "module:factory"; factories take the part after "scheme:".
BACKENDS: dict[str, str] = {
    "sim": "kiosk.nfc.sim.reader:open_sim_reader",
    "pcsc": "kiosk.nfc.pcsc:open_pcsc_reader",
    "nfcpy": "kiosk.nfc.nfcpy_reader:open_nfcpy_reader",
}


def open_reader(uri: str) -> Reader:
    scheme, _, rest = uri.partition(":")
    target = BACKENDS.get(scheme)
    if target is None:
        raise ReaderError(f"unknown reader URI scheme {scheme!r}; use one of {', '.join(BACKENDS)}",
                          reader=uri)
    module_name, _, factory = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ReaderError(f"reader backend {scheme!r} is not installed ({exc.name})", reader=uri) from None
    reader: Reader = getattr(module, factory)(rest)
    return reader
