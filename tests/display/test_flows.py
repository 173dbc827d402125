"""Every flow of the leaflet, played through the scenario runner on the simulated card.

The card worker, the card layer and the simulated card are real; only time
(ManualClock) and the edges (printer, linkage gateway) are faked.
"""

from __future__ import annotations

import pytest

from kiosk.display.scenario import run_scenario

from .helpers import TODAY, FakePrinter, fake_linkage_factory, fake_receipt_builder

START = ["insert {p}", "wait_screen summary", "tap btn_continue", "wait_screen menu"]


def start(profile: str) -> list[str]:
    return [s.format(p=profile) for s in START]


def run(steps, **kw):
    kw.setdefault("today", lambda: TODAY)
    r = run_scenario(steps, **kw)
    assert r.ok, r.errors
    return r


def data_verifies(card, pin_id=None):
    return [v for v in card.verifies if v.with_data and (pin_id is None or v.pin_id == pin_id)]


def test_pin_status_in_words_residents_know():
    """One name per PIN, with what it is for, and the tries; the rest on the next pages.

    Every page's content is checked for every card in tests/guidance/test_facts.py."""
    r = run(start("jpki-locked") + [
        "tap item_pin_status", "wait_screen pin_status", "expect_text 残り回数の確認だけでは、回数は減りません",
        "expect_text マイナ免許証の暗証番号（数字4桁）【免許情報の読み取り用】：あと 10 回（全 10 回）",
        "expect_text 利用者証明用電子証明書の暗証番号（数字4桁）【ログイン・連携の手順④用】：ロック中",
        "expect_text 1/", "tap page_next_guide", "expect_text 2/",
        "tap page_prev_guide", "expect_text 1/",
    ])
    assert not data_verifies(r.cards[0])          # reading counters spends no try

def test_locked_licence_pin_guidance_names_the_police_never_phone():
    r = run(start("licence-locked") + [
        "tap item_pin_status", "tap page_next_guide", "tap page_next_guide", "expect_text 試験場や警察署等",
        "expect_text 電話での暗証番号の回答は行っていません",
        "tap btn_back", "tap item_licence", "wait_screen licence_locked",
        "expect_no_widget key_ok", "expect_no_widget key_1", "expect_text 試験場や警察署等",
    ])
    assert not data_verifies(r.cards[0])          # refused with 0 VERIFY carrying data

def test_licence_read_with_one_verify():
    r = run(start("resident") + [
        "tap item_licence", "wait_screen licence_pin", "expect_text あと 10 回（全 10 回）",
        "expect_no_widget warn", "tap key_1", "tap key_3", "tap key_5",
        "expect_text ●●●○", "tap key_7", "tap key_ok", "wait_screen licence",
        "expect_text 有効期限：令和9年6月15日", "expect_text 更新期間：令和9年4月15日〜令和9年6月15日",
        "expect_text 区分：優良", "expect_no_text オンライン更新時講習を受けられます",
        "expect_text 種類：普通・普自二", "expect_text 条件等：眼鏡等", "tap page_next_guide",
        "expect_text マイナポータルと連携した方", "expect_no_text 種類：普通・普自二", "tap page_prev_guide",
        "expect_no_text 912345678901", "tap btn_toggle_number", "expect_text 912345678901",
        "tap btn_toggle_number", "expect_no_text 912345678901", "expect_widget photo",
    ])
    assert len(data_verifies(r.cards[0], "licence")) == 1
    assert r.session.licence is None              # wiped at the end of the scenario


def test_wrong_pin_shows_new_count_and_warns():
    r = run(start("resident") + [
        "tap item_licence", "wait_screen licence_pin",
        "tap key_1", "tap key_1", "tap key_1", "tap key_1", "tap key_ok",
        "expect_text 暗証番号が違います。あと 9 回（全 10 回）", "expect_text あと 9 回（全 10 回）",
        "expect_text ○○○○",
    ])
    assert len(data_verifies(r.cards[0], "licence")) == 1
    assert r.cards[0].pin_tries("licence") == 9


