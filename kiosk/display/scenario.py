"""Scripted sessions: tests, screenshots, demos and the privacy test.

A scenario is a list of steps (or a TOML file with ``steps = [...]``):

    insert PROFILE        place a simulated card (shipped name or .toml path)
    remove                take it away
    tap WIDGET_ID         press an enabled button of the current screen
    key NAME              a keypad/keyboard key: 0-9, a-z, enter, backspace, escape, delete
    wait_screen SCREEN_ID wait (real time, bounded) until that screen is shown and the
                          card has answered whatever was asked (no operation pending)
    advance SECONDS       move the session clock (timeouts) without sleeping
    expect_text "…"       the current screen shows this text (after pending card/printer answers)
    expect_no_text "…"    … and not this
    expect_widget ID / expect_no_widget ID
    screenshot NAME       save NAME.png into the screenshots directory

The session runs against the real CardWorker thread and simulated reader;
only time is controlled.  ``run_scenario`` returns a ScenarioResult with
``ok``, ``screens_seen`` and ``errors``.

``record=`` (``kiosk run --record OUT.jsonl``) writes one JSON line after
every step: the screen, the language, every widget as drawn (id, role, text,
font px, box, lines, paginated, clipped) and whether the session still holds
resident data.  With a real reader (``[reader] uri``) a real card's data and
PIN never go to disk or stdout: the texts are left out of the record, key and
keyboard taps are masked in its ``line`` (``tap key_•``), ``screenshot`` is
refused and overflows carry the widget id and text length only; ``insert`` /
``remove`` run ``tray_cmd`` (``--tray-cmd``) or wait for a person to place or
take the card (docs/hil.md).
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

WAIT_SECONDS = 15.0
CARD_WAIT_SECONDS = 120.0          # a person placing or taking a physical card
TRAY_CMD_SECONDS = 60.0
BUSY_SCREENS = ("reading", "linkage_5", "linkage_8")


@dataclass
class ScenarioResult:
    ok: bool = True
    screens_seen: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    # (screen, widget, text); on a real reader (screen, widget, length of the text)
    overflows: list[tuple[str, str, str | int]] = field(default_factory=list)
    cards: list = field(default_factory=list)        # SimulatedCards inserted, for VERIFY checks
    sounds: list[str] = field(default_factory=list)
    session: object = None


def load_steps(source) -> tuple[list[str], dict]:
    """Steps from a list, a TOML file path, or TOML text; plus the file's options."""
    if isinstance(source, (list, tuple)):
        return [str(s) for s in source], {}
    path = Path(source)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise ValueError(f"{path}: needs steps = [ ... ]")
    return [str(s) for s in steps], {k: v for k, v in data.items() if k != "steps"}


