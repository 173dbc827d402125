"""Devanagari conjuncts and Vietnamese stacked diacritics are drawn as HarfBuzz shapes them.

uharfbuzz shapes the sample strings with the very face kiosk/text/fonts.py picks; the
screen face (pygame-ce SDL_ttf) and the slip font (Pillow + libraqm) must draw the same
advance width, and unshaped drawing (Pillow's BASIC layout, nominal glyphs) must not, so
a renderer that stopped shaping fails here.  Vietnamese typed decomposed (NFD: e + U+0323
+ U+0302) must look exactly like the precomposed form once shaped.
"""

from __future__ import annotations

import os
import unicodedata

import pytest

hb = pytest.importorskip("uharfbuzz")   # the dev extra; a missing one is an error in CI (see below)
from PIL import Image, ImageChops, ImageDraw, ImageFont  # noqa: E402

from kiosk.text.fonts import HB_SCRIPT, face, runs  # noqa: E402
from kiosk.text.shaped import ScreenFace, SlipFont  # noqa: E402

PX = 40
CONJUNCTS = [("ne", "क्षत्रिय"), ("ne", "प्रमाणपत्र"), ("ne", "नागरिकता प्रमाणपत्र")]
VIETNAMESE = [("vi", "Việt Nam"), ("vi", "Người"), ("vi", "Thẻ My Number của bạn")]
SAMPLES = CONJUNCTS + VIETNAMESE


def test_uharfbuzz_is_installed():
    """importorskip above must not hide a missing dev dependency."""
    assert hb.__version__


def _hb(spec, text: str, lang: str):
    """(glyph ids, advance in px at PX) as HarfBuzz shapes ``text`` with ``spec``'s face."""
    with open(spec.path, "rb") as f:
        blob = hb.Blob(f.read())
    hb_face = hb.Face(blob, spec.index)
    font = hb.Font(hb_face)
    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    buf.script = HB_SCRIPT[spec.script]
    buf.language = {"ne": "ne", "vi": "vi"}[lang]
    hb.shape(font, buf, {})
    gids = [info.codepoint for info in buf.glyph_infos]
    upem = hb_face.upem
    return gids, sum(p.x_advance for p in buf.glyph_positions) * PX / upem, font, upem


def _nominal(font, upem, text: str):
    gids = [font.get_nominal_glyph(ord(c)) or 0 for c in text]
    return gids, sum(font.get_glyph_h_advance(g) for g in gids) * PX / upem


def _one_run(text, lang):
    parts = runs(text, lang)
    assert len(parts) == 1, parts
    return parts[0][0]


@pytest.mark.parametrize("lang,text", CONJUNCTS + [("vi", unicodedata.normalize("NFD", t)) for _, t in VIETNAMESE])
def test_harfbuzz_changes_these_strings(lang, text):
    """The samples are ones where shaping matters: conjuncts replace glyphs, marks compose."""
    spec = _one_run(text, lang)
    shaped, _, font, upem = _hb(spec, text, lang)
    nominal, _ = _nominal(font, upem, text)
    assert shaped != nominal


@pytest.mark.parametrize("lang,text", SAMPLES)
def test_screen_face_draws_harfbuzz_advances(lang, text):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    spec = _one_run(text, lang)
    _, advance, font, upem = _hb(spec, text, lang)
    screen = ScreenFace(lang, PX, 1.25)
    assert abs(screen.width(text) - advance) <= 2, (screen.width(text), advance)
    _, unshaped = _nominal(font, upem, text)
    if abs(unshaped - advance) > 4:              # where shaping changes the width, unshaped is caught
        assert abs(screen.width(text) - unshaped) > 2


@pytest.mark.parametrize("lang,text", SAMPLES)
def test_slip_font_draws_harfbuzz_advances(lang, text):
    spec = _one_run(text, lang)
    _, advance, font, upem = _hb(spec, text, lang)
    slip = SlipFont(lang, PX)
    assert abs(slip.getlength(text) - advance) <= 1, (slip.getlength(text), advance)


def _ink(font, text):
    img = Image.new("L", (40 * PX, 3 * PX), 0)
    ImageDraw.Draw(img).text((PX, PX // 2), text, font=font, fill=255)
    return img


@pytest.mark.parametrize("lang,text", CONJUNCTS)
def test_slip_conjuncts_differ_from_unshaped_drawing(lang, text):
    spec = face(lang, "deva")
    basic = ImageFont.truetype(spec.path, PX, layout_engine=ImageFont.Layout.BASIC)
    assert ImageChops.difference(_ink(SlipFont(lang, PX), text), _ink(basic, text)).getbbox() is not None


@pytest.mark.parametrize("_,text", VIETNAMESE)
def test_decomposed_vietnamese_looks_precomposed_on_slip_and_screen(_, text):
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    slip = SlipFont("vi", PX)
    assert ImageChops.difference(_ink(slip, nfd), _ink(slip, text)).getbbox() is None
    basic = ImageFont.truetype(face("vi", "latin").path, PX, layout_engine=ImageFont.Layout.BASIC)
    assert ImageChops.difference(_ink(basic, nfd), _ink(basic, text)).getbbox() is not None

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    screen = ScreenFace("vi", PX, 1.25)

    def drawn(s):
        surface = pygame.Surface((40 * PX, 3 * PX))
        surface.fill((0, 0, 0))
        screen.draw(surface, PX, PX // 2, s, (255, 255, 255))
        return pygame.image.tobytes(surface, "RGB")

    assert drawn(nfd) == drawn(text)


def test_mixed_line_uses_one_face_per_script():
    text = "मेरो PIN (マイナ免許証) क्षत्रिय"
    scripts = [spec.script for spec, _ in runs(text, "ne")]
    assert scripts == ["deva", "latin", "cjk", "deva"]
    assert "".join(part for _, part in runs(text, "ne")) == text
    assert [s.script for s, _ in runs("暗証番号 PIN", "ja")] == ["cjk"]      # ja/en/zh/ko: one CJK face
    slip = SlipFont("ne", 28)
    each = sum(SlipFont("ne", 28)._face(s).getlength(p) for s, p in runs(text, "ne"))
    assert slip.getlength(text) == pytest.approx(each)


@pytest.mark.parametrize("lang", ["vi", "ne", "pt_BR", "fil"])
def test_every_catalogue_character_has_a_glyph_in_the_face_that_draws_it(lang):
    """Lines in the new languages carry Japanese terms and symbols (☎ ① ※ ▶): none is tofu."""
    from kiosk.i18n import catalog, languages
    from kiosk.text.fonts import covers

    chars = {ch for code in languages("ui") for text in catalog("ui", code).messages.values() for ch in text}
    chars |= set("ăâđêôơưệờẫỹ" "क्षत्रियप्रमाणपत्र" "ãçéõú" "ñ")
    missing = [ch for ch in sorted(chars) if not ch.isspace() and ch != "\n"
               for spec, part in runs(ch, lang) if not covers(spec, ch)]
    assert missing == []
    assert [s.script for s, _ in runs("☎ 0120", lang)] == ["cjk"]


def test_screen_face_survives_a_font_module_restart():
    """The scenario runner and the app quit and re-init pygame; cached fonts are reopened."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    pygame.font.init()
    before = ScreenFace("ne", PX, 1.25).width("क्षत्रिय")
    pygame.font.quit()
    pygame.font.init()
    assert ScreenFace("ne", PX, 1.25).width("क्षत्रिय") == before
