"""A scenario on a real reader path: pcscd + vpcd, insert/remove through ``--tray-cmd``.

The tray command is a real subprocess (as on a bench) that asks this test, over
loopback, to place or take the simulated card served to pcscd through vpcd.
The record of such a run carries the layout but no text (a real card's data
never goes to disk).
"""

from __future__ import annotations

import json
import shlex
import socket
import sys
import threading

import pytest

from kiosk.config import Config
from kiosk.display.scenario import run_scenario
from kiosk.testing.pcscd import PcscBench

from .helpers import TODAY

pytestmark = pytest.mark.pcsc

TRAY = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall((" ".join(sys.argv[2:]) + "\\n").encode())
sys.exit(0 if s.makefile().readline().strip() == "ok" else 1)
"""


@pytest.fixture(scope="module")
def bench():
    b = PcscBench().start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def tray(bench, tmp_path):
    """A loopback control port: 'insert PROFILE' / 'remove' act on the bench's card."""
    srv = socket.create_server(("127.0.0.1", 0))
    calls: list[str] = []

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                line = conn.makefile().readline().split()
                calls.append(" ".join(line))
                if line[:1] == ["insert"]:
                    bench.insert(line[1])
                elif line[:1] == ["remove"]:
                    bench.remove()
                conn.sendall(b"ok\n")

    threading.Thread(target=serve, daemon=True).start()
    script = tmp_path / "tray.py"
    script.write_text(TRAY)
    try:
        yield f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {srv.getsockname()[1]}", calls
    finally:
        srv.close()


def test_a_scenario_runs_on_the_configured_reader_with_a_tray_command(bench, tray, tmp_path):
    cmd, calls = tray
    cfg = Config()
    cfg.reader.uri = bench.uri                  # [reader] uri: the scenario uses pcscd, not the simulator
    out = tmp_path / "hil.jsonl"
    r = run_scenario(["insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu",
                      "tap item_pin_status", "wait_screen pin_status", "expect_text あと 10 回",
                      "remove", "wait_screen card_removed"],
                     config=cfg, production=True, tray_cmd=cmd, record=out, today=lambda: TODAY)
    assert r.ok, r.errors
    assert calls == ["insert resident", "remove"]
    assert r.cards == []                        # no simulated reader was used by the session
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert any(x["screen"] == "pin_status" for x in lines)
    for x in lines:
        for w in x["widgets"]:
            assert "text" not in w and "lines" not in w and "chars" in w
    assert lines[-1]["resident_data"] is False
