"""The PC/SC backend's own behaviour: error mapping, exclusive mode, and recovery from a pcscd restart."""

from __future__ import annotations

import threading

import pytest
from smartcard import scard

from kiosk import journal
from kiosk.errors import CardError, CardRemovedError, NoCardError, ReaderError
from kiosk.nfc.card import CardSession
from kiosk.nfc.pcsc import PcscReader, list_readers
from kiosk.nfc.pins import Pin
from kiosk.nfc.reader import open_reader
from kiosk.testing.timing import scaled

pytestmark = [pytest.mark.timeout(120), pytest.mark.pcsc]
WAIT = scaled(10.0)


@pytest.fixture
def events(monkeypatch):
    """Journal records emitted during the test (rate limit lifted: earlier tests count too)."""
    records: list[dict] = []
    monkeypatch.setattr(journal, "rate_limit_per_minute", 10**6)
    journal.add_sink(records.append)
    try:
        yield records
    finally:
        journal.remove_sink(records.append)


def test_uri_picks_the_reader_by_name_substring(pcsc_bench):
    reader = open_reader("pcsc:test vpcd 00 00")        # case-insensitive substring
    assert isinstance(reader, PcscReader)
    assert not reader.card_present()
    assert reader.name == pcsc_bench.reader_name
    assert open_reader("pcsc").uri == "pcsc"


def test_no_card_is_no_card(pcsc_path):
    with pytest.raises(NoCardError) as err:
        pcsc_path.reader.connect()
    assert err.value.code == "no_card"
    assert pcsc_path.reader.wait_for_card(0.2) is False
    assert pcsc_path.reader.wait_for_removal(0.2) is True


def test_a_missing_reader_is_no_reader_and_waits_do_not_raise(pcsc_bench, events):
    reader = PcscReader("no such reader")
    with pytest.raises(ReaderError) as err:
        reader.connect()
    assert err.value.code == "no_reader"
    assert reader.card_present() is False
    assert reader.wait_for_card(0.3) is False           # blocked on the PnP notification, not raised
    assert reader.wait_for_removal(0.3) is True
    assert reader.available is False
    assert any(r["EVENT"] == "reader_missing" for r in events)


def test_listing_shows_the_bench_reader_and_its_state(pcsc_path):
    names = {info.name: info for info in list_readers()}
    assert names[pcsc_path.bench.reader_name].state == "empty"
    pcsc_path.insert("resident")
    info = {i.name: i for i in list_readers()}[pcsc_path.bench.reader_name]
    assert info.state == "card_present" and info.detail.startswith("ATR 3B 88 80 01")


def test_exclusive_while_a_pin_is_verified(pcsc_path):
    pcsc_path.insert("resident")
    conn = pcsc_path.reader.connect()
    session = CardSession(conn)
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        with session.jpki_key("auth", Pin("jpki_auth", "2468")) as key:
            assert conn.exclusive
            hr, handle, _ = scard.SCardConnect(ctx, pcsc_path.bench.reader_name, scard.SCARD_SHARE_SHARED,
                                               scard.SCARD_PROTOCOL_T1)
            assert hr & 0xFFFFFFFF == scard.SCARD_E_SHARING_VIOLATION & 0xFFFFFFFF
            key.certificate()                               # the verified state survived the reconnect
            key.sign(b"m")
    finally:
        session.close()
        scard.SCardReleaseContext(ctx)


def test_another_program_holding_the_card_is_a_card_error(pcsc_path):
    pcsc_path.insert("resident")
    other = PcscReader(pcsc_path.bench.reader_name).connect(exclusive=True)
    try:
        with pytest.raises(CardError, match="another program"):
            pcsc_path.reader.connect()
    finally:
        other.close()


def test_transmit_after_close_is_card_removed(pcsc_path):
    pcsc_path.insert("resident")
    conn = pcsc_path.reader.connect()
    conn.close()
    with pytest.raises(CardRemovedError):
        conn.transmit(b"\x00\xa4\x04\x0c\x00")


def test_close_cancels_a_blocked_wait(pcsc_path):
    reader = PcscReader(pcsc_path.bench.reader_name)
    result = {}
    waiter = threading.Thread(target=lambda: result.setdefault("v", reader.wait_for_card(None)))
    waiter.start()
    reader.close()
    waiter.join(WAIT)
    assert not waiter.is_alive() and result["v"] is False


