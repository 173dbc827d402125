"""The two real card paths, each against the simulated card.

* ``pcsc``:  pyscard -> a private pcscd (one per session: one per machine) -> vpcd -> VpcdCardServer
* ``nfcpy``: nfcpy's udp driver -> NfcUdpCardServer (a Type B tag)

``card_path`` is parametrized over both, so each test is written once and runs
on both.  ``insert`` returns once the reader sees the card; waits are on
reader states, never sleeps.
"""

from __future__ import annotations

import pytest

from kiosk.nfc.nfcpy_reader import NfcpyReader
from kiosk.nfc.pcsc import PcscReader
from kiosk.nfc.sim.card import Faults, SimulatedCard
from kiosk.nfc.sim.nfc_udp import NfcUdpCardServer
from kiosk.testing.pcscd import PcscBench
from kiosk.testing.timing import scaled

WAIT = scaled(10.0)          # upper bound of any wait; pcscd needs 0.3-0.5 s per event


@pytest.fixture(scope="session")
def pcsc_bench():
    bench = PcscBench().start()
    try:
        yield bench
    finally:
        bench.stop()


@pytest.fixture(scope="session")
def udp_server():
    server = NfcUdpCardServer("127.0.0.1", 0)
    try:
        yield server
    finally:
        server.close()


class PcscPath:
    """Insert/remove through the bench, the kiosk side through PcscReader."""

    name = "pcsc"

    def __init__(self, bench: PcscBench):
        self.bench = bench
        self.server = bench.server
        self.reader = PcscReader(bench.reader_name)

    def insert(self, what, faults: Faults | None = None) -> SimulatedCard:
        card = self.bench.insert(what, faults, wait=False)   # waits until an old card is seen gone
        assert self.reader.wait_for_card(WAIT), "pcscd did not see the card"
        return card

    def remove(self) -> None:
        self.bench.remove(wait=False)
        assert self.reader.wait_for_removal(WAIT), "pcscd did not see the removal"

    def settle_after_yank(self) -> None:
        """The card dropped the link: wait until pcscd saw the slot empty."""
        assert self.reader.wait_for_removal(WAIT)

    def close(self) -> None:
        if self.bench.card is not None:
            self.remove()
        self.reader.close()


class NfcpyPath:
    """Insert/remove on the udp tag, the kiosk side through NfcpyReader."""

    name = "nfcpy"

    def __init__(self, server: NfcUdpCardServer):
        self.server = server
        self.server.yank = "rfoff"
        self.reader = NfcpyReader(f"udp:127.0.0.1:{server.port}")

    def insert(self, what, faults: Faults | None = None) -> SimulatedCard:
        card = self.server.insert(what, faults)
        assert self.reader.wait_for_card(WAIT), "nfcpy did not find the card"
        return card

    def remove(self) -> None:
        # The tag goes silent at once; nothing to wait for (no daemon
        # state), and sensing an empty field costs nfcpy's 1 s udp timeout.
        self.server.remove()

    def settle_after_yank(self) -> None:
        pass

    def close(self) -> None:
        self.server.remove()
        self.reader.close()


@pytest.fixture(params=[pytest.param("pcsc", marks=pytest.mark.pcsc),
                        pytest.param("nfcpy", marks=pytest.mark.nfcpy)])
def card_path(request):
    if request.param == "pcsc":
        path = PcscPath(request.getfixturevalue("pcsc_bench"))
    else:
        path = NfcpyPath(request.getfixturevalue("udp_server"))
    try:
        yield path
    finally:
        path.close()


@pytest.fixture
def pcsc_path(pcsc_bench):
    path = PcscPath(pcsc_bench)
    try:
        yield path
    finally:
        path.close()


@pytest.fixture
def nfcpy_path(udp_server):
    path = NfcpyPath(udp_server)
    try:
        yield path
    finally:
        path.close()
