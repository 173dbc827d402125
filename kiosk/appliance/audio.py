"""``kiosk selftest``'s sound item: play a tone and say whether audio works.

Sound needs an ALSA device the kiosk may open: the unit grants the ``audio``
group and ``DeviceAllow=char-alsa``.  The check opens pygame's mixer the way
the kiosk does (kiosk/display/sound.py), plays the "success" tone and waits
for it to finish; "fail" names what is missing (runbook: docs/operations.md).
tests/appliance/test_audio_alsa.py plays it through the real alsa-lib into a
WAV capture (ALSA's file plugin) and checks the tone is there.
"""

from __future__ import annotations

import time
from pathlib import Path

TEST_TONE = "success"


def alsa_cards(proc: Path = Path("/proc/asound/cards")) -> list[str]:
    try:
        return [line.strip() for line in proc.read_text().splitlines() if line[:3].strip().isdigit()]
    except OSError:
        return []


def audio_check(enabled: bool, timeout: float = 5.0) -> tuple[str, str]:
    if not enabled:
        return "skip", "display.sound = false"
    from kiosk.display.sound import Sounds
    sounds = Sounds(enabled=True)
    if not sounds._sounds:
        cards = alsa_cards()
        why = "no ALSA sound card (/proc/asound/cards)" if not cards else \
            "cannot open the sound device (audio group, DeviceAllow=char-alsa?)"
        return "fail", why
    import pygame
    # "success": two tones, a quarter second, long enough to hear (and to find in a capture).
    name = TEST_TONE if TEST_TONE in sounds._sounds else next(iter(sounds._sounds))
    channel = sounds._sounds[name].play()
    deadline = time.monotonic() + timeout
    while channel is not None and channel.get_busy() and time.monotonic() < deadline:
        pygame.time.wait(20)                 # the tone is playing (bounded by the deadline)
    import os
    driver = os.environ.get("SDL_AUDIODRIVER") or "default"
    mixer = pygame.mixer.get_init()
    if mixer is None:                        # Sounds opened it; someone closed it since
        raise RuntimeError("pygame.mixer closed during the audio check")
    freq, _, channels = mixer
    pygame.mixer.quit()                      # the device is free again for the next check or the kiosk
    return "pass", f"played {name} ({freq} Hz, {channels} ch, SDL audio driver {driver})"
