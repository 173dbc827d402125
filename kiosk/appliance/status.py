"""What ``kiosk status`` reports: one dict, also the core of the diag bundle.

It never opens the reader or the printer the running kiosk holds: the kiosk's
own view comes from /run/kiosk/state.json (runstate.py), devices from sysfs,
PC/SC readers from pcscd (shared access), and errors from the journal.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from kiosk import __version__
from kiosk.appliance import hardware, release, runstate
from kiosk.appliance.redact import journal_record, redact
from kiosk.config import Config, config_path, load_config_safely

UNIT = "kiosk.service"
# Service conditions that `kiosk status` reports but that do not make it exit 1.
ADVISORY_CONDITIONS = frozenset({"clock_unsynchronized"})
IDENTIFIERS = ("kiosk",)


def _run(argv: list[str], timeout: float = 10) -> subprocess.CompletedProcess | None:
    if not shutil.which(argv[0]):
        return None
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def service_state() -> dict:
    """kiosk.service as systemd sees it (or why that is unknown)."""
    if not systemd_running():
        return {"active": "unknown", "detail": "systemd is not running on this machine"}
    props = "ActiveState,SubState,Result,NRestarts,ExecMainStartTimestamp,StatusText,UnitFileState"
    result = _run(["systemctl", "show", UNIT, "-p", props])
    if result is None or result.returncode != 0:
        return {"active": "unknown", "detail": "systemctl failed"}
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return {"active": values.get("ActiveState", "unknown"), "sub": values.get("SubState", ""),
            "result": values.get("Result", ""), "restarts": values.get("NRestarts", ""),
            "since": values.get("ExecMainStartTimestamp", ""), "status": values.get("StatusText", ""),
            "enabled": values.get("UnitFileState", "")}


def journal_available() -> bool:
    return any(Path(p).is_dir() and any(Path(p).iterdir()) for p in ("/run/log/journal", "/var/log/journal"))


def journal_json(extra: list[str], lines: int) -> list[dict] | None:
    """Records from journalctl for the kiosk's identifiers, or None when there is no journal."""
    if not journal_available():
        return None
    argv = ["journalctl", "--no-pager", "-o", "json", "-n", str(lines)]
    for ident in IDENTIFIERS:
        argv += ["-t", ident]
    result = _run(argv + extra)
    if result is None or result.returncode != 0 or "No journal files" in result.stderr:
        return None
    return parse_json_lines(result.stdout)


def parse_json_lines(text: str) -> list[dict]:
    """journalctl -o json output: one record per line; a torn line is skipped."""
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def last_errors(lines: int = 10) -> list[dict] | None:
    records = journal_json(["-p", "warning"], lines)
    if records is None:
        return None
    out = []
    for r in records:
        try:
            when = dt.datetime.fromtimestamp(int(r.get("__REALTIME_TIMESTAMP", 0)) / 1e6, dt.timezone.utc)
        except (TypeError, ValueError):
            when = None
        out.append({"time": when.isoformat(timespec="seconds") if when else "",
                    "event": r.get("EVENT", ""), "error_code": r.get("ERROR_CODE", ""),
                    "message": redact(str(journal_record(r).get("MESSAGE", "")))})
    return out


def config_report(path: str | None) -> tuple[Config, dict]:
    p = config_path(path)
    cfg, error = load_config_safely(path)
    report: dict[str, object] = {"path": str(p), "exists": p.exists(), "valid": error is None}
    if error is not None:
        problem = {"key": error.details.get("key", ""), "message": error.message}
        if "accepted" in error.details:
            problem["accepted"] = error.details["accepted"]
        report["error"] = problem
    return cfg, report


def readers_report(cfg: Config, sysroot: Path, usb: list[dict]) -> dict:
    uri = cfg.reader.uri
    report: dict = {"configured": uri or "(simulated card)", "usb": [d for d in usb if d["role"] == "reader"]}
    if uri.startswith("pcsc"):
        try:
            from kiosk.nfc.pcsc import list_readers
            report["pcsc"] = [r.to_json() for r in list_readers()]
        except ImportError as exc:
            report["pcsc"] = [{"state": "unavailable", "detail": f"pyscard missing ({exc.name})"}]
    elif uri.startswith("nfcpy:usb"):
        report["present"] = any(d["id"] in ("054c:06c1", "054c:06c3") for d in report["usb"])
    return report


