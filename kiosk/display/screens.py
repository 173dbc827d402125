"""What each screen shows: widgets with stable ids, in relative units.

``build_view(session)`` turns the session's state into a View: a list of
widgets whose rectangles are fractions of the screen (so one layout serves
800×480, 1024×600 and 1280×800) and whose text comes from the ``ui``
catalogue of the resident's language.  No pygame here: the renderer draws a
View, the scenario runner reads it (``expect_text``), tests inspect it.
Screen and widget ids are listed in docs/ui.md and must stay stable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kiosk.guidance import Guide, Item, counter_tone, topic_items
from kiosk.i18n import LANGUAGE_NAMES, catalog
from kiosk.nfc.model import IC_LICENCE, MYNA, MYNA_LICENCE

# The type scale, as a fraction of the screen height and written as pixels at
# 480 px (so 24/480 is 24 px on 800x480 and 30 px on 1024x600).  FLOOR is the
# smallest text anywhere; BODY_FLOOR the smallest reading text (roles in
# BODY_ROLES).  Text that does not fit is paginated, never shrunk (docs/ui.md).
FLOOR, BODY_FLOOR = 22 / 480, 24 / 480
TITLE, BIG, BODY, SMALL, BUTTON, KEY = 30 / 480, 38 / 480, 25 / 480, 22 / 480, 25 / 480, 34 / 480
ROW = 24 / 480
LARGE_TEXT_SCALE = 1.4
# Reading text: at least BODY_FLOOR.  Captions (muted, countdown) may use SMALL.
BODY_ROLES = ("body", "big", "warn", "danger", "ok", "few", "last", "locked")
# Chrome that fits itself to its box (never below FLOOR, in large text never below
# its normal size): the header title, countdowns and every button label.
FIT_ROLES = ("title", "countdown")
# Colour roles of a PIN counter (render.THEMES): full, a few tries gone, last try, locked.
COUNTER_ROLES = ("ok", "few", "last", "locked")

HEADER_H = 0.13
GUIDE_BLOCK = "guide"           # the block id of a guidance screen's items: page_prev_guide / page_next_guide
BODY_TOP, BODY_BOTTOM = 0.15, 0.80
FOOT_Y, FOOT_H = 0.82, 0.15

SCREENS = (
    "attract", "reading", "summary", "menu", "pin_status", "licence_pin", "licence_locked",
    "licence", "renewal", "lost_card", "linkage_preflight", "linkage_pin_check_choose", "linkage_pin_check",
    *(f"linkage_{n}" for n in range(1, 10)), "linkage_error",
    "take_card", "timed_out", "card_removed", "card_error", "service_needed", "still_there", "language",
)
# The header's navigation buttons (x, y, w, h): the same place on every screen.
NAV_LANG = (0.64, 0.01, 0.16, HEADER_H - 0.02)
NAV_STAFF = (0.815, 0.01, 0.17, HEADER_H - 0.02)
# The footer's fixed slots (x, width): where Back, the main action and Finish always are.
SLOT_GAP = 0.02
SLOTS = {"back": (0.02, 0.22), "other": (0.26, 0.22), "main": (0.50, 0.23), "finish": (0.75, 0.23)}
BACK_IDS = ("btn_back", "btn_cancel")
FINISH_IDS = ("item_finish", "btn_finish_session")
# Screens whose footer carries Finish while a card session runs.
# (Not lost_card: its help must read the same with and without a card, tests/guidance/test_facts.py.)
FINISH_SCREENS = ("summary", "menu", "pin_status", "licence", "licence_locked", "renewal", "lost_card",
                  "linkage_preflight", "linkage_pin_check_choose", "linkage_error", "linkage_9")
PAD_ROWS = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"), ("clear", "0", "back"))
KEYBOARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass
class Widget:
    id: str
    kind: str                   # text | button | image | panel
    rect: tuple[float, float, float, float]
    text: str = ""
    role: str = "body"          # text: title body small big warn danger ok muted few last locked;
    #                             button: primary normal danger key
    size: float = BODY          # the size drawn (large text applied)
    align: str = "left"         # left | center
    enabled: bool = True
    selected: bool = False
    image: Any = None
    scroll: int | None = None   # first line shown (a builder's own scrolling); None = the renderer paginates
    flow: str | None = None     # texts sharing a flow id are laid out one after another in one box
    row: str | None = None      # flow items sharing a row id sit side by side (a table row)
    base: float = BODY          # the size in normal text (large text is checked against it)
    fit: str = "page"           # page: paginate what does not fit; shrink: labels fit themselves
    hidden: bool = False        # on another page of its block (set by the renderer when it draws)


@dataclass
class View:
    screen: str
    lang: str
    widgets: list[Widget] = field(default_factory=list)
    shortcuts: dict[str, str] = field(default_factory=dict)   # keypad digit -> widget id
    default: str | None = None                                # Enter
    back: str | None = None                                   # Esc
    large_text: bool = False
    high_contrast: bool = False
    pages: dict[str, int] = field(default_factory=dict)      # paginated block -> page shown (session.pages)

    def get(self, wid: str) -> Widget | None:
        for w in self.widgets:
            if w.id == wid:
                return w
        return None

    def enabled(self, wid: str) -> bool:
        w = self.get(wid)
        return w is not None and w.kind == "button" and w.enabled

    def texts(self) -> list[str]:
        """The texts a resident sees now: not those the renderer put on another page."""
        return [w.text for w in self.widgets if w.text and not w.hidden]

    def text(self) -> str:
        return "\n".join(self.texts())


@dataclass(frozen=True)
class Row:
    """One table row for ``paragraphs``: cells (id, text, role, left, width) side by side."""

    cells: tuple[tuple[str, str, str, float, float], ...]


class _Builder:
    def __init__(self, session):
        self.s = session
        self.t = catalog("ui", session.lang)
        self.view = View(session.screen, session.lang, large_text=session.large_text,
                         high_contrast=bool(getattr(session, "high_contrast", False)),
                         pages=dict(getattr(session, "pages", {}) or {}))
        self._n = 0
        self._guide: Guide | None = None

    # -- primitives ----------------------------------------------------------
    def add(self, w: Widget) -> Widget:
        """Put ``w`` on screen with the type scale applied: floors, large text, fitting."""
        if w.kind in ("text", "button"):
            floor = BODY_FLOOR if w.kind == "text" and w.role in BODY_ROLES else FLOOR
            w.base = max(w.size, floor)
            w.size = w.base * (LARGE_TEXT_SCALE if self.s.large_text else 1.0)
            if w.kind == "button" or w.role in FIT_ROLES:
                w.fit = "shrink"
        self.view.widgets.append(w)
        return w

    def text(self, wid, rect, text, role="body", size=BODY, align="left", scroll=None) -> Widget:
        return self.add(Widget(wid, "text", rect, text, role, size, align, scroll=scroll))

    def button(self, wid, rect, label, role="normal", enabled=True, shortcut=True, size=BUTTON,
               selected=False) -> Widget:
        if shortcut and enabled:
            self._n += 1
            key = str(self._n)
            self.view.shortcuts[key] = wid
            label = f"{key}  {label}"
        return self.add(Widget(wid, "button", rect, label, role, size, "center", enabled, selected))

    def header(self, title_key: str | None, title: str | None = None, **values) -> None:
        """Title, countdown, and the navigation every screen has at the same place:
        the language switch (the next language) and the staff call, top right."""
        self.add(Widget("header", "panel", (0, 0, 1, HEADER_H), role="header"))
        demo = bool(getattr(self.s, "demo", False)) and self.s.screen.startswith("linkage_")
        self.text("title", (0.02, 0.0, 0.30 if demo else 0.42, HEADER_H),
                  title if title is not None else self.t(title_key, **values), "title", TITLE)
        if demo:                              # the reference gateway: nothing is really linked
            self.text("demo_badge", (0.33, 0.02, 0.11, HEADER_H - 0.04), self.t("nav.demo"), "danger", SMALL,
                      "center")
        cd = self.s.countdown()
        if cd is not None:
            kind, n = cd
            self.text("countdown", (0.45, 0.0, 0.18, HEADER_H), self.t(f"countdown.{kind}", n=n),
                      "countdown", SMALL, "center")
        self.nav_buttons()
        self.notice()

    def nav_buttons(self) -> None:
        """The language button and the staff call (fixed, top right).  With 3+ languages the
        button opens the chooser (where the session offers it: Session.chooser_offered); with 2 it
        toggles; with 1 it is hidden."""
        langs = offered_languages(self.s)
        if len(langs) >= 3:
            if self.s.chooser_offered():
                self.button("btn_language", NAV_LANG, self.t("nav.language"), "normal", shortcut=False, size=SMALL)
        else:
            nxt = next_language(self.s)
            if nxt is not None:
                self.button(f"lang_{nxt}", NAV_LANG, LANGUAGE_NAMES[nxt], "normal", shortcut=False, size=SMALL)
        self.button("btn_staff", NAV_STAFF, self.t("nav.staff"), "warn" if self.s.staff_called else "normal",
                    shortcut=False, size=SMALL, selected=bool(self.s.staff_called))

    def counter_role(self, c) -> str:
        """The colour role of a PIN counter: ok (full), few, last (one try), locked; muted if unknown."""
        return counter_tone(c) or "muted"

    def notice(self) -> None:
        if self.s.notice and getattr(self.s, "notice_screen", None) in (None, self.s.screen):
            key, values = self.s.notice
            role = "danger" if key.endswith("unavailable") else "ok"
            self.text("notice", (0.03, FOOT_Y - 0.095, 0.94, 0.09), self.t(key, **values), role, SMALL)

    def paragraphs(self, items: list, top=BODY_TOP, bottom=BODY_BOTTOM,
                   left=0.03, width=0.94, size=BODY, block: str | None = None) -> None:
        """Stack (id, text, role) blocks and ``Row`` table rows in one box, one under another.

        The renderer paginates the box (▲ / ▼ ``page_prev_<block>`` / ``page_next_<block>``
        beside it) when it does not fit: the one pagination of reading text (docs/ui.md).
        """
        self._flows = getattr(self, "_flows", 0) + 1
        flow = block or f"flow{self._flows}"
        for item in items:
            if isinstance(item, Row):
                for wid, text, role, x, w in item.cells:
                    cell = self.text(wid, (x, top, w, bottom - top), text, role, size)
                    cell.flow, cell.row = flow, item.cells[0][0]
                continue
            wid, text, role = item
            if text:
                widget = self.text(wid, (left, top, width, bottom - top), text, role, size)
                widget.flow = flow

    def footer(self, buttons: list[tuple[str, str, str]], disabled: tuple[str, ...] = ()) -> None:
        """Buttons across the bottom, in fixed slots a resident learns once (docs/ui.md):
        Back/Cancel at the left, the main action right of centre, Finish at the right,
        anything else between Back and the main action.  (id, label, role); those in
        ``disabled`` are greyed out.  While a card session runs, Finish is on every
        screen that has a footer."""
        buttons = list(buttons)
        if self.s.active and self.s.screen in FINISH_SCREENS and not any(b[0] in FINISH_IDS for b in buttons):
            buttons.append(("item_finish", self.t("menu.finish"), "danger"))
        if not buttons:
            return
        back = [b for b in buttons if b[0] in BACK_IDS]
        finish = [b for b in buttons if b[0] in FINISH_IDS]
        main = [b for b in buttons if b[2] == "primary" and b not in back and b not in finish][:1]
        others = [b for b in buttons if b not in back and b not in finish and b not in main]
        placed = [(b, SLOTS["back"]) for b in back[:1]] + [(b, SLOTS["main"]) for b in main] + \
                 [(b, SLOTS["finish"]) for b in finish[:1]]
        # The other buttons share the space between Back and the main action (and the main slot if free).
        x0 = SLOTS["other"][0]
        x1 = SLOTS["finish"][0] - SLOT_GAP if not main else SLOTS["main"][0] - SLOT_GAP
        if not finish and not main:
            x1 = 0.98
        if others:
            w = (x1 - x0 - SLOT_GAP * (len(others) - 1)) / len(others)
            placed += [(b, (x0 + i * (w + SLOT_GAP), w)) for i, b in enumerate(others)]
        for (wid, label, role), (x, w) in sorted(placed, key=lambda p: p[1][0]):   # numbered left to right
            self.button(wid, (x, FOOT_Y, w, FOOT_H), label, role, enabled=wid not in disabled)

    def print_button(self) -> list[tuple[str, str, str]]:
        return [("btn_print", self.t("btn.print"), "normal")] if self.s.can_print() else []

    def back_view(self, back="btn_back", default=None) -> None:
        self.view.back = back
        self.view.default = default or back

    # -- formatting and guidance -----------------------------------------------------
    @property
    def guide(self) -> Guide:
        """The guidance layer for this resident's language and the trusted date (None: unknown)."""
        if self._guide is None:
            self._guide = Guide(self.s.cfg, self.s.lang, self.s.today())
        return self._guide

    def date(self, d: dt.date | None, *, era: bool = False) -> str:
        return self.guide.date(d, era=era)

    def pin_name(self, pin_id: str) -> str:
        return self.guide.pin_name(pin_id)

    def pin_label(self, pin_id: str) -> str:
        return self.guide.pin_label(pin_id)

    def tries(self, c) -> str:
        return self.guide.tries(c)

    def guidance(self, items: list[Item], top=BODY_TOP, bottom=BODY_BOTTOM, left=0.03, width=0.94,
                 size=BODY, buttons: list[tuple[str, str, str]] | None = None) -> None:
        """Guidance items as one block (``GUIDE_BLOCK``); the renderer pages it by its measured layout.

        The texts are the guidance layer's, unchanged: the slip printed from
        this screen carries the same items (tests/guidance/test_slip_matches_screen.py).
        """
        shown = [i for i in items if i.kind != "link"]       # links are the slip's QR codes
        title = self.view.get("title")
        if shown and shown[0].kind == "heading" and title is not None and title.text == shown[0].text:
            shown = shown[1:]                                # the screen's title already says it
        ids: dict[str, int] = {}
        rows = []
        for item in shown:
            base = "g_" + item.key.removeprefix("guide.").replace(".", "_")
            ids[base] = ids.get(base, 0) + 1
            wid = base if ids[base] == 1 else f"{base}_{ids[base]}"
            rows.append((wid, item.text, ROLE_OF_ITEM.get(item.tone or item.kind, "body")))
        self.paragraphs(rows, top=top, bottom=bottom, left=left, width=width, size=size, block=GUIDE_BLOCK)
        self.footer(list(buttons or []))


