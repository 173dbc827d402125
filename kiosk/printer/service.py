"""Printing receipts without ever blocking the session.

``ReceiptService.submit(receipt, on_done)`` queues the job and returns at
once.  One worker thread renders the receipt, asks the printer for its status
(DLE EOT), sends the raster and the cut, and calls ``on_done(PrintResult)``
from that thread.  A watchdog reports "timeout" if the printer I/O does not
finish within its budget, even when a device write never returns.

Paper out, offline and timeouts raise the matching service condition on the
bus (the LEDs show it) and write a ``printer_error`` journal event; the next
good status clears it (``printer_recovered``).  While a condition is active
the worker re-checks the printer every ``poll_seconds`` so the light goes out
when the technician has fixed it, without waiting for the next resident.

A job may carry a ``tag`` (the session tags each resident's slips);
``cancel(tag)`` drops that tag's jobs that have not started, so behind a slow
or stuck printer one resident's slip never prints after they left.  Their
``on_done`` gets ``PrintResult(False, "cancelled")`` at once, from the thread
that cancelled.  A job already printing is not interrupted.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from kiosk import journal
from kiosk.config import Config, PrinterSection
from kiosk.printer import backend
from kiosk.signals import Bus, ServiceCondition

if TYPE_CHECKING:
    from escpos.escpos import Escpos

CODES = ("paper_out", "offline", "timeout", "error", "cancelled")
CONDITIONS = {"paper_out": ServiceCondition.PRINTER_PAPER_OUT,
              "offline": ServiceCondition.PRINTER_OFFLINE,
              "timeout": ServiceCondition.PRINTER_OFFLINE}
# A slow printer takes seconds to accept a whole receipt; a USB write's timeout
# covers one call, so the raster goes out in pieces.
WRITE_CHUNK = 4096


@dataclass(frozen=True)
class PrintResult:
    ok: bool
    code: str | None = None          # None when ok; else one of CODES
    bytes_sent: int = 0


OnDone = Callable[[PrintResult], None]


class _Job:
    def __init__(self, receipt, on_done: OnDone | None, tag=None):
        self.receipt = receipt
        self.on_done = on_done
        self.tag = tag
        self._lock = threading.Lock()
        self.done = False

    def finish(self, result: PrintResult) -> bool:
        """Deliver the result once (the watchdog and the worker may race)."""
        with self._lock:
            if self.done:
                return False
            self.done = True
        if self.on_done is not None:
            try:
                self.on_done(result)
            except Exception as exc:      # noqa: BLE001 - the caller's callback must not kill the worker
                journal.log_swallowed("printer.on_done", exc)
        return True


_STOP = object()


class ReceiptService:
    def __init__(self, printer_cfg: PrinterSection, bus: Bus | None = None, *,
                 open_printer: Callable[[], Escpos] | None = None,
                 poll_seconds: float = 30.0, io_budget: float | None = None):
        self.cfg = printer_cfg
        self.bus = bus
        self.available = open_printer is not None or printer_cfg.backend != "none"
        self._open = open_printer or (lambda: backend.open_printer(printer_cfg))
        self.poll_seconds = poll_seconds
        # Status reads and writes each have the backend timeout; allow a few of them.
        self.io_budget = io_budget if io_budget is not None else 4 * printer_cfg.timeout + 5.0
        self._jobs: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._current: _Job | None = None
        self._queued: set[_Job] = set()       # submitted, not started: what cancel() can drop
        self._stuck = False
        self.condition: ServiceCondition | None = None
        self._near_end = False

    @classmethod
    def from_config(cls, cfg: Config, bus: Bus | None = None, **kwargs) -> "ReceiptService":
        return cls(cfg.printer, bus, **kwargs)

    # -- API ----------------------------------------------------------------------------
    def submit(self, receipt, on_done: OnDone | None = None, tag=None) -> None:
        """Queue ``receipt`` for printing; returns at once.  ``on_done`` runs in a worker thread.
        ``tag`` names whose slip it is, for ``cancel``."""
        job = _Job(receipt, on_done, tag)
        if self._stuck:                       # the device is hung in a write: fail fast
            threading.Thread(target=job.finish, args=(PrintResult(False, "timeout"),),
                             daemon=True).start()
            return
        self._ensure_worker()
        with self._lock:
            self._queued.add(job)
        self._jobs.put(job)

    def cancel(self, tag) -> int:
        """Drop the jobs tagged ``tag`` that have not started; returns how many."""
        with self._lock:
            dropped = [job for job in self._queued if job.tag == tag]
            self._queued.difference_update(dropped)
        for job in dropped:
            job.finish(PrintResult(False, "cancelled"))
        return len(dropped)

    def check(self, on_done: OnDone | None = None) -> None:
        """Queue a status check (no printing); ``on_done`` gets ok=True when it could print."""
        self.submit(None, on_done)

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._jobs.put(_STOP)
            thread.join(timeout)

    # -- worker -------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="receipt-printer", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self.poll_seconds if self.condition else None)
            except queue.Empty:
                self._run(_Job(None, None))   # periodic re-check while a fault is shown
                continue
            if job is _STOP:
                return
            with self._lock:
                if job not in self._queued:
                    continue                  # cancelled while it waited
                self._queued.discard(job)
            self._run(job)

    def _run(self, job: _Job) -> None:
        if not self.available:
            job.finish(PrintResult(False, "offline"))
            return
        kind = getattr(job.receipt, "kind", "status")
        data = b""
        if job.receipt is not None:
            try:
                data = backend.encode(job.receipt.render(self.cfg.width_dots), self.cfg.profile,
                                      self.cfg.width_dots)
            except Exception as exc:      # noqa: BLE001 - any render fault is a failed slip, journaled
                self._fault("error", kind, type(exc).__name__)
                job.finish(PrintResult(False, "error"))
                return
        watchdog = threading.Timer(self.io_budget, self._expire, (job, kind))
        watchdog.daemon = True
        watchdog.start()
        try:
            code = self._print(data)
        finally:
            watchdog.cancel()
            self._stuck = False
        if code is None:
            self._recovered()
            if data:
                journal.log_event("receipt_printed", "receipt printed", PRINTER=self.cfg.backend,
                                  RECEIPT=kind, BYTES=len(data), WIDTH=self.cfg.width_dots)
            job.finish(PrintResult(True, None, len(data)))
        else:
            self._fault(code, kind)
            job.finish(PrintResult(False, code))

    def _print(self, data: bytes) -> str | None:
        """Status, raster, cut, status again.  Returns None or a failure code."""
        printer = None
        try:
            printer = self._open()
            status = backend.read_status(printer)
            self._note_near_end(status.near_end)
            if status.code or not data:
                return status.code
            for start in range(0, len(data), WRITE_CHUNK):   # each write gets its own timeout
                printer._raw(data[start:start + WRITE_CHUNK])
            after = backend.read_status(printer)     # a paper end during the job: not confirmed
            return after.code if after.code == "paper_out" else None
        except Exception as exc:          # noqa: BLE001 - classified into a code the caller journals
            return _classify(exc)
        finally:
            if printer is not None:
                try:
                    printer.close()
                except Exception as exc:  # noqa: BLE001 - escpos/usb/serial close faults vary; journaled
                    journal.log_swallowed("printer.close", exc, journal.INFO)

    def _expire(self, job: _Job, kind: str) -> None:
        self._stuck = True
        if job.finish(PrintResult(False, "timeout")):
            self._fault("timeout", kind)

    # -- service state ------------------------------------------------------------------
    def _fault(self, code: str, kind: str, detail: str = "") -> None:
        journal.log_event("printer_error", f"receipt printer: {code}", journal.ERR,
                          ERROR_CODE=code, PRINTER=self.cfg.backend, RECEIPT=kind, DETAIL=detail or None)
        cond = CONDITIONS.get(code)
        if cond is None:
            return
        with self._lock:
            previous, self.condition = self.condition, cond
        if self.bus is not None:
            if previous is not None and previous != cond:
                self.bus.service(previous, False)
            if previous != cond:
                self.bus.service(cond, True, detail=code)

    def _recovered(self) -> None:
        with self._lock:
            previous, self.condition = self.condition, None
        if previous is None:
            return
        journal.log_event("printer_recovered", "receipt printer is back", journal.NOTICE,
                          PRINTER=self.cfg.backend, CONDITION=previous.value)
        if self.bus is not None:
            self.bus.service(previous, False)

    def _note_near_end(self, near_end: bool) -> None:
        if near_end and not self._near_end:
            journal.log_event("printer_error", "receipt paper near end", journal.WARNING,
                              ERROR_CODE="paper_near_end", PRINTER=self.cfg.backend)
        self._near_end = near_end


def _classify(exc: Exception) -> str:
    """Map a backend exception to a result code."""
    name = type(exc).__name__.lower()
    if isinstance(exc, TimeoutError) or "timeout" in name or "timed out" in str(exc).lower():
        return "timeout"
    try:
        from escpos.exceptions import DeviceNotFoundError
        if isinstance(exc, DeviceNotFoundError):
            return "offline"
    except ImportError:
        pass
    if isinstance(exc, (OSError, ConnectionError)) or "usberror" in name or "serialexception" in name:
        return "offline"
    return "error"
