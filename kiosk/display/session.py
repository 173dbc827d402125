"""The session moved to the UI-free package kiosk.session; this name stays for existing imports."""

from kiosk.session import RECEIPT_KINDS, SCREENS_KEPT, Screen, Session
from kiosk.session.core import NoSound

__all__ = ["RECEIPT_KINDS", "SCREENS_KEPT", "NoSound", "Screen", "Session"]
