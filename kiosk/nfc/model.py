"""What the card stack hands upward: plain data, JSON-ready, wipeable.

Personal data (licence number, name, address, photo) lives only in a
LicenceData and is dropped by ``wipe()``; CardStatus holds none.
"""

from __future__ import annotations

from typing import Any

import calendar
import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from kiosk.nfc.pins import PIN_SPECS

# Card types, as `kiosk card status` reports them.
MYNA_LICENCE = "myna_licence"     # My Number Card carrying licence data (マイナ免許証)
MYNA = "myna"                     # plain My Number Card
IC_LICENCE = "ic_licence"         # conventional IC driver's licence
UNSUPPORTED = "unsupported"

MAX_PHOTO_PIXELS = 1024 * 1024   # the licence photo is small; refuse anything absurd

# Order in which counters are shown and reported.
PIN_ORDER = ("licence", "jpki_auth", "jpki_sign", "kenhojo", "juki", "ic_pin1", "ic_pin2")


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


@dataclass
class PinCounter:
    id: str
    tries_left: int | None       # None: the card did not say (e.g. already verified)
    max_tries: int
    locked: bool

    @property
    def last_try(self) -> bool:
        return not self.locked and self.tries_left == 1

    def to_json(self) -> dict:
        return {"id": self.id, "tries_left": self.tries_left, "max_tries": self.max_tries,
                "locked": self.locked}


@dataclass(frozen=True)
class PinCheck:
    """The answer to the resident's optional PIN check (CardSession.check_pin).

    A wrong or locked PIN is a result, not an error.  ``signature_not_after``
    is the signature certificate's expiry, read in the verified state of a
    right signature password; None when not read, unknown or "no expiry"
    (``signature_no_expiry`` tells the last apart).
    """

    pin_id: str
    ok: bool
    tries_left: int | None
    locked: bool
    signature_not_after: dt.date | None = None
    signature_no_expiry: bool = False

    def to_json(self) -> dict:
        return {"pin_id": self.pin_id, "ok": self.ok, "tries_left": self.tries_left, "locked": self.locked,
                "signature_not_after": _iso(self.signature_not_after),
                "signature_no_expiry": self.signature_no_expiry}


@dataclass
class CardStatus:
    card_type: str
    token: str | None = None
    licence_present: bool = False
    licence_pin_set: bool | None = None
    pins: dict[str, PinCounter] = field(default_factory=dict)
    auth_cert_not_after: dt.date | None = None
    auth_cert_no_expiry: bool = False          # RFC 5280 99991231235959Z: never expires
    sign_cert_present: bool | None = None
    # The signature certificate (JPKI EF 0001) is readable only after the signature
    # password's VERIFY, so a status read never knows its expiry: None until a
    # PIN check the resident confirmed read it (CardStatus.with_pin_check).
    sign_cert_not_after: dt.date | None = None
    sign_cert_no_expiry: bool = False
    card_expiry: dt.date | None = None
    ic_issue_date: dt.date | None = None
    ic_expiry: dt.date | None = None

    def pin(self, pin_id: str) -> PinCounter | None:
        return self.pins.get(pin_id)

    @property
    def locked_pins(self) -> list[str]:
        return [p.id for p in self.pins.values() if p.locked]

    def auth_cert_expired(self, today: dt.date | None = None) -> bool | None:
        """Whether the certificate has expired by ``today`` (a trusted date); None: cannot say.

        No fallback to the system clock: an unsynchronised clock must not make
        an "expired" judgment (callers pass the session's trusted date or None).
        """
        if today is None or self.auth_cert_not_after is None:
            return None if today is None else False
        return self.auth_cert_not_after < today

    def with_pin_check(self, check: PinCheck) -> "CardStatus":
        """A copy that knows what a PIN check learned: the counter, and the signature
        certificate's expiry if the check read it (the original is left as it was)."""
        pins = dict(self.pins)
        old = pins.get(check.pin_id)
        max_tries = old.max_tries if old else PIN_SPECS[check.pin_id].max_tries
        pins[check.pin_id] = PinCounter(check.pin_id, 0 if check.locked else check.tries_left, max_tries,
                                        locked=check.locked)
        out = dataclasses.replace(self, pins=pins)
        if check.ok and check.pin_id == "jpki_sign" and (check.signature_not_after or check.signature_no_expiry):
            out = dataclasses.replace(out, sign_cert_present=True, sign_cert_not_after=check.signature_not_after,
                                      sign_cert_no_expiry=check.signature_no_expiry)
        return out

    def to_json(self) -> dict:
        out = {
            "card_type": self.card_type,
            "licence_present": self.licence_present,
            "licence_pin_set": self.licence_pin_set,
            "pins": [self.pins[k].to_json() for k in PIN_ORDER if k in self.pins],
            "auth_cert_not_after": _iso(self.auth_cert_not_after),
            "auth_cert_no_expiry": self.auth_cert_no_expiry,
            "sign_cert_present": self.sign_cert_present,
            "card_expiry": _iso(self.card_expiry),
        }
        if self.sign_cert_not_after is not None or self.sign_cert_no_expiry:   # only after a PIN check
            out["sign_cert_not_after"] = _iso(self.sign_cert_not_after)
            out["sign_cert_no_expiry"] = self.sign_cert_no_expiry
        if self.card_type == IC_LICENCE:
            out["ic_issue_date"] = _iso(self.ic_issue_date)
            out["ic_expiry"] = _iso(self.ic_expiry)
        return out