# How a guidance item looks on screen: by its tone, else by its kind.
ROLE_OF_ITEM = {"danger": "danger", "warn": "warn", "ok": "ok", "heading": "big", "contact": "body",
                "step": "body", "statement": "body", "warning": "warn",
                "few": "few", "last": "last", "locked": "locked"}     # PIN counters (COUNTER_ROLES)


# -- screens ---------------------------------------------------------------------

def offered_languages(s) -> list[str]:
    """The city's languages in its order (kiosk.languages) that the kiosk can show."""
    return [lang for lang in s.languages if lang in LANGUAGE_NAMES]


def next_language(s) -> str | None:
    """The language the two-language toggle offers: the other one (None with only one)."""
    langs = offered_languages(s)
    if len(langs) < 2:
        return None
    i = langs.index(s.lang) if s.lang in langs else -1
    return langs[(i + 1) % len(langs)]


def _attract(b: _Builder) -> None:
    t, s = b.t, b.s
    b.add(Widget("header", "panel", (0, 0, 1, HEADER_H), role="header"))
    b.text("title", (0.02, 0.0, 0.78, HEADER_H), t("attract.title"), "title", TITLE)
    b.button("btn_staff", NAV_STAFF, t("nav.staff"), "warn" if s.staff_called else "normal", shortcut=False,
             size=SMALL, selected=bool(s.staff_called))
    # A drawn pictogram (render.py): the card laid flat on the reader.
    b.add(Widget("pictogram", "pictogram", (0.02, 0.145, 0.17, 0.25), role="body"))
    # Heights hold two lines of reading text at the floor (24 px at 480): nothing is clipped.
    b.text("place_card", (0.21, 0.14, 0.77, 0.12), t("attract.place_card"), "big", BIG, "center")
    b.text("what", (0.21, 0.26, 0.77, 0.14), t("attract.what"), "body", BODY, "center")
    # The city's languages in its order (kiosk.languages).  Up to four share a row with the
    # large-text switch; more get a grid of three wide buttons a row (a language's own name must
    # fit at 1.4x), and the switches move to the bottom row.
    langs = offered_languages(s)
    voice = getattr(s, "voice", None)
    voice_on = bool(voice is not None and voice.on)
    voice_label = t("nav.voice_on") if voice_on else t("nav.voice_off")
    if len(langs) <= 4:
        gap = 0.02
        w = (0.96 - gap * len(langs)) / (len(langs) + 1.4)      # the switch gets a wider button
        for i, lang in enumerate(langs):
            b.button(f"lang_{lang}", (0.02 + i * (w + gap), 0.41, w, 0.14), LANGUAGE_NAMES[lang],
                     "normal", selected=lang == s.lang)
        b.button("btn_large_text", (0.02 + len(langs) * (w + gap), 0.41, 0.96 - len(langs) * (w + gap), 0.14),
                 t("attract.large_text"), "normal", selected=s.large_text, size=SMALL)
        # Lost-card help needs no card: a resident who lost theirs has none to place.
        b.button("btn_lost_card", (0.02, 0.57, 0.96, 0.13), t("attract.lost_card"), "danger", size=SMALL)
        b.text("hint", (0.02, 0.72, 0.46, 0.25), t("attract.hint"), "muted", SMALL, "center")
        b.button("btn_voice", (0.50, 0.74, 0.23, 0.21), voice_label, "normal", selected=voice_on, size=SMALL,
                 shortcut=False)
        b.button("btn_high_contrast", (0.75, 0.74, 0.23, 0.21), t("contrast.switch"), "normal",
                 selected=s.high_contrast, size=SMALL)
        return
    per_row, gap = 3, 0.02
    rows = (len(langs) + per_row - 1) // per_row
    row_h = min(0.10, 0.31 / rows - 0.01)
    w = (0.96 - gap * (per_row - 1)) / per_row
    for i, lang in enumerate(langs):
        r, c = divmod(i, per_row)
        b.button(f"lang_{lang}", (0.02 + c * (w + gap), 0.41 + r * (row_h + 0.01), w, row_h), LANGUAGE_NAMES[lang],
                 "normal", selected=lang == s.lang, size=SMALL, shortcut=False)   # nine keys cannot cover them all
    y = 0.41 + rows * (row_h + 0.01)
    b.button("btn_lost_card", (0.02, y, 0.96, 0.10), t("attract.lost_card"), "danger", size=SMALL)
    y += 0.11
    h = 0.98 - y
    b.button("btn_large_text", (0.02, y, w, h), t("attract.large_text"), "normal", selected=s.large_text, size=SMALL)
    b.button("btn_voice", (0.02 + w + gap, y, w, h), voice_label, "normal", selected=voice_on, size=SMALL,
             shortcut=False)
    b.button("btn_high_contrast", (0.02 + 2 * (w + gap), y, w, h), t("contrast.switch"), "normal",
             selected=s.high_contrast, size=SMALL)


