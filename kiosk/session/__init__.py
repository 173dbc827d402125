"""The resident's session, without any pygame: state machine, card worker, timers, printing.

Modules, one concern each: ``core`` (the Session state machine), ``states``
(the Screen enum and what each screen means), ``resident`` (the resident's
data, one object), ``messages`` (typed frozen worker <-> UI messages),
``worker`` (the card thread), ``timers``, ``printing``, ``clock``.
"""

from kiosk.session.core import SCREENS_KEPT, Session
from kiosk.session.states import RECEIPT_KINDS, Screen

__all__ = ["RECEIPT_KINDS", "SCREENS_KEPT", "Screen", "Session"]
