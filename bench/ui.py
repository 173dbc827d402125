#!/usr/bin/env python3
"""Speed and memory of the touchscreen app (headless, SDL dummy driver).

Prints: time to first frame, render time per screen, CPU on an idle attract
screen over 20 s (goal < 1 % of one core), RSS after 200 scripted sessions
(goal < 150 MB, no growth between session 50 and 200), tap-to-feedback latency.

    .venv/bin/python bench/ui.py [--idle-seconds 20] [--sessions 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

T0 = time.perf_counter()
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("KIOSK_JOURNAL", "stderr")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def first_frame() -> float:
    import pygame  # noqa: F401

    from kiosk.config import Config
    from kiosk.display.app import KioskApp, open_display
    from kiosk.display.session import Session
    from kiosk.nfc.sim.reader import SimReader
    reader = SimReader()
    session = Session(Config(), reader_factory=lambda: reader)
    surface = open_display((800, 480), "dummy", False).surface
    app = KioskApp(session, surface)
    session.start()
    app.draw()
    t = time.perf_counter() - T0
    session.stop()
    return t


SCREEN_STEPS = {
    "attract": [],
    "summary": ["insert resident", "wait_screen summary"],
    "menu": ["tap btn_continue", "wait_screen menu"],
    "pin_status": ["tap item_pin_status"],
    "renewal": ["tap btn_back", "tap item_renewal"],
    "lost_card": ["tap btn_back", "tap item_lost_card"],
    "licence_pin": ["tap btn_back", "tap item_licence", "wait_screen licence_pin", "tap key_1"],
    "licence": ["tap key_3", "tap key_5", "tap key_7", "tap key_ok", "wait_screen licence"],
    "take_card": ["tap btn_back", "tap item_finish", "wait_screen take_card"],
}


def render_times(runs: int = 20) -> dict[str, float]:
    from kiosk.display.scenario import ScenarioRunner
    runner = ScenarioRunner()
    runner.session.start()
    out = {}
    try:
        for screen, steps in SCREEN_STEPS.items():
            for line in steps:
                runner.step(line)
            if not runner.result.ok:
                raise SystemExit(f"bench scenario failed: {runner.result.errors}")
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                runner.app.draw()
                times.append(time.perf_counter() - t)
            out[screen] = statistics.median(times)
    finally:
        runner.session.stop()
    return out


def idle_cpu(seconds: float) -> float:
    """CPU share of one core while the real loop sits on the attract screen."""
    import pygame

    from kiosk.config import Config
    from kiosk.display.app import KioskApp, open_display
    from kiosk.display.session import Session
    from kiosk.nfc.sim.reader import SimReader
    reader = SimReader()
    session = Session(Config(), reader_factory=lambda: reader)
    app = KioskApp(session, open_display((800, 480), "dummy", False).surface)
    session.start()
    timer = threading.Timer(seconds, lambda: pygame.event.post(pygame.event.Event(pygame.QUIT)))
    c0, w0 = time.process_time(), time.perf_counter()
    timer.start()
    app.run()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    session.stop()
    print(f"  (idle loop drew {app.frames} frame(s) in {wall:.1f} s)")
    return 100.0 * cpu / wall


SESSION = ["insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu",
           "tap item_pin_status", "tap btn_back", "tap item_licence", "wait_screen licence_pin",
           "tap key_1", "tap key_3", "tap key_5", "tap key_7", "tap key_ok", "wait_screen licence",
           "tap btn_back", "tap item_finish", "wait_screen take_card", "remove", "wait_screen attract"]


def sessions_rss(n: int) -> tuple[float, float, float]:
    from kiosk.display.scenario import ScenarioRunner
    runner = ScenarioRunner()
    runner.session.start()
    at50 = float("nan")
    t = time.perf_counter()
    try:
        for i in range(1, n + 1):
            for line in SESSION:
                runner.step(line)
            if not runner.result.ok:
                raise SystemExit(f"bench session {i} failed: {runner.result.errors}")
            runner.result.cards.clear()
            if i == 50:
                at50 = rss_mb()
    finally:
        runner.session.stop()
    per = (time.perf_counter() - t) / n
    return at50, rss_mb(), per


def tap_latency(runs: int = 50) -> float:
    """Input event in -> pressed button drawn (the feedback a finger sees)."""
    import pygame

    from kiosk.display.scenario import ScenarioRunner
    runner = ScenarioRunner()
    runner.session.start()
    lat = []
    try:
        for line in ["insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu",
                     "tap item_licence", "wait_screen licence_pin"]:
            runner.step(line)
        app = runner.app
        for _ in range(runs):
            pos = app.frame.hits["key_5"].center
            t = time.perf_counter()
            if app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=False)):
                app.draw()
            lat.append(time.perf_counter() - t)
            app.handle(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1, touch=False))
            app.draw()
            runner.session.tap("key_clear")
    finally:
        runner.session.stop()
    return statistics.median(lat)


def loop_tap_latency(runs: int = 20) -> float:
    """Same, end to end through the running loop while it idles (includes the input poll)."""
    import pygame

    from kiosk.config import Config
    from kiosk.display.app import KioskApp, open_display
    from kiosk.display.session import Session
    from kiosk.nfc.sim.reader import SimReader
    reader = SimReader()
    session = Session(Config(), reader_factory=lambda: reader)
    app = KioskApp(session, open_display((800, 480), "dummy", False).surface)
    lat: list[float] = []
    sent: list[float] = []
    original = app.draw

    def draw():
        frame = original()
        if sent and app.renderer.pressed == "lang_en":
            lat.append(time.perf_counter() - sent.pop())
        return frame

    app.draw = draw

    def driver():
        ev = threading.Event()
        ev.wait(0.5)
        pos = app.frame.hits["lang_en"].center
        for _ in range(runs):
            ev.wait(0.3)                    # let the loop go idle first
            sent.append(time.perf_counter())
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=False))
            ev.wait(0.2)
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1, touch=False))
        ev.wait(0.3)
        pygame.event.post(pygame.event.Event(pygame.QUIT))

    session.start()
    threading.Thread(target=driver, daemon=True).start()
    app.run()
    session.stop()
    return statistics.median(lat) if lat else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--sessions", type=int, default=200)
    args = ap.parse_args()
    from kiosk import journal
    journal.configure("stderr", 30)

    print(f"time to first frame:        {first_frame() * 1000:7.1f} ms (process start to first flip)")
    print("render time per screen (median of 20, 800x480):")
    for screen, t in render_times().items():
        print(f"  {screen:<14} {t * 1000:7.2f} ms")
    print(f"tap-to-feedback latency:    {tap_latency() * 1000:7.2f} ms (median; event to pressed key drawn)")
    print(f"  through the idle loop:    {loop_tap_latency() * 1000:7.2f} ms (median; includes the 50 ms input poll)")
    cpu = idle_cpu(args.idle_seconds)
    print(f"idle attract CPU:           {cpu:7.2f} % of one core over {args.idle_seconds:.0f} s (goal < 1 %)")
    at50, end, per = sessions_rss(args.sessions)
    print(f"RSS after {args.sessions} sessions:      {end:7.1f} MB (goal < 150 MB); at session 50: {at50:.1f} MB; "
          f"growth {end - at50:+.1f} MB; {per * 1000:.0f} ms per scripted session")
    return 0


if __name__ == "__main__":
    sys.exit(main())
