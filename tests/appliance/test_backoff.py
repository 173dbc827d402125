"""Restart back-off on systemd 252 (kiosk/appliance/backoff.py and the unit's use of it).

The real-systemd check (restarts counted and spaced in the journal) is in
tests/systemd_bench/test_bench.py; these pin the schedule and its bookkeeping.
"""

from __future__ import annotations

import json
import subprocess
import sys

from kiosk.appliance import backoff
from kiosk.appliance.backoff import Backoff, delay_for, on_start, on_stop

from tests.appliance.test_systemd_units import seconds, unit_settings

BOOT = "b" * 32


def test_delay_grows_exponentially_and_is_capped():
    assert [delay_for(n, 5, 45) for n in range(8)] == [0, 5, 10, 20, 40, 45, 45, 45]
    assert delay_for(10_000, 5, 45) == 45          # no overflow however long the loop


def test_failures_count_up_and_a_clean_stop_resets():
    state = Backoff()
    assert on_start(state, now=100, boot=BOOT, base=5, cap=45) == 0      # first start of the boot
    on_stop(state, "exit-code", now=101, boot=BOOT, healthy=120)
    assert state.failures == 1
    assert on_start(state, now=104, boot=BOOT, base=5, cap=45) == 5
    on_stop(state, "watchdog", now=110, boot=BOOT, healthy=120)
    assert state.failures == 2
    assert on_start(state, now=113, boot=BOOT, base=5, cap=45) == 10
    on_stop(state, "success", now=114, boot=BOOT, healthy=120)
    assert state.failures == 0
    assert on_start(state, now=120, boot=BOOT, base=5, cap=45) == 0


def test_a_failure_after_a_healthy_run_counts_as_the_first():
    state = Backoff(failures=6, boot_id=BOOT)
    on_start(state, now=0, boot=BOOT, base=5, cap=45)
    on_stop(state, "signal", now=45 + 121, boot=BOOT, healthy=120)     # ran 121 s after its wait
    assert state.failures == 1
    state = Backoff(failures=6, boot_id=BOOT)
    on_start(state, now=0, boot=BOOT, base=5, cap=45)
    on_stop(state, "signal", now=45 + 119, boot=BOOT, healthy=120)
    assert state.failures == 7


def test_the_count_survives_a_reboot_but_the_first_start_of_a_boot_never_waits():
    state = Backoff(failures=8, boot_id="a" * 32, started=9e9)
    assert on_start(state, now=5, boot=BOOT, base=5, cap=45) == 0
    on_stop(state, "exit-code", now=6, boot=BOOT, healthy=120)
    assert state.failures == 9
    assert on_start(state, now=9, boot=BOOT, base=5, cap=45) == 45


def test_a_damaged_state_file_never_blocks_a_start(tmp_path):
    path = tmp_path / backoff.STATE_FILE
    for junk in ("", "{", "[]", '{"failures": "many"}', '{"failures": null}'):
        path.write_text(junk)
        assert Backoff.load(path).failures == 0
    path.unlink()
    assert Backoff.load(path) == Backoff()


def test_the_steps_keep_their_count_in_the_state_directory(tmp_path):
    env = {"STATE_DIRECTORY": str(tmp_path), "KIOSK_JOURNAL": "stderr", "KIOSK_BACKOFF_BASE_SEC": "0.01",
           "KIOSK_BACKOFF_CAP_SEC": "0.02", "PATH": "/usr/bin:/bin"}
    step = [sys.executable, "-m", "kiosk.appliance.backoff"]
    for result in ("exit-code", "exit-code", "exit-code"):
        assert subprocess.run([*step, "start"], env=env, timeout=30).returncode == 0
        assert subprocess.run([*step, "stop"], env={**env, "SERVICE_RESULT": result}, timeout=30).returncode == 0
    saved = json.loads((tmp_path / backoff.STATE_FILE).read_text())
    assert saved["failures"] == 3 and saved["boot_id"] == backoff.boot_id()
    started = subprocess.run([*step, "start"], env=env, capture_output=True, text=True, timeout=30)
    assert "restart_backoff" in started.stderr and "DELAY_SEC=0.02" in started.stderr and "COUNT=3" in started.stderr
    subprocess.run([*step, "stop"], env={**env, "SERVICE_RESULT": "success"}, timeout=30, check=True)
    assert json.loads((tmp_path / backoff.STATE_FILE).read_text())["failures"] == 0


def _starts_until_the_limit(restart_sec: float, burst: int, interval: float, failures: int,
                            first_of_boot: bool = True) -> float:
    """When systemd refuses a start (and reboots) for a kiosk that crashes at once, every time."""
    starts: list[float] = []
    t = 0.0
    while True:
        recent = [s for s in starts if t - s < interval]
        if len(recent) >= burst:
            return t
        starts.append(t)
        wait = 0.0 if (first_of_boot and len(starts) == 1) else delay_for(failures)
        failures += 1
        t += wait + restart_sec


def test_the_unit_runs_the_back_off_around_every_start_within_the_start_timeout():
    s = unit_settings()
    pre = [v for v in s["ExecStartPre"] if "kiosk.appliance.backoff start" in v]
    assert pre and pre[0].startswith("-/") and not pre[0].startswith("-+"), "sandboxed, never fatal"
    assert [v for v in s["ExecStopPost"] if v.startswith("-/") and "kiosk.appliance.backoff stop" in v]
    assert s["StateDirectory"] == ["kiosk"]
    # The longest wait leaves the kiosk time to start before TimeoutStartSec.
    assert backoff.CAP_SEC + 30 <= seconds(s["TimeoutStartSec"][0])
    # A crash at every start reaches the start-limit reboot only after minutes, not seconds,
    # in the first boot and (the count carried over) in every boot after it.
    args = (seconds(s["RestartSec"][0]), int(s["StartLimitBurst"][0]), seconds(s["StartLimitIntervalSec"][0]))
    assert s["StartLimitAction"] == ["reboot"]
    assert _starts_until_the_limit(*args, failures=0) >= 180
    assert _starts_until_the_limit(*args, failures=int(s["StartLimitBurst"][0])) >= 300
    # and without the back-off the same unit would reboot within a minute (the check can fail)
    assert _starts_until_the_limit(args[0], args[1], args[2], failures=-10_000) < 60
