"""ReceiptService and the backends: bytes on the wire, status bytes, faults, never blocking."""

from __future__ import annotations

import socket
import threading

import pytest
from escpos.printer import Dummy

from kiosk.config import Config, PrinterSection
from kiosk.errors import ConfigError
from kiosk.printer import backend
from kiosk.printer.receipt import build_receipt
from kiosk.printer.service import PrintResult, ReceiptService
from kiosk.signals import Bus

ONLINE, PAPER = backend.DLE_EOT_PRINTER, backend.DLE_EOT_PAPER
READY = {ONLINE: b"\x12", PAPER: b"\x12"}
GS_V0, CUT = b"\x1dv0", b"\x1dV"


def rasters(data: bytes) -> list[tuple[int, int]]:
    """(width in dots, height) of every GS v 0 image in an ESC/POS stream."""
    out, i = [], data.find(GS_V0)
    while i >= 0:
        xl, xh, yl, yh = data[i + 4:i + 8]
        width_bytes, height = xl + 256 * xh, yl + 256 * yh
        out.append((width_bytes * 8, height))
        i = data.find(GS_V0, i + 8 + width_bytes * height)
    return out


class Waiter:
    def __init__(self):
        self.done = threading.Event()
        self.results: list[PrintResult] = []

    def __call__(self, result: PrintResult) -> None:
        self.results.append(result)
        self.done.set()

    def result(self, timeout: float = 20.0) -> PrintResult:
        assert self.done.wait(timeout), "on_done was never called"
        return self.results[0]


def cfg_with(**printer) -> Config:
    cfg = Config()
    for key, value in printer.items():
        setattr(cfg.printer, key, value)
    return cfg


@pytest.mark.parametrize("width", (384, 576))
def test_dummy_printer_gets_a_gs_v_0_raster_of_the_width_and_a_cut(width):
    cfg = cfg_with(backend="dummy", width_dots=width)
    receipt = build_receipt("test", "ja", cfg)
    printer = Dummy()
    svc = ReceiptService.from_config(cfg, Bus(), open_printer=lambda: printer)
    done = Waiter()
    svc.submit(receipt, done)
    result = done.result()
    assert result.ok and result.code is None and result.bytes_sent > 1000
    data = printer.output
    images = rasters(data)
    assert images and all(w == width for w, _ in images)
    assert sum(h for _, h in images) == receipt.render(width).height
    assert data.endswith(CUT + b"\x00")
    assert data.startswith(b"\x1b@")     # a plain Dummy cannot answer, so it is never asked
    svc.close()


def test_dummy_backend_from_the_config():
    svc = ReceiptService.from_config(cfg_with(backend="dummy"), Bus())
    assert svc.available
    done = Waiter()
    svc.submit(build_receipt("lost_card", "en", Config()), done)
    assert done.result().ok and done.result().bytes_sent > 1000
    svc.close()


class PrinterServer:
    """A TCP 'printer' on 127.0.0.1 that collects bytes and answers DLE EOT (or stays silent)."""

    def __init__(self, answers: dict[bytes, bytes] | None):
        self.answers = answers
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.data = bytearray()
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    self.data += chunk
                    if self.answers and chunk.endswith((ONLINE, PAPER)):
                        conn.sendall(self.answers[bytes(chunk[-3:])])
            self.closed.set()

    def close(self):
        self.sock.close()


def test_network_printer_bytes_reach_a_local_tcp_server():
    server = PrinterServer(READY)
    cfg = cfg_with(backend="network", network=f"127.0.0.1:{server.port}", timeout=2.0, width_dots=384)
    svc = ReceiptService.from_config(cfg, Bus())
    done = Waiter()
    svc.submit(build_receipt("pin_status", "ko", cfg), done)
    result = done.result()
    assert result == PrintResult(True, None, result.bytes_sent)
    assert server.closed.wait(10)
    data = bytes(server.data)
    assert data.startswith(ONLINE + PAPER)           # status first, never inside the raster
    assert rasters(data) and all(w == 384 for w, _ in rasters(data)) and CUT in data
    svc.close()
    server.close()


