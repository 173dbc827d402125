"""myna-kiosk: a walk-up My Number Card / マイナ免許証 kiosk for city offices."""

__version__ = "0.1.0"
