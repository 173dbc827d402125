"""``kiosk readers``: every reader of every backend, with its state.

PC/SC readers come from pcscd (shared access: a kiosk holding the card shows
as "in exclusive use"); RC-S380s from the USB bus (an RC-S380 the kiosk has
open shows as unavailable); ``--probe URI`` (repeatable) and $KIOSK_READER add
readers that cannot be discovered, such as ``nfcpy:udp:HOST:PORT``.
"""

from __future__ import annotations

import argparse
from typing import Any

import json
import os

from kiosk.errors import KioskError
from kiosk.nfc.reader import ReaderInfo, open_reader


def register(sub: Any) -> None:
    p = sub.add_parser("readers", help="list every card reader (PC/SC, RC-S380, probes) and its state")
    p.add_argument("--probe", action="append", default=[], metavar="URI",
                   help="also check this reader URI (e.g. nfcpy:udp:127.0.0.1:54321)")
    p.add_argument("--json", action="store_true", help="one JSON object: {\"readers\": [...]}")
    p.set_defaults(func=cmd_readers)


def _backend_listing(module: str, backend: str) -> list[ReaderInfo]:
    try:
        mod = __import__(module, fromlist=["list_readers"])
    except ImportError as exc:
        return [ReaderInfo(backend, backend, backend, "unavailable", f"not installed ({exc.name})")]
    found: list[ReaderInfo] = mod.list_readers()
    return found


def probe_uri(uri: str) -> ReaderInfo:
    backend = uri.partition(":")[0]
    try:
        if backend == "nfcpy":
            from kiosk.nfc.nfcpy_reader import probe
            return probe(uri)
        reader = open_reader(uri)
    except (KioskError, ImportError) as exc:
        return ReaderInfo(uri, uri, backend, "unavailable", str(getattr(exc, "message", exc)))
    try:
        present = reader.card_present()
        available = getattr(reader, "available", True) is not False
        state = "card_present" if present else ("empty" if available else "unavailable")
        return ReaderInfo(uri, reader.name or uri, backend, state)
    finally:
        reader.close()


def collect(probes: list[str]) -> list[ReaderInfo]:
    found = _backend_listing("kiosk.nfc.pcsc", "pcsc") + _backend_listing("kiosk.nfc.nfcpy_reader", "nfcpy")
    known = {info.uri for info in found}
    extra = list(probes)
    env = os.environ.get("KIOSK_READER", "")
    if env and env not in extra and (env.startswith("nfcpy:udp") or env.startswith("sim:")):
        extra.append(env)
    for uri in extra:
        if uri not in known:
            found.append(probe_uri(uri))
            known.add(uri)
    return found


def cmd_readers(args: argparse.Namespace) -> int:
    readers = collect(args.probe)
    if args.json:
        print(json.dumps({"readers": [r.to_json() for r in readers]}, ensure_ascii=False))
        return 0
    if not readers:
        print("no card readers found (is pcscd running? is the RC-S380 plugged in?)")
        return 0
    width = max(len(r.uri) for r in readers)
    for r in readers:
        detail = f"  {r.detail}" if r.detail else ""
        print(f"{r.state:<13} {r.backend:<6} {r.uri:<{width}}{detail}")
    return 0
