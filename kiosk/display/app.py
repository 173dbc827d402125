"""The pygame-ce front end: display modes, input, the event-driven loop.

Three display modes: full screen on the Pi's console (KMSDRM, no X), a
window on a desktop, and SDL's ``dummy`` driver for tests and headless runs.
The loop sleeps until an input, a worker message or the next countdown
tick and redraws only then, so an idle attract screen costs almost nothing.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402

from kiosk.appliance.health import HEALTH  # noqa: E402
from kiosk.display.render import Frame, Renderer  # noqa: E402
from kiosk.display.screens import View, build_view  # noqa: E402

WAKE = pygame.event.custom_type()
INPUT_POLL = 0.05          # seconds between input polls while idle
# Developer card tray (simulated reader only): F1-F8 insert, F9 removes.
TRAY_ORDER = ("resident", "myna-plain", "licence-last-try", "licence-locked", "licence-no-pin",
              "ic-licence", "jpki-locked", "cert-expired")
KEY_NAMES = {
    pygame.K_RETURN: "enter", pygame.K_KP_ENTER: "enter", pygame.K_BACKSPACE: "backspace",
    pygame.K_ESCAPE: "escape", pygame.K_DELETE: "delete", pygame.K_KP_PERIOD: "delete",
    pygame.K_F10: "f10",                 # the keypad's voice on/off key (issue #16)
    pygame.K_F11: "f11",                 # the keypad's language key: the chooser (issue #16)
}
for _i in range(10):
    KEY_NAMES[getattr(pygame, f"K_{_i}")] = str(_i)
    KEY_NAMES[getattr(pygame, f"K_KP{_i}")] = str(_i)
for _c in "abcdefghijklmnopqrstuvwxyz":
    KEY_NAMES[getattr(pygame, f"K_{_c}")] = _c
NAME_KEYS = {v: k for k, v in KEY_NAMES.items() if not (pygame.K_KP0 <= k <= pygame.K_KP9)}
NAME_KEYS.update({"enter": pygame.K_RETURN, **{f"f{i}": getattr(pygame, f"K_F{i}") for i in range(1, 13)}})


def tray_profiles() -> list[str]:
    """The eight profiles on F1-F8: TRAY_ORDER first, then other shipped ones."""
    from kiosk.nfc.sim.profile import shipped_profiles
    shipped = list(shipped_profiles())
    order = [p for p in TRAY_ORDER if p in shipped] + [p for p in shipped if p not in TRAY_ORDER]
    return order[:8]


def choose_driver(cfg_driver: str, headless: bool) -> tuple[str | None, bool, str | None]:
    """(SDL video driver or None for SDL's choice, fullscreen, note for stderr)."""
    if headless or os.environ.get("SDL_VIDEODRIVER") == "dummy":
        return "dummy", False, None
    if cfg_driver and cfg_driver != "auto":
        return cfg_driver, cfg_driver == "kmsdrm", None
    if os.environ.get("SDL_VIDEODRIVER"):
        return None, False, None
    if os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY"):
        return None, False, None
    if os.path.exists("/dev/dri/card0") or os.path.exists("/dev/dri/card1"):
        return "kmsdrm", True, None
    return "dummy", False, ("kiosk: no display found (no DISPLAY, WAYLAND_DISPLAY or /dev/dri); "
                            "running headless with SDL's dummy driver")


class DisplayProblem(str, Enum):
    # The first two are kiosk.appliance.kmsdrm's causes (one code set with `kiosk status`).
    NO_DEVICE = "no_display_device"          # no /dev/dri/card*: monitor off, cable, boot order
    LIBRARY_MISSING = "driver_library_missing"    # a KMSDRM library or the DRI driver does not load
    OPEN_FAILED = "display_open_failed"      # device and libraries there, SDL still refused


@dataclass(frozen=True)
class DisplayResult:
    """open_display's answer: a surface, or why there is none (for STATUS, journal, status)."""

    surface: pygame.Surface | None
    problem: DisplayProblem | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.surface is not None


def open_display(size: tuple[int, int], driver: str | None, fullscreen: bool, *,
                 dev_dri: Path = Path("/dev/dri"), check=None) -> DisplayResult:
    """Open the screen, or say why not (never raises for a missing display).

    For KMSDRM the device and the driver libraries (with Mesa's DRI driver) are
    checked first by kiosk.appliance.kmsdrm, the same check `kiosk status` shows:
    SDL's own "kmsdrm not available" cannot tell them apart.
    """
    if driver == "kmsdrm":
        from kiosk.appliance import kmsdrm
        report = (check or kmsdrm.diagnose)(str(dev_dri))
        if report.cause != "ok":
            return DisplayResult(None, DisplayProblem(report.cause), report.message())
    if driver:
        os.environ["SDL_VIDEODRIVER"] = driver
    try:
        pygame.display.init()
        pygame.font.init()
        pygame.display.set_caption("myna-kiosk")
        if fullscreen:
            surface = pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
            pygame.mouse.set_visible(False)
        else:
            surface = pygame.display.set_mode(size)
    except pygame.error as exc:
        pygame.display.quit()
        return DisplayResult(None, DisplayProblem.OPEN_FAILED, " ".join(str(exc).split())[:200])
    return DisplayResult(surface)


class KioskApp:
    """Draws the session's current view and feeds it input events."""

    def __init__(self, session, surface: pygame.Surface, tray=None):
        self.session = session
        self.surface = surface
        self.renderer = Renderer(surface)
        self.tray = tray                    # a SimReader, when the card tray is enabled
        self.frame = Frame()
        self.view: View | None = None
        self.running = True
        self._pressed: str | None = None
        self.frames = 0
        self.on_first_frame: Callable[[], None] | None = None
        self._wake = threading.Event()

    def wake(self) -> None:
        """Called from the card worker: make the loop look at its inbox now."""
        self._wake.set()

    # -- drawing ---------------------------------------------------------------
    def draw(self) -> Frame:
        self.view = build_view(self.session)
        self.renderer.pressed = self._pressed
        self.frame = self.renderer.draw(self.view)
        try:
            pygame.display.flip()
        except pygame.error:
            pass
        self.frames += 1
        if self.frames == 1 and self.on_first_frame is not None:
            self.on_first_frame()
        return self.frame

    # -- input ------------------------------------------------------------------
    def _pos(self, ev) -> tuple[int, int]:
        if ev.type in (pygame.FINGERDOWN, pygame.FINGERUP):
            w, h = self.surface.get_size()
            return int(ev.x * w), int(ev.y * h)
        return ev.pos

    def handle(self, ev) -> bool:
        """One event.  True when the screen must be redrawn."""
        t = ev.type
        if t == pygame.QUIT:
            self.running = False
            return False
        if t == WAKE:
            return self.session.pump()
        if t in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP) and (
                getattr(ev, "touch", False) or getattr(ev, "button", 1) != 1):
            return False                    # SDL's mouse copy of a touch: handled as a finger
        if t in (pygame.FINGERDOWN, pygame.MOUSEBUTTONDOWN):
            self._pressed = self.frame.hit(self._pos(ev))
            return self._pressed is not None
        if t in (pygame.FINGERUP, pygame.MOUSEBUTTONUP):
            target = self.frame.hit(self._pos(ev))
            pressed, self._pressed = self._pressed, None
            if target is not None and target == pressed:
                if self.view is not None and self.view.screen == self.session.screen:
                    self.session.tap(target)    # never a button of a screen that has gone
                return True
            return pressed is not None
        if t == pygame.KEYDOWN:
            if self.tray is not None and pygame.K_F1 <= ev.key <= pygame.K_F9:
                self._tray(ev.key - pygame.K_F1)
                return True
            name = KEY_NAMES.get(ev.key)
            if name is not None:
                return self.session.key(name, self.view)
        if t in (pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE, pygame.WINDOWRESIZED):
            return True
        return False

    def _tray(self, index: int) -> None:
        if index == 8:
            self.tray.remove()
            return
        names = tray_profiles()
        if index < len(names):
            self.tray.remove()
            self.tray.insert(names[index])

    # -- the loop -----------------------------------------------------------------
    def next_events(self, timeout: float) -> list:
        """Input events, waiting up to ``timeout`` s without spinning.

        SDL's own wait-with-timeout polls every millisecond on several video
        drivers (a few % of a core on an idle kiosk), so the loop sleeps on a
        threading.Event instead: the card worker sets it, and input is
        collected every INPUT_POLL seconds (touch feedback within ~50 ms).
        """
        end = time.monotonic() + timeout
        events = pygame.event.get()
        while not events and not self._wake.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            self._wake.wait(min(INPUT_POLL, left))
            events = pygame.event.get()
        self._wake.clear()
        return events

    def run(self) -> None:
        HEALTH.register("ui")
        self.draw()
        while self.running:
            HEALTH.beat("ui")
            try:
                self.iterate()
            except Exception as exc:  # noqa: BLE001 - recover() journals it; a UI bug must not take the kiosk down
                self.session.recover(type(exc).__name__)
                self.draw()

    def iterate(self) -> None:
        """One pass: wait, apply input and worker answers, timers; redraw if needed."""
        deadline = self.session.next_deadline()
        wait = 1.0 if deadline is None else min(1.0, max(0.02, deadline))
        changed = False
        for ev in self.next_events(wait):
            changed |= bool(self.handle(ev))
        changed |= self.session.pump()
        changed |= self.session.tick()
        if changed:
            self.draw()


def print_note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
