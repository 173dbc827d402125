"""Receipts: what to print (from the card data and the config) and how it looks.

``build_receipt`` turns a kind plus the resident's data into a ``Receipt``: a
list of blocks of already-translated text (``.lines``) and QR links.  It
decides *what* goes on paper, and it is the one place that enforces the
privacy rule: no name, no address, no PIN, no My Number; the licence number
only when ``receipt.include_licence_number`` is true, and then masked except
for the last 4 digits.  ``Receipt.render(width_dots)`` lays the blocks out
with Pillow and a CJK font into a 1-bit image for python-escpos ``image()``
(its ``text()`` cannot print Japanese).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import qrcode
from PIL import Image, ImageDraw

from kiosk.config import Config
from kiosk.i18n import catalog
from kiosk.nfc.model import PIN_ORDER, CardStatus, LicenceData, months_before
from kiosk.printer import fonts
from kiosk.text import wrap as text_wrap

KINDS = ("pin_status", "licence", "renewal", "lost_card", "linkage_checklist", "linkage_done", "test")
WIDTHS = (384, 576)
# Which office unlocks which counter: licence PINs at the police, card PINs at the municipality.
JPKI_PINS = ("jpki_auth", "jpki_sign")
POLICE_PINS = ("licence", "ic_pin1", "ic_pin2")
RENEW_MONTHS_BEFORE = 3       # certificates and the card can be renewed 3 months ahead


# -- blocks ---------------------------------------------------------------------------
@dataclass
class Block:
    style: str                # title | heading | text | small | rule | gap | qr
    text: str = ""
    url: str = ""             # qr only


@dataclass
class Receipt:
    kind: str
    lang: str
    blocks: list[Block] = field(default_factory=list)
    drawn: list[str] = field(default_factory=list)     # every string the last render drew

    @property
    def lines(self) -> list[str]:
        """The receipt's text, one entry per paragraph (QR captions and URLs included)."""
        out = []
        for b in self.blocks:
            if b.text:
                out.append(b.text)
            if b.url:
                out.append(b.url)
        return out

    @property
    def qr_payloads(self) -> list[str]:
        return [b.url for b in self.blocks if b.style == "qr"]

    def render(self, width_dots: int = 576) -> Image.Image:
        """A 1-bit image ``width_dots`` wide (black = ink), ready for ``Escpos.image()``."""
        if width_dots not in WIDTHS:
            raise ValueError(f"width_dots must be one of {WIDTHS}")
        layout = _Layout(self.lang, width_dots)
        placed = [layout.measure(b) for b in self.blocks]
        height = layout.margin + sum(h for h, _ in placed) + layout.margin
        img = Image.new("L", (width_dots, height), 255)
        draw = ImageDraw.Draw(img)
        self.drawn = []
        y = layout.margin
        for (h, paint) in placed:
            self.drawn.extend(paint(draw, y))
            y += h
        return img.point(lambda v: 255 if v >= 128 else 0, mode="1")