def _reading(b: _Builder) -> None:
    b.header("reading.title")
    b.text("body", (0.05, 0.25, 0.90, 0.40), b.t("reading.body"), "big", BIG, "center")


def _summary(b: _Builder) -> None:
    t, st = b.t, b.s.status
    b.header("summary.title")
    items = [("card_type", t(f"summary.card_type.{st.card_type}"), "body")]
    if st.card_type == MYNA:
        items.append(("no_licence", t("summary.no_licence"), "warn"))
    locked = st.locked_pins
    items.append(("locked", t("summary.locked", n=len(locked)) if locked else t("summary.no_locked"),
                  "danger" if locked else "ok"))
    # The certificate line is the guidance's own (the same words as the renewal screen and slip).
    cert = [i for i in b.guide.card_dates(st) if i.key.startswith("guide.dates.cert")]
    if st.card_type in (MYNA, MYNA_LICENCE) and cert:
        items.append(("cert", cert[0].text, ROLE_OF_ITEM.get(cert[0].tone, "body")))
    if st.card_type == IC_LICENCE and st.ic_expiry:
        items.append(("ic_expiry", t("summary.ic_expiry", date=b.date(st.ic_expiry)), "body"))
    b.paragraphs(items)
    b.footer([("btn_continue", t("btn.continue"), "primary")])
    b.view.default = "btn_continue"


