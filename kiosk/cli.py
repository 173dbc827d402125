"""The ``kiosk`` command: technicians' and test benches' interface.

Each area registers its own subcommands (``register(subparsers)``), so this
file only lists them.  Errors print as ``{"error": {...}}`` with ``--json``
and exit with the code documented in docs/cli.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from kiosk import __version__
from kiosk.errors import KioskError

COMMAND_MODULES = (
    "kiosk.nfc.cli",          # card status | card licence | readers
    "kiosk.nfc.sim.cli",      # sim serve
    "kiosk.nfc.readers_cli",  # readers
    "kiosk.display.cli",      # run
    "kiosk.printer.cli",      # receipt | print-test | selftest
    "kiosk.appliance.cli",    # status | diag | config
    "kiosk.linkage.cli",      # linkage run | linkage-gateway
    "kiosk.appliance.release",  # release status | activate | link | rollback | check
    "kiosk.voice.cli",        # speak
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk", description="myna-kiosk: My Number Card kiosk")
    parser.add_argument("--version", action="version", version=f"myna-kiosk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def emit_error(exc: KioskError, as_json: bool) -> int:
    if as_json:
        print(json.dumps(exc.to_json(), ensure_ascii=False))
    else:
        print(f"kiosk: {exc.code}: {exc.message}", file=sys.stderr)
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KioskError as exc:
        return emit_error(exc, getattr(args, "json", False))
    except KeyboardInterrupt:
        return 130