def printer_report(cfg: Config, sysroot: Path, usb: list[dict]) -> dict:
    p = cfg.printer
    report: dict = {"backend": p.backend}
    if p.backend == "usb":
        report["device"] = p.usb
        report["present"] = any(d["id"] == p.usb.lower() for d in usb)
    elif p.backend == "file":
        report["device"] = p.file
        report["present"] = (sysroot / p.file.lstrip("/")).exists()
    elif p.backend == "serial":
        report["device"] = p.serial
        report["present"] = (sysroot / p.serial.lstrip("/")).exists()
    elif p.backend == "network":
        report["device"] = p.network
        report["reachable"] = probe_tcp(p.network, min(p.timeout, 3.0))
    return report


def probe_tcp(host_port: str, timeout: float) -> bool:
    """Can this host open a TCP connection to the network printer right now?"""
    import socket
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def leds_report(cfg: Config, state: dict | None) -> dict:
    if not cfg.leds.enabled:
        return {"enabled": False}
    if not state or not state.get("running"):
        return {"enabled": True, "showing": "off (kiosk not running)"}
    if state.get("service_needed"):
        return {"enabled": True, "showing": "service needed: " + ", ".join(state["service_needed"])}
    return {"enabled": True, "showing": state.get("state", "")}


def display_report(cfg: Config, sysroot: Path) -> dict:
    """KMSDRM readiness (kmsdrm.py): "no display device" and "a driver library is missing" apart."""
    if cfg.display.driver not in ("auto", "kmsdrm"):
        return {"driver": cfg.display.driver, "cause": "not_checked"}
    from kiosk.appliance import kmsdrm
    report = kmsdrm.diagnose(str(sysroot / "dev" / "dri"))
    return {"driver": cfg.display.driver, "cause": report.cause, "message": report.message(),
            "missing": list(report.missing), "devices": list(report.devices)}


def gather(config: str | None = None, sysroot: Path = Path("/"),
           state_path: Path = runstate.DEFAULT_PATH, with_journal: bool = True) -> dict:
    cfg, conf = config_report(config)
    state = runstate.read_state(state_path)
    usb = hardware.usb_devices(sysroot)
    needed = list(state.get("service_needed", [])) if state and state.get("running") else []
    if not conf["valid"] and "config_error" not in needed:
        needed.append("config_error")
    service = service_state()
    if state and state.get("running"):
        kiosk = {"running": True, "state": state.get("state"), "service_needed": needed}
    elif service["active"] == "active":
        kiosk = {"running": True, "state": f"unknown (no {state_path})", "service_needed": needed}
    else:
        kiosk = {"running": False, "service_needed": needed}
    report: dict[str, Any] = {
        "version": __version__,
        "kiosk_id": cfg.kiosk.id,
        "service": service,
        "kiosk": kiosk,
        "config": conf,
        "readers": readers_report(cfg, sysroot, usb),
        "printer": printer_report(cfg, sysroot, usb),
        "leds": leds_report(cfg, state),
        "display": display_report(cfg, sysroot),
        "clock": _clock(),
        "power": hardware.power(sysroot),
        "storage": hardware.storage(sysroot),
        "last_errors": last_errors() if with_journal else None,
        "release": release.summary(),          # running / previous release (kiosk/appliance/release.py)
    }
    # An unsynchronised clock is shown (and journaled) but does not fail the health gate: the
    # kiosk serves residents correctly meanwhile (dates only, no date judgment), and a rollout
    # must not roll back a good release because the office's NTP is down.
    blocking = [c for c in needed if c not in ADVISORY_CONDITIONS]
    report["ok"] = not blocking and report["service"]["active"] in ("active", "unknown")
    return report


def _clock() -> dict:
    from kiosk.appliance.timesync import clock_state
    return clock_state().to_json()


def _line(label: str, value) -> str:
    return f"{label + ':':<14}{value}"


