"""The session's explicit tables: screens are an enum, answers have types, the resident is one object."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kiosk.session import Screen
from kiosk.session.messages import Answer, LicenceRead

from tests.display.helpers import card_data, offline_session


def test_an_unknown_screen_name_raises():
    s = offline_session()
    with pytest.raises(ValueError):
        s.go("no_such_screen")
    assert s.screen is Screen.ATTRACT


@dataclass(frozen=True)
class Stray(Answer):
    pass


def test_an_answer_of_an_unknown_type_is_journaled_not_ignored(journal_records):
    s = offline_session()
    s.inbox.put(Stray(s.gen))
    assert s.pump()
    errors = [r for r in journal_records if r.get("ERROR_CODE") == "unknown_answer"]
    assert errors and errors[0]["DETAIL"] == "Stray"


def test_a_dropped_licence_answer_is_wiped():
    s = offline_session()
    _, lic = card_data("resident", "1357")
    s.inbox.put(LicenceRead(s.gen + 1, lic))           # a card that has left
    s.pump()
    assert lic.expiry is None and lic.licence_number is None


def test_the_resident_is_one_object_dropped_on_wipe():
    s = offline_session()
    status, lic = card_data("resident", "1357")
    s.status, s.licence = status, lic
    s.session_started = s.clock.now()
    resident = s.resident
    assert resident is not None and resident.status is status and s.active
    s.wipe()
    assert s.resident is None and not s.active and s.status is None and s.licence is None
    assert lic.licence_number is None                   # wiped, not just forgotten
    assert dict(s.linkage) == {}
    with pytest.raises(TypeError):
        s.linkage["step"] = 1                           # nobody there: nothing may be written


def test_a_counter_update_replaces_the_status_snapshot():
    s = offline_session()
    status, _ = card_data("resident")
    s.status = status
    s.resident.set_counter("jpki_auth", 1, False)
    assert s.status is not status and status.pins["jpki_auth"].tries_left == 3
    assert s.status.pins["jpki_auth"].tries_left == 1


class FakeGuide:
    def __init__(self):
        self.on, self.calls = False, []

    def set_on(self, on, lang="ja"):
        self.calls.append((on, lang))
        self.on = on


def test_the_voice_button_and_key_switch_the_guide():
    s = offline_session(lang="en")
    s.voice = FakeGuide()
    assert s.tap("btn_voice")
    assert s.key("v")
    assert s.voice.calls == [(True, "en"), (False, "en")]


def test_without_a_voice_the_button_says_so():
    s = offline_session()
    s.voice = None
    assert s.tap("btn_voice") and s.notice == ("nav.voice_unavailable", {})


def test_the_print_notice_stays_on_the_screen_it_was_printed_from():
    import threading

    from tests.display.helpers import FakePrinter, fake_receipt_builder
    woke = threading.Event()
    s = offline_session(printer=FakePrinter(ok=True), receipt_builder=fake_receipt_builder, on_wake=woke.set)
    status, _ = card_data("resident")
    s.status = status
    s.session_started = s.clock.now()
    s.go("pin_status")
    assert s.tap("btn_print") and s.notice == ("receipt.printing", {})
    assert woke.wait(5)
    s.pump()
    assert s.notice == ("receipt.done", {})
    s.go("menu")
    assert s.notice is None
    # Printed, then left at once: the answer arrives on another screen and is not shown there.
    s.go("renewal")
    woke.clear()
    s.tap("btn_print")
    s.go("menu")
    assert woke.wait(5)
    s.pump()
    assert s.notice is None
