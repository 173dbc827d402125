"""Run a technician's command inside kiosk.service's own sandbox.

``kiosk print-test`` run by root over SSH would reach any address and any
device, so it would pass while the service itself is blocked (IPAddressDeny,
DevicePolicy, User=kiosk).  When systemd runs and kiosk.service is loaded, the
command re-runs itself through ``systemd-run`` with the unit's user, groups,
device and IP allow-lists and file-system protection *as loaded now*
(including the runtime allow-list that ExecStartPre computed), so it tests
what the service can reach.

    if sandbox.should_wrap():
        return sandbox.rerun(["print-test", "--json"])
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

UNIT = "kiosk.service"
MARK = "KIOSK_IN_SANDBOX"
# The properties that decide what the service can reach (copied from the loaded unit).
PROPERTIES = ("User", "Group", "SupplementaryGroups", "NoNewPrivileges", "ProtectSystem", "ProtectHome",
              "PrivateTmp", "DevicePolicy", "DeviceAllow", "IPAddressDeny", "IPAddressAllow",
              "RestrictAddressFamilies", "UMask")


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)


def unit_properties(run=_run, unit: str = UNIT) -> list[str] | None:
    """``-p K=V`` values for systemd-run, or None when the unit is not loaded."""
    argv = ["systemctl", "show", unit, "-p", "LoadState"]
    for p in PROPERTIES:
        argv += ["-p", p]
    result = run(argv)
    if result.returncode != 0:
        return None
    lines = [line for line in result.stdout.splitlines() if "=" in line]
    if "LoadState=loaded" not in lines:
        return None
    out = []
    for line in lines:
        key, value = line.split("=", 1)
        if key != "LoadState" and value:
            out.append(f"{key}={value}")
    return out


def should_wrap() -> bool:
    """True when this process should hand over to the sandbox (systemd runs, not already inside)."""
    return (os.environ.get(MARK) != "1" and Path("/run/systemd/system").is_dir()
            and shutil.which("systemd-run") is not None and os.geteuid() == 0)


def command(args: list[str], properties: list[str]) -> list[str]:
    argv = ["systemd-run", "--wait", "--pipe", "--collect", "--quiet", "--service-type=exec",
            f"--setenv={MARK}=1", "--setenv=PYTHONDONTWRITEBYTECODE=1"]
    if os.environ.get("KIOSK_CONFIG"):
        argv.append(f"--setenv=KIOSK_CONFIG={os.environ['KIOSK_CONFIG']}")
    for prop in properties:
        argv += ["-p", prop]
    return argv + [sys.executable, "-m", "kiosk", *args]


def rerun(args: list[str], run=subprocess.run) -> int:
    """Run ``kiosk ARGS`` in the unit's sandbox; its exit code.  Falls back to here if unloaded."""
    props = unit_properties()
    if props is None:
        return -1
    user = dict(p.split("=", 1) for p in props).get("User", "?")
    print(f"kiosk: running in {UNIT}'s sandbox (systemd-run as {user})", file=sys.stderr)
    return run(command(args, props)).returncode
