"""What to tell this resident: the leaflet's advice as structured items.

The card layer reads facts (``CardStatus``, ``LicenceData``); this package
turns them, the config and today's date into ``Item``s (headings,
statements, steps, warnings, contacts, links).  Screens and slips both
render these items, so a screen and the slip printed from it say the same
thing: the text of a topic lives here and in the catalogue, nowhere else.

No pygame, no APDUs, no I/O.  Every item carries the catalogue key of its
text; ``docs/guidance-sources.md`` names the source of every key (the
leaflet line, or an official page), and a test fails when one is missing.

``today`` may be None: the clock is not synchronised.  Then no item judges
a date ("expired", "soon", "in the renewal window"); the dates are shown
and the resident is told the kiosk cannot judge them now.
"""

from kiosk.guidance.items import COUNTER_TONES, KINDS, Item, counter_tone
from kiosk.guidance.topics import TOPICS, Guide, topic_items

__all__ = ["COUNTER_TONES", "Guide", "Item", "KINDS", "counter_tone", "TOPICS", "topic_items"]
