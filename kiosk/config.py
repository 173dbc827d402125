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
import re
import stat
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from kiosk.errors import ConfigError
from kiosk.nfc.apdu import DEFAULT_OPERATION_SECONDS

DEFAULT_PATH = Path("/etc/kiosk/kiosk.toml")
# Every language the kiosk supports (gettext/Babel locale ids, kiosk/i18n, docs/i18n.md); a city
# offers some of them, in its order, with kiosk.languages.  The default offers the first four
# (the attract screen lays out up to four in one row; docs/config.md).
LANGUAGES = ("ja", "en", "zh", "ko", "vi", "ne", "pt_BR", "fil", "ja@easy")
DEFAULT_LANGUAGES = ("ja", "en", "zh", "ko")


@dataclass
class KioskSection:
    id: str = "kiosk-01"
    name: str = "マイナンバーカード案内端末"
    place: str = ""
    languages: list[str] = field(default_factory=lambda: list(DEFAULT_LANGUAGES))
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
    high_contrast: bool = False      # black/yellow theme, a switch of its own (not tied to large text)
    sound: bool = True


@dataclass
class TimeoutsSection:
    pin_seconds: int = 30            # PIN pad untouched: digits wiped, back to the screen before
    inactivity_seconds: int = 90     # no touch, key or card answer: the "continue?" prompt
    prompt_seconds: int = 30         # the prompt's countdown before the session ends (and wipes)
    session_seconds: int = 1200      # hard cap from card insertion, above the longest active flow
    card_left_seconds: int = 10
    # One card operation (status, licence, a certificate, a signature); past it
    # the kiosk stops with card_not_responding (docs/card-stack.md).
    card_operation_seconds: float = DEFAULT_OPERATION_SECONDS


@dataclass
class OfficeText:
    """An office in one language (what a resident reads on screen and on the slip)."""
    name: str = ""
    hours: str = ""
    address: str = ""
    phone: str = ""


@dataclass
class Office:
    """An office: the Japanese text at the top level, other languages in [offices.<which>.<lang>].

    ``for_language`` gives that language's text, or None when it has no name
    configured: the guidance then shows its own generic term for the office
    in that language, followed by the Japanese name (docs/config.md).
    """
    name: str = ""
    hours: str = ""
    address: str = ""
    phone: str = ""
    en: OfficeText = field(default_factory=OfficeText)
    zh: OfficeText = field(default_factory=OfficeText)
    ko: OfficeText = field(default_factory=OfficeText)

    def for_language(self, lang: str) -> OfficeText | None:
        if lang == "ja":
            return OfficeText(self.name, self.hours, self.address, self.phone)
        text = getattr(self, lang, None)
        if not isinstance(text, OfficeText) or not text.name:
            return None
        return OfficeText(text.name, text.hours, text.address, text.phone or self.phone)


@dataclass
class OfficesSection:
    municipality: Office = field(default_factory=lambda: Office(
        "市区町村の窓口（市民課）", "平日 8:30〜17:15",
        en=OfficeText("City office, residents' section (市民課)", "weekdays 8:30–17:15"),
        zh=OfficeText("市区町村窗口（市民課）", "工作日 8:30～17:15"),
        ko=OfficeText("시구정촌 창구(市民課)", "평일 8:30~17:15")))
    police: Office = field(default_factory=lambda: Office(
        "運転免許試験場・警察署", "平日 8:30〜16:30",
        en=OfficeText("Driving licence centre or police station (運転免許試験場・警察署)", "weekdays 8:30–16:30"),
        zh=OfficeText("驾照考试场・警察署（運転免許試験場・警察署）", "工作日 8:30～16:30"),
        ko=OfficeText("운전면허 시험장·경찰서(運転免許試験場・警察署)", "평일 8:30~16:30")))


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
    # The readiness screen may offer one VERIFY of the JPKI PIN / signature password (issue #12).
    pin_check: bool = True


@dataclass
class LoggingSection:
    journal: str = "auto"            # auto | journal | stderr
    rate_limit_per_minute: int = 30
    # Journal upload to the city's log host (install.sh configures systemd-journal-upload;
    # kiosk/appliance/journalupload.py): https URL, this kiosk's client key and certificate
    # (PEM), and the CA that signed the log host.  Empty URL: no upload.
    upload_url: str = ""
    upload_key: str = ""
    upload_cert: str = ""
    upload_ca: str = ""


