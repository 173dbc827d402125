"""KIOSK_TIME_FACTOR: one documented factor for the suite's deadlines (kiosk/testing/timing.py)."""

from __future__ import annotations

import pytest

from kiosk.testing import timing


@pytest.mark.parametrize("text,factor", [("", 1.0), ("1", 1.0), ("4", 4.0), (" 2.5 ", 2.5)])
def test_the_factor_comes_from_the_environment(monkeypatch, text, factor):
    monkeypatch.setenv(timing.ENV, text)
    assert timing.time_factor() == factor
    assert timing.scaled(10.0) == pytest.approx(10.0 * factor)


def test_no_variable_is_factor_one(monkeypatch):
    monkeypatch.delenv(timing.ENV, raising=False)
    assert timing.scaled(3.0) == 3.0


@pytest.mark.parametrize("text", ["fast", "0.5", "0", "-2", "nan"])
def test_a_bad_factor_is_refused_with_the_variable_named(monkeypatch, text):
    monkeypatch.setenv(timing.ENV, text)
    with pytest.raises(ValueError, match=timing.ENV):
        timing.time_factor()


@pytest.mark.timeout(7)
def test_pytest_timeout_limits_are_scaled(request):
    """tests/conftest.py put the scaled limit in front of this test's own mark."""
    assert request.node.get_closest_marker("timeout").args[0] == pytest.approx(7 * timing.time_factor())


def test_the_ini_default_is_scaled_too(request):
    mark = request.node.get_closest_marker("timeout")
    if timing.time_factor() == 1.0:
        assert mark is None
    else:
        assert mark.args[0] == pytest.approx(float(request.config.getini("timeout")) * timing.time_factor())