def test_pcscd_restart_under_a_waiting_reader_loop(pcsc_bench, pcsc_path, events):
    """A kiosk reader loop blocked in wait_for_card survives pcscd stopping and starting."""
    reader = PcscReader(pcsc_bench.reader_name, retry_interval=0.05)
    # An open connection when pcscd goes away: the reader is gone, not the card.
    pcsc_path.insert("resident")
    conn = reader.connect()
    pcsc_path.bench.remove()
    seen: list[bool] = []
    loop_ready = threading.Event()

    def reader_loop():
        loop_ready.set()
        seen.append(reader.wait_for_card(30))

    loop = threading.Thread(target=reader_loop)
    loop.start()
    assert loop_ready.wait(WAIT)
    pcsc_bench.stop_pcscd()
    with pytest.raises(ReaderError) as err:
        conn.transmit(bytes.fromhex("00A4040C0AD392F000260100000001"))
    assert err.value.code == "no_reader"
    conn.close()
    pcsc_bench.start()
    card = pcsc_bench.insert("resident")
    loop.join(WAIT)
    assert not loop.is_alive() and seen == [True]
    with CardSession(reader.connect()) as session:
        assert session.read_status().card_type == "myna_licence"
    assert not any(v.with_data for v in card.verifies)
    names = [r["EVENT"] for r in events]
    assert "reader_missing" in names and "reader_recovered" in names
    reader.close()


class _ListedReader:
    """Stands in for PcscReader in the mapping table: the reader is still listed."""

    name = "stub"

    def __init__(self, listed: bool = True):
        self.listed = listed

    def _reader_listed(self) -> bool:
        return self.listed


@pytest.mark.parametrize("name, expected", [
    ("SCARD_W_REMOVED_CARD", CardRemovedError),
    ("SCARD_E_NO_SMARTCARD", CardRemovedError),
    ("SCARD_W_RESET_CARD", CardRemovedError),          # someone reset it: the verified state is gone
    ("SCARD_W_UNPOWERED_CARD", CardRemovedError),
    ("SCARD_W_UNRESPONSIVE_CARD", CardRemovedError),
    ("SCARD_E_NOT_TRANSACTED", CardRemovedError),      # what pcscd answers when vpcd's card vanished
    ("SCARD_E_NO_SERVICE", ReaderError),
    ("SCARD_E_SERVICE_STOPPED", ReaderError),
    ("SCARD_E_READER_UNAVAILABLE", ReaderError),
    ("SCARD_E_UNKNOWN_READER", ReaderError),
    ("SCARD_E_INVALID_HANDLE", ReaderError),           # a handle from before a pcscd restart
    ("SCARD_F_COMM_ERROR", ReaderError),
    ("SCARD_E_INVALID_VALUE", CardError),
])
def test_pcsc_error_mapping(name, expected):
    from kiosk.nfc.pcsc import PcscConnection
    conn = PcscConnection(_ListedReader(), 0, 0, 0, b"", False)
    err = conn._fail(getattr(scard, name), "transmit")
    assert type(err) is expected
    # A card error while the reader has vanished from the list is the reader's.
    conn = PcscConnection(_ListedReader(listed=False), 0, 0, 0, b"", False)
    assert type(conn._fail(getattr(scard, name), "transmit")) is ReaderError


def _rename(bench, friendly: str) -> None:
    bench.friendly_name = friendly
    bench.reader_name = f"{friendly} 00 00"
    bench.uri = f"pcsc:{bench.reader_name}"


def test_a_reader_loop_waits_for_a_missing_reader_and_finds_it(pcsc_bench, events):
    """The kiosk's reader is not there (pcscd serves another one): the loop
    blocks on the PnP notification, rides out pcscd restarting, and finds its
    reader and the card once they appear."""
    wanted = pcsc_bench.reader_name
    original = pcsc_bench.friendly_name
    reader = PcscReader(wanted, retry_interval=0.05)
    seen: list[bool] = []
    pcsc_bench.stop_pcscd()
    _rename(pcsc_bench, "Kiosk Other VPCD")
    try:
        pcsc_bench.start()
        loop = threading.Thread(target=lambda: seen.append(reader.wait_for_card(30)))
        loop.start()
        pcsc_bench.stop_pcscd()
    finally:
        _rename(pcsc_bench, original)
    pcsc_bench.start()
    card = pcsc_bench.insert("myna-plain")
    loop.join(WAIT)
    assert not loop.is_alive() and seen == [True]
    assert reader.name == wanted
    with CardSession(reader.connect()) as session:
        assert session.read_status().card_type == "myna"
    assert not any(v.with_data for v in card.verifies)
    assert "reader_missing" in [r["EVENT"] for r in events]
    reader.close()
