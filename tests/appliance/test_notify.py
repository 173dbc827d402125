"""sd_notify and the health-gated watchdog against a fake NOTIFY_SOCKET."""

from __future__ import annotations

import os
import threading

import pytest

from kiosk.appliance import notify
from kiosk.appliance.health import Health


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture(params=["systemd-python", "stdlib"])
def backend(request, monkeypatch):
    if request.param == "stdlib":
        monkeypatch.setattr(notify, "_systemd_daemon", lambda: None)
    else:
        assert notify._systemd_daemon() is not None, "systemd-python must be installed (dev extra)"
    return request.param


def test_ready_and_status_reach_the_socket(notify_socket, backend):
    assert notify.notify_ready()
    assert notify_socket.wait_for(b"READY=1").split(b"\n") == [b"READY=1", b"STATUS=ready"]
    assert notify.notify_status("reader  missing\nplease wait")
    assert notify_socket.wait_for(b"STATUS=reader missing please wait")


def test_without_notify_socket_is_a_quiet_no_op(monkeypatch, backend):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.notify_ready() is False


def test_watchdog_not_started_without_watchdog_usec_or_for_another_pid(monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert notify.start_watchdog(Health()) is None
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert notify.start_watchdog(Health()) is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert notify.watchdog_interval() == 2.0


def test_watchdog_pings_only_while_ui_and_card_are_alive(notify_socket, backend, monkeypatch, records):
    monkeypatch.setenv("WATCHDOG_USEC", "100000")          # 0.1 s: one check every 0.05 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    clock = FakeClock()
    health = Health(clock=clock)
    wd = notify.start_watchdog(health, max_age=5.0)
    assert wd is not None and wd.period == pytest.approx(0.05)
    try:
        notify_socket.wait_for(b"WATCHDOG=1")

        # The card worker stalls: the UI keeps beating, the clock moves on.
        clock.advance(10)
        health.beat("ui")
        rec = records.wait_for(lambda r: r["EVENT"] == "watchdog" and r.get("STATE") == "withheld")
        assert rec["STALE"] == "card" and rec["PRIORITY"] == 4
        notify_socket.drain()
        checked = wd.checks
        assert wd.wait_checks(checked + 3, timeout=5)
        assert b"WATCHDOG=1" not in b"\n".join(notify_socket.drain())

        # Logged once per stall, not once per withheld ping.
        assert [r.get("STATE") for r in records.items if r["EVENT"] == "watchdog"] == ["withheld"]

        # The card worker is back: pings resume.
        health.beat("card")
        notify_socket.wait_for(b"WATCHDOG=1")
        records.wait_for(lambda r: r["EVENT"] == "watchdog" and r.get("STATE") == "resumed")
    finally:
        wd.stop()


def test_a_component_that_never_registered_blocks_pings():
    sent = []
    health = Health()
    health.beat("ui")
    wd = notify.Watchdog(2.0, health, components=("ui", "card"), send=sent.append)
    assert wd.not_alive() == ["card"]
    assert wd.check() is False and sent == []
    health.beat("card")
    assert wd.check() is True and sent == ["WATCHDOG=1"]


def test_default_grace_covers_a_busy_loop_but_not_a_dead_one():
    clock = FakeClock()
    health = Health(clock=clock)
    sent = []
    wd = notify.Watchdog(60.0, health, send=sent.append)
    assert wd.period == 30.0 and wd.max_age == 45.0
    health.beat("ui")
    health.beat("card")
    clock.advance(40)                       # e.g. the card worker waits on the linkage gateway
    health.beat("ui")
    assert wd.check() is True
    clock.advance(10)                       # 50 s without a card-worker beat: stalled
    health.beat("ui")
    assert wd.check() is False and sent == ["WATCHDOG=1"]
