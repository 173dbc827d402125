"""The nfcpy backend: URIs, removal detection (R(NAK) presence check, timeouts, broken link), ATR."""

from __future__ import annotations

import pytest

from kiosk.errors import CardRemovedError, NoCardError, ReaderError
from kiosk.nfc.card import CardSession
from kiosk.nfc.nfcpy_reader import NfcpyReader, open_nfcpy_reader, part3_atr, probe
from kiosk.nfc.pins import Pin
from kiosk.nfc.reader import open_reader
from kiosk.nfc.sim.card import Faults

pytestmark = [pytest.mark.timeout(60), pytest.mark.nfcpy]


def test_uris():
    assert isinstance(open_reader("nfcpy:udp:127.0.0.1:1"), NfcpyReader)
    assert open_nfcpy_reader("usb:054c:06c3").path == "usb:054c:06c3"
    with pytest.raises(ReaderError):
        open_reader("nfcpy:tty:USB0")


def test_no_usb_reader_is_no_reader():
    reader = open_reader("nfcpy:usb:054c:06c3")
    with pytest.raises(ReaderError) as err:
        reader.connect()
    assert err.value.code == "no_reader"
    assert reader.wait_for_removal(0.1) is True
    assert reader.card_present() is False


def test_empty_field_is_no_card(nfcpy_path):
    with pytest.raises(NoCardError):
        nfcpy_path.reader.connect()


def test_atr_is_built_like_a_pcsc_reader_builds_it():
    sensb = bytes.fromhex("50 01020304 E1F35E11 778183")
    atr = part3_atr(sensb)
    assert atr[:-1] == bytes.fromhex("3B888001E1F35E1177818300")
    tck = 0
    for b in atr[1:]:
        tck ^= b
    assert tck == 0


def test_presence_check_sees_a_silent_removal(nfcpy_path):
    """An active card that leaves without a word: the R(NAK) presence check notices."""
    nfcpy_path.server.yank = "silent"
    nfcpy_path.insert("resident")
    conn = nfcpy_path.reader.connect()
    assert nfcpy_path.reader.card_present()             # R(NAK) answered with R(ACK)
    nfcpy_path.server.remove()
    assert nfcpy_path.reader.wait_for_removal(5)
    with pytest.raises(CardRemovedError):
        conn.transmit(bytes.fromhex("00A4040C0AD392F000260100000001"))
    conn.close()


@pytest.mark.parametrize("answered", [0, 4, 9])
def test_silent_yank_mid_session_times_out_into_card_removed(nfcpy_path, answered):
    """Like a card leaving a real RC-S380: no RFOFF, nfcpy's ISO-DEP timeouts report it."""
    nfcpy_path.server.yank = "silent"
    card = nfcpy_path.insert("resident", Faults(remove_after=answered))
    session = CardSession(nfcpy_path.reader.connect())
    with pytest.raises(CardRemovedError):
        session.read_licence(Pin("licence", "1357"))
    session.close()
    assert not any(v.with_data for v in card.verifies)
    card = nfcpy_path.insert(card)
    with CardSession(nfcpy_path.reader.connect()) as session:
        assert session.read_licence(Pin("licence", "1357")).licence_number


def test_removal_of_an_idle_card_is_seen_by_sensing(nfcpy_path):
    nfcpy_path.insert("myna-plain")
    assert nfcpy_path.reader.card_present()
    nfcpy_path.server.remove()
    assert nfcpy_path.reader.wait_for_removal(5)
    assert nfcpy_path.reader.wait_for_card(0.1) is False


def test_long_commands_get_waiting_time_extensions(nfcpy_path):
    """A slow card (RSA on a real chip) asks for S(WTX) instead of timing out."""
    card = nfcpy_path.insert("resident", Faults(delay=0.1))   # > FWT (77 ms) per command
    with CardSession(nfcpy_path.reader.connect()) as session:
        assert session.jpki_sign("auth", Pin("jpki_auth", "2468"), b"m")
    assert card.signatures == 1


def test_probe_reports_the_udp_reader(nfcpy_path):
    uri = f"nfcpy:udp:127.0.0.1:{nfcpy_path.server.port}"
    nfcpy_path.insert("resident")
    assert probe(uri).state == "card_present"


def test_a_reader_failing_mid_session_is_no_reader_and_the_loop_reopens_it(nfcpy_path, monkeypatch):
    """I/O errors from the device (an RC-S380 unplugged: nfcpy raises IOError)
    -> no_reader; the waiting loop opens the reader again by itself."""
    from kiosk import journal
    records: list[dict] = []
    monkeypatch.setattr(journal, "rate_limit_per_minute", 10**6)
    journal.add_sink(records.append)
    try:
        nfcpy_path.insert("resident")
        reader = nfcpy_path.reader
        conn = reader.connect()
        reader._clf.device.socket.close()            # fault injection: the device's I/O fails
        with pytest.raises(ReaderError) as err:
            conn.transmit(bytes.fromhex("00A4040C0AD392F000260100000001"))
        assert err.value.code == "no_reader"
        assert reader.wait_for_card(5)
        with CardSession(reader.connect()) as session:
            assert session.read_status().card_type == "myna_licence"
    finally:
        journal.remove_sink(records.append)
    events = [r["EVENT"] for r in records]
    assert "reader_missing" in events and "reader_recovered" in events
