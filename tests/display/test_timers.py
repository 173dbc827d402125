"""Time built for residents (ManualClock, no sleeping).

A resident who presses a key every 20 s, through the whole linkage and the
licence flow (over 6 minutes in all), is never timed out; one who stops gets
the full-screen "continue?" prompt, can carry on from where they were, and an
unanswered prompt ends the session with everything wiped.
"""

from __future__ import annotations

from kiosk.config import Config
from kiosk.display.scenario import run_scenario

from .helpers import TODAY, fake_linkage_factory

START = ["insert resident", "wait_screen summary"]
LINKAGE = [
    "tap btn_continue", "wait_screen menu", "tap item_linkage", "wait_screen linkage_1",
    "tap btn_next", "wait_screen linkage_2", "tap btn_next", "wait_screen linkage_3",
    "tap btn_next", "wait_screen linkage_4",
    "key 2", "key 4", "key 6", "key 8", "key enter", "wait_screen linkage_6",
    "tap btn_accept", "wait_screen linkage_7",
    "key k", "key i", "key o", "key s", "key k", "key 2", "key 0", "key 2", "key 5", "key enter",
    "wait_screen linkage_9", "tap btn_done", "wait_screen menu",
]
LICENCE = [
    "tap item_licence", "wait_screen licence_pin", "key 1", "key 3", "key 5", "key 7", "key enter",
    "wait_screen licence", "tap btn_toggle_number", "tap btn_back", "wait_screen menu",
    "tap item_pin_status", "wait_screen pin_status", "tap btn_back", "wait_screen menu",
]


def run(steps, **kw):
    kw.setdefault("today", lambda: TODAY)
    kw.setdefault("linkage_factory", fake_linkage_factory())
    kw.setdefault("gateway_available", True)
    return run_scenario(steps, **kw)


def every_20s(steps):
    """A key or tap, then 20 s of thinking, for every resident action."""
    out = []
    for line in steps:
        out.append(line)
        if line.split()[0] in ("tap", "key"):
            out.append("advance 20")
    return out


def test_a_key_every_20s_through_linkage_and_licence_is_never_timed_out():
    steps = START + every_20s(LINKAGE + LICENCE) + ["tap item_finish", "wait_screen take_card"]
    thinking = 20 * sum(1 for line in steps if line == "advance 20")
    assert thinking >= 360, thinking
    r = run(steps)
    assert r.ok, r.errors
    assert "timed_out" not in r.screens_seen and "still_there" not in r.screens_seen
    assert "linkage_9" in r.screens_seen and "licence" in r.screens_seen


def test_the_same_flows_with_the_old_180s_cap_would_end():
    """The check can fail: with a hard cap below the flow's length the resident is thrown out."""
    cfg = Config()
    cfg.timeouts.session_seconds = 180
    r = run(START + every_20s(LINKAGE + LICENCE), config=cfg)
    assert "timed_out" in r.screens_seen


def test_idle_resident_gets_the_prompt_then_the_session_ends():
    r = run(START + ["tap btn_continue", "wait_screen menu", "advance 89", "expect_no_widget btn_continue_session",
                     "advance 1", "wait_screen still_there", "expect_text 操作を続けますか？",
                     "expect_text あと 30 秒", "advance 10", "expect_text あと 20 秒", "advance 20",
                     "wait_screen timed_out", "remove", "wait_screen attract"])
    assert r.ok, r.errors
    s = r.session
    assert s.status is None and s.licence is None and not s.active
    assert "prompt" in r.sounds


def test_the_prompt_returns_to_where_the_resident_was():
    r = run(START + ["tap btn_continue", "wait_screen menu", "tap item_pin_status", "wait_screen pin_status",
                     "advance 90", "wait_screen still_there", "advance 25", "key enter",
                     "wait_screen pin_status", "expect_widget btn_back", "advance 89",
                     "expect_no_widget btn_continue_session", "advance 1", "wait_screen still_there",
                     "tap btn_finish_session", "wait_screen take_card"])
    assert r.ok, r.errors
    assert r.session.status is None


def typed_then_left(before_pad, pad, typed):
    """Play up to ``pad``, type ``typed``, then leave the pad alone past the PIN timer.
    Returns (pin_len while typed, session after the timeout, runner result)."""
    from kiosk.display.scenario import ScenarioRunner
    cfg = Config()
    cfg.timeouts.inactivity_seconds = 20           # shorter than the PIN timer: the prompt must not win
    runner = ScenarioRunner(config=cfg, today=lambda: TODAY, linkage_factory=fake_linkage_factory(),
                            gateway_available=True)
    s = runner.session
    s.start()
    try:
        for line in START + before_pad + [f"wait_screen {pad}"] + [f"key {c}" for c in typed]:
            runner.step(line)
        assert runner.result.ok, runner.result.errors
        held = s.pin_len
        assert any(s._pin)                         # the typed characters are in the buffer
        for line in ["advance 30", "wait_screen menu"]:
            runner.step(line)
        return held, s, runner.result
    finally:
        s.stop()


def test_the_pin_pad_has_its_own_timer_not_the_prompt():
    """On a PIN screen the shorter PIN timer applies: digits wiped, back to the menu, no prompt."""
    held, s, r = typed_then_left(["tap btn_continue", "wait_screen menu", "tap item_licence"],
                                 "licence_pin", "13")
    assert r.ok, r.errors
    assert held == 2
    assert s.pin_len == 0 and not any(s._pin)      # the typed digits are wiped, not just hidden
    assert "still_there" not in r.screens_seen and "timed_out" not in r.screens_seen


def test_the_signature_password_pad_times_out_the_same_way():
    """Linkage step 7 (alphanumeric password): wiped too, the linkage cancelled, back to the menu."""
    to_step_7 = LINKAGE[:LINKAGE.index("wait_screen linkage_7")]
    held, s, r = typed_then_left(to_step_7, "linkage_7", "kiosk2")
    assert r.ok, r.errors
    assert held == 6
    assert s.pin_len == 0 and not any(s._pin)
    assert s.linkage == {}
    assert "linkage_8" not in r.screens_seen and "still_there" not in r.screens_seen


def test_the_pin_cleared_notice_also_fits_the_alphanumeric_password():
    """Linkage step 7's signature password has letters: the notice says what was typed, not digits."""
    from kiosk.i18n import catalog
    expected = {"ja": "入力した内容", "en": "what you typed", "zh": "输入的内容", "ko": "입력한 내용"}
    for lang, phrase in expected.items():
        text = catalog("ui", lang).text("still_there.pin_cleared")
        assert phrase in text, (lang, text)
        assert not any(w in text for w in ("digit", "数字", "숫자")), (lang, text)
