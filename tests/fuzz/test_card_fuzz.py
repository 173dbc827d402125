"""Fuzz target: mutated card answers behind the ``Connection`` interface.

The real card layer (CardSession -> ApduChannel) talks to a simulated card
whose answers are mutated on the way back: status words swapped, data
truncated, flipped, extended, cut to one byte, DER headers that claim 32 KB,
garbage, a card that leaves.  Operations: status, licence, IC licence, both
certificate reads and both signatures.  (The linkage sign step lives in
kiosk/linkage and goes through the same JpkiKey calls fuzzed here.)

Outcomes counted, all of which must stay 0:

* crashes: any exception that is not a typed KioskError, or a result that
  cannot be turned into JSON;
* slow: an operation over 2 s on this zero-latency card;
* unintended VERIFYs: more VERIFYs with data than the operation allows (0 for
  reads, 1 for a licence or a signature), or one sent to a counter whose
  last answer said locked;
* My Number accesses: the card saw the My Number EF or 照合番号A touched.

``make test`` runs a short hypothesis mode; ``make fuzz`` runs
``python tests/fuzz/test_card_fuzz.py --cases 100000`` and prints cases per
second and the counts (non-zero exit if any count is not 0).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.errors import CardRemovedError, KioskError
from kiosk.nfc.card import CardSession
from kiosk.nfc.pins import Pin
from kiosk.nfc.reader import Connection
from kiosk.nfc.sim.card import SimulatedCard
from kiosk.nfc.sim.profile import load_profile
from kiosk.nfc.sim.reader import SimReader

SLOW_SECONDS = 2.0
LOCKED_SW = (0x63C0, 0x6983, 0x6984)
INTERESTING_SW = (0x9000, 0x6282, 0x6B00, 0x6100, 0x61FF, 0x6101, 0x6C00, 0x6C01, 0x6C10, 0x63C0, 0x63C1,
                  0x63C9, 0x63CF, 0x6300, 0x6983, 0x6984, 0x6982, 0x6A82, 0x6A86, 0x6700, 0x6985, 0x6F00,
                  0x6D00, 0x6999, 0x0000, 0xFFFF)
KINDS = ("sw", "truncate", "flip", "extend", "data_only", "one_byte", "der_header", "garbage", "remove",
         "empty", "licence_header")
# operation -> (profile, most VERIFYs with data it may send)
OPERATIONS = {
    "status": ("resident", 0),
    "licence": ("resident", 1),
    "ic_licence": ("ic-licence", 1),
    "auth_certificate": ("resident", 0),
    "sign_certificate": ("resident", 1),
    "sign_auth": ("resident", 1),
    "sign_sign": ("resident", 1),
}
PINS = {"licence": ("licence", "1357"), "ic_licence": ("ic_pin1", "1111"),
        "sign_certificate": ("jpki_sign", "KIOSK2025"), "sign_auth": ("jpki_auth", "2468"),
        "sign_sign": ("jpki_sign", "KIOSK2025")}


@dataclass(frozen=True)
class Mutation:
    kind: str
    n: int = 0
    data: bytes = b""

    def apply(self, answer: bytes) -> bytes:
        """The mutated answer (``answer`` is data + SW from the simulated card)."""
        body, sw = answer[:-2], answer[-2:]
        k = self.kind
        if k == "sw":
            return body + self.n.to_bytes(2, "big")
        if k == "truncate":
            return answer[:self.n % (len(answer) + 1)]
        if k == "flip" and answer:
            i = self.n % len(answer)
            return answer[:i] + bytes((answer[i] ^ (self.data[:1] or b"\xff")[0],)) + answer[i + 1:]
        if k == "extend":
            return body + self.data + sw
        if k == "data_only":
            return body
        if k == "one_byte":
            return body[:1] + sw
        if k == "der_header":
            return b"\x30\x82" + (0x7FF0 - self.n % 0x100).to_bytes(2, "big") + body[4:] + sw
        if k == "licence_header":
            return bytes((0xC5, 0x82, 0xFF, 0xFF)) + body[4:] + sw
        if k == "garbage":
            return self.data
        if k == "empty":
            return b""
        return answer


class MutatingConnection(Connection):
    """A simulated card's connection whose answers follow a mutation plan (APDU index -> Mutation)."""

    def __init__(self, inner: Connection, plan: dict[int, Mutation]):
        self.inner, self.plan = inner, plan
        self.sent = 0
        self.data_verifies = 0
        self.verify_to_locked = 0
        self._counter_seen: dict[int, int] = {}      # VERIFY P2 -> last SW the kiosk saw

    def transmit(self, apdu: bytes) -> bytes:
        apdu = bytes(apdu)
        index, self.sent = self.sent, self.sent + 1
        is_verify = len(apdu) >= 4 and apdu[1] == 0x20
        if is_verify and len(apdu) > 5:
            self.data_verifies += 1
            if self._counter_seen.get(apdu[3]) in LOCKED_SW:
                self.verify_to_locked += 1
        m = self.plan.get(index)
        if m is not None and m.kind == "remove":
            raise CardRemovedError("card left (fuzz)")
        answer = self.inner.transmit(apdu)
        if m is not None:
            answer = m.apply(answer)
        if is_verify and len(apdu) == 4 and len(answer) >= 2:
            self._counter_seen[apdu[3]] = (answer[-2] << 8) | answer[-1]
        return answer

    def close(self, unpower: bool = True) -> None:
        self.inner.close(unpower)

    def same_card(self) -> bool:
        return self.inner.same_card()


