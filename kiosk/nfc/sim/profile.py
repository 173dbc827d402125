"""Simulated-card profiles: TOML files describing one card (see docs/sim-profiles.md)."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.errors import ConfigError
from kiosk.nfc.pins import PIN_SPECS

PROFILE_DIR = Path(__file__).parent / "profiles"
CARD_KINDS = ("myna", "ic_licence", "unknown")
LOCKED_ANSWERS = ("6984", "63C0", "6983")
# Behaviours some real cards show and the kiosk must handle (docs/sim-profiles.md):
#   verified_empty_verify_9000: an empty VERIFY on a counter already verified in
#   this power session answers 9000 (ISO 7816-4), not 63Cx.
QUIRKS = ("verified_empty_verify_9000",)


@dataclass
class SimPin:
    value: str
    tries_left: int
    max_tries: int
    locked_answer: str = "6984"     # what the card answers once exhausted


@dataclass
class Profile:
    name: str
    description: str = ""
    card: str = "myna"
    licence: bool = False
    pins: dict[str, SimPin] = field(default_factory=dict)
    auth_not_before: dt.date = dt.date(2024, 5, 10)
    auth_not_after: dt.date = dt.date(2029, 5, 2)
    sign_certificate: bool = True
    card_expiry: dt.date = dt.date(2034, 5, 2)
    licence_data: dict = field(default_factory=dict)
    person: dict = field(default_factory=dict)
    ic: dict = field(default_factory=dict)
    quirks: frozenset[str] = frozenset()
    jpki_options: dict = field(default_factory=dict)    # the raw [jpki] table (kiosk/nfc/sim/pki.py)
    path: Path | None = None

    @property
    def canaries(self) -> list[str]:
        """Values that must never appear in a log, trace, receipt or exception."""
        out = [p.value for p in self.pins.values() if p.value and p.value != "****"]
        for key in ("name", "address", "my_number"):
            if self.person.get(key):
                out.append(str(self.person[key]))
        if self.licence_data.get("number"):
            out.append(str(self.licence_data["number"]))
        if self.card == "myna":
            from kiosk.nfc.sim.pki import subject_common_names
            out += subject_common_names(self.name, self.jpki_options)     # the certificate subjects
        return out


def _date(value: object, key: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"profile key {key!r} must be a date YYYY-MM-DD", key=key) from None


def parse_profile(data: dict, name: str, path: Path | None = None) -> Profile:
    card = data.get("card", "myna")
    if card not in CARD_KINDS:
        raise ConfigError(f"profile key 'card' must be one of {', '.join(CARD_KINDS)}", key="card")
    pins = {}
    for pin_id, spec in (data.get("pins") or {}).items():
        if pin_id not in PIN_SPECS:
            raise ConfigError(f"unknown PIN id {pin_id!r} in profile", key=f"pins.{pin_id}")
        max_tries = PIN_SPECS[pin_id].max_tries
        tries = int(spec.get("tries_left", max_tries))
        if not 0 <= tries <= max_tries:
            raise ConfigError(f"pins.{pin_id}.tries_left must be 0..{max_tries}", key=f"pins.{pin_id}")
        answer = str(spec.get("locked_answer", "6984")).upper()
        if answer not in LOCKED_ANSWERS:
            raise ConfigError(f"pins.{pin_id}.locked_answer must be one of {LOCKED_ANSWERS}",
                              key=f"pins.{pin_id}.locked_answer")
        pins[pin_id] = SimPin(str(spec.get("value", "")), tries, max_tries, answer)
    quirks = data.get("quirks") or []
    if not isinstance(quirks, list) or any(q not in QUIRKS for q in quirks):
        raise ConfigError(f"profile key 'quirks' must be a list of: {', '.join(QUIRKS)}", key="quirks")
    jpki = data.get("jpki") or {}
    info = data.get("card_info") or {}
    return Profile(
        name=name, description=data.get("description", ""), card=card,
        licence=bool(data.get("licence", False)), pins=pins,
        auth_not_before=_date(jpki.get("auth_not_before", "2024-05-10"), "jpki.auth_not_before"),
        auth_not_after=_date(jpki.get("auth_not_after", "2029-05-02"), "jpki.auth_not_after"),
        sign_certificate=bool(jpki.get("sign_certificate", True)),
        card_expiry=_date(info.get("expiry", "2034-05-02"), "card_info.expiry"),
        licence_data=dict(data.get("licence_data") or {}),
        person=dict(data.get("person") or {}),
        ic=dict(data.get("ic") or {}),
        quirks=frozenset(quirks),
        jpki_options=dict(jpki),
        path=path,
    )


def shipped_profiles() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PROFILE_DIR.glob("*.toml"))}


def load_profile(ref: str | Path) -> Profile:
    """A shipped profile by name ('resident') or any TOML file by path."""
    path = Path(ref)
    if not path.suffix and str(ref) in shipped_profiles():
        path = shipped_profiles()[str(ref)]
    if not path.exists():
        raise ConfigError(f"no simulated-card profile {ref!r}; shipped: {', '.join(shipped_profiles())}",
                          key="profile")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"profile {path.name} is not valid TOML: {exc}", key="profile") from None
    return parse_profile(data, path.stem, path)
