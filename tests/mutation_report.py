"""`make mutation`: mutmut on the PIN and My Number rules, then the survivors that matter.

Runs ``mutmut run`` (configuration in pyproject.toml [tool.mutmut]), then
classifies every mutant that survived or that no test reached:

* **message**: the only change is the text of an error message (a string
  literal, or None, as the message of ``raise X(...)`` or the label of
  ``check(resp, ...)``).  Behaviour is the exception's type, code and
  details; the texts are fixed strings for technicians.
  A mutant that drops the message argument (the error then carries its
  code as text) is in this class too.
* **falsy flag**: ``False`` became ``None`` in a flag that is only ever read
  for its truth value.
* **listed**: named in docs/card-stack.md ("Equivalent mutants"), each with
  its reason.

Everything else is printed as a survivor and the exit status is 1.  So is a
run that left mutants "not checked": mutmut 3.8.1's stats step (one in-process
pytest run over tests/nfc) failed at random here (a segfault, or a ContextVar
LookupError in its trampoline), and a failed run must not read as "no survivors".
``mutmut run`` is tried up to ``--attempts`` times; each attempt keeps the
results of the last and tests only what is still unchecked.
``--no-run`` classifies the results of the last run.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "card-stack.md"
MUTMUT = [sys.executable, "-m", "mutmut"]
_STRING = re.compile(r"""[rbuf]{0,2}("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_MESSAGE_ARG = re.compile(r"""\((?:[rbuf]{0,2}(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'))\s*,\s*""")
_FLAG = re.compile(r"^\s*[\w.]+\._?\w+ = (False|None)$")


def listed_equivalents() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Equivalent mutants", 1)[-1] if "### Equivalent mutants" in text else ""
    return set(re.findall(r"`(kiosk\.nfc\.[^`]+__mutmut_\d+)`", section))


def changed_lines(diff: str) -> tuple[list[str], list[str]]:
    minus = [ln[1:] for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    plus = [ln[1:] for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return minus, plus


def _norm(line: str) -> str:
    return re.sub(r"\bNone\b", "S", _STRING.sub("S", line)).strip()


def classify(name: str, diff: str, listed: set[str]) -> str | None:
    """The equivalence class of a surviving mutant, or None when it is a real survivor."""
    if name in listed:
        return "listed"
    minus, plus = changed_lines(diff)
    if len(minus) == 1 and len(plus) == 1:
        old, new = minus[0], plus[0]
        if ("raise " in old or ".check(" in old) and _norm(old) == _norm(new) and old != new:
            return "message"
        if "raise " in old and _MESSAGE_ARG.sub("(", old, count=1) == new:
            return "message"                        # the message argument dropped: the code's default text
        if _FLAG.match(old) and _FLAG.match(new) and {old.split("=")[1].strip(), new.split("=")[1].strip()} \
                == {"False", "None"} and old.split("=")[0] == new.split("=")[0]:
            return "falsy flag"
    return None


def results() -> list[tuple[str, str]]:
    """(mutant, status) of every mutant that was not killed, "not checked" included."""
    out = subprocess.run(MUTMUT + ["results", "--all", "true"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    found = []
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and status not in ("killed", "caught by type check"):
            found.append((name, status))
    return found


UNCHECKED = ("not checked", "check was interrupted by user")


def run_mutmut(max_children: str, attempts: int) -> int:
    """``mutmut run`` until it exits 0 or the attempts are spent; its last exit status."""
    code = 1
    for attempt in range(1, attempts + 1):
        code = subprocess.run(MUTMUT + ["run", "--max-children", max_children], cwd=ROOT, check=False).returncode
        if code == 0:
            break
        print(f"mutmut run exited {code} (attempt {attempt} of {attempts})", file=sys.stderr)
    return code


def _natural(item: tuple[str, str]) -> tuple[str, int]:
    """Sort key: by function, then by mutant number (mutmut_2 before mutmut_10)."""
    stem, _, number = item[0].rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else -1


def diffs(names: list[str]) -> dict[str, str]:
    """Each mutant's diff, parsing each mutated file once.

    ``mutmut show`` re-parses the whole mutated file per mutant (seconds each, so
    ~15 min for 300 survivors); mutmut's own reader is used here in-process, and
    ``mutmut show`` only when that internal API is not there (mutmut is pinned <4).
    """
    try:
        import libcst as cst
        from mutmut.mutation.diff_apply import read_mutant_function, read_original_function
    except ImportError:
        return {n: subprocess.run(MUTMUT + ["show", n], cwd=ROOT, capture_output=True, text=True).stdout
                for n in names}
    out: dict[str, str] = {}
    modules: dict[Path, cst.Module] = {}
    for name in names:
        path = Path(*name.split(".x")[0].split(".")).with_suffix(".py")    # kiosk.nfc.card.xǁ... -> kiosk/nfc/card.py
        if path not in modules:
            modules[path] = cst.parse_module((ROOT / "mutants" / path).read_text(encoding="utf-8"))
        module = modules[path]
        try:
            old = cst.Module([read_original_function(module, name)]).code.strip()
            new = cst.Module([read_mutant_function(module, name)]).code.strip()
        except FileNotFoundError:
            out[name] = ""
            continue
        out[name] = "\n".join(difflib.unified_diff(old.split("\n"), new.split("\n"), str(path), str(path),
                                                    lineterm=""))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-run", action="store_true", help="classify the last run's results only")
    ap.add_argument("--max-children", default="2")
    ap.add_argument("--attempts", type=int, default=3, help="tries of `mutmut run` (its stats step can fail)")
    args = ap.parse_args(argv)
    started = time.monotonic()
    run_code = 0 if args.no_run else run_mutmut(args.max_children, args.attempts)
    listed = listed_equivalents()
    counts: dict[str, int] = {}
    real = []
    everything = results()
    unchecked = [name for name, status in everything if status in UNCHECKED]
    found = sorted(((n, st) for n, st in everything if st not in UNCHECKED), key=_natural)
    diff_of = diffs([name for name, _ in found])
    for name, status in found:
        diff = diff_of[name]
        kind = classify(name, diff, listed) if status in ("survived", "no tests") else None
        if kind is None:
            real.append((name, status, diff))
        else:
            counts[kind] = counts.get(kind, 0) + 1
    print(f"equivalent survivors: {counts or 'none'}")
    for name, status, diff in real:
        print(f"\nSURVIVOR {name} ({status})")
        print("\n".join(ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")))
    print(f"\n{len(real)} survivor(s) outside the documented equivalents; "
          f"{time.monotonic() - started:.0f} s")
    if unchecked:
        print(f"{len(unchecked)} mutant(s) not checked (first: {min(unchecked)}): the results are incomplete")
    if run_code:
        print(f"mutmut run failed (exit {run_code})")
    return 1 if real or unchecked or run_code else 0


if __name__ == "__main__":
    sys.exit(main())