def render(report: dict) -> str:
    """The human-readable form of ``gather()`` (what a technician reads over SSH)."""
    svc = report["service"]
    out = [_line("kiosk", f"{report['kiosk_id']}  myna-kiosk {report['version']}"),
           _line("service", " ".join(x for x in (svc.get("active"), svc.get("sub") and f"({svc['sub']})",
                                                 svc.get("restarts") and f"restarts={svc['restarts']}",
                                                 svc.get("detail")) if x))]
    k = report["kiosk"]
    out.append(_line("state", k.get("state", "not running") if k["running"] else "not running"))
    out.append(_line("service need", ", ".join(k["service_needed"]) or "none"))
    c = report["config"]
    if c["valid"]:
        out.append(_line("config", f"{c['path']} OK" + ("" if c["exists"] else " (absent: defaults)")))
    else:
        err = c["error"]
        accepted = f"; accepted: {', '.join(err['accepted'])}" if err.get("accepted") else ""
        out.append(_line("config", f"{c['path']} INVALID: {err['key']}: {err['message']}{accepted}"))
    r = report["readers"]
    out.append(_line("reader", r["configured"]))
    for info in r.get("pcsc", []):
        out.append(_line("", f"{info.get('name', 'pcscd')}: {info.get('state')} {info.get('detail', '')}".rstrip()))
    for dev in r["usb"]:
        out.append(_line("", f"USB {dev['id']} {dev['product']}"))
    if "present" in r:
        out.append(_line("", "RC-S380 present" if r["present"] else "RC-S380 NOT FOUND on USB"))
    p = report["printer"]
    present = {True: " present", False: " NOT FOUND"}.get(p.get("present"), "")
    present += {True: " reachable", False: " UNREACHABLE"}.get(p.get("reachable"), "")
    out.append(_line("printer", f"{p['backend']} {p.get('device', '')}".rstrip() + present))
    leds = report["leds"]
    out.append(_line("leds", leds.get("showing", "enabled") if leds["enabled"] else "disabled"))
    d = report.get("display", {})
    out.append(_line("display", d.get("message") or f"{d.get('driver', '?')} (not checked)"))
    clock = report.get("clock") or {}
    out.append(_line("clock", ("synchronised (NTP)" if clock.get("synchronized") else
                               "NOT synchronised: no date judgments (set [clock] ntp_servers)")
                     + (f"; max error {clock['max_error_ms']} ms" if clock.get("max_error_ms") is not None else "")))
    pw = report["power"]
    uv = pw["undervoltage"]
    power = ["under-voltage NOW" if uv["now"] else ("no under-voltage" if uv["available"] else "under-voltage n/a")]
    if pw["throttled"].get("available"):
        power.append(", ".join(pw["throttled"]["flags"]) or "not throttled")
    if pw["temperature_c"] is not None:
        power.append(f"{pw['temperature_c']:.1f} °C")
    out.append(_line("power", "; ".join(power)))
    st = report["storage"]
    errs = sum(st["ext4_errors"].values())
    out.append(_line("storage", f"{st.get('free_mb', '?')} MB free; ext4 errors {errs}"
                     + ("; root read-only (overlay)" if st["overlayroot"] else "")))
    errors = report["last_errors"]
    if errors is None:
        out.append(_line("last errors", "journal not available"))
    else:
        out.append(_line("last errors", "none" if not errors else ""))
        for e in errors:
            out.append(f"  {e['time']} {e['event'] or '-'} {e['error_code']} {e['message']}".rstrip())
    rel = report.get("release") or {}
    if rel.get("current"):
        out.append(_line("release", f"{rel.get('running') or rel['current']} (previous {rel.get('previous') or '-'})"))
    if rel.get("rolled_back"):
        rb = rel["rolled_back"] if isinstance(rel["rolled_back"], dict) else {}
        out.append(_line("", f"rolled back {rb.get('version', '?')} -> {rb.get('to', '?')}: {rb.get('reason', '?')}"))
    out.append(_line("overall", "OK" if report["ok"] else "SERVICE NEEDED"))
    return "\n".join(out)
