"""``kiosk status`` and ``kiosk diag``: what they report, and that the bundle is redacted."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from kiosk.appliance import diag, hardware, runstate, status
from kiosk.appliance.redact import redact
from kiosk.cli import main as kiosk_main
from kiosk.signals import Bus, KioskState, ServiceCondition


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def sysroot(tmp_path) -> Path:
    """A fake /sys and /proc: an under-volted Pi 4 with an RC-S380 and a USB printer."""
    root = tmp_path / "sysroot"
    write(root / "sys/class/hwmon/hwmon0/name", "cpu_thermal\n")
    write(root / "sys/class/hwmon/hwmon1/name", "rpi_volt\n")
    write(root / "sys/class/hwmon/hwmon1/in0_lcrit_alarm", "1\n")
    write(root / "sys/class/thermal/thermal_zone0/temp", "61234\n")
    write(root / "sys/fs/ext4/mmcblk0p2/errors_count", "3\n")
    write(root / "proc/mounts", "overlayroot / overlay rw,relatime 0 0\n/dev/mmcblk0p1 /boot/firmware vfat ro 0 0\n")
    usb = root / "sys/bus/usb/devices"
    write(usb / "1-1.2/idVendor", "054c\n")
    write(usb / "1-1.2/idProduct", "06c3\n")
    write(usb / "1-1.2/product", "RC-S380/P\n")
    write(usb / "1-1.2/serial", "SERIAL-0123456789\n")
    write(usb / "1-1.2:1.0/bInterfaceClass", "ff\n")
    write(usb / "1-1.3/idVendor", "04b8\n")
    write(usb / "1-1.3/idProduct", "0202\n")
    write(usb / "1-1.3/product", "TM-T88V\n")
    write(usb / "1-1.3:1.0/bInterfaceClass", "07\n")
    return root


@pytest.fixture
def pi_config(tmp_path) -> Path:
    return write(tmp_path / "kiosk.toml",
                 '[reader]\nuri = "nfcpy:usb"\n[printer]\nbackend = "usb"\nusb = "04b8:0202"\n'
                 '[leds]\nenabled = true\n')


def test_hardware_probes(sysroot):
    assert hardware.undervoltage(sysroot) == {"available": True, "now": True, "source": "hwmon1/in0_lcrit_alarm"}
    assert hardware.temperature(sysroot) == pytest.approx(61.234)
    st = hardware.storage(sysroot)
    assert st["ext4_errors"] == {"mmcblk0p2": 3} and st["overlayroot"] and st["root_read_only"] is False
    devices = {d["id"]: d for d in hardware.usb_devices(sysroot)}
    assert devices["054c:06c3"]["role"] == "reader" and devices["04b8:0202"]["role"] == "printer"
    assert "SERIAL" not in json.dumps(devices)
    assert hardware.decode_throttled(0x50005) == [
        "under-voltage now", "throttled now", "under-voltage has occurred", "throttling has occurred"]
    empty = sysroot.parent / "empty"
    empty.mkdir()
    assert hardware.undervoltage(empty)["available"] is False and hardware.usb_devices(empty) == []


def test_status_reports_the_running_kiosk(sysroot, pi_config, tmp_path, monkeypatch):
    monkeypatch.setattr(status, "systemd_running", lambda: False)     # hermetic on a systemd desktop too
    bus = Bus()
    state_file = tmp_path / "run" / "state.json"
    runstate.RuntimeState(bus, state_file).attach()
    bus.state(KioskState.WAITING_PIN)
    bus.service(ServiceCondition.PRINTER_PAPER_OUT, True, "paper end")
    report = status.gather(str(pi_config), sysroot, state_file, with_journal=False)
    assert report["kiosk"] == {"running": True, "state": "waiting_pin", "service_needed": ["printer_paper_out"]}
    assert report["leds"] == {"enabled": True, "showing": "service needed: printer_paper_out"}
    assert report["readers"]["present"] is True and report["printer"]["present"] is True
    assert report["power"]["undervoltage"]["now"] is True
    assert report["ok"] is False
    text = status.render(report)
    assert "printer_paper_out" in text and "under-voltage NOW" in text and "SERVICE NEEDED" in text

    bus.service(ServiceCondition.PRINTER_PAPER_OUT, False)
    bus.state(KioskState.READY)
    report = status.gather(str(pi_config), sysroot, state_file, with_journal=False)
    assert report["kiosk"]["service_needed"] == [] and report["leds"]["showing"] == "ready"
    assert report["ok"] is True
    assert oct(state_file.stat().st_mode & 0o777) == "0o644"

    # An unsynchronised clock is reported but is no reason for the health gate to fail.
    bus.service(ServiceCondition.CLOCK_UNSYNCED, True, "no NTP")
    report = status.gather(str(pi_config), sysroot, state_file, with_journal=False)
    assert report["kiosk"]["service_needed"] == ["clock_unsynchronized"] and report["ok"] is True
    bus.service(ServiceCondition.PRINTER_PAPER_OUT, True, "paper end")
    report = status.gather(str(pi_config), sysroot, state_file, with_journal=False)
    assert report["ok"] is False


def test_status_reports_a_bad_config_as_service_needed(tmp_path, capsys, records, monkeypatch):
    monkeypatch.setattr(status, "systemd_running", lambda: False)
    bad = write(tmp_path / "kiosk.toml", '[leds]\nkind = "blinky"\n')
    code = kiosk_main(["status", "--json", "--config", str(bad), "--sysroot", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["config"]["valid"] is False
    assert report["config"]["error"]["key"] == "leds.kind"
    assert report["config"]["error"]["accepted"] == ["rgb", "discrete"]
    assert "config_error" in report["kiosk"]["service_needed"] and report["ok"] is False
    assert records.items == []                  # status itself does not write to the journal
    assert kiosk_main(["status", "--config", str(bad), "--sysroot", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert "INVALID: leds.kind" in text and "accepted: rgb, discrete" in text


SECRETS = {
    "ipv4": "192.168.50.7", "gateway_ip": "10.1.2.3", "ipv6": "2001:db8:1::42", "mac": "dc:a6:32:01:02:03",
    "email": "it-admin@city.example.lg.jp", "hostname": "kiosk-shibuya-07", "password": "hunter2hunter2",
    "pin": "1357", "my_number": "123456789018", "licence": "912345678901", "pem": "MIIEvQIBADANBgkqhkiG9w0",
    "key_file": "TOPSECRETKEYMATERIAL",
}


def _event(event: str, message: str, stamp: int, **fields) -> dict:
    from kiosk import journal
    return {"MESSAGE": message, "EVENT": event, "MESSAGE_ID": journal.EVENTS[event], "SYSLOG_IDENTIFIER": "kiosk",
            "__REALTIME_TIMESTAMP": str(stamp), "_HOSTNAME": SECRETS["hostname"], "_PID": "812", **fields}


def fake_run(argv, **kwargs):
    text = ""
    if argv[0] == "journalctl":
        base = 1764064800000000
        free = {"SYSLOG_IDENTIFIER": "kiosk", "_PID": "812", "_HOSTNAME": SECRETS["hostname"]}
        records = [
            _event("linkage_unreachable", f"linkage to {SECRETS['gateway_ip']} failed", base,
                   ERROR_CODE="gateway_error"),
            {**free, "MESSAGE": f"wlan0 {SECRETS['mac']} addr {SECRETS['ipv6']} dns {SECRETS['ipv4']}",
             "__REALTIME_TIMESTAMP": str(base + 1)},
            {**free, "MESSAGE": f"password={SECRETS['password']}", "__REALTIME_TIMESTAMP": str(base + 2)},
            {**free, "MESSAGE": f"typed PIN {SECRETS['pin']} number {SECRETS['my_number']} "
                                f"licence {SECRETS['licence']}", "__REALTIME_TIMESTAMP": str(base + 3)},
            {**free, "MESSAGE": f"-----BEGIN PRIVATE KEY-----\n{SECRETS['pem']}\n-----END PRIVATE KEY-----",
             "__REALTIME_TIMESTAMP": str(base + 4)},
            _event("reader_missing", "reader missing", base + 5, ERROR_CODE="no_reader"),
            {**free, "MESSAGE": f"mail {SECRETS['email']} pin {SECRETS['pin']}", "EVENT": "printer_error",
             "ERROR_CODE": "offline", "__REALTIME_TIMESTAMP": str(base)},
        ]
        if "warning" in argv:
            records = [_event("printer_error", f"printer offline; mail {SECRETS['email']}", base,
                              ERROR_CODE="offline")]
        text = "\n".join(json.dumps(r) for r in records) + "\n"
    elif argv[0] == "systemctl":
        text = (f"ActiveState=active\nSubState=running\nNRestarts=2\nStatusText=ready on {SECRETS['hostname']}\n"
                if "show" in argv else f"kiosk.service - myna-kiosk\n  Active: active (running) on {SECRETS['ipv4']}\n")
    return subprocess.CompletedProcess(argv, 0, text, "")


def test_diag_bundle_is_redacted(tmp_path, sysroot, monkeypatch, capsys):
    monkeypatch.setattr(status, "_run", fake_run)
    monkeypatch.setattr(status, "journal_available", lambda: True)
    monkeypatch.setattr(status, "systemd_running", lambda: True)
    monkeypatch.setattr("socket.gethostname", lambda: SECRETS["hostname"])
    key = write(tmp_path / "client.key",
                f"-----BEGIN PRIVATE KEY-----\n{SECRETS['key_file']}\n-----END PRIVATE KEY-----\n")
    cfg = write(tmp_path / "kiosk.toml",
                f'[kiosk]\nplace = "contact {SECRETS["email"]}"\n'
                f'[printer]\nbackend = "network"\nnetwork = "{SECRETS["ipv4"]}:9100"\n'
                f'[linkage]\ngateway = "https://{SECRETS["gateway_ip"]}/"\nclient_key = "{key}"\n'
                f'allow_networks = ["{SECRETS["ipv6"]}/64"]\n'
                f'password = "{SECRETS["password"]}"\n')        # also an invalid key: still collected
    out = tmp_path / "bundle.tar.gz"
    assert kiosk_main(["diag", "--bundle", str(out), "--config", str(cfg), "--sysroot", str(sysroot)]) == 0
    with tarfile.open(out) as tar:
        members = {Path(m.name).name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert {"summary.json", "status.txt", "config.toml", "journal-kiosk.txt", "journal-kiosk.jsonl",
            "journal-kernel.txt", "power.json", "storage.json", "usb.json", "services.txt"} <= set(members)
    everything = "\n".join(members.values())
    for what, secret in SECRETS.items():
        assert secret not in everything, f"{what} leaked into the bundle"
    # …and the bundle is still useful.
    assert "EVENT=reader_missing ERROR_CODE=no_reader" in everything and "linkage to [ip] failed" in everything
    assert "[free text withheld: " in members["journal-kiosk.txt"]
    assert "network = \"[ip]:9100\"" in members["config.toml"] and str(key) in members["config.toml"]
    assert json.loads(members["power.json"])["undervoltage"]["now"] is True
    summary = json.loads(members["summary.json"])
    assert summary["config"]["error"]["key"] == "linkage.password"
    assert summary["service"]["active"] == "active" and summary["service"]["restarts"] == "2"
    last = summary["last_errors"][0]
    assert last["event"] == "printer_error" and last["error_code"] == "offline"
    assert last["time"].startswith("2025-11-25T10:00:00") and "[email]" in last["message"]
    assert "under-voltage NOW" in members["status.txt"]
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_diag_survives_a_broken_collector(tmp_path):
    def broken():
        raise RuntimeError("boom 192.168.0.9")
    out = tmp_path / "b.tar.gz"
    names = diag.build_bundle(out, sources={"ok.txt": lambda: "fine", "bad.txt": broken})
    assert names == ["ok.txt", "collector-errors.txt"]


def test_service_state_from_systemctl(monkeypatch):
    monkeypatch.setattr(status, "systemd_running", lambda: True)
    monkeypatch.setattr(status, "_run", lambda argv, **kw: subprocess.CompletedProcess(
        argv, 0, "ActiveState=activating\nSubState=auto-restart\nResult=watchdog\nNRestarts=3\n"
                 "UnitFileState=enabled\nStatusText=\n", ""))
    svc = status.service_state()
    assert svc["active"] == "activating" and svc["result"] == "watchdog" and svc["restarts"] == "3"
    report = {"kiosk_id": "k", "version": "0", "service": svc, "kiosk": {"running": False, "service_needed": []},
              "config": {"valid": True, "path": "/etc/kiosk/kiosk.toml", "exists": True},
              "readers": {"configured": "pcsc", "usb": []}, "printer": {"backend": "none"},
              "leds": {"enabled": False}, "power": hardware.power(Path("/nonexistent")),
              "storage": {"ext4_errors": {}, "overlayroot": False}, "last_errors": [], "ok": False}
    assert "activating (auto-restart) restarts=3" in status.render(report)


@pytest.mark.parametrize("text, expected", [
    ("at 192.168.1.10 and 127.0.0.1", "at [ip] and 127.0.0.1"),
    ("fe80::1%wlan0 and ::1 at 10:24:33", "[ip6] and ::1 at 10:24:33"),
    ("mac B8-27-EB-12-34-56", "mac [mac]"),
    ("client_secret: abc123", "client_secret: [redacted]"),
    ("https://user:pw@gw.example/x", "https://[credentials]@gw.example/x"),
    ("date 2026-11-25 usb 054c:06c3 sw 63C2 v0.1.0", "date 2026-11-25 usb 054c:06c3 sw 63C2 v0.1.0"),
])
def test_redact(text, expected):
    assert redact(text, hostname="") == expected


def test_active_service_without_a_state_file_is_running_state_unknown(tmp_path, monkeypatch):
    monkeypatch.setattr(status, "service_state", lambda: {"active": "active", "sub": "running"})
    report = status.gather(None, tmp_path, tmp_path / "absent.json", with_journal=False)
    assert report["kiosk"]["running"] is True and report["kiosk"]["state"].startswith("unknown")
    assert report["ok"] is True


CANARIES = ("山田太郎", "東京都千代田区霞が関1-2-3", "1985-04-01", "ヤマダタロウ", "Taro Yamada")


def test_diag_bundle_keeps_status_words_and_times_but_no_canary(tmp_path):
    """Allow-list redaction: canary personal data in free text and in unknown fields never reaches
    the bundle; SW=6982 and __REALTIME_TIMESTAMP do."""
    from kiosk import journal
    stamp = 1764064800123456
    records = [
        {"MESSAGE": "card error", "EVENT": "card_error", "MESSAGE_ID": journal.EVENTS["card_error"],
         "SW": "6982", "ERROR_CODE": "security_status", "SCREEN": "licence_pin", "SYSLOG_IDENTIFIER": "kiosk",
         "__REALTIME_TIMESTAMP": str(stamp), "_PID": "812"},
        # a stray print() from a library, with a resident's data in it
        {"MESSAGE": f"Traceback: name={CANARIES[0]} addr={CANARIES[1]} born {CANARIES[2]}",
         "SYSLOG_IDENTIFIER": "kiosk", "__REALTIME_TIMESTAMP": str(stamp + 1), "_PID": "812"},
        # a field nobody documented
        {"MESSAGE": "x", "EVENT": "card_error", "MESSAGE_ID": journal.EVENTS["card_error"],
         "KANA_NAME": CANARIES[3], "HOLDER": CANARIES[4], "__REALTIME_TIMESTAMP": str(stamp + 2)},
        # an event name with a forged id is not trusted either
        {"MESSAGE": f"{CANARIES[0]} again", "EVENT": "card_error", "MESSAGE_ID": "0" * 32,
         "__REALTIME_TIMESTAMP": str(stamp + 3)},
    ]
    out = tmp_path / "b.tar.gz"
    diag.build_bundle(out, sources={"journal-kiosk.txt": lambda: diag.journal_kiosk(records),
                                    "journal-kiosk.jsonl": lambda: diag.journal_kiosk_json(records)}, hostname="")
    with tarfile.open(out) as tar:
        members = {Path(m.name).name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    everything = "\n".join(members.values())
    for canary in CANARIES:
        assert canary not in everything
    first = json.loads(members["journal-kiosk.jsonl"].splitlines()[0])
    assert first["SW"] == "6982" and first["__REALTIME_TIMESTAMP"] == str(stamp)
    assert "SW=6982" in members["journal-kiosk.txt"]
    assert "2025-11-25T10:00:00.123456Z" in members["journal-kiosk.txt"]


def test_new_diag_collectors_exist(tmp_path):
    names = set(diag.collectors(None, tmp_path))
    assert {"clock.txt", "boots.txt", "journal-kernel-previous-boot.txt", "unit.txt", "failed-units.txt",
            "boot-config.txt", "versions.txt"} <= names
    (tmp_path / "boot/firmware").mkdir(parents=True)
    (tmp_path / "boot/firmware/cmdline.txt").write_text("console=tty3 quiet\n")
    assert "console=tty3 quiet" in diag.boot_config(tmp_path)
    assert "SDL" in diag.versions() and '"synchronized"' in diag.clock()


def test_pcscd_apdu_log_keeps_no_pin_or_card_bytes():
    """Under ``pcscd --apdu`` pcscd logs VERIFY data (the PIN) and licence bytes: screened."""
    from kiosk.appliance.redact import journal_record
    records = [
        {"MESSAGE": "00000042 APDU: 00 20 00 80 04 31 32 33 34", "SYSLOG_IDENTIFIER": "pcscd",
         "_COMM": "pcscd", "__REALTIME_TIMESTAMP": "1764064800123456", "_PID": "300"},
        {"MESSAGE": "00000007 SW: 63 C2", "SYSLOG_IDENTIFIER": "pcscd", "_COMM": "pcscd"},
        {"MESSAGE": "ifdhandler.c:1312 answer 5F2001C4E794E4A0 and 0020008004313233",
         "SYSLOG_IDENTIFIER": "pcscd", "_COMM": "pcscd"},
        {"MESSAGE": "PIN 1234 sent", "SYSLOG_IDENTIFIER": "pcscd", "_COMM": "pcscd"},
    ]
    text = diag.render_records(records)
    for secret in ("31 32 33 34", "PIN 1234", "5F2001C4E794E4A0", "0020008004313233", "04 31"):
        assert secret not in text, text
    assert "APDU:" in text and "SW: 63 C2" in text          # still useful to a technician
    assert journal_record(records[0])["MESSAGE"].endswith("APDU: [hex withheld: 26 characters]")


def _logged_fields() -> dict[str, list[str]]:
    """Every keyword passed to journal.log_event in kiosk/ (and through wrappers that forward
    ``**fields`` to it), with where it is passed."""
    import ast
    root = Path(__file__).resolve().parents[2] / "kiosk"
    trees = {p: ast.parse(p.read_text()) for p in sorted(root.rglob("*.py"))}

    def called(node):
        f = node.func
        return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")

    forwarders = {"log_event"}
    for tree in trees.values():              # functions that hand their **kwargs on to log_event
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.args.kwarg is not None:
                for node in ast.walk(fn):
                    if (isinstance(node, ast.Call) and called(node) == "log_event"
                            and any(k.arg is None for k in node.keywords)):
                        forwarders.add(fn.name)
    fields: dict[str, list[str]] = {}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and called(node) in forwarders:
                for kw in node.keywords:
                    if kw.arg is not None and kw.arg != "priority":
                        fields.setdefault(kw.arg.upper(), []).append(f"{path.name}:{node.lineno}")
    return fields


def test_every_logged_field_is_allowed_or_withheld_in_the_bundle():
    from kiosk.appliance import redact
    fields = _logged_fields()
    assert {"ERROR_CODE", "RELEASE_TO", "EXCEPTION", "WHERE"} <= set(fields)   # the walk sees them
    missing = {f: where for f, where in fields.items()
               if f not in redact.ALLOWED_FIELDS and f not in getattr(redact, "WITHHELD_FIELDS", ())}
    assert not missing, f"add to redact.EVENT_FIELDS or WITHHELD_FIELDS: {missing}"
