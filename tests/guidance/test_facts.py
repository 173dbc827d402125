"""Every guidance screen and slip, for every shipped card, states the leaflet's facts for its
topic and nothing that contradicts them: checked in Japanese and English, on screen AND slip."""

from __future__ import annotations

import pytest

from kiosk.guidance import Guide
from kiosk.nfc.model import LicenceData

from .conftest import PROFILES, card, guidance_screens, screen_pages, screen_text, session, slip_for

# topic -> language -> (facts that must be there, phrases that must not)
FACTS = {
    "lost_card": {
        "ja": (["0120-95-0178", "24時間365日", "0120-0178-27", "一時停止", "再発行", "試験場や警察署等",
                "1,500円", "3×2.4cm", "6か月以内", "従来の運転免許証", "別途手数料", "免許申請係"],
               ["遺失届", "盗難届", "受理番号"]),
        "en": (["0120-95-0178", "24 hours, 365 days", "0120-0178-27", "suspended", "new card",
                "driving licence centre or police station", "¥1,500", "3 × 2.4 cm", "within 6 months",
                "conventional licence", "separate fee", "免許申請係"],
               ["police report", "report number"]),
    },
    "renewal_licence": {
        "ja": (["1 オンライン申請", "2 署名用電子証明書の発行を希望する", "オンライン申請サイト",
                "引き継がれません", "試験場や警察署等", "1,500円", "有効期限通知書"],
               ["免許証番号を正しく入力", "市民課でカードの更新を申請"]),
        "en": (["Apply online", "Ask for a signature certificate", "online application site",
                "will not carry the licence data", "driving licence centre or police station", "¥1,500"],
               ["Type your licence number"]),
    },
    "renewal_plain": {
        "ja": (["免許情報が記録されていません", "有効期限通知書"], ["1 オンライン申請"]),
        "en": (["No licence data is recorded", "expiry notice"], ["Apply online"]),
    },
    "pin_status": {
        "ja": (["残り回数の確認だけでは、回数は減りません"], ["署名用電子証明書のパスワード"]),
        "en": (["does not use a try"], ["Signature certificate password"]),
    },
    "licence": {
        "ja": (["有効期限：", "更新期間：", "マイナポータルと連携した方", "更新期間に受講できます", "優良・一般に限る",
                "連携したかどうかは、この端末ではわかりません"],
               ["オンライン更新時講習を受けられます", "初回", "講習は会場で"]),
        "en": (["Valid until:", "Renewal period:", "have linked Mynaportal", "during the renewal period",
                "Excellent and General categories only", "cannot tell whether you have linked"],
               ["You can take the renewal lecture online", "(初回)"]),
    },
    "handoff": {
        "ja": (["スマートフォンなど対応可能な端末で", "① 「連携をはじめる」を押す", "② 内容を確認して「連携」を押す",
                "③ 同意確認をした後、読み取り準備をする", "④ マイナンバーカードの暗証番号（4桁の数字）を入力する",
                "マイナ免許証の暗証番号（4桁）とは別の番号です", "⑤ マイナンバーカードを読み取り、読み取った情報を送信する",
                "⑥ 利用規約を確認し、同意する", "⑦ 署名用電子証明書の暗証番号（6〜16桁の英数字が混在したもの）を入力する",
                "⑧ マイナンバーカードを読み取る", "⑨ 連携を完了する", "引っ越しや氏名の変更", "発行したばかり",
                "暗証番号を入力しません"],
               ["ご用意いただくもの", "□ "]),
        "en": (["smartphone or another device", "1 Press", "4 Enter the My Number Card PIN (4 digits)",
                "NOT the licence PIN", "7 Enter the signature certificate password (6–16 letters and digits)",
                "9 Finish the linkage", "moved or changed your name", "issued only just now", "asks for no PIN"],
               ["Please have ready", "□ "]),
    },
}
PIN_WORDS = {"ja": {"licence": "マイナ免許証の暗証番号（数字4桁）", "jpki_auth": "利用者証明用電子証明書の暗証番号（数字4桁）",
                    "jpki_sign": "署名用電子証明書の暗証番号（英数字6〜16桁）"},
             "en": {"licence": "Licence PIN of the マイナ免許証 (4 digits)", "jpki_auth": "User-authentication PIN",
                    "jpki_sign": "Signature password"}}
