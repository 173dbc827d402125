"""The kiosk unit's IP allow-list, computed from the config at every service start.

kiosk.service allows loopback only.  Its ``ExecStartPre=-+… netallow.py --apply``
adds, as runtime properties of the unit (``systemctl set-property --runtime``),
the addresses the config needs *now*: the linkage gateway's (resolved at
start, so a changed DNS record is followed), the network printer's
(``printer.network``), the DNS servers when either is a name, and
``linkage.allow_networks``.  Nothing is frozen at install time.  Standard
library only: it also runs with the bare system python3.

    python3 netallow.py CONFIG [RESOLV_CONF]     # prints the equivalent drop-in, or nothing
    python3 netallow.py --apply CONFIG           # sets kiosk.service's IPAddressAllow now
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import tomllib
from urllib.parse import urlsplit

HEADER = ("# What kiosk.service's ExecStartPre (netallow.py --apply) allows at each start,\n"
          "# from linkage.gateway, printer.network and linkage.allow_networks.\n")


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
    return sorted({str(info[4][0]) for info in infos})   # an IP sockaddr's host is a str


def nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    out: list[str] = []
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


def hosts(config: dict) -> list[str]:
    """The hosts kiosk.service must reach: the linkage gateway and a network printer."""
    out = []
    gateway = config.get("linkage", {}).get("gateway", "")
    if gateway:
        out.append(urlsplit(gateway).hostname or "")
    printer = config.get("printer", {})
    if printer.get("backend") == "network" and printer.get("network"):
        out.append(str(printer["network"]).rpartition(":")[0].strip("[]"))
    return [h for h in out if h]


def allow_list(config: dict, resolv_conf: str = "/etc/resolv.conf", resolver=resolve) -> list[str]:
    """Non-loopback addresses and networks to allow (empty: loopback only)."""
    linkage = config.get("linkage", {})
    names = hosts(config)
    allow: list[str] = []
    if any(not _ip(h) for h in names):
        allow += nameservers(resolv_conf)
    for host in names:
        allow += resolver(host)
    allow += [str(ipaddress.ip_network(n, strict=False)) for n in linkage.get("allow_networks", [])]
    return [a for a in dict.fromkeys(allow) if not ipaddress.ip_network(a, strict=False).is_loopback]


def dropin(config: dict, resolv_conf: str = "/etc/resolv.conf", resolver=resolve) -> str | None:
    """The drop-in text, or None when nothing but loopback is needed."""
    allow = allow_list(config, resolv_conf, resolver)
    if not allow and not hosts(config):
        return None
    lines = [HEADER, "[Service]"]
    lines += [f"IPAddressAllow={a}" for a in allow]
    return "\n".join(lines) + "\n"


def apply(config: dict, unit: str = "kiosk.service", run=subprocess.run) -> list[str]:
    """Set the unit's IPAddressAllow (runtime only) to loopback plus ``allow_list``."""
    allow = allow_list(config)
    argv = ["systemctl", "set-property", "--runtime", unit, "IPAddressAllow=", "IPAddressAllow=localhost"]
    argv += [f"IPAddressAllow={a}" for a in allow]
    run(argv, check=True, timeout=30)
    print(f"netallow: {unit} may reach localhost{''.join(' ' + a for a in allow)}")
    return allow


def main(argv: list[str]) -> int:
    if argv[:1] == ["--apply"]:
        try:
            with open(argv[1], "rb") as f:
                config = tomllib.load(f)
        except FileNotFoundError:
            config = {}
        except (OSError, IndexError, tomllib.TOMLDecodeError) as exc:
            print(f"netallow: cannot read the config: {exc}; loopback only", file=sys.stderr)
            config = {}
        try:
            apply(config)
        except (OSError, subprocess.SubprocessError, ValueError, TypeError, AttributeError) as exc:
            print(f"netallow: allow-list not applied: {exc}", file=sys.stderr)
            return 1
        return 0
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
