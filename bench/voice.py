#!/usr/bin/env python3
"""Spoken guidance: time from a screen change to the start of its prompt.

A real Session with the real voice (Open JTalk for ja, espeak-ng for the others) and
a player that only notes when playback would begin.  "warm" = the prompt was
pre-rendered (`kiosk speak --build-cache`), as on an installed kiosk; "cold" =
the worker renders it first (the cache missed, e.g. after a rate change).
Also the cost of the hook on the UI thread (go() with the guide attached).

    .venv/bin/python bench/voice.py [--rounds 20] [--langs ja,en,vi,ne,fil]

bench/ui.py measures the same through the whole app, down to the audio sink's first samples.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

os.environ.setdefault("KIOSK_JOURNAL", "stderr")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kiosk.config import LANGUAGES, Config  # noqa: E402
from kiosk.display.session import Session  # noqa: E402
from kiosk.voice.cache import PromptCache  # noqa: E402
from kiosk.voice.guide import Guide  # noqa: E402
from kiosk.voice.speaker import Voice  # noqa: E402

SCREENS = ("menu", "take_card", "attract", "card_removed")


class NotingPlayer:
    def __init__(self):
        self.event = threading.Event()

    def play(self, path, volume, stop):
        self.data = path.read_bytes()              # what pygame.mixer.Sound(file) reads first
        self.at = time.perf_counter()
        self.event.set()

    def stop(self):
        pass


def measure(lang: str, cache_dir: str, rounds: int, warm: bool) -> tuple[list[float], list[float]]:
    starts: list[float] = []
    player = NotingPlayer()
    cache = PromptCache(cache_dir)
    voice = Voice(cache, player)
    cfg = Config()
    cfg.kiosk.languages = list(LANGUAGES)
    cfg.kiosk.default_language = lang
    session = Session(cfg)
    Guide(voice).attach(session)
    hook = []
    for i in range(rounds):
        screen = SCREENS[i % len(SCREENS)]
        if not warm:
            for f in (cache.dir / lang).glob("*.wav") if (cache.dir / lang).exists() else []:
                f.unlink()
        session.go("reading")                      # leave, so the next go() is a change
        player.event.clear()
        t = time.perf_counter()
        session.go(screen)
        hook.append(time.perf_counter() - t)
        if not player.event.wait(30):
            raise SystemExit(f"no prompt for {screen} in {lang}")
        starts.append(player.at - t)
    voice.close()
    return starts, hook


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--langs", default="ja,en,vi,ne,fil")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for lang in args.langs.split(","):
            PromptCache(tmp).build([lang], full=False)
            for warm in (True, False):
                starts, hook = measure(lang, tmp, args.rounds if warm else max(4, args.rounds // 4), warm)
                ms = sorted(x * 1000 for x in starts)
                print(f"voice {lang} {'warm' if warm else 'cold'}: screen change -> prompt start "
                      f"median {statistics.median(ms):.1f} ms, p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms, "
                      f"max {ms[-1]:.1f} ms; hook on the UI thread median "
                      f"{statistics.median(hook) * 1e3:.2f} ms ({len(ms)} changes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
