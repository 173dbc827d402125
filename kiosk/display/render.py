"""Draws a View with pygame-ce: a type scale with a floor, and pages instead of tiny text.

Text sizes are fractions of the screen height (screens.py: FLOOR 22 px and
BODY_FLOOR 24 px at 480 px).  Reading text is never shrunk: a block that does
not fit its box (a flow of paragraphs and table rows, or one text widget) is
split into pages, and ▲ / ▼ page buttons with "n/m" appear beside it; the page
shown comes from ``View.pages`` (the session's ``pages``).  Only labels (button
captions, the header title, countdowns) fit themselves by shrinking, never
below the floor (the layout tests check that large text never draws them
smaller than normal text does).  Lines are
broken by ``kiosk.text.wrap`` (BudouX + 禁則), the same breaker as the slip.

Every widget drawn is described in ``Frame.placed`` (id, role, text, font px,
box, lines, paginated, clipped): the scenario runner's ``--record`` writes it
and the layout tests check it.  Nothing that carries personal data is cached:
text is laid out afresh on each (event-driven) redraw.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import pygame

from kiosk import journal
from kiosk.display.screens import BODY_FLOOR, BODY_ROLES, FLOOR, View, Widget
from kiosk.i18n import LANGUAGE_NAMES
from kiosk.text import wrap as text_wrap

FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)
LINE = 1.25                 # line height in em; the baseline sits 1 em below the line's top
LABEL_LINE = 1.15           # labels (buttons, titles): one or two short lines
PAGE_BUTTON_MIN = 56        # px: ▲ / ▼ are buttons a finger can hit
PAGE_KEYS = ("8", "9")      # keypad digits for ▲ / ▼ where the screen's shortcuts leave them free
PIN_SCREENS = ("licence_pin", "linkage_4", "linkage_7")

THEMES = {
    "normal": {
        "bg": (246, 246, 240), "header": (20, 60, 120), "title": (255, 255, 255),
        "body": (20, 20, 20), "big": (10, 30, 80), "small": (40, 40, 40), "muted": (80, 80, 80),
        "warn": (150, 80, 0), "danger": (180, 20, 20), "ok": (20, 110, 40), "countdown": (255, 220, 80),
        # PIN counters: full (ok), a few tries gone, the last try, locked
        "few": (150, 80, 0), "last": (200, 40, 0), "locked": (150, 0, 30),
        "btn_normal": (225, 230, 240), "btn_primary": (20, 90, 180), "btn_danger": (245, 225, 220),
        "btn_key": (255, 255, 255), "btn_text": (15, 15, 15), "btn_text_primary": (255, 255, 255),
        "btn_border": (60, 70, 90), "btn_disabled": (215, 215, 215), "btn_text_disabled": (120, 120, 120),
        "btn_selected": (255, 200, 60), "btn_pressed": (255, 230, 140),
    },
    "contrast": {
        "bg": (0, 0, 0), "header": (0, 0, 0), "title": (255, 255, 0),
        "body": (255, 255, 255), "big": (255, 255, 0), "small": (255, 255, 255), "muted": (220, 220, 220),
        "warn": (255, 200, 0), "danger": (255, 110, 110), "ok": (120, 255, 120), "countdown": (255, 255, 0),
        "few": (255, 200, 0), "last": (255, 140, 60), "locked": (255, 110, 110),
        "btn_normal": (0, 0, 0), "btn_primary": (255, 255, 0), "btn_danger": (90, 0, 0),
        "btn_key": (0, 0, 0), "btn_text": (255, 255, 255), "btn_text_primary": (0, 0, 0),
        "btn_border": (255, 255, 255), "btn_disabled": (40, 40, 40), "btn_text_disabled": (170, 170, 170),
        "btn_selected": (0, 160, 255), "btn_pressed": (80, 80, 0),
    },
}


# Face of the Noto Sans CJK collection per language (0 JP, 1 KR, 2 SC): the same
# character is drawn the way each language's readers expect.
FACE_INDEX = {"ko": 1, "zh": 2}


class Face:
    """One face of the font at one pixel size: measure and draw on a baseline."""

    def __init__(self, font, px: int, line: float = LINE):
        self._f, self.px = font, px
        self.line = round(px * line)

    def width(self, text: str) -> int:
        return self._f.get_rect(text, size=self.px).width if text else 0

    def size(self, text: str) -> tuple[int, int]:
        return self.width(text), self.line

    def draw(self, surface, x: int, top: int, text: str, color) -> None:
        if text:
            self._f.render_to(surface, (x, top + self.px), text, color, size=self.px)


@dataclass
class Placed:
    """One widget as drawn: what ``--record`` writes and the layout tests check."""

    id: str
    kind: str
    role: str
    text: str
    px: int
    base_px: int                                # its size in normal text
    box: tuple[int, int, int, int] | None       # None: on another page
    lines: list[str] = field(default_factory=list)
    paginated: bool = False
    clipped: bool = False
    page: int | None = None                     # the page it is on (paginated blocks)
    label: bool = False                         # fitted like a label (may shrink, never below the floor)

    def record(self) -> dict:
        return asdict(self)


@dataclass
class Frame:
    """What one draw produced: where the buttons are, every widget's layout, what did not fit."""

    hits: dict[str, pygame.Rect] = field(default_factory=dict)
    overflows: list[tuple[str, str]] = field(default_factory=list)   # (widget id, text): clipped
    placed: list[Placed] = field(default_factory=list)
    pages: dict[str, tuple[int, int]] = field(default_factory=dict)   # block -> (page shown, pages)

    def hit(self, pos) -> str | None:
        for wid, rect in self.hits.items():
            if rect.collidepoint(pos):
                return wid
        return None


