#!/usr/bin/env python3
"""Speed and memory of the touchscreen app (headless, SDL dummy driver).

Prints, with every language of kiosk.config.LANGUAGES enabled (``--languages
default`` for the default four): time to first frame, render time per screen,
CPU on an idle attract screen over 20 s (goal < 1 % of one core), RSS after
200 scripted sessions (goal < 150 MB, no growth between session 50 and 200),
tap-to-feedback latency, and the time from a screen change to the start of its
spoken prompt (voice on, cache built): to the player's play() and to the first
samples the audio sink receives (SDL's disk audio driver, which writes the
mixer's output to a file at playback pace, stands in for the loudspeaker).

    .venv/bin/python bench/ui.py [--idle-seconds 20] [--sessions 200]
        [--voice-langs ja,vi,ne] [--voice-sessions 6] [--voice-cache DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import wave
from array import array

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


def bench_config(languages: str = "all"):
    """The config every part of the bench runs with: all nine languages offered, or the default four."""
    from kiosk.config import LANGUAGES, Config
    cfg = Config()
    if languages == "all":
        cfg.kiosk.languages = list(LANGUAGES)
    return cfg


CFG = bench_config()


def first_frame() -> float:
    import pygame  # noqa: F401

    from kiosk.display.app import KioskApp, open_display
    from kiosk.display.session import Session
    from kiosk.nfc.sim.reader import SimReader
    reader = SimReader()
    session = Session(CFG, reader_factory=lambda: reader)
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
    runner = ScenarioRunner(CFG)
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

    from kiosk.display.app import KioskApp, open_display
    from kiosk.display.session import Session
    from kiosk.nfc.sim.reader import SimReader
    reader = SimReader()
    session = Session(CFG, reader_factory=lambda: reader)
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
    runner = ScenarioRunner(CFG)
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
    runner = ScenarioRunner(CFG)
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

    from kiosk.display.app import KioskApp, open_display
    from kiosk.display.session import Session
    from kiosk.nfc.sim.reader import SimReader
    reader = SimReader()
    session = Session(CFG, reader_factory=lambda: reader)
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


class DiskSink:
    """The audio sink: SDL's disk driver writes the mixer's output to ``path`` at playback pace.

    A reader thread notes when the first non-zero sample after ``arm()`` arrives, and
    when the output last carried sound (so the bench can wait for silence)."""

    def __init__(self, path: str):
        self.path = path
        self.heard = threading.Event()
        self.heard_at = 0.0
        self.last_sound = time.perf_counter()
        self._armed = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, name="bench-sink", daemon=True)
        self._thread.start()

    def arm(self) -> None:
        with self._lock:
            self._armed = True
            self.heard.clear()

    def _read(self) -> None:
        while not os.path.exists(self.path) and not self._done.wait(0.001):
            pass
        with open(self.path, "rb") as f:
            tail = b""
            while not self._done.is_set():
                data = f.read()
                now = time.perf_counter()
                if not data:
                    self._done.wait(0.001)
                    continue
                data, tail = tail + data, b""
                if len(data) % 2:
                    data, tail = data[:-1], data[-1:]
                if any(array("h", data)):
                    self.last_sound = now
                    with self._lock:
                        if self._armed:
                            self._armed = False
                            self.heard_at = now
                            self.heard.set()

    def wait_quiet(self, seconds: float = 0.08, timeout: float = 10.0) -> None:
        end = time.perf_counter() + timeout
        while time.perf_counter() - self.last_sound < seconds and time.perf_counter() < end:
            self._done.wait(0.005)

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=2)


def lead_in(path) -> tuple[float, float]:
    """(seconds before the first non-zero sample, seconds before the first audible one) of a WAV."""
    with wave.open(str(path), "rb") as w:
        samples, rate = array("h", w.readframes(w.getnframes())), w.getframerate()
    first = next((i for i, x in enumerate(samples) if x), 0)
    audible = next((i for i, x in enumerate(samples) if abs(x) >= 328), first)   # 1 % of full scale
    return first / rate, audible / rate


def build_voice_cache(langs: list[str], cache_dir: str) -> float:
    """`kiosk speak --build-cache` for the bench's languages (every count), as install.sh does."""
    import json
    import subprocess
    t = time.perf_counter()
    for lang in langs:
        out = subprocess.run([sys.executable, "-m", "kiosk", "speak", "--build-cache", "--dir", cache_dir,
                              "--lang", lang], capture_output=True, text=True, check=False,
                             cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                             env={**os.environ, "KIOSK_CONFIG": os.devnull + ".absent"})
        if out.returncode != 0:
            raise SystemExit(f"kiosk speak --build-cache --lang {lang} failed: {out.stderr[-400:]}")
        json.loads(out.stdout)
    return time.perf_counter() - t


