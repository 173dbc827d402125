"""Fixtures for the appliance tests: a fake NOTIFY_SOCKET and journal capture."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading

import pytest

from kiosk import journal


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's notify socket."""

    def __init__(self, abstract: bool = False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"kiosk-test-notify-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
            self._dir = None
        else:
            self._dir = tempfile.mkdtemp(prefix="kn-", dir="/tmp")   # short: sun_path is 108 bytes
            path = os.path.join(self._dir, "notify")
            self.sock.bind(path)
            self.env = path

    def receive(self, timeout: float = 5.0) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096)
        except socket.timeout:
            return None

    def wait_for(self, wanted: bytes, timeout: float = 5.0) -> bytes:
        while True:
            data = self.receive(timeout)
            assert data is not None, f"no {wanted!r} within {timeout}s"
            if wanted in data.split(b"\n"):
                return data

    def drain(self) -> list[bytes]:
        self.sock.setblocking(False)
        out = []
        try:
            while True:
                out.append(self.sock.recv(4096))
        except BlockingIOError:
            pass
        return out

    def close(self):
        self.sock.close()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request, monkeypatch):
    ns = NotifySocket(abstract=request.param == "abstract")
    monkeypatch.setenv("NOTIFY_SOCKET", ns.env)
    yield ns
    ns.close()


class Records:
    """Every journal record emitted while the fixture is active."""

    def __init__(self):
        self.items: list[dict] = []
        self._cond = threading.Condition()

    def __call__(self, record: dict) -> None:
        with self._cond:
            self.items.append(record)
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 5.0) -> dict:
        with self._cond:
            found = self._cond.wait_for(lambda: next((r for r in self.items if predicate(r)), None),
                                        timeout)
        assert found, f"no matching journal record within {timeout}s; got {self.items}"
        return found

    def events(self) -> list[str]:
        return [r["EVENT"] for r in self.items]


@pytest.fixture
def records():
    journal.reset_rate_limits()
    rec = Records()
    journal.add_sink(rec)
    yield rec
    journal.remove_sink(rec)
    journal.reset_rate_limits()