class ScenarioRunner:
    def __init__(self, config=None, screenshots=None, size=(800, 480), lang="ja", clock=None,
                 printer=None, receipt_builder=None, linkage_factory=None, gateway_available=False,
                 today=None, sound_enabled=True, record=None, reader_factory=None, tray_cmd=None, demo=False):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        import pygame

        from kiosk.config import Config
        from kiosk.display.app import KioskApp, open_display
        from kiosk.display.clock import ManualClock
        from kiosk.display.session import Session
        from kiosk.display.sound import Sounds
        from kiosk.nfc.sim.reader import SimReader

        self.cfg = copy.deepcopy(config) if config is not None else Config()
        if lang:
            if lang not in self.cfg.kiosk.languages:
                raise ValueError(f"language {lang!r} is not in kiosk.languages")
            self.cfg.kiosk.default_language = lang
        self.screenshots = Path(screenshots) if screenshots else None
        self.clock = clock or ManualClock()
        # A real reader (HIL bench) when given; the simulated one otherwise.
        self.physical = reader_factory is not None
        self.reader = None if self.physical else SimReader()
        self.tray_cmd = shlex.split(tray_cmd) if tray_cmd else None
        self._record = open(record, "w", encoding="utf-8") if isinstance(record, (str, Path)) else record
        self._owns_record = isinstance(record, (str, Path))
        self._steps = 0
        self._wake = threading.Event()
        self.sounds = Sounds(enabled=sound_enabled and self.cfg.display.sound)
        kwargs = {} if today is None else {"today": today}
        self.session = Session(self.cfg, reader_factory=reader_factory or (lambda: self.reader), clock=self.clock,
                               printer=printer, receipt_builder=receipt_builder,
                               linkage_factory=linkage_factory, gateway_available=gateway_available,
                               demo=demo, sound=self.sounds, on_wake=self._wake.set, **kwargs)
        self.session.worker.idle_wait = 0.1       # prompt shutdown between scripted runs
        if pygame.display.get_surface() is not None and pygame.display.get_surface().get_size() == tuple(size):
            surface = pygame.display.get_surface()
        else:
            surface = open_display(tuple(size), None, False).surface
        self.app = KioskApp(self.session, surface)
        self.result = ScenarioResult(session=self.session)
        self._seen_overflow: set[tuple[str, str]] = set()

    # -- helpers ----------------------------------------------------------------
    def holds_resident_data(self) -> bool:
        """Anything of the current resident still in the session (card facts, licence, PIN digits)."""
        s = self.session
        return bool(s.status is not None or s.licence is not None or s.photo is not None or s.pin_len
                    or any(s._pin) or s.linkage)

    def shown(self, line: str) -> str:
        """The step as it may be written down: on a real reader a keypad or keyboard
        character (a real PIN or password) is masked, e.g. ``tap key_•``."""
        if not self.physical:
            return line
        parts = line.split()
        if len(parts) == 2 and parts[0] == "tap" and (
                parts[1].startswith("key_") and len(parts[1]) == 5 or parts[1].startswith("kb_")):
            return "tap " + parts[1].split("_", 1)[0] + "_\u2022"
        if len(parts) == 2 and parts[0] == "key" and len(parts[1]) == 1:
            return "key \u2022"
        return line

    def write_record(self, line: str) -> None:
        """One JSON line: the step, the screen and every widget as drawn (docs/ui.md)."""
        if self._record is None:
            return
        s, frame = self.session, self.app.frame
        widgets = []
        for p in frame.placed:
            item = p.record()
            if self.physical:                  # a real card's data never goes to disk
                item["chars"] = len(item.pop("text") or "")
                item.pop("lines", None)
            widgets.append(item)
        self._record.write(json.dumps({
            "step": self._steps, "line": self.shown(line), "screen": s.screen, "lang": s.lang,
            "large_text": s.large_text, "high_contrast": s.high_contrast,
            "size": list(self.app.surface.get_size()),
            "pages": {k: list(v) for k, v in frame.pages.items()},
            "widgets": widgets, "resident_data": self.holds_resident_data(),
        }, ensure_ascii=False) + "\n")
        self._record.flush()

    def _card_step(self, op: str, arg: str) -> None:
        """insert / remove on a physical reader: the bench command, or a person, then wait."""
        s = self.session
        if self.tray_cmd:
            cmd = self.tray_cmd + [op] + ([arg] if arg else [])
            try:
                done = subprocess.run(cmd, timeout=TRAY_CMD_SECONDS, capture_output=True, text=True)
            except (OSError, subprocess.TimeoutExpired) as exc:
                self.fail(f"{op}: tray command failed ({type(exc).__name__})")
                return
            if done.returncode != 0:
                self.fail(f"{op}: tray command exited {done.returncode}")
                return
        else:
            what = f"place the card ({arg})" if op == "insert" else "take the card away"
            print(f"kiosk scenario: {what} on the reader", file=sys.stderr, flush=True)
        want = (lambda: s.active or s.screen != "attract") if op == "insert" else (lambda: not s.active)
        end = time.monotonic() + CARD_WAIT_SECONDS
        while not want():
            if time.monotonic() >= end:
                self.fail(f"{op}: the reader did not see the card {'placed' if op == 'insert' else 'taken'}")
                return
            self._wake.clear()
            s.pump()
            s.tick()
            self._wake.wait(0.05)

    def draw(self) -> None:
        frame = self.app.draw()
        for wid, text in frame.overflows:
            key = (self.session.screen + "/" + self.session.lang, wid)
            if key not in self._seen_overflow:
                self._seen_overflow.add(key)
                # a real card's text never reaches stdout (`kiosk run` prints overflows)
                self.result.overflows.append((self.session.screen, wid, len(text or "") if self.physical else text))

    def settle(self) -> None:
        self.session.pump()
        self.session.tick()
        self.draw()

    def busy(self) -> bool:
        s = self.session
        return bool(s.pending) and s.screen not in BUSY_SCREENS or (
            s.notice is not None and s.notice[0] == "receipt.printing")

    def settle_async(self, timeout: float = WAIT_SECONDS) -> None:
        """Wait (bounded) until the card and the printer have answered."""
        end = time.monotonic() + timeout
        while True:
            self._wake.clear()
            self.session.pump()
            if not self.busy() or time.monotonic() >= end:
                break
            self._wake.wait(0.05)
        self.settle()

    def wait_screen(self, screen: str, timeout: float = WAIT_SECONDS) -> bool:
        end = time.monotonic() + timeout
        while True:
            self._wake.clear()
            self.session.pump()
            self.session.tick()
            # A screen counts once the card has answered (busy screens count at once).
            if self.session.screen == screen and (not self.session.pending or screen in BUSY_SCREENS):
                self.draw()
                return True
            left = end - time.monotonic()
            if left <= 0:
                self.draw()
                return False
            self._wake.wait(min(left, 0.05))

    def fail(self, msg: str) -> None:
        self.result.ok = False
        self.result.errors.append(msg)

    # -- steps ----------------------------------------------------------------------
    def step(self, line: str) -> None:
        parts = shlex.split(line)
        if not parts:
            return
        op, args = parts[0], parts[1:]
        arg = " ".join(args)
        s = self.session
        if op in ("insert", "remove") and self.physical:
            self._card_step(op, arg)
        elif op == "insert":
            card = self.reader.insert(arg)
            self.result.cards.append(card)
        elif op == "remove":
            self.reader.remove()
        elif op == "tap":
            if self.app.view is None or not self.app.view.enabled(arg):
                self.fail(f"{self.shown(line)}: no enabled widget on screen {s.screen!r}")
                return
            s.tap(arg)
        elif op == "key":
            import pygame

            from kiosk.display.app import NAME_KEYS
            code = NAME_KEYS.get(arg.lower())
            if arg.lower() in ("page_down", "page_up") and code is None:
                s.key(arg.lower(), self.app.view)       # ▼ / ▲ of a paginated block
            elif code is None:
                self.fail(f"{self.shown(line)}: unknown key name")
                return
            else:
                self.app.handle(pygame.event.Event(pygame.KEYDOWN, key=code, mod=0, unicode=""))
        elif op == "wait_screen":
            if not self.wait_screen(arg):
                self.fail(f"wait_screen {arg}: still on {s.screen!r}")
                return
        elif op == "advance":
            total = float(arg)
            while total > 0:                       # one tick per second, as the real loop does
                dt_ = min(1.0, total)
                self.clock.advance(dt_)
                total -= dt_
                s.pump()
                s.tick()
        elif op in ("expect_text", "expect_no_text"):
            self.settle_async()
            # a no-break space reads as a space (dates: kiosk/guidance Guide.date)
            present = any(arg in t.replace("\u00a0", " ") for t in self.app.view.texts())
            if present != (op == "expect_text"):
                self.fail(f"{op} {arg!r} on screen {s.screen!r}")
            return
        elif op in ("expect_widget", "expect_no_widget"):
            self.settle_async()
            present = self.app.view.get(arg) is not None
            if present != (op == "expect_widget"):
                self.fail(f"{op} {arg} on screen {s.screen!r}")
            return
        elif op == "screenshot":
            if self.physical:                  # a real card's screens never go to disk
                self.fail("screenshot: refused with a real reader ([reader] uri): "
                          "a real card's screens are not saved")
                return
            self.settle()
            if self.screenshots is not None:
                import pygame
                self.screenshots.mkdir(parents=True, exist_ok=True)
                path = self.screenshots / f"{arg}.png"
                pygame.image.save(self.app.surface, str(path))
                self.result.screenshots.append(str(path))
            return
        else:
            self.fail(f"unknown step {line!r}")
            return
        self.settle()

    def run(self, steps: list[str]) -> ScenarioResult:
        self.session.start()
        try:
            self.draw()
            self.write_record("")
            for line in steps:
                if not self.result.ok:
                    break
                self._steps += 1
                try:
                    self.step(line)
                except Exception as exc:  # noqa: BLE001 - any failing step fails the scenario, with its line
                    self.fail(f"{self.shown(line)}: {type(exc).__name__}: {exc}")
                self.write_record(line)
        finally:
            self.session.stop()
            if self._owns_record:
                self._record.close()
        self.result.screens_seen = list(self.session.screens_seen)
        self.result.sounds = list(self.sounds.played)
        return self.result


