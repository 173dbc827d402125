"""kiosk.service under real systemd 252 (in systemd-nspawn), installed by deploy/install.sh."""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import threading

import pytest

from kiosk import journal
from kiosk.printer import backend

from tests.systemd_bench.conftest import BENCH_CONFIG, DUMMY_DISPLAY, UNIT

# The first test also pays for booting the container and running install.sh (minutes on a
# loaded 2-core machine); `-m "not systemd"` leaves the bench out.
pytestmark = [pytest.mark.systemd, pytest.mark.timeout(900)]


def test_ready_after_the_first_frame(bench):
    cursor = bench.restart()
    props = bench.c.show(UNIT, "ActiveState", "SubState", "StatusText", "Type", "NotifyAccess")
    assert props["ActiveState"] == "active" and props["SubState"] == "running"
    assert props["StatusText"].startswith("ready")
    started = bench.c.wait_journal({"EVENT": "kiosk_started", "SYSLOG_IDENTIFIER": "kiosk"}, after=cursor)
    assert started["DRIVER"] == "dummy" and started["READER"] == "sim" and started["SIZE"] == "800x480"
    assert started["_SYSTEMD_UNIT"] == UNIT and started["MESSAGE_ID"] == journal.EVENTS["kiosk_started"]
    # The sandbox denies adjtimex (ProtectClock), so the kiosk trusts timesyncd's marker; timesyncd
    # is masked in the bench, so the clock is not synchronised...
    clock = bench.c.wait_journal({"EVENT": "clock_unsynchronized"}, after=cursor)
    assert clock["CLOCK_SOURCE"] == "timesyncd"
    bench.c.wait_property(UNIT, "StatusText", lambda v: "clock_unsynchronized" in v, timeout=30)
    # ...until timesyncd says it synchronised: journal, then STATUS follow on an idle kiosk.
    bench.c.write("/run/systemd/timesync/synchronized", "")
    bench.c.wait_journal({"EVENT": "clock_synchronized"}, after=cursor, timeout=30)
    bench.c.wait_property(UNIT, "StatusText", lambda v: v == "ready", timeout=30)
    bench.c.host_path("/run/systemd/timesync/synchronized").unlink()
    # Metrics, written by the sandboxed kiosk where the node exporter reads them.
    prom = bench.c.host_path("/run/kiosk/metrics/kiosk.prom")
    assert 'kiosk_id="bench-01"} 1' in prom.read_text() and oct(prom.stat().st_mode)[-3:] == "644"


def _watchdog(sec: int) -> str:
    return DUMMY_DISPLAY + f"WatchdogSec={sec}s\n"


def test_status_names_the_service_condition_and_stop_sends_stopping(bench):
    bad = BENCH_CONFIG.replace('driver = "auto"', 'driver = "fbcon"')
    cursor = bench.restart(config=bad)
    status = bench.c.wait_property(UNIT, "StatusText", lambda v: "config_error" in v, timeout=30)
    assert status.startswith("service needed: ") and "config_error" in status.split(": ", 1)[1]
    bench.c.systemctl("stop", UNIT)
    stopping = bench.c.wait_journal({"EVENT": "kiosk_stopping"}, after=cursor)
    assert stopping["SIGNAL"] == "TERM" and stopping["_SYSTEMD_UNIT"] == UNIT
    props = bench.c.show(UNIT, "Result", "ActiveState")
    assert props == {"Result": "success", "ActiveState": "inactive"}
    # and back to a plain ready kiosk
    bench.restart()
    assert bench.c.show(UNIT, "StatusText")["StatusText"].split(";")[0] == "ready"


def test_watchdog_restarts_a_stopped_kiosk(bench):
    cursor = bench.restart(dropin=_watchdog(3))
    pid = bench.c.main_pid(UNIT)
    os.kill(bench.c.host_pid(pid), signal.SIGSTOP)
    bench.c.wait_journal(lambda r: "Watchdog timeout" in str(r.get("MESSAGE", "")), timeout=30, after=cursor)
    bench.c.wait_property(UNIT, "NRestarts", lambda v: int(v or 0) >= 1, timeout=60)
    bench.c.wait_property(UNIT, "ActiveState", lambda v: v == "active", timeout=60)
    assert bench.c.main_pid(UNIT) not in (0, pid)
    assert bench.c.show(UNIT, "StatusText")["StatusText"].split(";")[0] == "ready"


