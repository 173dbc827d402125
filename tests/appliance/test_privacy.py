"""No personal data in anything the kiosk logs, for every shipped card profile.

Each profile's canaries (PINs, name, address, My Number, licence number) must
never appear in a journal record (captured with kiosk.journal.add_sink), in
stderr, or in an error message.  Three drivers, each for every profile:

- full kiosk sessions through the touchscreen app's scenario runner, with the
  production wiring (dummy printer, real linkage engine against the loopback
  reference gateway): status, wrong and right PINs, licence, slips, linkage,
  renewal and lost-card guidance, timeout, card pulled mid-session;
- the card layer directly (CardSession on SimReader), logging as the app would;
- the ``kiosk card`` CLI with the PIN on stdin.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys

import pytest

from kiosk import journal
from kiosk.cli import main as kiosk_main
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.profile import load_profile, shipped_profiles
from kiosk.nfc.sim.reader import SimReader

PROFILES = sorted(shipped_profiles())


def leaks(canaries: list[str], texts: list[str]) -> list[str]:
    """Canaries found in any text (also with the full-width space normalised)."""
    blob = "\n".join(texts)
    found = []
    for canary in canaries:
        variants = {canary, canary.replace("\u3000", " "), canary.replace(" ", "")}
        if any(v and v in blob for v in variants):
            found.append(canary)
    return found


def record_texts(records) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in records.items]


class Session:
    """What the kiosk's session layer does with a card, logging as it would."""

    def __init__(self, profile):
        self.profile = profile
        self.errors: list[str] = []

    def attempt(self, fn, screen: str):
        try:
            return fn()
        except KioskError as exc:
            self.errors += [str(exc), json.dumps(exc.to_json(), ensure_ascii=False)]
            fields = {k.upper(): v for k, v in exc.details.items()}
            event = {"pin_wrong": "pin_wrong", "pin_locked": "pin_locked",
                     "card_removed": "card_removed"}.get(exc.code, "card_error")
            journal.log_event(event, exc.message, journal.WARNING, ERROR_CODE=exc.code,
                              SCREEN=screen, **fields)
            return None

    def pin(self, pin_id: str, value: str | None = None) -> Pin:
        return Pin(pin_id, bytearray((value or self.profile.pins[pin_id].value).encode()))

    def run(self, reader: SimReader) -> None:
        profile = self.profile
        session = CardSession(reader.connect())
        try:
            status = self.attempt(session.read_status, "status")
            if status is None:
                return
            journal.log_event("card_inserted", "card on the reader", READER=reader.name,
                              CARD_TYPE=status.card_type)
            for counter in status.pins.values():
                journal.log_event("pin_status_read", "PIN counter read", PIN_ID=counter.id,
                                  TRIES_LEFT=counter.tries_left, MAX_TRIES=counter.max_tries,
                                  LOCKED=counter.locked)
            lic_pin = "ic_pin1" if status.card_type == "ic_licence" else "licence"
            counter = status.pins.get(lic_pin)
            if status.licence_present:
                if status.licence_pin_set is False:
                    lic = self.attempt(lambda: session.read_licence(None), "licence")
                elif counter is not None and not counter.locked and lic_pin in profile.pins:
                    if (counter.tries_left or 0) > 1:
                        wrong = "0000" if profile.pins[lic_pin].value != "0000" else "9999"
                        self.attempt(lambda: session.read_licence(self.pin(lic_pin, wrong)), "pin_pad")
                    lic = self.attempt(lambda: session.read_licence(self.pin(lic_pin)), "pin_pad")
                else:
                    lic = self.attempt(lambda: session.read_licence(None), "licence")
                if lic is not None:
                    journal.log_event("licence_read", "licence read", CARD_TYPE=status.card_type)
                    self.errors += list(lic.errors)
                    lic.wipe()
            for key, pin_id in (("auth", "jpki_auth"), ("sign", "jpki_sign")):
                c = status.pins.get(pin_id)
                if c is None or c.locked or pin_id not in profile.pins:
                    continue

                def use_key(key=key, pin_id=pin_id):
                    with session.jpki_key(key, self.pin(pin_id)) as k:
                        k.certificate()
                        k.sign(b"mynaportal linkage challenge")
                self.attempt(use_key, "linkage")
                journal.log_event("linkage_step", "signed", STEP=3, STEP_NAME=f"sign_{key}")
            # The resident pulls the card in the middle of a read.
            reader.remove()
            self.attempt(session.read_status, "status")
        finally:
            session.close()
            journal.log_event("card_removed", "card left the reader", READER=reader.name)