def test_last_try_warning_shown_before_the_pad_is_used():
    run(start("licence-last-try") + [
        "tap item_licence", "wait_screen licence_pin", "expect_text あと 1 回（全 10 回）",
        "expect_text 最後の1回です", "expect_widget warn",
    ])


def test_wrong_last_try_locks_and_shows_guidance():
    r = run(start("licence-last-try") + [
        "tap item_licence", "wait_screen licence_pin",
        "key 9", "key 9", "key 9", "key 9", "key enter", "expect_text もう一度 OK",
        "key enter", "wait_screen licence_locked",
        "expect_text 試験場・警察署",
    ])
    assert len(data_verifies(r.cards[0], "licence")) == 1


def test_last_try_needs_a_second_ok_and_editing_disarms_it():
    r = run(start("licence-last-try") + [
        "tap item_licence", "wait_screen licence_pin",
        "key 9", "key 9", "key 9", "key 9", "tap key_ok", "expect_text もう一度 OK",
        "tap key_back", "key 8", "tap key_ok", "expect_text もう一度 OK",
    ])
    assert data_verifies(r.cards[0], "licence") == [], "the last try was spent without a second OK"
    assert r.cards[0].pin_tries("licence") == 1


def test_no_pin_card_shows_no_pad():
    r = run(start("licence-no-pin") + ["tap item_licence", "wait_screen licence", "expect_text 区分：一般"])
    assert "licence_pin" not in r.screens_seen


def test_plain_card_has_no_licence_item_but_a_note():
    """No licence to show; the linkage item stays, so the readiness check can say what it needs first."""
    run(start("myna-plain") + [
        "expect_no_widget item_licence", "expect_widget item_linkage", "expect_widget item_pin_status",
        "expect_text このカードには免許情報が記録されていない", "tap item_pin_status",
        "expect_no_text 免許証の暗証番号", "expect_text あと 2 回（全 3 回）",
    ])


def test_ic_licence_offers_what_applies_to_it():
    """The licence, its PIN1/PIN2 status, renewal and lost-card help; no Mynaportal linkage."""
    r = run(start("ic-licence") + [
        "expect_widget item_licence", "expect_widget item_finish", "expect_widget item_pin_status",
        "expect_widget item_renewal", "expect_widget item_lost_card", "expect_no_widget item_linkage", "tap item_licence", "wait_screen licence_pin",
        "tap key_1", "tap key_1", "tap key_1", "tap key_1", "tap key_ok", "wait_screen licence",
        "expect_text 区分：一般",
    ])
    assert len(data_verifies(r.cards[0], "ic_pin1")) == 1


def test_renewal_guidance_is_personalised():
    """What this card shows comes first; the conditions follow (all pages: tests/guidance/test_facts.py)."""
    run(start("resident") + [
        "tap item_renewal", "expect_text 利用者証明用電子証明書の有効期限：2029年5月2日",
        "expect_text このカードには署名用電子証明書があります", "expect_no_text 免許証番号を正しく入力する",
        "tap page_next_guide", "expect_text 有効期限通知書", "expect_no_text 免許証番号を正しく入力する",
    ])
    run(start("minor") + ["tap item_renewal", "expect_text このカードには署名用電子証明書がありません"])
    run(start("cert-expired") + ["tap item_renewal", "expect_text 電子証明書の有効期限が切れています"])
    run(start("myna-plain") + ["tap item_renewal", "expect_text このカードには免許情報が記録されていません",
                               "expect_no_text 1 オンライン申請"])

def test_lost_card_guidance():
    run(start("resident") + [
        "tap item_lost_card", "expect_text 0120-95-0178", "expect_text 0120-0178-27",
        "expect_text 24時間365日", "tap page_next_guide", "expect_text 再発行", "tap page_next_guide",
        "expect_text 1,500円",
        "expect_text 3×2.4cm", "expect_text 6か月以内", "tap page_next_guide", "expect_text 従来の運転免許証", "expect_text 免許申請係",
        "expect_no_text 遺失届",
    ])


