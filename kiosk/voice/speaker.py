"""The voice: a queue and one worker thread between the UI and the loudspeaker.

``say()`` returns at once on the UI thread; the worker takes each prompt's
pre-rendered file from the cache (rendering it there, off the UI thread, if
the cache lacks it) and plays it.  A new screen interrupts what is still
being said about the old one.  Players sit behind a two-method interface; the
pygame one lives in kiosk/voice/mixer.py so this file needs no pygame.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from kiosk import journal
from kiosk.voice.prompts import Prompt


class Player(Protocol):
    def play(self, path: Path, volume: float, stop: threading.Event) -> None:
        """Play ``path``; return when it has finished or ``stop`` is set."""

    def stop(self) -> None: ...


class SilentPlayer:
    """No audio device: nothing is heard, nothing fails."""

    def play(self, path: Path, volume: float, stop: threading.Event) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class Started:
    """A prompt began to play: for the bench and tests (keys and times only)."""
    lang: str
    key: str
    asked_at: float
    started_at: float


class Voice:
    def __init__(self, cache, player: Player | None = None, volume: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_start: Callable[[Started], None] | None = None):
        self.cache = cache
        self.player = player or SilentPlayer()
        self.volume = volume
        self.clock = clock
        self.on_start = on_start
        self._queue: "queue.Queue[tuple | None]" = queue.Queue()
        self._gen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kiosk-voice", daemon=True)
        self._thread.start()

    # -- UI thread -------------------------------------------------------------
    def say(self, lang: str, prompts: list[Prompt], interrupt: bool = True) -> None:
        """Queue ``prompts`` in ``lang``; with ``interrupt`` whatever is playing stops."""
        if not all(isinstance(p, Prompt) for p in prompts):
            raise TypeError("the voice speaks Prompt objects only")
        if interrupt:
            self._gen += 1
            self._stop.set()
            self.player.stop()
        self._queue.put((self._gen, lang, tuple(prompts), self.clock()))

    def refused(self, key: str) -> None:
        # Only the fact: the refused key or value may be exactly what must not be said.
        journal.log_event("voice_error", "a prompt was refused by the voice whitelist", journal.ERR,
                          ERROR_CODE="prompt_refused")

    def close(self) -> None:
        self._gen += 1
        self._stop.set()
        self.player.stop()
        self._queue.put(None)
        self._thread.join(timeout=5)

    # -- worker thread -----------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            gen, lang, prompts, asked = item
            if gen != self._gen:
                continue
            self._stop.clear()
            for p in prompts:
                if gen != self._gen:
                    break
                try:
                    path = self.cache.get(lang, p) or self.cache.render(lang, p)
                except Exception as exc:  # noqa: BLE001 - no synthesiser: stay silent, tell the technician
                    journal.log_event("voice_error", "a prompt could not be rendered",
                                      journal.WARNING, PROMPT=p.key, LANG=lang,
                                      ERROR_CODE="voice_unavailable", DETAIL=type(exc).__name__)
                    continue
                if gen != self._gen:
                    break
                if self.on_start is not None:
                    self.on_start(Started(lang, p.key, asked, self.clock()))
                try:
                    self.player.play(path, self.volume, self._stop)
                except Exception as exc:  # noqa: BLE001 - a failed playback must not stop the voice thread
                    journal.log_swallowed("voice.play", exc)