def menu_items(st) -> list[str]:
    """The menu, offering only what this card supports."""
    if st.card_type == IC_LICENCE:         # PIN1/PIN2 status, the licence's own renewal and loss help
        return ["item_licence", "item_pin_status", "item_renewal", "item_lost_card", "item_finish"]
    items = ["item_licence"] if st.licence_present else []
    items += ["item_pin_status"]
    if st.card_type in (MYNA_LICENCE, MYNA):   # a plain card learns there what the linkage needs first
        items.append("item_linkage")
    items += ["item_renewal", "item_lost_card", "item_finish"]
    return items


def _menu(b: _Builder) -> None:
    t, st = b.t, b.s.status
    b.header("menu.title")
    items = [wid for wid in menu_items(st) if wid != "item_finish"]    # Finish: the footer's slot
    top = BODY_TOP
    if st.card_type == MYNA:
        b.text("no_licence_note", (0.03, top, 0.94, 0.14), t("menu.no_licence_note"), "warn", SMALL)
        top += 0.15
    cols = 2
    rows = (len(items) + cols - 1) // cols
    gap = 0.025
    h = (BODY_BOTTOM - top - gap * (rows - 1)) / rows
    w = (0.96 - gap) / cols
    for i, wid in enumerate(items):
        r, c = divmod(i, cols)
        role = "danger" if wid == "item_finish" else "primary" if wid == "item_licence" else "normal"
        label = t("menu.linkage_handoff") if wid == "item_linkage" and not b.s.gateway_available else \
            t(f"menu.{wid[5:]}")
        b.button(wid, (0.02 + c * (w + gap), top + r * (h + gap), w, h), label, role)
    b.footer([("item_finish", t("menu.finish"), "danger")])
    b.view.back = "item_finish"


