"""Configuration: the example covers every key, validation names key and accepted values,
a bad file never crashes the kiosk, and ``kiosk config check`` exits 40."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from kiosk.cli import main as kiosk_main
from kiosk.config import Config, as_dict, load_config, load_config_safely, parse_config
from kiosk.errors import EXIT_CODES, ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "kiosk.toml"


def keys(tree: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in tree.items():
        full = f"{prefix}.{k}" if prefix else k
        out |= keys(v, full) if isinstance(v, dict) else {full}
    return out


ALL_KEYS = keys(as_dict(Config()))


def test_example_sets_every_key_and_is_valid():
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert keys(raw) == ALL_KEYS
    cfg = load_config(EXAMPLE)
    assert cfg.path == str(EXAMPLE) and cfg.reader.uri == "pcsc"


def test_docs_config_documents_every_key():
    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", doc, re.M))
    assert ALL_KEYS <= documented, sorted(ALL_KEYS - documented)
    assert documented <= ALL_KEYS, sorted(documented - ALL_KEYS)


@pytest.mark.parametrize("text, key, accepted", [
    ('[printer]\nbackend = "usbb"\n', "printer.backend", ["none", "dummy", "usb", "serial", "network", "file"]),
    ('[display]\ndriver = "fbcon"\n', "display.driver", ["auto", "kmsdrm", "x11", "wayland", "dummy"]),
    ('[printer]\nwidth_dots = 500\n', "printer.width_dots", ["384", "576"]),
    ('[kiosk]\ndefault_language = "fr"\n', "kiosk.default_language",
     ["ja", "en", "zh", "ko", "vi", "ne", "pt_BR", "fil", "ja@easy"]),
    ('[timeouts]\npin_seconds = 1\n', "timeouts.pin_seconds", None),
    ('[timeouts]\npin_seconds = "30"\n', "timeouts.pin_seconds", None),
    ('[leds]\nenabled = 1\n', "leds.enabled", None),
    ('[reader]\nurl = "pcsc"\n', "reader.url", None),
    ('[readr]\nuri = "pcsc"\n', "readr", None),
    ('[printer]\nbackend = "usb"\n', "printer.usb", None),
    ('[printer]\nbackend = "usb"\nusb = "epson"\n', "printer.usb", None),
    ('[printer]\nbackend = "network"\nnetwork = "printer"\n', "printer.network", None),
    ('[linkage]\ngateway = "http://gw.example/"\n', "linkage.gateway", None),
    ('[linkage]\nallow_networks = ["10.0.0.0/33"]\n', "linkage.allow_networks", None),
    ('[kiosk]\nlanguages = ["ja", "de"]\n', "kiosk.languages", None),
    ('[kiosk]\nlanguages = ["ja", "en", "ja"]\n', "kiosk.languages", None),
    ('[kiosk]\nlanguages = ["en"]\n', "kiosk.default_language", None),
    ('kiosk = 3\n', "kiosk", None),
    ('[kiosk\n', "(file)", None),
])
def test_validation_names_the_key_and_accepted_values(text, key, accepted):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "kiosk.toml")
    err = info.value
    assert err.details["key"] == key
    assert key.split(".")[-1] in err.message or key == "(file)"
    if accepted:
        assert err.details["accepted"] == accepted
        assert all(a in err.message for a in accepted)
    assert err.exit_code == EXIT_CODES["config_error"] == 40


def test_unknown_key_lists_the_accepted_keys():
    with pytest.raises(ConfigError) as info:
        parse_config('[reader]\nurl = "pcsc"\n')
    assert "accepted keys: uri" in info.value.message


@pytest.mark.parametrize("content", [
    b'[printer]\nbackend = "usbb"\n', b"\xff\xfe not utf-8", b"[[[", b"display = []\n",
])
def test_bad_file_gives_defaults_plus_error_and_a_journal_event(tmp_path, records, content):
    path = tmp_path / "kiosk.toml"
    path.write_bytes(content)
    cfg, err = load_config_safely(path, report=True)
    assert isinstance(cfg, Config) and cfg == Config()
    assert isinstance(err, ConfigError)
    rec = records.wait_for(lambda r: r["EVENT"] == "config_error")
    assert rec["PRIORITY"] == 3 and rec["CONFIG"] == str(path) and rec["ERROR_CODE"] == "config_error"
    assert rec["KEY"] == err.details["key"]


def test_a_directory_or_missing_explicit_file_is_an_error_not_a_crash(tmp_path, records):
    cfg, err = load_config_safely(tmp_path)
    assert err is not None and cfg == Config()
    cfg, err = load_config_safely(tmp_path / "absent.toml")
    assert err is not None and err.details["key"] == "(file)"
    assert records.items == []          # by default nothing is logged (the session logs once)


def test_no_file_at_the_default_path_means_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("KIOSK_CONFIG", str(tmp_path / "none.toml"))
    assert load_config_safely() == (Config(), None)


def test_config_check_cli(tmp_path, capsys):
    assert kiosk_main(["config", "check", "--config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.strip() == f"{EXAMPLE}: OK"
    bad = tmp_path / "kiosk.toml"
    bad.write_text('[display]\ndriver = "fbcon"\n')
    assert kiosk_main(["config", "check", "--config", str(bad)]) == 40
    err = capsys.readouterr().err
    assert "display.driver" in err and "kmsdrm" in err
    assert kiosk_main(["config", "check", "--json", "--config", str(bad)]) == 40
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["key"] == "display.driver" and "kmsdrm" in out["error"]["accepted"]


def test_config_show_prints_effective_values(capsys):
    assert kiosk_main(["config", "show", "--json", "--config", str(EXAMPLE)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["display"]["driver"] == "kmsdrm" and shown["offices"]["police"]["hours"]
    assert kiosk_main(["config", "show", "--config", str(EXAMPLE)]) == 0
    text = capsys.readouterr().out
    assert "[offices.police]" in text
    assert parse_config(text.replace("\n\n", "\n")) is not None      # valid TOML back
