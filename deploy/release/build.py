#!/usr/bin/env python3
"""Build a release a city can install with no internet: ``make release``.

    python deploy/release/build.py [--arch aarch64 --arch x86_64] [--out dist/]
                                   [--version V] [--source DIR] [--compress xz|none]
                                   [--no-mender]

For each target architecture it writes into OUT:

  myna-kiosk_<V>_<debarch>.deb      apt installs, upgrades and downgrades it offline
  myna-kiosk_<V>_<debarch>.mender   the same .deb as a Mender module artifact (kiosk-release)
  myna-kiosk_<V>_<debarch>.manifest.json   versions and SHA-256 of everything inside
  SHA256SUMS

The .deb carries the wheelhouse for its architecture (every dependency pinned
by hash in deploy/release/requirements-<arch>.lock), the project wheel, the
deploy files and the manifest.  Its postinst runs deploy/install.sh with
``--release``, which builds /opt/kiosk/releases/<V>/venv with ``pip --no-index``
and switches to it through kiosk.appliance.release (idle wait, health gate,
rollback).  pyscard and systemd-python have no wheels: the venv sees Debian's
python3-pyscard and python3-systemd (``--system-site-packages``), so no unit
needs a compiler.  Pure-Python sdists (pyDes) are built into py3-none-any
wheels here, on the build machine, and their sdist hash is checked first.

Wheels are downloaded once into .cache/release/ (pip's own cache also helps),
so a second build and the tests run without the network.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PACKAGE = "myna-kiosk"
DEB_ARCH = {"aarch64": "arm64", "x86_64": "amd64"}
PYTHON_VERSION = "3.11"
GLIBC_MAX = 36                       # Debian 12 / Raspberry Pi OS Bookworm: glibc 2.36
# Runtime packages: what the venv needs to start.  The kiosk's middleware and
# fonts are Recommends, so a test container or a headless bench can do without.
DEPENDS = ["python3 (>= 3.11)", "python3-venv", "python3-pyscard", "python3-systemd", "bash"]
RECOMMENDS = ["pcscd", "libccid", "polkitd", "libusb-1.0-0", "fonts-noto-cjk", "libsdl2-2.0-0",
              "plymouth", "plymouth-themes"]
# Files of the source tree the release ships (install.sh reads them from there).
SHIPPED = ["kiosk", "deploy", "systemd", "docs/operations.md", "pyproject.toml", "README.md"]
PAYLOAD = "usr/lib/myna-kiosk"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(argv: list, **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(str(a) for a in argv), flush=True)
    return subprocess.run([str(a) for a in argv], check=True, **kw)


# --- the lock ----------------------------------------------------------------------------
REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def parse_lock(path: Path) -> dict[str, dict]:
    """name -> {name, version, hashes, text}: the requirement blocks of a --generate-hashes lock."""
    blocks: list[list[str]] = []
    for line in path.read_text().splitlines():
        if REQ.match(line):
            blocks.append([line])
        elif blocks and line.startswith((" ", "\t")) and line.strip().startswith("--hash"):
            blocks[-1].append(line)
    out: dict[str, dict] = {}
    for block in blocks:
        m = REQ.match(block[0])
        text = "\n".join(block).rstrip(" \\")
        out[canonical(m.group(1))] = {"name": m.group(1), "version": m.group(2), "text": text,
                                      "hashes": re.findall(r"--hash=sha256:([0-9a-f]{64})", text)}
    return out


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(arch: str) -> Path:
    return HERE / f"requirements-{arch}.lock"


# --- the wheelhouse --------------------------------------------------------------------------
def platform_tags(arch: str) -> list[str]:
    tags = [f"manylinux_2_{v}_{arch}" for v in range(GLIBC_MAX, 16, -1)]
    return tags + [f"manylinux2014_{arch}", f"linux_{arch}"]


def wheelhouse(arch: str, cache: Path) -> Path:
    """Every locked dependency as a wheel for ``arch``, hash-checked; cached between builds."""
    lock = parse_lock(lock_path(arch))
    house = cache / f"wheelhouse-{arch}"
    stamp = house / ".lock-sha256"
    if stamp.exists() and stamp.read_text() == sha256(lock_path(arch)):
        return house
    shutil.rmtree(house, ignore_errors=True)
    house.mkdir(parents=True)
    sdist_only = set((HERE / "sdist-pure.txt").read_text().split())
    binary = [r["text"] for n, r in lock.items() if n not in sdist_only]
    pure = [r["text"] for n, r in lock.items() if n in sdist_only]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "binary.txt").write_text("\n".join(binary) + "\n")
        pip = [sys.executable, "-m", "pip"]
        tags = [a for t in platform_tags(arch) for a in ("--platform", t)]
        run(pip + ["download", "-q", "--no-deps", "--require-hashes", "--only-binary=:all:", *tags,
                   "--python-version", PYTHON_VERSION, "--implementation", "cp",
                   "-r", Path(tmp) / "binary.txt", "-d", house])
        if pure:
            (Path(tmp) / "pure.txt").write_text("\n".join(pure) + "\n")
            sdists = Path(tmp) / "sdists"
            run(pip + ["download", "-q", "--no-deps", "--require-hashes", "--no-binary=:all:",
                       "-r", Path(tmp) / "pure.txt", "-d", sdists])
            for sdist in sorted(sdists.iterdir()):
                run(pip + ["wheel", "-q", "--no-deps", "-w", house, sdist])
    for whl in house.glob("*.whl"):
        tag = whl.name.rsplit("-", 3)[-3:]
        if tag[2] != "any.whl" and arch not in tag[2]:
            raise SystemExit(f"{whl.name}: not a wheel for {arch}")
    stamp.write_text(sha256(lock_path(arch)))
    return house


def install_lock(arch: str, house: Path) -> str:
    """The lock the kiosk installs with: the committed pins, each with the hash of its wheel here.

    For downloaded wheels that hash is one the committed lock already lists; a
    wheel built from a pure sdist gets its own (the sdist's was checked).
    """
    lock = parse_lock(lock_path(arch))
    built_here = set((HERE / "sdist-pure.txt").read_text().split())
    lines = []
    for whl in sorted(house.glob("*.whl")):
        name = canonical(whl.name.split("-")[0])
        entry = lock.get(name)
        if entry is None:
            raise SystemExit(f"{whl.name} is in the wheelhouse but not in {lock_path(arch).name}")
        digest = sha256(whl)
        if name not in built_here and digest not in entry["hashes"]:
            raise SystemExit(f"{whl.name}: sha256 {digest} is not in the lock")
        lines.append(f"{entry['name']}=={entry['version']} --hash=sha256:{digest}")
    missing = set(lock) - {canonical(w.name.split('-')[0]) for w in house.glob("*.whl")}
    if missing:
        raise SystemExit(f"no wheel for {sorted(missing)} ({arch})")
    return "\n".join(lines) + "\n"


# --- the source tree and the project wheel ------------------------------------------------------
def stage_source(source: Path, dest: Path, version: str | None) -> str:
    try:
        listed = subprocess.run(["git", "-C", source, "ls-files", "-z", *SHIPPED], capture_output=True,
                                check=False).stdout.decode().split("\0")
    except OSError:                                 # no git installed (a copied tree on a Pi)
        listed = []
    files = [f for f in listed if f and (source / f).is_file()]
    if not files:                                   # not a git checkout: everything but caches
        files = [str(p.relative_to(source)) for s in SHIPPED for p in
                 ([source / s] if (source / s).is_file() else (source / s).rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts]
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, dest / rel)
    pyproject = dest / "pyproject.toml"
    current = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M).group(1)
    if version and version != current:
        pyproject.write_text(re.sub(r'^version = "[^"]+"', f'version = "{version}"', pyproject.read_text(),
                                    count=1, flags=re.M))
        init = dest / "kiosk" / "__init__.py"
        init.write_text(re.sub(r'^__version__ = "[^"]+"', f'__version__ = "{version}"', init.read_text(),
                               count=1, flags=re.M))
    return version or current


def compile_catalogs(src: Path) -> None:
    """The staged tree's PO catalogues -> .mo (Babel), so the wheel ships them compiled (docs/i18n.md)."""
    run([sys.executable, "-m", "kiosk.i18n", "compile"], cwd=src, stdout=subprocess.DEVNULL)


def project_wheel(src: Path, out: Path) -> Path:
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, src],
        stdout=subprocess.DEVNULL)
    return next(out.glob("myna_kiosk-*.whl"))