@pytest.mark.parametrize("name", PROFILES)
def test_card_sessions_leak_nothing(name, records, capfd):
    journal.configure("stderr", 10000)
    profile = load_profile(name)
    assert profile.canaries or name == "unknown"
    session = Session(profile)
    session.run(SimReader(profile))
    err = capfd.readouterr().err
    assert records.items, "the session should have logged something"
    assert not leaks(profile.canaries, record_texts(records) + [err] + session.errors)
    assert not [r for r in records.items if "REDACTED" in r], "the guard had to clean a record"
    if name == "resident":      # the session really went through PIN, licence, signatures, removal
        assert {"pin_wrong", "licence_read", "linkage_step", "card_removed"} <= set(records.events())


def run_cli(argv: list[str], stdin: bytes, monkeypatch) -> int:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    return kiosk_main(argv)


@pytest.mark.parametrize("name", PROFILES)
def test_card_cli_leaks_nothing_to_stderr_or_journal(name, records, capfd, monkeypatch):
    journal.configure("stderr", 10000)
    profile = load_profile(name)
    pin = profile.pins.get("licence") or profile.pins.get("ic_pin1")
    typed = (pin.value if pin else "1234").encode() + b"\n"
    run_cli(["card", "status", "--reader", f"sim:{name}"], b"", monkeypatch)
    run_cli(["card", "status", "--json", "--reader", f"sim:{name}"], b"", monkeypatch)
    run_cli(["card", "licence", "--reader", f"sim:{name}"], typed, monkeypatch)
    run_cli(["card", "licence", "--reader", f"sim:{name}"], b"0000\n", monkeypatch)
    run_cli(["card", "licence", "--json", "--reader", f"sim:{name}"], b"12\n", monkeypatch)
    err = capfd.readouterr().err
    assert not leaks(profile.canaries, record_texts(records) + [err])


def test_the_leak_check_can_fail(records):
    """A canary planted in a free-text field is found: the check is not vacuous."""
    profile = load_profile("resident")
    name = profile.person["name"]
    journal.log_event("card_error", "odd", DETAIL=f"holder {name}")
    journal.log_event("card_error", "odd", DETAIL=profile.person["address"].replace("\u3000", " "))
    assert leaks(profile.canaries, record_texts(records)) == [name, profile.person["address"]]


# -- full kiosk sessions ------------------------------------------------------------

def keys(value: str) -> list[str]:
    return [f"tap key_{d}" for d in value]


def linkage_refused(profile) -> bool:
    """The linkage pre-flight stops on locked JPKI PINs, no signature certificate, expiry."""
    locked = any(profile.pins[p].tries_left == 0 for p in ("jpki_auth", "jpki_sign") if p in profile.pins)
    return locked or not profile.sign_certificate or profile.auth_not_after < dt.date.today()