def _pin_status(b: _Builder) -> None:
    t, st = b.t, b.s.status
    b.header("pin_status.title")
    b.guidance(topic_items("pin_status", b.s.cfg, b.s.lang, b.s.today(), status=st),
               buttons=[("btn_back", t("btn.back"), "normal")] + b.print_button())
    b.back_view()

def pin_items(b: _Builder, pin_id: str, c, extra: list | None = None) -> list:
    """The PIN pad's left column: what is urgent (the last-try warning, a wrong PIN), ``extra``, which PIN, tries.

    The renderer pages this block when it does not fit (large text): the
    warning and the message are then on the first page, never pushed off it.
    """
    t, s = b.t, b.s
    urgent = []
    # After a wrong PIN its message carries the new count: it is said once, not again as a
    # "few left" warning and a tries line (the last-try warning stays: it says what comes next).
    wrong = bool(s.pin_message) and s.pin_message[0] == "pin.wrong"
    if c is not None and c.tries_left is not None:
        if c.tries_left <= 1:
            urgent.append(("warn", t("pin.warn_last"), "danger"))
        elif c.tries_left <= 3 and not wrong:
            urgent.append(("warn", t("pin.warn_few", left=c.tries_left), "warn"))
    if s.pin_message:
        key, values = s.pin_message
        urgent.append(("pin_message", t(key, **values), "danger"))
    items = urgent + (extra or []) + [("pin_name", b.pin_label(pin_id), "big")]
    if c is not None and c.tries_left is not None and not wrong:
        items.append(("tries", t("pin.tries_left", left=c.tries_left, max=c.max_tries), b.counter_role(c)))
    if s.pending:
        items.append(("busy", t("reading.body"), "ok"))
    return items


def _pad(b: _Builder, pin_id: str, progress: str = "", extra: list | None = None) -> None:
    """The 4-digit pad, left: warnings, which PIN (so the two 4-digit PINs are never confused), tries; right: keys."""
    t, s = b.t, b.s
    b.header(None, t("pin_entry.title") + progress)
    c = s.status.pins.get(pin_id) if s.status else None
    # The left column is the text (as wide as the keys allow: large text must keep the warning on
    # page 1); the dots sit above the keys they belong to.
    items = pin_items(b, pin_id, c, extra=extra)
    b.paragraphs(items, top=HEADER_H + 0.01, bottom=FOOT_Y - 0.005, width=0.56, size=BODY)
    b.button("btn_cancel", (0.03, FOOT_Y, 0.56, FOOT_H), t("btn.cancel"), "normal", shortcut=False,
             enabled=not s.pending)
    x0, w, h, gap = 0.62, 0.11, 0.13, 0.01
    b.text("dots", (x0, BODY_TOP, 3 * w + 2 * gap, 0.10), "●" * s.pin_len + "○" * (4 - s.pin_len),
           "big", BIG, "center")
    y0 = BODY_TOP + 0.11
    for r, row in enumerate(PAD_ROWS):
        for col, k in enumerate(row):
            label = t(f"pad.{k}") if k in ("clear", "back") else k
            b.button(f"key_{k}", (x0 + col * (w + gap), y0 + r * (h + gap), w, h), label, "key",
                     enabled=not s.pending, shortcut=False, size=KEY if k.isdigit() else SMALL)
    b.button("key_ok", (x0, FOOT_Y, 3 * w + 2 * gap, FOOT_H), t("pad.ok"), "primary",
             enabled=s.pin_ready(), shortcut=False)


def _licence_pin(b: _Builder) -> None:
    _pad(b, b.s.pin_id or b.s.licence_pin_id())


def _licence_locked(b: _Builder) -> None:
    t = b.t
    b.header("licence_locked.title")
    items = [Item("statement", "licence_locked.body", t("licence_locked.body"), tone="danger")]
    items += b.guide.unlock([b.s.licence_pin_id()])
    b.guidance(items, buttons=[("btn_back", t("btn.back"), "normal")] + b.print_button())
    b.back_view()