@dataclass
class ClockSection:
    # The city's NTP servers (names or addresses); install.sh writes them for systemd-timesyncd.
    # Empty: Debian's defaults (pool.ntp.org), which a closed network cannot reach.
    ntp_servers: list[str] = field(default_factory=list)


@dataclass
class MetricsSection:
    # Prometheus text for the node exporter's textfile collector (no personal data).
    enabled: bool = True
    directory: str = "/run/kiosk/metrics"
    interval_seconds: int = 30


@dataclass
class VoiceSection:
    # Spoken guidance (docs/voice.md); prompts are pre-rendered by `kiosk speak --build-cache`.
    enabled: bool = False
    volume: float = 0.8              # 0.0 .. 1.0, applied at playback
    rate: float = 1.0                # speaking speed, 0.5 .. 2.0 (rendered into the cache)
    cache_dir: str = "/var/cache/kiosk/voice"
    # kiosk language -> espeak-ng voice, e.g. {fil = "id"}; unset languages keep the defaults
    # of kiosk/voice/backends.py ESPEAK_VOICES.  Japanese is Open JTalk's and cannot be set here.
    espeak_voices: dict[str, str] = field(default_factory=dict)


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
    clock: ClockSection = field(default_factory=ClockSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
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
    "timeouts.inactivity_seconds": (15, 1800), "timeouts.prompt_seconds": (5, 300),
    "timeouts.card_left_seconds": (1, 600),
    "timeouts.card_operation_seconds": (2, 300),
    "printer.timeout": (0.1, 60), "printer.baudrate": (1200, 921600),
    "leds.red": (0, 27), "leds.green": (0, 27), "leds.blue": (0, 27), "leds.buzzer": (0, 27),
    "linkage.timeout": (0.5, 120), "linkage.retries": (0, 5),
    "logging.rate_limit_per_minute": (1, 10000),
    "metrics.interval_seconds": (5, 3600),
    "voice.volume": (0.0, 1.0), "voice.rate": (0.5, 2.0),
}


MAX_CONFIG_BYTES = 1 << 20          # a kiosk.toml is a few KB; refuse anything absurd unread
MAX_SHOWN = 60                      # characters of a bad value echoed in a message


def _type_name(t: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            dict: "a table"}.get(t, str(t))


def _show(value: Any) -> str:
    """A bad value for a message: total for any TOML value, and cut short.

    repr() of a huge integer raises ValueError (the 4300-digit limit) and a
    10 MB string must not be echoed, so both are summarised.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, (list, dict)):
        return f"a {'list' if isinstance(value, list) else 'table'} of {len(value)} items"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__}"
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"… ({len(text)} characters)"


class _Errors:
    """Every problem found in one file, so `kiosk config check` can list them all."""

    def __init__(self) -> None:
        self.items: list[ConfigError] = []

    def add(self, message: str, key: str, **details: Any) -> None:
        self.items.append(ConfigError(message, key=key, **details))

    def raise_if_any(self, path: str | None) -> None:
        if not self.items:
            return
        first = self.items[0]
        if len(self.items) == 1:
            raise first
        lines = "\n".join(f"  {e.details['key']}: {e.message}" for e in self.items)
        raise ConfigError(f"{len(self.items)} errors in {path or 'config'}:\n{lines}",
                          **{**first.details,
                             "errors": [{"key": e.details["key"], "message": e.message} for e in self.items]})


def _build(cls: type, data: Any, prefix: str, errors: _Errors) -> Any:
    obj = cls()
    if not isinstance(data, dict):
        errors.add(f"[{prefix}] must be a table", key=prefix)
        return obj
    known = {f.name: f for f in fields(cls)}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else key
        if key not in known or key == "path":
            errors.add(f"unknown key {_show(full)}; accepted keys: "
                       f"{', '.join(k for k in known if k != 'path')}", key=full[:MAX_SHOWN])
            continue
        current = getattr(obj, key)
        if is_dataclass(current):
            setattr(obj, key, _build(type(current), value, full, errors))
            continue
        checked = _check_value(full, type(current), value, errors)
        if checked is not _BAD:
            setattr(obj, key, checked)
    return obj


_BAD = object()


def _check_value(full: str, expected: type, value: Any, errors: _Errors) -> Any:
    """The value converted to the key's type, or _BAD after recording why not."""
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:       # an integer literal above ~1e308
            errors.add(f"{full} must be a number between its limits, not {_show(value)}", key=full)
            return _BAD
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.add(f"{full} must be a list of strings", key=full)
            return _BAD
    elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        errors.add(f"{full} must be {_type_name(expected)}, not {_show(value)}", key=full)
        return _BAD
    if full in CHOICES and value not in CHOICES[full]:
        errors.add(f"{full} = {_show(value)} is not accepted; use one of: "
                   f"{', '.join(map(str, CHOICES[full]))}", key=full,
                   accepted=[str(c) for c in CHOICES[full]])
        return _BAD
    if full in RANGES and not RANGES[full][0] <= value <= RANGES[full][1]:
        lo, hi = RANGES[full]
        errors.add(f"{full} = {_show(value)} is out of range {lo}..{hi}", key=full)
        return _BAD
    return value


