"""``kiosk diag --bundle OUT.tar.gz``: one redacted tarball for the vendor or the city's IT.

Read-only and safe on a live kiosk (after Anthias' collect_debug.sh): the
journal for the kiosk's identifiers, kiosk and pcscd service state, readers,
printer, under-voltage and throttling, storage errors, and the config file.
Every text goes through ``redact`` (no personal data, IP or MAC addresses,
hostname, e-mail or secrets), and key/certificate files are never read, only
named.  A collector that fails records its error and the rest go on.
"""

from __future__ import annotations

import io
import json
import os
import platform
import tarfile
import time
from pathlib import Path
from typing import Callable

from kiosk import __version__
from kiosk.appliance import hardware, status
from kiosk.appliance.redact import redact
from kiosk.config import config_path

JOURNAL_LINES = 5000


def _journal_text(extra: list[str], lines: int = JOURNAL_LINES) -> str:
    argv = ["journalctl", "--no-pager", "-o", "short-iso-precise", "-n", str(lines), *extra]
    result = status._run(argv, timeout=60) if status.journal_available() else None
    if result is None:
        return "no journal on this machine\n"
    return result.stdout + (f"\n[journalctl exit {result.returncode}] {result.stderr}" if result.returncode else "")


def journal_kiosk() -> str:
    return _journal_text(["-t", "kiosk", "-u", "kiosk.service", "--since", "-7d"])


def journal_kiosk_json() -> str:
    records = status.journal_json(["--since", "-7d"], JOURNAL_LINES)
    if records is None:
        return ""
    keep = ("__REALTIME_TIMESTAMP", "_BOOT_ID", "PRIORITY", "MESSAGE", "MESSAGE_ID", "EVENT")
    out = []
    for r in records:
        out.append(json.dumps({k: v for k, v in r.items() if k in keep or (k.isupper() and not k.startswith("_"))},
                              ensure_ascii=False))
    return "\n".join(out) + "\n"


def journal_pcscd() -> str:
    return _journal_text(["-u", "pcscd.service", "-u", "pcscd.socket", "--since", "-7d"], 1000)


def journal_kernel() -> str:
    """Kernel messages about power, USB, SD card and filesystems, this boot."""
    return _journal_text(["-k", "-b", "--grep",
                          "voltage|throttl|usb|mmc|EXT4-fs|I/O error|watchdog|oom|port100|drm"], 2000)


def services() -> str:
    if not status.systemd_running():
        return "systemd is not running on this machine\n"
    result = status._run(["systemctl", "status", "--no-pager", "-l", "-n", "0",
                          "kiosk.service", "pcscd.service", "pcscd.socket", "systemd-journald.service"])
    return result.stdout if result else "systemctl not available\n"


def config_file(path: str | None) -> str:
    p = config_path(path)
    try:
        return f"# {p}\n" + p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"# {p}: {exc.__class__.__name__}\n"


def versions() -> str:
    lines = [f"myna-kiosk {__version__}", f"python {platform.python_version()}",
             f"kernel {platform.release()} {platform.machine()}"]
    for path in ("/etc/os-release", "/proc/device-tree/model"):
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace").replace("\0", "")
            lines += [line for line in text.splitlines() if line.startswith(("PRETTY_NAME", "VERSION_ID"))
                      or path.endswith("model")]
        except OSError:
            pass
    return "\n".join(lines) + "\n"


def collectors(config: str | None, sysroot: Path) -> dict[str, Callable[[], str]]:
    gathered: list[dict] = []

    def report() -> dict:
        if not gathered:
            gathered.append(status.gather(config, sysroot))
        return gathered[0]

    return {
        "summary.json": lambda: json.dumps(report(), ensure_ascii=False, indent=2),
        "status.txt": lambda: status.render(report()),
        "config.toml": lambda: config_file(config),
        "journal-kiosk.txt": journal_kiosk,
        "journal-kiosk.jsonl": journal_kiosk_json,
        "journal-pcscd.txt": journal_pcscd,
        "journal-kernel.txt": journal_kernel,
        "services.txt": services,
        "usb.json": lambda: json.dumps(hardware.usb_devices(sysroot), ensure_ascii=False, indent=2),
        "power.json": lambda: json.dumps(hardware.power(sysroot), ensure_ascii=False, indent=2),
        "storage.json": lambda: json.dumps(hardware.storage(sysroot), ensure_ascii=False, indent=2),
        "versions.txt": versions,
    }


def build_bundle(out: str | os.PathLike, config: str | None = None, sysroot: Path = Path("/"),
                 sources: dict[str, Callable[[], str]] | None = None, hostname: str | None = None) -> list[str]:
    """Write the redacted tar.gz; returns the member names."""
    sources = sources if sources is not None else collectors(config, sysroot)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    prefix = f"kiosk-diag-{stamp}"
    names = []
    errors = []
    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        for name, collect in sources.items():
            try:
                text = collect()
            except Exception as exc:          # one broken probe never loses the rest
                errors.append(f"{name}: {exc.__class__.__name__}")
                continue
            data = redact(text, hostname).encode("utf-8")
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
            names.append(name)
        if errors:
            data = redact("\n".join(errors) + "\n", hostname).encode()
            info = tarfile.TarInfo(f"{prefix}/collector-errors.txt")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
            names.append("collector-errors.txt")
    os.chmod(tmp, 0o600)
    os.replace(tmp, out)
    return names
