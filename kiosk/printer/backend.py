"""The one place that turns ``[printer]`` config into a python-escpos printer.

Every backend gets a finite timeout: python-escpos's ``Usb`` defaults to 0,
which libusb treats as "wait forever", so a jammed printer would hang the
worker.  Status bytes (DLE EOT) are decoded here, because python-escpos's
``paper_status()`` cannot tell "no paper" from "no answer".
"""

from __future__ import annotations

import copy
import socket
from dataclasses import dataclass

from kiosk.config import PrinterSection
from kiosk.errors import ConfigError

# DLE EOT n (real-time status).  Every answer byte has the fixed pattern 0xx1xx10.
DLE_EOT_PRINTER = b"\x10\x04\x01"
DLE_EOT_PAPER = b"\x10\x04\x04"
FIXED_MASK, FIXED_BITS = 0x93, 0x12
OFFLINE_BIT = 0x08              # DLE EOT 1, bit 3
PAPER_END_BITS = 0x60           # DLE EOT 4, bits 5-6
PAPER_NEAR_END_BITS = 0x0C      # DLE EOT 4, bits 2-3


def make_profile(name: str, width_dots: int):
    """The python-escpos capability profile with the media width we actually print."""
    from escpos.capabilities import CAPABILITIES, get_profile

    if name not in CAPABILITIES["profiles"]:
        raise ConfigError(f"printer.profile = {name!r} is not a python-escpos profile "
                          "(e.g. TM-T88V, TM-T20II, default)", key="printer.profile")
    profile = get_profile(name)
    data = copy.deepcopy(profile.profile_data)        # the class dict is shared: copy before editing
    data.setdefault("media", {}).setdefault("width", {})["pixels"] = width_dots
    profile.profile_data = data
    return profile


def _serial_class():
    from escpos.printer import Serial

    class StatusSerial(Serial):
        """Reads one status byte instead of waiting the whole timeout for 16."""

        def _read(self) -> bytes:
            return self.device.read(1)

    return StatusSerial


def open_printer(pcfg: PrinterSection):
    """A not-yet-connected python-escpos printer for ``pcfg.backend`` (it connects on first use)."""
    backend = pcfg.backend
    profile = make_profile(pcfg.profile, pcfg.width_dots)     # validates the name first
    if backend == "dummy":
        from escpos.printer import Dummy
        printer = Dummy()
    elif backend == "usb":
        from escpos.printer import Usb
        vid, pid = (int(x, 16) for x in pcfg.usb.split(":"))
        # pyusb takes milliseconds; 0 would mean "forever".
        printer = Usb(vid, pid, timeout=max(1, int(pcfg.timeout * 1000)))
    elif backend == "serial":
        printer = _serial_class()(pcfg.serial, baudrate=pcfg.baudrate, timeout=pcfg.timeout)
    elif backend == "network":
        from escpos.printer import Network
        host, _, port = pcfg.network.rpartition(":")
        printer = Network(host.strip("[]"), port=int(port), timeout=pcfg.timeout)
    elif backend == "file":
        from escpos.printer import File
        printer = File(pcfg.file)
    else:
        raise ConfigError(f"printer.backend = {backend!r} has no printer", key="printer.backend")
    printer.profile = profile
    return printer


def encode(image, profile_name: str = "default", width_dots: int | None = None) -> bytes:
    """The ESC/POS bytes for one receipt: init, ``image()`` (GS v 0 raster) and ``cut()``."""
    from escpos.printer import Dummy

    d = Dummy()
    d.profile = make_profile(profile_name, width_dots or image.width)
    d.hw("INIT")
    d.image(image, impl="bitImageRaster")
    d.cut()
    return d.output


@dataclass(frozen=True)
class PrinterStatus:
    readable: bool                   # False: the backend cannot read (file, plain dummy)
    code: str | None = None          # None = fine to print; else paper_out | offline | timeout
    near_end: bool = False


class _NotReadable(Exception):
    pass


def _status_byte(printer, command: bytes) -> int | None:
    """One valid DLE EOT answer byte, or None for no answer / an invalid byte."""
    try:
        answer = printer.query_status(command)
    except NotImplementedError:
        raise _NotReadable from None
    except (socket.timeout, TimeoutError):
        return None
    except Exception as exc:            # pyusb / pyserial time-outs and I/O errors
        if "timeout" in type(exc).__name__.lower() or "timed out" in str(exc).lower():
            return None
        raise
    if not answer:
        return None
    value = answer[-1]
    if (value & FIXED_MASK) != FIXED_BITS:
        return None
    return value


def can_read(printer) -> bool:
    """False for backends that cannot answer (File, plain Dummy): send them no queries."""
    from escpos.escpos import Escpos

    return "_read" in vars(printer) or type(printer)._read is not Escpos._read


def read_status(printer) -> PrinterStatus:
    """Ask the printer (DLE EOT 1 then 4) whether it can print now.

    No answer or a malformed one is "timeout", never "fine": python-escpos
    would report that as "no paper" or "paper adequate", depending on version.
    """
    if not can_read(printer):
        return PrinterStatus(False)
    try:
        online = _status_byte(printer, DLE_EOT_PRINTER)
        if online is None:
            return PrinterStatus(True, "timeout")
        paper = _status_byte(printer, DLE_EOT_PAPER)
    except _NotReadable:
        return PrinterStatus(False)
    if paper is not None and paper & PAPER_END_BITS == PAPER_END_BITS:
        return PrinterStatus(True, "paper_out")
    if online & OFFLINE_BIT:
        return PrinterStatus(True, "offline")
    if paper is None:
        return PrinterStatus(True, "timeout")
    return PrinterStatus(True, None, near_end=paper & PAPER_NEAR_END_BITS == PAPER_NEAR_END_BITS)
