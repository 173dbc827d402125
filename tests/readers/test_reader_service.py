"""A reader that is missing, unplugged or whose pcscd stops puts the real
kiosk session on "service needed" (NO_READER on the bus), and the session
returns to the attract screen by itself when the reader is back.

The real backends never raise from their waits (they ride the outage out),
so these tests drive a real Session + CardWorker over PcscReader and
NfcpyReader, never a fake that raises ReaderError.

Also here: a card the reader finds but cannot connect to (not ISO-DEP,
held by another program) gets a message on screen, not silence; and a card
swapped during a long call is told apart from the one that was connected."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from kiosk.config import Config
from kiosk.display.clock import ManualClock
from kiosk.display.session import Session
from kiosk.nfc.nfcpy_reader import NfcpyReader
from kiosk.nfc.pcsc import PcscReader
from kiosk.nfc.sim.card import SimulatedCard
from kiosk.nfc.sim.nfc_udp import NfcUdpCardServer
from kiosk.nfc.sim.profile import load_profile
from kiosk.signals import Bus, ServiceCondition
from kiosk.testing.timing import scaled

pytestmark = [pytest.mark.timeout(120)]
WAIT = scaled(20.0)
NO_READER_ON = (ServiceCondition.NO_READER, True)
NO_READER_OFF = (ServiceCondition.NO_READER, False)


class Kiosk:
    """A real Session over a real reader; waits pump the worker's answers."""

    def __init__(self, open_reader, **kwargs):
        self.bus = Bus()
        self.service: list[tuple] = []
        self.bus.subscribe("service", lambda t, p: self.service.append((p["condition"], p["active"])))
        self.woke = threading.Event()
        self.session = Session(Config(), reader_factory=open_reader, clock=ManualClock(), bus=self.bus,
                               on_wake=self.woke.set, **kwargs)
        self.session.worker.retry = 0.05
        self.session.worker.idle_wait = 0.2
        self.session.start()

    def wait_screen(self, screen: str, timeout: float = WAIT) -> bool:
        end = time.monotonic() + timeout
        while True:
            self.woke.clear()
            self.session.pump()
            if self.session.screen == screen:
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.woke.wait(min(left, 0.5))

    def seen_since(self, mark: int) -> list[str]:
        return list(self.session.screens_seen)[mark:]

    def mark(self) -> int:
        return len(self.session.screens_seen)

    def stop(self) -> None:
        self.session.stop()


def assert_serving_again(kiosk: Kiosk, slot, profile: str) -> None:
    """The reader is back: attract, NO_READER cleared, and the next card is served."""
    assert kiosk.wait_screen("attract")
    assert kiosk.service == [NO_READER_ON, NO_READER_OFF]
    slot.insert(profile)
    assert kiosk.wait_screen("summary")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- nfcpy's udp driver -------------------------------------------------------------------------
@pytest.mark.nfcpy
def test_nfcpy_udp_reader_with_no_peer_then_a_peer_that_goes_and_comes_back():
    port = free_udp_port()
    kiosk = Kiosk(lambda: NfcpyReader(f"udp:127.0.0.1:{port}"))
    server = None
    try:
        assert kiosk.wait_screen("service_needed"), kiosk.session.screen
        assert kiosk.service == [NO_READER_ON] and kiosk.session.service == "no_reader"

        server = NfcUdpCardServer("127.0.0.1", port)          # the reader is plugged in
        assert_serving_again(kiosk, server, "resident")
        mark = kiosk.mark()
        server.yank = "silent"                                # unplugged: no goodbye from the tag
        server.close()
        server = None
        assert kiosk.wait_screen("service_needed")
        assert "card_removed" not in kiosk.seen_since(mark)   # the reader left, not the card
        assert kiosk.session.status is None                   # the resident was wiped
        assert kiosk.service[-1] == NO_READER_ON

        server = NfcUdpCardServer("127.0.0.1", port)
        assert kiosk.wait_screen("attract")
        assert kiosk.service[-1] == NO_READER_OFF
        server.insert("myna-plain")                           # and it serves the next resident
        assert kiosk.wait_screen("summary")
    finally:
        kiosk.stop()
        if server is not None:
            server.close()


# -- PC/SC ------------------------------------------------------------------------------------
def _rename(bench, friendly: str) -> None:
    bench.friendly_name = friendly
    bench.reader_name = f"{friendly} 00 00"
    bench.uri = f"pcsc:{bench.reader_name}"


def _stop_pcscd_leaving_the_card(bench) -> None:
    """pcscd dies (or the reader's USB goes) while the card still lies on it."""
    proc, bench.proc = bench.proc, None
    proc.terminate()
    proc.wait(10)


