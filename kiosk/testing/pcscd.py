"""A private pcscd with the vpcd driver, serving our simulated card: the PC/SC bench.

Usage (tests share ONE bench per session: only one pcscd can run per machine)::

    from kiosk.testing.pcscd import PcscBench
    bench = PcscBench().start()          # private pcscd, waits for "daemon ready" + the reader
    card = bench.insert("resident")      # -> SimulatedCard, waits until pcscd sees it
    reader = open_reader(bench.uri)      # "pcsc:Kiosk Test VPCD 00 00"
    ...
    bench.remove()                       # waits until pcscd sees the slot empty
    bench.restart_pcscd()                # stop (waits for the pid to die), start again
    bench.stop()

API: ``start() -> self``, ``stop()``, ``restart_pcscd()``, ``reader_name``, ``uri``,
``insert(profile_or_card, faults=None, wait=True) -> SimulatedCard``, ``remove(wait=True)``,
``wait_present()``, ``wait_empty()``, ``server`` (the VpcdCardServer: reinsert, swap,
remove_after), ``card`` (the card in the field).

The config directory is project-local (``.cache/pcscd/conf``) and holds ONLY
the vpcd conf (pcscd parses every file in it), on a non-default port
(0x9C7B = 40059), so the bench never touches /etc.  pcscd runs in the
foreground at info level (never ``-a``: that would log APDUs); its output
goes to ``.cache/pcscd/pcscd.log``.  No sleeps: readiness is read from
pcscd's own log line, card presence from SCardGetStatusChange.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from kiosk.nfc.sim.card import Faults, SimulatedCard
from kiosk.nfc.sim.profile import Profile
from kiosk.nfc.sim.vpcd import VpcdCardServer

ROOT = Path(__file__).resolve().parents[2]
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
PID_FILE = Path("/run/pcscd/pcscd.pid")
FRIENDLY_NAME = "Kiosk Test VPCD"
DEFAULT_PORT = 0x9C7B
READY_LINE = "daemon ready"


def wait_state(reader: str, want: int, timeout: float = 5.0, min_events: int | None = None) -> int:
    """Block in SCardGetStatusChange until ``reader``'s state has a bit of ``want``.

    ``want`` is e.g. SCARD_STATE_PRESENT or SCARD_STATE_EMPTY.  With
    ``min_events``, also wait until pcscd's event counter (the upper 16 bits
    of the state) reaches it.  Returns the event state; raises TimeoutError.
    """
    from smartcard import scard
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        raise RuntimeError(f"pcscd is not running ({scard.SCardGetErrorMessage(hr)})")
    try:
        deadline = time.monotonic() + timeout
        states = [(reader, scard.SCARD_STATE_UNAWARE)]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{reader}: state {want:#x} not reached in {timeout} s")
            hr, new = scard.SCardGetStatusChange(ctx, max(1, int(left * 1000)), states)
            if hr == scard.SCARD_E_TIMEOUT:
                raise TimeoutError(f"{reader}: state {want:#x} not reached in {timeout} s")
            if hr != scard.SCARD_S_SUCCESS:
                raise RuntimeError(f"SCardGetStatusChange: {scard.SCardGetErrorMessage(hr)}")
            event = new[0][1]
            if event & want and (min_events is None or _events(event) >= min_events):
                return event
            states = [(reader, event & ~scard.SCARD_STATE_CHANGED)]
    finally:
        scard.SCardReleaseContext(ctx)


def _events(state: int) -> int:
    """pcsc-lite counts card events in the upper 16 bits of a reader state."""
    return (state >> 16) & 0xFFFF


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def _is_pcscd(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "pcscd"
    except OSError:
        return False


def running_pcscd() -> int | None:
    """The pid of a live pcscd (from its pid file), or None."""
    try:
        text = PID_FILE.read_bytes().replace(b"\0", b"").strip()
        pid = int(text)
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


class PcscBench:
    """A private pcscd + vpcd + our card server.  One per machine at a time."""

    def __init__(self, port: int = DEFAULT_PORT, workdir: str | Path | None = None,
                 friendly_name: str = FRIENDLY_NAME, timeout: float = 10.0):
        self.port = port
        self.friendly_name = friendly_name
        self.timeout = timeout
        self.workdir = Path(workdir) if workdir else ROOT / ".cache" / "pcscd"
        self.conf_dir = self.workdir / "conf"
        self.log_path = self.workdir / "pcscd.log"
        self.reader_name = f"{friendly_name} 00 00"
        self.uri = f"pcsc:{self.reader_name}"
        self.proc: subprocess.Popen | None = None
        self.server = VpcdCardServer("127.0.0.1", port)
        self._events_before: int | None = None     # pcscd's event count before the last insert

    # -- pcscd -------------------------------------------------------------------
    def _write_conf(self) -> None:
        if self.conf_dir.exists():
            shutil.rmtree(self.conf_dir)          # nothing but the vpcd conf may live there
        self.conf_dir.mkdir(parents=True)
        (self.conf_dir / "vpcd").write_text(
            f'FRIENDLYNAME "{self.friendly_name}"\n'
            f"DEVICENAME   /dev/null:{self.port:#06x}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {self.port:#06x}\n")

    def _stop_stale(self) -> None:
        """A pcscd left over from a crashed run of this bench is stopped; any other is an error."""
        pid = running_pcscd()
        if pid is None or _zombie(pid) or not _is_pcscd(pid):
            # Dead, dead but not reaped (a container's PID 1 may reap late), or
            # the pid now belongs to something else: pcscd would still take
            # it for a live daemon and refuse to start, so clear its files.
            for leftover in (PID_FILE, PID_FILE.with_name("pcscd.comm")):
                leftover.unlink(missing_ok=True)
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            cmdline = []
        if str(self.conf_dir).encode() not in cmdline:
            raise RuntimeError(f"another pcscd (pid {pid}) is running; stop it first "
                               "(only one pcscd can run per machine)")
        os.kill(pid, signal.SIGKILL)
        _wait_pid_gone(pid, self.timeout)
        for leftover in (PID_FILE, PID_FILE.with_name("pcscd.comm")):
            leftover.unlink(missing_ok=True)

    def start(self) -> "PcscBench":
        if self.proc is not None:
            return self
        if not Path(VPCD_DRIVER).exists():
            raise RuntimeError(f"{VPCD_DRIVER} missing: apt-get install vsmartcard-vpcd")
        self._stop_stale()
        self._write_conf()
        self._events_before = None
        ready = threading.Event()            # one per process: an old pump must not set it
        self.proc = subprocess.Popen(["pcscd", "--foreground", "--info", "-c", str(self.conf_dir)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        threading.Thread(target=self._pump_log, args=(self.proc, ready), daemon=True,
                         name="pcscd-log").start()
        if not ready.wait(self.timeout):
            self.stop()
            raise RuntimeError(f"pcscd did not become ready; see {self.log_path}")
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            raise RuntimeError(f"pcscd exited at start; see {self.log_path}")
        wait_state(self.reader_name, _scard().SCARD_STATE_EMPTY | _scard().SCARD_STATE_PRESENT,
                   self.timeout)
        return self

    def _pump_log(self, proc: subprocess.Popen, ready: threading.Event) -> None:
        with open(self.log_path, "ab") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if READY_LINE.encode() in line:
                    ready.set()
        ready.set()                         # exited: wake start() so it can report

    def stop(self) -> None:
        """Remove the card, stop pcscd and wait until its pid is gone (~1.4 s)."""
        self.server.remove()
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(self.timeout)

    def restart_pcscd(self) -> None:
        """Stop pcscd and start it again (the card, if any, is re-inserted)."""
        card = self.server.card
        self.stop()
        self.start()
        if card is not None:
            self.insert(card)

    # -- the card -------------------------------------------------------------------
    @property
    def card(self) -> SimulatedCard | None:
        return self.server.card

    def insert(self, what: Profile | str | SimulatedCard, faults: Faults | None = None,
               wait: bool = True) -> SimulatedCard:
        """Put a card on the reader; with ``wait`` return once pcscd reports it present.

        A card already there is taken off first.  A new card is only placed
        once pcscd's poll has seen the previous one gone: vpcd is polled every
        ~0.4 s, and a card that comes back between two polls is never seen
        (after a failed power-down pcscd even keeps showing the slot empty).
        """
        if self.server.card is not None:
            self.server.remove()
        if self._events_before is not None:
            # The previous card's insertion and removal are two more events.
            wait_state(self.reader_name, _scard().SCARD_STATE_EMPTY, self.timeout,
                       min_events=self._events_before + 2)
        self._events_before = _events(self._state())
        card = self.server.insert(what, faults)
        if wait:
            self.wait_present()
        return card

    def _state(self) -> int:
        return wait_state(self.reader_name, 0xFFFFFFFF, self.timeout)

    def remove(self, wait: bool = True) -> None:
        """Take the card off; with ``wait`` return once pcscd's poll saw the slot empty."""
        self.server.remove()
        if wait:
            self.wait_empty()

    def wait_present(self, timeout: float | None = None) -> int:
        return wait_state(self.reader_name, _scard().SCARD_STATE_PRESENT, timeout or self.timeout)

    def wait_empty(self, timeout: float | None = None) -> int:
        """Until pcscd's poll saw the slot empty (not just a failed power-down)."""
        floor = None if self._events_before is None else self._events_before + 2
        return wait_state(self.reader_name, _scard().SCARD_STATE_EMPTY, timeout or self.timeout,
                          min_events=floor)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _scard():
    from smartcard import scard
    return scard


def _wait_pid_gone(pid: int, timeout: float) -> None:
    """Wait for a pid we did not spawn to disappear (pidfd: no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
