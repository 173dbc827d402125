"""``kiosk card status`` and ``kiosk card licence``.

PINs come from the terminal (no echo), or from stdin when stdin is not a
terminal; never from argv or the environment.
"""

from __future__ import annotations

import argparse
from typing import Any

import getpass
import json
import os
import sys

from kiosk.errors import NoCardError, UnsupportedCardError
from kiosk.nfc.card import CardSession
from kiosk.nfc.model import PIN_ORDER, CardStatus, LicenceData
from kiosk.nfc.pins import Pin
from kiosk.nfc.reader import Reader, open_reader

DEFAULT_READER = "pcsc"


def add_reader_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reader", default=None,
                   help="reader URI: sim:PROFILE, pcsc[:NAME], nfcpy:usb[:VID:PID], nfcpy:udp:HOST:PORT "
                        f"(default: $KIOSK_READER or {DEFAULT_READER})")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for a card (default: fail at once)")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")


def register(sub: Any) -> None:
    card = sub.add_parser("card", help="read a card (status needs no PIN)")
    card_sub = card.add_subparsers(dest="card_command", metavar="ACTION", required=True)
    st = card_sub.add_parser("status", help="card type, every PIN counter, expiries; spends no try")
    add_reader_args(st)
    st.set_defaults(func=cmd_status)
    lic = card_sub.add_parser("licence", help="the decoded licence (asks for the licence PIN)")
    add_reader_args(lic)
    lic.add_argument("--photo", metavar="FILE", help="write the photo (PNG) here")
    lic.set_defaults(func=cmd_licence)


def reader_uri(args: argparse.Namespace) -> str:
    return args.reader or os.environ.get("KIOSK_READER") or DEFAULT_READER


def connect(args: argparse.Namespace) -> tuple[Reader, CardSession]:
    reader = open_reader(reader_uri(args))
    if not reader.card_present() and not reader.wait_for_card(args.wait):
        reader.close()
        raise NoCardError("no card on the reader")
    return reader, CardSession(reader.connect())


def read_pin_input(prompt: str) -> bytearray:
    """One line from the terminal (no echo) or from stdin, as a bytearray."""
    if sys.stdin.isatty():
        typed = getpass.getpass(prompt)
        buf = bytearray(typed.encode("utf-8", "replace"))
        del typed
        return buf
    buf = bytearray(64)                  # read straight into a wipeable buffer
    n = 0
    raw: Any = sys.stdin.buffer
    while n < len(buf):
        got = raw.readinto(memoryview(buf)[n:n + 1])
        if not got or buf[n] == 0x0A:
            break
        n += 1
    end = n - 1 if n and buf[n - 1] == 0x0D else n
    pin = buf[:end]
    buf[:] = bytes(len(buf))
    return pin


def print_status(status: CardStatus) -> None:
    print(f"card:            {status.card_type}")
    if status.card_type in ("myna", "myna_licence"):
        print(f"licence data:    {'yes' if status.licence_present else 'no'}")
    for pin_id in PIN_ORDER:
        c = status.pins.get(pin_id)
        if c is None:
            continue
        state = "LOCKED" if c.locked else (f"{c.tries_left} of {c.max_tries} tries left"
                                           if c.tries_left is not None else "verified")
        print(f"PIN {pin_id:<12} {state}")
    if status.licence_pin_set is False:
        print("licence PIN:     not set")
    if status.auth_cert_no_expiry:
        print("certificates:    no expiry (RFC 5280 99991231235959Z)")
    elif status.auth_cert_not_after:
        print(f"certificates:    valid until {status.auth_cert_not_after.isoformat()}")
    if status.sign_cert_present is not None:
        print(f"signature cert:  {'present' if status.sign_cert_present else 'none'}")
    if status.card_expiry:
        print(f"card expiry:     {status.card_expiry.isoformat()}")
    if status.ic_expiry:
        print(f"licence issued:  {status.ic_issue_date}  expires: {status.ic_expiry}")


def cmd_status(args: argparse.Namespace) -> int:
    reader, session = connect(args)
    try:
        status = session.read_status()
    finally:
        session.close()
        reader.close()
    if status.card_type == "unsupported":
        raise UnsupportedCardError("not a My Number Card or IC driver's licence",
                                   card_type=status.card_type)
    if args.json:
        print(json.dumps(status.to_json(), ensure_ascii=False))
    else:
        print_status(status)
    return 0


def print_licence(lic: LicenceData) -> None:
    print(f"licence number:  {lic.licence_number or '-'}")
    print(f"expiry:          {lic.expiry or '-'}")
    w = lic.renewal_window
    if w:
        print(f"renewal window:  {w[0]} .. {w[1]}")
    print(f"colour class:    {lic.colour_class or '-'}")
    print(f"online course:   {'open' if lic.online_course_eligible else 'not open'}")
    print(f"classes:         {' '.join(c.name for c in lic.held_classes) or '-'}")
    print(f"conditions:      {' / '.join(lic.conditions) or '-'}")
    if lic.errors:
        print(f"undecoded:       {'; '.join(lic.errors)}")


def cmd_licence(args: argparse.Namespace) -> int:
    reader, session = connect(args)
    try:
        status = session.read_status()
        pin = None
        if status.licence_present and status.licence_pin_set is not False:
            pin_id = "ic_pin1" if status.card_type == "ic_licence" else "licence"
            counter = status.pins.get(pin_id)
            if counter and not counter.locked and not args.json:
                print(f"{counter.tries_left} of {counter.max_tries} tries left", file=sys.stderr)
            if counter is None or not counter.locked:
                typed = read_pin_input("licence PIN (4 digits): ")
                pin = Pin(pin_id, typed)          # checks the format, wipes ``typed``
        lic = session.read_licence(pin)
    finally:
        session.close()
        reader.close()
    try:
        if args.photo:
            img = lic.photo_image()
            if img is not None:
                img.save(args.photo, "PNG")
        if args.json:
            print(json.dumps(lic.to_json(), ensure_ascii=False))
        else:
            print_licence(lic)
    finally:
        lic.wipe()
    return 0
