"""``kiosk receipt --preview``, ``kiosk print-test`` and ``kiosk selftest``.

Technicians' tools: preview a receipt without a printer (docs, translators,
tests), print a test slip, and walk every device of the kiosk reporting
pass / fail per item (exit 1 when anything fails).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading

from kiosk.config import LANGUAGES, Config, load_config
from kiosk.errors import KioskError

SELFTEST_WAIT = 60.0


def _config_arg(p) -> None:
    p.add_argument("--config", metavar="FILE",
                   help="config file (default: $KIOSK_CONFIG or /etc/kiosk/kiosk.toml)")


def register(sub) -> None:
    from kiosk.printer.receipt import KINDS, WIDTHS

    rc = sub.add_parser("receipt", help="render a receipt to a PNG, or print its text (no printer needed)")
    out = rc.add_mutually_exclusive_group(required=True)
    out.add_argument("--preview", metavar="OUT.png", help="where to write the image")
    out.add_argument("--text", action="store_true",
                     help="print the slip's text line by line, as it will be printed (no image)")
    rc.add_argument("--sample", metavar="KIND", required=True, choices=KINDS,
                    help=f"receipt kind: {', '.join(KINDS)}")
    rc.add_argument("--lang", choices=LANGUAGES, help="language (default: kiosk.default_language)")
    rc.add_argument("--width", type=int, choices=WIDTHS, help="dots (default: printer.width_dots)")
    rc.add_argument("--profile", default="resident", help="simulated card for the sample data")
    _config_arg(rc)
    rc.set_defaults(func=cmd_receipt)

    pt = sub.add_parser("print-test", help="print a test receipt on the configured printer")
    _config_arg(pt)
    pt.add_argument("--json", action="store_true", help="machine-readable output")
    pt.set_defaults(func=cmd_print_test)

    st = sub.add_parser("selftest", help="walk LEDs and buzzer, print a test receipt, check the reader")
    _config_arg(st)
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                    help="also require a card on the reader within this time")
    st.set_defaults(func=cmd_selftest)


# -- receipt --preview / --text -------------------------------------------------------------------
def cmd_receipt(args) -> int:
    from kiosk.printer.receipt import build_receipt
    from kiosk.printer.sample import sample_kwargs

    cfg = load_config(args.config)
    lang = args.lang or cfg.kiosk.default_language
    width = args.width or cfg.printer.width_dots
    # A technician's preview: the machine's clock stands in for the trusted time.
    receipt = build_receipt(args.sample, lang, cfg, now=dt.datetime.now(),
                            **sample_kwargs(args.sample, args.profile))
    if args.text:
        for line in receipt.text_lines(width):
            print(line)
        return 0
    img = receipt.render(width)
    img.save(args.preview, "PNG")
    print(f"{args.preview}: {args.sample} ({lang}) {img.width}x{img.height} dots")
    return 0


# -- print-test -----------------------------------------------------------------------------
def print_test_receipt(cfg: Config, bus=None):
    """Print the test receipt and wait for it: a PrintResult (ok False, code 'offline' for none)."""
    from kiosk.printer.receipt import build_receipt
    from kiosk.printer.service import PrintResult, ReceiptService

    svc = ReceiptService.from_config(cfg, bus)
    done = threading.Event()
    results: list = []

    def finished(result: PrintResult) -> None:
        results.append(result)
        done.set()

    svc.submit(build_receipt("test", cfg.kiosk.default_language, cfg), finished)
    try:
        if not done.wait(svc.io_budget + SELFTEST_WAIT):
            return PrintResult(False, "timeout")
        return results[0]
    finally:
        svc.close()


def cmd_print_test(args) -> int:
    from kiosk.appliance import sandbox
    if sandbox.should_wrap():               # test what kiosk.service can reach, not what root can
        rc = sandbox.rerun(["print-test", *(["--config", args.config] if args.config else []),
                            *(["--json"] if args.json else [])])
        if rc >= 0:
            return rc
    cfg = load_config(args.config)
    if cfg.printer.backend == "none":
        result_ok, text = False, "no printer configured (printer.backend = none)"
        code, sent = "offline", 0
    else:
        result = print_test_receipt(cfg)
        result_ok, code, sent = result.ok, result.code, result.bytes_sent
        text = (f"printed {sent} bytes ({cfg.printer.width_dots} dots) on {cfg.printer.backend}"
                if result.ok else f"not printed: {result.code}")
    if args.json:
        print(json.dumps({"ok": result_ok, "code": code, "bytes": sent, "backend": cfg.printer.backend}))
    else:
        print(text, file=sys.stdout if result_ok else sys.stderr)
    return 0 if result_ok else 1


# -- selftest -------------------------------------------------------------------------------
class Report:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, item: str, result: str, detail: str = "") -> None:
        self.items.append({"item": item, "result": result, "detail": detail})

    @property
    def ok(self) -> bool:
        return all(i["result"] != "fail" for i in self.items)


def _check(report: Report, item: str, func) -> None:
    """Run one check; any exception is that item's failure, never the selftest's."""
    try:
        result, detail = func()
    except KioskError as exc:
        result, detail = "fail", f"{exc.code}: {exc.message}"
    except Exception as exc:      # noqa: BLE001 - reported as this item's failure, the others still run
        result, detail = "fail", f"{type(exc).__name__}: {exc}"
    report.add(item, result, detail)


def run_selftest(config_file: str | None, wait: float = 0.0) -> Report:
    from kiosk.errors import ConfigError

    report = Report()
    try:
        cfg = load_config(config_file)
        report.add("config", "pass", cfg.path or "no file: defaults")
    except ConfigError as exc:
        cfg = Config()
        report.add("config", "fail", f"{exc.message} (the other checks use the defaults)")

    def font():
        from kiosk.printer import fonts
        return "pass", fonts.font_file()

    lights_box: dict = {}

    def leds():
        if not cfg.leds.enabled:
            return "skip", "leds.enabled = false"
        from kiosk.leds import StatusLights
        lights = StatusLights.from_config(cfg.leds, None)
        lights_box["lights"] = lights
        if not lights.enabled:
            return "fail", "cannot open the GPIO pins (see the journal: leds_unavailable)"
        if not lights.walk():
            return "fail", "the LED walk did not finish"
        return "pass", f"walked red {cfg.leds.red}, green {cfg.leds.green}, blue {cfg.leds.blue}"

    def buzzer():
        if not cfg.leds.enabled or not cfg.leds.buzzer:
            return "skip", "no buzzer configured"
        lights = lights_box.get("lights")
        if lights is None or "buzzer" not in lights.devices:
            return "fail", "buzzer not available"
        return "pass", f"sounded on GPIO {cfg.leds.buzzer}"

    def printer():
        if cfg.printer.backend == "none":
            return "skip", "printer.backend = none"
        result = print_test_receipt(cfg)
        if result.ok:
            return "pass", f"test receipt: {result.bytes_sent} bytes on {cfg.printer.backend}"
        return "fail", f"test receipt not printed: {result.code}"

    def reader():
        from kiosk.nfc.reader import open_reader
        uri = cfg.reader.uri or "sim:resident"
        rd = open_reader(uri)
        try:
            present = rd.card_present() or (wait > 0 and rd.wait_for_card(wait))
        finally:
            rd.close()
        if wait > 0 and not present:
            return "fail", f"{uri}: no card within {wait:g} s"
        return "pass", f"{uri}: {'card present' if present else 'reader ready, no card'}"

    def sound():
        from kiosk.appliance.audio import audio_check
        return audio_check(cfg.display.sound)

    for item, func in (("font", font), ("leds", leds), ("buzzer", buzzer), ("sound", sound),
                       ("printer", printer), ("reader", reader)):
        _check(report, item, func)
    if "lights" in lights_box:
        lights_box["lights"].close()
    return report


def cmd_selftest(args) -> int:
    report = run_selftest(args.config, args.wait)
    if args.json:
        print(json.dumps({"ok": report.ok, "items": report.items}, ensure_ascii=False))
    else:
        for i in report.items:
            print(f"{i['result'].upper():<5} {i['item']:<8} {i['detail']}")
        print("selftest: " + ("pass" if report.ok else "FAIL"))
    return 0 if report.ok else 1
