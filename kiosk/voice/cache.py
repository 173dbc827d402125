"""Prompts rendered ahead of time: one WAV per (language, prompt, rate).

``kiosk speak --build-cache`` fills the cache at install or build time, so a
Pi never synthesises while a resident waits.  A file is named after a hash of
everything that shapes its sound (synthesiser, voice, rate, the exact text),
so an edited catalogue or a new rate simply misses and is rendered again;
nothing stale is ever played.  Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from kiosk.voice.backends import Synth, synth_for
from kiosk.voice.prompts import Prompt, all_prompts

DEFAULT_DIR = Path("/var/cache/kiosk/voice")


class PromptCache:
    def __init__(self, directory: str | os.PathLike = DEFAULT_DIR, rate: float = 1.0,
                 synth_factory=synth_for):
        self.dir = Path(directory)
        self.rate = rate
        self._factory = synth_factory
        self._synths: dict[str, Synth] = {}

    @classmethod
    def for_config(cls, vc, directory: str | os.PathLike | None = None,
                   rate: float | None = None) -> "PromptCache":
        """The cache of a ``[voice]`` section: its directory, rate and per-language espeak-ng voices."""
        voices = dict(getattr(vc, "espeak_voices", {}) or {})
        return cls(directory or vc.cache_dir, rate or vc.rate,
                   synth_factory=lambda lang: synth_for(lang, voices))

    def synth(self, lang: str) -> Synth:
        if lang not in self._synths:
            self._synths[lang] = self._factory(lang)
        return self._synths[lang]

    def path(self, lang: str, p: Prompt) -> Path:
        synth = self.synth(lang)
        text = p.text(lang)
        prepare = getattr(synth, "prepare", None)          # e.g. espeak-ng's respellings for Filipino
        ident = "\0".join([synth.name, str(getattr(synth, "voice", "")), f"{self.rate:.2f}", lang,
                           prepare(text) if prepare else text])
        digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:20]
        return self.dir / lang / f"{p.key}-{digest}.wav"

    def get(self, lang: str, p: Prompt) -> Path | None:
        """The rendered file, or None (the caller renders it off the UI thread)."""
        path = self.path(lang, p)
        return path if path.is_file() else None

    def render(self, lang: str, p: Prompt) -> Path:
        """Render (if missing) and return the file.  Slow: never on the UI thread."""
        path = self.path(lang, p)
        if path.is_file():
            return path
        data = self.synth(lang).synthesize(p.text(lang), self.rate)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-", suffix=".wav")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def build(self, langs, full: bool = True, progress=None) -> dict[str, int]:
        """Render every prompt (every allowed count when ``full``) in ``langs``."""
        counts = {}
        prompts = all_prompts(full)
        for lang in langs:
            for p in prompts:
                self.render(lang, p)
                if progress is not None:
                    progress(lang, p)
            counts[lang] = len(prompts)
        return counts