# --- the .deb ------------------------------------------------------------------------------------------
def control(version: str, arch: str, size_kb: int) -> str:
    return (f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: {DEB_ARCH[arch]}\n"
            "Maintainer: myna-kiosk <kiosk@localhost>\nSection: misc\nPriority: optional\n"
            f"Installed-Size: {size_kb}\nDepends: {', '.join(DEPENDS)}\nRecommends: {', '.join(RECOMMENDS)}\n"
            "Description: My Number Card / licence self-service kiosk (offline release)\n"
            " Wheelhouse, project wheel and deploy files; postinst builds\n"
            " /opt/kiosk/releases/<version> with pip --no-index and switches to it\n"
            " when the kiosk is idle, rolling back if it does not come up healthy.\n")


def build_deb(arch: str, version: str, src: Path, house: Path, kiosk_whl: Path, out: Path,
              compress: str, built: str) -> tuple[Path, dict]:
    deb_name = f"{PACKAGE}_{version}_{DEB_ARCH[arch]}"
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / deb_name
        payload = stage / PAYLOAD
        release = payload / "release"
        (release / "wheels").mkdir(parents=True)
        shutil.copytree(src, payload / "src", symlinks=True)
        for whl in [*house.glob("*.whl"), kiosk_whl]:
            shutil.copy2(whl, release / "wheels" / whl.name)
        (release / "requirements.lock").write_text(install_lock(arch, house))
        shutil.copy2(lock_path(arch), release / "requirements.source.lock")
        manifest = make_manifest(arch, version, release, payload / "src", built)
        (release / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        sums = sorted(p for p in release.rglob("*") if p.is_file())
        (release / "SHA256SUMS").write_text("".join(f"{sha256(p)}  {p.relative_to(release)}\n" for p in sums))
        # kiosk-update on PATH; the Mender update module where mender-update looks for it.
        (stage / "usr/sbin").mkdir(parents=True)
        os.symlink(f"/{PAYLOAD}/src/deploy/release/kiosk-update", stage / "usr/sbin/kiosk-update")
        modules = stage / "usr/share/mender/modules/v3"
        modules.mkdir(parents=True)
        os.symlink(f"/{PAYLOAD}/src/deploy/mender/kiosk-release", modules / "kiosk-release")
        debian = stage / "DEBIAN"
        debian.mkdir()
        for script in ("preinst", "postinst", "postrm"):
            shutil.copy2(HERE / "debian" / script, debian / script)
            os.chmod(debian / script, 0o755)
        size = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file()) // 1024
        (debian / "control").write_text(control(version, arch, size))
        deb = out / f"{deb_name}.deb"
        run(["dpkg-deb", "--root-owner-group", f"-Z{compress}", "--build", stage, deb],
            stdout=subprocess.DEVNULL)
    return deb, manifest


