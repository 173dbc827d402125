"""The hand-off slip (kind linkage_checklist) in every language, checked through `kiosk receipt --text`
and through the QR code decoded from the rendered image: the nine steps, the PIN each asks for,
this card's tries, the Mynaportal link, and no personal data."""

from __future__ import annotations

import pytest
import zxingcpp
from PIL import Image

from kiosk.cli import main
from kiosk.config import Config
from kiosk.nfc.sim.profile import load_profile

LANGS = ("ja", "en", "zh", "ko")
STEP_MARKS = {"ja": "①②③④⑤⑥⑦⑧⑨", "zh": "①②③④⑤⑥⑦⑧⑨", "ko": "①②③④⑤⑥⑦⑧⑨"}
TRIES = {"ja": ("あと 3 回（全 3 回）", "あと 5 回（全 5 回）"), "en": ("3 of 3 tries left", "5 of 5 tries left"),
         "zh": None, "ko": None}


def slip_text(capsys, lang: str, profile: str = "resident") -> str:
    assert main(["receipt", "--sample", "linkage_checklist", "--lang", lang, "--text", "--profile", profile]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("lang", LANGS)
def test_handoff_slip_has_the_nine_steps_with_their_pins_and_tries(lang, capsys):
    text = slip_text(capsys, lang)
    flat = text.replace("\n", "")
    if lang == "en":
        for n in range(1, 10):
            assert f"\n{n} " in text, n
    else:
        for mark in STEP_MARKS[lang]:
            assert mark in flat, mark
    from kiosk.guidance import Guide
    g = Guide(Config(), lang, None)
    for pin_id in ("jpki_auth", "jpki_sign"):
        assert g.pin_name(pin_id).replace(" ", "") in flat.replace(" ", ""), pin_id
    if TRIES[lang]:
        for tries in TRIES[lang]:
            assert tries.replace(" ", "") in flat.replace(" ", "")
    assert "[QR]" in text and Config().receipt.qr_mynaportal in flat


def test_handoff_slip_shows_a_locked_pin(capsys):
    assert "This card: LOCKED" in slip_text(capsys, "en", "jpki-locked").replace("\n", " ")


@pytest.mark.parametrize("lang", LANGS)
def test_handoff_qr_decodes_to_the_configured_link(lang, tmp_path, capsys):
    cfg_file = tmp_path / "kiosk.toml"
    cfg_file.write_text('[receipt]\nqr_mynaportal = "https://city.example.jp/mynaportal-app"\n', encoding="utf-8")
    out = tmp_path / f"handoff-{lang}.png"
    assert main(["receipt", "--preview", str(out), "--sample", "linkage_checklist", "--lang", lang,
                 "--config", str(cfg_file)]) == 0
    with Image.open(out) as img:
        found = [r.text for r in zxingcpp.read_barcodes(img.convert("L"))]
    assert found == ["https://city.example.jp/mynaportal-app"]


@pytest.mark.parametrize("lang", LANGS)
def test_handoff_slip_has_no_personal_data(lang, capsys):
    text = slip_text(capsys, lang)
    profile = load_profile("resident")
    for canary in profile.canaries:
        assert canary not in text
    assert profile.pins["jpki_auth"].value not in text and profile.pins["jpki_sign"].value not in text
