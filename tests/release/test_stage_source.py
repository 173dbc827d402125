"""build.py stages a tree that is not a checkout, even where git is not installed at all."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("release_build", ROOT / "deploy/release/build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def test_a_copied_tree_on_a_machine_without_git_is_staged_whole(tmp_path, monkeypatch):
    source, dest, empty = tmp_path / "src", tmp_path / "stage", tmp_path / "no-tools"
    (source / "kiosk" / "__pycache__").mkdir(parents=True)
    (source / "kiosk" / "__init__.py").write_text('__version__ = "1.0.0"\n')
    (source / "kiosk" / "__pycache__" / "x.pyc").write_bytes(b"")
    (source / "pyproject.toml").write_text('[project]\nversion = "1.0.0"\n')
    (source / "notes.txt").write_text("not shipped\n")
    dest.mkdir()
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert build.stage_source(source, dest, "1.0.1") == "1.0.1"
    staged = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert staged == ["kiosk/__init__.py", "pyproject.toml"]
    assert '__version__ = "1.0.1"' in (dest / "kiosk" / "__init__.py").read_text()
