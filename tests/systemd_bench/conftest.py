"""The real-systemd bench: one booted container with the kiosk installed by install.sh.

The container (kiosk.testing.nspawn) is booted once per test session; each test
puts the service in the state it needs through ``KioskBench.restart`` (a config
file and a test drop-in), so tests do not depend on each other's order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.testing.nspawn import BPF_ARGS, Container, ContainerError, unavailable

ROOT = Path(__file__).resolve().parents[2]
UNIT = "kiosk.service"
DROPIN = "/etc/systemd/system/kiosk.service.d/90-bench.conf"

# The kiosk as on a Pi, but with the simulated card (reader.uri = "") and no gateway.
BENCH_CONFIG = """\
[kiosk]
id = "bench-01"
[reader]
uri = ""
[display]
driver = "auto"
sound = false
"""
# SDL's dummy video driver stands in for the DRM display.
DUMMY_DISPLAY = """\
[Service]
Environment=SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
"""


class KioskBench:
    def __init__(self, container: Container):
        self.c = container

    def restart(self, config: str = BENCH_CONFIG, dropin: str = DUMMY_DISPLAY, wait_active: bool = True) -> str:
        """Stop the kiosk, write its config and test drop-in, start it; returns the journal cursor
        from before the start (pass it to wait_journal to see only this start)."""
        self.c.systemctl("stop", UNIT, check=False)
        self.c.systemctl("reset-failed", UNIT, check=False)
        self.c.write("/etc/kiosk/kiosk.toml", config, 0o640)
        self.c.run(["chgrp", "kiosk", "/etc/kiosk/kiosk.toml"])
        self.c.write(DROPIN, dropin)
        self.c.systemctl("daemon-reload")
        cursor = self.c.cursor()
        if wait_active:
            # Type=notify: `systemctl start` returns only after READY=1 (or fails).
            result = self.c.systemctl("start", UNIT, check=False, timeout=120)
            if result.returncode != 0:
                raise ContainerError("kiosk.service did not start:\n"
                                     + self.c.run(["journalctl", "-u", UNIT, "-n", "80", "--no-pager"]).stdout)
        else:
            self.c.systemctl("start", "--no-block", UNIT)
        return cursor


@pytest.fixture(scope="session")
def bench():
    reason = unavailable()
    if reason:
        pytest.skip(f"no systemd-nspawn bench here: {reason}")
    container = Container("kiosk-bench", nspawn_args=BPF_ARGS)   # BPF: the IP firewall holds
    container.start()
    try:
        container.run(["deploy/install.sh", "--no-apt", "--no-boot"], cwd=str(ROOT), timeout=900)
        yield KioskBench(container)
    finally:
        container.stop()
