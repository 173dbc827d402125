"""`kiosk selftest` plays its tone through the real alsa-lib (SDL's ALSA driver).

No sound card here, so ALSA itself is pointed (ALSA_CONFIG_PATH) at a config whose
default PCM is the ``file`` plugin in front of ``null``: every frame the kiosk plays
is written to a WAV file, which the test then reads back.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
from array import array
from pathlib import Path

import pytest

pytest.importorskip("pygame")

ASOUND = """\
pcm.!default {{
    type file
    slave.pcm "capture_sink"
    file "{wav}"
    format "wav"
}}
pcm.capture_sink {{ type null }}
"""


class _Capture(threading.Thread):
    """Reads what ALSA's file plugin writes into a FIFO; keeps the WAV header and the loud chunks.

    ALSA's null PCM takes frames as fast as they come (no clock), so a plain file would fill
    the disk with silence: the FIFO makes the writer wait for this reader.
    """

    def __init__(self, fifo: Path):
        super().__init__(daemon=True)
        self.fifo, self.header, self.loud, self.total = fifo, b"", array("h"), 0

    def run(self) -> None:
        with open(self.fifo, "rb") as f:
            self.header = f.read(44)
            rest = b""
            while chunk := f.read(1 << 16):
                chunk, rest = rest + chunk, b""
                if len(chunk) % 2:
                    chunk, rest = chunk[:-1], chunk[-1:]
                samples = array("h", chunk)
                self.total += len(samples)
                if max(samples, default=0) > 2000 or min(samples, default=0) < -2000:
                    self.loud.extend(samples)

    def format(self) -> tuple[int, int]:
        """(rate, channels) from the RIFF/WAVE header."""
        assert self.header[:4] == b"RIFF" and self.header[8:12] == b"WAVE", self.header
        fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", self.header[20:36])
        assert fmt == 1 and bits == 16, (fmt, bits)
        return rate, channels


def _selftest(tmp_path: Path, sound: bool) -> tuple[dict, Path]:
    wav = tmp_path / "played.wav"
    os.mkfifo(wav)
    capture = _Capture(wav)
    capture.start()
    (tmp_path / "asound.conf").write_text(ASOUND.format(wav=wav))
    (tmp_path / "kiosk.toml").write_text(f"[display]\nsound = {'true' if sound else 'false'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SDL_", "ALSA_"))}
    env.update(ALSA_CONFIG_PATH=str(tmp_path / "asound.conf"), SDL_AUDIODRIVER="alsa",
               KIOSK_JOURNAL="stderr", PYGAME_HIDE_SUPPORT_PROMPT="1")
    result = subprocess.run([sys.executable, "-m", "kiosk", "selftest", "--json", "--config",
                             str(tmp_path / "kiosk.toml")], env=env, capture_output=True, text=True, timeout=90)
    report = json.loads(result.stdout)
    if capture.is_alive():                   # nothing opened the FIFO: open it once to end the reader
        os.close(os.open(wav, os.O_WRONLY | os.O_NONBLOCK))
    capture.join(30)
    return {i["item"]: i for i in report["items"]}, capture


def test_selftest_plays_its_tone_through_alsa(tmp_path):
    items, capture = _selftest(tmp_path, sound=True)
    assert items["sound"]["result"] == "pass", items["sound"]
    assert "SDL audio driver alsa" in items["sound"]["detail"]
    rate, channels = capture.format()
    assert rate > 0 and channels >= 1 and capture.total > 0
    mono = capture.loud[::channels]
    loud = [i for i, s in enumerate(mono) if abs(s) > 2000]
    # "success" is 230 ms of tone (880 Hz, then 1320 Hz) at a third of full scale.
    assert len(loud) >= 0.18 * rate, f"{len(loud)} loud frames of {len(mono)}"
    assert max(abs(s) for s in mono) > 8000
    span = mono[loud[0]:loud[-1]]
    crossings = sum(1 for a, b in zip(span, span[1:]) if (a < 0) != (b < 0))
    pitch = crossings / 2 / (len(span) / rate)
    assert 700 < pitch < 1500, pitch


def test_with_sound_off_nothing_is_played(tmp_path):
    items, capture = _selftest(tmp_path, sound=False)
    assert items["sound"]["result"] == "skip"
    assert capture.header == b"" and capture.total == 0
