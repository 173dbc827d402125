"""The kiosk unit's IP allow-list drop-in, computed from the config.

kiosk.service allows loopback only.  When ``linkage.gateway`` is set,
deploy/install.sh writes kiosk.service.d/50-linkage-gateway.conf with the
gateway's addresses, ``linkage.allow_networks`` and the DNS servers it needs to
resolve the name.  Standard library only: install.sh runs this file with the
system python3 before the kiosk's venv exists.

    python3 netallow.py /etc/kiosk/kiosk.toml [RESOLV_CONF]   # prints the drop-in, or nothing
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import tomllib
from urllib.parse import urlsplit

HEADER = ("# Written by deploy/install.sh from linkage.gateway in /etc/kiosk/kiosk.toml.\n"
          "# Re-run install.sh after changing the gateway; do not edit by hand.\n")


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def resolve(host: str) -> list[str]:
    if _ip(host):
        return [str(_ip(host))]
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({info[4][0] for info in infos})


def nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    out = []
    try:
        lines = open(resolv_conf, encoding="utf-8").read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            ip = _ip(parts[1])
            if ip and not ip.is_loopback:
                out.append(str(ip))
    return out


def dropin(config: dict, resolv_conf: str = "/etc/resolv.conf", resolver=resolve) -> str | None:
    """The drop-in text, or None when no gateway is configured (loopback only)."""
    linkage = config.get("linkage", {})
    gateway = linkage.get("gateway", "")
    if not gateway:
        return None
    host = urlsplit(gateway).hostname or ""
    allow: list[str] = []
    if not _ip(host):
        allow += nameservers(resolv_conf)
    allow += resolver(host)
    allow += [str(ipaddress.ip_network(n, strict=False)) for n in linkage.get("allow_networks", [])]
    allow = [a for a in dict.fromkeys(allow) if not ipaddress.ip_network(a, strict=False).is_loopback]
    lines = [HEADER, "[Service]"]
    lines += [f"IPAddressAllow={a}" for a in allow]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        with open(argv[0], "rb") as f:
            config = tomllib.load(f)
    except FileNotFoundError:
        return 0
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"netallow: cannot read {argv[0]}: {exc}", file=sys.stderr)
        return 1
    try:
        text = dropin(config, *(argv[1:2] or ["/etc/resolv.conf"]))
    except (ValueError, TypeError, AttributeError) as exc:
        print(f"netallow: bad linkage settings: {exc}", file=sys.stderr)
        return 1
    if text:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
