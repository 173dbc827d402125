"""kiosk receipt --preview, kiosk print-test and kiosk selftest, through the real `kiosk` entry point."""

from __future__ import annotations

import json
import socket

import pytest
from PIL import Image

from kiosk.cli import main
from kiosk.printer.receipt import KINDS


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("kind", KINDS)
def test_receipt_preview_for_every_kind(kind, tmp_path, capsys):
    out = tmp_path / f"{kind}.png"
    assert main(["receipt", "--preview", str(out), "--sample", kind, "--lang", "en", "--width", "384"]) == 0
    with Image.open(out) as img:
        assert img.width == 384 and img.height > 200
    assert f"{kind} (en) 384x" in capsys.readouterr().out


def test_receipt_preview_uses_the_config_width_and_language(tmp_path):
    cfg = write_config(tmp_path, '[kiosk]\ndefault_language = "ko"\n[printer]\nwidth_dots = 576\n')
    out = tmp_path / "p.png"
    assert main(["receipt", "--preview", str(out), "--sample", "pin_status", "--config", cfg]) == 0
    assert Image.open(out).width == 576


def test_receipt_preview_refuses_an_unknown_kind(tmp_path):
    with pytest.raises(SystemExit):
        main(["receipt", "--preview", str(tmp_path / "x.png"), "--sample", "everything"])


def test_print_test_on_a_file_printer(tmp_path, capsys):
    lp = tmp_path / "lp0"
    lp.write_bytes(b"")
    cfg = write_config(tmp_path, f'[printer]\nbackend = "file"\nfile = "{lp}"\nwidth_dots = 384\n')
    assert main(["print-test", "--config", cfg, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["bytes"] == len(lp.read_bytes()) > 1000
    assert b"\x1dv0" in lp.read_bytes()


def test_print_test_without_a_printer_fails(tmp_path, capsys):
    assert main(["print-test", "--config", write_config(tmp_path, "")]) == 1
    assert "printer.backend = none" in capsys.readouterr().err


def test_selftest_passes_with_mock_leds_a_file_printer_and_the_sim_reader(tmp_path, capsys):
    lp = tmp_path / "lp0"
    lp.write_bytes(b"")
    cfg = write_config(tmp_path, f"""
[reader]
uri = "sim:resident"
[leds]
enabled = true
pin_factory = "mock"
buzzer = 18
[printer]
backend = "file"
file = "{lp}"
""")
    assert main(["selftest", "--config", cfg, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    results = {i["item"]: i["result"] for i in report["items"]}
    assert report["ok"] and results == {"config": "pass", "font": "pass", "leds": "pass", "buzzer": "pass",
                                        "sound": "pass", "printer": "pass", "reader": "pass"}
    assert b"\x1dv0" in lp.read_bytes()


def test_selftest_reports_each_failure_and_exits_non_zero(tmp_path, capsys):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()                                  # nothing listens there
    cfg = write_config(tmp_path, f"""
[reader]
uri = "sim:"
[printer]
backend = "network"
network = "127.0.0.1:{port}"
timeout = 0.5
""")
    assert main(["selftest", "--config", cfg, "--wait", "0.1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  printer  test receipt not printed: offline" in out
    assert "FAIL  reader   sim:: no card within 0.1 s" in out
    assert "PASS  config" in out and "selftest: FAIL" in out


def test_selftest_with_a_bad_config_still_checks_the_rest(tmp_path, capsys):
    cfg = write_config(tmp_path, '[printer]\nbackend = "carrier-pigeon"\n')
    assert main(["selftest", "--config", cfg, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    items = {i["item"]: i for i in report["items"]}
    assert items["config"]["result"] == "fail" and "printer.backend" in items["config"]["detail"]
    assert items["reader"]["result"] == "pass"


@pytest.mark.parametrize("kind", KINDS)
def test_receipt_text_prints_the_slip_lines_without_an_image(kind, tmp_path, capsys, monkeypatch):
    from kiosk.printer import receipt as receipt_module

    def no_render(self, width_dots=576):
        raise AssertionError("--text must not render an image")

    monkeypatch.setattr(receipt_module.Receipt, "render", no_render)
    monkeypatch.chdir(tmp_path)
    assert main(["receipt", "--sample", kind, "--lang", "ja", "--text"]) == 0
    out = capsys.readouterr().out.splitlines()
    title = __import__("kiosk.i18n", fromlist=["catalog"]).catalog("ui", "ja").text(f"slip.title.{kind}")
    assert out[0] == title and len(out) > 5
    assert not list(tmp_path.iterdir())                 # no PNG written


def test_receipt_needs_preview_or_text(capsys):
    with pytest.raises(SystemExit):
        main(["receipt", "--sample", "renewal"])
