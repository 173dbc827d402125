"""Configuration: /etc/kiosk/kiosk.toml, read with tomllib, validated here.

Everything has a safe default, so a kiosk with no file runs the simulated
card in a desktop window.  A bad file never crash-loops the kiosk:
``load_config_safely`` returns the defaults plus the ConfigError, and the
kiosk starts in its "service needed" state.  Validation names the bad key and
the accepted values.  The example in deploy/kiosk.toml documents every key.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from kiosk.errors import ConfigError

DEFAULT_PATH = Path("/etc/kiosk/kiosk.toml")
LANGUAGES = ("ja", "en", "zh", "ko")


@dataclass
class KioskSection:
    id: str = "kiosk-01"
    name: str = "マイナンバーカード案内端末"
    place: str = ""
    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))
    default_language: str = "ja"


@dataclass
class ReaderSection:
    # "" = the simulated card with the desktop card tray (F1-F8, F9).
    uri: str = ""


@dataclass
class DisplaySection:
    driver: str = "auto"             # auto | kmsdrm | x11 | wayland | dummy
    fullscreen: bool = False
    width: int = 800
    height: int = 480
    large_text: bool = False
    sound: bool = True


@dataclass
class TimeoutsSection:
    pin_seconds: int = 30
    session_seconds: int = 180
    card_left_seconds: int = 10


@dataclass
class Office:
    name: str = ""
    hours: str = ""


@dataclass
class OfficesSection:
    municipality: Office = field(default_factory=lambda: Office(
        "市区町村の窓口（市民課）", "平日 8:30〜17:15"))
    police: Office = field(default_factory=lambda: Office(
        "運転免許試験場・警察署", "平日 8:30〜16:30"))


@dataclass
class PrinterSection:
    backend: str = "none"            # none | dummy | usb | serial | network | file
    usb: str = ""                    # VID:PID, e.g. 04b8:0202
    serial: str = ""                 # /dev/ttyUSB0
    baudrate: int = 19200
    network: str = ""                # host:port
    file: str = ""                   # /dev/usb/lp0
    width_dots: int = 576            # 384 (58 mm) or 576 (80 mm)
    timeout: float = 5.0
    profile: str = "TM-T88V"


@dataclass
class ReceiptSection:
    include_licence_number: bool = False
    qr_mynaportal: str = "https://myna.go.jp/"
    qr_card_site: str = "https://www.kojinbango-card.go.jp/"
    qr_police: str = "https://www.npa.go.jp/policies/application/license_renewal/mynumber.html"
    hotline: str = "0120-95-0178"
    hotline_foreign: str = "0120-0178-27"


@dataclass
class LedsSection:
    enabled: bool = False
    kind: str = "rgb"                # rgb | discrete
    red: int = 17
    green: int = 27
    blue: int = 22
    active_high: bool = True
    buzzer: int = 0                  # 0 = none
    pin_factory: str = "auto"        # auto | mock | lgpio | rpigpio


@dataclass
class LinkageSection:
    gateway: str = ""                # https://… ; empty = pre-flight and slip only
    ca: str = ""                     # pinned server CA (PEM)
    client_cert: str = ""
    client_key: str = ""
    timeout: float = 10.0
    retries: int = 2
    # Extra networks kiosk.service may reach (CIDR), e.g. a gateway behind changing addresses.
    allow_networks: list[str] = field(default_factory=list)


@dataclass
class LoggingSection:
    journal: str = "auto"            # auto | journal | stderr
    rate_limit_per_minute: int = 30


@dataclass
class VoiceSection:
    # Spoken guidance (docs/voice.md); prompts are pre-rendered by `kiosk speak --build-cache`.
    enabled: bool = False
    volume: float = 0.8              # 0.0 .. 1.0, applied at playback
    rate: float = 1.0                # speaking speed, 0.5 .. 2.0 (rendered into the cache)
    cache_dir: str = "/var/cache/kiosk/voice"


@dataclass
class Config:
    kiosk: KioskSection = field(default_factory=KioskSection)
    reader: ReaderSection = field(default_factory=ReaderSection)
    display: DisplaySection = field(default_factory=DisplaySection)
    timeouts: TimeoutsSection = field(default_factory=TimeoutsSection)
    offices: OfficesSection = field(default_factory=OfficesSection)
    printer: PrinterSection = field(default_factory=PrinterSection)
    receipt: ReceiptSection = field(default_factory=ReceiptSection)
    leds: LedsSection = field(default_factory=LedsSection)
    linkage: LinkageSection = field(default_factory=LinkageSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    voice: VoiceSection = field(default_factory=VoiceSection)
    path: str | None = None


# key -> accepted values (validated after types).
CHOICES: dict[str, tuple] = {
    "kiosk.default_language": LANGUAGES,
    "display.driver": ("auto", "kmsdrm", "x11", "wayland", "dummy"),
    "printer.backend": ("none", "dummy", "usb", "serial", "network", "file"),
    "printer.width_dots": (384, 576),
    "leds.kind": ("rgb", "discrete"),
    "leds.pin_factory": ("auto", "mock", "lgpio", "rpigpio"),
    "logging.journal": ("auto", "journal", "stderr"),
}
RANGES: dict[str, tuple[float, float]] = {
    "display.width": (320, 7680), "display.height": (240, 4320),
    "timeouts.pin_seconds": (5, 600), "timeouts.session_seconds": (30, 3600),
    "timeouts.card_left_seconds": (1, 600),
    "printer.timeout": (0.1, 60), "printer.baudrate": (1200, 921600),
    "leds.red": (0, 27), "leds.green": (0, 27), "leds.blue": (0, 27), "leds.buzzer": (0, 27),
    "linkage.timeout": (0.5, 120), "linkage.retries": (0, 5),
    "logging.rate_limit_per_minute": (1, 10000),
    "voice.volume": (0.0, 1.0), "voice.rate": (0.5, 2.0),
}


def _type_name(t) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(t, str(t))


def _build(cls, data: dict, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"[{prefix}] must be a table", key=prefix)
    obj = cls()
    known = {f.name: f for f in fields(cls)}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else key
        if key not in known or key == "path":
            raise ConfigError(f"unknown key {full!r}; accepted keys: {', '.join(k for k in known if k != 'path')}",
                              key=full)
        current = getattr(obj, key)
        if is_dataclass(current):
            setattr(obj, key, _build(type(current), value, full))
            continue
        expected = type(current)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{full} must be a list of strings", key=full)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{full} must be {_type_name(expected)}, not {value!r}", key=full)
        if full in CHOICES and value not in CHOICES[full]:
            raise ConfigError(f"{full} = {value!r} is not accepted; use one of: "
                              f"{', '.join(map(str, CHOICES[full]))}", key=full,
                              accepted=[str(c) for c in CHOICES[full]])
        if full in RANGES and not RANGES[full][0] <= value <= RANGES[full][1]:
            lo, hi = RANGES[full]
            raise ConfigError(f"{full} = {value!r} is out of range {lo}..{hi}", key=full)
        setattr(obj, key, value)
    return obj


def _cross_checks(cfg: Config) -> None:
    bad = [lang for lang in cfg.kiosk.languages if lang not in LANGUAGES]
    if bad or not cfg.kiosk.languages:
        raise ConfigError(f"kiosk.languages has {bad or 'nothing'}; use some of: {', '.join(LANGUAGES)}",
                          key="kiosk.languages")
    if cfg.kiosk.default_language not in cfg.kiosk.languages:
        raise ConfigError("kiosk.default_language must be one of kiosk.languages",
                          key="kiosk.default_language")
    needs = {"usb": cfg.printer.usb, "serial": cfg.printer.serial, "network": cfg.printer.network,
             "file": cfg.printer.file}
    if cfg.printer.backend in needs and not needs[cfg.printer.backend]:
        raise ConfigError(f"printer.backend = {cfg.printer.backend!r} needs printer.{cfg.printer.backend}",
                          key=f"printer.{cfg.printer.backend}")
    if cfg.printer.backend == "usb" and not _is_vid_pid(cfg.printer.usb):
        raise ConfigError("printer.usb must be VID:PID in hex, e.g. 04b8:0202", key="printer.usb")
    if cfg.printer.backend == "network" and not _is_host_port(cfg.printer.network):
        raise ConfigError("printer.network must be host:port", key="printer.network")
    if cfg.linkage.gateway and not cfg.linkage.gateway.startswith(("https://", "http://127.", "http://localhost")):
        raise ConfigError("linkage.gateway must be an https:// URL (http only on loopback)",
                          key="linkage.gateway")
    _check_networks(cfg)


def _check_networks(cfg: Config) -> None:
    for net in cfg.linkage.allow_networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(f"linkage.allow_networks has {net!r}; use addresses or CIDR networks "
                              "like 10.20.0.0/16", key="linkage.allow_networks") from None


def _is_vid_pid(text: str) -> bool:
    parts = text.split(":")
    try:
        return len(parts) == 2 and all(0 <= int(p, 16) <= 0xFFFF for p in parts)
    except ValueError:
        return False


def _is_host_port(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def parse_config(text: str, path: str | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path or 'config'} is not valid TOML: {exc}", key="(file)") from None
    cfg = _build(Config, data, "")
    _cross_checks(cfg)
    cfg.path = path
    return cfg


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get("KIOSK_CONFIG") or DEFAULT_PATH)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """The config at ``path`` ($KIOSK_CONFIG, /etc/kiosk/kiosk.toml); defaults if absent."""
    p = config_path(path)
    try:
        exists = p.exists()
    except OSError as exc:           # e.g. /etc/kiosk not traversable: service needed, not a crash
        raise ConfigError(f"cannot read {p}: {exc.__class__.__name__}", key="(file)") from None
    if not exists:
        if path is not None:
            raise ConfigError(f"config file {p} does not exist", key="(file)")
        return Config()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {p}: {exc.__class__.__name__}", key="(file)") from None
    return parse_config(text, str(p))


def load_config_safely(path: str | os.PathLike | None = None,
                       report: bool = False) -> tuple[Config, ConfigError | None]:
    """Never raises: a bad file gives the defaults plus the error (service-needed state).

    With ``report`` the error also goes to the journal as a ``config_error``
    event (the kiosk's session logs it itself when it enters "service needed").
    """
    try:
        return load_config(path), None
    except ConfigError as exc:
        if report:
            from kiosk import journal
            journal.log_event("config_error", f"bad configuration, service needed: {exc.message}",
                              journal.ERR, CONFIG=str(config_path(path)),
                              KEY=exc.details.get("key", ""), ERROR_CODE=exc.code)
        return Config(), exc


def as_dict(obj: Any) -> Any:
    if is_dataclass(obj):
        return {f.name: as_dict(getattr(obj, f.name)) for f in fields(obj) if f.name != "path"}
    return obj
