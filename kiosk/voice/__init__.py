"""Spoken guidance (docs/voice.md): prompts, synthesisers, the cache, the voice, the guide.

``attach(session, cfg)`` is the one hook: it builds the voice from the
``[voice]`` config section and registers the guide as an observer of the
session's screen changes.  Nothing here imports pygame except mixer.py.
"""

from __future__ import annotations

from kiosk import journal

from kiosk.voice.guide import Guide
from kiosk.voice.prompts import PROMPT_KEYS, Prompt, PromptRefused, prompt

__all__ = ["PROMPT_KEYS", "Guide", "Prompt", "PromptRefused", "attach", "prompt"]


def attach(session, cfg=None, player=None) -> Guide | None:
    """Give ``session`` a voice when ``voice.enabled``; None (silent) otherwise."""
    vc = getattr(cfg or session.cfg, "voice", None)
    if vc is None or not vc.enabled:
        return None
    from kiosk.voice.cache import PromptCache
    from kiosk.voice.speaker import SilentPlayer, Voice
    if player is None:
        try:
            from kiosk.voice.mixer import MixerPlayer
            player = MixerPlayer()
        except Exception as exc:  # noqa: BLE001 - no audio device (pygame.error and others): run silent, journaled
            journal.log_swallowed("voice.mixer_open", exc)
            player = SilentPlayer()
    voice = Voice(PromptCache.for_config(vc), player, vc.volume)
    return Guide(voice).attach(session)
