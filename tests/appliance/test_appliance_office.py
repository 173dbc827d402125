"""Issue 15 in-process checks: display reasons, the trusted clock, the busy watchdog, metrics."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from kiosk.appliance import timesync
from kiosk.appliance.health import Health
from kiosk.appliance.metrics import MetricsWriter
from kiosk.appliance.notify import StatusReporter, Watchdog
from kiosk.config import Config, ConfigError, parse_config
from kiosk.display.app import DisplayProblem, open_display
from kiosk.signals import Bus, KioskState, ServiceCondition


# -- display -----------------------------------------------------------------------------
def test_no_drm_device_is_named(tmp_path):
    r = open_display((800, 480), "kmsdrm", True, dev_dri=tmp_path)
    assert not r.ok and r.problem is DisplayProblem.NO_DEVICE


def test_missing_kmsdrm_library_is_named(tmp_path):
    from kiosk.appliance import kmsdrm
    (tmp_path / "card0").touch()
    check = lambda dev: kmsdrm.diagnose(dev, libraries=("libkiosk-no-such-egl.so.1",))   # noqa: E731
    r = open_display((800, 480), "kmsdrm", True, dev_dri=tmp_path, check=check)
    assert r.problem is DisplayProblem.LIBRARY_MISSING and "libkiosk-no-such-egl.so.1" in r.detail
    assert r.problem.value == "driver_library_missing" == kmsdrm.diagnose(str(tmp_path), libraries=(
        "libkiosk-no-such-egl.so.1",)).cause                      # one code set with `kiosk status`


def test_a_missing_dri_driver_stops_kmsdrm_before_sdl(tmp_path, monkeypatch):
    """Only the kmsdrm check looked at Mesa's DRI driver; open_display now uses it."""
    (tmp_path / "card0").touch()
    empty = tmp_path / "dri"
    empty.mkdir()
    monkeypatch.setenv("LIBGL_DRIVERS_PATH", str(empty))
    r = open_display((800, 480), "kmsdrm", True, dev_dri=tmp_path)
    assert r.problem is DisplayProblem.LIBRARY_MISSING and "_dri.so" in r.detail


def test_dummy_display_opens():
    r = open_display((320, 240), "dummy", False)
    assert r.ok and r.problem is None


# -- clock -----------------------------------------------------------------------------------
def test_today_is_none_while_unsynchronised(journal_records):
    synced = {"v": False}
    changes = []
    watch = timesync.ClockWatch(state=lambda: timesync.ClockState(synced["v"], "adjtimex"), recheck=0,
                                wall=lambda: 1764064800.0, on_change=changes.append)
    assert watch.today() is None and watch.now() is None
    synced["v"] = True
    assert str(watch.today()) == "2025-11-25"
    assert changes == [False, True]
    assert [r["EVENT"] for r in journal_records] == ["clock_unsynchronized", "clock_synchronized"]


def test_adjtimex_reads_the_kernel_flag():
    class Tx:
        status, maxerror = timesync.STA_UNSYNC, 16_000_000
    assert timesync.clock_state(adjtimex=lambda: (5, Tx)).synchronized is False
    Tx.status = 0
    assert timesync.clock_state(adjtimex=lambda: (0, Tx)).synchronized is True
    assert isinstance(timesync.clock_state().synchronized, bool)      # the real call works here


def test_timesyncd_conf_from_config(tmp_path):
    assert timesync.timesyncd_conf([]) is None
    text = timesync.timesyncd_conf(["ntp1.city.example.lg.jp", "10.20.0.123"])
    assert "NTP=ntp1.city.example.lg.jp 10.20.0.123" in text and "FallbackNTP=\n" in text
    cfg = tmp_path / "k.toml"
    cfg.write_text('[clock]\nntp_servers = ["10.20.0.123"]\n')
    script = Path(timesync.__file__)
    out = subprocess.run(["python3", str(script), str(cfg)], capture_output=True, text=True, check=True).stdout
    assert "NTP=10.20.0.123" in out


def test_clock_condition_reaches_status_text():
    sent = []
    bus = Bus()
    rep = StatusReporter(bus, send=sent.append).attach()
    rep.ready()
    bus.state(KioskState.READY)
    bus.service(ServiceCondition.CLOCK_UNSYNCED, True)
    assert sent[-1] == "STATUS=ready; service needed: clock_unsynchronized"
    bus.service(ServiceCondition.CLOCK_UNSYNCED, False)
    assert sent[-1] == "STATUS=ready"