def _licence(b: _Builder) -> None:
    t, s = b.t, b.s
    lic = s.licence
    b.header("licence.title")
    b.add(Widget("photo", "image", (0.03, BODY_TOP, 0.20, 0.46), image=s.photo))
    if lic is None:
        return
    number = lic.licence_number or ""
    shown = number if s.show_number else "●" * len(number)
    number_item = Item("statement", "licence.number", t("licence.number", number=shown))   # screen only
    toggle = t("licence.hide_number") if s.show_number else t("licence.show_number")
    items = topic_items("licence", s.cfg, s.lang, s.today(), status=s.status, licence=lic)
    b.guidance(items[:1] + [number_item] + items[1:],
               left=0.25, width=0.72,
               buttons=[("btn_toggle_number", toggle, "normal"), ("btn_back", t("btn.back"), "normal")]
               + b.print_button())
    b.back_view()

def _renewal(b: _Builder) -> None:
    t, s = b.t, b.s
    b.header("renewal.title")
    b.guidance(topic_items("renewal", s.cfg, s.lang, s.today(), status=s.status),
               buttons=[("btn_back", t("btn.back"), "normal")] + b.print_button())
    b.back_view()

def _lost_card(b: _Builder) -> None:
    t, s = b.t, b.s
    b.header("lost.title")
    b.guidance(topic_items("lost_card", s.cfg, s.lang, s.today()),
               buttons=[("btn_back", t("btn.back"), "normal")] + b.print_button())
    b.back_view()

def _linkage_header(b: _Builder, step: int | None) -> None:
    b.header(None, b.t("linkage.title") + (f"  {step}/9" if step is not None else ""))


def _problem_text(b: _Builder, item) -> str:
    """A pre-flight problem (engine Problem) or warning (a code string) in words."""
    code = getattr(item, "code", None) or str(item)
    where = getattr(item, "where", None)
    key = f"linkage.preflight.{code}"
    text = b.t(key) if catalog("ui", "ja").has(key) else b.t("linkage.preflight.other", code=code)
    if where in ("municipality", "police"):
        text += b.t(f"linkage.where.{where}", office=b.guide.office(where))
    elif where == "counter":
        text += b.t("linkage.where.counter")
    return text


def _linkage_handoff(b: _Builder) -> None:
    """No gateway: the official linkage happens on the resident's phone.  Check, then hand over."""
    t, s = b.t, b.s
    b.header("linkage.handoff_title")
    buttons = [("btn_back", t("btn.back"), "normal")]
    if s.can_print():
        buttons.append(("btn_print", t("linkage.print_checklist"), "normal"))
    if s.pin_check_offered():
        buttons.append(("btn_pin_check", t("pin_check.open"), "normal"))
    b.guidance(topic_items("handoff", s.cfg, s.lang, s.today(), status=s.status), buttons=buttons)
    b.back_view()


def _pin_check_choose(b: _Builder) -> None:
    """Issue #12: which JPKI PIN to check (one VERIFY each, on the pad's OK), or its result."""
    t, s = b.t, b.s
    b.header("pin_check.title")
    b.text("costs_try", (0.03, BODY_TOP, 0.94, 0.17), t("pin_check.costs_try"), "warn", BODY)
    st = s.status
    pins = [p for p in ("jpki_auth", "jpki_sign") if st is not None and st.pins.get(p) is not None]
    for i, pin_id in enumerate(pins):
        c = st.pins[pin_id]
        done = s.pin_checks.get(pin_id)
        name = t(f"pin_check.name.{pin_id}")
        rect = (0.03, BODY_TOP + 0.19 + i * 0.22, 0.94, 0.20)
        if c.locked:                              # no pad for a locked counter: a statement, not a button
            b.text(f"result_{pin_id}", rect, t("pin_check.locked", pin_name=name), "locked", BODY, "center")
        elif done is not None and done.ok:
            text = t("pin_check.ok", pin_name=name)
            if done.signature_not_after is not None:
                text += t("pin_check.sign_until", date=b.date(done.signature_not_after))
            b.text(f"result_{pin_id}", rect, text, "ok", BODY, "center")
        else:
            key = "pin_check.wrong" if done is not None else "pin_check.check"
            b.button(f"btn_check_{pin_id}", rect, t(key, pin_name=name, state=b.tries(c)),
                     "warn" if done is not None else "normal")
    b.footer([("btn_back", t("btn.back"), "normal")])
    b.back_view()


def _pin_check(b: _Builder) -> None:
    """The optional check's entry: says plainly that a wrong entry costs a try, names the PIN."""
    s = b.s
    pin_id = s.pin_id or "jpki_auth"
    warning = [("costs_try", b.t("pin_check.costs_try_short"), "warn")]
    if pin_id == "jpki_sign":
        _keyboard(b, "", extra=warning)
    else:
        _pad(b, pin_id, "", extra=warning)


def _linkage_preflight(b: _Builder) -> None:
    t, s = b.t, b.s
    if not s.gateway_available:
        _linkage_handoff(b)
        return
    _linkage_header(b, None)
    pre = s.linkage.get("preflight")
    if pre is None:
        b.text("busy", (0.05, 0.25, 0.90, 0.40), t("linkage.checking"), "big", BIG, "center")
        b.footer([("btn_back", t("btn.back"), "normal")])
        b.back_view()
        return
    items = []
    for i, p in enumerate(getattr(pre, "problems", []) or []):
        items.append((f"problem_{i}", "× " + _problem_text(b, p), "danger"))
    for i, p in enumerate(getattr(pre, "warnings", []) or []):
        items.append((f"warning_{i}", "! " + _problem_text(b, p), "warn"))
    if getattr(pre, "ok", False):
        items.insert(0, ("ok", t("linkage.ok"), "ok"))
    else:
        items.insert(0, ("refused", t("linkage.refused"), "danger"))
    b.paragraphs(items[:5], size=BODY)
    buttons = [("btn_back", t("btn.back"), "normal")]
    if s.pin_check_offered():
        buttons.append(("btn_pin_check", t("pin_check.open"), "normal"))
    if s.can_print():
        buttons.append(("btn_print", t("linkage.print_checklist"), "primary"))
    b.footer(buttons)
    b.back_view()


