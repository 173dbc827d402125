"""SIGTERM while the main thread holds the journal's lock: `kiosk run` still stops.

The signal handler runs on the main thread between two bytecodes.  If it journaled
(the journal's non-reentrant lock) while the main thread was inside that lock, the
kiosk would hang until systemd's stop timeout SIGKILLs it, card still powered.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import os, signal
    from kiosk import journal
    sent = []

    def sink(record):
        # Hold the journal's lock (non-reentrant) while SIGTERM arrives on this thread.
        if record.get("EVENT") == "kiosk_started" and not sent:
            sent.append(1)
            with journal._lock:
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(100000):      # the handler runs in here, lock held
                    pass

    journal.add_sink(sink)
    from kiosk.cli import main
    print("RC", main(["run", "--headless"]), flush=True)
""")


def test_sigterm_while_the_journal_lock_is_held_still_stops(tmp_path):
    sock_path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.setblocking(False)
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "KIOSK_JOURNAL": "stderr",
           "NOTIFY_SOCKET": sock_path, "PYTHONPATH": str(ROOT)}
    env.pop("INVOCATION_ID", None)
    env.pop("JOURNAL_STREAM", None)
    try:
        try:
            proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"kiosk hung on SIGTERM: {exc.stderr}") from None
        messages = []
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except BlockingIOError:
                break
    finally:
        sock.close()
    assert "RC 0" in proc.stdout, proc.stderr[-3000:]
    stopping = [line for line in proc.stderr.splitlines() if "EVENT=kiosk_stopping" in line]
    assert len(stopping) == 1 and "SIGNAL=TERM" in stopping[0], proc.stderr[-3000:]
    assert "STOPPING=1" in messages
