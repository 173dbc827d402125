"""``kiosk sim serve`` (both links, control lines, masked trace) and ``kiosk readers``."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.errors import CardRemovedError
from kiosk.nfc.card import CardSession
from kiosk.nfc.nfcpy_reader import NfcpyReader
from kiosk.nfc.pcsc import PcscReader
from kiosk.nfc.pins import Pin
from kiosk.testing.pcscd import _events, wait_state
from kiosk.testing.timing import scaled

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[2]
WAIT = scaled(10.0)


class Serve:
    """``kiosk sim serve`` as a subprocess: control lines in, event lines out."""

    def __init__(self, *args: str):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "kiosk", "sim", "serve", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, cwd=ROOT, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("<eof>")

    def expect(self, prefix: str) -> str:
        while True:
            line = self.lines.get(timeout=WAIT)
            assert line != "<eof>", f"kiosk sim serve exited waiting for {prefix!r}"
            if line.startswith(prefix):
                return line

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def quit(self) -> int:
        if self.proc.poll() is None:
            self.send("quit")
        return self.proc.wait(WAIT)


def test_sim_serve_nfc_udp_controls_and_masked_trace(tmp_path):
    trace = tmp_path / "trace.txt"
    serve = Serve("--profile", "resident", "--nfc-udp", "127.0.0.1:0", "--trace", str(trace))
    try:
        serve.expect("inserted resident")
        where = serve.expect("serving on ").split()[-1]
        reader = NfcpyReader(where.partition(":")[2])
        with CardSession(reader.connect()) as session:
            assert session.read_licence(Pin("licence", "1357")).licence_number
        serve.send("swap myna-plain")
        serve.expect("inserted myna-plain")
        with CardSession(reader.connect()) as session:
            assert session.read_status().card_type == "myna"
        serve.send("remove-after 2")
        serve.expect("remove-after 2")
        with pytest.raises(CardRemovedError):
            with CardSession(reader.connect()) as session:
                session.read_status()
        serve.expect("left myna-plain")
        serve.send("reinsert")
        serve.expect("inserted myna-plain")
        with CardSession(reader.connect()) as session:
            assert session.read_status().card_type == "myna"
        serve.send("status")
        status = json.loads(serve.expect("{"))
        assert status["present"] and status["profile"] == "myna-plain"
        serve.send("remove")
        serve.expect("removed")
        reader.close()
    finally:
        assert serve.quit() == 0
    text = trace.read_text()
    assert "00 20 00 86 04 <masked>" in text            # the licence VERIFY, data masked
    assert "31333537" not in text.replace(" ", "")     # "1357" in hex never written
    assert "> 00 A4 04 0C" in text


def test_sim_serve_vpcd_through_pcscd(pcsc_bench, tmp_path):
    pcsc_bench.remove()
    reader_name = pcsc_bench.reader_name
    before = _events(wait_state(reader_name, 0xFFFFFFFF))
    trace = tmp_path / "vpcd-trace.txt"
    serve = Serve("--profile", "licence-last-try", "--vpcd", f"127.0.0.1:{pcsc_bench.port}",
                  "--trace", str(trace))
    reader = PcscReader(reader_name)
    try:
        serve.expect("serving on")
        assert reader.wait_for_card(WAIT)
        with CardSession(reader.connect()) as session:
            status = session.read_status()
        assert status.pins["licence"].tries_left == 1
    finally:
        assert serve.quit() == 0
        reader.close()
    wait_state(reader_name, 0x10, WAIT, min_events=before + 2)    # EMPTY, seen by pcscd's poll
    assert "00 20 00 86  < 63C1" in trace.read_text()


def test_kiosk_readers_lists_the_bench_reader(pcsc_path, capsys):
    pcsc_path.insert("resident")
    assert main(["readers", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)["readers"]
    mine = [r for r in listing if r["name"] == pcsc_path.bench.reader_name]
    assert mine and mine[0]["state"] == "card_present" and mine[0]["backend"] == "pcsc"
    assert main(["readers"]) == 0
    assert "card_present" in capsys.readouterr().out


def test_kiosk_readers_probes_a_udp_reader(nfcpy_path, capsys):
    nfcpy_path.insert("resident")
    uri = f"nfcpy:udp:127.0.0.1:{nfcpy_path.server.port}"
    assert main(["readers", "--json", "--probe", uri]) == 0
    listing = json.loads(capsys.readouterr().out)["readers"]
    assert {"uri": uri, "state": "card_present"}.items() <= [r for r in listing if r["uri"] == uri][0].items()


def test_sim_serve_without_a_reader_side_is_no_reader(capsys):
    assert main(["sim", "serve", "--profile", "resident", "--vpcd", "127.0.0.1:1"]) == 10
    assert "no_reader" in capsys.readouterr().err
    assert main(["sim", "serve", "--nfc-udp", "no-port"]) == 40
