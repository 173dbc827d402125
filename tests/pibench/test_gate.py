"""The release gate on pi-bench (issue 17): a release needs a passing run for the same tree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("pi_bench_source_id", ROOT / "deploy/pi-bench/source_id.py")
source_id = importlib.util.module_from_spec(spec)
spec.loader.exec_module(source_id)

STEPS = ["base-root", "root-copy", "source-copy", "install.sh", "kiosk-version", "tests"]


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    (src / "kiosk").mkdir(parents=True)
    (src / "kiosk" / "card.py").write_text("ANSWER = 42\n")
    (src / "docs").mkdir()
    (src / "docs" / "hil.md").write_text("# figures\n")
    return src


def record(cache: Path, sid: str, results: dict[str, str]) -> None:
    cache.mkdir(exist_ok=True)
    (cache / "source-id").write_text(sid + "\n")
    (cache / "results.txt").write_text("".join(f"{s} {r} 1.0\n" for s, r in results.items()))


def test_a_passing_run_for_this_tree_opens_the_gate(tree, tmp_path, monkeypatch):
    monkeypatch.delenv("PI_BENCH", raising=False)
    cache = tmp_path / "cache"
    record(cache, source_id.source_id(tree), dict.fromkeys(STEPS, "PASS"))
    assert source_id.gate(tree, cache) == 0
    (tree / "docs" / "hil.md").write_text("# figures of the run\n")     # documentation only
    assert source_id.gate(tree, cache) == 0


def test_a_changed_source_file_closes_the_gate(tree, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PI_BENCH", raising=False)
    cache = tmp_path / "cache"
    record(cache, source_id.source_id(tree), dict.fromkeys(STEPS, "PASS"))
    (tree / "kiosk" / "card.py").write_text("ANSWER = 43\n")
    assert source_id.gate(tree, cache) == 1
    assert "REFUSED" in capsys.readouterr().err
    (tree / "kiosk" / "card.py").write_text("ANSWER = 42\n")
    (tree / "kiosk" / "new.py").write_text("")                           # an added file counts too
    assert source_id.gate(tree, cache) == 1


@pytest.mark.parametrize("results", [
    dict(dict.fromkeys(STEPS, "PASS"), tests="FAIL"),
    dict.fromkeys(STEPS[:-1], "PASS"),                                  # stopped before its tests
    {},
], ids=["failed_tests", "no_tests_step", "no_run"])
def test_an_incomplete_or_failed_run_closes_the_gate(tree, tmp_path, monkeypatch, results):
    monkeypatch.delenv("PI_BENCH", raising=False)
    cache = tmp_path / "cache"
    if results:
        record(cache, source_id.source_id(tree), results)
    assert source_id.gate(tree, cache) == 1


def test_the_override_is_explicit(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("PI_BENCH", "skip")
    assert source_id.gate(tree, tmp_path / "no-cache") == 0
    monkeypatch.setenv("PI_BENCH", "yes")
    assert source_id.gate(tree, tmp_path / "no-cache") == 1


def test_the_manifest_records_the_gate(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("release_build_gate", ROOT / "deploy/release/build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    monkeypatch.delenv("PI_BENCH", raising=False)
    monkeypatch.delenv("PI_BENCH_GATE", raising=False)
    assert build.pi_bench_record() == {"gate": "not run"}
    monkeypatch.setenv("PI_BENCH_CACHE", str(tmp_path))
    (tmp_path / "source-id").write_text("abc123\n")
    monkeypatch.setenv("PI_BENCH_GATE", "passed")
    assert build.pi_bench_record() == {"gate": "passed", "source_id": "abc123"}
    monkeypatch.setenv("PI_BENCH", "skip")
    assert build.pi_bench_record()["gate"] == "skipped"


def test_the_id_needs_no_git(tree, tmp_path, monkeypatch):
    """A copied tree on a machine without git (the bench's arm64 root has none) still gets its id."""
    with_git = source_id.source_id(tree)            # not a checkout: every file, Markdown excepted
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert source_id.source_id(tree) == with_git
    assert source_id.source_files(tree) == ["kiosk/card.py"]
