"""``kiosk diag --bundle OUT.tar.gz``: one redacted tarball for the vendor or the city's IT.

Read-only and safe on a live kiosk (after Anthias' collect_debug.sh): the
journal for the kiosk's identifiers, kiosk and pcscd service state, readers,
printer, under-voltage and throttling, storage errors, and the config file.
Journal records pass an allow-list of structured fields (redact.journal_record:
status words and timestamps stay, free text that is not the kiosk's own event
text is withheld); every text then goes through ``redact`` (IP or MAC
addresses, hostname, e-mail or secrets), and key/certificate files are never
read, only named.  Also: clock and NTP state, the boot list, the previous
boot's kernel log (after a watchdog or power reboot), pygame/SDL/pcsc-lite
versions, the unit as loaded, cmdline.txt/config.txt and failed units.  A
collector that fails records its error and the rest go on.
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

from kiosk import __version__, journal
from kiosk.appliance import hardware, status
from kiosk.appliance.redact import journal_record, redact
from kiosk.config import config_path

JOURNAL_LINES = 5000


def _journal_records(extra: list[str], lines: int) -> list[dict] | None:
    if not status.journal_available():
        return None
    result = status._run(["journalctl", "--no-pager", "-o", "json", "-n", str(lines), *extra], timeout=60)
    return None if result is None else status.parse_json_lines(result.stdout)


def _journal_text(extra: list[str], lines: int = JOURNAL_LINES) -> str:
    """journalctl output rendered from allow-listed records (never raw free text)."""
    return render_records(_journal_records(extra, lines))


def render_records(records: list[dict] | None) -> str:
    if records is None:
        return "no journal on this machine\n"
    out = []
    for r in map(journal_record, records):
        try:
            stamp = int(r["__REALTIME_TIMESTAMP"])
            when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp / 1e6)) + f".{stamp % 1_000_000:06d}Z"
        except (KeyError, ValueError):
            when = "-"
        fields = " ".join(f"{k}={v}" for k, v in r.items() if k.isupper() and not k.startswith("_")
                          and k not in ("MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "UNIT"))
        out.append(f"{when} {r.get('SYSLOG_IDENTIFIER', '?')}[{r.get('_PID', '')}]: "
                   f"{r.get('MESSAGE', '')} {fields}".rstrip())
    return "\n".join(out) + "\n"


def _kiosk_records(records: list[dict] | None = None) -> list[dict] | None:
    if records is None:
        records = status.journal_json(["--since", "-7d"], JOURNAL_LINES)
    return None if records is None else [journal_record(r) for r in records]


def journal_kiosk(records: list[dict] | None = None) -> str:
    """The kiosk's journal as text, built from the allow-listed records."""
    if records is None:
        records = status.journal_json(["--since", "-7d"], JOURNAL_LINES)
    return render_records(records)


def journal_kiosk_json(records: list[dict] | None = None) -> str:
    kept = _kiosk_records(records)
    if kept is None:
        return ""
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in kept) + "\n"


def journal_pcscd() -> str:
    return _journal_text(["-u", "pcscd.service", "-u", "pcscd.socket", "--since", "-7d"], 1000)


def journal_kernel() -> str:
    """Kernel messages about power, USB, SD card and filesystems, this boot."""
    return _journal_text(["-k", "-b", "--grep",
                          "voltage|throttl|usb|mmc|EXT4-fs|I/O error|watchdog|oom|port100|drm"], 2000)


def journal_kernel_previous_boot() -> str:
    """The previous boot's kernel log: why did the Pi reboot (watchdog, power, panic)?"""
    return _journal_text(["-k", "-b", "-1"], 3000)


def boots() -> str:
    return _journal_text(["--list-boots"], 100)


def _command(argv: list[str], what: str) -> str:
    result = status._run(argv, timeout=30)
    if result is None:
        return f"{what}: not available here\n"
    return result.stdout + (f"\n[{argv[0]} exit {result.returncode}] {result.stderr}" if result.returncode else "")


def clock() -> str:
    from kiosk.appliance import timesync
    lines = [json.dumps(timesync.clock_state().to_json())]
    for path in ("/etc/systemd/timesyncd.conf.d/50-kiosk.conf",):
        try:
            lines.append(f"# {path}\n" + Path(path).read_text(encoding="utf-8"))
        except OSError:
            lines.append(f"# {path}: absent")
    if status.systemd_running():
        lines.append(_command(["timedatectl", "show"], "timedatectl"))
        lines.append(_command(["timedatectl", "show-timesync"], "timedatectl show-timesync"))
    return "\n".join(lines) + "\n"


def unit() -> str:
    """kiosk.service as systemd loaded it (drop-ins included) and its effective sandbox."""
    if not status.systemd_running():
        return "systemd is not running on this machine\n"
    return (_command(["systemctl", "cat", "kiosk.service"], "systemctl cat")
            + "\n# systemctl show kiosk.service\n" + _command(["systemctl", "show", "kiosk.service"], "systemctl show"))


def failed_units() -> str:
    if not status.systemd_running():
        return "systemd is not running on this machine\n"
    return _command(["systemctl", "list-units", "--failed", "--no-pager", "--plain"], "systemctl")


def boot_config(sysroot: Path = Path("/")) -> str:
    out = []
    for rel in ("boot/firmware/cmdline.txt", "boot/firmware/config.txt", "boot/cmdline.txt", "boot/config.txt"):
        p = sysroot / rel
        if p.is_file():
            try:
                out.append(f"# /{rel}\n" + p.read_text(encoding="utf-8", errors="replace"))
            except OSError as exc:
                out.append(f"# /{rel}: {exc.__class__.__name__}")
    return "\n".join(out) + "\n" if out else "no cmdline.txt / config.txt (not a Raspberry Pi boot partition)\n"


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
    try:
        import pygame
        lines.append(f"pygame-ce {pygame.version.ver} SDL {'.'.join(map(str, pygame.get_sdl_version()))}")
    except (ImportError, AttributeError, RuntimeError) as exc:     # not installed / pygame.error
        lines.append(f"pygame: {exc.__class__.__name__}")
    dpkg = status._run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "pcscd", "libpcsclite1",
                        "systemd", "libsdl2-2.0-0"], timeout=10)
    if dpkg is not None:
        lines += [line for line in dpkg.stdout.splitlines() if line.strip()]
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
        "journal-kernel-previous-boot.txt": journal_kernel_previous_boot,
        "boots.txt": boots,
        "clock.txt": clock,
        "unit.txt": unit,
        "failed-units.txt": failed_units,
        "boot-config.txt": lambda: boot_config(sysroot),
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
            except Exception as exc:          # noqa: BLE001 - one broken probe never loses the rest;
                errors.append(f"{name}: {exc.__class__.__name__}")     # named in the bundle and journaled
                journal.log_swallowed(f"diag.{name}", exc)
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
