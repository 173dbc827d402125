"""The fleet playbook: syntax-check, ansible-lint (offline), rolling updates, valid kiosk config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jinja2
import yaml

from kiosk.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "deploy" / "ansible"
BIN = Path(sys.executable).parent


def run(tool: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    exe = BIN / tool
    assert exe.exists(), f"{tool} missing from the venv: pip install -e '.[dev]'"
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               NO_COLOR="1", ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(exe), *args], cwd=ANSIBLE, capture_output=True, text=True, env=env, timeout=300)


def test_playbook_syntax_check(tmp_path):
    result = run("ansible-playbook", "--syntax-check", "-i", "inventory.example.ini", "site.yml", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile_offline(tmp_path):
    result = run("ansible-lint", "--offline", "--nocolor", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_kiosks_update_in_batches_one_first_through_kiosk_update():
    plays = yaml.safe_load((ANSIBLE / "site.yml").read_text())
    kiosks = next(p for p in plays if p["hosts"] == "kiosks")
    assert kiosks["serial"] == "{{ kiosk_serial | default([1]) }}" and kiosks["max_fail_percentage"] == 0
    tasks = (ANSIBLE / "roles/kiosk/tasks/main.yml").read_text()
    assert "/kiosk-update " in tasks and "kiosk status --json" in tasks and "--config" in tasks
    assert "systemd-journal-upload.service" in tasks
    assert any(p["hosts"] == "journal_remote" for p in plays)


def render(template: str, variables: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ANSIBLE / "roles/kiosk/templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    env.filters["to_json"] = json.dumps
    env.filters["bool"] = lambda v: v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes", "on")
    return env.get_template(template).render(ansible_managed="Ansible managed", **variables)


def role_defaults(**overrides) -> dict:
    values = yaml.safe_load((ANSIBLE / "roles/kiosk/defaults/main.yml").read_text())
    values.update(yaml.safe_load((ANSIBLE / "group_vars/all.yml").read_text()))
    values.update(kiosk_id="kiosk-03", **overrides)
    return values


def test_rendered_kiosk_config_passes_the_kiosk_validator():
    cfg = parse_config(render("kiosk.toml.j2", role_defaults()))
    assert cfg.kiosk.id == "kiosk-03" and cfg.printer.backend == "usb" and cfg.printer.usb == "04b8:0202"
    assert cfg.offices.municipality.name.startswith("〇〇市役所")
    cfg = parse_config(render("kiosk.toml.j2", role_defaults(
        kiosk_printer_backend="none", kiosk_reader_uri="nfcpy:usb", kiosk_leds_enabled="false",
        kiosk_linkage_gateway="https://gw.example.lg.jp/", kiosk_linkage_allow_networks=["10.9.0.0/16"])))
    assert cfg.printer.backend == "none" and cfg.leds.enabled is False
    assert cfg.linkage.allow_networks == ["10.9.0.0/16"]


def test_journal_upload_template():
    text = render("journal-upload.conf.j2", role_defaults(kiosk_journal_upload_url="http://logs-01.lan:19532"))
    assert "URL=http://logs-01.lan:19532" in text and "ServerKeyFile" not in text


def _render_remote(template: str, **overrides) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ANSIBLE / "roles/journal_remote/templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    values = yaml.safe_load((ANSIBLE / "roles/journal_remote/defaults/main.yml").read_text())
    values.update(journal_remote_tls_key="/etc/ssl/private/logs.key", journal_remote_tls_cert="/etc/ssl/logs.crt",
                  journal_remote_tls_ca="/etc/ssl/city-kiosk-ca.crt", **overrides)
    return env.get_template(template).render(ansible_managed="Ansible managed", **values)


def test_journal_remote_defaults_to_https_with_client_certificates():
    """journal-remote on loopback only, nginx in front requiring the kiosks' client certificates
    (Debian 12's journal-remote cannot verify them: tests/appliance/test_journal_upload.py)."""
    nginx = _render_remote("nginx-journal-remote.conf.j2")
    assert "ssl_verify_client on;" in nginx and "ssl_client_certificate /etc/ssl/city-kiosk-ca.crt;" in nginx
    assert "listen 19532 ssl;" in nginx and "proxy_pass http://127.0.0.1:19531;" in nginx
    assert "ListenStream=127.0.0.1:19531" in _render_remote("socket.conf.j2")
    assert "--listen-http=-3" in _render_remote("listen.conf.j2")
    assert "Trusted" not in _render_remote("journal-remote.conf.j2")      # refused by Debian 12's build
    plain = _render_remote("socket.conf.j2", journal_remote_listen="http")
    assert "ListenStream=19532" in plain
