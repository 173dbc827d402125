"""Releases built once per test session, and containers to install them in.

``releases`` builds three .debs (and their Mender artifacts) from this checkout
with deploy/release/build.py: 1.0.1 and 1.0.2 are good, 1.0.3 is deliberately
broken (``kiosk run`` exits at start, as a release with a bad import would).
The wheelhouse comes from .cache/release (downloaded once, like `make release`),
so a second session builds with no network.

``OverlayRootContainer`` boots the kiosk as it runs with the read-only root on:
/ is an overlayfs named ``overlayroot`` (as overlayroot's initramfs mounts it)
whose upper layer is a tmpfs, lost at every stop, over a lower filesystem that
persists between boots of the same test; Debian's overlayroot-chroot works on it.
"""

from __future__ import annotations

import os
import platform
import shutil
import uuid
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from kiosk.testing.nspawn import DEFAULT_MASK, Container, unavailable
from tests.systemd_bench.conftest import BENCH_CONFIG
from tests.systemd_bench.conftest import DUMMY_DISPLAY as BENCH_DISPLAY

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "deploy" / "release" / "build.py"
GOOD, NEXT, BROKEN = "1.0.1", "1.0.2", "1.0.3"
UNIT = "kiosk.service"
ARCH = platform.machine()                    # the release for this machine's architecture
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(ARCH, ARCH)

# The kiosk with the simulated card and SDL's dummy display: the real-systemd bench's settings.
CONFIG, DUMMY_DISPLAY = BENCH_CONFIG, BENCH_DISPLAY
BREAK = '''
def main(argv=None):                      # a deliberately broken release (tests/release)
    if (sys.argv[1:] if argv is None else argv)[:1] == ["run"]:
        raise SystemExit("deliberately broken release: kiosk run exits at start")
    return _main(argv)
'''


@dataclass(frozen=True)
class Built:
    dir: Path

    def deb(self, version: str) -> Path:
        return self.dir / f"myna-kiosk_{version}_{DEB_ARCH}.deb"

    def mender(self, version: str) -> Path:
        return self.dir / f"myna-kiosk_{version}_{DEB_ARCH}.mender"

    def manifest(self, version: str) -> Path:
        return self.dir / f"myna-kiosk_{version}_{DEB_ARCH}.manifest.json"


def _broken_source(dest: Path) -> Path:
    for name in ("kiosk", "deploy", "systemd", "docs", "pyproject.toml", "README.md"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    cli = dest / "kiosk" / "cli.py"
    cli.write_text(cli.read_text().replace("def main(", "def _main(") + BREAK)
    return dest


def build(out: Path, version: str, source: Path = ROOT) -> None:
    subprocess.run([sys.executable, str(BUILD), "--arch", ARCH, "--out", str(out), "--version", version,
                    "--source", str(source), "--compress", "none", "--device-type", "myna-kiosk-test"],
                   check=True, capture_output=True, timeout=900)


@pytest.fixture(scope="session")
def releases(tmp_path_factory) -> Built:
    need_tool("dpkg-deb", "dpkg")
    reuse = os.environ.get("KIOSK_TEST_RELEASES")       # a directory of earlier builds (debugging)
    if reuse and Built(Path(reuse)).deb(BROKEN).exists():
        return Built(Path(reuse))
    need_wheelhouse()
    out = tmp_path_factory.mktemp("releases")
    build(out, GOOD)
    build(out, NEXT)
    with tempfile.TemporaryDirectory() as tmp:
        build(out, BROKEN, _broken_source(Path(tmp)))
    return Built(out)


# mender-client (deploy/apt-dev.txt) enables its daemon: in a bench it would poll a server that is
# not there and hold Mender's database while the tests use standalone mode.
MASK = (*DEFAULT_MASK, "mender-client.service")


def container(name: str, **kw) -> Container:
    return Container(name, mask=MASK, private_network=True, **kw)


class OverlayRootContainer(Container):
    """A container whose / is ``overlayroot``: tmpfs upper, lower kept in ``persist`` across boots."""

    def __init__(self, name: str, persist: Path, **kw):
        self.persist = persist
        self.lower = persist / "lower"           # the "SD card": overlay of the host / with a disk upper
        super().__init__(name, binds=[f"{self.lower}:{self.lower}"], mask=MASK, private_network=True, **kw)

    def mount_lower(self) -> Path:
        """The persistent lower filesystem, mounted on the host (kept across stop/start)."""
        for d in ("upper", "work"):
            (self.persist / d).mkdir(parents=True, exist_ok=True)
        self.lower.mkdir(exist_ok=True)
        if subprocess.run(["mountpoint", "-q", str(self.lower)]).returncode != 0:
            subprocess.run(["mount", "-t", "overlay", "sdcard", "-o",
                            f"lowerdir=/,upperdir={self.persist / 'upper'},workdir={self.persist / 'work'}",
                            str(self.lower)], check=True, capture_output=True)
        return self.lower

    def _mount_overlay(self) -> None:
        assert self.scratch is not None
        self.mount_lower()
        layer = self.scratch / "layer"
        layer.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.scratch_size},mode=0755", "ram", str(layer)],
                       check=True, capture_output=True)
        self._mounts.append(layer)
        for d in ("upper", "work"):
            (layer / d).mkdir()
        self.root = self.scratch / "root"
        self.root.mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlayroot", "-o",
                        f"lowerdir={self.lower},upperdir={layer / 'upper'},workdir={layer / 'work'}",
                        str(self.root)], check=True, capture_output=True)
        self._mounts.append(self.root)

    def _prepare_root(self) -> None:
        super()._prepare_root()
        # The machine id lives on the lower filesystem, as on a kiosk (one journal across boots).
        assert self.root is not None
        kept = self.persist / ".machine-id"
        if not kept.exists():
            kept.write_text(uuid.uuid4().hex + "\n")
        (self.root / "etc/machine-id").write_text(kept.read_text())

    def release_lower(self) -> None:
        subprocess.run(["umount", "-l", str(self.lower)], capture_output=True)


