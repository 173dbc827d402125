"""Display hotplug: the no-display wait wakes on a real kernel uevent, not on a poll.

No DRM device exists on this machine, so a real uevent of another subsystem stands
in for it: writing ``change`` to /sys/class/mem/null/uevent makes the kernel send
one on netlink, which the real libudev monitor (pyudev) receives.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kiosk.appliance.hotplug import HotplugWatch
from kiosk.display.app import DisplayProblem, DisplayResult
from kiosk.display.cli import StopRequest
from kiosk.display.wiring import wait_for_display
from kiosk.signals import Bus

UEVENT = Path("/sys/class/mem/null/uevent")
pytest.importorskip("pyudev", reason="pyudev is in the display extra (pyproject.toml)")


def _kernel_watch() -> HotplugWatch:
    return HotplugWatch("mem", source="kernel")


def _uevent() -> None:
    UEVENT.write_text("change")


@pytest.fixture
def uevents():
    try:
        _uevent()
    except OSError as exc:
        pytest.skip(f"cannot send a uevent here ({exc}); CI runs as root")
    with _kernel_watch() as watch:
        if not watch.live:
            pytest.skip(f"no netlink uevent monitor: {watch.why_not}")


class _Status:
    """StatusReporter's two calls the wait uses; the first override sends the 'plug' uevent."""

    def __init__(self, on_override=None):
        self.overrides: list[str | None] = []
        self.on_override = on_override

    def ready(self) -> None:
        pass

    def set_override(self, text: str | None) -> None:
        self.overrides.append(text)
        if text and self.on_override:
            self.on_override()


def _display_after(plugged: threading.Event):
    calls = []

    def open_once() -> DisplayResult:
        calls.append(plugged.is_set())
        if plugged.is_set():
            return DisplayResult(surface=object())     # type: ignore[arg-type]
        return DisplayResult(surface=None, problem=DisplayProblem.NO_DEVICE, detail="/dev/dri: no card*")
    return open_once, calls


def test_a_uevent_wakes_the_watch_and_unrelated_time_does_not(uevents):
    with _kernel_watch() as watch:
        assert watch.live and watch.mode == "kernel"
        assert watch.wait(0.2) is False                # nothing plugged: it times out
        _uevent()
        assert watch.wait(10) is True


@pytest.mark.timeout(30)
def test_the_display_wait_retries_on_the_uevent_not_on_a_timer(uevents, journal_records):
    plugged = threading.Event()

    def plug():
        plugged.set()
        _uevent()

    open_once, calls = _display_after(plugged)
    status = _Status(on_override=plug)
    # retry/safety_retry far beyond the test's timeout: only the uevent can end this wait.
    result = wait_for_display(open_once, Bus(), status, StopRequest(), retry=600, safety_retry=600,
                              hotplug=_kernel_watch)
    assert result is not None and result.ok
    assert calls == [False, True]
    missing = [r for r in journal_records if r["EVENT"] == "display_missing"]
    assert missing and missing[0]["HOTPLUG"] == "kernel"
    assert [r for r in journal_records if r["EVENT"] == "display_found"]
    assert status.overrides[-1] is None


@pytest.mark.timeout(30)
def test_a_stop_ends_the_hotplug_wait_at_once(uevents):
    stop = StopRequest()
    open_once, calls = _display_after(threading.Event())
    status = _Status(on_override=lambda: stop.set("TERM"))
    try:
        assert wait_for_display(open_once, Bus(), status, stop, retry=600, safety_retry=600,
                                hotplug=_kernel_watch) is None
    finally:
        stop.close()
    assert calls == [False]


def test_without_a_monitor_it_falls_back_to_polling(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_pyudev(name, *a, **kw):
        if name == "pyudev":
            raise ImportError(name)
        return real_import(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", no_pyudev)
    watch = HotplugWatch()
    assert not watch.live and watch.mode == "poll" and "pyudev" in watch.why_not
    monkeypatch.undo()
    # polling: every retry opens again (a stand-in clock counts the loop, no real waiting)
    plugged = threading.Event()
    open_once, calls = _display_after(plugged)
    stop = threading.Event()
    waits = []

    class PollingStop:
        def wait(self, timeout):
            waits.append(timeout)
            if len(waits) == 3:
                plugged.set()
            return stop.is_set()

        def is_set(self):
            return stop.is_set()

    result = wait_for_display(open_once, Bus(), _Status(), PollingStop(), retry=0.5,   # type: ignore[arg-type]
                              hotplug=lambda: watch)
    assert result is not None and result.ok
    assert waits == [0.5, 0.5, 0.5] and calls == [False, False, False, True]
