"""Redaction for anything that leaves the kiosk (the diag bundle, status output).

On top of the journal's personal-data guard (PIN, My Number and licence-number
shapes) this removes network identity and secrets: IPv4/IPv6 addresses
(loopback stays, it helps diagnosis), MAC addresses, e-mail addresses, the
hostname, PEM blocks, and values of password/secret/token keys.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from kiosk.journal import redact_personal

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
    return redact_personal(text)