def pi_bench_record() -> dict:
    """What the pi-bench gate (`make release`, deploy/pi-bench/source_id.py --gate) decided."""
    if os.environ.get("PI_BENCH") == "skip":
        return {"gate": "skipped", "override": "PI_BENCH=skip"}
    if os.environ.get("PI_BENCH_GATE") != "passed":
        return {"gate": "not run"}                  # build.py called directly (tests/release)
    cache = Path(os.environ.get("PI_BENCH_CACHE", "/var/cache/myna-kiosk/pi-bench"))
    try:
        sid = (cache / "source-id").read_text().split()[0]
    except (OSError, IndexError):
        sid = None
    return {"gate": "passed", "source_id": sid}


def make_manifest(arch: str, version: str, release: Path, src: Path, built: str) -> dict:
    wheels = []
    for whl in sorted((release / "wheels").glob("*.whl")):
        name, wver = whl.name.split("-")[:2]
        wheels.append({"file": whl.name, "name": name, "version": wver, "sha256": sha256(whl)})
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {
        "package": PACKAGE, "version": version, "arch": arch, "deb_arch": DEB_ARCH[arch],
        "python": PYTHON_VERSION, "built": built, "git_commit": commit or None,
        "lock": {"file": lock_path(arch).name, "sha256": sha256(lock_path(arch))},
        "from_debian": {"pyscard": "python3-pyscard", "systemd-python": "python3-systemd"},
        "wheels": wheels,
        "pi_bench": pi_bench_record(),
        "deploy_files": {str(p.relative_to(src)): sha256(p) for p in sorted(src.rglob("*"))
                         if p.is_file() and p.parts[len(src.parts)] in ("deploy", "systemd")},
    }


