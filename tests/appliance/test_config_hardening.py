"""Configuration inputs that used to crash or hang: each is a config_error naming the key.

Found by an independent run over 5,400 generated files (issue 13): integer
literals past Python's 4300-digit limit, nesting deeper than the stack, a
huge hex integer in an error message, an integer too large for a float key,
a non-ASCII digit in a port; a FIFO, a device or a directory given as the
file; oversized values echoed in full; only the first error reported.
Each goes through the real ``kiosk config check`` (exit 40).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kiosk.cli import main
from kiosk.config import MAX_SHOWN, load_config_safely

DEEP = 1000


def check(path, capsys, as_json=True) -> tuple[int, dict | str]:
    code = main(["config", "check", "--config", str(path)] + (["--json"] if as_json else []))
    out = capsys.readouterr()
    if as_json:
        return code, json.loads(out.out)["error"]
    return code, out.err


@pytest.mark.parametrize("text, key", [
    ("[display]\nwidth = 1" + "0" * 5000 + "\n", "display.width"),
    ("[kiosk]\nid = 'a'\n[linkage]\nallow_networks = " + "[" * DEEP + "]" * DEEP + "\n", "linkage.allow_networks"),
    ("[kiosk]\nname = " + "{a = " * DEEP + "1" + "}" * DEEP + "\n", "kiosk.name"),
    ("[display]\nwidth = 0x" + "F" * 5000 + "\n", "display.width"),
    ("[printer]\ntimeout = 1" + "0" * 400 + "\n", "printer.timeout"),
    ('[printer]\nbackend = "network"\nnetwork = "host:\u00b2"\n', "printer.network"),
    ('[printer]\nbackend = "usb"\nusb = "\u00b2:0202"\n', "printer.usb"),
], ids=["int-5000-digits", "arrays-1000-deep", "inline-tables-1000-deep", "hex-5000-digits",
        "int-for-float-key", "superscript-port", "superscript-vid"])
def test_inputs_that_crashed_are_config_errors_naming_the_key(tmp_path, capsys, text, key):
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    code, err = check(path, capsys)
    assert code == 40
    assert err["code"] == "config_error" and err["key"] == key
    assert len(err["message"]) < 400


def test_kiosk_starts_on_defaults_with_each_bad_file(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text("[display]\nwidth = 0x" + "F" * 5000 + "\n", encoding="utf-8")
    cfg, err = load_config_safely(path)
    assert err is not None and err.details["key"] == "display.width" and cfg.display.width == 800


def test_every_error_is_listed_not_just_the_first(tmp_path, capsys):
    path = tmp_path / "kiosk.toml"
    path.write_text('[display]\ndriver = "vga"\nwidth = "wide"\n[printer]\nbaudrate = 7\n'
                    '[kiosk]\nlanguages = ["xx"]\n', encoding="utf-8")
    code, err = check(path, capsys)
    assert code == 40
    assert [e["key"] for e in err["errors"]] == ["display.driver", "display.width", "printer.baudrate",
                                                 "kiosk.languages"]
    code, text = check(path, capsys, as_json=False)
    for key in ("display.driver", "display.width", "printer.baudrate", "kiosk.languages"):
        assert key in text
    assert "4 errors" in text


def test_an_oversized_value_is_cut_in_the_message(tmp_path, capsys):
    path = tmp_path / "kiosk.toml"
    path.write_text('[display]\nwidth = "' + "x" * 900_000 + '"\n', encoding="utf-8")
    code, err = check(path, capsys)
    assert code == 40 and err["key"] == "display.width"
    assert len(err["message"]) < 100 + MAX_SHOWN and "900002 characters" in err["message"]


def test_a_ten_megabyte_file_is_refused_unread(tmp_path, capsys):
    path = tmp_path / "kiosk.toml"
    path.write_text('[kiosk]\nname = "' + "x" * 10_000_000 + '"\n', encoding="utf-8")
    code, err = check(path, capsys)
    assert code == 40 and err["key"] == "(file)" and "at most" in err["message"]
    assert len(err["message"]) < 300


def _check_in_subprocess(path, timeout=20) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", "config", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=timeout)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "kiosk.toml"
    os.mkfifo(fifo)
    done = _check_in_subprocess(fifo)          # blocked forever before: TimeoutExpired fails the test
    assert done.returncode == 40 and "FIFO" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("target, kind", [("/dev/zero", "device"), ("/dev/null", "device")])
def test_a_device_is_refused_without_reading(target, kind):
    done = _check_in_subprocess(target)        # /dev/zero ended in MemoryError before
    assert done.returncode == 40 and kind in done.stderr and "Traceback" not in done.stderr


def test_a_directory_is_refused(tmp_path):
    done = _check_in_subprocess(tmp_path)
    assert done.returncode == 40 and "directory" in done.stderr and "Traceback" not in done.stderr
