"""A slow card and a late tag on nfcpy's ISO-DEP link (issue 17), without emulation.

Under qemu the signature took longer than half the frame waiting time, the
tag's S(WTX) reached nfcpy after it had stopped waiting, nfcpy sent R(NAK),
and the tag dropped the answer.  Here every APDU is slowed to around the
frame waiting time (FWT), and in the "late" mode the tag asks for more time
only after nfcpy's own timeout (FWT + 3.6 ms) has passed, so the R(NAK) path
runs on every slow APDU.  Each operation must still give the right answer,
each APDU must run exactly once (a retry never repeats a VERIFY), and the
yank tests must pass on the slowed link.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kiosk.errors import NoCardError, PinWrongError
from kiosk.nfc.card import CardSession
from kiosk.nfc.nfcpy_reader import NfcpyReader
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.nfc_udp import NfcUdpCardServer
from kiosk.testing.timing import scaled

pytestmark = [pytest.mark.nfcpy, pytest.mark.timeout(600)]

FWT = 4096 / 13.56e6 * 2 ** 8           # FWI 8 of the card's ATR: 77 ms
NFCPY_TIMEOUT = FWT + 49152 / 13.56e6   # nfcpy's IsoDepInitiator: FWT + delta FWT
WAIT = scaled(10.0)


def _load_yank_tests():
    """tests/readers/test_yank.py, to run its loops on the slowed link (importlib mode)."""
    path = Path(__file__).with_name("test_yank.py")
    spec = importlib.util.spec_from_file_location("_yank_for_slow_card", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


yank = _load_yank_tests()


class SlowPath:
    """nfcpy on a tag whose card needs ``delay`` per APDU; ``late``: the tag asks for time too late."""

    name = "nfcpy-slow"

    def __init__(self, server: NfcUdpCardServer):
        self.server = server
        self.reader = NfcpyReader(f"udp:127.0.0.1:{server.port}")

    def insert(self, what, faults=None):
        card = self.server.insert(what, faults)
        assert self.reader.wait_for_card(WAIT), "nfcpy did not find the card"
        return card

    def remove(self):
        self.server.remove()

    def settle_after_yank(self):
        pass

    def close(self):
        self.server.remove()
        self.reader.close()


def slow_server(delay: float, late: bool) -> NfcUdpCardServer:
    return NfcUdpCardServer("127.0.0.1", 0, card_delay=delay,
                            wtx_after=1.5 * NFCPY_TIMEOUT if late else None)


@pytest.fixture
def make_path():
    made = []

    def make(delay: float, late: bool) -> SlowPath:
        path = SlowPath(slow_server(delay, late))
        made.append(path)
        return path
    yield make
    for path in made:
        path.close()
        path.server.close()


# Around the waiting time: well inside, just inside and just past nfcpy's
# timeout, and several waiting times (more than one S(WTX) per APDU).
DELAYS = {"half": 0.5 * FWT, "just_inside": 0.95 * NFCPY_TIMEOUT,
          "just_past": 1.1 * NFCPY_TIMEOUT, "three": 3 * FWT}


@pytest.mark.parametrize("late", [False, True], ids=["prompt_tag", "late_tag"])
@pytest.mark.parametrize("delay", sorted(DELAYS))
def test_a_slow_card_answers_every_command_once(make_path, delay, late):
    path = make_path(DELAYS[delay], late)
    card = path.insert("resident")
    tries = card.pin_tries("licence")
    with CardSession(path.reader.connect()) as session:
        status = session.read_status()
        licence = session.read_licence(Pin("licence", "1357"))
    assert status.pins["licence"].tries_left == tries
    assert licence.licence_number
    assert [v.with_data for v in card.verifies].count(True) == 1
    assert card.pin_tries("licence") == tries
    assert card.apdu_count == yank.apdus_needed(lambda s: (s.read_status(), s.read_licence(Pin("licence", "1357"))))


@pytest.mark.parametrize("late", [False, True], ids=["prompt_tag", "late_tag"])
def test_a_slow_signature_with_its_certificate(make_path, late):
    """The case that failed under qemu: a long chained certificate read and a slow signature."""
    path = make_path(1.1 * NFCPY_TIMEOUT, late)
    card = path.insert("resident")
    with CardSession(path.reader.connect()) as session:
        yank.op_sign_with_certificate(session)
    assert card.signatures == 1
    assert card.apdu_count == yank.apdus_needed(yank.op_sign_with_certificate)


def test_a_wrong_pin_on_a_late_tag_costs_exactly_one_try(make_path):
    path = make_path(1.1 * NFCPY_TIMEOUT, True)
    card = path.insert("resident")
    tries = card.pin_tries("licence")
    with CardSession(path.reader.connect()) as session:
        with pytest.raises(PinWrongError):
            session.read_licence(Pin("licence", "0000"))
    assert card.pin_tries("licence") == tries - 1
    assert [v.with_data for v in card.verifies].count(True) == 1


@pytest.mark.parametrize("operation", ["sign_with_certificate"])
def test_yank_after_every_apdu_on_a_late_tag(make_path, operation):
    yank.test_yank_after_every_apdu(make_path(1.1 * NFCPY_TIMEOUT, True), operation)


def test_a_lost_answer_to_verify_on_a_late_tag(make_path):
    yank.test_a_lost_answer_to_verify_is_card_removed_and_the_pin_is_not_resent(
        make_path(1.1 * NFCPY_TIMEOUT, True))


def test_the_frame_waiting_time_is_configurable():
    server = NfcUdpCardServer("127.0.0.1", 0, fwi=10)
    try:
        card = server.insert("resident")
        assert server.fwt(card) == pytest.approx(4096 / 13.56e6 * 2 ** 10)
        reader = NfcpyReader(f"udp:127.0.0.1:{server.port}")
        try:
            assert reader.wait_for_card(WAIT)
            with CardSession(reader.connect()) as session:
                assert session.read_status().pins["licence"].tries_left == card.pin_tries("licence")
        finally:
            reader.close()
    finally:
        server.close()
    with pytest.raises(ValueError):
        NfcUdpCardServer("127.0.0.1", 0, fwi=15)


NFCPY_ATTRIB_TIMEOUT = 0.03             # nfcpy's Type4BTag: fixed, whatever the card's FWI
LATE_ATTRIB = 3 * NFCPY_ATTRIB_TIMEOUT  # clearly past it, as a loaded qemu host answered


def test_an_attrib_answered_late_is_retried_once_before_any_apdu():
    """The arm64 bench's failure: the re-placed card's ATTRIB answer came after nfcpy's 30 ms."""
    server = NfcUdpCardServer("127.0.0.1", 0, attrib_delays=(LATE_ATTRIB,))
    path = SlowPath(server)
    try:
        card = path.insert("resident")
        tries = card.pin_tries("licence")
        connection = path.reader.connect()
        assert server.attrib_delays == [] and card.apdu_count == 0    # the late one was used up; no APDU yet
        with CardSession(connection) as session:
            licence = session.read_licence(Pin("licence", "1357"))
        assert licence.licence_number
        assert [v.with_data for v in card.verifies].count(True) == 1
        assert card.pin_tries("licence") == tries
    finally:
        path.close()
        server.close()


def test_a_card_that_misses_both_attribs_is_no_card_and_the_next_poll_works():
    """One retry only: a card that never activates is reported, not polled forever."""
    server = NfcUdpCardServer("127.0.0.1", 0, attrib_delays=(LATE_ATTRIB, LATE_ATTRIB))
    path = SlowPath(server)
    try:
        card = path.insert("resident")
        with pytest.raises(NoCardError):
            path.reader.connect()
        assert server.attrib_delays == [] and card.apdu_count == 0 and not card.verifies
        with CardSession(path.reader.connect()) as session:
            assert session.read_status().pins["licence"].tries_left == card.pin_tries("licence")
    finally:
        path.close()
        server.close()
