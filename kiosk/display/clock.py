"""The session clocks, re-exported where the display code and tests have always found them."""

from kiosk.session.clock import ManualClock, SystemClock

__all__ = ["ManualClock", "SystemClock"]