def _linkage_step(b: _Builder) -> None:
    t, s = b.t, b.s
    step = int(s.screen.rsplit("_", 1)[1])
    if step == 4:
        _pad(b, "jpki_auth", "  4/9")
        return
    if step == 7:
        _keyboard(b)
        return
    _linkage_header(b, step)
    items = [("body", t(f"linkage.s{step}.body"), "body")]
    if step == 1:
        pre = s.linkage.get("preflight")
        for i, p in enumerate(getattr(pre, "warnings", []) or []):
            items.append((f"warning_{i}", "! " + _problem_text(b, p), "warn"))
    if step == 9:
        items.append(("reference", t("linkage.reference", reference=s.linkage.get("reference") or "-"), "ok"))
    if s.pending or step in (5, 8):
        items.append(("busy", t("linkage.busy"), "ok"))
    if step == 6:
        terms = s.linkage.get("terms")
        text = getattr(terms, "text", None) or (terms[1] if isinstance(terms, (tuple, list)) and len(terms) > 1
                                                 else str(terms or ""))
        version = getattr(terms, "version", None) or (terms[0] if isinstance(terms, (tuple, list)) else "")
        b.text("terms_version", (0.03, BODY_TOP, 0.70, 0.07), t("linkage.terms_version", version=version),
               "muted", SMALL)
        b.add(Widget("terms", "text", (0.03, BODY_TOP + 0.08, 0.80, BODY_BOTTOM - BODY_TOP - 0.09),
                     text, "body", SMALL, scroll=s.terms_page * 4))
        b.button("btn_terms_prev", (0.85, BODY_TOP + 0.08, 0.12, 0.26), "▲", "normal",
                 enabled=s.terms_page > 0, shortcut=False)
        b.button("btn_terms_next", (0.85, BODY_TOP + 0.37, 0.12, 0.26), "▼", "normal", shortcut=False)
        b.footer([("btn_cancel", t("btn.cancel"), "normal"), ("btn_accept", t("linkage.accept"), "primary")])
        b.view.default, b.view.back = "btn_accept", "btn_cancel"
        if s.pending:
            b.view.get("btn_accept").enabled = False
        return
    b.paragraphs(items)
    buttons = [("btn_cancel", t("btn.cancel"), "normal")]
    if step in (1, 2, 3):
        buttons.append(("btn_next", t(f"linkage.s{step}.next"), "primary"))
    if step == 9:
        buttons = [("btn_done", t("btn.done"), "primary")] + b.print_button()
    b.footer(buttons)
    if s.pending:
        for w in b.view.widgets:
            if w.id in ("btn_next",):
                w.enabled = False
    b.view.default = "btn_next" if step in (1, 2, 3) else ("btn_done" if step == 9 else None)
    b.view.back = "btn_done" if step == 9 else "btn_cancel"


def _keyboard(b: _Builder, progress: str = "  7/9", extra: list | None = None) -> None:
    """Step 7 (and the PIN check): the signature password, A–Z and 0–9 only, masked."""
    t, s = b.t, b.s
    b.header(None, t("pin_entry.title") + progress)
    c = s.status.pins.get("jpki_sign") if s.status else None
    # Up to 16 masked characters: two lines of small dots (no personal data, just a count).
    b.text("dots", (0.02, BODY_TOP, 0.30, 0.12), "●" * s.pin_len or "—", "small", SMALL, "center")
    items = pin_items(b, "jpki_sign", c, extra=(extra or []) + [("length", t("linkage.s7.length", n=s.pin_len),
                                                                    "muted")])
    b.paragraphs(items, top=BODY_TOP + 0.13, bottom=FOOT_Y - 0.01, left=0.02, width=0.30, size=BODY)
    b.button("btn_cancel", (0.02, FOOT_Y, 0.30, FOOT_H), t("btn.cancel"), "normal", shortcut=False)
    x0, y0, gap = 0.34, BODY_TOP, 0.006
    cols = 9
    w = (0.64 - gap * (cols - 1)) / cols
    h = 0.125
    for i, ch in enumerate(KEYBOARD):
        r, col = divmod(i, cols)
        b.button(f"kb_{ch}", (x0 + col * (w + gap), y0 + r * (h + gap), w, h), ch, "key",
                 enabled=not s.pending, shortcut=False, size=SMALL)
    y = y0 + 4 * (h + gap)
    w3 = (0.64 - 2 * gap) / 3
    b.button("key_back", (x0, y, w3, 0.11), t("pad.back"), "key", shortcut=False, size=SMALL)
    b.button("key_clear", (x0 + w3 + gap, y, w3, 0.11), t("pad.clear"), "key", shortcut=False, size=SMALL)
    b.button("key_ok", (x0, FOOT_Y, 0.64, FOOT_H), t("pad.ok"), "primary", enabled=s.pin_ready(),
             shortcut=False)