class _Layout:
    """Font sizes, margins and line wrapping for one paper width."""

    def __init__(self, lang: str, width: int):
        self.width = width
        self.margin = width // 48
        body = max(20, width // 20)
        self.fonts = {"title": fonts.load(lang, round(body * 1.35)),
                      "heading": fonts.load(lang, round(body * 1.1)),
                      "text": fonts.load(lang, body),
                      "small": fonts.load(lang, round(body * 0.8))}
        self.inner = width - 2 * self.margin

    def line_height(self, style: str) -> int:
        return round(self.fonts[style].size * 1.35)

    def measure(self, block: Block):
        """(height, paint) where paint(draw, y) draws the block and returns the strings drawn."""
        if block.style == "gap":
            return self.line_height("small") // 2, lambda d, y: []
        if block.style == "rule":
            def rule(d, y):
                d.line((self.margin, y + 4, self.width - self.margin - 1, y + 4), fill=0, width=2)
                return []
            return 10, rule
        if block.style == "qr":
            return self._qr(block)
        font = self.fonts[block.style]
        title, heading = block.style == "title", block.style == "heading"
        pad = max(4, self.margin) if title else 0          # white text inside a black bar
        rows = wrap(block.text, font, self.inner - 2 * pad)
        lh = self.line_height(block.style)
        space = lh // 3 if heading else 0                   # air above and below a heading
        height = space + 2 * pad + lh * len(rows) + space

        def paint(d, y):
            y += space
            if title:
                d.rectangle((self.margin, y, self.width - self.margin - 1, y + 2 * pad + lh * len(rows) - 1),
                            fill=0)
            for n, row in enumerate(rows):
                d.text((self.margin + pad, y + pad + n * lh), row, font=font, fill=255 if title else 0)
            if heading:
                d.line((self.margin, y + lh * len(rows), self.width - self.margin - 1, y + lh * len(rows)),
                       fill=0, width=1)
            return rows
        return height, paint

    def _qr(self, block: Block):
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
        code.add_data(block.url)
        code.make(fit=True)
        matrix = code.get_matrix()
        n = len(matrix)
        module = max(2, int(self.width * 0.3) // n)
        side = module * n
        gap = self.margin
        col = self.inner - side - gap
        cap_font, url_font = self.fonts["text"], self.fonts["small"]
        cap_rows = wrap(block.text, cap_font, col)
        url_rows = wrap(block.url, url_font, col)
        text_h = len(cap_rows) * self.line_height("text") + len(url_rows) * self.line_height("small")
        height = max(side, text_h) + self.margin

        def paint(d, y):
            x0 = self.margin
            for r, row in enumerate(matrix):
                for c, on in enumerate(row):
                    if on:
                        d.rectangle((x0 + c * module, y + r * module,
                                     x0 + (c + 1) * module - 1, y + (r + 1) * module - 1), fill=0)
            tx, ty = x0 + side + gap, y
            for row in cap_rows:
                d.text((tx, ty), row, font=cap_font, fill=0)
                ty += self.line_height("text")
            for row in url_rows:
                d.text((tx, ty), row, font=url_font, fill=0)
                ty += self.line_height("small")
            return cap_rows + url_rows
        return height, paint


# -- line wrapping: the one breaker the screen uses too (kiosk.text) ---------------------------
def wrap(text: str, font, max_width: int, lang: str | None = None) -> list[str]:
    """Lines of ``text`` that each fit in ``max_width`` pixels (explicit newlines kept).

    BudouX phrases and 禁則 rules for Japanese/Chinese, spaces for Korean and
    Latin, dates and phone numbers kept whole: see kiosk/text.  Without
    ``lang`` the script of the text decides.
    """
    return text_wrap(text, font.getlength, max_width, lang)


# -- content ----------------------------------------------------------------------------
def mask_licence_number(number: str) -> str:
    """All but the last 4 digits replaced by '*' (the only form a receipt may carry)."""
    digits = re.sub(r"\s", "", number)
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


class _Builder:
    def __init__(self, kind: str, lang: str, cfg: Config, now: dt.datetime):
        self.t = catalog("receipt", lang)
        self.cfg, self.now, self.today = cfg, now, now.date()
        self.receipt = Receipt(kind, lang)

    def add(self, style: str, key: str | None = None, text: str | None = None, **values) -> None:
        if text is None:
            text = self.t.text(key, **values) if key else ""
        self.receipt.blocks.append(Block(style, text))

    def qr(self, key: str, url: str) -> None:
        if url:
            self.receipt.blocks.append(Block("qr", self.t.text(key), url))

    def date(self, day: dt.date | None) -> str:
        if day is None:
            return self.t.text("expiry.unknown")
        return self.t.text("format.date", year=day.year, month=day.month, day=day.day)

    def office(self, which: str) -> dict:
        o = getattr(self.cfg.offices, which)
        return {"office": o.name, "hours": o.hours}

    # sections
    def header(self) -> None:
        kind = self.receipt.kind
        self.add("title", f"title.{kind}")
        self.add("text", text=self.cfg.kiosk.name)
        if self.cfg.kiosk.place:
            self.add("small", "header.place", place=self.cfg.kiosk.place)
        self.add("small", "header.printed", date=self.date(self.today),
                 time=self.t.text("format.time", hour=self.now.hour, minute=self.now.minute))
        self.add("gap")
        self.add("heading", "did.heading")
        self.add("text", f"did.{kind}")

    def pins(self, status: CardStatus, only: tuple[str, ...] | None = None) -> None:
        counters = [status.pins[k] for k in PIN_ORDER if k in status.pins and (not only or k in only)]
        if not counters and status.licence_pin_set is not False:
            return
        self.add("heading", "pins.heading")
        for c in counters:
            if c.locked:
                state = self.t.text("pin.locked")
            elif c.tries_left is None:
                state = self.t.text("pin.verified")
            else:
                state = self.t.text("pin.tries_left", left=c.tries_left, max=c.max_tries)
            self.add("text", text=f"{self.t.text('pin.' + c.id)}\n　{state}")
            if c.last_try:
                self.add("small", "pin.last_try")
        if status.licence_pin_set is False:
            self.add("small", "licence_pin.not_set")
        locked = [c.id for c in counters if c.locked]
        if not locked:
            self.add("small", "pin.all_ok")
            return
        self.add("heading", "unlock.heading")
        if any(p not in POLICE_PINS for p in locked):
            self.add("text", "unlock.card", **self.office("municipality"))
        if any(p in POLICE_PINS for p in locked):
            self.add("text", "unlock.licence", **self.office("police"))

    def expiries(self, status: CardStatus) -> None:
        if status.auth_cert_not_after is None and status.card_expiry is None:
            return
        self.add("heading", "expiry.heading")
        advice = []
        for what, day in (("cert", status.auth_cert_not_after), ("card", status.card_expiry)):
            if day is None:
                continue
            if day < self.today:
                self.add("text", f"expiry.{what}_expired", date=self.date(day))
                advice.append(self.t.text(f"advice.{what}_expired", **self.office("municipality")))
            else:
                self.add("text", f"expiry.{what}", date=self.date(day))
                if self.today >= months_before(day, RENEW_MONTHS_BEFORE):
                    advice.append(self.t.text(f"advice.{what}_soon", **self.office("municipality")))
        for line in advice or [self.t.text("advice.ok")]:
            self.add("small", text=line)

    def licence(self, lic: LicenceData) -> None:
        self.add("heading", "licence.heading")
        if self.cfg.receipt.include_licence_number and lic.licence_number:
            self.add("text", "licence.number", number=mask_licence_number(lic.licence_number))
        self.add("text", "licence.expiry", date=self.date(lic.expiry))
        window = lic.renewal_window
        if window:
            self.add("text", "licence.window", start=self.date(window[0]), end=self.date(window[1]))
            if lic.expiry < self.today:
                self.add("small", "licence.expired")
            elif lic.in_renewal_window(self.today):
                self.add("small", "licence.in_window")
            else:
                self.add("small", "licence.before_window")
        if lic.online_course_eligible is not None:
            self.add("small", "licence.online_course" if lic.online_course_eligible
                     else "licence.no_online_course")
        self.add("small", "licence.where", **self.office("police"))

    def hotline(self, full: bool = False) -> None:
        r = self.cfg.receipt
        if full:
            self.add("heading", "lost.heading")
            for step in ("lost.step1", "lost.step2"):
                self.add("text", step)
            self.add("text", "lost.step3", **self.office("municipality"))
        style = "text" if full else "small"
        if r.hotline:
            self.add(style, "lost.hotline", number=r.hotline)
        if r.hotline_foreign:
            self.add(style, "lost.hotline_foreign", number=r.hotline_foreign)

    def linkage(self, linkage: dict, done: bool) -> None:
        self.add("heading", "linkage.heading")
        if linkage.get("reference"):
            self.add("text", "linkage.reference", reference=str(linkage["reference"]))
        if linkage.get("steps_total") and linkage.get("steps_done"):
            self.add("small", "linkage.progress", done=int(linkage.get("steps_done", 0)),
                     total=int(linkage["steps_total"]))
        items = list(linkage.get("checklist") or [])
        if items:
            self.add("text", "linkage.checklist")
            for item in items:
                key = f"linkage.item.{item}"
                known = self.t.has(key) or (self.t.fallback is not None and self.t.fallback.has(key))
                label = self.t.text(key) if known else str(item)
                self.add("text", text=f"□ {label}")
        self.add("small", "linkage.done" if done else "linkage.next")

    def footer(self, qrs: list[tuple[str, str]]) -> None:
        if qrs:
            self.add("heading", "qr.heading")
            for key, url in qrs:
                self.qr(key, url)
        self.add("rule")
        if self.receipt.kind != "lost_card":
            self.hotline()
        self.add("small", "footer.privacy")
        self.add("small", "footer.kiosk", id=self.cfg.kiosk.id)


def build_receipt(kind: str, lang: str, cfg: Config, *, status: CardStatus | None = None,
                  licence: LicenceData | None = None, linkage: dict | None = None,
                  now: dt.datetime | None = None) -> Receipt:
    """The receipt for ``kind`` in ``lang`` (one of ja, en, zh, ko).  Never reads a PIN."""
    if kind not in KINDS:
        raise ValueError(f"unknown receipt kind {kind!r}; one of {', '.join(KINDS)}")
    b = _Builder(kind, lang, cfg, now or dt.datetime.now())
    r = cfg.receipt
    b.header()
    qrs: list[tuple[str, str]] = []
    if kind == "pin_status":
        if status:
            b.pins(status)
            b.expiries(status)
            if any(p in POLICE_PINS for p in status.locked_pins):
                qrs.append(("qr.police", r.qr_police))
        qrs.append(("qr.card_site", r.qr_card_site))
    elif kind == "licence":
        if licence:
            b.licence(licence)
        if status:
            b.pins(status, only=POLICE_PINS)
        qrs.append(("qr.police", r.qr_police))
    elif kind == "renewal":
        if status:
            b.expiries(status)
        b.add("heading", "renewal.heading")
        b.add("text", "renewal.where", **b.office("municipality"))
        b.add("text", "renewal.bring")
        b.add("small", "renewal.pins")
        qrs.append(("qr.card_site", r.qr_card_site))
    elif kind == "lost_card":
        b.hotline(full=True)
        qrs.append(("qr.card_site", r.qr_card_site))
    elif kind in ("linkage_checklist", "linkage_done"):
        b.linkage(linkage or {}, done=kind == "linkage_done")
        if kind == "linkage_checklist" and status:
            # Which PINs the resident will need, with tries left, and how long
            # the certificate is valid: the no-gateway slip is honest help.
            b.pins(status, only=JPKI_PINS)
            b.expiries(status)
        qrs.append(("qr.mynaportal", (linkage or {}).get("portal_url") or r.qr_mynaportal))
    elif kind == "test":
        b.add("heading", "test.heading")
        b.add("text", "test.line")
        b.add("small", "test.width", dots=cfg.printer.width_dots)
        b.add("small", text="ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 あいうえお 漢字 한국어 中文")
        qrs.append(("qr.card_site", r.qr_card_site))
    b.footer(qrs)
    return b.receipt
