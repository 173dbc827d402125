"""One factor for every test deadline: ``KIOSK_TIME_FACTOR`` (docs/hil.md, "Timing on a slow CPU").

The suite's waits are upper bounds on events that take milliseconds on a
desktop x86 (pcscd noticing a card, a thread waking).  On a Raspberry Pi, and
far more under qemu-user emulation (``make pi-bench``), the same events take
several times longer.  Rather than a guess per test, every deadline that only
protects against a hang is multiplied by this one factor: the pytest-timeout
limits (tests/conftest.py), the bench waits (PcscBench, the reader tests'
``WAIT``).  Deadlines that are part of a protocol (nfcpy's frame waiting
time) or of what a resident sees (session timeouts) come from the card or the
configuration and are not scaled.
"""

from __future__ import annotations

import os

ENV = "KIOSK_TIME_FACTOR"


def time_factor() -> float:
    """The factor from the environment (default 1); at least 1, a number."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return 1.0
    try:
        factor = float(text)
    except ValueError:
        raise ValueError(f"{ENV} must be a number >= 1, not {text!r}") from None
    if not factor >= 1.0:                      # also refuses NaN
        raise ValueError(f"{ENV} must be a number >= 1, not {text!r}")
    return factor


def scaled(seconds: float) -> float:
    """``seconds`` times the factor: for deadlines that only guard against a hang."""
    return seconds * time_factor()
