"""The My Number guard refuses exactly what could reach the My Number or 照合番号A
(third `make mutation` run, issue 13): each addressing form of a file is checked,
and commands that address no file, or another file, still go to the card."""

from __future__ import annotations

import pytest

from kiosk.errors import CardRemovedError, CardProtocolError, ForbiddenOperation
from kiosk.nfc.apdu import AID_JPKI, AID_TEXT, INS_READ_BINARY, INS_READ_RECORD, INS_SELECT, INS_VERIFY, ApduChannel

OK = b"\x90\x00"


def channel(random_connection, df=AID_TEXT, ef=None, answers=(OK,)):
    conn = random_connection(list(answers))
    ch = ApduChannel(conn)
    ch.current_df, ch.current_ef = df, ef
    return ch, conn


def test_read_binary_of_the_current_file_follows_the_current_ef(random_connection):
    ch, conn = channel(random_connection, ef=0x0001)
    with pytest.raises(ForbiddenOperation):
        ch.send(0x00, INS_READ_BINARY, 0x00, 0x00, b"", 256)
    assert conn.sent == []


def test_read_record_from_p1_to_the_end_follows_the_current_ef(random_connection):
    """P2 = 05: records P1 up to the last, of the current EF (no short file id)."""
    ch, conn = channel(random_connection, ef=0x0001)
    with pytest.raises(ForbiddenOperation):
        ch.send(0x00, INS_READ_RECORD, 0x01, 0x05, b"", 256)
    assert conn.sent == []


@pytest.mark.parametrize("p1, data", [(0x02, b"\x01"), (0x08, b"\x00\x17"), (0x02, b"\x00\x17\x00")],
                         ids=["one_byte_id", "by_path", "three_bytes"])
def test_a_select_that_is_not_by_aid_mf_or_file_id_is_refused(random_connection, p1, data):
    ch, conn = channel(random_connection, df=AID_JPKI)
    with pytest.raises(ForbiddenOperation):
        ch.send(0x00, INS_SELECT, p1, 0x0C, data)
    assert conn.sent == []


@pytest.mark.parametrize("p1", [0x00, 0x02])
def test_a_select_by_another_file_id_goes_to_the_card(random_connection, p1):
    """EF 0101 in the text AP is not the My Number (0001): the high byte counts."""
    ch, conn = channel(random_connection)
    assert ch.send(0x00, INS_SELECT, p1, 0x0C, b"\x01\x01").sw == 0x9000
    assert len(conn.sent) == 1


def test_verify_of_a_global_reference_goes_to_the_card(random_connection):
    """P2 01 is no file: only P2 8x (a short file id) and 80 (the current file) address one."""
    ch, conn = channel(random_connection, ef=0x0001, answers=(b"\x63\xC3",))
    assert ch.send(0x00, INS_VERIFY, 0x00, 0x01).sw == 0x63C3
    assert len(conn.sent) == 1


def test_a_command_with_p2_80_that_is_not_verify_is_not_a_file_access(random_connection):
    ch, conn = channel(random_connection, ef=0x0001)
    assert ch.send(0x80, 0x2A, 0x00, 0x80, b"\x01\x02").sw == 0x9000    # PSO-like, no file
    assert len(conn.sent) == 1


# -- the exchange's accounting and trace ------------------------------------------------------------
def test_the_channel_counts_commands_and_bytes_and_traces_each_answer(random_connection):
    traced = []
    conn = random_connection([b"\x01\x02" + OK, b"\x63\xC3"])
    ch = ApduChannel(conn, trace=traced.append)
    ch.current_df = AID_JPKI
    ch.send(0x00, INS_READ_BINARY, 0x8A, 0x00, b"", 256)
    ch.send(0x00, INS_VERIFY, 0x00, 0x98)
    assert (ch.count, ch.bytes_exchanged) == (2, 5 + 4 + 4 + 2)
    assert [(e.response, e.sw, e.note) for e in traced] == [(b"\x01\x02", 0x9000, ""), (b"", 0x63C3, "")]