def prepare_kiosk(c: Container | Path) -> None:
    """The city's config and the test display, as the technician or Ansible puts them first
    (into a running container, or into a root directory such as the lower filesystem)."""
    files = {"/etc/kiosk/kiosk.toml": CONFIG,
             "/etc/systemd/system/kiosk.service.d/90-test-display.conf": DUMMY_DISPLAY}
    for path, text in files.items():
        if isinstance(c, Path):
            (c / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (c / path.lstrip("/")).write_text(text)
        else:
            c.write(path, text)


def in_ci() -> bool:
    """CI sets CI=true; there a missing tool from deploy/apt-dev.txt is a broken CI, not a skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


APT_DEV_HINT = "deploy/apt-dev.txt lists it: install it"


def missing(reason: str, hint: str = APT_DEV_HINT) -> NoReturn:
    """Fail in CI, skip elsewhere: a test that needs what CI has never passes by skipping."""
    if in_ci():
        pytest.fail(f"{reason}; CI is set, so this test must run ({hint})", pytrace=False)
    pytest.skip(f"{reason} ({hint}; with CI set this test fails instead)")


def wheelhouse_cached() -> bool:
    """build.py's stamp: this machine's wheelhouse was downloaded before (deploy/release/build.py)."""
    return (ROOT / ".cache" / "release" / f"wheelhouse-{ARCH}" / ".lock-sha256").exists()


def has_default_route() -> bool:
    """False in a network namespace with loopback only (the pi-bench's test step): pip cannot download."""
    try:
        v4 = [line.split() for line in Path("/proc/net/route").read_text().splitlines()[1:]]
        v6 = [line.split() for line in Path("/proc/net/ipv6_route").read_text().splitlines()]
    except OSError:
        return True                                  # cannot tell: let the build try
    return (any(len(f) > 1 and f[1] == "00000000" for f in v4)
            or any(len(f) > 9 and f[0] == "0" * 32 and f[1] == "00" and f[9] != "lo" for f in v6))


def need_wheelhouse() -> None:
    """A release build downloads the locked wheels once; with no cache and no route it cannot."""
    if not wheelhouse_cached() and not has_default_route():
        missing(f"no wheelhouse for {ARCH} in .cache/release and no network to download it",
                "run `make release` once with a network, or give this machine a route")


def need_tool(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        missing(f"{tool} is not installed ({package})")


def need_containers() -> None:
    reason = unavailable()
    if reason:
        missing(f"no systemd-nspawn here: {reason}")


def current(c: Container) -> str:
    return Path(c.run(["readlink", "/opt/kiosk/current"]).stdout.strip()).name


def running(c: Container) -> str:
    pid = c.main_pid(UNIT)
    return c.run(["cat", f"/proc/{pid}/cmdline"]).stdout.split("\0")[0]


def push(c: Container, path: Path) -> str:
    """Copy a built file into the container (its /tmp is private); returns the path inside."""
    inside = f"/var/cache/kiosk-test/{path.name}"
    target = c.host_path(inside)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return inside
