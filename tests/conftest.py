"""Suite-wide settings: no display, mock GPIO, a cached test PKI, no real journal."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
os.environ.setdefault("KIOSK_SIM_CACHE", str(ROOT / ".cache" / "sim"))
os.environ.setdefault("KIOSK_JOURNAL", "stderr")
os.environ.pop("NOTIFY_SOCKET", None)
os.environ.pop("KIOSK_CONFIG", None)


@pytest.fixture
def journal_records():
    """Every journal record emitted during the test (rate limits reset first)."""
    from kiosk import journal
    records: list[dict] = []
    journal.reset_rate_limits()
    journal.add_sink(records.append)
    yield records
    journal.remove_sink(records.append)


def pytest_collection_modifyitems(config, items):
    """KIOSK_TIME_FACTOR (kiosk/testing/timing.py) stretches every pytest-timeout limit."""
    from kiosk.testing.timing import time_factor
    factor = time_factor()
    if factor == 1.0:
        return
    default = float(config.getini("timeout") or 0)
    for item in items:
        mark = item.get_closest_marker("timeout")
        base = float(mark.args[0]) if mark and mark.args else float(mark.kwargs.get("timeout", default)) if mark else default
        if base > 0:
            item.add_marker(pytest.mark.timeout(base * factor), append=False)
