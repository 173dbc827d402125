"""The pygame.mixer player (the only voice file that imports pygame)."""

from __future__ import annotations

import threading
from pathlib import Path

from kiosk import journal


class MixerPlayer:
    """Plays cached WAVs on their own mixer channel, beside the key clicks."""

    def __init__(self):
        import pygame
        self._pg = pygame
        if not pygame.mixer.get_init():
            pygame.mixer.init()
        self._channel = pygame.mixer.Channel(pygame.mixer.get_num_channels() - 1)

    def play(self, path: Path, volume: float, stop: threading.Event) -> None:
        sound = self._pg.mixer.Sound(str(path))
        sound.set_volume(max(0.0, min(1.0, volume)))
        self._channel.play(sound)
        stop.wait(sound.get_length() + 0.05)        # until it ends, or a new screen interrupts

    def stop(self) -> None:
        try:
            self._channel.stop()
        except Exception as exc:  # noqa: BLE001 - pygame.error when the mixer went away; journaled
            journal.log_swallowed("voice.mixer_stop", exc, journal.DEBUG)