@dataclass
class Outcomes:
    cases: int = 0
    crashes: int = 0
    slow: int = 0
    unintended_verifies: int = 0
    my_number_accesses: int = 0
    results: Counter = field(default_factory=Counter)     # "ok" or the error code
    first_crash: str = ""

    def zero(self) -> bool:
        return not (self.crashes or self.slow or self.unintended_verifies or self.my_number_accesses)


_cards: dict[str, SimulatedCard] = {}


def _card(profile: str) -> SimulatedCard:
    """One simulated card per profile, re-inserted (powered down, faults cleared) per case."""
    if profile not in _cards:
        _cards[profile] = SimulatedCard(load_profile(profile))
    card = _cards[profile]
    for pin_id, spec in card.profile.pins.items():        # a mutated answer never changes the card,
        card.pins[pin_id].tries_left = spec.tries_left      # but keep every case independent anyway
    card.forbidden_touches.clear()
    card.trace.clear()
    card.verifies.clear()
    return card


def _operate(op: str, session: CardSession) -> object:
    if op == "status":
        return session.read_status().to_json()
    if op in ("licence", "ic_licence"):
        pin_id, value = PINS[op]
        lic = session.read_licence(Pin(pin_id, value))
        out = lic.to_json(include_photo=False)
        out["window"] = (lic.renewal_window is not None, lic.in_renewal_window(), lic.photo_image() is not None)
        lic.wipe()
        return out
    if op == "auth_certificate":
        return session.read_auth_certificate().hex()
    pin_id, value = PINS[op]
    if op == "sign_certificate":
        with session.jpki_key("sign", Pin(pin_id, value)) as key:
            return key.certificate().hex()
    return session.jpki_sign("auth" if op == "sign_auth" else "sign", Pin(pin_id, value), b"fuzz").hex()


