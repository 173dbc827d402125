"""Draws a View with pygame-ce, and says when text does not fit.

Text is wrapped to its box (per character for Japanese and Chinese, at
spaces for English and Korean) and shrunk step by step down to
``MIN_SHRINK`` of its size; if it still does not fit, the widget is reported
in ``Frame.overflows``, which a test turns into a failure for every screen in
every language.  Nothing that carries personal data is cached: text is
rendered afresh on each (event-driven) redraw.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pygame

from kiosk.display.screens import View, Widget

FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)
MIN_SHRINK = 0.62
SHRINK_STEP = 0.92
# Characters that must not start a line (Japanese/Chinese line-breaking rule).
NO_LINE_START = set("、。，．・：；？！）」』】〉》”’ー…%,.:;!?)]}")

THEMES = {
    "normal": {
        "bg": (246, 246, 240), "header": (20, 60, 120), "title": (255, 255, 255),
        "body": (20, 20, 20), "big": (10, 30, 80), "small": (40, 40, 40), "muted": (90, 90, 90),
        "warn": (150, 80, 0), "danger": (180, 20, 20), "ok": (20, 110, 40), "countdown": (255, 220, 80),
        "btn_normal": (225, 230, 240), "btn_primary": (20, 90, 180), "btn_danger": (245, 225, 220),
        "btn_key": (255, 255, 255), "btn_text": (15, 15, 15), "btn_text_primary": (255, 255, 255),
        "btn_border": (60, 70, 90), "btn_disabled": (215, 215, 215), "btn_text_disabled": (140, 140, 140),
        "btn_selected": (255, 200, 60), "btn_pressed": (255, 230, 140),
    },
    "contrast": {
        "bg": (0, 0, 0), "header": (0, 0, 0), "title": (255, 255, 0),
        "body": (255, 255, 255), "big": (255, 255, 0), "small": (255, 255, 255), "muted": (220, 220, 220),
        "warn": (255, 200, 0), "danger": (255, 110, 110), "ok": (120, 255, 120), "countdown": (255, 255, 0),
        "btn_normal": (0, 0, 0), "btn_primary": (255, 255, 0), "btn_danger": (90, 0, 0),
        "btn_key": (0, 0, 0), "btn_text": (255, 255, 255), "btn_text_primary": (0, 0, 0),
        "btn_border": (255, 255, 255), "btn_disabled": (40, 40, 40), "btn_text_disabled": (150, 150, 150),
        "btn_selected": (0, 160, 255), "btn_pressed": (80, 80, 0),
    },
}


# Face of the Noto Sans CJK collection per language (0 JP, 1 KR, 2 SC): the same
# character is drawn the way each language's readers expect.
FACE_INDEX = {"ko": 1, "zh": 2}


class _FaceFont:
    """A pygame.freetype face with the three pygame.font.Font calls the renderer uses."""

    def __init__(self, path: str, px: int, index: int):
        import pygame.freetype as freetype
        if not freetype.get_init():
            freetype.init()
        self._f = freetype.Font(path, px, font_index=index)
        self._f.pad = True                       # line boxes like pygame.font's
        self._line = pygame.font.Font(path, px).get_linesize()

    def size(self, text: str) -> tuple[int, int]:
        return self._f.get_rect(text).width, self._line

    def render(self, text: str, antialias: bool, color):
        surf, _ = self._f.render(text, color)
        return surf

    def get_linesize(self) -> int:
        return self._line


@dataclass
class Frame:
    """What one draw produced: where the buttons are and what did not fit."""

    hits: dict[str, pygame.Rect] = field(default_factory=dict)
    overflows: list[tuple[str, str]] = field(default_factory=list)   # (widget id, text)

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
    except Exception:
        return None


def _breakable_by_space(lang: str, text: str) -> bool:
    return lang in ("en", "ko") or text.isascii()


def wrap(font, text: str, width: int, by_space: bool) -> list[str] | None:
    """Lines of ``text`` no wider than ``width``; None if one character alone is too wide."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for tok in _tokens(para, by_space):
            cand = line + tok
            if font.size(cand.rstrip())[0] <= width:
                line = cand
                continue
            if line.strip():
                if not by_space and tok[0] in NO_LINE_START and len(line) > 1:
                    lines.append(line[:-1].rstrip())      # keep closing punctuation attached
                    line = line[-1] + tok
                else:
                    lines.append(line.rstrip())
                    line = tok.lstrip()
            else:
                line = tok.lstrip()
            while font.size(line.rstrip())[0] > width:   # a token wider than the line
                k = len(line)
                while k > 1 and font.size(line[:k])[0] > width:
                    k -= 1
                if font.size(line[:k])[0] > width:
                    return None
                lines.append(line[:k])
                line = line[k:]
        lines.append(line.rstrip())
    return lines


def _tokens(text: str, by_space: bool) -> list[str]:
    if not by_space:
        out = []
        word = ""
        for ch in text:                       # keep Latin words and numbers whole
            if ch.isascii() and not ch.isspace():
                word += ch
                continue
            if word:
                out.append(word)
                word = ""
            out.append(ch)
        if word:
            out.append(word)
        return out
    out = []
    word = ""
    for ch in text:
        word += ch
        if ch == " ":
            out.append(word)
            word = ""
    if word:
        out.append(word)
    return out


