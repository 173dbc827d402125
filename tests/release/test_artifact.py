"""The release artifact itself: locks, wheelhouse, manifest, .deb metadata, Mender artifact."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import tarfile
from pathlib import Path

from tests.release.conftest import ARCH, GOOD, ROOT, need_tool

spec = importlib.util.spec_from_file_location("release_build", ROOT / "deploy/release/build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def deb_files(deb: Path, dest: Path) -> Path:
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return dest


def test_locks_pin_every_dependency_with_hashes_for_both_targets():
    for arch in ("aarch64", "x86_64"):
        lock = build.parse_lock(build.lock_path(arch))
        assert {"cryptography", "pillow", "pygame-ce", "nfcpy", "python-escpos", "gpiozero", "httpx"} <= set(lock)
        for name, entry in lock.items():
            assert entry["hashes"], f"{arch}: {name} has no hash"
            assert "==" in entry["text"].splitlines()[0]
        # Debian provides these (python3-pyscard, python3-systemd): no compiler on a kiosk.
        assert "pyscard" not in lock and "systemd-python" not in lock
    assert "lgpio" in build.parse_lock(build.lock_path("aarch64"))


def test_deb_carries_the_wheelhouse_the_manifest_and_no_compiler(releases, tmp_path):
    deb = releases.deb(GOOD)
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    assert f"Version: {GOOD}" in control and "python3-pyscard" in control and "python3-systemd" in control
    for tool in ("gcc", "python3-dev", "libpcsclite-dev", "libsystemd-dev", "pkg-config"):
        assert tool not in control
    root = deb_files(deb, tmp_path / "x")
    release = root / "usr/lib/myna-kiosk/release"
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest == json.loads(releases.manifest(GOOD).read_text())
    assert manifest["version"] == GOOD and manifest["arch"] == ARCH
    assert manifest["lock"]["sha256"] == build.sha256(build.lock_path(ARCH))
    wheels = {w["file"]: w for w in manifest["wheels"]}
    assert set(wheels) == {p.name for p in (release / "wheels").iterdir()}
    for name, w in wheels.items():
        assert hashlib.sha256((release / "wheels" / name).read_bytes()).hexdigest() == w["sha256"]
    assert any(n.startswith(f"myna_kiosk-{GOOD}-") for n in wheels)
    # Every pin of the lock has its wheel, and every downloaded wheel's hash is one the lock allows.
    lock = build.parse_lock(build.lock_path(ARCH))
    pure = set((ROOT / "deploy/release/sdist-pure.txt").read_text().split())
    for name, w in wheels.items():
        key = build.canonical(w["name"])
        if key == "myna-kiosk":
            continue
        assert lock[key]["version"] == w["version"]
        assert key in pure or w["sha256"] in lock[key]["hashes"], name
    assert {build.canonical(w["name"]) for w in wheels.values()} - {"myna-kiosk"} == set(lock)
    # The deploy files install.sh needs, and their hashes.
    src = root / "usr/lib/myna-kiosk/src"
    for rel in ("deploy/install.sh", "systemd/kiosk.service", "deploy/release/kiosk-update",
                "deploy/mender/kiosk-release", "kiosk/appliance/netallow.py"):
        assert (src / rel).is_file(), rel
    assert manifest["deploy_files"]["deploy/install.sh"] == build.sha256(src / "deploy/install.sh")
    check = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=release, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (root / "usr/share/mender/modules/v3/kiosk-release").is_symlink()


def test_a_tampered_wheel_fails_the_release_check(releases, tmp_path):
    root = deb_files(releases.deb(GOOD), tmp_path / "x")
    release = root / "usr/lib/myna-kiosk/release"
    victim = next((release / "wheels").glob("qrcode-*.whl"))
    victim.write_bytes(victim.read_bytes() + b"\0")
    out = subprocess.run(["bash", str(root / "usr/lib/myna-kiosk/src/deploy/install.sh"), "--root", str(tmp_path / "t"),
                          "--no-apt", "--no-boot", "--release", str(release)], capture_output=True, text=True)
    assert out.returncode != 0 and "fails its SHA256SUMS" in out.stdout


def test_mender_artifact_wraps_the_deb_for_the_kiosk_release_module(releases, tmp_path):
    need_tool("mender-artifact", "mender-artifact")
    art = releases.mender(GOOD)
    info = subprocess.run(["mender-artifact", "read", str(art)], capture_output=True, text=True, check=True).stdout
    assert f"myna-kiosk-{GOOD}" in info and "kiosk-release" in info and "myna-kiosk-test" in info
    with tarfile.open(art) as outer:
        names = outer.getnames()
    assert "version" in names and "manifest" in names and any(n.startswith("data/") for n in names)
    assert releases.deb(GOOD).name in info