def _cross_checks(cfg: Config, errors: _Errors) -> None:
    bad = [lang for lang in cfg.kiosk.languages if lang not in LANGUAGES]
    if bad or not cfg.kiosk.languages:
        errors.add(f"kiosk.languages has {_show(bad) if bad else 'nothing'}; use some of: {', '.join(LANGUAGES)}",
                   key="kiosk.languages")
    elif len(set(cfg.kiosk.languages)) != len(cfg.kiosk.languages):
        twice = sorted({lang for lang in cfg.kiosk.languages if cfg.kiosk.languages.count(lang) > 1})
        errors.add(f"kiosk.languages lists {_show(twice)} more than once (the chooser would number it twice)",
                   key="kiosk.languages")
    elif cfg.kiosk.default_language not in cfg.kiosk.languages:
        errors.add("kiosk.default_language must be one of kiosk.languages", key="kiosk.default_language")
    needs = {"usb": cfg.printer.usb, "serial": cfg.printer.serial, "network": cfg.printer.network,
             "file": cfg.printer.file}
    if cfg.printer.backend in needs and not needs[cfg.printer.backend]:
        errors.add(f"printer.backend = {cfg.printer.backend!r} needs printer.{cfg.printer.backend}",
                   key=f"printer.{cfg.printer.backend}")
    elif cfg.printer.backend == "usb" and not _is_vid_pid(cfg.printer.usb):
        errors.add("printer.usb must be VID:PID in hex, e.g. 04b8:0202", key="printer.usb")
    elif cfg.printer.backend == "network" and not _is_host_port(cfg.printer.network):
        errors.add("printer.network must be host:port", key="printer.network")
    if cfg.linkage.gateway and not cfg.linkage.gateway.startswith(("https://", "http://127.", "http://localhost")):
        errors.add("linkage.gateway must be an https:// URL (http only on loopback)", key="linkage.gateway")
    _check_networks(cfg, errors)
    _check_espeak_voices(cfg, errors)
    budget = linkage_call_budget(cfg.linkage)
    if budget > MAX_CALL_SECONDS:
        errors.add(f"linkage.timeout x (linkage.retries + 1) lets one gateway call take up to "
                   f"{budget:g} s; keep it within {MAX_CALL_SECONDS:g} s (a resident is waiting, "
                   "and the watchdog counts the card worker alive only that long)",
                   key="linkage.timeout")


# The longest one blocking gateway call may take; the card worker counts as alive (watchdog)
# for exactly this budget (kiosk/appliance/health.py).
MAX_CALL_SECONDS = 300.0


def call_seconds(timeout: float, retries: int, backoff: float = 0.25) -> float:
    """Worst case of one gateway call: every attempt may use its timeout for connect and read,
    plus the client's back-off between attempts and a little slack."""
    attempts = retries + 1
    return float(attempts * 2 * timeout + backoff * attempts * (attempts - 1) / 2 + 5)


def linkage_call_budget(linkage: "LinkageSection") -> float:
    return call_seconds(linkage.timeout, linkage.retries)


def _check_networks(cfg: Config, errors: _Errors) -> None:
    for net in cfg.linkage.allow_networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            errors.add(f"linkage.allow_networks has {_show(net)}; use addresses or CIDR networks "
                       "like 10.20.0.0/16", key="linkage.allow_networks")