def test_lost_card_help_needs_no_card_and_prints():
    """From the attract screen, without a card: the help, its slip, then back to the start."""
    printer = FakePrinter(True)
    run(["tap btn_lost_card", "wait_screen lost_card", "expect_text 0120-95-0178", "tap btn_print",
         "advance 0.1", "expect_text 印刷しました", "tap btn_back", "wait_screen attract"],
        printer=printer, receipt_builder=fake_receipt_builder)
    assert [p["kind"] for p in printer.submitted] == ["lost_card"]

def test_finish_asks_for_the_card_until_it_is_removed():
    r = run(start("resident") + [
        "tap item_finish", "wait_screen take_card", "expect_text カードをお取りください",
        "advance 10", "expect_text カードをお取りください", "remove", "wait_screen attract",
    ])
    assert r.sounds.count("take_card") >= 2        # the chime repeats while the card stays
    assert not r.cards[0].powered                  # unpowered between residents


def test_unknown_card_is_refused_clearly():
    run(["insert unknown", "wait_screen card_error", "expect_text このカードには対応していません",
         "remove", "wait_screen attract"])


def test_language_choice_and_reset_for_next_resident():
    run(["tap lang_en", "expect_text Please place your card on the reader"] + start("resident") + [
        "expect_text Licence details", "tap item_pin_status", "expect_text 10 of 10 tries left",
        "tap btn_back", "tap item_finish", "wait_screen take_card", "remove", "wait_screen attract",
        "expect_text カードをリーダーに置いてください",
    ])
    run(["tap lang_ko", "expect_text 카드를 리더기에 올려 주세요", "tap lang_zh", "expect_text 请将卡片放在读卡器上"])


def test_large_text_switch():
    r = run(["tap btn_large_text", "expect_text カードをリーダーに置いてください"])
    assert r.session.large_text is False            # reset at the end (wipe)


def test_print_slip_success_and_failure():
    ok = FakePrinter(ok=True)
    run(start("resident") + ["tap item_pin_status", "tap btn_print", "wait_screen pin_status",
                             "advance 0.1", "expect_text 印刷しました"],
        printer=ok, receipt_builder=fake_receipt_builder)
    assert ok.submitted == [{"kind": "pin_status", "lang": "ja"}]
    bad = FakePrinter(ok=False)
    run(start("resident") + ["tap item_lost_card", "tap btn_print", "advance 0.1",
                             "expect_text 印刷できません。窓口の係員にお尋ねください。",
                             "tap btn_back", "wait_screen menu", "tap item_pin_status"],
        printer=bad, receipt_builder=fake_receipt_builder)


def test_no_print_button_without_printer():
    run(start("resident") + ["tap item_pin_status", "expect_no_widget btn_print"])


# -- linkage -----------------------------------------------------------------------

def linkage_steps(auth="2468", sign="KIOSK2025"):
    steps = start("resident") + ["tap item_linkage", "wait_screen linkage_1", "expect_text 1/9",
                                 "tap btn_next", "wait_screen linkage_2", "expect_text 2/9",
                                 "tap btn_next", "wait_screen linkage_3", "expect_text 3/9",
                                 "tap btn_next", "wait_screen linkage_4", "expect_text 4/9",
                                 "expect_text あと 3 回（全 3 回）"]
    steps += [f"tap key_{d}" for d in auth] + ["tap key_ok", "wait_screen linkage_6", "expect_text 6/9",
                                               "expect_text 第1条", "tap btn_terms_next", "tap btn_accept",
                                               "wait_screen linkage_7", "expect_text 7/9"]
    steps += [f"tap kb_{c}" for c in sign] + ["tap key_ok", "wait_screen linkage_9", "expect_text 9/9",
                                              "expect_text REF-0001"]
    return steps


def test_linkage_nine_screens_with_progress():
    r = run(linkage_steps() + ["tap btn_done", "wait_screen menu"], linkage_factory=fake_linkage_factory(),
            gateway_available=True)
    card = r.cards[0]
    assert [v.pin_id for v in data_verifies(card)] == ["jpki_auth", "jpki_sign"]
    assert card.signatures == 2
    for n in (1, 2, 3, 4, 5, 6, 7, 8, 9):
        assert f"linkage_{n}" in r.screens_seen


