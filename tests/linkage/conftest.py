"""Fixtures for the linkage tests: the reference gateway as a real process,
a client pinned to its CA, card benches and captured journal records.

Every wait has a timeout; nothing sleeps to synchronise.
"""

from __future__ import annotations

import json
import os
import select
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kiosk.linkage.client import GatewayClient
from kiosk.nfc.card import CardSession
from kiosk.nfc.sim.card import Faults, SimulatedCard
from kiosk.nfc.sim.reader import SimReader

ROOT = Path(__file__).resolve().parents[2]


class GatewayProcess:
    """`kiosk linkage-gateway --test-hooks` in a subprocess, driven over HTTPS."""

    def __init__(self, tls_dir: Path, extra: list[str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "linkage-gateway", "--listen", "127.0.0.1:0",
             "--tls-dir", str(tls_dir), "--test-hooks", *(extra or [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        line = self._read_line(timeout=60)
        info = json.loads(line)
        self.url, self.ca = info["url"], info["ca"]
        self.client_cert, self.client_key = info["client_cert"], info["client_key"]
        self._admin = httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=self.ca),
                                   timeout=10, trust_env=False)

    def _read_line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                err = self.proc.stderr.read1(65536) if self.proc.poll() is not None else b""
                self.stop()
                raise RuntimeError(f"reference gateway did not start: {err.decode(errors='replace')}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue
                buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    def fault(self, kind: str, seconds: float = 0, match: str | None = None, count: int | None = None):
        self._admin.post("/_test/fault", json={"kind": kind, "seconds": seconds, "match": match,
                                               "count": count}).raise_for_status()

    def reset(self) -> None:
        self._admin.post("/_test/reset", json={}).raise_for_status()

    def change_terms(self) -> str:
        r = self._admin.post("/_test/terms", json={})
        r.raise_for_status()
        return r.json()["terms_version"]

    def stats(self) -> dict:
        r = self._admin.get("/_test/stats")
        r.raise_for_status()
        return r.json()

    def requests(self, route: str) -> int:
        return self.stats()["requests"].get(route, 0)

    def stop(self) -> None:
        if getattr(self, "_admin", None) is not None:
            self._admin.close()
            self._admin = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if not stream.closed:
                stream.close()


@pytest.fixture(scope="session")
def gateway_process(tmp_path_factory):
    gw = GatewayProcess(tmp_path_factory.mktemp("gateway-tls"))
    yield gw
    gw.stop()


@pytest.fixture
def new_gateway_process(tmp_path):
    """Start an extra gateway process (the caller stops it; stopped at teardown anyway)."""
    started: list[GatewayProcess] = []

    def start(*extra: str) -> GatewayProcess:
        started.append(GatewayProcess(tmp_path / f"tls{len(started)}", list(extra)))
        return started[-1]
    yield start
    for gw in started:
        gw.stop()


@pytest.fixture
def gateway(gateway_process):
    """The shared gateway process, with faults and counters cleared."""
    gateway_process.reset()
    yield gateway_process
    gateway_process.reset()


@pytest.fixture
def client(gateway):
    c = GatewayClient(gateway.url, ca=gateway.ca, timeout=5, retries=2, backoff=0)
    yield c
    c.close()


@pytest.fixture
def records(journal_records):
    """Journal records emitted during the test."""
    return journal_records


class SimBench:
    """The in-process simulated reader."""

    kind = "sim"

    def __init__(self):
        self.reader = SimReader()

    def insert(self, profile, faults: Faults | None = None) -> SimulatedCard:
        return self.reader.insert(profile, faults)

    def session(self) -> CardSession:
        return CardSession(self.reader.connect())

    def remove(self) -> None:
        self.reader.remove()

    def close(self) -> None:
        self.reader.close()


class PcscBenchPath:
    """The same card served through vpcd -> a private pcscd -> pyscard (PcscReader)."""

    kind = "pcsc"
    WAIT = 10.0

    def __init__(self, pcscd):
        from kiosk.nfc.pcsc import PcscReader
        self.pcscd = pcscd
        self.reader = PcscReader(pcscd.reader_name)

    def insert(self, profile, faults: Faults | None = None) -> SimulatedCard:
        card = self.pcscd.insert(profile, faults, wait=False)
        assert self.reader.wait_for_card(self.WAIT), "pcscd did not see the card"
        return card

    def session(self) -> CardSession:
        return CardSession(self.reader.connect())

    def remove(self) -> None:
        self.pcscd.remove(wait=False)
        assert self.reader.wait_for_removal(self.WAIT), "pcscd did not see the removal"

    def close(self) -> None:
        if self.pcscd.card is not None and not self.pcscd.card.gone:
            self.remove()
        else:
            self.pcscd.remove(wait=False)
            self.reader.wait_for_removal(self.WAIT)
        self.reader.close()


@pytest.fixture(scope="module")
def linkage_pcscd():
    """A private pcscd + vpcd for this module only, on its own port and config
    directory, stopped before tests/readers starts its own (one pcscd per machine;
    PcscBench's machine-wide lock makes a concurrent run elsewhere wait).  When a
    bench already runs in this process (another suite's session fixture), share it."""
    from kiosk.testing import pcscd
    running = getattr(pcscd, "_holder", None)
    if running is not None and running.proc is not None:
        yield running
        return
    b = pcscd.PcscBench(port=0x9C9B, workdir=ROOT / ".cache" / "pcscd-linkage",
                        friendly_name="Kiosk Linkage VPCD").start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(params=["sim", pytest.param("pcsc", marks=pytest.mark.pcsc)])
def bench(request):
    """The card path: in-process SimReader, or the PC/SC bench (pcscd + vpcd)."""
    b = SimBench() if request.param == "sim" else PcscBenchPath(request.getfixturevalue("linkage_pcscd"))
    yield b
    b.close()