# -- the watchdog under a slow gateway ----------------------------------------------------------
class SlowHandler(http.server.BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self):
        self.release.wait(30)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


def test_slow_gateway_within_its_deadline_keeps_the_watchdog_fed_and_a_hang_does_not():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    health = Health()
    pings = []
    dog = Watchdog(0.4, health, components=("card",), send=pings.append)   # grace 0.3 s
    health.register("card")

    def call(budget):
        with health.busy("card", budget):
            httpx.get(url, timeout=30)

    try:
        SlowHandler.release.clear()
        worker = threading.Thread(target=call, args=(60,))
        worker.start()
        dog.start()
        assert dog.wait_checks(8, 10)                  # ~1.6 s: far past the 0.3 s grace
        assert dog.pings == dog.checks and not dog.withheld
        SlowHandler.release.set()
        worker.join(10)
        dog.stop()
        # The same call with a 0.5 s budget: once the budget is spent, pings stop.
        SlowHandler.release.clear()
        dog2 = Watchdog(0.4, health, components=("card",), send=pings.append)
        worker = threading.Thread(target=call, args=(0.5,))
        worker.start()
        dog2.start()
        deadline = time.monotonic() + 10
        while not dog2.withheld and time.monotonic() < deadline:
            dog2.wait_checks(dog2.checks + 1, 1)
        assert dog2.withheld == ["card"]
        dog2.stop()
    finally:
        SlowHandler.release.set()
        server.shutdown()


def test_config_refuses_a_gateway_call_longer_than_the_watchdog_allows():
    with pytest.raises(ConfigError) as exc:
        parse_config("[linkage]\ntimeout = 60.0\nretries = 2\n")
    assert exc.value.details["key"] == "linkage.timeout"
    parse_config("[linkage]\ntimeout = 10.0\nretries = 2\n")


# -- metrics ----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("prometheus-node-exporter") is None,
                    reason="prometheus-node-exporter not installed (deploy/apt-dev.txt)")
def test_node_exporter_serves_the_kiosk_metrics(tmp_path, journal_records):
    cfg = Config()
    cfg.metrics.directory = str(tmp_path / "metrics")
    bus = Bus()
    writer = MetricsWriter(cfg.metrics, bus, kiosk_id="bench-01", clock=lambda: 1764064800.0).attach()
    try:
        bus.state(KioskState.WORKING)
        bus.state(KioskState.SUCCESS)
        bus.state(KioskState.READY)
        from kiosk import journal
        journal.log_event("card_error", "card error", journal.WARNING, ERROR_CODE="security_status", SW="6982")
        bus.service(ServiceCondition.PRINTER_PAPER_OUT, True)
        assert writer.write()
    finally:
        writer.detach()
    text = (tmp_path / "metrics" / "kiosk.prom").read_text()
    assert "6982" not in text.replace("kiosk_", "")  # codes only, no raw card data
    port = _free_port()
    proc = subprocess.Popen(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}",
                             f"--collector.textfile.directory={tmp_path / 'metrics'}",
                             "--collector.disable-defaults", "--collector.textfile"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(proc.stderr.read().decode())
                time.sleep(0.1)                     # until the exporter listens (deadline above)
        assert 'kiosk_sessions_total{outcome="success"} 1' in body
        assert 'kiosk_errors_total{code="security_status",event="card_error"} 1' in body
        assert 'kiosk_device_ok{device="paper"} 0' in body and 'kiosk_device_ok{device="reader"} 1' in body
        assert "kiosk_last_success_timestamp_seconds 1.7640648e+09" in body
        assert 'kiosk_info{kiosk_id="bench-01",version=' in body
        assert 'node_textfile_scrape_error 0' in body
    finally:
        proc.terminate()
        proc.wait(10)