def test_network_printer_that_never_answers_is_a_timeout(bus_recorder, journal_records):
    bus, recorder = bus_recorder
    server = PrinterServer(None)
    cfg = cfg_with(backend="network", network=f"127.0.0.1:{server.port}", timeout=0.2)
    svc = ReceiptService.from_config(cfg, bus)
    done = Waiter()
    svc.submit(build_receipt("test", "en", cfg), done)
    assert done.result() == PrintResult(False, "timeout")
    assert recorder.wait_for(("printer_offline", True))
    assert GS_V0 not in bytes(server.data)            # nothing printed into a silent printer
    assert any(r["EVENT"] == "printer_error" and r["ERROR_CODE"] == "timeout" for r in journal_records)
    svc.close()
    server.close()


def test_network_printer_not_listening_is_offline():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    cfg = cfg_with(backend="network", network=f"127.0.0.1:{port}", timeout=1.0)
    svc = ReceiptService.from_config(cfg, Bus())
    done = Waiter()
    svc.submit(build_receipt("test", "en", cfg), done)
    assert done.result() == PrintResult(False, "offline")
    svc.close()


def test_file_printer_bytes_land_in_the_file(tmp_path):
    out = tmp_path / "lp0"
    out.write_bytes(b"")
    cfg = cfg_with(backend="file", file=str(out), width_dots=576)
    svc = ReceiptService.from_config(cfg, Bus())
    done = Waiter()
    svc.submit(build_receipt("renewal", "zh", cfg), done)
    result = done.result()
    assert result.ok
    data = out.read_bytes()
    assert len(data) == result.bytes_sent and rasters(data)[0][0] == 576 and CUT in data
    assert data.startswith(b"\x1b@")
    svc.close()


@pytest.mark.parametrize("answers, code, condition", [
    ({ONLINE: b"\x1a", PAPER: b"\x72"}, "paper_out", "printer_paper_out"),    # offline because paper end
    ({ONLINE: b"\x12", PAPER: b"\x72"}, "paper_out", "printer_paper_out"),
    ({ONLINE: b"\x1a", PAPER: b"\x12"}, "offline", "printer_offline"),        # cover open, etc.
    ({}, "timeout", "printer_offline"),                                      # no answer at all
    ({ONLINE: b"\xff", PAPER: b"\xff"}, "timeout", "printer_offline"),       # not a status byte
    ({ONLINE: b"\x12"}, "timeout", "printer_offline"),                       # paper sensor silent
])
def test_faults_from_status_bytes_light_the_service_state_without_blocking(
        answers, code, condition, status_printer, bus_recorder, journal_records):
    bus, recorder = bus_recorder
    gate = threading.Event()
    printer = status_printer(answers, gate)
    svc = ReceiptService.from_config(cfg_with(backend="dummy"), bus, open_printer=lambda: printer)
    done = Waiter()
    svc.submit(build_receipt("pin_status", "ja", Config()), done)
    # submit() has returned while the printer has not even answered yet: the session goes on.
    assert not done.done.is_set()
    gate.set()
    assert done.result() == PrintResult(False, code)
    assert recorder.wait_for((condition, True))
    assert GS_V0 not in printer.output
    errors = [r for r in journal_records if r["EVENT"] == "printer_error"]
    assert errors and errors[0]["ERROR_CODE"] == code and errors[0]["PRIORITY"] == 3
    svc.close()


def test_recovery_clears_the_service_state(status_printer, bus_recorder, journal_records):
    bus, recorder = bus_recorder
    printer = status_printer({ONLINE: b"\x1a", PAPER: b"\x72"})
    svc = ReceiptService.from_config(cfg_with(backend="dummy"), bus, open_printer=lambda: printer)
    first = Waiter()
    svc.submit(build_receipt("test", "ja", Config()), first)
    assert first.result().code == "paper_out"
    printer.answers = dict(READY)                      # the technician loaded paper
    check = Waiter()
    svc.check(check)
    assert check.result() == PrintResult(True, None, 0)
    assert recorder.wait_for(("printer_paper_out", False))
    assert any(r["EVENT"] == "printer_recovered" for r in journal_records)
    again = Waiter()
    svc.submit(build_receipt("test", "ja", Config()), again)
    assert again.result().ok and GS_V0 in printer.output
    svc.close()


