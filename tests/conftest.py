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
# Never the host's /etc/kiosk/kiosk.toml (an installed kiosk, e.g. the pi-bench root, names a real
# reader there): a path that does not exist reads as "no config file", the defaults, as on CI.
os.environ["KIOSK_CONFIG"] = str(ROOT / ".cache" / "tests-read-no-host-config.toml")


@pytest.fixture
def journal_records():
    """Every journal record emitted during the test (rate limits reset first)."""
    from kiosk import journal
    records: list[dict] = []
    journal.reset_rate_limits()
    journal.add_sink(records.append)
    yield records
    journal.remove_sink(records.append)


def _stretch_timeouts(config, items):
    """KIOSK_TIME_FACTOR (kiosk/testing/timing.py) stretches every pytest-timeout limit."""
    from kiosk.testing.timing import time_factor
    factor = time_factor()
    if factor == 1.0:
        return
    default = float(config.getini("timeout") or 0)
    for item in items:
        mark = item.get_closest_marker("timeout")
        if mark is None:
            base = default
        else:
            base = float(mark.args[0]) if mark.args else float(mark.kwargs.get("timeout", default))
        if base > 0:
            item.add_marker(pytest.mark.timeout(base * factor), append=False)


# -- the pcsc marker: every test that starts pcscd carries it -----------------------------------
# (so `-m "not pcsc"` needs no pcscd).  Tests that use a pcscd fixture, or the
# "pcsc" parameter of a card-path fixture, are marked here; any other test that
# starts a PcscBench fails at once, telling its author to mark it.
PCSC_FIXTURES = {"pcsc_bench", "pcsc_path", "linkage_pcscd"}
PCSC_PARAMETRIZED = ("bench", "card_path")
_running = {"pcsc": False}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    _stretch_timeouts(config, items)
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if PCSC_FIXTURES & set(getattr(item, "fixturenames", ())) or \
                any(params.get(name) == "pcsc" for name in PCSC_PARAMETRIZED):
            if item.get_closest_marker("pcsc") is None:
                item.add_marker(pytest.mark.pcsc)


def pytest_runtest_setup(item):
    _running["pcsc"] = item.get_closest_marker("pcsc") is not None


def pytest_configure(config):
    from kiosk.testing import pcscd
    start = pcscd.PcscBench.start
    if getattr(start, "_needs_pcsc_marker", False):
        return

    def guarded(self, *args, **kwargs):
        if not _running["pcsc"]:
            raise AssertionError("this test starts pcscd: mark it @pytest.mark.pcsc")
        return start(self, *args, **kwargs)
    guarded._needs_pcsc_marker = True
    pcscd.PcscBench.start = guarded
