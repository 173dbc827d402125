"""Pull the card after every APDU index, on both paths, for every operation.

Each time: a typed card_removed, no PIN sent twice, and the same card placed
again works normally.  The card leaves by dropping the link (vpcd: the socket
closes; nfc-udp: the tag sends RFOFF), so the only waits are pcscd noticing
the empty slot and the new card.
"""

from __future__ import annotations

import pytest

from kiosk.errors import CardRemovedError
from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.card import Faults
from kiosk.nfc.sim.reader import SimReader

pytestmark = pytest.mark.timeout(300)


def op_status(session):
    session.read_status()


def op_licence(session):
    session.read_licence(Pin("licence", "1357"))


def op_auth_sign(session):
    session.jpki_sign("auth", Pin("jpki_auth", "2468"), b"login challenge")


def op_sign_with_certificate(session):
    with session.jpki_key("sign", Pin("jpki_sign", "KIOSK2025")) as key:
        key.certificate()
        key.sign(b"application form")


OPERATIONS = {
    "status": (op_status, None),
    "licence": (op_licence, "licence"),
    "auth_sign": (op_auth_sign, "jpki_auth"),
    "sign_with_certificate": (op_sign_with_certificate, "jpki_sign"),
}


def apdus_needed(op) -> int:
    reader = SimReader()
    card = reader.insert("resident")
    with CardSession(reader.connect()) as session:
        op(session)
    return card.apdu_count


def pin_sends(records) -> int:
    return sum(1 for v in records if v.with_data)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_yank_after_every_apdu(card_path, operation):
    op, pin_id = OPERATIONS[operation]
    total = apdus_needed(op)
    assert total >= 2
    card = card_path.insert("resident", Faults(remove_after=0))
    for answered in range(total):
        if answered:
            card.set_faults(Faults(remove_after=answered))
        before = len(card.verifies)
        tries = card.pin_tries(pin_id) if pin_id else None
        session = CardSession(card_path.reader.connect())
        with pytest.raises(CardRemovedError) as err:
            op(session)
        session.close()                                  # closing a yanked card never raises
        assert err.value.code == "card_removed", answered
        assert card.gone and card.apdu_count == answered
        assert pin_sends(card.verifies[before:]) <= 1, f"PIN sent twice when pulled after {answered}"
        if pin_id:
            assert card.pin_tries(pin_id) == tries    # the right PIN never costs a try
        card_path.settle_after_yank()

        # The same card placed again works normally, with exactly one VERIFY.
        card = card_path.insert(card)
        before = len(card.verifies)
        with CardSession(card_path.reader.connect()) as session:
            op(session)
        assert pin_sends(card.verifies[before:]) == (1 if pin_id else 0)
        assert card.apdu_count == total


def test_yank_of_an_ic_licence_status(card_path):
    reader = SimReader()
    ref = reader.insert("ic-licence")
    with CardSession(reader.connect()) as session:
        session.read_status()
    total = ref.apdu_count
    card = card_path.insert("ic-licence", Faults(remove_after=0))
    for answered in range(total):
        if answered:
            card.set_faults(Faults(remove_after=answered))
        with pytest.raises(CardRemovedError):
            with CardSession(card_path.reader.connect()) as session:
                session.read_status()
        card_path.settle_after_yank()
        card = card_path.insert(card)
        with CardSession(card_path.reader.connect()) as session:
            assert session.read_status().card_type == "ic_licence"


def test_a_lost_answer_to_verify_is_card_removed_and_the_pin_is_not_resent(card_path):
    """The card counted the wrong PIN but its answer never arrived: the kiosk
    reports card_removed, and the next session reads the counter instead of
    trying again."""
    reader = SimReader()
    ref = reader.insert("resident")
    with CardSession(reader.connect()) as session:
        session.read_licence(Pin("licence", "1357"))
    verify_at = next(v.index for v in ref.verifies if v.with_data)
    card = card_path.insert("resident", Faults(lose_response_at=verify_at))
    with pytest.raises(CardRemovedError):
        with CardSession(card_path.reader.connect()) as session:
            session.read_licence(Pin("licence", "0000"))
    assert pin_sends(card.verifies) == 1 and card.pin_tries("licence") == 9
    card_path.settle_after_yank()
    card = card_path.insert(card)
    with CardSession(card_path.reader.connect()) as session:
        assert session.read_status().pins["licence"].tries_left == 9
    assert pin_sends(card.verifies) == 1


def test_yank_of_an_ic_licence_read(card_path):
    def read(session):
        session.read_licence(Pin("ic_pin1", "1111"))
    reader = SimReader()
    ref = reader.insert("ic-licence")
    with CardSession(reader.connect()) as session:
        read(session)
    total = ref.apdu_count
    card = card_path.insert("ic-licence", Faults(remove_after=0))
    for answered in range(total):
        if answered:
            card.set_faults(Faults(remove_after=answered))
        sends_before = pin_sends(card.verifies)
        with pytest.raises(CardRemovedError):
            with CardSession(card_path.reader.connect()) as session:
                read(session)
        assert pin_sends(card.verifies) - sends_before <= 1, "a PIN was sent twice"
        assert card.pin_tries("ic_pin1") == 3
        card_path.settle_after_yank()
        card = card_path.insert(card)
        sends_before = pin_sends(card.verifies)
        with CardSession(card_path.reader.connect()) as session:
            assert session.read_licence(Pin("ic_pin1", "1111")).licence_number
        assert pin_sends(card.verifies) - sends_before == 1
