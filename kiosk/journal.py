"""Structured events for the technician: journald with a fixed MESSAGE_ID each.

``log_event("pin_wrong", "…", PIN_ID="licence", TRIES_LEFT=2)`` goes to
journald through systemd-python when the kiosk runs under systemd, and to
stderr as one ``key=value`` line otherwise.  Each event is rate-limited so a
fault loop cannot flood the journal.

Fields carry ids, counters and codes only.  Never pass a PIN, a name, an
address, a licence number, a photo or a certificate subject: a test runs
every profile's session and fails on any canary in what was emitted.
Events are documented in docs/logging.md.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from typing import Callable

SYSLOG_IDENTIFIER = "kiosk"

# event -> MESSAGE_ID (a fixed 128-bit id; never change one once shipped).
EVENTS: dict[str, str] = {
    "kiosk_started": "6f1d2c0a8f4b4b0e9a3c1d5e7f902101",
    "card_inserted": "6f1d2c0a8f4b4b0e9a3c1d5e7f902102",
    "card_removed": "6f1d2c0a8f4b4b0e9a3c1d5e7f902103",
    "pin_status_read": "6f1d2c0a8f4b4b0e9a3c1d5e7f902104",
    "pin_wrong": "6f1d2c0a8f4b4b0e9a3c1d5e7f902105",
    "pin_locked": "6f1d2c0a8f4b4b0e9a3c1d5e7f902106",
    "licence_read": "6f1d2c0a8f4b4b0e9a3c1d5e7f902107",
    "linkage_step": "6f1d2c0a8f4b4b0e9a3c1d5e7f902108",
    "printer_error": "6f1d2c0a8f4b4b0e9a3c1d5e7f902109",
    "reader_missing": "6f1d2c0a8f4b4b0e9a3c1d5e7f90210a",
    "config_error": "6f1d2c0a8f4b4b0e9a3c1d5e7f90210b",
    "watchdog": "6f1d2c0a8f4b4b0e9a3c1d5e7f90210c",
    "card_error": "6f1d2c0a8f4b4b0e9a3c1d5e7f90210d",
    "session_timeout": "6f1d2c0a8f4b4b0e9a3c1d5e7f90210e",
    "receipt_printed": "6f1d2c0a8f4b4b0e9a3c1d5e7f90210f",
    "linkage_error": "6f1d2c0a8f4b4b0e9a3c1d5e7f902110",
    "reader_recovered": "6f1d2c0a8f4b4b0e9a3c1d5e7f902111",
    "printer_recovered": "6f1d2c0a8f4b4b0e9a3c1d5e7f902112",
    "service_needed": "6f1d2c0a8f4b4b0e9a3c1d5e7f902113",
    # linkage gateway failures, one event each (issue 7; docs/linkage.md)
    "linkage_unreachable": "6f1d2c0a8f4b4b0e9a3c1d5e7f902701",
    "linkage_slow": "6f1d2c0a8f4b4b0e9a3c1d5e7f902702",
    "linkage_server_error": "6f1d2c0a8f4b4b0e9a3c1d5e7f902703",
    "linkage_refused": "6f1d2c0a8f4b4b0e9a3c1d5e7f902704",
    "linkage_terms_changed": "6f1d2c0a8f4b4b0e9a3c1d5e7f902705",
    "linkage_protocol_error": "6f1d2c0a8f4b4b0e9a3c1d5e7f902706",
    # hardening (issue 13; docs/logging.md)
    "card_not_responding": "6f1d2c0a8f4b4b0e9a3c1d5e7f901301",
    "unpower_failed": "6f1d2c0a8f4b4b0e9a3c1d5e7f901302",
    "error_swallowed": "6f1d2c0a8f4b4b0e9a3c1d5e7f901303",
    "linkage_gateway_internal": "6f1d2c0a8f4b4b0e9a3c1d5e7f902707",   # reference gateway bug (tests/demos)
    # the appliance in a city office (issue 15; docs/operations.md)
    "display_missing": "6f1d2c0a8f4b4b0e9a3c1d5e7f901501",
    "display_found": "6f1d2c0a8f4b4b0e9a3c1d5e7f901502",
    "clock_unsynchronized": "6f1d2c0a8f4b4b0e9a3c1d5e7f901503",
    "clock_synchronized": "6f1d2c0a8f4b4b0e9a3c1d5e7f901504",
    "kiosk_stopping": "6f1d2c0a8f4b4b0e9a3c1d5e7f901505",
    "restart_backoff": "6f1d2c0a8f4b4b0e9a3c1d5e7f901506",
    # releases: switch, rollback, deferred switch (issue 14; kiosk/appliance/release.py)
    "release_switched": "6f1d2c0a8f4b4b0e9a3c1d5e7f901401",
    "release_rolled_back": "6f1d2c0a8f4b4b0e9a3c1d5e7f901402",
    "release_deferred": "6f1d2c0a8f4b4b0e9a3c1d5e7f901403",
    # spoken guidance (issue 16; docs/voice.md)
    "voice_error": "6f1d2c0a8f4b4b0e9a3c1d5e7f901601",
    # the resident's screens (issues 11 and 12; docs/ui.md)
    "staff_called": "6f1d2c0a8f4b4b0e9a3c1d5e7f901101",
    "pin_checked": "6f1d2c0a8f4b4b0e9a3c1d5e7f901201",
}

# syslog priorities
ERR, WARNING, NOTICE, INFO, DEBUG = 3, 4, 5, 6, 7

Sink = Callable[[dict], None]
_sinks: list[Sink] = []
_lock = threading.Lock()
_recent: dict[str, list[float]] = {}
_suppressed: dict[str, int] = {}
rate_limit_per_minute = 30
_mode = os.environ.get("KIOSK_JOURNAL", "auto")      # auto | journal | stderr
_clock = time.monotonic

# --- the privacy guard ---------------------------------------------------------
# A last line of defence: callers pass ids, counters and codes only, but if a
# PIN-, My-Number- or licence-number-shaped value slips into a record anyway it
# is replaced before it reaches any sink or journald, and REDACTED names the field.
REDACTED = "[redacted]"
FIXED_FIELDS = ("MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "EVENT")
# Fields that only ever hold small counters or status words (SW=6983 is fine there).
CODE_FIELDS = ("TRIES_LEFT", "MAX_TRIES", "SW", "SUPPRESSED", "EXIT_CODE", "STEP", "HTTP_STATUS",
               "ATTEMPT", "COUNT")
_CODE_VALUE = re.compile(r"[0-9A-Fa-f]{1,4}")
# Field names that can only carry personal data or secrets: their value is never logged.
_SENSITIVE_NAME = re.compile(
    r"(^|_)(PIN|PINS|PASSWORD|PASSPHRASE|SECRET|TOKEN|ADDRESS|PHOTO|SUBJECT|BIRTH|BIRTHDATE|"
    r"MYNUMBER|KANA|RESIDENT)($|_)|^(NAME|FULL_NAME|MY_NUMBER|LICEN[CS]E_NUMBER|LICEN[CS]E_NO)$")
_PERSONAL_PATTERNS = (
    # My Number (12 digits), licence number (12), card serials: 8+ digits, maybe spaced.
    re.compile(r"(?<![\w.:/-])\d(?:[ \u3000]?\d){7,}(?![\w.:/-])"),
    # A bare 4-digit number (a PIN shape); years in dates, ports and versions keep
    # their separators and are left alone.
    re.compile(r"(?<![\w.:/-])\d{4}(?![\w.:/-])"),
    # A signature-PIN shape: 6-16 upper-case letters and digits, mixing both.
    re.compile(r"(?<![\w-])(?=[A-Z0-9]*[A-Z])(?=[A-Z0-9]*\d)[A-Z0-9]{6,16}(?![\w-])"),
)


def redact_personal(text: str) -> str:
    """``text`` with PIN-, My-Number- and licence-number-shaped values replaced."""
    for pattern in _PERSONAL_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _guard(record: dict) -> dict:
    redacted = []
    for key, value in list(record.items()):
        if key in FIXED_FIELDS:
            continue
        if _SENSITIVE_NAME.search(key) and key not in ("PIN_ID", "PIN_IDS"):
            clean = REDACTED
        elif key in CODE_FIELDS:
            clean = value if _CODE_VALUE.fullmatch(value) else REDACTED
        else:
            clean = redact_personal(value)
        if clean != value:
            record[key] = clean
            redacted.append(key)
    if redacted:
        record["REDACTED"] = ",".join(redacted)
    return record


def configure(mode: str = "auto", per_minute: int = 30) -> None:
    """Set the output (auto | journal | stderr) and the per-event limit, from [logging]."""
    global _mode, rate_limit_per_minute
    _mode, rate_limit_per_minute = mode, per_minute


def add_sink(sink: Sink) -> None:
    """Also hand every record to ``sink`` (tests capture records this way)."""
    with _lock:
        _sinks.append(sink)


def remove_sink(sink: Sink) -> None:
    with _lock:
        if sink in _sinks:
            _sinks.remove(sink)


def _under_journald() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def _allowed(event: str, now: float) -> bool:
    window = _recent.setdefault(event, [])
    while window and now - window[0] > 60:
        window.pop(0)
    if len(window) >= rate_limit_per_minute:
        _suppressed[event] = _suppressed.get(event, 0) + 1
        return False
    window.append(now)
    return True


def log_event(event: str, message: str, priority: int = INFO, **fields: object) -> dict | None:
    """Emit one structured event.  Returns the record, or None when rate-limited."""
    if event not in EVENTS:
        raise ValueError(f"unknown journal event {event!r}; add it to EVENTS and docs/logging.md")
    now = _clock()
    with _lock:
        if not _allowed(event, now):
            return None
        suppressed = _suppressed.pop(event, 0)
        sinks = list(_sinks)
    record = {"MESSAGE": message, "MESSAGE_ID": EVENTS[event], "PRIORITY": priority,
              "SYSLOG_IDENTIFIER": SYSLOG_IDENTIFIER, "EVENT": event}
    for key, value in fields.items():
        if value is not None:
            record[key.upper()] = str(value)
    if suppressed:
        record["SUPPRESSED"] = str(suppressed)
    _guard(record)
    sink_errors = []
    for sink in sinks:
        try:
            sink(dict(record))
        except Exception as exc:        # noqa: BLE001 - a broken sink must not stop the record; it goes out marked
            sink_errors.append(type(exc).__name__)
    if sink_errors:
        record["SINK_ERROR"] = ",".join(sink_errors)
    _write(record)                      # once, whatever the sinks did
    return record


def log_swallowed(where: str, exc: BaseException, priority: int = WARNING) -> dict | None:
    """Journal an exception a handler chose to survive, so no failure is silent.

    Only the exception's type goes out: its text could carry card data.
    """
    return log_event("error_swallowed", f"{where}: {type(exc).__name__} ignored", priority,
                     WHERE=where, EXCEPTION=type(exc).__name__)


def _write(record: dict) -> None:
    mode = _mode
    if mode == "journal" or (mode == "auto" and _under_journald()):
        try:
            from systemd import journal  # type: ignore[attr-defined]  # systemd-python ships no stubs
            fields = {k: v for k, v in record.items() if k != "MESSAGE"}
            journal.send(record["MESSAGE"], **fields)
            return
        except (ImportError, OSError, ValueError, TypeError):
            pass                        # no systemd-python or no journald socket: stderr below
    extras = " ".join(f"{k}={v}" for k, v in record.items()
                      if k not in ("MESSAGE", "SYSLOG_IDENTIFIER", "MESSAGE_ID", "PRIORITY"))
    try:
        print(f"kiosk[{record['PRIORITY']}]: {record['MESSAGE']} {extras}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def reset_rate_limits() -> None:
    with _lock:
        _recent.clear()
        _suppressed.clear()
