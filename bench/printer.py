"""Receipt render time and ESC/POS byte size for every kind, at 384 and 576 dots.

    .venv/bin/python bench/printer.py [--lang ja] [--repeat 5]

Figures, not pass/fail: render = build_receipt + Receipt.render (median of
--repeat runs, font cache warm); bytes = what the printer receives (init,
GS v 0 raster, cut), from python-escpos's Dummy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.config import Config  # noqa: E402
from kiosk.printer.backend import encode  # noqa: E402
from kiosk.printer.receipt import KINDS, WIDTHS, build_receipt  # noqa: E402
from kiosk.printer.sample import sample_kwargs  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", default="ja", choices=("ja", "en", "zh", "ko"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cfg = Config()
    encode(build_receipt("test", args.lang, cfg).render(576), cfg.printer.profile)   # warm caches
    print(f"{'kind':<18} {'dots':>4} {'height':>6} {'render ms':>9} {'encode ms':>9} {'bytes':>7}")
    for kind in KINDS:
        data = sample_kwargs(kind)
        for width in WIDTHS:
            times, img = [], None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                img = build_receipt(kind, args.lang, cfg, **data).render(width)
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            raw = encode(img, cfg.printer.profile, width)
            enc = time.perf_counter() - t0
            print(f"{kind:<18} {width:>4} {img.height:>6} {statistics.median(times) * 1000:>9.1f} "
                  f"{enc * 1000:>9.1f} {len(raw):>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
