"""kiosk.service under real systemd 252 (in systemd-nspawn), installed by deploy/install.sh."""

from __future__ import annotations

from tests.systemd_bench.conftest import UNIT


def test_ready_after_the_first_frame(bench):
    cursor = bench.restart()
    props = bench.c.show(UNIT, "ActiveState", "SubState", "StatusText", "Type", "NotifyAccess")
    assert props["ActiveState"] == "active" and props["SubState"] == "running"
    assert props["StatusText"].startswith("ready")
    started = bench.c.wait_journal({"EVENT": "kiosk_started", "SYSLOG_IDENTIFIER": "kiosk"}, after=cursor)
    assert started["DRIVER"] == "dummy"
    assert started["_SYSTEMD_UNIT"] == UNIT