def test_linkage_password_keyboard_is_upper_case_and_keypad_typed():
    steps = linkage_steps(sign="")[:-4]
    steps += ["key k", "key i", "key o", "key s", "key k", "key 2", "key 0", "key 2", "key 5",
              "expect_text 9 文字入力済み", "key enter", "wait_screen linkage_9"]
    r = run(steps, linkage_factory=fake_linkage_factory(), gateway_available=True)
    assert r.cards[0].pin_tries("jpki_sign") == 5


@pytest.mark.parametrize("step", [1, 2, 3, 4, 6, 7])
def test_linkage_cancel_on_every_step(step):
    steps = linkage_steps()
    cut = steps.index(f"wait_screen linkage_{step}") + 1
    r = run(steps[:cut] + ["tap btn_cancel", "wait_screen menu"], linkage_factory=fake_linkage_factory(),
            gateway_available=True)
    assert r.screens_seen[-1] == "menu" or "menu" in r.screens_seen[cut:]


def test_linkage_wrong_auth_pin_shows_count():
    steps = linkage_steps(auth="1111")
    cut = steps.index("wait_screen linkage_6")
    r = run(steps[:cut] + ["wait_screen linkage_4", "expect_text 暗証番号が違います。あと 2 回（全 3 回）"],
            linkage_factory=fake_linkage_factory(), gateway_available=True)
    assert r.cards[0].pin_tries("jpki_auth") == 2


def test_linkage_preflight_refusal_and_checklist_slip():
    from .helpers import FakeProblem
    printer = FakePrinter(ok=True)
    r = run(start("resident") + ["tap item_linkage", "wait_screen linkage_preflight",
                                 "expect_text このままでは連携できません",
                                 "expect_text 署名用電子証明書がありません", "expect_text 市区町村の窓口",
                                 "tap btn_print", "advance 0.1", "expect_text 印刷しました", "tap btn_back",
                                 "wait_screen menu"],
            linkage_factory=fake_linkage_factory(problems=[FakeProblem("no_sign_cert", "municipality")]),
            gateway_available=True, printer=printer, receipt_builder=fake_receipt_builder)
    assert printer.submitted[0]["kind"] == "linkage_checklist"
    assert not data_verifies(r.cards[0])


def test_linkage_without_gateway_offers_the_app_route():
    """No gateway: readiness from the facts already read (no VERIFY), then the official app's nine steps."""
    r = run(start("resident") + ["expect_text マイナポータル連携の準備と手順", "tap item_linkage",
                                 "wait_screen linkage_preflight", "expect_text 暗証番号を入力しません",
                                 "tap page_next_guide", "expect_text 連携の準備ができています",
                                 "tap page_next_guide", "expect_text 引っ越しや氏名の変更",
                                 "tap page_next_guide", "tap page_next_guide", "tap page_next_guide",
                                 "expect_text ④ マイナンバーカードの暗証番号（4桁の数字）を入力する",
                                 "expect_text マイナ免許証の暗証番号（4桁）とは別の番号です"],
            linkage_factory=fake_linkage_factory(), gateway_available=False, config=_no_pin_check())
    assert not data_verifies(r.cards[0])


def _no_pin_check():
    """The optional PIN check's row (tests/session/test_pin_check.py) off: the guidance pages as before."""
    from kiosk.config import Config
    cfg = Config()
    cfg.linkage.pin_check = False
    return cfg

def test_renewal_warns_when_expiry_is_near():
    import datetime as dt
    run(start("resident") + ["tap item_renewal",
                             "expect_text 利用者証明用電子証明書の有効期限が近づいています（2029年5月2日）"],
        today=lambda: dt.date(2029, 3, 1))
    run(start("resident") + ["tap item_renewal", "expect_no_text 近づいています"])
    # An unsynchronised clock: the dates only, and no judgment.
    run(start("resident") + ["tap item_renewal", "expect_text 利用者証明用電子証明書の有効期限：2029年5月2日",
                             "expect_text 今日の日付を確かめられない", "expect_no_text 近づいています"],
        today=lambda: None)
