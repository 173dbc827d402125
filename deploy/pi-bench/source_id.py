#!/usr/bin/env python3
"""The source tree id a pi-bench result belongs to, and the release gate on it.

    source_id.py [DIR]            print DIR's id (default: this checkout)
    source_id.py --gate [DIR]     exit 0 if the cached pi-bench run passed for DIR's id

The id is a SHA-256 over the path and content of every file the bench copies into
its root (``git ls-files -c -o --exclude-standard``: committed and uncommitted),
except Markdown: documentation cannot change what runs, and the bench's own
figures go into docs/hil.md after a run.  ``PI_BENCH=skip`` lets a release through
without a passing run; deploy/release/build.py records that in the manifest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = Path(os.environ.get("PI_BENCH_CACHE", "/var/cache/myna-kiosk/pi-bench"))


def source_files(root: Path) -> list[str]:
    """The files bench.sh copies: git's list where root is a checkout, else every file.

    A copied tree (a Pi's /usr/src, the bench's root) may have no git installed at all.
    """
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                             capture_output=True, check=False)
    except OSError:                     # no git on this machine: count every file
        out = None
    if out is not None and out.returncode == 0:
        names = [n for n in out.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
    else:
        names = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    return sorted(n for n in set(names) if not n.endswith(".md") and (root / n).is_file())


def source_id(root: Path) -> str:
    digest = hashlib.sha256()
    for name in source_files(root):
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(hashlib.sha256((root / name).read_bytes()).digest())
    return digest.hexdigest()


def last_run(cache: Path) -> tuple[str, dict[str, str]]:
    """(source id, {step: PASS|FAIL}) of the last bench run; ("", {}) when there is none."""
    try:
        sid = (cache / "source-id").read_text().split()[0]
        lines = (cache / "results.txt").read_text().splitlines()
    except (OSError, IndexError):
        return "", {}
    return sid, {p[0]: p[1] for p in (line.split() for line in lines) if len(p) >= 2}


def gate(root: Path, cache: Path) -> int:
    """0 when the last run passed every step, the tests included, for this tree."""
    if os.environ.get("PI_BENCH", "") == "skip":
        print("pi-bench gate: SKIPPED (PI_BENCH=skip); recorded in the release manifest")
        return 0
    want = source_id(root)
    sid, steps = last_run(cache)
    problems = []
    if not steps:
        problems.append(f"no pi-bench run in {cache}")
    elif sid != want:
        problems.append(f"the last pi-bench run was for source {sid[:12] or '?'}, this tree is {want[:12]}")
    else:
        failed = [s for s, r in steps.items() if r != "PASS"]
        if failed:
            problems.append("failed steps: " + ", ".join(failed))
        if "tests" not in steps:
            problems.append("the run did not reach its tests step")
    if problems:
        print("pi-bench gate: REFUSED: " + "; ".join(problems), file=sys.stderr)
        print("  run `sudo make pi-bench` on this tree, or set PI_BENCH=skip (recorded in the manifest)",
              file=sys.stderr)
        return 1
    print(f"pi-bench gate: passed for source {want[:12]} ({len(steps)} steps)")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--gate"]:
        return gate(Path(argv[1]) if len(argv) > 1 else REPO, CACHE)
    print(source_id(Path(argv[0]) if argv else REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
