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

A second bench in another process (another test run) waits on a machine-wide
file lock until the first one stops; a second bench in the same process fails
at once (stop the first: e.g. a module-scoped bench must stop before the
session-scoped one in tests/readers starts).

API: ``start() -> self``, ``stop()``, ``stop_pcscd()`` (keeps the bench lock),
``restart_pcscd()``, ``reader_name``, ``uri``,
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

import fcntl
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
from kiosk.testing.timing import scaled

ROOT = Path(__file__).resolve().parents[2]
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
PID_FILE = Path("/run/pcscd/pcscd.pid")
SOCKET = Path("/run/pcscd/pcscd.comm")
LOCK_FILE = Path("/tmp/kiosk-pcscd-bench.lock")
_holder: "PcscBench | None" = None          # the bench holding LOCK_FILE in this process
FRIENDLY_NAME = "Kiosk Test VPCD"
DEFAULT_PORT = 0x9C7B
READY_LINE = "daemon ready"


def wait_state(reader: str, want: int, timeout: float | None = None, min_events: int | None = None) -> int:
    """Block in SCardGetStatusChange until ``reader``'s state has a bit of ``want``.

    ``want`` is e.g. SCARD_STATE_PRESENT or SCARD_STATE_EMPTY.  With
    ``min_events``, also wait until pcscd's event counter (the upper 16 bits
    of the state) reaches it.  Returns the event state; raises TimeoutError.
    """
    from smartcard import scard
    timeout = scaled(5.0) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    ctx = _context(deadline)
    try:
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