# -- network allow-list and the sandboxed print-test ---------------------------------------------
def test_allow_list_has_the_printer_and_works_without_a_gateway():
    from kiosk.appliance import netallow
    cfg = {"printer": {"backend": "network", "network": "192.0.2.50:9100"},
           "linkage": {"allow_networks": ["10.99.0.0/16"]}}
    assert netallow.allow_list(cfg, "/nonexistent") == ["192.0.2.50", "10.99.0.0/16"]
    named = {"printer": {"backend": "network", "network": "printer.city.example:9100"}}
    assert netallow.allow_list(named, "/nonexistent", resolver=lambda h: ["192.0.2.51"]) == ["192.0.2.51"]
    calls = []
    netallow.apply(cfg, run=lambda argv, **kw: calls.append(argv))
    assert calls[0][:6] == ["systemctl", "set-property", "--runtime", "kiosk.service", "IPAddressAllow=",
                            "IPAddressAllow=localhost"]
    assert calls[0][6:] == ["IPAddressAllow=192.0.2.50", "IPAddressAllow=10.99.0.0/16"]


def test_sandbox_command_carries_the_units_properties():
    from kiosk.appliance import sandbox
    shown = ("LoadState=loaded\nUser=kiosk\nSupplementaryGroups=lp audio\nIPAddressDeny=0.0.0.0/0 ::/0\n"
             "IPAddressAllow=127.0.0.0/8 ::1/128 192.0.2.50/32\nDeviceAllow=char-usbmisc rw\n"
             "DeviceAllow=char-alsa rw\nProtectHome=\n")
    props = sandbox.unit_properties(run=lambda argv, **kw: subprocess.CompletedProcess(argv, 0, shown, ""))
    assert "IPAddressAllow=127.0.0.0/8 ::1/128 192.0.2.50/32" in props and "User=kiosk" in props
    assert props.count("DeviceAllow=char-alsa rw") == 1 and not any(p.startswith("ProtectHome") for p in props)
    argv = sandbox.command(["print-test"], props)
    assert argv[:2] == ["systemd-run", "--wait"] and argv[-3:] == ["-m", "kiosk", "print-test"]
    assert "KIOSK_IN_SANDBOX=1" in " ".join(argv)
    unloaded = sandbox.unit_properties(run=lambda argv, **kw: subprocess.CompletedProcess(
        argv, 0, "LoadState=not-found\n", ""))
    assert unloaded is None


def test_selftest_reports_sound():
    from kiosk.printer.cli import run_selftest
    report = run_selftest(None)
    item = next(i for i in report.items if i["item"] == "sound")
    assert item["result"] == "pass" and "played" in item["detail"]      # SDL's dummy audio driver here


def test_the_kiosks_session_gets_no_date_while_the_clock_is_unsynchronised(monkeypatch):
    """kiosk run wires the session's today() to the clock watch: None = no date judgment."""
    from kiosk.appliance import timesync as ts
    from kiosk.display.wiring import build_parts
    monkeypatch.setattr(ts, "clock_state", lambda *a, **k: ts.ClockState(False, "timesyncd"))
    bus = Bus()
    unsynced = threading.Event()
    bus.subscribe("service", lambda _t, p: p["condition"] == ServiceCondition.CLOCK_UNSYNCED
                  and p["active"] and unsynced.set())
    parts = build_parts(Config(), bus, local_gateway=False)
    try:
        assert parts.today() is None
        assert unsynced.wait(10)                 # journalled and raised by whichever check saw it first
    finally:
        parts.close()


def test_rpi_gpio_is_a_pi_only_dependency():
    import tomllib

    from packaging.requirements import Requirement
    extras = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    reqs = [Requirement(r) for r in extras["project"]["optional-dependencies"]["gpio"]]
    rpi = next(r for r in reqs if r.name == "RPi.GPIO")
    assert rpi.marker.evaluate({"platform_machine": "aarch64"})
    assert rpi.marker.evaluate({"platform_machine": "armv7l"})
    assert not rpi.marker.evaluate({"platform_machine": "x86_64"})


def test_status_probes_a_network_printer():
    from kiosk.appliance import status
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        cfg = Config()
        cfg.printer.backend, cfg.printer.network = "network", f"127.0.0.1:{srv.getsockname()[1]}"
        assert status.printer_report(cfg, Path("/"), [])["reachable"] is True
    closed = status.printer_report(cfg, Path("/"), [])
    assert closed["reachable"] is False