def topic_of(profile: str, screen: str) -> str:
    status, _ = card(profile)
    if screen == "renewal":
        return "renewal_licence" if status.licence_present else "renewal_plain"
    return {"linkage_preflight": "handoff"}.get(screen, screen)


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("surface", ["screen", "slip"])
@pytest.mark.parametrize("profile,screen", guidance_screens())
def test_the_leaflet_facts_and_nothing_against_them(profile, screen, surface, lang):
    s = session(profile, screen, lang)
    text = screen_text(s) if surface == "screen" else "\n".join(slip_for(s).lines)
    must, never = FACTS[topic_of(profile, screen)][lang]
    missing = [f for f in must if f not in text]
    assert not missing, f"{profile}/{screen}/{surface}/{lang} lacks {missing}"
    wrong = [f for f in never if f in text]
    assert not wrong, f"{profile}/{screen}/{surface}/{lang} says {wrong}"


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("surface", ["screen", "slip"])
@pytest.mark.parametrize("profile", [p for p in PROFILES if card(p)[0].card_type != "ic_licence"])
def test_pin_status_names_each_pin_once_and_where_to_unlock(profile, surface, lang):
    status, _ = card(profile)
    s = session(profile, "pin_status", lang)
    text = screen_text(s) if surface == "screen" else "\n".join(slip_for(s).lines)
    for pin_id, words in PIN_WORDS[lang].items():
        if pin_id in status.pins:
            assert words in text, (profile, pin_id)
    locked = status.locked_pins
    if "licence" in locked:
        assert ("試験場や警察署等" if lang == "ja" else "driving licence centre or police station") in text
        assert ("電話での暗証番号の回答は行っていません" if lang == "ja" else "never given out by phone") in text
    if any(p in locked for p in ("jpki_auth", "jpki_sign", "kenhojo", "juki")):
        assert ("お住まいの市区町村の窓口" if lang == "ja" else "city office") in text
    if "licence" in status.pins:
        assert ("10回連続" if lang == "ja" else "10 wrong entries in a row") in text


def test_lost_card_help_is_the_same_without_a_card():
    def guidance(s) -> str:          # the help itself; the footer offers Finish only with a card
        return "\n".join(w.text for v in screen_pages(s) for w in v.widgets
                         if w.text and not w.hidden and w.kind != "button")
    with_card = guidance(session("resident", "lost_card", "ja"))
    without = guidance(session(None, "lost_card", "ja"))
    assert with_card == without and "1,500円" in without


@pytest.mark.parametrize("lang,term", [("en", "New (新規)"), ("ja", "区分：新規"), ("zh", "新規"), ("ko", "新規")])
def test_colour_new_is_not_first_time(lang, term, cfg):
    lic = LicenceData("myna_licence", colour_class="新規")
    text = "\n".join(i.text for i in Guide(cfg, lang, None).licence(lic))
    assert term in text and "初回" not in text


def test_classes_and_conditions_are_translated_with_the_japanese_beside(cfg):
    _, lic = card("resident")
    text = "\n".join(i.text for i in Guide(cfg, "en", None).licence(lic))
    assert "Ordinary vehicle (普通)" in text and "Ordinary motorcycle (普自二)" in text
    assert "Glasses or contact lenses (眼鏡等)" in text
    ja = "\n".join(i.text for i in Guide(cfg, "ja", None).licence(lic))
    assert "種類：普通・普自二" in ja and "条件等：眼鏡等" in ja
