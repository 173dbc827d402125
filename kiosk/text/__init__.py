"""Line breaking shared by the screen and the slip (one set of rules for both).

``wrap(text, measure, width, lang)`` returns the lines; ``measure`` is any
``str -> pixels`` function (pygame ``font.size(s)[0]``, Pillow
``font.getlength``), so the renderer and the receipt break identically.
"""

from kiosk.text.breaks import (
    NO_LINE_END,
    NO_LINE_START,
    break_points,
    detect_lang,
    kinsoku_violations,
    segments,
    wrap,
)

__all__ = ["NO_LINE_END", "NO_LINE_START", "break_points", "detect_lang", "kinsoku_violations",
           "segments", "wrap"]
