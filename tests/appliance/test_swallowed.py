"""Faults the appliance survives are journaled (error_swallowed), never silent (issue 13)."""

from __future__ import annotations

from kiosk import journal
from kiosk.appliance.health import Health
from kiosk.appliance.notify import Watchdog
from kiosk.appliance.timesync import ClockState, ClockWatch
from kiosk.signals import Bus, KioskState


def _swallowed(records, where):
    return [r for r in records if r["EVENT"] == "error_swallowed" and r["WHERE"] == where]


def test_a_broken_bus_listener_is_journaled_and_the_others_still_hear(journal_records):
    bus = Bus()
    heard = []

    def broken(topic, payload):
        raise KeyError("listener bug")
    bus.subscribe("state", broken)
    bus.subscribe("state", lambda topic, payload: heard.append(payload["state"]))
    bus.state(KioskState.READY)
    assert heard == [KioskState.READY]
    [record] = _swallowed(journal_records, "bus.state")
    assert record["EXCEPTION"] == "KeyError" and "listener bug" not in str(record)


def test_a_journal_sink_that_publishes_to_a_broken_listener_cannot_recurse(journal_records):
    bus = Bus()

    def broken(topic, payload):
        raise ValueError("again")
    bus.subscribe("service", broken)
    sink_calls = []

    def sink(record):
        sink_calls.append(record["EVENT"])
        bus.publish("service", condition="x", active=True)     # a sink that feeds the bus
    journal.add_sink(sink)
    try:
        bus.publish("service", condition="x", active=True)
    finally:
        journal.remove_sink(sink)
    assert sink_calls == ["error_swallowed"]
    assert len(_swallowed(journal_records, "bus.service")) == 1


def test_the_watchdog_thread_survives_a_failing_check_and_says_so(journal_records):
    sent = []

    class BrokenHealth(Health):
        def components(self):
            dog._stop.set()         # one pass of the loop, on this thread
            raise RuntimeError("health store broken")
    dog = Watchdog(0.2, health=BrokenHealth(), components=(), send=lambda *a, **k: sent.append(a))
    dog._run()
    assert _swallowed(journal_records, "watchdog.check")[0]["EXCEPTION"] == "RuntimeError"
    assert sent == []               # no ping for a check that did not run


def test_a_failing_clock_listener_is_journaled(journal_records):
    def on_change(ok):
        raise OSError("led gone")
    watch = ClockWatch(state=lambda: ClockState(False, "none"), on_change=on_change)
    assert watch.check() is False
    assert _swallowed(journal_records, "clock.on_change")[0]["EXCEPTION"] == "OSError"
