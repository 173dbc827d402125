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
from kiosk.i18n.dates import shown_date
from kiosk.guidance import Item, topic_items
from kiosk.nfc.model import CardStatus, LicenceData
from kiosk.printer import fonts
from kiosk.text import wrap as text_wrap

KINDS = ("pin_status", "licence", "renewal", "lost_card", "linkage_checklist", "linkage_done", "test")
WIDTHS = (384, 576)
INK_INSET = 2                 # dots between the margin and a line's first glyph ("j" reaches left)
# The guidance topic (kiosk/guidance) each slip prints: the same items as the screen it comes from.
TOPIC_OF_KIND = {"pin_status": "pin_status", "licence": "licence", "renewal": "renewal",
                 "lost_card": "lost_card", "linkage_checklist": "handoff", "linkage_done": "linkage_done"}
# How each kind of guidance item is printed.
STYLE_OF_ITEM = {"heading": "heading", "statement": "text", "step": "text", "warning": "text",
                 "contact": "text"}


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

    def text_lines(self, width_dots: int = 576) -> list[str]:
        """The slip's text as it will be printed, one printed line per entry (no image drawn)."""
        if width_dots not in WIDTHS:
            raise ValueError(f"width_dots must be one of {WIDTHS}")
        layout = _Layout(self.lang, width_dots)
        out: list[str] = []
        for b in self.blocks:
            if b.style == "rule":
                out.append("-" * 32)
            elif b.style == "gap":
                out.append("")
            elif b.style == "qr":
                out.extend(f"[QR] {row}" if n == 0 else row for n, row in enumerate(layout.qr_rows(b)))
            else:
                out.extend(layout.rows(b))
        return out

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
        self.lang = lang                # line breaks follow the slip's language, not a guess from its script
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
        pad = self._pad(block)
        rows = self.rows(block)
        lh = self.line_height(block.style)
        space = lh // 3 if heading else 0                   # air above and below a heading
        height = space + 2 * pad + lh * len(rows) + space

        def paint(d, y):
            y += space
            if title:
                d.rectangle((self.margin, y, self.width - self.margin - 1, y + 2 * pad + lh * len(rows) - 1),
                            fill=0)
            for n, row in enumerate(rows):
                d.text((self.margin + pad + INK_INSET, y + pad + n * lh), row, font=font, fill=255 if title else 0)
            if heading:
                d.line((self.margin, y + lh * len(rows), self.width - self.margin - 1, y + lh * len(rows)),
                       fill=0, width=1)
            return rows
        return height, paint

    def _pad(self, block: Block) -> int:
        return max(4, self.margin) if block.style == "title" else 0   # white text inside a black bar

    def rows(self, block: Block) -> list[str]:
        """The printed lines of a text block."""
        return wrap(block.text, self.fonts[block.style], self.inner - 2 * self._pad(block) - 2 * INK_INSET,
                    self.lang)

    def _qr_matrix(self, block: Block):
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
        code.add_data(block.url)
        code.make(fit=True)
        matrix = code.get_matrix()
        module = max(2, int(self.width * 0.3) // len(matrix))
        return matrix, module, self.inner - module * len(matrix) - self.margin

    def qr_rows(self, block: Block) -> list[str]:
        """The caption and URL lines printed beside a QR code."""
        _, _, col = self._qr_matrix(block)
        return wrap(block.text, self.fonts["text"], col, self.lang) + wrap(block.url, self.fonts["small"], col)

    def _qr(self, block: Block):
        matrix, module, col = self._qr_matrix(block)
        side = module * len(matrix)
        gap = self.margin
        cap_font, url_font = self.fonts["text"], self.fonts["small"]
        cap_rows = wrap(block.text, cap_font, col, self.lang)
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
    from kiosk.text.fonts import CJK_LANGS
    if lang is not None and lang not in CJK_LANGS:
        # Shaped runs (Devanagari matras, stacked Vietnamese marks) may ink a little past their
        # advance: keep a quarter em spare so nothing reaches the printer's margin.
        max_width -= getattr(font, "size", 0) // 4
    return text_wrap(text, font.getlength, max_width, lang)


# -- content ----------------------------------------------------------------------------
def mask_licence_number(number: str) -> str:
    """All but the last 4 digits replaced by '*' (the only form a receipt may carry)."""
    digits = re.sub(r"\s", "", number)
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


class _Builder:
    def __init__(self, kind: str, lang: str, cfg: Config, now: dt.datetime | None):
        self.t = catalog("ui", lang)
        self.cfg, self.now = cfg, now
        self.receipt = Receipt(kind, lang)

    def add(self, style: str, key: str | None = None, text: str | None = None, **values) -> None:
        if text is None:
            text = self.t.text(key, **values) if key else ""
        self.receipt.blocks.append(Block(style, text))

    def items(self, items: list[Item]) -> None:
        """Guidance items, printed in order; a link becomes a QR code with its caption."""
        for item in items:
            if item.kind == "link":
                if item.url:
                    self.receipt.blocks.append(Block("qr", item.text, item.url))
            else:
                self.receipt.blocks.append(Block(STYLE_OF_ITEM[item.kind], item.text))

    def header(self) -> None:
        kind = self.receipt.kind
        self.add("title", f"slip.title.{kind}")
        self.add("text", text=self.cfg.kiosk.name)
        if self.cfg.kiosk.place:
            self.add("small", "slip.header.place", place=self.cfg.kiosk.place)
        if self.now is not None:           # only a trusted clock prints a date
            self.add("small", "slip.header.printed", date=shown_date(self.now.date(), self.receipt.lang),
                     time=self.t("slip.format.time", hour=self.now.hour, minute=self.now.minute))
        self.add("gap")
        self.add("heading", "slip.did.heading")
        self.add("text", f"slip.did.{kind}")

    def footer(self) -> None:
        self.add("rule")
        r = self.cfg.receipt
        if self.receipt.kind != "lost_card" and r.hotline:
            self.add("small", "guide.lost.hotline", number=r.hotline)
        self.add("small", "slip.footer.privacy")
        self.add("small", "slip.footer.kiosk", id=self.cfg.kiosk.id)


def build_receipt(kind: str, lang: str, cfg: Config, *, status: CardStatus | None = None,
                  licence: LicenceData | None = None, linkage: dict | None = None,
                  now: dt.datetime | None = None) -> Receipt:
    """The receipt for ``kind`` in ``lang`` (one of ja, en, zh, ko).  Never reads a PIN.

    ``now`` is the trusted time, or None when the clock is not synchronised:
    then no date is printed and no guidance judges a date.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown receipt kind {kind!r}; one of {', '.join(KINDS)}")
    b = _Builder(kind, lang, cfg, now)
    b.header()
    if kind == "licence" and licence and cfg.receipt.include_licence_number and licence.licence_number:
        b.add("text", "licence.number", number=mask_licence_number(licence.licence_number))
    if kind == "linkage_done" and linkage and linkage.get("reference"):
        b.add("text", "slip.linkage.reference", reference=str(linkage["reference"]))
    if kind in TOPIC_OF_KIND:
        b.items(topic_items(TOPIC_OF_KIND[kind], cfg, lang, now.date() if now else None,
                            status=status, licence=licence))
    elif kind == "test":
        b.add("heading", "slip.test.heading")
        b.add("text", "slip.test.line")
        b.add("small", "slip.test.width", dots=cfg.printer.width_dots)
        b.add("small", text="ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 あいうえお 漢字 한국어 中文")
    b.footer()
    return b.receipt
