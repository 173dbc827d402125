"""Why a container cannot boot here is said before a boot is tried (a chroot has no cgroups)."""

from __future__ import annotations

from kiosk.testing import nspawn


def test_no_cgroup_hierarchy_is_a_reason_not_a_failed_boot(monkeypatch):
    monkeypatch.setattr(nspawn.os, "geteuid", lambda: 0)
    monkeypatch.setattr(nspawn.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(nspawn.os.path, "ismount", lambda path: path != "/sys/fs/cgroup")
    reason = nspawn.unavailable()
    assert reason is not None and "/sys/fs/cgroup" in reason


def test_a_mounted_hierarchy_is_no_reason(monkeypatch):
    monkeypatch.setattr(nspawn.os, "geteuid", lambda: 0)
    monkeypatch.setattr(nspawn.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(nspawn.os.path, "ismount", lambda path: True)
    monkeypatch.setattr(nspawn.Path, "read_text", lambda self, *a, **k: "nodev\toverlay\n")
    assert nspawn.unavailable() is None
