"""The simulated card behaves like the real one at the APDU level."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from kiosk.errors import CardRemovedError, SecurityStatusError
from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim import pki
from kiosk.nfc.sim.card import Faults, SimulatedCard
from kiosk.nfc.sim.profile import load_profile, shipped_profiles

SELECT_JPKI = bytes.fromhex("00A4040C0AD392F000260100000001")
SELECT_LICENCE = bytes.fromhex("00A4040C10A0000002310600000000000000000000")


def sw(resp: bytes) -> str:
    return resp[-2:].hex().upper()


@pytest.fixture
def card():
    c = SimulatedCard(load_profile("resident"))
    c.power_on()
    return c


def test_empty_verify_spends_no_try(card):
    card.process(SELECT_JPKI)
    for _ in range(5):
        assert sw(card.process(bytes.fromhex("00200098"))) == "63C3"
    assert card.pin_tries("jpki_auth") == 3


def test_wrong_pin_counts_down_then_63c0_then_6984(card):
    card.process(SELECT_JPKI)
    wrong = bytes.fromhex("002000980430303030")
    assert [sw(card.process(wrong)) for _ in range(4)] == ["63C2", "63C1", "63C0", "6984"]
    assert sw(card.process(bytes.fromhex("00200098"))) == "6984"
    right = bytes.fromhex("002000980432343638")
    assert sw(card.process(right)) == "6984", "a locked PIN stays locked even when right"


def test_right_pin_resets_the_counter(card):
    card.process(SELECT_JPKI)
    card.process(bytes.fromhex("002000980430303030"))
    assert sw(card.process(bytes.fromhex("002000980432343638"))) == "9000"
    assert card.pin_tries("jpki_auth") == 3


def test_licence_data_needs_verify_and_power_off_clears_it(card):
    card.process(SELECT_LICENCE)
    card.process(bytes.fromhex("00A4020C02001B"))
    assert sw(card.process(bytes.fromhex("00B0000000"))) == "6982"
    assert sw(card.process(bytes.fromhex("002000860431333537"))) == "9000"
    assert sw(card.process(bytes.fromhex("00B0000000"))) == "9000"
    card.power_off()
    card.power_on()
    card.process(SELECT_LICENCE)
    card.process(bytes.fromhex("00A4020C02001B"))
    assert sw(card.process(bytes.fromhex("00B0000000"))) == "6982", "verified state survived power-off"


def test_disconnect_without_unpower_keeps_verified_state(sim):
    reader, card = sim("resident")
    conn = reader.connect()
    session = CardSession(conn)
    session.read_status()
    session.read_licence(Pin("licence", "1357"))
    conn.close(unpower=False)
    conn2 = reader.connect()
    conn2.transmit(SELECT_LICENCE)
    conn2.transmit(bytes.fromhex("00A4020C02001B"))
    assert sw(conn2.transmit(bytes.fromhex("00B0000000"))) == "9000"
    conn2.close(unpower=True)
    conn3 = reader.connect()
    conn3.transmit(SELECT_LICENCE)
    conn3.transmit(bytes.fromhex("00A4020C02001B"))
    assert sw(conn3.transmit(bytes.fromhex("00B0000000"))) == "6982"


def test_signature_certificate_needs_the_password(sim):
    reader, _card = sim("resident")
    session = CardSession(reader.connect())
    session.apdu.select_aid(bytes.fromhex("D392F000260100000001"))
    with pytest.raises(SecurityStatusError):
        session.apdu.select_ef(0x0001)
        session.apdu.read_binary(lambda d: None)


@pytest.mark.parametrize("key,pin", [("auth", "2468"), ("sign", "KIOSK2025")])
def test_signatures_verify_against_the_certificate_and_chain(sim, key, pin):
    reader, card = sim("resident")
    session = CardSession(reader.connect())
    with session.jpki_key(key, Pin(f"jpki_{key}", pin)) as k:
        cert = x509.load_der_x509_certificate(k.certificate())
        sig = k.sign(b"linkage application")
    cert.public_key().verify(sig, b"linkage application", padding.PKCS1v15(), hashes.SHA256())
    root = pki.root(key).certificate
    assert cert.issuer == root.subject
    cert.verify_directly_issued_by(root)
    assert card.signatures == 1


def test_certificates_are_shaped_like_jpki(sim):
    reader, _ = sim("resident")
    session = CardSession(reader.connect())
    auth = x509.load_der_x509_certificate(session.read_auth_certificate())
    ous = [a.value for a in auth.issuer.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME)]
    assert "JPKI for user authentication" in ous
    ku = auth.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.content_commitment
    assert auth.public_key().key_size == 2048
    with session.jpki_key("sign", Pin("jpki_sign", "KIOSK2025")) as k:
        sign = x509.load_der_x509_certificate(k.certificate())
    san = sign.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    oids = {o.type_id.dotted_string for o in san.get_values_for_type(x509.OtherName)}
    assert "1.2.392.200149.8.5.5.1" in oids and "1.2.392.200149.8.5.5.5" in oids
    assert sign.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment


def test_remove_after_n_apdus(sim):
    reader, card = sim("resident", Faults(remove_after=3))
    session = CardSession(reader.connect())
    with pytest.raises(CardRemovedError):
        session.read_status()
    assert card.apdu_count == 3 and not reader.card_present()


def test_lost_response_after_a_wrong_pin_still_counted(sim):
    reader, card = sim("resident")
    session = CardSession(reader.connect())
    session.read_status()
    card.set_faults(Faults(lose_response_at=2))     # counter, then VERIFY (answer lost)
    with pytest.raises(CardRemovedError):
        session.read_licence(Pin("licence", "0000"))
    assert card.pin_tries("licence") == 9
    assert [v.with_data for v in card.verifies].count(True) == 1


def test_every_shipped_profile_loads_and_reads(sim):
    assert len(shipped_profiles()) >= 10
    for name in shipped_profiles():
        reader, _ = sim(name)
        profile = load_profile(name)
        expected = {"myna": "myna_licence" if profile.licence else "myna", "ic_licence": "ic_licence",
                    "unknown": "unsupported"}[profile.card]
        status = CardSession(reader.connect()).read_status()
        assert status.card_type == expected, name


def test_expired_profile_reports_expired_certificate(sim):
    reader, _ = sim("cert-expired")
    status = CardSession(reader.connect()).read_status()
    assert status.auth_cert_not_after == dt.date(2024, 5, 2)
    assert status.auth_cert_expired(dt.date(2026, 11, 25))


def test_minor_has_no_signature_certificate(sim):
    reader, _ = sim("minor")
    assert CardSession(reader.connect()).read_status().sign_cert_present is False


def test_sim_trace_masks_pins(sim):
    reader, card = sim("resident")
    session = CardSession(reader.connect())
    session.read_status()
    session.read_licence(Pin("licence", "1357"))
    verify = [e for e in card.trace if e.ins == 0x20 and e.lc]
    assert verify and all(e.data is None for e in verify)
    assert "1357" not in "\n".join(e.render() for e in card.trace)
    assert "31333537" not in "\n".join(e.render() for e in card.trace).replace(" ", "")


# fault -> what the card layer must make of it: "ok" (the right answers) or the typed error.
FAULTS = [
    (Faults(chain_chunk=40), "ok"),
    (Faults(wrong_le=True), "ok"),                                   # 6Cxx then the re-sent Le
    (Faults(endless_61xx=True), "card kept answering 61xx"),
    (Faults(garbage_at={2: b"\x90"}), "response shorter than a status word"),
    (Faults(truncate_at={5}), "response shorter than a status word"),
    (Faults(garbage_at={6: b"\x30\x82\xff\xff\x90\x00"}), "ok"),   # lands on a counter query's data
    (Faults(garbage_at={3: b"\x63\xc3\x00\x00\x90\x00"}), "ok"),
    (Faults(read_bytes=1), "chunks too small"),
]


@pytest.mark.parametrize("faults, outcome", FAULTS,
                         ids=["chain_chunk", "wrong_le", "endless_61xx", "garbage_2", "truncate_5", "garbage_6",
                              "garbage_3", "read_bytes_1"])
def test_faulty_cards_end_in_their_typed_error_or_the_correct_result(sim, faults, outcome):
    from kiosk.errors import CardProtocolError
    reader, card = sim("resident", faults)
    session = CardSession(reader.connect())
    if outcome != "ok":
        with pytest.raises(CardProtocolError, match=outcome):
            session.read_status()
            session.read_licence(Pin("licence", "1357"))
        assert len([v for v in card.verifies if v.with_data]) <= 1
        return
    status = session.read_status()
    lic = session.read_licence(Pin("licence", "1357"))
    assert status.pins["licence"].tries_left == 10
    assert lic.expiry == dt.date(2027, 6, 15)
    assert len([v for v in card.verifies if v.with_data]) == 1


def test_6cxx_gives_the_bytes_left_and_the_kiosk_resends_that_le(sim):
    reader, card = sim("resident", Faults(wrong_le=True))
    session = CardSession(reader.connect())
    cert = session.read_auth_certificate()
    six_c = [e for e in card.trace if e.sw is not None and e.sw >> 8 == 0x6C]
    assert six_c and all(0 < (e.sw & 0xFF) < 256 for e in six_c)     # never 6C00 for a large file
    for i, e in enumerate(card.trace):
        if e in six_c:
            assert card.trace[i + 1].le == e.sw & 0xFF and card.trace[i + 1].header == e.header
    assert cert == x509.load_der_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
