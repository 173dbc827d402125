"""kiosk.journal: fixed MESSAGE_IDs, journald/stderr output, rate limit, privacy guard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kiosk import journal

ROOT = Path(__file__).resolve().parents[2]
ISSUE_EVENTS = ("card_inserted", "card_removed", "pin_status_read", "pin_wrong", "pin_locked",
                "licence_read", "linkage_step", "printer_error", "reader_missing", "config_error",
                "watchdog")


@pytest.fixture
def stderr_mode():
    journal.configure("stderr", 30)
    journal.reset_rate_limits()
    yield
    journal.configure("stderr", 30)
    journal.reset_rate_limits()


def test_message_ids_are_fixed_unique_128_bit():
    ids = list(journal.EVENTS.values())
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert set(ISSUE_EVENTS) <= set(journal.EVENTS)
    # Shipped ids never change.
    assert journal.EVENTS["pin_wrong"] == "6f1d2c0a8f4b4b0e9a3c1d5e7f902105"


def test_docs_logging_lists_events_with_their_ids():
    doc = (ROOT / "docs/logging.md").read_text()
    documented = dict(re.findall(r"^\| `([a-z_]+)` \| `([0-9a-f]{32})` \|", doc, re.M))
    for event in ISSUE_EVENTS:
        assert event in documented, f"{event} missing from docs/logging.md"
    for event, mid in documented.items():
        assert journal.EVENTS.get(event) == mid, f"docs/logging.md: wrong MESSAGE_ID for {event}"


def test_unknown_event_is_a_programming_error(stderr_mode):
    with pytest.raises(ValueError):
        journal.log_event("made_up", "x")


def test_stderr_fallback_is_one_key_value_line(stderr_mode, capsys, records):
    journal.log_event("pin_wrong", "licence PIN wrong", journal.WARNING, PIN_ID="licence",
                      TRIES_LEFT=2, SW="63C2")
    line = capsys.readouterr().err.strip()
    assert line == "kiosk[4]: licence PIN wrong EVENT=pin_wrong PIN_ID=licence TRIES_LEFT=2 SW=63C2"
    assert records.items[0]["MESSAGE_ID"] == journal.EVENTS["pin_wrong"]


def test_journald_gets_message_id_and_fields(monkeypatch, capsys, records):
    from systemd import journal as sd_journal
    sent = []
    monkeypatch.setattr(sd_journal, "send", lambda message, **fields: sent.append((message, fields)))
    monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
    journal.configure("auto", 30)
    try:
        journal.log_event("reader_missing", "no reader", journal.ERR, READER="pcsc", ERROR_CODE="no_reader")
    finally:
        journal.configure("stderr", 30)
    assert capsys.readouterr().err == ""
    message, fields = sent[0]
    assert message == "no reader"
    assert fields["MESSAGE_ID"] == journal.EVENTS["reader_missing"]
    assert fields["SYSLOG_IDENTIFIER"] == "kiosk" and fields["PRIORITY"] == 3
    assert fields["READER"] == "pcsc" and fields["ERROR_CODE"] == "no_reader"


def test_rate_limit_per_event_reports_what_it_dropped(stderr_mode, monkeypatch, records):
    now = [100.0]
    monkeypatch.setattr(journal, "_clock", lambda: now[0])
    journal.configure("stderr", 3)
    results = [journal.log_event("card_error", "bad answer", SW="6F00") for _ in range(5)]
    assert [r is not None for r in results] == [True, True, True, False, False]
    # Another event is not affected by card_error's limit.
    assert journal.log_event("card_removed", "card left") is not None
    now[0] += 61
    again = journal.log_event("card_error", "bad answer", SW="6F00")
    assert again["SUPPRESSED"] == "2"
    assert len([r for r in records.items if r["EVENT"] == "card_error"]) == 4


@pytest.mark.parametrize("fields, leaked", [
    ({"PIN": "1357"}, "1357"),
    ({"PIN_VALUE": "2468"}, "2468"),
    ({"NAME": "山田 太郎"}, "山田"),
    ({"ADDRESS": "東京都千代田区"}, "千代田"),
    ({"LICENCE_NUMBER": "123456789012"}, "123456789012"),
    ({"DETAIL": "typed 1357 then cancelled"}, "1357"),
    ({"DETAIL": "number 1234 5678 9012"}, "5678"),
    ({"DETAIL": "licence 301234567890 read"}, "301234567890"),
    ({"DETAIL": "sign pin KIOSK2025"}, "KIOSK2025"),
    ({"TRIES_LEFT": "1357 left"}, "1357"),
    ({"SUBJECT": "CN=YAMADA TARO"}, "YAMADA"),
])
def test_guard_redacts_personal_shapes(stderr_mode, capsys, records, fields, leaked):
    rec = journal.log_event("card_error", "something odd", **fields)
    assert leaked not in str(rec) and leaked not in str(records.items)
    assert leaked not in capsys.readouterr().err
    assert rec["REDACTED"] == next(iter(fields))


def test_guard_keeps_codes_dates_and_ids(stderr_mode, records):
    rec = journal.log_event("pin_wrong", "licence PIN wrong; card 2029-05-02; gateway host:8443 v0.1.0",
                            PIN_ID="licence", TRIES_LEFT=1, SW="63C1", READER="Sony RC-S380/P",
                            ERROR_CODE="pin_wrong", SCREEN="pin_pad", USB="054c:06c3")
    assert "REDACTED" not in rec
    assert rec["MESSAGE"].endswith("card 2029-05-02; gateway host:8443 v0.1.0")
    assert rec["SW"] == "63C1" and rec["PIN_ID"] == "licence" and rec["USB"] == "054c:06c3"


def test_failing_sink_record_is_written_once_marked(stderr_mode, capsys):
    def broken(record):
        raise RuntimeError("sink down")
    journal.add_sink(broken)
    try:
        record = journal.log_event("reader_missing", "no reader", journal.WARNING, ERROR_CODE="no_reader")
    finally:
        journal.remove_sink(broken)
    lines = [line for line in capsys.readouterr().err.splitlines() if "EVENT=reader_missing" in line]
    assert len(lines) == 1, lines
    assert "SINK_ERROR=RuntimeError" in lines[0]
    assert record["SINK_ERROR"] == "RuntimeError"
