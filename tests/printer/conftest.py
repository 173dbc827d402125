"""Fixtures for the receipt and printer tests: real card data from the simulator,
a bus recorder, a journal capture and a Dummy printer that answers DLE EOT."""

from __future__ import annotations

import threading

import pytest
from escpos.printer import Dummy

from kiosk.nfc.sim.profile import load_profile
from kiosk.printer.sample import read_sample


def read_card(profile_name: str):
    """(profile, CardStatus, LicenceData | None) read through the real card layer."""
    return (load_profile(profile_name), *read_sample(profile_name))


@pytest.fixture(scope="session")
def resident():
    return read_card("resident")


class StatusDummy(Dummy):
    """A Dummy whose ``_read`` answers DLE EOT like a printer (or not at all).

    ``answers`` maps the status command to the reply bytes; a missing entry
    means silence.  ``gate`` (an Event) holds the first status read until the
    test releases it, to show that submit() does not wait for the printer.
    """

    def __init__(self, answers: dict[bytes, bytes], gate: threading.Event | None = None):
        super().__init__()
        self.answers = dict(answers)
        self.gate = gate
        self._last = b""

    def _raw(self, msg: bytes) -> None:
        self._last = msg
        super()._raw(msg)

    def _read(self) -> bytes:
        if self.gate is not None:
            assert self.gate.wait(10), "test never released the printer"
        return self.answers.get(self._last, b"")




class BusRecorder:
    def __init__(self, bus):
        self.events: list[tuple] = []
        self.changed = threading.Condition()
        bus.subscribe("service", self._on)

    def _on(self, topic, payload):
        with self.changed:
            self.events.append((payload["condition"].value, payload["active"]))
            self.changed.notify_all()

    def wait_for(self, event: tuple, timeout: float = 10.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: event in self.events, timeout)


@pytest.fixture
def bus_recorder():
    from kiosk.signals import Bus
    bus = Bus()
    return bus, BusRecorder(bus)


@pytest.fixture
def status_printer():
    """The StatusDummy class (test modules cannot import conftest under importlib mode)."""
    return StatusDummy


@pytest.fixture(scope="session")
def card_data():
    return read_card