def run_case(op: str, plan: dict[int, Mutation], out: Outcomes) -> None:
    profile, allowed_verifies = OPERATIONS[op]
    card = _card(profile)
    reader = SimReader()
    reader.insert(card)
    conn = MutatingConnection(reader.connect(), plan)
    session = CardSession(conn)
    out.cases += 1
    started = time.perf_counter()
    try:
        json.dumps(_operate(op, session), ensure_ascii=False)
        out.results["ok"] += 1
    except KioskError as exc:
        out.results[exc.code] += 1
    except Exception as exc:                       # noqa: BLE001 - the finding this fuzzer exists for: counted
        out.crashes += 1
        out.first_crash = out.first_crash or f"{op} {plan!r}: {type(exc).__name__}: {exc}"
    finally:
        try:
            session.close()
        except KioskError:
            pass
    if time.perf_counter() - started > SLOW_SECONDS:
        out.slow += 1
    if conn.data_verifies > allowed_verifies or conn.verify_to_locked:
        out.unintended_verifies += 1
    if card.forbidden_touches:
        out.my_number_accesses += 1


# -- plans ---------------------------------------------------------------------------------------
MAX_INDEX = 30

mutations = st.builds(Mutation, st.sampled_from(KINDS),
                      st.one_of(st.sampled_from(INTERESTING_SW), st.integers(0, 0xFFFF)),
                      st.binary(max_size=40))
plans = st.dictionaries(st.integers(0, MAX_INDEX), mutations, min_size=1, max_size=5)


def random_plan(rng: random.Random) -> dict[int, Mutation]:
    plan = {}
    for _ in range(rng.randint(1, 5)):
        n = rng.choice(INTERESTING_SW) if rng.random() < 0.6 else rng.randrange(0x10000)
        data = rng.randbytes(rng.randrange(40))
        plan[rng.randrange(MAX_INDEX + 1)] = Mutation(rng.choice(KINDS), n, data)
    return plan


@given(st.sampled_from(sorted(OPERATIONS)), plans)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_card_answers_never_crash_hang_overspend_or_reach_the_my_number(op, plan):
    out = Outcomes()
    run_case(op, plan, out)
    assert out.zero(), (out, out.first_crash)


def test_an_unmutated_card_serves_every_operation():
    out = Outcomes()
    for op in OPERATIONS:
        run_case(op, {}, out)
    assert out.results == Counter(ok=len(OPERATIONS)) and out.zero()


def test_the_fuzzer_sees_a_crash_and_an_extra_verify(monkeypatch):
    """The counters can fail: a card layer that crashes, or sends a PIN twice, is counted."""
    out = Outcomes()
    monkeypatch.setattr(CardSession, "read_status", lambda self: 1 / 0)
    run_case("status", {}, out)
    assert out.crashes == 1
    monkeypatch.undo()
    real_verify = CardSession._verify

    def twice(self, pin_id, pin):
        real_verify(self, pin_id, Pin(pin_id, "1357"))
        return real_verify(self, pin_id, pin)
    monkeypatch.setattr(CardSession, "_verify", twice)
    run_case("licence", {}, out)
    assert out.unintended_verifies == 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="fuzz the card layer with mutated card answers")
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    ops = sorted(OPERATIONS)
    out = Outcomes()
    started = time.perf_counter()
    for i in range(args.cases):
        run_case(ops[i % len(ops)], random_plan(rng), out)
        if (i + 1) % 10_000 == 0:
            print(f"  {i + 1} cases, {(i + 1) / (time.perf_counter() - started):.0f} cases/s", flush=True)
    elapsed = time.perf_counter() - started
    print(f"cases: {out.cases} in {elapsed:.1f} s ({out.cases / elapsed:.0f} cases/s), seed {args.seed}")
    print(f"crashes: {out.crashes}")
    print(f"operations over {SLOW_SECONDS:.0f} s on the zero-latency card: {out.slow}")
    print(f"unintended VERIFYs: {out.unintended_verifies}")
    print(f"My Number accesses: {out.my_number_accesses}")
    print("results: " + ", ".join(f"{k} {v}" for k, v in out.results.most_common()))
    if out.first_crash:
        print(f"first crash: {out.first_crash}")
    return 0 if out.zero() else 1


if __name__ == "__main__":
    sys.exit(main())