@pytest.mark.parametrize("answer, error, note", [(None, CardRemovedError, "no response"),
                                                 (b"\x90", CardProtocolError, "malformed response")])
def test_a_missing_or_short_answer_is_traced_with_its_command(random_connection, answer, error, note):
    traced = []
    conn = random_connection([] if answer is None else [answer])
    ch = ApduChannel(conn, trace=traced.append)
    ch.current_df = AID_JPKI
    with pytest.raises(error):
        ch.send(0x00, INS_READ_BINARY, 0x8A, 0x00, b"", 256)
    [entry] = traced
    assert (entry.header, entry.response, entry.sw, entry.note) == (bytes.fromhex("00B08A00"), b"", None, note)
    assert ch.count == 1


def test_6c00_is_resent_with_le_256_and_a_repeated_6cxx_names_its_status_word(random_connection):
    ch, conn = channel(random_connection, df=AID_JPKI, answers=(b"\x6C\x00", b"\x01" * 256 + OK))
    assert len(ch.send(0x00, INS_READ_BINARY, 0x8A, 0x00, b"", 256).data) == 256
    assert conn.sent[1] == bytes.fromhex("00B08A0000")
    ch, conn = channel(random_connection, df=AID_JPKI, answers=(b"\x6C\x10", b"\x6C\x08"))
    with pytest.raises(CardProtocolError) as err:
        ch.send(0x00, INS_READ_BINARY, 0x8A, 0x00, b"", 256)
    assert err.value.details == {"sw": "6C08"}


# -- answers longer than asked, SELECT outcomes, the current file -------------------------------------
@pytest.mark.parametrize("le, length, ok", [(5, 5, True), (5, 6, False), (0, 200, True), (256, 256, True),
                                            (256, 257, False)])
def test_an_answer_longer_than_le_is_a_protocol_error(random_connection, le, length, ok):
    ch, _conn = channel(random_connection, df=AID_JPKI, answers=(bytes(length) + OK,))
    if ok:
        assert len(ch.send(0x00, INS_READ_BINARY, 0x8A, 0x00, b"", le).data) == length
    else:
        with pytest.raises(CardProtocolError) as err:
            ch.send(0x00, INS_READ_BINARY, 0x8A, 0x00, b"", le)
        assert err.value.details == {"sw": "9000"}


@pytest.mark.parametrize("sw", [b"\x6A\x82", b"\x6A\x86", b"\x6A\x81", b"\x69\x99"])
def test_an_optional_application_may_be_absent_but_a_required_one_may_not(random_connection, sw):
    from kiosk.errors import CardError
    ch, _ = channel(random_connection, df=AID_JPKI, answers=(sw,))
    assert ch.select_aid(AID_TEXT, required=False) is False
    ch, _ = channel(random_connection, df=AID_JPKI, answers=(sw,))
    with pytest.raises(CardError):
        ch.select_aid(AID_TEXT)                  # required by default


def test_an_optional_application_answering_another_error_is_an_error(random_connection):
    from kiosk.errors import CardError
    ch, _ = channel(random_connection, df=AID_JPKI, answers=(b"\x6A\x80",))
    with pytest.raises(CardError):
        ch.select_aid(AID_TEXT, required=False)


def test_select_ef_makes_it_the_current_file_and_read_record_defaults_to_it(random_connection):
    ch, conn = channel(random_connection, df=AID_JPKI, answers=(OK, b"\x01" + OK))
    ch.select_ef(0x0017)
    assert ch.current_ef == 0x0017
    assert ch.read_record(1) == b"\x01"
    assert conn.sent[1] == bytes.fromhex("00B2010400")


def test_a_card_session_passes_its_trace_to_the_channel(random_connection):
    from kiosk.nfc.card import CardSession
    traced = []
    session = CardSession(random_connection([OK]), trace=traced.append)
    session.apdu.select_aid(AID_JPKI)
    assert [e.header for e in traced] == [bytes.fromhex("00A4040C")]
    assert session.status is None
