"""``kiosk sim serve``: the simulated card over a real link (the hardware-in-the-loop bench).

    kiosk sim serve --profile resident --vpcd 192.0.2.10:35963 --trace trace.txt
    kiosk sim serve --profile resident --nfc-udp 127.0.0.1:54321 --remove-after 5

Control lines on stdin (a terminal, or a pipe from a test):

    insert [PROFILE]     place PROFILE, or the last card again
    remove               take the card away
    reinsert             the last card again (its PIN counters carry over)
    swap PROFILE         remove, then place PROFILE
    remove-after N       the card in the field answers N more APDUs, then leaves
    status               one JSON line: profile, present, APDUs, tries left
    quit                 stop

Events are printed one per line (``inserted resident``, ``removed``,
``left resident``).  The trace file gets the card's masked trace: VERIFY
data is never written.  End of stdin keeps serving until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
from typing import Any

import json
import signal
import sys
import threading

from kiosk.errors import ConfigError, ReaderError
from kiosk.nfc.sim.card import Faults, SimulatedCard
from kiosk.nfc.sim.link import CardSlot
from kiosk.nfc.sim.profile import Profile, load_profile


def register(sub: Any) -> None:
    """Add ``kiosk sim serve``."""
    sim = sub.add_parser("sim", help="the simulated card over a real link (bench)")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    serve = sim_sub.add_parser("serve", help="present a simulated card to pcscd (vpcd) or nfcpy (udp)")
    serve.add_argument("--profile", default="resident", help="shipped profile name or .toml path")
    link = serve.add_mutually_exclusive_group(required=True)
    link.add_argument("--vpcd", metavar="HOST:PORT",
                      help="connect to pcscd's vpcd driver (Debian default port 35963)")
    link.add_argument("--nfc-udp", metavar="HOST:PORT",
                      help="be a Type B tag for nfcpy's udp driver (reader URI nfcpy:udp:HOST:PORT)")
    serve.add_argument("--trace", metavar="FILE", help="append the masked APDU trace here")
    serve.add_argument("--remove-after", type=int, metavar="N",
                       help="the first card leaves after answering N APDUs")
    serve.add_argument("--yank", choices=("rfoff", "silent"), default="rfoff",
                       help="nfc-udp: how a leaving card tells the reader (default: rfoff)")
    serve.add_argument("--fwi", type=int, choices=range(15), metavar="0-14",
                       help="nfc-udp: frame waiting time integer the tag announces (default: 8, 77 ms)")
    serve.add_argument("--empty", action="store_true", help="start with no card in the field")
    serve.set_defaults(func=cmd_serve)


def _host_port(text: str, option: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{option} must be HOST:PORT", key=option)
    return host or "127.0.0.1", int(port)


def make_server(args: argparse.Namespace) -> CardSlot:
    if args.vpcd:
        from kiosk.nfc.sim.vpcd import VpcdCardServer
        host, port = _host_port(args.vpcd, "--vpcd")
        return VpcdCardServer(host, port, trace=args.trace)
    from kiosk.nfc.sim.nfc_udp import NfcUdpCardServer
    host, port = _host_port(args.nfc_udp, "--nfc-udp")
    return NfcUdpCardServer(host, port, trace=args.trace, yank=args.yank, fwi=args.fwi)


def _say(line: str) -> None:
    print(line, flush=True)


def _insert(server: CardSlot, what: "str | Profile | SimulatedCard", faults: Faults | None = None) -> None:
    try:
        server.insert(what, faults)
    except OSError as exc:
        raise ReaderError(f"cannot reach the reader side ({exc})", reader="sim") from None


def handle(server: CardSlot, line: str) -> bool:
    """One control line.  Returns False on quit."""
    words = line.split()
    if not words:
        return True
    cmd, rest = words[0].lower(), words[1:]
    try:
        if cmd == "quit":
            return False
        if cmd == "insert":
            _insert(server, load_profile(rest[0]) if rest else (server.last_card or "resident"))
        elif cmd == "reinsert":
            _insert(server, server.last_card or "resident")
        elif cmd == "swap" and rest:
            _insert(server, load_profile(rest[0]))
        elif cmd == "remove":
            server.remove()
        elif cmd == "remove-after" and rest and rest[0].isdigit():
            server.remove_after(int(rest[0]))
            _say(f"remove-after {int(rest[0])}")
        elif cmd == "status":
            card = server.card or server.last_card
            _say(json.dumps({
                "present": server.card is not None,
                "profile": card.profile.name if card else None,
                "apdus": card.apdu_count if card else 0,
                "tries_left": {k: v.tries_left for k, v in card.pins.items()} if card else {},
            }))
        else:
            _say(f"? {cmd}: insert [PROFILE] | remove | reinsert | swap PROFILE | remove-after N | status | quit")
    except (ConfigError, ReaderError) as exc:
        _say(f"error {exc.code}: {exc.message}")
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    try:
        server = make_server(args)
    except OSError as exc:
        raise ReaderError(f"cannot open the link ({exc})", reader="sim") from None
    server.on_event = lambda event, card: _say(f"{event} {card.profile.name}" if event != "removed"
                                               else "removed")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not args.empty:
            _insert(server, profile, Faults(remove_after=args.remove_after)
                    if args.remove_after is not None else None)
        where = args.vpcd or f"nfcpy:udp:{getattr(server, 'host', '')}:{getattr(server, 'port', '')}"
        _say(f"serving on {where}")

        def read_controls() -> None:
            for line in sys.stdin:
                if not handle(server, line):
                    break
            else:
                return                           # end of input: keep serving until a signal
            stop.set()

        threading.Thread(target=read_controls, daemon=True, name="sim-controls").start()
        stop.wait()
    finally:
        server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
