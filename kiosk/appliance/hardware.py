"""Read-only probes of the Pi's health for ``kiosk status`` and ``kiosk diag``.

Power (the Pi's under-voltage alarm in hwmon, vcgencmd's throttling bits),
temperature, storage errors and the USB devices (reader, printer).  Every
probe takes ``sysroot`` so tests can hand it a fake /sys and /proc, and
returns plain data; a missing file means "not available here", never an error.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# vcgencmd get_throttled bits (Raspberry Pi documentation).
THROTTLE_BITS = {
    0: "under-voltage now", 1: "ARM frequency capped now", 2: "throttled now",
    3: "soft temperature limit now",
    16: "under-voltage has occurred", 17: "ARM frequency capping has occurred",
    18: "throttling has occurred", 19: "soft temperature limit has occurred",
}
# Card readers we know by USB id.
KNOWN_READERS = {
    "054c:06c1": "Sony RC-S380/S (nfcpy)", "054c:06c3": "Sony RC-S380/P (nfcpy)",
    "054c:0dc8": "Sony RC-S300/S (PC/SC)", "054c:0dc9": "Sony RC-S300/P (PC/SC)",
    "054c:0e6d": "Sony RC-S660/U (PC/SC)", "072f:223b": "ACS ACR1252U (PC/SC)",
}
USB_CLASS_PRINTER = "07"
USB_CLASS_SMARTCARD = "0b"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def undervoltage(sysroot: Path = Path("/")) -> dict:
    """The Pi's under-voltage alarm (hwmon ``rpi_volt``: in0_lcrit_alarm)."""
    for hw in sorted((sysroot / "sys/class/hwmon").glob("hwmon*")):
        if _read(hw / "name") == "rpi_volt":
            alarm = _read(hw / "in0_lcrit_alarm")
            return {"available": alarm is not None, "now": alarm == "1", "source": f"{hw.name}/in0_lcrit_alarm"}
    return {"available": False, "now": None, "source": None}


def decode_throttled(value: int) -> list[str]:
    return [text for bit, text in THROTTLE_BITS.items() if value & (1 << bit)]


def throttled(run=subprocess.run) -> dict:
    """``vcgencmd get_throttled`` decoded (only on a Pi)."""
    exe = shutil.which("vcgencmd")
    if not exe:
        return {"available": False}
    try:
        out = run([exe, "get_throttled"], capture_output=True, text=True, timeout=5).stdout.strip()
        value = int(out.split("=", 1)[1], 16)
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return {"available": False}
    return {"available": True, "raw": f"0x{value:x}", "flags": decode_throttled(value)}


def temperature(sysroot: Path = Path("/")) -> float | None:
    raw = _read(sysroot / "sys/class/thermal/thermal_zone0/temp")
    try:
        return int(raw) / 1000 if raw else None
    except ValueError:
        return None


def storage(sysroot: Path = Path("/")) -> dict:
    """ext4 error counters, whether / is read-only (overlayroot), free space."""
    errors = {}
    for dev in sorted((sysroot / "sys/fs/ext4").glob("*")):
        count = _read(dev / "errors_count")
        if count and count.isdigit():
            errors[dev.name] = int(count)
    root_options, overlay = None, False
    for line in (_read(sysroot / "proc/mounts") or "").splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "/":
            root_options = parts[3]
            overlay = overlay or parts[2] == "overlay"
    out: dict[str, object] = {"ext4_errors": errors, "root_read_only": None, "overlayroot": overlay}
    if root_options is not None:
        out["root_read_only"] = "ro" in root_options.split(",")
    try:
        usage = shutil.disk_usage(sysroot)
        out["free_mb"] = usage.free // (1024 * 1024)
        out["used_percent"] = round(100 * usage.used / usage.total, 1) if usage.total else None
    except OSError:
        pass
    return out


def usb_devices(sysroot: Path = Path("/")) -> list[dict]:
    """USB devices with ids, product name and role (reader / printer); no serials."""
    devices = []
    base = sysroot / "sys/bus/usb/devices"
    for dev in sorted(base.glob("*")):
        vid, pid = _read(dev / "idVendor"), _read(dev / "idProduct")
        if not vid or not pid:
            continue
        usb_id = f"{vid}:{pid}".lower()
        classes = {(_read(i / "bInterfaceClass") or "").lower() for i in base.glob(f"{dev.name}:*")}
        role = ("reader" if usb_id in KNOWN_READERS or USB_CLASS_SMARTCARD in classes
                else "printer" if USB_CLASS_PRINTER in classes else "other")
        devices.append({"id": usb_id, "role": role,
                        "product": KNOWN_READERS.get(usb_id) or _read(dev / "product") or "",
                        "manufacturer": _read(dev / "manufacturer") or ""})
    return devices


def power(sysroot: Path = Path("/")) -> dict:
    return {"undervoltage": undervoltage(sysroot), "throttled": throttled(),
            "temperature_c": temperature(sysroot)}
