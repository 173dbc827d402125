"""The advice item: one piece of guidance, already in the resident's language."""

from __future__ import annotations

from dataclasses import dataclass

# heading: a topic or sub-topic title; statement: a fact about this card or the rules;
# step: one thing to do, in order; warning: what goes wrong if it is not done;
# contact: where to go or call; link: a page (printed as a QR code on the slip).
KINDS = ("heading", "statement", "step", "warning", "contact", "link")
# How urgent: "" plain, "ok" nothing to do, "warn" act soon, "danger" act now / blocked.
TONES = ("", "ok", "warn", "danger")


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
