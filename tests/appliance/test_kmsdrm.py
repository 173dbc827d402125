"""kiosk.appliance.kmsdrm: "no display device" and "a driver library is missing" told apart."""

from __future__ import annotations

import _ctypes

import pytest

from kiosk.appliance import kmsdrm

REAL_SO = _ctypes.__file__          # a shared object that certainly loads here


@pytest.fixture
def dri(tmp_path, monkeypatch):
    """A DRI directory holding a loadable vc4_dri.so stand-in."""
    d = tmp_path / "dri"
    d.mkdir()
    (d / "vc4_dri.so").symlink_to(REAL_SO)
    monkeypatch.setenv("LIBGL_DRIVERS_PATH", str(d))
    return d


@pytest.fixture
def dev(tmp_path):
    d = tmp_path / "dev-dri"
    d.mkdir()
    (d / "card0").touch()
    (d / "renderD128").touch()
    return d


def test_every_library_loads_and_a_device_exists(dri, dev):
    report = kmsdrm.diagnose(str(dev), drivers=kmsdrm.PI_DRI_DRIVERS, libraries=(REAL_SO,))
    assert report.cause == "ok" and report.missing == ()
    assert report.devices == (str(dev / "card0"),)
    assert "ready" in report.message()


def test_a_missing_library_is_named_even_with_a_device(dri, dev):
    report = kmsdrm.diagnose(str(dev), drivers=kmsdrm.PI_DRI_DRIVERS, libraries=(REAL_SO, "libkiosk-no-such-lib.so.2"))
    assert report.cause == "driver_library_missing"
    assert report.missing == ("libkiosk-no-such-lib.so.2",)
    assert "libkiosk-no-such-lib.so.2" in report.message() and "libgl1-mesa-dri" in report.message()
    assert "no display device" not in report.message()


def test_no_dri_driver_is_a_missing_library(tmp_path, monkeypatch, dev):
    monkeypatch.setenv("LIBGL_DRIVERS_PATH", str(tmp_path))
    report = kmsdrm.diagnose(str(dev), drivers=kmsdrm.PI_DRI_DRIVERS, libraries=(REAL_SO,))
    assert report.cause == "driver_library_missing"
    assert report.missing == ("vc4_dri.so or v3d_dri.so",)


def test_a_dri_driver_that_cannot_load_is_missing(tmp_path, monkeypatch, dev):
    (tmp_path / "v3d_dri.so").write_bytes(b"not an ELF file")
    monkeypatch.setenv("LIBGL_DRIVERS_PATH", str(tmp_path))
    report = kmsdrm.diagnose(str(dev), drivers=kmsdrm.PI_DRI_DRIVERS, libraries=(REAL_SO,))
    assert report.cause == "driver_library_missing"
    assert not report.dri_drivers[1].loaded and report.dri_drivers[1].detail


def test_no_device_with_every_library(dri, tmp_path):
    report = kmsdrm.diagnose(str(tmp_path / "absent"), drivers=("vc4",), libraries=(REAL_SO,))
    assert report.cause == "no_display_device"
    assert report.message().startswith("no display device")
    assert report.as_dict()["cause"] == "no_display_device"


def test_the_module_command_exits_1_on_a_missing_library(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIBGL_DRIVERS_PATH", str(tmp_path))
    assert kmsdrm.main(["--driver", "vc4"]) == 1
    assert "MISSING vc4_dri.so" in capsys.readouterr().out


def test_the_pi_packages_list_names_every_library_package():
    from pathlib import Path
    listed = set(Path(__file__).resolve().parents[2].joinpath("deploy/apt-pi.txt").read_text().split())
    assert set(kmsdrm.PACKAGES.split()) <= listed


def test_the_pi_drivers_on_arm_any_driver_elsewhere(monkeypatch):
    monkeypatch.setattr(kmsdrm.platform, "machine", lambda: "aarch64")
    assert kmsdrm.default_drivers() == ("vc4", "v3d")
    monkeypatch.setattr(kmsdrm.platform, "machine", lambda: "x86_64")
    assert kmsdrm.default_drivers() == ("*",)


def test_kiosk_status_reports_the_display_cause(tmp_path, dri, monkeypatch):
    from kiosk.appliance import status
    from kiosk.config import Config
    monkeypatch.setattr(kmsdrm, "default_drivers", lambda: ("vc4",))
    monkeypatch.setattr(kmsdrm, "SDL_LIBRARIES", (REAL_SO,))
    cfg = Config()
    assert status.display_report(cfg, tmp_path)["cause"] == "no_display_device"
    (tmp_path / "dev" / "dri").mkdir(parents=True)
    (tmp_path / "dev" / "dri" / "card1").touch()
    shown = status.display_report(cfg, tmp_path)
    assert shown["cause"] == "ok" and shown["devices"] == [str(tmp_path / "dev/dri/card1")]
    monkeypatch.setattr(kmsdrm, "SDL_LIBRARIES", (REAL_SO, "libkiosk-none.so.1"))
    assert status.display_report(cfg, tmp_path)["cause"] == "driver_library_missing"
    cfg.display.driver = "x11"
    assert status.display_report(cfg, tmp_path) == {"driver": "x11", "cause": "not_checked"}