def find_font() -> str | None:
    for p in FONT_PATHS:
        if os.path.exists(p):
            return p
    try:
        return pygame.font.match_font("notosanscjkjp") or pygame.font.match_font("ipaexgothic")
    except (OSError, ValueError, pygame.error) as exc:   # no fontconfig: pygame's default font
        journal.log_swallowed("render.font_lookup", exc)
        return None


class Renderer:
    def __init__(self, surface: pygame.Surface, font_path: str | None = None):
        self.surface = surface
        self.font_path = font_path if font_path is not None else find_font()
        self._faces: dict[int, object] = {}
        self.pressed: str | None = None

    # -- measures ----------------------------------------------------------------
    def px(self, size: float) -> int:
        return max(8, int(size * self.surface.get_height() + 0.5))      # half up: 66.5 px is 67

    def font(self, px: int, lang: str = "ja", line: float = LINE) -> Face:
        """The face for ``lang`` at ``px``; Chinese and Korean use their own faces of the CJK collection.
        Languages beyond ja/en/zh/ko get a face that shapes each script run with HarfBuzz
        (Devanagari, Vietnamese: kiosk/text/shaped.py)."""
        from kiosk.text.fonts import CJK_LANGS
        if lang not in CJK_LANGS:
            from kiosk.text.shaped import ScreenFace
            return ScreenFace(lang, int(px), line)  # type: ignore[return-value]  # same interface as Face
        import pygame.freetype as freetype
        if not freetype.get_init():
            freetype.init()
        index = FACE_INDEX.get(lang, 0) if self.font_path and self.font_path.endswith(".ttc") else 0
        f = self._faces.get(index)
        if f is None:
            f = freetype.Font(self.font_path, 24, font_index=index)
            f.origin = True                      # draw at the baseline: our own line boxes
            f.pad = False
            self._faces[index] = f
        return Face(f, int(px), line)

    def rect(self, r) -> pygame.Rect:
        W, H = self.surface.get_size()
        x, y, w, h = r
        return pygame.Rect(round(x * W), round(y * H), round(w * W), round(h * H))

    def relative(self, box: pygame.Rect) -> tuple[float, float, float, float]:
        W, H = self.surface.get_size()
        return box.x / W, box.y / H, box.width / W, box.height / H

    @staticmethod
    def wrap(face: Face, text: str, width: int, lang: str) -> list[str]:
        return text_wrap(text, face.width, width, lang)

    # -- the frame ----------------------------------------------------------------
    def draw(self, view: View) -> Frame:
        theme = THEMES["contrast" if view.high_contrast else "normal"]
        frame = Frame()
        self.surface.fill(theme["bg"])
        done_flows: set[str] = set()
        for w in list(view.widgets):
            box = self.rect(w.rect)
            if w.flow is not None:
                if w.flow not in done_flows:
                    done_flows.add(w.flow)
                    items = [x for x in view.widgets if x.flow == w.flow]
                    self._block(items, self._union(items), w.flow, view, theme, frame)
                continue
            if w.kind == "panel":
                pygame.draw.rect(self.surface, theme.get(w.role, theme["header"]), box)
            elif w.kind == "image":
                self._image(w, box, theme)
            elif w.kind == "pictogram":
                self._pictogram(box, theme)
            elif w.kind == "button":
                self._button(w, box, view.lang, theme, frame)
            elif not w.text:
                continue
            elif w.scroll is not None:
                self._scrolled(w, box, view.lang, theme, frame)
            elif w.fit == "shrink" or box.height < 3 * PAGE_BUTTON_MIN:     # no room for page buttons
                self._label(w, box, view.lang, theme.get(w.role, theme["body"]), frame)
            else:
                self._block([w], box, w.id, view, theme, frame)
        return frame

    def _union(self, items: list[Widget]) -> pygame.Rect:
        box = self.rect(items[0].rect)
        for w in items[1:]:
            box = box.union(self.rect(w.rect))
        return box

    # -- reading text: fits or gets pages ------------------------------------------------
    def _units(self, items: list[Widget], box: pygame.Rect, lang: str, reserve: int, pad: int) -> list:
        """Blocks to stack: a unit is a list of cells (widget, face, lines, x, width); a row has several."""
        units: list[list] = []
        right = box.right - pad - reserve
        for w in items:
            if not w.text and w.row is None:
                continue
            face = self.font(self.px(w.size), lang)
            if w.row is not None:
                r = self.rect(w.rect)
                x, width = r.x + pad, min(r.right, right) - r.x - 2 * pad
            else:
                x, width = box.x + pad, right - box.x - pad
            cell = (w, face, self.wrap(face, w.text, width, lang) if w.text else [], x, width)
            if w.row is not None and units and units[-1][0][0].row == w.row:
                units[-1].append(cell)
            else:
                units.append([cell])
        return units

    @staticmethod
    def _height(unit) -> int:
        return max(len(lines) * face.line for _, face, lines, _, _ in unit)

    def _block(self, items: list[Widget], box: pygame.Rect, key: str, view: View, theme, frame: Frame) -> None:
        """Paragraphs and table rows one under another in ``box``; pages when they do not fit."""
        H = self.surface.get_height()
        lang = view.lang
        pad = max(2, H // 160)
        gap = max(4, H // 60)
        units = self._units(items, box, lang, 0, pad)
        total = sum(self._height(u) for u in units) + gap * max(0, len(units) - 1)
        if total <= box.height - 2 * pad:
            y = box.y + pad
            if len(units) == 1 and len(items) == 1 and items[0].align == "center":
                y += (box.height - 2 * pad - total) // 2
            for unit in units:
                self._draw_unit(unit, y, box, theme, frame, page=None, paginated=False)
                y += self._height(unit) + gap
            return
        # Pages: the controls take a column at the right; every unit goes on some page.
        W = self.surface.get_width()
        ctrl = max(round(0.085 * W), PAGE_BUTTON_MIN)
        units = self._units(items, box, lang, ctrl + gap, pad)
        room = box.height - 2 * pad
        pages: list[list[tuple[list, int]]] = [[]]       # per page: (unit, y offset)
        used = 0
        for k, unit in enumerate(units):
            need = self._height(unit)
            if k + 1 < len(units) and len(unit) == 1 and unit[0][0].role == "big":
                need += gap + units[k + 1][0][1].line      # a heading keeps a line of what follows
            if len(unit) > 1 or self._height(unit) <= room - (used if pages[-1] else 0):
                if pages[-1] and used + min(need, room) > room:     # a row, or a paragraph that fits
                    pages.append([])
                    used = 0
                pages[-1].append((unit, used))
                used += self._height(unit) + gap
                continue
            w, face, lines, x, width = unit[0]       # a paragraph too long for what is left: fill, go on
            while lines:
                left = (room - used) // face.line if pages[-1] else room // face.line
                if pages[-1] and (left < min(2, len(lines)) or len(lines) <= 3 and left < len(lines)):
                    # a short paragraph is never split: it starts the next page
                    pages.append([])
                    used = 0
                    continue
                take = max(1, left)
                piece = [(w, face, lines[:take], x, width)]
                pages[-1].append((piece, used))
                used += self._height(piece) + gap
                lines = lines[take:]
        n = len(pages)
        page = min(max(0, int(view.pages.get(key, 0))), n - 1)
        frame.pages[key] = (page, n)
        shown = {id(w) for piece, _ in pages[page] for w, *_ in piece}
        for w in items:                          # View.texts(): what the resident sees on this page
            w.hidden = id(w) not in shown
        for i, content in enumerate(pages):
            for piece, offset in content:
                if i == page:
                    self._draw_unit(piece, box.y + pad + offset, box, theme, frame, page=i, paginated=True)
                else:
                    for w, face, lines, _x, _width in piece:
                        if not any(p.id == w.id for p in frame.placed):
                            frame.placed.append(self._placed(w, face, lines, None, True, False, i))
        self._page_controls(key, page, n, pygame.Rect(box.right - ctrl, box.y, ctrl, box.height), view,
                            theme, frame)

    def _draw_unit(self, unit, y: int, box: pygame.Rect, theme, frame: Frame, page, paginated: bool) -> None:
        for w, face, lines, x, width in unit:
            h = len(lines) * face.line
            clipped = any(face.width(line) > width for line in lines) or y + h > box.bottom
            color = theme.get(w.role, theme["body"])
            sub = pygame.Rect(x, y, width, max(0, min(h, box.bottom - y)))
            self._lines(face, lines, sub, w.align, color)
            self._place(frame, w, face, lines, (x, y, width, h), paginated, clipped, page)

    def _page_controls(self, key: str, page: int, n: int, col: pygame.Rect, view: View, theme,
                       frame: Frame) -> None:
        """▲, "page/pages", ▼ beside a paginated block: real buttons, with keypad digits when free."""
        bh = max(PAGE_BUTTON_MIN, min(col.height // 3, col.width * 2))
        first = not any(k for k in frame.pages if k != key)
        keys = (first and view.screen not in PIN_SCREENS
                and not any(d in view.shortcuts for d in PAGE_KEYS))
        specs = ((f"page_prev_{key}", "▲", page > 0, pygame.Rect(col.x, col.y, col.width, bh), PAGE_KEYS[0]),
                 (f"page_next_{key}", "▼", page < n - 1,
                  pygame.Rect(col.x, col.bottom - bh, col.width, bh), PAGE_KEYS[1]))
        for wid, label, enabled, rect, digit in specs:
            if keys and enabled:
                view.shortcuts[digit] = wid
                label = f"{digit} {label}"
            btn = Widget(wid, "button", self.relative(rect), label, "normal", FLOOR, "center", enabled,
                         base=FLOOR, fit="shrink")
            view.widgets.append(btn)
            self._button(btn, rect, view.lang, theme, frame)
        mid = pygame.Rect(col.x, col.y + bh, col.width, col.height - 2 * bh)
        page_label = Widget(f"page_{key}", "text", self.relative(mid), f"{page + 1}/{n}", "muted", FLOOR,
                            "center", base=FLOOR, fit="shrink")
        view.widgets.append(page_label)
        self._label(page_label, mid, view.lang, theme["muted"], frame)

    # -- labels: shrink to fit, within limits ------------------------------------------------
    def _label(self, w: Widget, box: pygame.Rect, lang: str, color, frame: Frame, pad: int | None = None,
               large: bool | None = None) -> None:
        if not w.text:
            return
        if w.id.startswith("lang_") and w.id[5:] in LANGUAGE_NAMES:
            lang = w.id[5:]       # a language's own name, in its own face (नेपाली on a Japanese screen)
        pad = max(2, box.height // 20) if pad is None else pad
        inner_w, inner_h = box.width - 2 * pad, box.height - 2 * pad
        target = self.px(w.size)
        smallest = self.px(BODY_FLOOR if w.kind == "text" and w.role in BODY_ROLES else FLOOR)

        def attempt(px: int):
            face = self.font(px, lang, LABEL_LINE)
            lines = self.wrap(face, w.text, inner_w, lang)
            return face, lines, all(face.width(x) <= inner_w for x in lines) and len(lines) * face.line <= inner_h

        face, lines, fits = attempt(target)
        if not fits and target > smallest:      # the largest size that fits, found by halving
            lo, hi = smallest, target - 1
            best = attempt(smallest)
            while lo <= hi:
                mid = (lo + hi) // 2
                trial = attempt(mid)
                if trial[2]:
                    best, lo = trial, mid + 1
                else:
                    hi = mid - 1
            face, lines, fits = best
        total = len(lines) * face.line
        y = box.y + pad + max(0, (inner_h - total) // 2)          # labels sit in the middle of their box
        self._lines(face, lines, pygame.Rect(box.x + pad, y, inner_w, min(total, box.bottom - y)), w.align,
                    color, clip=box)
        self._place(frame, w, face, lines, (box.x + pad, y, inner_w, total), False, not fits, None)
        frame.placed[-1].label = True

    def _scrolled(self, w: Widget, box: pygame.Rect, lang: str, theme, frame: Frame) -> None:
        """A builder-scrolled text (the terms): lines from ``w.scroll``, as many as fit."""
        pad = max(2, box.height // 20)
        face = self.font(self.px(w.size), lang)
        lines = self.wrap(face, w.text, box.width - 2 * pad, lang)
        shown = lines[w.scroll:][:max(1, (box.height - 2 * pad) // face.line)]
        clipped = any(face.width(x) > box.width - 2 * pad for x in shown)
        inner = box.inflate(-2 * pad, -2 * pad)
        self._lines(face, shown, inner, w.align, theme.get(w.role, theme["body"]))
        self._place(frame, w, face, shown, (inner.x, inner.y, inner.width, len(shown) * face.line),
                    len(shown) < len(lines), clipped, None)

    # -- drawing ----------------------------------------------------------------------------------
    def _lines(self, face: Face, lines, box: pygame.Rect, align, color, clip: pygame.Rect | None = None) -> None:
        prev_clip = self.surface.get_clip()
        self.surface.set_clip(clip or box)
        y = box.y
        for line in lines:
            x = box.x + (box.width - face.width(line)) // 2 if align == "center" else box.x
            face.draw(self.surface, x, y, line, color)
            y += face.line
        self.surface.set_clip(prev_clip)

    def _placed(self, w: Widget, face: Face, lines, box, paginated: bool, clipped: bool, page) -> Placed:
        return Placed(w.id, w.kind, w.role, w.text, face.px, self.px(w.base), box, list(lines), paginated,
                      clipped, page)

    def _place(self, frame: Frame, w: Widget, face: Face, lines, box, paginated, clipped, page) -> None:
        for p in frame.placed:                  # a paragraph continued from an earlier page piece
            if p.id == w.id and p.box is not None:
                return
        frame.placed[:] = [p for p in frame.placed if p.id != w.id]
        frame.placed.append(self._placed(w, face, lines, tuple(int(v) for v in box), paginated, clipped, page))
        if clipped:
            frame.overflows.append((w.id, w.text))

    def _pictogram(self, box, theme) -> None:
        """The card-placement pictogram, drawn (no bundled photo): a card coming down flat
        onto the reader, with an arrow; in the theme's colours, so high contrast applies."""
        ink, accent = theme["body"], theme.get("ok", theme["body"])
        u = max(1, min(box.width, box.height) // 24)
        reader = pygame.Rect(box.x + box.width // 10, box.bottom - box.height // 3, box.width * 8 // 10,
                             box.height // 4)
        pygame.draw.rect(self.surface, ink, reader, width=max(2, u), border_radius=2 * u)
        pygame.draw.circle(self.surface, accent, (reader.right - 3 * u, reader.centery), max(2, u * 3 // 2))
        card = pygame.Rect(box.x + box.width // 5, box.y + box.height // 12, box.width * 6 // 10, box.height * 3 // 10)
        pygame.draw.rect(self.surface, ink, card, width=max(2, u), border_radius=u)
        chip = pygame.Rect(card.x + card.width // 8, card.y + card.height // 3, card.width // 5, card.height // 3)
        pygame.draw.rect(self.surface, accent, chip, border_radius=max(1, u // 2))
        x, top, tip = box.centerx, card.bottom + u, reader.y - u
        if tip - top > 4 * u:
            pygame.draw.line(self.surface, accent, (x, top), (x, tip - 2 * u), max(2, u))
            pygame.draw.polygon(self.surface, accent, [(x - 3 * u, tip - 3 * u), (x + 3 * u, tip - 3 * u), (x, tip)])

    def _button(self, w: Widget, box, lang, theme, frame: Frame) -> None:
        inner = box.inflate(-4, -4)
        if not w.enabled:
            bg, fg = theme["btn_disabled"], theme["btn_text_disabled"]
        elif w.id == self.pressed:
            bg, fg = theme["btn_pressed"], theme["btn_text"]
        elif w.selected:
            bg, fg = theme["btn_selected"], (0, 0, 0)
        else:
            bg = theme.get(f"btn_{w.role}", theme["btn_normal"])
            fg = theme["btn_text_primary"] if w.role == "primary" else theme["btn_text"]
        radius = max(4, inner.height // 6)
        pygame.draw.rect(self.surface, bg, inner, border_radius=radius)
        pygame.draw.rect(self.surface, theme["btn_border"], inner, width=2, border_radius=radius)
        self._label(w, inner, lang, fg, frame, pad=max(3, min(inner.height, inner.width) // 16))
        if w.enabled:
            frame.hits[w.id] = box

    def _image(self, w: Widget, box, theme) -> None:
        img = w.image
        pygame.draw.rect(self.surface, theme["btn_border"], box, width=1)
        if img is None:
            return
        try:
            rgb = img.convert("RGB")
            surf = pygame.image.frombytes(rgb.tobytes(), rgb.size, "RGB")
        except (OSError, ValueError, pygame.error) as exc:   # a photo that does not decode: the frame only
            journal.log_swallowed("render.photo", exc)
            return
        iw, ih = surf.get_size()
        scale = min(box.width / iw, box.height / ih)
        surf = pygame.transform.smoothscale(surf, (max(1, int(iw * scale)), max(1, int(ih * scale))))
        self.surface.blit(surf, (box.x + (box.width - surf.get_width()) // 2, box.y))
