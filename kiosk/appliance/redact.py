"""Redaction for anything that leaves the kiosk (the diag bundle, status output).

Personal data is kept out by an allow-list, not by guessing from shapes:
``journal_record`` keeps only the structured fields the kiosk itself writes
(codes, counters, status words such as SW=6982, timestamps) and withholds
free text that did not come from the kiosk's own events or from systemd.
Guessing by digit shapes destroyed status words and timestamps and still let
names, addresses and dates through.

``redact`` then removes network identity and secrets from every text:
IPv4/IPv6 addresses (loopback stays, it helps diagnosis), MAC addresses,
e-mail addresses, the hostname, PEM blocks, and values of
password/secret/token keys.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from kiosk import journal

_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?:/\d{1,2})?(?![\w.])")
_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?)(?:/\d{1,3})?(?![\w:.])")
_MAC = re.compile(r"(?<![\w:-])[0-9A-Fa-f]{2}(?:([:-])[0-9A-Fa-f]{2})(?:\1[0-9A-Fa-f]{2}){4}(?![\w:-])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?(?:-----END \1-----|\Z)", re.S)
_SECRET_ASSIGN = re.compile(
    r"(?i)((?<![\w-])[\"']?[\w.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key)"
    r"[\w.-]*[\"']?\s*[:=]\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;]+)")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+@")


def _ip4(match: re.Match) -> str:
    try:
        ip = ipaddress.IPv4Address(match.group(1))
    except ValueError:
        return match.group(0)
    return match.group(0) if ip.is_loopback or ip.is_unspecified else "[ip]"


def _ip6(match: re.Match) -> str:
    text = match.group(1).split("%")[0]
    if text.count(":") < 2:
        return match.group(0)
    try:
        ip = ipaddress.IPv6Address(text)
    except ValueError:
        return match.group(0)
    return match.group(0) if ip.is_loopback or ip.is_unspecified else "[ip6]"


def redact(text: str, hostname: str | None = None) -> str:
    """``text`` safe to hand to a technician or a vendor."""
    text = _PEM.sub(lambda m: f"[{m.group(1).lower()} redacted]", text)
    text = _SECRET_ASSIGN.sub(lambda m: m.group(1) + "[redacted]", text)
    text = _URL_CREDENTIALS.sub("[credentials]@", text)
    text = _EMAIL.sub("[email]", text)
    text = _MAC.sub("[mac]", text)
    text = _IPV4.sub(_ip4, text)
    text = _IPV6_CANDIDATE.sub(_ip6, text)
    host = socket.gethostname() if hostname is None else hostname
    if host and len(host) >= 4 and host not in ("localhost", "raspberrypi"):
        text = re.sub(rf"(?<![\w-]){re.escape(host)}(?![\w-])", "[hostname]", text)
    return text


# Journal fields a bundle may carry: the journal's own metadata, then every field
# the kiosk's events use (docs/logging.md).  Anything else in a record is dropped.
META_FIELDS = ("__REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP", "_BOOT_ID", "PRIORITY", "MESSAGE_ID",
               "SYSLOG_IDENTIFIER", "_PID", "_SYSTEMD_UNIT", "UNIT", "_TRANSPORT", "EXIT_STATUS",
               "EXIT_CODE", "JOB_RESULT", "JOB_TYPE")
EVENT_FIELDS = ("EVENT", "ERROR_CODE", "SW", "PIN_ID", "PIN_IDS", "OK", "TRIES_LEFT", "MAX_TRIES", "SCREEN",
                "STATE", "STALE", "MAX_AGE_SEC", "READER", "DRIVER", "SIZE", "CARD_TYPE", "LOCKED",
                "STEP", "STEP_NAME", "RESULT", "PROBLEMS", "WARNINGS", "PRINTER", "RECEIPT", "BYTES",
                "WIDTH", "KEY", "CONFIG", "TIMEOUT", "REASON", "CONDITION", "ENDPOINT", "ATTEMPTS",
                "ATTEMPT", "HTTP_STATUS", "REFUSAL", "CLOCK_SOURCE", "WAITED_SEC", "SIGNAL", "SUPPRESSED",
                "REDACTED", "DETAIL", "COUNT", "EXCEPTION", "WHERE", "OPERATION", "DEADLINE_SEC",
                "DELAY_SEC", "HOTPLUG", "RELEASE", "RELEASE_FROM", "RELEASE_TO", "GATEWAY", "CERTIFICATE", "SINK_ERROR",
                "PROMPT", "LANG")       # voice_error: a prompt key and a language code, never a value
# Fields the kiosk logs but a bundle never carries (none today; a field named like personal
# data never gets this far: kiosk/journal.py writes it as [redacted]).
WITHHELD_FIELDS: frozenset[str] = frozenset()
ALLOWED_FIELDS = frozenset(META_FIELDS + EVENT_FIELDS)
# Free text is kept only from these writers: the kiosk's own events (fixed texts, guarded
# in kiosk/journal.py), systemd about the unit, and the kernel.
TRUSTED_IDENTIFIERS = ("systemd",)
# pcscd's text is kept only after screening: under ``pcscd --apdu`` or debug logging it
# writes whole APDUs (VERIFY data is the PIN, READ BINARY answers are licence bytes), so
# every run of hex bytes and every PIN/number shape is masked (redact_personal again).
SCREENED_IDENTIFIERS = ("pcscd",)
_HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{2}(?: [0-9A-Fa-f]{2}){2,}(?![0-9A-Fa-f])"
                      r"|(?<![0-9A-Fa-f])[0-9A-Fa-f]{8,}(?![0-9A-Fa-f])")


def screen_device_text(text: str) -> str:
    """Device-daemon text with APDU bytes and PIN/number shapes masked (status words stay)."""
    text = _HEX_RUN.sub(lambda m: f"[hex withheld: {len(m.group(0))} characters]", text)
    return journal.redact_personal(text)


def trusted_message(record: dict) -> bool:
    if record.get("EVENT") in journal.EVENTS and record.get("MESSAGE_ID") == journal.EVENTS[record["EVENT"]]:
        return True
    if record.get("_TRANSPORT") == "kernel":
        return True
    return record.get("SYSLOG_IDENTIFIER") in TRUSTED_IDENTIFIERS and record.get("_COMM") != "kiosk"


def journal_record(record: dict) -> dict:
    """The record with allowed fields only; untrusted free text withheld (its length kept)."""
    out = {k: v for k, v in record.items() if k in ALLOWED_FIELDS and isinstance(v, (str, int))}
    message = record.get("MESSAGE", "")
    if isinstance(message, list):                # journald's binary-safe form
        message = bytes(message).decode("utf-8", "replace")
    if trusted_message(record):
        out["MESSAGE"] = str(message)
    elif record.get("SYSLOG_IDENTIFIER") in SCREENED_IDENTIFIERS and record.get("_COMM") != "kiosk":
        out["MESSAGE"] = screen_device_text(str(message))
    elif message:
        out["MESSAGE"] = f"[free text withheld: {len(str(message))} characters]"
    return out