def run_scenario(steps, config=None, screenshots=None, size=(800, 480), lang="ja",
                 production: bool = False, **kwargs) -> ScenarioResult:
    """Play ``steps`` (a list of step strings, or a path to a TOML file).

    ``production=True`` wires the real linkage engine (with the loopback
    reference gateway when none is configured) and the printer from the
    config, as ``kiosk run`` does.  Extra keyword arguments reach
    ScenarioRunner (printer, receipt_builder, linkage_factory,
    gateway_available, today, clock).
    """
    step_list, options = load_steps(steps)
    if "size" in options and size == (800, 480):
        size = tuple(int(v) for v in str(options["size"]).lower().split("x"))
    lang = options.get("lang", lang)
    if "languages" in options:           # the languages this scenario's city offers (kiosk.languages)
        from kiosk.config import Config
        config = copy.deepcopy(config) if config is not None else Config()
        config.kiosk.languages = [str(code) for code in options["languages"]]
    parts = None
    if production:
        from kiosk.config import Config
        from kiosk.display.wiring import build_parts
        from kiosk.signals import Bus
        parts = build_parts(config or Config(), Bus())
        for key in ("printer", "receipt_builder", "linkage_factory", "gateway_available"):
            kwargs.setdefault(key, getattr(parts, key))
        if parts.tray is None:                 # [reader] uri: the scenario runs on that reader
            kwargs.setdefault("reader_factory", parts.reader_factory)
    try:
        runner = ScenarioRunner(config=config, screenshots=screenshots, size=size, lang=lang, **kwargs)
        return runner.run(step_list)
    finally:
        if parts is not None:
            parts.close()
