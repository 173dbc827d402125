"""`kiosk card status|licence`: JSON, error codes, PIN from stdin only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kiosk.errors import EXIT_CODES


def kiosk(*args, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def test_status_json_is_stable():
    out = kiosk("card", "status", "--reader", "sim:resident", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["card_type"] == "myna_licence"
    assert [p["id"] for p in data["pins"]] == ["licence", "jpki_auth", "jpki_sign", "kenhojo", "juki"]
    assert set(data["pins"][0]) == {"id", "tries_left", "max_tries", "locked"}
    assert data["auth_cert_not_after"] == "2029-05-02" and data["card_expiry"] == "2034-05-02"


def test_licence_reads_pin_from_stdin():
    out = kiosk("card", "licence", "--reader", "sim:resident", "--json", stdin="1357\n")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["expiry"] == "2027-06-15" and data["online_course_eligible"] is True
    assert "1357" not in out.stdout + out.stderr


@pytest.mark.parametrize("args,stdin,code", [
    (("card", "licence", "--reader", "sim:resident"), "0000\n", "pin_wrong"),
    (("card", "licence", "--reader", "sim:resident"), "12\n", "pin_format"),
    (("card", "licence", "--reader", "sim:licence-locked"), "", "pin_locked"),
    (("card", "licence", "--reader", "sim:myna-plain"), "", "no_licence"),
    (("card", "status", "--reader", "sim:unknown"), "", "unsupported_card"),
    (("card", "status", "--reader", "sim:"), "", "no_card"),
    (("card", "status", "--reader", "bogus:x"), "", "no_reader"),
])
def test_errors_have_codes_and_exit_codes(args, stdin, code):
    out = kiosk(*args, "--json", stdin=stdin)
    assert out.returncode == EXIT_CODES[code]
    err = json.loads(out.stdout)["error"]
    assert err["code"] == code
    if code == "pin_wrong":
        assert err["tries_left"] == 9


def test_no_pin_card_needs_no_input():
    out = kiosk("card", "licence", "--reader", "sim:licence-no-pin", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["colour_class"] == "一般"


def test_there_is_no_pin_option():
    out = kiosk("card", "licence", "--reader", "sim:resident", "--pin", "1357")
    assert out.returncode == 2          # argparse refuses: PINs never come from argv


def test_photo_is_written(tmp_path):
    photo = tmp_path / "photo.png"
    out = kiosk("card", "licence", "--reader", "sim:resident", "--photo", str(photo), stdin="1357\n")
    assert out.returncode == 0, out.stderr
    assert photo.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
