"""The APDU parser and the trace it feeds (third `make mutation` run, issue 13).

The trace is what a technician reads (``kiosk card status --trace``): every command's
header, Lc, data, Le and answer, except the data of VERIFY/CHANGE, which is never kept.
"""

from __future__ import annotations

import pytest

from kiosk.nfc.apdu import AID_JPKI, parse_apdu, read_cap, trace_entry

SELECT = bytes.fromhex("00A4040C0A") + AID_JPKI
VERIFY_PIN = bytes.fromhex("00200086043133353700")[:9]        # VERIFY licence, 4 PIN bytes


@pytest.mark.parametrize("apdu, parsed", [
    (bytes.fromhex("00200086"), (0, b"", None, True)),                           # case 1
    (bytes.fromhex("00B0000000"), (0, b"", 256, True)),                          # case 2, Le 00 = 256
    (bytes.fromhex("00B0000005"), (0, b"", 5, True)),
    (bytes.fromhex("00A4040C01AA"), (1, b"\xAA", None, True)),                    # case 3, 1 data byte
    (bytes.fromhex("00A4040C02AABB"), (2, b"\xAA\xBB", None, True)),             # case 3
    (bytes.fromhex("00A4040002AABB00"), (2, b"\xAA\xBB", 256, True)),            # case 4
    (bytes.fromhex("00A4040002AABB07"), (2, b"\xAA\xBB", 7, True)),
    (bytes.fromhex("00A4040C03AABB"), (3, b"\xAA\xBB", None, False)),            # Lc past the end
    (bytes.fromhex("00A4040002AABB0000"), (2, b"\xAA\xBB", 256, False)),         # two bytes after the data
    (bytes.fromhex("00A4040001AA0000"), (1, b"\xAA", 256, False)),
], ids=["case1", "case2_256", "case2", "case3_1", "case3", "case4_256", "case4",
        "short_data", "long_tail", "long_tail1"])
def test_parse_apdu_reads_each_case(apdu, parsed):
    header, *rest = parse_apdu(apdu)
    assert header == apdu[:4] and tuple(rest) == parsed


def test_a_header_shorter_than_4_bytes_is_padded_with_zeros_and_malformed():
    assert parse_apdu(b"\x00\xA4") == (b"\x00\xA4\x00\x00", 0, b"", None, False)


def test_parse_without_data_keeps_the_lengths_only():
    assert parse_apdu(VERIFY_PIN, keep_data=False)[1:] == (4, b"", None, True)


def test_the_trace_keeps_a_selects_data_and_the_answer():
    entry = trace_entry(SELECT, b"\x01\x02", 0x9000)
    assert (entry.header, entry.lc, entry.data, entry.le) == (SELECT[:4], 10, AID_JPKI, None)
    assert (entry.response, entry.sw, entry.note) == (b"\x01\x02", 0x9000, "")
    assert trace_entry(SELECT, b"", None, note="card left").note == "card left"


def test_the_trace_never_keeps_pin_data_but_keeps_its_length(monkeypatch):
    import kiosk.nfc.apdu as apdu_module
    copies = []
    real = apdu_module.parse_apdu

    def spy(apdu, keep_data=True):
        parsed = real(apdu, keep_data)
        copies.append(parsed[2])
        return parsed
    monkeypatch.setattr(apdu_module, "parse_apdu", spy)
    entry = trace_entry(VERIFY_PIN, b"", 0x63C9)
    assert (entry.lc, entry.data, entry.sw) == (4, None, 0x63C9)
    assert copies == [b""]                      # not even a transient copy of the PIN
    assert trace_entry(bytes.fromhex("002000860131"), b"", 0x6700).data is None    # 1 byte is masked too


@pytest.mark.parametrize("apdu", [bytes.fromhex("00200086"), bytes.fromhex("0020008600")],
                         ids=["empty_verify", "verify_with_le"])
def test_a_verify_without_data_is_traced_as_it_is(apdu):
    """Nothing to mask: the counter reads show in the trace like any other command."""
    assert trace_entry(apdu, b"", 0x63CA).data == b""


@pytest.mark.parametrize("size, reads", [(0, 2), (1, 2), (128, 2), (129, 3), (256, 3), (2048, 17)])
def test_the_read_cap_is_one_read_per_128_bytes_declared_plus_one(size, reads):
    assert read_cap(size) == reads


@pytest.mark.parametrize("sw, error", [(0x6982, "SecurityStatusError"), (0x6A82, "FileNotFoundOnCard"),
                                       (0x6A80, "CardError"), (0x6D00, "CardError")])
def test_check_types_each_failure_by_its_status_word(sw, error):
    """The callers branch on the type: 6982 means VERIFY first, 6A82 means no such file."""
    from kiosk.nfc.apdu import ApduChannel, Response
    channel = ApduChannel.__new__(ApduChannel)
    with pytest.raises(Exception) as err:
        channel.check(Response(b"", sw), "READ")
    assert type(err.value).__name__ == error
    assert err.value.details == {"sw": f"{sw:04X}"}
    assert channel.check(Response(b"\x01", 0x9000), "READ").data == b"\x01"


def test_cert_not_after_waits_for_the_whole_validity_and_never_guesses():
    """Fed a certificate's first k bytes, for every k: None until notAfter is complete, then the date."""
    import datetime as dt

    from kiosk.nfc.card import cert_not_after
    from kiosk.nfc.sim import pki
    _key, der = pki.card_certificate("auth", "prefix", dt.date(2024, 5, 10), dt.date(2029, 5, 2))
    answers = [cert_not_after(der[:k]) for k in range(len(der) + 1)]
    first = answers.index(dt.date(2029, 5, 2))
    assert all(a is None for a in answers[:first]) and all(a == dt.date(2029, 5, 2) for a in answers[first:])
    assert 0 < first < len(der) - 100         # notAfter comes well before the key and the signature


def test_build_apdu_bounds():
    from kiosk.errors import CardProtocolError
    from kiosk.nfc.apdu import build_apdu
    assert build_apdu(0x00, 0xB0, 0x00, 0x00) == bytes.fromhex("00B00000")
    assert len(build_apdu(0x00, 0xD6, 0x00, 0x00, bytes(255))) == 4 + 1 + 255
    assert build_apdu(0x00, 0xB0, 0x00, 0x00, b"", 0)[-1] == 0x00
    assert build_apdu(0x00, 0xB0, 0x00, 0x00, b"", 256)[-1] == 0x00
    for data, le in ((bytes(256), None), (b"", 257), (b"", -1)):
        with pytest.raises(CardProtocolError):
            build_apdu(0x00, 0xB0, 0x00, 0x00, data, le)


@pytest.mark.parametrize("offset, sfi, sent", [(255, 0x0A, "00B08AFF00"), (256, 0x0A, None),
                                               (0x7FFF, None, "00B07FFF00"), (0x8000, None, None)])
def test_read_offsets_stop_at_what_the_command_can_address(random_connection, offset, sfi, sent):
    """A short file id addresses offsets up to 255, a plain READ BINARY up to 32767."""
    from kiosk.errors import CardProtocolError
    from kiosk.nfc.apdu import ApduChannel
    conn = random_connection([b"\x01\x90\x00"])
    ch = ApduChannel(conn)
    ch.current_df = AID_JPKI
    if sent is None:
        with pytest.raises(CardProtocolError):
            ch.read_chunk(offset, sfi)
        assert conn.sent == []
    else:
        assert ch.read_chunk(offset, sfi) == (b"\x01", False)
        assert conn.sent == [bytes.fromhex(sent)]