@pytest.mark.pcsc
def test_pcscd_stopping_mid_session_needs_service_and_recovers(pcsc_bench):
    kiosk = Kiosk(lambda: PcscReader(pcsc_bench.reader_name, retry_interval=0.05))
    try:
        assert kiosk.wait_screen("attract") and kiosk.service == []
        pcsc_bench.insert("resident")
        assert kiosk.wait_screen("summary")
        mark = kiosk.mark()
        _stop_pcscd_leaving_the_card(pcsc_bench)
        assert kiosk.wait_screen("service_needed")
        assert "card_removed" not in kiosk.seen_since(mark)
        assert kiosk.session.status is None
        assert kiosk.service == [NO_READER_ON]

        pcsc_bench.server.remove()                            # taken while the kiosk was down
        pcsc_bench.start()
        assert_serving_again(kiosk, pcsc_bench, "myna-plain")
    finally:
        kiosk.stop()
        pcsc_bench.start()                                    # a failure leaves the bench running
        pcsc_bench.remove(wait=False)


@pytest.mark.pcsc
def test_pcsc_reader_that_is_not_there_needs_service_until_it_appears(pcsc_bench):
    original = pcsc_bench.friendly_name
    kiosk = Kiosk(lambda: PcscReader("Kiosk Late VPCD", retry_interval=0.05))
    try:
        assert kiosk.wait_screen("service_needed")           # pcscd runs, but serves another reader
        assert kiosk.service == [NO_READER_ON]
        pcsc_bench.stop_pcscd()
        _rename(pcsc_bench, "Kiosk Late VPCD")
        pcsc_bench.start()
        assert_serving_again(kiosk, pcsc_bench, "resident")
    finally:
        kiosk.stop()
        pcsc_bench.stop_pcscd()
        _rename(pcsc_bench, original)
        pcsc_bench.start()


# -- a card found but not connectable ------------------------------------------------------------
class NotIsoDepCard(SimulatedCard):
    """A Type B card whose SENSB_RES says it does not speak ISO 14443-4."""

    @property
    def atr(self) -> bytes:
        return bytes.fromhex("3B888001E1F35E1177808300") + b"\x00"   # protocol type 0


@pytest.mark.nfcpy
def test_nfcpy_card_without_iso_dep_gets_a_message(udp_server):
    kiosk = Kiosk(lambda: NfcpyReader(f"udp:127.0.0.1:{udp_server.port}"))
    try:
        udp_server.insert(NotIsoDepCard(load_profile("resident")))
        assert kiosk.wait_screen("card_error")
        assert kiosk.session.error[0] == "card.error.unsupported_card"
        udp_server.remove()
        assert kiosk.wait_screen("attract")
    finally:
        kiosk.stop()
        udp_server.remove()


@pytest.mark.pcsc
def test_pcsc_card_held_by_another_program_gets_a_message(pcsc_bench):
    pcsc_bench.insert("resident")
    other = PcscReader(pcsc_bench.reader_name).connect(exclusive=True)
    kiosk = Kiosk(lambda: PcscReader(pcsc_bench.reader_name))
    try:
        assert kiosk.wait_screen("card_error")
        assert kiosk.session.error[0] == "card.error.card_error"
        other.close()
        pcsc_bench.remove(wait=False)
        assert kiosk.wait_screen("attract")
    finally:
        other.close()
        kiosk.stop()
        pcsc_bench.remove(wait=False)


# -- a card swapped during a long call -------------------------------------------------------------
def test_same_card_tells_a_swapped_card_from_the_connected_one(card_path):
    card_path.insert("resident")
    conn = card_path.reader.connect()
    try:
        assert conn.same_card()
        card_path.insert("myna-plain")                        # taken away, another one placed
        assert card_path.reader.card_present()                # "a card is present": not enough
        assert not conn.same_card()
    finally:
        conn.close()


class SlowPreflight:
    """A linkage engine whose pre-flight (a gateway round trip) lasts until released."""

    def __init__(self, release: threading.Event, started: threading.Event):
        self.step = 1
        self.release, self.started = release, started

    def preflight(self):
        self.started.set()
        assert self.release.wait(WAIT)
        return object()

    def wipe(self):
        pass


@pytest.mark.pcsc
def test_pcsc_card_swapped_during_a_gateway_call_never_gets_the_answer(pcsc_bench):
    release, started = threading.Event(), threading.Event()
    kiosk = Kiosk(lambda: PcscReader(pcsc_bench.reader_name), gateway_available=True,
                  linkage_factory=lambda card, status: SlowPreflight(release, started))
    s = kiosk.session
    try:
        pcsc_bench.insert("resident")
        assert kiosk.wait_screen("summary")
        s.tap("btn_continue")
        s.tap("item_linkage")
        assert s.screen == "linkage_preflight" and started.wait(WAIT)
        pcsc_bench.insert("myna-plain")                       # waits until pcscd saw the swap
        release.set()
        assert kiosk.wait_screen("card_removed")              # not card A's pre-flight on card B
        assert s.linkage == {} and s.pending is None
        assert kiosk.wait_screen("summary") and s.status.card_type == "myna"
    finally:
        release.set()
        kiosk.stop()
        pcsc_bench.remove(wait=False)
