"""Fixtures for the card-stack tests: scripted connections and simulated cards."""

from __future__ import annotations

import pytest

from kiosk.errors import CardRemovedError
from kiosk.nfc.reader import Connection
from kiosk.nfc.sim.profile import load_profile
from kiosk.nfc.sim.reader import SimReader


class ScriptedConnection(Connection):
    """Answers a fixed script and fails the test on any unexpected command.

    In the style of nfcpy's test_clf_rcs380.py: the test lists the exact
    command bytes the kiosk must send and the card's answers.
    """

    def __init__(self, script: list[tuple[str, str]]):
        self.script = [(bytes.fromhex(c.replace(" ", "")), bytes.fromhex(r.replace(" ", "")))
                       for c, r in script]
        self.sent: list[bytes] = []
        self.closed_unpowered: bool | None = None
        self.exclusive = False

    def transmit(self, apdu: bytes) -> bytes:
        apdu = bytes(apdu)
        self.sent.append(apdu)
        index = len(self.sent) - 1
        assert index < len(self.script), f"unexpected extra command {apdu.hex(' ')}"
        expected, answer = self.script[index]
        assert apdu == expected, f"command {index}: sent {apdu.hex(' ')}, expected {expected.hex(' ')}"
        return answer

    def set_exclusive(self, exclusive: bool) -> None:
        self.exclusive = exclusive

    def close(self, unpower: bool = True) -> None:
        self.closed_unpowered = unpower

    def same_card(self) -> bool:
        return self.closed_unpowered is None

    def assert_done(self) -> None:
        assert len(self.sent) == len(self.script), \
            f"only {len(self.sent)} of {len(self.script)} scripted commands were sent"


class RandomConnection(Connection):
    """Answers each command with the next response from a list (then removal)."""

    def __init__(self, responses: list[bytes]):
        self.responses = list(responses)
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(bytes(apdu))
        if not self.responses:
            raise CardRemovedError("script exhausted")
        return self.responses.pop(0)

    def close(self, unpower: bool = True) -> None:
        self.closed = True

    def same_card(self) -> bool:
        return not getattr(self, "closed", False)


@pytest.fixture
def scripted():
    return ScriptedConnection


@pytest.fixture
def random_connection():
    return RandomConnection


class SlowConnection(Connection):
    """A simulated card whose every APDU takes ``seconds`` on a fake clock (no sleeping)."""

    def __init__(self, inner: Connection, seconds: float):
        self.inner, self.seconds, self.now, self.sent = inner, seconds, 0.0, 0

    def clock(self) -> float:
        return self.now

    def transmit(self, apdu: bytes) -> bytes:
        self.sent += 1
        self.now += self.seconds
        return self.inner.transmit(apdu)

    def close(self, unpower: bool = True) -> None:
        self.inner.close(unpower)

    def same_card(self) -> bool:
        return self.inner.same_card()


@pytest.fixture
def sim():
    """sim(profile_name, faults=None) -> (reader, card);
    sim.slow(profile, seconds_per_apdu, deadline) -> (CardSession on a fake clock, connection, card)."""
    def make(name: str, faults=None):
        reader = SimReader()
        card = reader.insert(load_profile(name), faults)
        return reader, card

    def slow(name: str, seconds: float, deadline: float | None):
        from kiosk.nfc.card import CardSession
        reader, card = make(name)
        conn = SlowConnection(reader.connect(), seconds)
        session = CardSession(conn, deadline=deadline)
        session.apdu.clock = conn.clock
        return session, conn, card
    make.slow = slow
    return make


