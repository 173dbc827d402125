"""An unreadable config directory is a config error (service needed), not a crash loop."""

from __future__ import annotations

from pathlib import Path

from kiosk.config import load_config_safely


def test_untraversable_config_directory_gives_a_config_error(monkeypatch, tmp_path):
    target = tmp_path / "kiosk.toml"
    real_exists = Path.exists

    def denied(self, *a, **k):
        if self == target:
            raise PermissionError(13, "Permission denied")
        return real_exists(self, *a, **k)

    monkeypatch.setattr(Path, "exists", denied)
    monkeypatch.setenv("KIOSK_CONFIG", str(target))
    cfg, error = load_config_safely()
    assert error is not None and error.code == "config_error"
    assert cfg.reader.uri == ""          # safe defaults
