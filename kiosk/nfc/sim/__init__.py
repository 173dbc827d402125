"""The simulated card: a My Number Card / マイナ免許証 / IC licence at the APDU level.

Tests, benches (``kiosk sim serve``) and ``make run`` all use it.  It keeps real
PIN-counter semantics, access rules and RSA-2048 keys, and can inject faults.
"""

from kiosk.nfc.sim.card import Faults, SimulatedCard
from kiosk.nfc.sim.profile import Profile, load_profile, shipped_profiles

__all__ = ["Faults", "SimulatedCard", "Profile", "load_profile", "shipped_profiles"]