def mender_artifact(deb: Path, arch: str, version: str, device_types: list[str]) -> Path | None:
    tool = shutil.which("mender-artifact")
    if tool is None:
        print("note: mender-artifact not installed (apt install mender-artifact): no .mender written")
        return None
    out = deb.with_suffix(".mender")
    types = [a for t in device_types for a in ("-t", t)]
    run([tool, "write", "module-image", "-T", "kiosk-release", "-n", f"{PACKAGE}-{version}", *types,
         "--software-name", PACKAGE, "--software-version", version, "-f", deb, "-o", out],
        stdout=subprocess.DEVNULL)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", action="append", choices=sorted(DEB_ARCH), help="default: aarch64 and x86_64")
    ap.add_argument("--out", type=Path, default=REPO / "dist")
    ap.add_argument("--version", help="release version (default: pyproject's)")
    ap.add_argument("--source", type=Path, default=REPO, help="source tree (default: this checkout)")
    ap.add_argument("--cache", type=Path, default=REPO / ".cache" / "release")
    ap.add_argument("--compress", choices=("xz", "gzip", "none"), default="none",
                    help="wheels are zip files already: compressing the .deb again gains ~5%%")
    ap.add_argument("--device-type", action="append", help="Mender device type (default: myna-kiosk-<debarch>)")
    ap.add_argument("--no-mender", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    built = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        version = stage_source(args.source.resolve(), src, args.version)
        compile_catalogs(src)
        kiosk_whl = project_wheel(src, Path(tmp) / "wheel")
        shutil.rmtree(src / "build", ignore_errors=True)
        for egg in src.glob("*.egg-info"):
            shutil.rmtree(egg)
        written = []
        for arch in args.arch or ["aarch64", "x86_64"]:
            house = wheelhouse(arch, args.cache)
            deb, manifest = build_deb(arch, version, src, house, kiosk_whl, args.out, args.compress, built)
            mpath = deb.with_suffix(".manifest.json")
            mpath.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
            written += [deb, mpath]
            if not args.no_mender:
                art = mender_artifact(deb, arch, version, args.device_type or [f"myna-kiosk-{DEB_ARCH[arch]}"])
                written += [art] if art else []
    sums = args.out / "SHA256SUMS"
    old = {line[66:]: line for line in sums.read_text().splitlines()} if sums.exists() else {}
    old.update({p.name: f"{sha256(p)}  {p.name}" for p in written})
    sums.write_text("".join(v + "\n" for _, v in sorted(old.items())))
    for p in written:
        print(f"wrote {p} ({p.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
