"""Shaped text in mixed scripts: a screen face (pygame-ce SDL_ttf) and a slip font (Pillow libraqm).

Both split a line into script runs (kiosk/text/fonts.py) and let HarfBuzz
shape each run with its face, so Devanagari conjuncts (क्ष) and Vietnamese
stacked diacritics (ệ, ờ) come out as the font designed them.  pygame's
``freetype`` module does not shape; SDL_ttf (``pygame.font``, built with
HarfBuzz) does, given ``Font.set_script``.  Pillow shapes with
``ImageFont.Layout.RAQM`` (libraqm + FriBiDi + HarfBuzz).
"""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageFont

from kiosk.text.fonts import HB_LANGUAGE, HB_SCRIPT, FaceSpec, primary, runs


class ScreenFace:
    """A pygame face for one language and pixel size, with the interface of render.Face
    (``px``, ``line``, ``width``, ``size``, ``draw``): the baseline sits ``px`` below ``top``."""

    _fonts: dict[tuple[FaceSpec, int], Any] = {}

    def __init__(self, lang: str, px: int, line: float):
        self.lang, self.px = lang, int(px)
        self.line = round(self.px * line)

    def _font(self, spec: FaceSpec):
        import pygame.font

        if not pygame.font.get_init():
            pygame.font.init()
        key = (spec, self.px)
        font = self._fonts.get(key)
        if font is not None:
            try:
                font.set_script(HB_SCRIPT[spec.script])
                return font
            except pygame.error:            # "font module quit since font created": open it again
                pass
        font = pygame.font.Font(spec.path, self.px)
        self._fonts[key] = font
        font.set_script(HB_SCRIPT[spec.script])
        return font

    def width(self, text: str) -> int:
        return sum(self._font(spec).size(part)[0] for spec, part in runs(text, self.lang)) if text else 0

    def size(self, text: str) -> tuple[int, int]:
        return self.width(text), self.line

    def draw(self, surface, x: int, top: int, text: str, color) -> None:
        for spec, part in runs(text, self.lang):
            font = self._font(spec)
            image = font.render(part, True, color)
            surface.blit(image, (x, top + self.px - font.get_ascent()))
            x += image.get_width()


class SlipFont(ImageFont.FreeTypeFont):
    """A Pillow font for one language that draws each script run with its face, shaped by libraqm.

    ``ImageDraw.text``, ``getlength`` and ``getbbox`` work as with any FreeTypeFont, so the
    receipt code does not change; a one-run line is drawn by the plain FreeType path."""

    def __init__(self, lang: str, size: int):
        spec = primary(lang)
        super().__init__(spec.path, size, index=spec.index, layout_engine=ImageFont.Layout.RAQM)
        self.lang, self.spec = lang, spec
        self._faces: dict[FaceSpec, ImageFont.FreeTypeFont] = {spec: self}

    def _face(self, spec: FaceSpec) -> ImageFont.FreeTypeFont:
        font = self._faces.get(spec)
        if font is None:
            font = ImageFont.truetype(spec.path, self.size, index=spec.index, layout_engine=ImageFont.Layout.RAQM)
            self._faces[spec] = font
        return font

    def _runs(self, text) -> list[tuple[ImageFont.FreeTypeFont, str]]:
        return [(self._face(spec), part) for spec, part in runs(str(text), self.lang)]

    def _single(self, text) -> bool:
        parts = self._runs(text)
        return len(parts) <= 1 and (not parts or parts[0][0] is self)

    def _language(self, language):
        return language or HB_LANGUAGE.get(self.lang)

    def getlength(self, text, mode="", direction=None, features=None, language=None) -> float:
        if self._single(text):
            return super().getlength(text, mode, direction, features, self._language(language))
        return sum(ImageFont.FreeTypeFont.getlength(font, part, mode, direction, features, self._language(language))
                   for font, part in self._runs(text))

    def _pieces(self, text, mode, language, ink=0):
        """Each run's mask and where it goes, relative to the line's left edge and ascender."""
        ascent = self.getmetrics()[0]
        x = 0.0
        for font, part in self._runs(text):
            mask, (dx, dy) = ImageFont.FreeTypeFont.getmask2(font, part, mode, None, None, self._language(language),
                                                            anchor="ls", ink=ink)
            yield mask, (round(x) + dx, ascent + dy)
            x += ImageFont.FreeTypeFont.getlength(font, part, mode, None, None, self._language(language))

    def getbbox(self, text, mode="", direction=None, features=None, language=None, stroke_width=0, anchor=None):
        if self._single(text) or anchor not in (None, "la"):
            return super().getbbox(text, mode, direction, features, self._language(language), stroke_width, anchor)
        boxes = [(x, y, x + mask.size[0], y + mask.size[1]) for mask, (x, y) in self._pieces(text, mode, language)
                 if mask.size[0] and mask.size[1]]
        if not boxes:
            return (0, 0, 0, 0)
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                max(b[3] for b in boxes))

    def getmask2(self, text, mode="", direction=None, features=None, language=None, stroke_width=0, anchor=None,
                 ink=0, start=None, *args, **kwargs):
        if self._single(text) or anchor not in (None, "la") or stroke_width or mode not in ("", "L", "1"):
            return super().getmask2(text, mode, direction, features, self._language(language), stroke_width, anchor,
                                    ink, start, *args, **kwargs)
        pieces = [(p, xy) for p, xy in self._pieces(text, mode, language, ink) if p.size[0] and p.size[1]]
        if not pieces:
            return super().getmask2("", mode, anchor=anchor, ink=ink)
        left = min(x for _, (x, _) in pieces)
        top = min(y for _, (_, y) in pieces)
        right = max(x + p.size[0] for p, (x, _) in pieces)
        bottom = max(y + p.size[1] for p, (_, y) in pieces)
        canvas = Image.new("L", (right - left, bottom - top), 0)
        blank = Image.new("L", (1, 1))
        for piece, (x, y) in pieces:
            part = blank._new(piece)
            canvas.paste(255, (x - left, y - top), part.convert("L") if part.mode != "L" else part)
        return canvas.im, (left, top)