def test_no_display_waits_without_restarting(bench):
    no_display = BENCH_CONFIG.replace('driver = "auto"', 'driver = "kmsdrm"\nfullscreen = true')
    cursor = bench.restart(config=no_display, dropin="[Service]\nWatchdogSec=3s\n")
    # READY=1 came (systemctl start returned), with an honest STATUS.
    props = bench.c.show(UNIT, "ActiveState", "StatusText", "NRestarts", "MainPID")
    assert props["ActiveState"] == "active"
    assert props["StatusText"].startswith("waiting for a display: no_display_device")
    event = bench.c.wait_journal({"EVENT": "display_missing"}, after=cursor)
    assert event["ERROR_CODE"] == "no_display_device" and event["DRIVER"] == "kmsdrm"
    assert event["PRIORITY"] == "3"
    # The uevent monitor opens inside the sandbox (AF_NETLINK allowed, pyudev installed):
    # no udevd in the container, so it listens to the kernel's uevents.
    assert event["HOTPLUG"] in ("udev", "kernel"), event["HOTPLUG"]
    # The waiting loop feeds the watchdog: pings keep coming for several WatchdogSec.
    first = int(bench.c.show(UNIT, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
    bench.c.wait_property(UNIT, "WatchdogTimestampMonotonic", lambda v: int(v) > first + 9_000_000, timeout=30)
    after = bench.c.show(UNIT, "ActiveState", "NRestarts", "MainPID")
    assert after == {"ActiveState": "active", "NRestarts": props["NRestarts"], "MainPID": props["MainPID"]}
    # kiosk status sees the condition through the state file.
    state = json.loads(bench.c.read("/run/kiosk/state.json"))
    assert state["service_needed"] == ["no_display"] or "no_display" in state["service_needed"]
    bench.restart()


def test_sandbox_holds_in_the_running_kiosk(bench):
    bench.restart()
    pid = bench.c.host_pid(bench.c.main_pid(UNIT))
    status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    assert status["NoNewPrivs"].strip() == "1"
    assert int(status["CapEff"].strip(), 16) == 0 and int(status["CapBnd"].strip(), 16) == 0
    assert status["Seccomp"].strip() == "2"
    groups = bench.c.run(["id", "-nG", "kiosk"]).stdout.split()
    assert "audio" in groups
    props = bench.c.show(UNIT, "User", "ProtectSystem", "PrivateTmp", "DevicePolicy", "IPAddressDeny",
                         "RestrictAddressFamilies", "SupplementaryGroups", "DeviceAllow")
    assert props["User"] == "kiosk" and props["ProtectSystem"] == "strict" and props["PrivateTmp"] == "yes"
    devices = bench.c.systemctl("show", UNIT, "-p", "DeviceAllow", "--value").stdout.splitlines()
    assert props["DevicePolicy"] == "closed" and "char-alsa rw" in devices and "char-drm rw" in devices
    assert "audio" in props["SupplementaryGroups"].split()
    # The kiosk's own view of the file system: / is read-only, /run/kiosk writable.
    probe = bench.c.run(["systemd-run", "--wait", "--pipe", "--collect", "-p", "User=kiosk",
                         "-p", "ProtectSystem=strict", "-p", "RuntimeDirectory=kiosk-probe",
                         "/bin/sh", "-c", "touch /etc/x 2>/dev/null && echo writable || echo readonly"])
    assert probe.stdout.strip() == "readonly"
    # No warnings at start about the configuration directory's mode.
    assert not [r for r in bench.c.journal("-u", UNIT) if "ConfigurationDirectoryMode" in str(r.get("MESSAGE"))]


def _local_address() -> str | None:
    """A non-loopback address of this machine (the container shares its network)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))          # no packet is sent for a UDP connect
            return s.getsockname()[0]
        except OSError:
            return None


class _Printer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address):
        self.received = bytearray()
        self.got_raster = threading.Event()

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner):
                while data := inner.request.recv(65536):
                    self.received += data
                    if data.endswith((backend.DLE_EOT_PRINTER, backend.DLE_EOT_PAPER)):
                        inner.request.sendall(b"\x12")       # online, paper adequate
                    if b"\x1dv0" in self.received:
                        self.got_raster.set()
        super().__init__(address, Handler)


def test_print_test_runs_in_the_services_sandbox_and_the_printer_is_allowed_at_start(bench):
    ip = _local_address()
    if ip is None or ip.startswith("127."):
        pytest.skip("no non-loopback address on this machine")
    printer = _Printer((ip, 0))
    threading.Thread(target=printer.serve_forever, daemon=True).start()
    try:
        with_printer = BENCH_CONFIG + f'[printer]\nbackend = "network"\nnetwork = "{ip}:{printer.server_address[1]}"\n'
        # 1. The service runs without the printer in its config: loopback only.  Root's
        #    print-test goes through the service's sandbox, so it is blocked too.
        bench.restart()
        assert ip not in bench.c.show(UNIT, "IPAddressAllow")["IPAddressAllow"]
        bench.c.write("/etc/kiosk/printer.toml", with_printer, 0o640)
        bench.c.run(["chgrp", "kiosk", "/etc/kiosk/printer.toml"])
        blocked = bench.c.run(["kiosk", "print-test", "--json", "--config", "/etc/kiosk/printer.toml"],
                              check=False, timeout=120)
        assert blocked.returncode == 1 and json.loads(blocked.stdout)["ok"] is False, blocked.stderr
        # The BPF firewall refuses or drops the connection: "offline" or "timeout", never printed.
        assert json.loads(blocked.stdout)["code"] in ("offline", "timeout")
        assert "sandbox" in blocked.stderr and not printer.got_raster.is_set()
        # 2. With the printer in kiosk.toml, ExecStartPre allows its address at start.
        bench.restart(config=with_printer)
        assert ip in bench.c.show(UNIT, "IPAddressAllow")["IPAddressAllow"]
        ok = bench.c.run(["kiosk", "print-test", "--json"], check=False, timeout=120)
        assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True, ok.stderr
        assert printer.got_raster.wait(30)
    finally:
        printer.shutdown()
        printer.server_close()
        bench.restart()


# A kiosk that crashes at once, every start (a broken release), with the back-off scaled
# down (1, 2, 4, 4 s) and the start-limit reboot disabled for the bench.
CRASH_LOOP = """\
[Unit]
StartLimitAction=none
StartLimitBurst=50
[Service]
Environment=KIOSK_BACKOFF_BASE_SEC=1 KIOSK_BACKOFF_CAP_SEC=4
RestartSec=1s
ExecStart=
ExecStart=/bin/sh -c 'exit 3'
"""
BACKOFF_STATE = "/var/lib/kiosk/restart-backoff.json"


def test_restarts_back_off_exponentially_and_capped(bench):
    state = bench.c.host_path(BACKOFF_STATE)
    state.unlink(missing_ok=True)
    cursor = bench.restart(dropin=CRASH_LOOP, wait_active=False)
    try:
        bench.c.wait_property(UNIT, "NRestarts", lambda v: int(v or 0) >= 5, timeout=120)
        bench.c.systemctl("stop", UNIT)
        records = bench.c.journal(f"--after-cursor={cursor}")
    finally:
        state.unlink(missing_ok=True)
        bench.restart()
    waits = [r for r in records if r.get("EVENT") == "restart_backoff"]
    assert [(w["COUNT"], w["DELAY_SEC"]) for w in waits[:4]] == [("1", "1"), ("2", "2"), ("3", "4"), ("4", "4")]
    assert all(w["_SYSTEMD_UNIT"] == UNIT for w in waits)
    # Spacing of the crashes, from the journal's monotonic clock: RestartSec + the back-off.
    exits = [int(r["__MONOTONIC_TIMESTAMP"]) / 1e6 for r in records
             if r.get("UNIT") == UNIT and "Main process exited" in str(r.get("MESSAGE"))]
    assert len(exits) >= 5
    gaps = [b - a for a, b in zip(exits, exits[1:])][:4]
    for gap, delay in zip(gaps, (1, 2, 4, 4)):
        assert 1 + delay <= gap < 1 + delay + 5, gaps
    assert gaps[2] > gaps[0] + 2        # it grows


def test_a_clean_stop_resets_the_back_off(bench):
    bench.c.write(BACKOFF_STATE, json.dumps({"failures": 7, "boot_id": bench.c.read(
        "/proc/sys/kernel/random/boot_id").strip(), "started": 0}))
    bench.c.run(["chown", "kiosk:kiosk", BACKOFF_STATE])
    try:
        bench.c.systemctl("stop", UNIT)
        assert json.loads(bench.c.read(BACKOFF_STATE))["failures"] == 0
        cursor = bench.restart()             # no wait: a clean stop is not a failure
        assert not [r for r in bench.c.journal(f"--after-cursor={cursor}") if r.get("EVENT") == "restart_backoff"]
    finally:
        bench.c.host_path(BACKOFF_STATE).unlink(missing_ok=True)
        bench.restart()
