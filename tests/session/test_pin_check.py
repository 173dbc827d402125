"""The optional PIN check of the linkage readiness screen (issue #12), through the real UI.

The simulated card's own VERIFY log is the witness: no VERIFY with data while
the readiness screen is shown, exactly one per confirmed check, none when the
check is switched off or the counter is locked.  The VERIFY itself is the card
layer's ``CardSession.check_pin`` (every PIN rule applies there).
"""

from __future__ import annotations


import pytest

from kiosk.config import Config
from kiosk.display.scenario import run_scenario

from tests.display.helpers import TODAY, fake_linkage_factory

AUTH, SIGN = "2468", "KIOSK2025"


def readiness(profile="resident") -> list[str]:
    return [f"insert {profile}", "wait_screen summary", "tap btn_continue", "wait_screen menu",
            "tap item_linkage", "wait_screen linkage_preflight", "tap btn_pin_check",
            "wait_screen linkage_pin_check_choose"]


def run(steps, config=None):
    r = run_scenario(steps, config=config, today=lambda: TODAY, linkage_factory=fake_linkage_factory(),
                     gateway_available=False)
    assert r.ok, r.errors
    return r


def data_verifies(r, pin_id=None):
    return [v for v in r.cards[0].verifies if v.with_data and (pin_id is None or v.pin_id == pin_id)]


def typed(pin: str, keyboard=False) -> list[str]:
    return [f"tap {'kb_' if keyboard else 'key_'}{c}" for c in pin]


def test_readiness_spends_no_try_and_says_a_check_costs_one():
    r = run(readiness() + ["expect_widget btn_check_jpki_auth", "expect_widget btn_check_jpki_sign",
                           "expect_text 確認すると入力1回分を使います", "tap btn_check_jpki_auth",
                           "wait_screen linkage_pin_check",
                           "expect_text 間違えると残り回数が1回減ります",
                           "expect_text 利用者証明用電子証明書の暗証番号",
                           "tap btn_cancel", "wait_screen linkage_pin_check_choose"])
    assert data_verifies(r) == []


def test_one_confirmed_check_is_exactly_one_verify():
    r = run(readiness() + ["tap btn_check_jpki_auth", "wait_screen linkage_pin_check"] + typed(AUTH) +
            ["tap key_ok", "wait_screen linkage_pin_check_choose",
             "expect_text 利用者証明用の暗証番号：正しい暗証番号です"])
    assert [v.pin_id for v in data_verifies(r)] == ["jpki_auth"]


def test_the_signature_password_check_reads_its_expiry_in_the_same_verified_state():
    r = run(readiness() + ["tap btn_check_jpki_sign", "wait_screen linkage_pin_check"] + typed(SIGN, True) +
            ["tap key_ok", "wait_screen linkage_pin_check_choose", "expect_text 署名用のパスワード：正しい暗証番号です",
             "expect_text 有効期限"])
    assert [v.pin_id for v in data_verifies(r)] == ["jpki_sign"]
    assert r.cards[0].signatures == 0                  # a check never signs


def test_a_wrong_check_costs_one_try_shows_the_new_count_and_the_last_try_needs_a_second_ok():
    steps = readiness()
    for _ in range(2):
        steps += ["tap btn_check_jpki_auth", "wait_screen linkage_pin_check"] + typed("1111") + \
                 ["tap key_ok", "wait_screen linkage_pin_check_choose"]
    steps += ["expect_text 利用者証明用の暗証番号：違います（あと 1 回（全 3 回））",
              "tap btn_check_jpki_auth", "wait_screen linkage_pin_check"] + typed(AUTH) + \
             ["tap key_ok", "wait_screen linkage_pin_check"]
    r = run(steps)
    assert len(data_verifies(r, "jpki_auth")) == 2        # the last try is not spent on the first OK
    r = run(steps + ["tap key_ok", "wait_screen linkage_pin_check_choose"])
    assert len(data_verifies(r, "jpki_auth")) == 3


def test_no_check_when_switched_off():
    cfg = Config()
    cfg.linkage.pin_check = False
    r = run(readiness()[:-2] + ["expect_no_widget btn_pin_check"], config=cfg)
    assert data_verifies(r) == []


def test_never_a_pad_for_a_locked_counter():
    r = run(readiness("jpki-locked") + ["expect_text 利用者証明用の暗証番号：ロック中",    # a statement, no button
                                        "expect_no_widget btn_check_jpki_auth", "expect_widget btn_check_jpki_sign"])
    assert data_verifies(r) == []


class RecordingWorker:
    def __init__(self):
        self.commands = []

    def submit(self, cmd):
        self.commands.append(cmd)


@pytest.mark.parametrize("locked, enabled", [(True, True), (False, False)])
def test_the_session_itself_refuses_a_locked_or_disabled_check(locked, enabled):
    """Below the screens: a tap that reaches the session anyway sends nothing to the card."""
    from kiosk.nfc.model import PinCounter
    from tests.display.helpers import card_data, offline_session
    s = offline_session()
    status, _ = card_data("resident")
    s.status = status
    s.session_started = s.clock.now()
    s.cfg.linkage.pin_check = enabled
    s.resident.set_counter("jpki_auth", 0 if locked else 3, locked)
    assert s.status.pins["jpki_auth"] == PinCounter("jpki_auth", 0 if locked else 3, 3, locked)
    s.worker = RecordingWorker()
    s.go("linkage_preflight")
    assert s.tap("btn_pin_check") == enabled
    s.go("linkage_pin_check_choose")
    assert not s.tap("btn_check_jpki_auth") and s.screen == "linkage_pin_check_choose"
    s.go("linkage_pin_check")                 # even on the pad: OK never sends to a locked counter
    s.pin_id = "jpki_auth"
    for d in AUTH:
        s.tap(f"key_{d}")
    s.tap("key_ok")
    s.tap("key_ok")
    assert s.worker.commands == [] and s.pin_len == 0
