"""``kiosk run``: the resident's touchscreen app (and the scenario runner)."""

from __future__ import annotations

import json
import os
import select
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.display.app import KioskApp


def register(sub) -> None:
    """Add this area's subcommands to the ``kiosk`` parser."""
    p = sub.add_parser("run", help="run the touchscreen kiosk (window, full screen or headless)")
    p.add_argument("--config", metavar="FILE", help="config file (default: $KIOSK_CONFIG or /etc/kiosk/kiosk.toml)")
    p.add_argument("--headless", action="store_true", help="no display (SDL dummy driver)")
    p.add_argument("--scenario", metavar="FILE.toml", help="play a scripted session and exit (docs/ui.md)")
    p.add_argument("--screenshots", metavar="DIR", help="where scenario screenshots go")
    p.add_argument("--size", metavar="WxH", help="window / screen size, e.g. 800x480")
    from kiosk.config import LANGUAGES
    p.add_argument("--lang", choices=LANGUAGES, help="starting language (a locale id: docs/i18n.md)")
    p.add_argument("--record", metavar="OUT.jsonl",
                   help="with --scenario: after every step, write the screen and every widget's layout")
    p.add_argument("--tray-cmd", metavar="CMD",
                   help="with --scenario and [reader] uri: run 'CMD insert PROFILE' / 'CMD remove' "
                        "for the insert/remove steps (docs/hil.md); without it, a person does them")
    p.add_argument("--large-text", action="store_true", help="start in large text")
    p.set_defaults(func=cmd_run)


def _size(text: str | None, cfg) -> tuple[int, int]:
    if not text:
        return cfg.display.width, cfg.display.height
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"kiosk run: --size must be WxH, e.g. 800x480, not {text!r}") from None
    return w, h


def cmd_run(args) -> int:
    from kiosk import journal
    from kiosk.config import load_config_safely

    cfg, error = load_config_safely(args.config)
    journal.configure(cfg.logging.journal, cfg.logging.rate_limit_per_minute)
    size = _size(args.size, cfg)
    if args.lang and args.lang in cfg.kiosk.languages:
        cfg.kiosk.default_language = args.lang
    if getattr(args, "large_text", False):
        cfg.display.large_text = True
    if args.scenario:
        return _run_scenario(args, cfg, error, size)
    return _run_kiosk(args, cfg, error, size)


def _run_scenario(args, cfg, error, size) -> int:
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    from kiosk.display.scenario import run_scenario
    if error is not None:
        print(f"kiosk run: {error.message}", file=sys.stderr)
        return error.exit_code
    result = run_scenario(args.scenario, config=cfg, screenshots=args.screenshots, size=size,
                          lang=cfg.kiosk.default_language, production=True,
                          record=getattr(args, "record", None), tray_cmd=getattr(args, "tray_cmd", None))
    print(json.dumps({"ok": result.ok, "screens_seen": result.screens_seen, "errors": result.errors,
                      "overflows": [list(o) for o in result.overflows],
                      "screenshots": result.screenshots}, ensure_ascii=False, indent=1))
    return 0 if result.ok else 1


class StopRequest:
    """A stop asked for by a signal handler, without locks (a threading.Event takes one).

    ``set`` only stores the signal's name and writes a byte to a pipe (both safe inside
    a handler); ``wait`` sleeps on that pipe, so waiting loops still wake at once.
    """

    def __init__(self):
        self.signal = ""
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)

    def set(self, name: str = "stop") -> None:
        self.signal = self.signal or name
        try:
            os.write(self._write, b"x")
        except OSError:                 # pipe full or closed: the flag above is enough
            pass

    def is_set(self) -> bool:
        return bool(self.signal)

    def fileno(self) -> int:
        """The pipe ``set`` writes to, so other waits (the display hotplug watch) wake on a stop."""
        return self._read

    def wait(self, timeout: float | None = None) -> bool:
        if not self.is_set():
            try:
                select.select([self._read], [], [], timeout)
            except (OSError, ValueError):    # closed: behave as a plain sleep-free check
                pass
        return self.is_set()

    def close(self) -> None:
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass


