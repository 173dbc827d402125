"""Printing a slip without holding up the screen, and without a resident's data outliving them.

The slip is built on a thread of its own from a frozen copy taken on the UI
thread (``SlipRequest``): Back or card removal may wipe the live licence while
the slip is still being built.  Every wipe starts a new tag; a slip of an
earlier tag that has not started printing is cancelled and never prints.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any, Callable

from kiosk import journal
from kiosk.nfc.model import CardStatus, LicenceData
from kiosk.session.messages import Answer, PrintDone


@dataclass(frozen=True)
class SlipRequest:
    """What one slip is built from: copies, owned by the receipt thread."""

    kind: str
    lang: str
    gen: int
    status: CardStatus | None
    licence: LicenceData | None
    linkage: dict[str, Any] | None
    now: dt.datetime | None          # only from a trusted clock

    @classmethod
    def take(cls, kind: str, lang: str, gen: int, status: CardStatus | None, licence: LicenceData | None,
             linkage: dict[str, Any] | None, now: dt.datetime | None) -> "SlipRequest":
        """Deep copies of the live objects, taken now (on the UI thread)."""
        return cls(kind, lang, gen, copy.deepcopy(status),
                   copy.deepcopy(licence) if kind == "licence" and licence is not None else None,
                   dict(linkage) if linkage is not None else None, now)


class ReceiptDesk:
    """Hands slips to the printer service, tagged with the resident they belong to."""

    def __init__(self, printer: Any, builder: Callable[..., Any] | None, post: Callable[[Answer], None]):
        self.printer = printer
        self.builder = builder
        self._post = post
        self._tag = 0                    # whose slips: a new tag after every wipe
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return (self.printer is not None and self.builder is not None
                and bool(getattr(self.printer, "available", False)))

    def cancel_pending(self) -> None:
        """The forgotten resident's slips that have not started printing never will."""
        with self._lock:
            tag, self._tag = self._tag, self._tag + 1
        cancel = getattr(self.printer, "cancel", None)
        if cancel is not None:
            try:
                cancel(tag)
            except Exception as exc:  # noqa: BLE001 - the printer service's fault: the slip may still print, say so
                journal.log_swallowed("printing.cancel", exc, journal.ERR)

    def print(self, cfg: Any, request: SlipRequest) -> None:
        """Build and print ``request`` on the receipt thread; a PrintDone answer comes back."""
        builder, printer, tag = self.builder, self.printer, self._tag
        assert builder is not None and printer is not None, "print() only when available"

        def done(result: Any) -> None:
            self._post(PrintDone(request.gen, bool(getattr(result, "ok", False)), getattr(result, "code", None)))

        def job() -> None:
            try:
                receipt = builder(request.kind, request.lang, cfg, status=request.status,
                                  licence=request.licence, linkage=request.linkage, now=request.now)
                with self._lock:                  # not between a wipe and its cancel
                    left = tag != self._tag       # the resident left while it was built
                    if not left:
                        printer.submit(receipt, done, tag=tag)
                if left:
                    self._post(PrintDone(request.gen, False, "cancelled"))
            except Exception as exc:  # noqa: BLE001 - a slip that cannot be built: the resident is told
                journal.log_swallowed("printing.build", exc, journal.ERR)
                self._post(PrintDone(request.gen, False, type(exc).__name__))
            finally:
                if request.licence is not None:   # the copy goes once the slip is built
                    request.licence.wipe()

        threading.Thread(target=job, name="kiosk-receipt", daemon=True).start()