def test_poll_clears_the_state_without_a_new_receipt(status_printer, bus_recorder):
    bus, recorder = bus_recorder
    printer = status_printer({ONLINE: b"\x1a", PAPER: b"\x12"})
    svc = ReceiptService.from_config(cfg_with(backend="dummy"), bus, open_printer=lambda: printer,
                                     poll_seconds=0.05)
    first = Waiter()
    svc.submit(build_receipt("test", "en", Config()), first)
    assert first.result().code == "offline"
    printer.answers = dict(READY)
    assert recorder.wait_for(("printer_offline", False))
    svc.close()


def test_paper_near_end_prints_and_warns_the_technician(status_printer, journal_records):
    printer = status_printer({ONLINE: b"\x12", PAPER: b"\x1e"})
    svc = ReceiptService.from_config(cfg_with(backend="dummy"), Bus(), open_printer=lambda: printer)
    done = Waiter()
    svc.submit(build_receipt("test", "en", Config()), done)
    assert done.result().ok
    assert any(r.get("ERROR_CODE") == "paper_near_end" and r["PRIORITY"] == 4 for r in journal_records)
    svc.close()


def test_a_write_that_never_returns_is_reported_as_timeout(bus_recorder):
    bus, recorder = bus_recorder
    release = threading.Event()

    class HungPrinter(Dummy):
        def _raw(self, msg):
            if GS_V0 in msg:
                release.wait(30)             # a jammed device: the write does not come back
            super()._raw(msg)

    svc = ReceiptService.from_config(cfg_with(backend="dummy"), bus, open_printer=HungPrinter,
                                     io_budget=0.3)
    done = Waiter()
    svc.submit(build_receipt("test", "en", Config()), done)
    assert done.result() == PrintResult(False, "timeout")
    assert recorder.wait_for(("printer_offline", True))
    second = Waiter()
    svc.submit(build_receipt("test", "en", Config()), second)     # fails fast while the device hangs
    assert second.result() == PrintResult(False, "timeout")
    release.set()
    svc.close()


def test_backend_none_is_unavailable_and_says_so():
    svc = ReceiptService.from_config(Config(), Bus())
    assert not svc.available
    done = Waiter()
    svc.submit(build_receipt("test", "en", Config()), done)
    assert done.result() == PrintResult(False, "offline")
    svc.close()


def test_on_done_runs_even_when_rendering_fails(journal_records):
    class Broken:
        kind = "test"

        def render(self, width):
            raise RuntimeError("boom")

    svc = ReceiptService.from_config(cfg_with(backend="dummy"), Bus())
    done = Waiter()
    svc.submit(Broken(), done)
    assert done.result() == PrintResult(False, "error")
    assert any(r.get("ERROR_CODE") == "error" for r in journal_records)
    svc.close()


def test_usb_and_serial_get_finite_timeouts_and_open_lazily():
    usb = backend.open_printer(PrinterSection(backend="usb", usb="04b8:0202", timeout=5.0))
    assert usb.timeout == 5000                      # pyusb milliseconds; 0 would mean forever
    assert usb.usb_args == {"idVendor": 0x04B8, "idProduct": 0x0202}
    serial = backend.open_printer(PrinterSection(backend="serial", serial="/dev/ttyUSB9", timeout=1.5))
    assert serial.timeout == 1.5 and serial.devfile == "/dev/ttyUSB9"
    assert usb.profile.profile_data["media"]["width"]["pixels"] == 576


def test_unknown_profile_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        backend.open_printer(PrinterSection(backend="dummy", profile="NoSuchPrinter"))
    assert err.value.details["key"] == "printer.profile"


def test_width_override_does_not_leak_into_the_shared_profile():
    backend.make_profile("TM-T88V", 384)
    from escpos.capabilities import get_profile
    assert get_profile("TM-T88V").profile_data["media"]["width"]["pixels"] == 512
