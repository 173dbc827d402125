"""``kiosk linkage run`` (the 9-step engine on a terminal, against a gateway)
and ``kiosk linkage-gateway`` (the reference gateway, FOR TESTS AND DEMOS ONLY).

Neither is the official Mynaportal linkage, which the resident does in the
official app on a smartphone (docs/linkage.md).  The gateway is an
integration point with no public operator today; against the reference
gateway every line of output says DEMO.

PINs come from the terminal (no echo) or, when stdin is not a terminal, one
per line from stdin; never from argv or the environment.  Errors and exit
codes are those of ``kiosk card`` (docs/cli.md), plus gateway_error (50); a
malformed certificate on the card is card_error (30) with
``reason: malformed_certificate``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from kiosk.errors import CancelledError, ConfigError
from kiosk.linkage.client import GatewayClient
from kiosk.linkage.engine import LinkageEngine
from kiosk.nfc.cli import add_reader_args, connect, read_pin_input
from kiosk.nfc.pins import Pin

DEMO_NOTE = ("DEMO: the reference gateway is for tests and demos only; nothing was linked. "
             "The official Mynaportal linkage is done in the official app on a smartphone.")
DEMO_BANNER = "*** " + DEMO_NOTE + " ***"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    link = sub.add_parser("linkage", help="the linkage gateway integration point on a terminal (bench; "
                                          "not the official Mynaportal linkage)")
    link_sub = link.add_subparsers(dest="linkage_command", metavar="ACTION", required=True)
    run = link_sub.add_parser("run", help="walk the 9-step engine with a card and an operator's gateway "
                                          "(no public operator exists; the reference gateway is a DEMO)",
                               description="Not the official Mynaportal linkage: that is done in the official "
                                           "app on a smartphone. This walks the 9-step engine against a "
                                           "gateway, an integration point for an operator who may offer one "
                                           "(none does publicly today); against the reference gateway every "
                                           "result is labelled DEMO.")
    add_reader_args(run)
    run.add_argument("--gateway", required=True, metavar="URL", help="https:// gateway URL")
    run.add_argument("--ca", metavar="FILE", help="pinned gateway CA (PEM)")
    run.add_argument("--client-cert", metavar="FILE", help="kiosk client certificate (PEM)")
    run.add_argument("--client-key", metavar="FILE", help="its private key (PEM)")
    run.add_argument("--kiosk-id", default="bench", help="kiosk id put into the application")
    run.add_argument("--timeout", type=float, default=10.0, help="seconds per gateway call")
    run.add_argument("--retries", type=int, default=2, help="network retries per gateway call")
    run.add_argument("--accept-terms", action="store_true",
                     help="accept the gateway's terms without asking (bench only)")
    run.set_defaults(func=cmd_run)

    gw = sub.add_parser("linkage-gateway", help="run the reference linkage gateway (TESTS AND DEMOS ONLY; "
                                                "it links nothing and is not the official linkage)",
                        description="The reference gateway, for tests and demos only: it implements "
                                    "docs/linkage-protocol.md on loopback, links nothing and is not the "
                                    "official Mynaportal linkage.")
    gw.add_argument("--listen", default="127.0.0.1:8443", metavar="127.0.0.1:PORT",
                    help="loopback address and port (0 = a free port)")
    gw.add_argument("--tls-dir", metavar="DIR", help="where its TLS CA/server/client files go "
                                                     "(default: a temporary directory)")
    gw.add_argument("--auth-anchor", action="append", default=[], metavar="PEM",
                    help="trusted user-authentication root(s) (default: the simulated card's TEST root)")
    gw.add_argument("--sign-anchor", action="append", default=[], metavar="PEM",
                    help="trusted digital-signature root(s) (default: the simulated card's TEST root)")
    gw.add_argument("--challenge-ttl", type=float, default=300.0, help="seconds a challenge lives")
    gw.add_argument("--require-client-cert", action="store_true", help="refuse kiosks without a client cert")
    gw.add_argument("--test-hooks", action="store_true", help="enable /_test/* (fault injection)")
    gw.add_argument("--verbose", action="store_true", help="log request lines to stderr")
    gw.set_defaults(func=cmd_gateway)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text, file=sys.stderr)


def _confirm_terms(args: argparse.Namespace, version: str, text: str) -> bool:
    if args.accept_terms:
        return True
    print(f"--- terms {version} ---\n{text}\n---", file=sys.stderr)
    if sys.stdin.isatty():
        answer = input("accept these terms? [y/N] ")
    else:
        # the byte layer, like read_pin_input: a text readline would buffer the next lines away
        answer = sys.stdin.buffer.readline().decode("utf-8", "replace")
    return answer.strip().lower() in ("y", "yes")


def cmd_run(args: argparse.Namespace) -> int:
    client = GatewayClient(args.gateway, ca=args.ca, client_cert=args.client_cert,
                           client_key=args.client_key, timeout=args.timeout, retries=args.retries)
    reader, session = connect(args)
    engine = None
    try:
        status = session.read_status()
        engine = LinkageEngine(session, status, client, args.kiosk_id)
        pre = engine.preflight()
        if not pre.ok:
            raise pre.error()
        if engine.demo_gateway:
            _say(args, DEMO_BANNER)
        for w in pre.warnings:
            _say(args, f"warning: {w}")
        while engine.step < 4:
            engine.advance()
        auth = status.pins.get("jpki_auth")
        if auth is not None and auth.tries_left is not None:
            _say(args, f"user-authentication PIN: {auth.tries_left} of {auth.max_tries} tries left")
        engine.submit_auth_pin(Pin("jpki_auth", read_pin_input("user-authentication PIN (4 digits): ")))
        version, text = engine.terms
        if not _confirm_terms(args, version, text):
            raise CancelledError("the terms were not accepted")
        engine.accept_terms()
        sign = status.pins.get("jpki_sign")
        if sign is not None and sign.tries_left is not None:
            _say(args, f"signature password: {sign.tries_left} of {sign.max_tries} tries left")
        engine.submit_sign_pin(Pin("jpki_sign", read_pin_input("signature password (6-16 A-Z 0-9): ")))
        result = {"result": "complete", "step": engine.step, "reference": engine.reference,
                  "terms_version": version, "warnings": pre.warnings, "demo": engine.demo_gateway}
        if engine.demo_gateway:
            result["note"] = DEMO_NOTE
    finally:
        if engine is not None:
            engine.cancel()
            engine.wipe()
        session.close()
        reader.close()
        client.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    elif result["demo"]:
        print(f"DEMO run complete (reference gateway; nothing was linked): reference {result['reference']}")
    else:
        print(f"gateway flow complete: reference {result['reference']}")
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from kiosk.linkage.reference import ReferenceGateway
    from kiosk.linkage.trust import TrustAnchors

    host, _, port = args.listen.rpartition(":")
    try:
        port_no = int(port)
        anchors = None
        if args.auth_anchor or args.sign_anchor:
            anchors = TrustAnchors.from_pem_files(args.auth_anchor, args.sign_anchor)
        gw = ReferenceGateway(anchors, tls_dir=args.tls_dir, host=host.strip("[]") or "127.0.0.1",
                              port=port_no, challenge_ttl=args.challenge_ttl, test_hooks=args.test_hooks,
                              require_client_cert=args.require_client_cert, verbose=args.verbose)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot start the reference gateway: {exc}", key="listen") from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    gw.start()
    print(json.dumps({"url": gw.url, "ca": gw.ca_path, "client_cert": str(gw.tls.client_cert_path),
                      "client_key": str(gw.tls.client_key_path), "test_hooks": gw.test_hooks}), flush=True)
    print("reference gateway: FOR TESTS AND DEMOS ONLY; it links nothing and is not the official "
          "Mynaportal linkage (公的個人認証法 §17; docs/linkage.md); trust anchors: "
          + ("given" if anchors else "simulated card TEST roots"), file=sys.stderr, flush=True)
    while not stop.wait(1.0):
        pass
    gw.stop()
    return 0