def _context(deadline: float) -> int:
    """A PC/SC context.  Right after start pcscd may have created its socket
    but not be listening yet (it logs "daemon ready" first), so a refused
    connection is retried briefly; a pcscd that is really gone fails at the deadline."""
    from smartcard import scard
    pause = threading.Event()
    while True:
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr == scard.SCARD_S_SUCCESS:
            return ctx
        if time.monotonic() > deadline or not SOCKET.exists():
            raise RuntimeError(f"pcscd is not running ({scard.SCardGetErrorMessage(hr)})")
        pause.wait(0.01)


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
                 friendly_name: str = FRIENDLY_NAME, timeout: float = 10.0,
                 wait_for_other: float = 120.0):
        self.port = port
        self.wait_for_other = wait_for_other
        self._lock_fd: int | None = None
        self.friendly_name = friendly_name
        self.timeout = scaled(timeout)       # KIOSK_TIME_FACTOR: a slow CPU (kiosk/testing/timing.py)
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

    def _lock(self) -> None:
        """Hold the machine-wide bench lock while our pcscd runs: a second bench
        (another test run, any workdir) waits here instead of fighting over the
        one pcscd a machine can have.  The kernel drops the lock if we die."""
        global _holder
        if _holder is not None and _holder is not self:
            raise RuntimeError(f"a PcscBench ({_holder.reader_name}) is already running in this "
                               "process; stop it first (one pcscd per machine)")
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.wait_for_other
        pause = threading.Event()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise RuntimeError("another PcscBench holds the pcscd bench lock") from None
                pause.wait(0.1)            # no event exists for another process's flock
        self._lock_fd = fd
        _holder = self

    def _unlock(self) -> None:
        global _holder
        if self._lock_fd is not None:
            os.close(self._lock_fd)          # releases the flock
            self._lock_fd = None
            _holder = None

    def _stop_stale(self) -> None:
        """Make room for our pcscd (called with the bench lock held).

        A bench's pcscd (``-c .../pcscd*/conf``) belongs to a bench that died
        (it no longer holds the lock): it is killed.  Any other pcscd (a system one)
        is waited for, up to ``wait_for_other`` seconds, then reported.
        """
        pid = running_pcscd()
        if pid is not None and not _zombie(pid) and _is_pcscd(pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                cmdline = []
            if _bench_pcscd(cmdline):
                os.kill(pid, signal.SIGKILL)
            if not _wait_pid_gone(pid, self.wait_for_other):
                raise RuntimeError(f"another pcscd (pid {pid}) is running; stop it first "
                                   "(only one pcscd can run per machine)")
        # Dead, dead but not reaped (a container's PID 1 may reap late), or the
        # pid now belongs to something else: pcscd would still take the files
        # for a live daemon and refuse to start.
        for leftover in (PID_FILE, SOCKET):
            leftover.unlink(missing_ok=True)

    def start(self) -> "PcscBench":
        if self.proc is not None:
            return self
        if not Path(VPCD_DRIVER).exists():
            raise RuntimeError(f"{VPCD_DRIVER} missing: apt-get install vsmartcard-vpcd")
        if self._lock_fd is None:
            self._lock()
        try:
            self._stop_stale()
        except BaseException:
            self._unlock()
            raise
        self._write_conf()
        self._events_before = None
        ready = threading.Event()            # one per process: an old pump must not set it
        watch = _SocketWatch(SOCKET.parent)    # before pcscd starts, so its socket cannot be missed
        pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
        self.proc = subprocess.Popen([pcscd, "--foreground", "--info", "-c", str(self.conf_dir)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        threading.Thread(target=self._pump_log, args=(self.proc, ready), daemon=True,
                         name="pcscd-log").start()
        try:
            if not ready.wait(self.timeout) or self.proc.poll() is not None:
                raise RuntimeError(f"pcscd did not start; see {self.log_path}")
            # pcscd 1.9 logs "daemon ready" before it creates its socket.
            if not watch.wait_for(SOCKET.name, self.timeout):
                raise RuntimeError(f"pcscd did not create {SOCKET}; see {self.log_path}")
            wait_state(self.reader_name, _scard().SCARD_STATE_EMPTY | _scard().SCARD_STATE_PRESENT,
                       self.timeout)
        except BaseException:
            self.stop()                        # never leave an orphan pcscd behind
            raise
        finally:
            watch.close()
        return self

    def _pump_log(self, proc: subprocess.Popen, ready: threading.Event) -> None:
        assert proc.stdout is not None, "started with stdout=PIPE"
        with open(self.log_path, "ab") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if READY_LINE.encode() in line:
                    ready.set()
        ready.set()                         # exited: wake start() so it can report

    def stop(self) -> None:
        """Remove the card, stop pcscd (waiting until its pid is gone) and free the bench."""
        try:
            self.stop_pcscd()
        finally:
            self._unlock()

    def stop_pcscd(self) -> None:
        """Remove the card and stop pcscd, keeping the bench (``start()`` brings it back)."""
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
        self.stop_pcscd()
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


def _wait_pid_gone(pid: int, timeout: float) -> bool:
    """Wait for a pid we did not spawn to exit (pidfd: no polling).  True when gone."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable) or _zombie(pid)
    finally:
        os.close(fd)


def _bench_pcscd(cmdline: list[bytes]) -> bool:
    """Started by a PcscBench: ``pcscd ... -c <workdir>/conf`` with a workdir named pcscd*."""
    if b"-c" not in cmdline:
        return False
    index = cmdline.index(b"-c") + 1
    conf = Path(cmdline[index].decode(errors="replace")) if index < len(cmdline) else Path()
    return conf.name == "conf" and conf.parent.name.startswith("pcscd")


class _SocketWatch:
    """inotify on a directory: wait for a file to appear without polling."""

    IN_CREATE, IN_MOVED_TO = 0x100, 0x80

    def __init__(self, directory: Path):
        import ctypes
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or self._libc.inotify_add_watch(
                self.fd, str(directory).encode(), self.IN_CREATE | self.IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify")

    def wait_for(self, name: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not (self.directory / name).exists():
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return (self.directory / name).exists()
            try:
                os.read(self.fd, 4096)
            except BlockingIOError:
                pass
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
