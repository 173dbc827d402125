"""Updates with the read-only root on: written to the lower filesystem, kept across a restart, no reboot.

The container's / is an ``overlayroot`` overlay (tmpfs upper) over a lower
filesystem that outlives the container, as the SD card outlives a power cut.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.release.conftest import (GOOD, NEXT, ROOT, UNIT, OverlayRootContainer, current, need_containers,
                                    prepare_kiosk, push, running)

pytestmark = [pytest.mark.systemd, pytest.mark.timeout(1200)]
KIOSK_UPDATE = str(ROOT / "deploy" / "release" / "kiosk-update")   # the lower layer is this machine's /


@pytest.fixture
def readonly_kiosk(releases):
    need_containers()
    persist = Path(tempfile.mkdtemp(prefix="kiosk-sdcard-", dir="/var/tmp"))   # not under the private /tmp
    c = OverlayRootContainer("kiosk-ro", persist)
    prepare_kiosk(c.mount_lower())
    try:
        yield c.start()
    finally:
        c.stop()
        c.release_lower()
        import shutil
        shutil.rmtree(persist, ignore_errors=True)


def booted(c: OverlayRootContainer) -> tuple:
    """The container's PID 1 and its start time: they change with any reboot."""
    assert c._proc is not None and c._proc.poll() is None, "the container stopped (it rebooted or halted)"
    return c.leader, Path(f"/proc/{c.leader}/stat").read_text().split()[21]


def on_disk(c: OverlayRootContainer) -> str | None:
    link = c.lower / "opt/kiosk/current"
    return Path(link.readlink()).name if link.is_symlink() else None


def test_update_goes_to_the_lower_filesystem_survives_a_restart_and_needs_no_reboot(readonly_kiosk, releases):
    c = readonly_kiosk
    assert c.run(["awk", '$2 == "/" { print $1 }', "/proc/mounts"]).stdout.split()[0] == "overlayroot"
    # A plain apt install would land in RAM: refused, with the way that works.
    plain = c.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", push(c, releases.deb(GOOD))],
                  check=False, timeout=300)
    assert plain.returncode != 0
    assert "read-only root (overlayroot) is on" in plain.stdout + plain.stderr
    assert "kiosk-update" in plain.stdout + plain.stderr
    assert on_disk(c) is None

    boot = booted(c)
    for version in (GOOD, NEXT):
        result = c.run([KIOSK_UPDATE, push(c, releases.deb(version))], check=False, timeout=900)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        assert "no reboot needed" in result.stdout
        assert current(c) == version and running(c).startswith(f"/opt/kiosk/releases/{version}/")
        assert on_disk(c) == version
        assert booted(c) == boot                    # the same PID 1 since before: no reboot

    c.stop()                                        # a power cut: the RAM layer is gone
    c.start()
    c.wait_property(UNIT, "ActiveState", lambda v: v == "active", timeout=120)
    assert current(c) == NEXT and running(c).startswith(f"/opt/kiosk/releases/{NEXT}/")
    status = c.run(["kiosk", "release", "status"], check=False).stdout
    assert f"current:   {NEXT}" in status and f"previous:  {GOOD}" in status