def months_before(day: dt.date, months: int) -> dt.date:
    """``months`` calendar months earlier, clamped to 0001-01-01 (total for any card date)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    if y < dt.MINYEAR:
        return dt.date.min
    return dt.date(y, m, min(day.day, calendar.monthrange(y, m)[1]))


@dataclass
class LicenceClass:
    code: str          # stable id, e.g. "futsu"
    name: str          # 普通
    held: bool
    since: dt.date | None = None

    def to_json(self) -> dict:
        return {"code": self.code, "name": self.name, "held": self.held, "since": _iso(self.since)}


@dataclass
class LicenceData:
    """Decoded licence.  Fields that failed to decode are None; the rest survive."""

    source: str                                  # MYNA_LICENCE | IC_LICENCE
    licence_number: str | None = None
    expiry: dt.date | None = None
    colour_class: str | None = None              # 優良 / 一般 / 違反 / 新規
    conditions: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    dates: dict[str, dt.date | None] = field(default_factory=dict)   # two_small_moped / other / second_class
    classes: list[LicenceClass] = field(default_factory=list)
    photo_jp2: bytes | None = None
    # The IC licence also carries these; the マイナ免許証 does not.
    name: str | None = None
    address: str | None = None
    birth_date: dt.date | None = None
    issue_date: dt.date | None = None
    unknown: dict[str, str] = field(default_factory=dict)   # tag hex -> value hex
    errors: list[str] = field(default_factory=list)         # what could not be decoded

    @property
    def renewal_window(self) -> tuple[dt.date, dt.date] | None:
        """The two months ending on the expiry date."""
        if self.expiry is None:
            return None
        return months_before(self.expiry, 2), self.expiry

    def in_renewal_window(self, today: dt.date | None = None) -> bool | None:
        """Whether ``today`` (a trusted date) is in the renewal window; None: the date is unknown."""
        if today is None:
            return None
        w = self.renewal_window
        return bool(w and w[0] <= today <= w[1])

    @property
    def online_course_eligible(self) -> bool | None:
        """オンライン更新時講習 is open to 優良 and 一般 drivers only."""
        if not self.colour_class:
            return None
        return self.colour_class.strip() in ("優良", "一般")

    @property
    def held_classes(self) -> list[LicenceClass]:
        return [c for c in self.classes if c.held]

    def photo_image(self) -> Any:
        """The photo decoded for display (a Pillow image), or None."""
        if not self.photo_jp2:
            return None
        try:
            import io

            from PIL import Image
            img = Image.open(io.BytesIO(self.photo_jp2))
            if img.width * img.height > MAX_PHOTO_PIXELS:
                return None                  # a hostile card must not exhaust memory
            img.load()
            return img.convert("L")
        except Exception as exc:   # noqa: BLE001 - Pillow raises anything on a hostile JPEG 2000: no photo, journaled
            from kiosk.journal import log_swallowed
            log_swallowed("licence.photo", exc)
            return None

    def wipe(self) -> None:
        """Drop everything: the object stays, the resident's data does not."""
        self.licence_number = self.name = self.address = self.colour_class = None
        self.birth_date = self.issue_date = self.expiry = None
        self.photo_jp2 = None
        for seq in (self.conditions, self.remarks, self.classes, self.errors):
            seq.clear()
        self.dates.clear()
        self.unknown.clear()

    def __repr__(self) -> str:
        # Never the values: a traceback, a debugger or a "%r" must not leak them.
        present = [f for f in ("licence_number", "expiry", "colour_class", "name", "address",
                               "birth_date", "photo_jp2") if getattr(self, f)]
        return f"<LicenceData {self.source} fields={','.join(present) or '-'}>"

    def to_json(self, include_photo: bool = False) -> dict:
        w = self.renewal_window
        out = {
            "source": self.source,
            "licence_number": self.licence_number,
            "expiry": _iso(self.expiry),
            "renewal_window": {"start": _iso(w[0]), "end": _iso(w[1])} if w else None,
            "colour_class": self.colour_class,
            "online_course_eligible": self.online_course_eligible,
            "conditions": list(self.conditions),
            "remarks": list(self.remarks),
            "dates": {k: _iso(v) for k, v in self.dates.items()},
            "classes": [c.to_json() for c in self.held_classes],
            "photo": bool(self.photo_jp2),
            "unknown_tags": dict(self.unknown),
            "decode_errors": list(self.errors),
        }
        if self.source == IC_LICENCE:
            out.update(name=self.name, address=self.address, birth_date=_iso(self.birth_date),
                       issue_date=_iso(self.issue_date))
        return out