# An espeak-ng voice id ("id", "en-us", "es-419", "en-gb-scotland"), optionally "+variant".
_ESPEAK_VOICE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8}){0,3}(\+[a-z0-9_-]{1,16})?")


def _check_espeak_voices(cfg: Config, errors: _Errors) -> None:
    for lang, voice in cfg.voice.espeak_voices.items():
        if lang not in LANGUAGES or lang.startswith("ja"):
            errors.add(f"voice.espeak_voices has the language {_show(lang)}; use some of: "
                       f"{', '.join(x for x in LANGUAGES if not x.startswith('ja'))} "
                       "(Japanese is spoken by Open JTalk)", key="voice.espeak_voices")
        elif not isinstance(voice, str) or not _ESPEAK_VOICE.fullmatch(voice):
            errors.add(f"voice.espeak_voices.{lang} = {_show(voice)} is not an espeak-ng voice id "
                       "(like \"id\" or \"en-us\"; `espeak-ng --voices` lists them)", key="voice.espeak_voices")


def _ascii_digits(text: str) -> bool:
    """str.isdigit() also accepts '²' and other digits int() refuses."""
    return text.isascii() and text.isdigit()


def _is_vid_pid(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 2 and all(
        p.isascii() and 1 <= len(p) <= 4 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts)


def _is_host_port(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and _ascii_digits(port) and len(port) <= 5 and 0 < int(port) < 65536


def _locate(text: str) -> str:
    """The key whose value tomllib could not turn into Python (a huge integer,
    nesting deeper than the interpreter's stack), found by bisecting on lines:
    a prefix fails the same way exactly when it contains that value."""
    lines = text.splitlines(keepends=True)

    def fails(n: int) -> bool:
        try:
            tomllib.loads("".join(lines[:n]))
        except (ValueError, RecursionError, MemoryError) as exc:
            return not isinstance(exc, tomllib.TOMLDecodeError)
        return False

    lo, hi = 1, len(lines)
    while lo < hi:
        mid = (lo + hi) // 2
        if fails(mid):
            hi = mid
        else:
            lo = mid + 1
    table, key = "", "(file)"
    for line in lines[:lo]:
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            table = stripped.strip("[] \t")
            key = table or "(file)"
        elif "=" in stripped and not stripped.startswith("#"):
            name = stripped.split("=", 1)[0].strip().strip("\"'")
            if name and all(c.isalnum() or c in "_-." for c in name):
                key = f"{table}.{name}" if table else name
    return key[:MAX_SHOWN]


def parse_config(text: str, path: str | None = None) -> Config:
    """Validate ``text``; raises one ConfigError that lists every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path or 'config'} is not valid TOML: {_cut(str(exc))}", key="(file)") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        key = _locate(text)
        what = ("is nested too deeply" if isinstance(exc, RecursionError) else
                "is too large" if isinstance(exc, MemoryError) else "has an integer with too many digits")
        raise ConfigError(f"{key} {what}", key=key) from None
    errors = _Errors()
    cfg = _build(Config, data, "", errors)
    _cross_checks(cfg, errors)
    errors.raise_if_any(path)
    cfg.path = path
    assert isinstance(cfg, Config)
    return cfg


def _cut(text: str) -> str:
    return text if len(text) <= 4 * MAX_SHOWN else text[:4 * MAX_SHOWN] + "…"


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get("KIOSK_CONFIG") or DEFAULT_PATH)


def _read_regular_file(p: Path) -> str:
    """The file's text, refusing (without reading) a FIFO, a device, a directory or a huge file.

    O_NONBLOCK makes opening a FIFO return at once; fstat then tells what was opened.
    """
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise ConfigError(f"{p} is a directory, not a config file", key="(file)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.__class__.__name__}", key="(file)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "not a regular file")
            raise ConfigError(f"{p} is {kind}, not a config file", key="(file)")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p} is {st.st_size} bytes; a config file is at most {MAX_CONFIG_BYTES}",
                              key="(file)")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.__class__.__name__}", key="(file)") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p} grew past {MAX_CONFIG_BYTES} bytes while being read", key="(file)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {p}: it is not UTF-8 text", key="(file)") from None


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
    return parse_config(_read_regular_file(p), str(p))


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