def kiosk_steps(name: str) -> list[str]:
    """Everything a resident can do with this card, then a timeout and a card pulled mid-session."""
    p = load_profile(name)
    if p.card == "unknown":
        return ["insert unknown", "wait_screen card_error", "remove", "wait_screen attract"]
    menu = [f"insert {name}", "wait_screen summary", "tap btn_continue", "wait_screen menu"]
    s = list(menu)
    if p.card == "myna":
        s += ["tap item_pin_status", "wait_screen pin_status", "tap btn_print", "advance 0.1",
              "tap btn_back", "wait_screen menu"]
    if p.licence or p.card == "ic_licence":
        pin = p.pins.get("ic_pin1" if p.card == "ic_licence" else "licence")
        s.append("tap item_licence")
        if p.licence_data.get("pin_set") is False:
            s += ["wait_screen licence", "tap btn_back", "wait_screen menu"]
        elif pin.tries_left == 0:
            s += ["wait_screen licence_locked", "tap btn_back", "wait_screen menu"]
        else:
            s.append("wait_screen licence_pin")
            if pin.tries_left > 1:
                s += keys("0000" if pin.value != "0000" else "9999") + ["tap key_ok", "expect_text 暗証番号が違います"]
            confirm = ["tap key_ok"] if pin.tries_left == 1 else []      # the last try asks twice
            s += keys(pin.value) + ["tap key_ok"] + confirm + ["wait_screen licence", "tap btn_toggle_number",
                                    "tap btn_toggle_number", "tap btn_print", "advance 0.1",
                                    "tap btn_back", "wait_screen menu"]
    if p.card == "myna" and p.licence and name == "resident":
        s += ["tap item_linkage", "wait_screen linkage_1", "tap btn_next", "wait_screen linkage_2", "tap btn_next",
              "wait_screen linkage_3", "tap btn_next", "wait_screen linkage_4"] + keys(p.pins["jpki_auth"].value)
        s += ["tap key_ok", "wait_screen linkage_6", "tap btn_terms_next", "tap btn_accept", "wait_screen linkage_7"]
        s += [f"tap kb_{c}" for c in p.pins["jpki_sign"].value]
        s += ["tap key_ok", "wait_screen linkage_9", "tap btn_done", "wait_screen menu"]
    elif p.card == "myna" and p.licence and linkage_refused(p):
        s += ["tap item_linkage", "wait_screen linkage_preflight", "tap btn_back", "wait_screen menu"]
    elif p.card == "myna" and p.licence:
        s += ["tap item_linkage", "wait_screen linkage_1", "tap btn_cancel", "wait_screen menu"]
    if p.card == "myna":
        s += ["tap item_renewal", "tap btn_back", "wait_screen menu",
              "tap item_lost_card", "tap btn_back", "wait_screen menu"]
    s += ["tap item_finish", "wait_screen take_card", "remove", "wait_screen attract"]
    s += [f"insert {name}", "wait_screen summary", "advance 400", "wait_screen timed_out", "remove",
          "wait_screen attract"]
    s += menu + ["remove", "wait_screen card_removed"]
    return s


@pytest.fixture(scope="module")
def production_parts():
    """The wiring of ``kiosk run``: dummy printer, linkage engine + loopback reference gateway."""
    from kiosk.display.wiring import build_parts
    from kiosk.signals import Bus
    cfg = Config()
    cfg.printer.backend = "dummy"
    parts = build_parts(cfg, Bus())
    assert parts.printer is not None and parts.gateway_available
    yield cfg, parts
    parts.close()


@pytest.mark.parametrize("name", PROFILES)
def test_full_kiosk_sessions_leak_nothing(name, records, capfd, production_parts):
    from kiosk.display.scenario import run_scenario
    journal.configure("stderr", 10000)
    cfg, parts = production_parts
    profile = load_profile(name)
    result = run_scenario(kiosk_steps(name), config=cfg, printer=parts.printer,
                          receipt_builder=parts.receipt_builder, linkage_factory=parts.linkage_factory,
                          gateway_available=parts.gateway_available, today=dt.date.today)
    assert result.ok, result.errors
    err = capfd.readouterr().err
    texts = record_texts(records) + [err] + list(result.errors)
    assert not leaks(profile.canaries, texts)
    assert not [r for r in records.items if "REDACTED" in r], "the guard had to clean a record"
    events = set(records.events())
    assert {"card_inserted", "card_removed", "session_timeout"} <= events or name == "unknown"
    if name == "resident":
        assert {"pin_wrong", "licence_read", "linkage_step", "receipt_printed"} <= events
