"""The hand-off slip (linkage_checklist) for every shipped linkage profile in every language:
`kiosk receipt --text` shows the nine steps, beside steps 4 and 7 the PIN each asks for with
THIS card's tries, the Mynaportal link; the rendered slip's QR decodes to it; no personal data.
(tests/printer/test_handoff_slip.py covers the resident card; this completes it per profile.)"""

from __future__ import annotations

import pytest
import zxingcpp
from PIL import Image

from kiosk.cli import main
from kiosk.config import LANGUAGES, Config
from kiosk.guidance import Guide
from kiosk.nfc.sim.profile import load_profile
from kiosk.printer.sample import read_sample

LANGS = LANGUAGES                 # every language the kiosk supports
PROFILES = ("resident", "jpki-locked", "cert-expired", "licence-locked", "myna-plain", "jpki-distinct-cn")
MARKS = "①②③④⑤⑥⑦⑧⑨"
LINK = "https://city.example.jp/mynaportal-app"


def flat(text: str) -> str:
    return "".join(text.split())


def steps(lang: str) -> list[str]:
    numbered = lang in ("en", "vi", "ne", "pt_BR", "fil")     # "1 Press ..." rather than "① ..."
    return [f"\n{n} " for n in range(1, 10)] if numbered else [f"\n{m}" for m in MARKS]


@pytest.fixture(scope="module")
def slips():
    """(lang, profile) -> the slip's text, printed once by `kiosk receipt --text`."""
    cache: dict[tuple[str, str], str] = {}

    def get(lang: str, profile: str, capsys) -> str:
        if (lang, profile) not in cache:
            capsys.readouterr()
            assert main(["receipt", "--sample", "linkage_checklist", "--lang", lang, "--text",
                         "--profile", profile]) == 0
            cache[lang, profile] = capsys.readouterr().out
        return cache[lang, profile]
    return get


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("profile", PROFILES)
def test_nine_steps_in_order_with_the_pin_and_this_cards_tries_beside_steps_4_and_7(slips, capsys, lang, profile):
    text = slips(lang, profile, capsys)
    at: list[int] = []
    for mark in steps(lang):                  # each step after the one before it
        at.append(text.find(mark, at[-1] + 1 if at else 0))
        assert at[-1] != -1, (mark, at)
    status, _ = read_sample(profile)
    g = Guide(Config(), lang, None)
    for step, pin_id in ((4, "jpki_auth"), (7, "jpki_sign")):
        between = flat(text[at[step - 1]:at[step]])
        assert flat(g.pin_name(pin_id)) in between, (step, pin_id)
        assert flat(g.tries(status.pins[pin_id])) in between, (step, pin_id, g.tries(status.pins[pin_id]))
    assert "[QR]" in text and Config().receipt.qr_mynaportal in flat(text)


def test_the_tries_shown_are_the_cards_not_a_constant(slips, capsys):
    locked = flat(slips("en", "jpki-locked", capsys))
    fresh = flat(slips("en", "resident", capsys))
    assert flat("This card: LOCKED") in locked and flat("This card: LOCKED") not in fresh


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("profile", PROFILES)
def test_no_personal_data_on_the_slip(slips, capsys, lang, profile):
    text = slips(lang, profile, capsys)
    for canary in load_profile(profile).canaries:
        assert canary not in text and flat(canary) not in flat(text)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("profile", ["jpki-locked", "cert-expired", "myna-plain"])
def test_the_rendered_qr_decodes_to_the_configured_link(tmp_path, lang, profile):
    cfg_file = tmp_path / "kiosk.toml"
    cfg_file.write_text(f'[receipt]\nqr_mynaportal = "{LINK}"\n', encoding="utf-8")
    out = tmp_path / f"handoff-{profile}-{lang}.png"
    assert main(["receipt", "--preview", str(out), "--sample", "linkage_checklist", "--lang", lang,
                 "--profile", profile, "--config", str(cfg_file)]) == 0
    with Image.open(out) as img:
        assert [r.text for r in zxingcpp.read_barcodes(img.convert("L"))] == [LINK]