def test_a_pin_timeout_is_not_a_timed_out_session(tmp_path, journal_records):
    from kiosk import journal
    cfg = Config()
    cfg.metrics.directory = str(tmp_path / "metrics")
    writer = MetricsWriter(cfg.metrics, Bus()).attach()
    try:
        journal.log_event("session_timeout", "pin timeout; typed digits wiped", journal.NOTICE,
                          SCREEN="licence_pin", TIMEOUT="pin")
        assert writer.sessions["timeout"] == 0          # the session goes on
        journal.log_event("session_timeout", "session timeout; resident data wiped", journal.NOTICE,
                          SCREEN="menu", TIMEOUT="session")
        assert writer.sessions["timeout"] == 1
    finally:
        writer.detach()


# -- per-call watchdog deadlines (fake clocks: the watchdog's view at chosen instants) -------------
GRACE = 45.0                     # 0.75 x WatchdogSec=60s (systemd/kiosk.service)


def test_a_slow_card_operation_keeps_the_worker_alive_for_its_own_deadline_only():
    from kiosk.nfc.apdu import ApduChannel
    now = [0.0]
    health = Health(clock=lambda: now[0])
    health.register("card")
    seen = {}

    class SlowCard:                              # the edge we cannot have: a card that takes its time
        def transmit(self, apdu):
            for t in (200.0, 299.0, 300.0 + GRACE + 1):
                now[0] = t
                seen[t] = health.stale(GRACE)
            return b"\x90\x00"

    channel = ApduChannel(SlowCard())
    channel.clock = lambda: now[0]
    channel.busy = health.busy_hook("card")
    with health.busy("card", 30):                # the worker command around it (default budget)
        with channel.operation(300):             # timeouts.card_operation_seconds at its maximum
            channel.send(0x00, 0xA4, 0x04, 0x0C, b"\xA0\x00\x00\x02\x31")
    assert seen[200.0] == [] and seen[299.0] == []          # within its deadline: fed
    assert seen[300.0 + GRACE + 1] == ["card"]              # past it (and the grace): not fed
    now[0] += 1
    assert health.stale(GRACE) == []                        # the call returned: alive again


def test_each_gateway_call_keeps_the_worker_alive_for_its_own_worst_case_only():
    from kiosk.config import call_seconds
    from kiosk.linkage.client import GatewayClient
    from kiosk.linkage.errors import LinkageGatewayError
    now = [0.0]
    health = Health(clock=lambda: now[0])
    health.register("card")
    seen = []

    def gateway(retries: int, seconds_per_attempt: float) -> GatewayClient:
        """A gateway answering 503 after ``seconds_per_attempt`` of the fake clock, each attempt."""
        def answer(request):
            now[0] += seconds_per_attempt
            seen.append(health.stale(GRACE))
            return httpx.Response(503)
        client = GatewayClient("https://gateway.test", timeout=10, retries=retries, backoff=0,
                               transport=httpx.MockTransport(answer))
        client.busy = health.busy_hook("card")
        return client

    client = gateway(2, 20.0)                             # each attempt at its worst: connect + read
    try:
        with health.busy("card", 30):                       # one step-4 command: two calls in a row
            for _ in range(2):
                start = now[0]
                with pytest.raises(LinkageGatewayError):
                    client.health()
                assert now[0] - start == 60.0
    finally:
        client.close()
    # 20, 40, 60 s into each call: fed, far past the command's own 30 s + grace.
    assert seen == [[], [], [], [], [], []] and now[0] > 30 + GRACE
    # A call that hangs past its own worst case and the grace: not fed.
    client = gateway(0, call_seconds(10, 0, 0) + GRACE + 1)
    try:
        with pytest.raises(LinkageGatewayError):
            client.health()
    finally:
        client.close()
    assert seen[-1] == ["card"]


def test_watchdog_grace_covers_the_work_between_calls():
    """Calls carry their own deadlines; the grace must cover the command's own work between them."""
    import re
    from kiosk.appliance.health import DEFAULT_BUSY_SECONDS
    unit = (Path(__file__).resolve().parents[2] / "systemd/kiosk.service").read_text()
    watchdog_sec = float(re.search(r"^WatchdogSec=(\d+)s?$", unit, re.M).group(1))
    assert 0.75 * watchdog_sec >= DEFAULT_BUSY_SECONDS
