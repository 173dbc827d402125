"""Can SDL's KMSDRM driver run here?  The display device and the driver libraries, checked apart.

pygame-ce's bundled SDL has the KMSDRM driver built in but loads its
libraries from the system at run time: libdrm, libgbm, libEGL, libGLESv2, and
Mesa's DRI driver for the Pi's GPU (vc4 on a Pi 0-3, v3d on a Pi 4/5).  When
one is missing SDL says only ``kmsdrm not available`` -- the same text as an
unknown driver name -- so the kiosk asks here which of the two it is:

* ``no_display_device``: no ``/dev/dri/card*`` (no screen, no KMS overlay,
  or the kiosk user lacks the video group);
* ``driver_library_missing``: a library does not load (deploy/apt-pi.txt:
  libdrm2 libgbm1 libegl1 libgles2 libgl1-mesa-dri).

Libraries are dlopen()ed by soname, exactly as SDL does, so a library that is
present but cannot load (a missing dependency) counts as missing.  The bench
(``make pi-bench``) runs ``python -m kiosk.appliance.kmsdrm`` in its arm64 root.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import platform
import sys
import sysconfig
from dataclasses import asdict, dataclass

SDL_LIBRARIES = ("libdrm.so.2", "libgbm.so.1", "libEGL.so.1", "libGLESv2.so.2")
PI_DRI_DRIVERS = ("vc4", "v3d")
ARM = ("aarch64", "armv7l", "armv6l")
PACKAGES = "libdrm2 libgbm1 libegl1 libgles2 libgl1-mesa-dri"


@dataclass(frozen=True)
class Library:
    name: str
    loaded: bool
    detail: str            # the path it loaded from, or why it did not


@dataclass(frozen=True)
class KmsdrmReport:
    devices: tuple[str, ...]
    libraries: tuple[Library, ...]
    dri_drivers: tuple[Library, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        libs = tuple(lib.name for lib in self.libraries if not lib.loaded)
        if not any(d.loaded for d in self.dri_drivers):
            libs += (" or ".join(d.name for d in self.dri_drivers),)
        return libs

    @property
    def cause(self) -> str:
        """ok | driver_library_missing | no_display_device (libraries first: they fail everywhere)."""
        if self.missing:
            return "driver_library_missing"
        if not self.devices:
            return "no_display_device"
        return "ok"

    def message(self) -> str:
        if self.cause == "driver_library_missing":
            return (f"display driver library missing: {', '.join(self.missing)} "
                    f"(install: apt-get install {PACKAGES})")
        if self.cause == "no_display_device":
            return ("no display device: /dev/dri/card* does not exist "
                    "(screen connected? dtoverlay=vc4-kms-v3d in config.txt? kiosk user in group video?)")
        return "KMSDRM ready: " + ", ".join(self.devices)

    def as_dict(self) -> dict:
        return {"cause": self.cause, "message": self.message(), "missing": list(self.missing),
                **asdict(self)}


def _load(name: str) -> Library:
    try:
        handle = ctypes.CDLL(name, mode=os.RTLD_NOW | os.RTLD_LOCAL)
    except OSError as exc:
        return Library(os.path.basename(name), False, str(exc))
    return Library(os.path.basename(name), True, _path_of(handle, name))


def _path_of(handle: ctypes.CDLL, name: str) -> str:
    """Where the dynamic loader found ``name`` (from /proc/self/maps; the name when unknown)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                path = line.rsplit(None, 1)[-1]
                if os.path.basename(path).startswith(os.path.basename(name)):
                    return path
    except OSError:
        pass
    return name


def dri_dirs() -> list[str]:
    """Where Mesa's loader looks for *_dri.so: LIBGL_DRIVERS_PATH, else the multiarch dir."""
    env = os.environ.get("LIBGL_DRIVERS_PATH")
    if env:
        return [d for d in env.split(":") if d]
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    return [d for d in (f"/usr/lib/{arch}/dri" if arch else "", "/usr/lib/dri") if d]


def check_libraries(drivers: tuple[str, ...] = PI_DRI_DRIVERS, libraries: tuple[str, ...] = SDL_LIBRARIES,
                    ) -> tuple[tuple[Library, ...], tuple[Library, ...]]:
    """(the SDL libraries, the DRI drivers), each dlopen()ed."""
    libs = tuple(_load(name) for name in libraries)
    found = []
    for drv in drivers:
        paths = sorted(p for d in dri_dirs() for p in glob.glob(os.path.join(d, f"{drv}_dri.so")))
        found.append(_load(paths[0]) if paths else
                     Library(f"{drv}_dri.so", False, "not in " + ":".join(dri_dirs())))
    return libs, tuple(found)


def default_drivers() -> tuple[str, ...]:
    """vc4/v3d on the Pi's architectures; elsewhere (a desktop, CI) any DRI driver will do."""
    return PI_DRI_DRIVERS if platform.machine() in ARM else ("*",)


def diagnose(dev_dir: str = "/dev/dri", drivers: tuple[str, ...] | None = None,
             libraries: tuple[str, ...] | None = None) -> KmsdrmReport:
    """The display device and the driver libraries, as one frozen report."""
    libs, dri = check_libraries(drivers or default_drivers(), libraries or SDL_LIBRARIES)
    devices = tuple(sorted(glob.glob(os.path.join(dev_dir, "card[0-9]*"))))
    return KmsdrmReport(devices, libs, dri)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every library loads (the bench's check; a device is not needed for it)."""
    parser = argparse.ArgumentParser(prog="python -m kiosk.appliance.kmsdrm", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--driver", action="append",
                        help="DRI driver name, repeatable (default: vc4 and v3d; off ARM any)")
    args = parser.parse_args(argv)
    report = diagnose(drivers=tuple(args.driver) if args.driver else None)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for lib in report.libraries + report.dri_drivers:
            print(f"{'ok     ' if lib.loaded else 'MISSING'} {lib.name:16} {lib.detail}")
        print(f"devices: {', '.join(report.devices) or 'none'}")
        print(report.message())
    return 1 if report.missing else 0


if __name__ == "__main__":
    sys.exit(main())