def _run_kiosk(args, cfg, error, size) -> int:
    import signal

    from kiosk import journal
    from kiosk.appliance import notify
    from kiosk.appliance.metrics import MetricsWriter
    from kiosk.display.app import choose_driver, open_display, print_note
    from kiosk.display.wiring import build_parts, wait_for_display
    from kiosk.signals import Bus, KioskState

    driver, fullscreen, note = choose_driver(cfg.display.driver, args.headless)
    fullscreen = fullscreen or (cfg.display.fullscreen and driver != "dummy")
    if note:
        print_note(note)
    bus = Bus()
    status = notify.StatusReporter(bus).attach()      # STATUS= follows state and service conditions
    if not args.headless:
        # Publish states for `kiosk status` (/run/kiosk/state.json); a scripted
        # headless run must not overwrite the live kiosk's file.
        from kiosk.appliance.runstate import RuntimeState
        RuntimeState(bus).attach()
    metrics = MetricsWriter(cfg.metrics, bus, kiosk_id=cfg.kiosk.id).attach() if not args.headless else None
    parts = build_parts(cfg, bus, local_gateway=error is None)   # a bad config starts nothing extra
    bus.state(KioskState.BOOTING)
    if metrics is not None:
        metrics.start()
    stop = StopRequest()
    app_box: dict[str, KioskApp] = {}

    def on_signal(signum, _frame) -> None:
        # SIGTERM from systemd: flags only.  The handler runs on the main thread between
        # two bytecodes, maybe while it holds the journal's or a sink's lock: journaling or
        # notifying from here could deadlock.  The loop leaves cleanly (card unpowered,
        # resident's data wiped) and kiosk_stopping / STOPPING=1 go out after it.
        stop.set(signal.Signals(signum).name.removeprefix("SIG"))
        if "app" in app_box:
            app_box["app"].running = False      # seen within one loop pass (<= 1 s)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        # wait_for_display types ``stop`` as threading.Event but calls only .wait(), which
        # StopRequest has (a lock-free stand-in for the signal handler).
        display = wait_for_display(lambda: open_display(size, driver, fullscreen), bus, status,
                                   stop, driver=driver or "")  # type: ignore[arg-type]
        if display is None:
            return 0
        return _serve(args, cfg, error, parts, bus, status, display.surface, driver, app_box, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stop.signal:
            journal.log_event("kiosk_stopping", "kiosk stopping", journal.NOTICE, SIGNAL=stop.signal)
        notify.notify_stopping()
        stop.close()
        if metrics is not None:
            metrics.stop()
        parts.close()


def _serve(args, cfg, error, parts, bus, status, surface, driver, app_box, stop) -> int:
    from kiosk import journal
    from kiosk.appliance import notify
    from kiosk.display.app import KioskApp
    from kiosk.display.session import Session
    from kiosk.display.sound import Sounds

    session = Session(cfg, reader_factory=parts.reader_factory, config_error=error, bus=bus,
                      printer=parts.printer, receipt_builder=parts.receipt_builder,
                      linkage_factory=parts.linkage_factory, gateway_available=parts.gateway_available,
                      demo=parts.demo,
                      sound=Sounds(enabled=cfg.display.sound), today=parts.today,
                      on_wake=lambda: app_box["app"].wake() if "app" in app_box else None)
    app = KioskApp(session, surface, tray=parts.tray)
    app_box["app"] = app
    watchdog = None

    def first_frame() -> None:
        nonlocal watchdog
        try:
            status.ready()
            watchdog = notify.start_watchdog()
        except Exception as exc:  # noqa: BLE001 - no systemd notify socket: the kiosk runs on, journaled
            journal.log_swallowed("display.first_frame", exc)

    app.on_first_frame = first_frame
    journal.log_event("kiosk_started", "kiosk started", DRIVER=driver or "default",
                      READER=cfg.reader.uri or "sim", SIZE=f"{surface.get_width()}x{surface.get_height()}")
    parts.clock.check()                     # journal an unsynchronised clock at start
    session.start()
    try:
        if not stop.is_set():
            app.run()
    except KeyboardInterrupt:
        pass
    finally:
        session.stop()
        if watchdog is not None:
            watchdog.stop()
    return 0