def prompt_latency(langs: list[str], cache_dir: str, sessions: int, sink_file: str) -> dict:
    """Screen change -> its prompt: to the player's play() and to the sink's first samples.

    Wraps, from outside, the session's go() (stamps a change of screen) and the voice's player
    (notes each play() and its file); the sink is SDL's disk driver.  After each step that changed
    the screen the bench waits for the sound, then hushes the voice and waits for silence, so no
    earlier prompt's samples are counted for the next change."""
    import pygame

    from kiosk.display.scenario import ScenarioRunner
    pygame.mixer.quit()                         # the earlier parts opened it on the dummy driver
    os.environ["SDL_AUDIODRIVER"] = "disk"
    os.environ["SDL_DISKAUDIOFILE"] = sink_file
    cfg = bench_config("all")
    cfg.voice.enabled = True
    cfg.voice.cache_dir = cache_dir
    sink = None
    out: dict = {}
    try:
        for lang in langs:
            runner = ScenarioRunner(cfg, lang=lang, sound_enabled=False)     # no key clicks in the sink
            session, guide = runner.session, runner.session.voice
            if guide is None or type(guide.voice.player).__name__ != "MixerPlayer":
                raise SystemExit("the voice did not open pygame.mixer")
            if sink is None:
                sink = DiskSink(sink_file)
            stamps: list[tuple[float, str]] = []
            plays: list[tuple[float, float, float]] = []
            go, play = session.go, guide.voice.player.play

            def timed_go(screen, go=go, session=session, stamps=stamps):
                if str(screen) != str(session.screen):
                    stamps.append((time.perf_counter(), str(screen)))
                go(screen)

            def timed_play(path, volume, stop, play=play, plays=plays):
                plays.append((time.perf_counter(), *lead_in(path)))
                play(path, volume, stop)

            session.go = timed_go
            guide.voice.player.play = timed_play
            to_play: list[float] = []
            to_sink: list[float] = []
            audible: list[float] = []
            silent = 0
            runner.session.start()
            try:
                for _ in range(sessions):
                    for line in SESSION:
                        sink.wait_quiet()
                        stamps.clear()
                        plays.clear()
                        sink.arm()
                        runner.step(line)
                        if not runner.result.ok:
                            raise SystemExit(f"voice bench session failed: {runner.result.errors}")
                        if stamps:
                            if not sink.heard.wait(10):
                                silent += 1
                            elif plays:
                                t_play, lead, speech = plays[0]
                                t_change = max((t for t, _ in stamps if t <= t_play), default=stamps[0][0])
                                to_play.append(t_play - t_change)
                                to_sink.append(sink.heard_at - lead - t_change)
                                audible.append(speech)
                        guide.voice.say(lang, [], interrupt=True)    # hush: the next change starts in silence
                    runner.result.cards.clear()
            finally:
                runner.session.stop()
                guide.voice.close()
            out[lang] = (to_play, to_sink, audible, silent)
        rss = rss_mb()
    finally:
        if sink is not None:
            sink.close()
        pygame.mixer.quit()
    out["_rss"] = rss
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--languages", choices=("all", "default"), default="all",
                    help="kiosk.languages: all nine (default) or the default four")
    ap.add_argument("--voice-langs", default="ja,vi,ne", help="languages of the prompt-latency part")
    ap.add_argument("--voice-sessions", type=int, default=6, help="scripted sessions per voice language")
    ap.add_argument("--voice-cache", metavar="DIR", help="reuse this voice cache (default: build one in a temp dir)")
    args = ap.parse_args()
    global CFG
    CFG = bench_config(args.languages)
    from kiosk import journal
    journal.configure("stderr", 30)
    print(f"kiosk.languages: {' '.join(CFG.kiosk.languages)}")

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
    voice_part(args)
    return 0


def voice_part(args) -> None:
    langs = [x for x in args.voice_langs.split(",") if x]
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        cache = args.voice_cache or os.path.join(tmp, "cache")
        built = build_voice_cache(langs, cache)
        print(f"voice cache ({' '.join(langs)}, every count): {built:.1f} s to build or check "
              "(kiosk speak --build-cache)")
        res = prompt_latency(langs, cache, args.voice_sessions, os.path.join(tmp, "sink.raw"))
    print("screen change -> start of its prompt (voice on, cache built; "
          "play() = the player is handed the file, sink = the audio sink's first samples):")
    for lang in langs:
        to_play, to_sink, audible, silent = res[lang]
        if not to_sink:
            print(f"  {lang:<8} no prompt reached the sink ({silent} silent changes)")
            continue
        ms = [x * 1000 for x in to_sink]
        pm = [x * 1000 for x in to_play]
        print(f"  {lang:<8} sink median {statistics.median(ms):6.1f} ms, p95 {pct(ms, 0.95):6.1f} ms, "
              f"max {max(ms):6.1f} ms; play() median {statistics.median(pm):5.2f} ms, p95 {pct(pm, 0.95):5.2f} ms; "
              f"{len(ms)} changes{f', {silent} silent' if silent else ''}; the voice's own lead-in "
              f"before audible speech: median {statistics.median(audible) * 1000:.0f} ms")
    print(f"RSS after the voiced sessions: {res['_rss']:7.1f} MB (goal < 150 MB)")


if __name__ == "__main__":
    sys.exit(main())
