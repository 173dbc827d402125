"""kiosk.service under real systemd 252 (in systemd-nspawn), installed by deploy/install.sh."""

from __future__ import annotations

import json
import os
import signal

from tests.systemd_bench.conftest import BENCH_CONFIG, DUMMY_DISPLAY, UNIT


def test_ready_after_the_first_frame(bench):
    cursor = bench.restart()
    props = bench.c.show(UNIT, "ActiveState", "SubState", "StatusText", "Type", "NotifyAccess")
    assert props["ActiveState"] == "active" and props["SubState"] == "running"
    assert props["StatusText"].startswith("ready")
    started = bench.c.wait_journal({"EVENT": "kiosk_started", "SYSLOG_IDENTIFIER": "kiosk"}, after=cursor)
    assert started["DRIVER"] == "dummy"
    assert started["_SYSTEMD_UNIT"] == UNIT


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