def _linkage_error(b: _Builder) -> None:
    t, s = b.t, b.s
    _linkage_header(b, None)
    error: tuple[str, dict[str, Any]] = s.error or ("linkage.error.gateway_error", {})
    key, values = error
    if key == "linkage.locked":
        pin_id = values.get("pin_id") or "jpki_auth"
        items = [Item("warning", "linkage.locked", t("linkage.locked", pin_name=b.pin_name(pin_id)), tone="danger")]
        b.guidance(items + b.guide.unlock([pin_id]), buttons=[("btn_back", t("btn.back"), "normal")])
    else:
        text = t(key, **values) if t.has(key) or catalog("ui", "ja").has(key) else t(
            "linkage.error.gateway_error")
        b.paragraphs([("error", text, "danger")])
        b.footer([("btn_back", t("btn.back"), "normal")])
    b.back_view()


def _message(b: _Builder, prefix: str, role="big") -> None:
    b.header(f"{prefix}.title")
    b.text("body", (0.05, 0.22, 0.90, 0.50), b.t(f"{prefix}.body"), role, BIG if role == "big" else BODY,
           "center")


def _take_card(b: _Builder) -> None:
    _message(b, "take_card")


def _timed_out(b: _Builder) -> None:
    _message(b, "timed_out", "body")


def _card_removed(b: _Builder) -> None:
    _message(b, "card_removed", "body")
    b.footer([("btn_ok", b.t("btn.ok"), "primary")])
    b.view.default = b.view.back = "btn_ok"


def _card_error(b: _Builder) -> None:
    t, s = b.t, b.s
    b.header("card_error.title")
    key, values = s.error or ("card.error.card_error", {})
    b.paragraphs([("error", t(key, **values), "danger"), ("take", t("card_error.take"), "big")],
                 top=0.20, bottom=0.90)


def _service_needed(b: _Builder) -> None:
    t, s = b.t, b.s
    b.header("service.title")
    b.paragraphs([("body", t("service.body"), "big"),
                  ("code", t("service.code", code=s.service or "-"), "muted")], top=0.22, bottom=0.90)


def _language(b: _Builder) -> None:
    """The language chooser: every offered language in the city's order, each name in its own
    script's face (render.py), big targets numbered 1-9 for the keypad; Back (Esc) changes nothing."""
    t, s = b.t, b.s
    b.header("language.title")
    langs = offered_languages(s)
    cols = 2 if len(langs) == 4 else max(1, min(3, len(langs)))
    rows = (len(langs) + cols - 1) // cols
    gap = 0.02
    top, bottom = BODY_TOP + 0.01, BODY_BOTTOM
    w = (0.96 - gap * (cols - 1)) / cols
    h = (bottom - top - gap * (rows - 1)) / rows
    for i, lang in enumerate(langs):
        r, c = divmod(i, cols)
        b.button(f"lang_{lang}", (0.02 + c * (w + gap), top + r * (h + gap), w, h), LANGUAGE_NAMES[lang],
                 "normal", shortcut=i < 9, size=BIG, selected=lang == s.lang)
    x, width = SLOTS["back"]            # Back in its slot; numbered only while a digit is left for it
    b.button("btn_back", (x, FOOT_Y, width, FOOT_H), t("btn.back"), "normal", shortcut=len(langs) < 9)
    b.view.back = "btn_back"
    b.view.default = f"lang_{s.lang}" if s.lang in langs else "btn_back"   # Enter keeps the language


def _still_there(b: _Builder) -> None:
    """The inactivity prompt: full screen, a big countdown, continue (Enter) or finish (Esc)."""
    t, s = b.t, b.s
    b.add(Widget("header", "panel", (0, 0, 1, HEADER_H), role="header"))
    b.text("title", (0.02, 0.0, 0.96, HEADER_H), t("still_there.title"), "title", TITLE)
    cd = s.countdown()
    n = cd[1] if cd is not None and cd[0] == "prompt" else s.cfg.timeouts.prompt_seconds
    b.text("body", (0.05, BODY_TOP + 0.02, 0.90, 0.30), t("still_there.body"), "body", BODY, "center")
    b.text("countdown", (0.05, BODY_TOP + 0.34, 0.90, 0.26), t("still_there.countdown", n=n), "big", BIG,
           "center")
    b.footer([("btn_finish_session", t("still_there.finish"), "normal"),
              ("btn_continue_session", t("still_there.continue"), "primary")])
    b.view.default, b.view.back = "btn_continue_session", "btn_finish_session"


BUILDERS = {
    "attract": _attract, "reading": _reading, "summary": _summary, "menu": _menu,
    "pin_status": _pin_status, "licence_pin": _licence_pin, "licence_locked": _licence_locked,
    "licence": _licence, "renewal": _renewal, "lost_card": _lost_card,
    "linkage_preflight": _linkage_preflight, "linkage_error": _linkage_error,
    "linkage_pin_check": _pin_check, "linkage_pin_check_choose": _pin_check_choose,
    "take_card": _take_card, "timed_out": _timed_out, "card_removed": _card_removed,
    "card_error": _card_error, "service_needed": _service_needed, "still_there": _still_there,
    "language": _language,
    **{f"linkage_{n}": _linkage_step for n in range(1, 10)},
}


def build_view(session) -> View:
    b = _Builder(session)
    BUILDERS[session.screen](b)
    return b.view


__all__ = ["SCREENS", "Row", "View", "Widget", "build_view", "menu_items"]