class Renderer:
    def __init__(self, surface: pygame.Surface, font_path: str | None = None):
        self.surface = surface
        self.font_path = font_path if font_path is not None else find_font()
        self._fonts: dict[tuple[int, int], object] = {}
        self.pressed: str | None = None

    def font(self, px: int, lang: str = "ja"):
        """The font at ``px``; Chinese and Korean use their own faces of the CJK collection."""
        px = max(8, int(px))
        index = FACE_INDEX.get(lang, 0) if self.font_path and self.font_path.endswith(".ttc") else 0
        f = self._fonts.get((px, index))
        if f is None:
            f = _FaceFont(self.font_path, px, index) if index else pygame.font.Font(self.font_path, px)
            self._fonts[(px, index)] = f
        return f

    def rect(self, r) -> pygame.Rect:
        W, H = self.surface.get_size()
        x, y, w, h = r
        return pygame.Rect(round(x * W), round(y * H), round(w * W), round(h * H))

    def layout(self, w: Widget, box: pygame.Rect, lang: str, pad: int) -> tuple[pygame.font.Font, list[str], bool]:
        """Largest font (down to MIN_SHRINK) whose wrapped lines fit the box."""
        H = self.surface.get_height()
        target = w.size * H
        size = target
        by_space = _breakable_by_space(lang, w.text)
        inner_w, inner_h = box.width - 2 * pad, box.height - 2 * pad
        while True:
            f = self.font(size, lang)
            lines = wrap(f, w.text, inner_w, by_space)
            if lines is not None and (w.scroll is not None or len(lines) * f.get_linesize() <= inner_h):
                return f, lines, True
            if size * SHRINK_STEP < target * MIN_SHRINK:
                return f, lines or [w.text], False
            size *= SHRINK_STEP

    def draw(self, view: View) -> Frame:
        theme = THEMES["contrast" if view.large_text else "normal"]
        frame = Frame()
        self.surface.fill(theme["bg"])
        done_flows: set[str] = set()
        for w in view.widgets:
            box = self.rect(w.rect)
            if w.flow is not None:
                if w.flow not in done_flows:
                    done_flows.add(w.flow)
                    self._flow([x for x in view.widgets if x.flow == w.flow], box, view.lang, theme, frame)
                continue
            if w.kind == "panel":
                pygame.draw.rect(self.surface, theme.get(w.role, theme["header"]), box)
            elif w.kind == "image":
                self._image(w, box, theme)
            elif w.kind == "button":
                self._button(w, box, view.lang, theme, frame)
            else:
                self._text(w, box, view.lang, theme, frame)
        return frame

    def _flow(self, items: list[Widget], box, lang, theme, frame: Frame) -> None:
        """Paragraphs one under another in ``box``, all shrunk by one factor until they fit."""
        H = self.surface.get_height()
        pad = max(2, H // 160)
        gap = max(4, H // 60)
        scale = 1.0
        while True:
            laid = []
            total = 0
            ok = True
            for w in items:
                by_space = _breakable_by_space(lang, w.text)
                f = self.font(w.size * H * scale, lang)
                lines = wrap(f, w.text, box.width - 2 * pad, by_space)
                if lines is None:
                    ok = False
                    lines = [w.text]
                laid.append((w, f, lines))
                total += len(lines) * f.get_linesize() + gap
            if ok and total - gap <= box.height:
                break
            if scale * SHRINK_STEP < MIN_SHRINK:
                ok = False
                break
            scale *= SHRINK_STEP
        y = box.y
        for w, f, lines in laid:
            h = len(lines) * f.get_linesize()
            if y + h > box.bottom or not ok and w is laid[-1][0]:
                frame.overflows.append((w.id, w.text))
            sub = pygame.Rect(box.x, y, box.width, max(0, min(h, box.bottom - y)))
            self._draw_lines(f, lines, sub, w.align, theme.get(w.role, theme["body"]), 0)
            y += h + gap

    def _draw_lines(self, font, lines, box, align, color, y_pad) -> None:
        prev_clip = self.surface.get_clip()
        self.surface.set_clip(box)
        y = box.y + y_pad
        for line in lines:
            img = font.render(line, True, color)
            x = box.x + (box.width - img.get_width()) // 2 if align == "center" else box.x
            self.surface.blit(img, (x, y))
            y += font.get_linesize()
        self.surface.set_clip(prev_clip)

    def _text(self, w: Widget, box, lang, theme, frame: Frame, color=None, pad=None) -> None:
        if not w.text:
            return
        pad = max(2, box.height // 20) if pad is None else pad
        font, lines, fits = self.layout(w, box, lang, pad)
        if not fits:
            frame.overflows.append((w.id, w.text))
        color = color or theme.get(w.role, theme["body"])
        ls = font.get_linesize()
        if w.scroll is not None:
            lines = lines[w.scroll:]
            lines = lines[:max(1, (box.height - 2 * pad) // ls)]
        total = len(lines) * ls
        y = box.y + pad + max(0, (box.height - 2 * pad - total) // 2) if w.kind == "button" or w.align == "center" \
            else box.y + pad
        prev_clip = self.surface.get_clip()
        self.surface.set_clip(box)
        for line in lines:
            img = font.render(line, True, color)
            if w.align == "center":
                x = box.x + (box.width - img.get_width()) // 2
            else:
                x = box.x + pad
            self.surface.blit(img, (x, y))
            y += ls
        self.surface.set_clip(prev_clip)

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
        self._text(w, inner, lang, theme, frame, color=fg, pad=max(4, inner.height // 12))
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
        except Exception:
            return
        iw, ih = surf.get_size()
        scale = min(box.width / iw, box.height / ih)
        surf = pygame.transform.smoothscale(surf, (max(1, int(iw * scale)), max(1, int(ih * scale))))
        self.surface.blit(surf, (box.x + (box.width - surf.get_width()) // 2, box.y))
