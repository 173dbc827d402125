"""A scenario on a real reader (physical mode): nothing of a real card reaches disk or stdout.

Physical mode is what ``reader_factory`` (``[reader] uri``) selects; here the
"real" reader is the simulated one handed over as such, with the card already
placed, so ``insert`` only waits for the session to see it (as with a person).
Checked: the ``--record`` lines mask the PIN keys, ``screenshot`` writes nothing,
and overflows carry no text.
"""

from __future__ import annotations

import json

from kiosk.display.scenario import ScenarioRunner
from kiosk.nfc.sim.reader import SimReader

from .helpers import TODAY

TO_LICENCE_PIN = ["insert resident", "wait_screen summary", "tap btn_continue", "wait_screen menu",
                  "tap item_licence", "wait_screen licence_pin"]
PIN_STEPS = ["tap key_1", "tap key_3", "key 5", "key 7", "key enter", "wait_screen licence"]


def physical_runner(tmp_path, **kwargs) -> ScenarioRunner:
    reader = SimReader()
    reader.insert("resident")                    # placed by "a person" before the step waits
    return ScenarioRunner(reader_factory=lambda: reader, today=lambda: TODAY, **kwargs)


def test_the_record_masks_pin_keys_and_screenshots_are_refused(tmp_path):
    out, shots = tmp_path / "hil.jsonl", tmp_path / "shots"
    runner = physical_runner(tmp_path, record=out, screenshots=shots)
    r = runner.run([*TO_LICENCE_PIN, *PIN_STEPS, "screenshot licence"])
    assert r.errors == ["screenshot: refused with a real reader ([reader] uri): "
                        "a real card's screens are not saved"]
    assert not shots.exists() and r.screenshots == []
    assert "licence" in r.screens_seen                  # the PIN was right: the card was read
    text = out.read_text(encoding="utf-8")
    lines = [json.loads(x)["line"] for x in text.splitlines()]
    assert lines[len(TO_LICENCE_PIN) + 1:] == ["tap key_\u2022", "tap key_\u2022", "key \u2022", "key \u2022",
                                               "key enter", "wait_screen licence", "screenshot licence"]
    assert not any(d in line for line in lines[len(TO_LICENCE_PIN) + 1:] for d in "1357")


def test_keyboard_taps_are_masked_and_other_steps_kept(tmp_path):
    runner = physical_runner(tmp_path)
    try:
        assert runner.shown("tap kb_K") == "tap kb_\u2022"           # linkage step 7's password
        assert runner.shown("key k") == "key \u2022"
        for kept in ("tap key_ok", "tap key_back", "tap key_clear", "key enter", "key backspace",
                     "tap btn_continue", "wait_screen linkage_7"):
            assert runner.shown(kept) == kept
    finally:
        runner.session.stop()


def test_overflows_carry_no_text_on_a_real_reader(tmp_path, monkeypatch):
    """A clipped widget is reported by id and length; its text (a real card's) never is."""
    import kiosk.display.app as app

    secret = "RESIDENTDATA" * 30                         # one unbreakable piece: clipped in the header
    real_build = app.build_view

    def build_view(session):
        view = real_build(session)
        if session.screen == "summary":
            view.get("title").text = secret
        return view

    monkeypatch.setattr(app, "build_view", build_view)
    runner = physical_runner(tmp_path)
    r = runner.run(TO_LICENCE_PIN[:2])
    assert r.ok, r.errors
    assert ("summary", "title", len(secret)) in r.overflows
    assert "RESIDENTDATA" not in json.dumps(r.overflows)
