"""The advice item: one piece of guidance, already in the resident's language."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.nfc.model import PinCounter

# heading: a topic or sub-topic title; statement: a fact about this card or the rules;
# step: one thing to do, in order; warning: what goes wrong if it is not done;
# contact: where to go or call; link: a page (printed as a QR code on the slip).
KINDS = ("heading", "statement", "step", "warning", "contact", "link")
# How urgent: "" plain, "ok" nothing to do, "warn" act soon, "danger" act now / blocked.
# A PIN counter's row carries its state instead: "ok" full, "few" tries gone, "last" one try, "locked".
COUNTER_TONES = ("ok", "few", "last", "locked")
TONES = ("", "ok", "warn", "danger", "few", "last", "locked")


def counter_tone(c: PinCounter | None) -> str:
    """The tone of a PIN counter (screens colour it): ok (full), few, last (one try), locked; "" if unknown."""
    if c is None:
        return ""
    if c.locked or (c.tries_left is not None and c.tries_left <= 0):
        return "locked"
    if c.tries_left is None:
        return ""
    if c.tries_left == 1:
        return "last"
    return "ok" if c.max_tries is None or c.tries_left >= c.max_tries else "few"


@dataclass(frozen=True, slots=True)
class Item:
    kind: str
    key: str            # catalogue key of the text; its source is in docs/guidance-sources.md
    text: str
    url: str = ""       # link only
    tone: str = ""
    with_previous: bool = False   # belongs to the item before it (a page never separates them)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown item kind {self.kind!r}")
        if self.tone not in TONES:
            raise ValueError(f"unknown item tone {self.tone!r}")
