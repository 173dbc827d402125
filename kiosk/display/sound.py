"""Short generated sounds: key click, success, error, take-your-card, the continue prompt.

The key click is one buffer played for every key, so nobody near the kiosk
can tell digits apart by ear.  With no audio device (or ``display.sound =
false``) the kiosk is silent and nothing fails.
"""

from __future__ import annotations

import math
from array import array

from kiosk import journal

RATE = 22050
# name -> list of (frequency Hz, milliseconds); 0 Hz is a pause.
TONES = {
    "click": [(1200, 25)],
    "success": [(880, 90), (0, 30), (1320, 140)],
    "error": [(330, 160), (0, 40), (262, 220)],
    "take_card": [(988, 160), (0, 60), (784, 160), (0, 60), (988, 260)],
    "prompt": [(660, 140), (0, 80), (660, 140)],       # the "continue?" prompt appears
}


def synthesize(tones, rate: int = RATE, volume: float = 0.35) -> bytes:
    """16-bit mono PCM, with a short fade so nothing clicks at the edges."""
    out = array("h")
    for freq, ms in tones:
        n = int(rate * ms / 1000)
        fade = max(1, min(n // 4, rate // 200))
        for i in range(n):
            if freq == 0:
                out.append(0)
                continue
            env = min(1.0, i / fade, (n - i) / fade)
            out.append(int(32767 * volume * env * math.sin(2 * math.pi * freq * i / rate)))
    return out.tobytes()


class Sounds:
    """Plays the sounds through pygame.mixer when there is a device."""

    def __init__(self, enabled: bool = True):
        self.played: list[str] = []           # names only; for tests
        self.buffers = {name: synthesize(t) for name, t in TONES.items()}
        self._sounds = {}
        if not enabled:
            return
        try:
            import pygame
            if not pygame.mixer.get_init():
                pygame.mixer.init(RATE, -16, 1, 512)
            mixer = pygame.mixer.get_init()
            if mixer is None:                # did not open: the except below keeps us silent
                raise pygame.error("pygame.mixer did not initialise")
            freq, _, channels = mixer
            for name, pcm in self.buffers.items():
                data = pcm
                if channels == 2:            # duplicate mono samples into both channels
                    mono = array("h")
                    mono.frombytes(pcm)
                    stereo = array("h", (s for s in mono for _ in (0, 1)))
                    data = stereo.tobytes()
                self._sounds[name] = pygame.mixer.Sound(buffer=data)
        except Exception as exc:  # noqa: BLE001 - no audio device (pygame.error and others): silent, journaled
            journal.log_swallowed("sound.open", exc, journal.NOTICE)
            self._sounds = {}

    def play(self, name: str) -> None:
        self.played.append(name)
        if len(self.played) > 200:
            del self.played[:100]
        snd = self._sounds.get(name)
        if snd is not None:
            try:
                snd.play()
            except Exception as exc:  # noqa: BLE001 - the mixer went away (pygame.error): this sound is lost
                journal.log_swallowed("sound.play", exc)
