"""`kiosk linkage run` and `kiosk linkage-gateway` as processes: PINs on stdin,
the same error codes and exit codes as `kiosk card`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.nfc.sim.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]


def kiosk(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], input=stdin.encode(),
                          capture_output=True, timeout=120, cwd=ROOT, env=dict(os.environ))


def run(gateway, profile: str, stdin: str, *extra: str) -> tuple[int, dict, str]:
    out = kiosk("linkage", "run", "--reader", f"sim:{profile}", "--gateway", gateway.url,
                "--ca", gateway.ca, "--retries", "0", "--json", *extra, stdin=stdin)
    text = out.stdout.decode() + out.stderr.decode()
    doc = json.loads(out.stdout.decode().strip().splitlines()[-1])
    # no PIN, name or address in any output (random digits of the URL and reference aside)
    scrubbed = text.replace(gateway.url, "").replace(str(doc.get("reference")), "")
    for canary in load_profile(profile).canaries:
        assert canary not in scrubbed
    return out.returncode, doc, text


@pytest.mark.parametrize("profile", ["resident", "jpki-distinct-cn"])
def test_success(gateway, profile):
    """Also for a card whose two certificates carry different subject CNs: nothing pairs them by name."""
    rc, doc, _ = run(gateway, profile, "2468\nyes\nkiosk2025\n")
    assert rc == 0, doc
    assert doc["result"] == "complete" and doc["step"] == 9 and doc["reference"].startswith("DEMO-")
    assert gateway.stats()["references"] == 1


def test_the_reference_gateway_is_labelled_demo(gateway):
    """Never presented as the official linkage: the JSON and the text say DEMO."""
    rc, doc, text = run(gateway, "resident", "2468\nKIOSK2025\n", "--accept-terms")
    assert rc == 0 and doc["demo"] is True and "nothing was linked" in doc["note"]
    assert "GATEWAY=demo" in text                     # the journal lines say so too
    out = kiosk("linkage", "run", "--reader", "sim:resident", "--gateway", gateway.url, "--ca", gateway.ca,
                "--retries", "0", "--accept-terms", stdin="2468\nKIOSK2025\n")
    assert out.returncode == 0
    assert out.stdout.decode().startswith("DEMO run complete (reference gateway; nothing was linked)")
    assert "*** DEMO: the reference gateway is for tests and demos only" in out.stderr.decode()
    assert "official" not in out.stdout.decode().lower().replace("not the official", "")


def test_accept_terms_flag(gateway):
    rc, doc, _ = run(gateway, "resident", "2468\nKIOSK2025\n", "--accept-terms")
    assert rc == 0 and doc["result"] == "complete"


@pytest.mark.parametrize("profile, stdin, rc, code", [
    ("resident", "1111\n", 21, "pin_wrong"),
    ("resident", "12345\n", 20, "pin_format"),
    ("jpki-locked", "", 22, "pin_locked"),
    ("myna-plain", "", 14, "no_licence"),
    ("resident", "2468\nno\n", 60, "cancelled"),
])
def test_errors_like_kiosk_card(gateway, profile, stdin, rc, code):
    got_rc, doc, _ = run(gateway, profile, stdin)
    assert (got_rc, doc["error"]["code"]) == (rc, code)
    if code == "pin_wrong":
        assert doc["error"]["tries_left"] == 2 and doc["error"]["pin_id"] == "jpki_auth"
    assert gateway.stats()["references"] == 0


def test_gateway_down(gateway):
    gateway.fault("down")
    rc, doc, _ = run(gateway, "resident", "")
    assert rc == 50 and doc["error"]["code"] == "gateway_error"
    assert doc["error"]["problems"] == ["gateway_unreachable"]


def test_reference_gateway_refuses_a_public_address():
    out = kiosk("linkage-gateway", "--listen", "0.0.0.0:0")
    assert out.returncode == 40 and b"loopback" in out.stderr


@pytest.mark.pcsc
def test_bench_run_through_pcsc(gateway, linkage_pcscd):
    """The hardware-in-the-loop shape: the CLI process reads the card through pcscd."""
    from kiosk.nfc.pcsc import PcscReader
    card = linkage_pcscd.insert("resident", wait=False)
    watcher = PcscReader(linkage_pcscd.reader_name)
    try:
        assert watcher.wait_for_card(10.0)
        out = kiosk("linkage", "run", "--reader", linkage_pcscd.uri, "--gateway", gateway.url,
                    "--ca", gateway.ca, "--json", "--accept-terms", stdin="2468\nKIOSK2025\n")
        doc = json.loads(out.stdout.decode().strip().splitlines()[-1])
        assert out.returncode == 0, doc
        assert doc["result"] == "complete"
        assert [(v.pin_id, v.sw) for v in card.verifies if v.with_data] == [("jpki_auth", 0x9000),
                                                                           ("jpki_sign", 0x9000)]
        assert not card.powered                   # the CLI unpowered the card when it was done
    finally:
        linkage_pcscd.remove(wait=False)
        watcher.wait_for_removal(10.0)
        watcher.close()


def test_reference_gateway_process_stops_cleanly_on_sigterm(new_gateway_process):
    gw = new_gateway_process()
    assert gw.stats()["requests"] == {}
    gw.proc.terminate()
    assert gw.proc.wait(10) == 0


def test_kiosk_client_certificate(new_gateway_process):
    gw = new_gateway_process("--require-client-cert")
    base = ("linkage", "run", "--reader", "sim:resident", "--gateway", gw.url, "--ca", gw.ca,
            "--retries", "0", "--json", "--accept-terms")
    out = kiosk(*base, "--client-cert", gw.client_cert, "--client-key", gw.client_key,
                stdin="2468\nKIOSK2025\n")
    assert out.returncode == 0, out.stdout
    assert json.loads(out.stdout)["result"] == "complete"
    out = kiosk(*base, stdin="2468\nKIOSK2025\n")           # no client certificate: turned away
    assert out.returncode == 50
    assert json.loads(out.stdout)["error"]["problems"] == ["gateway_unreachable"]
