"""APDU count, bytes exchanged and host CPU time per card operation.

Runs against the zero-latency simulated card.  Host time is the CPU time of
the whole operation minus the time spent inside the simulated card, i.e. our
own overhead.  Goals (issue 2): full マイナ免許証 status in <= 16 APDUs, and
host overhead under 5 ms per operation.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.nfc.card import CardSession  # noqa: E402
from kiosk.nfc.pins import Pin  # noqa: E402
from kiosk.nfc.sim.profile import load_profile  # noqa: E402
from kiosk.nfc.sim.reader import SimReader  # noqa: E402

ROUNDS = 30


class TimedConnection:
    """Wraps a connection and counts the CPU time spent inside the card."""

    def __init__(self, inner):
        self.inner = inner
        self.card_time = 0.0

    def transmit(self, apdu):
        t = time.process_time()
        try:
            return self.inner.transmit(apdu)
        finally:
            self.card_time += time.process_time() - t

    def set_exclusive(self, exclusive):
        self.inner.set_exclusive(exclusive)

    def close(self, unpower=True):
        self.inner.close(unpower)


def measure(name, op):
    host, counts, sizes = [], [], []
    for _ in range(ROUNDS):
        reader = SimReader(load_profile("resident"))
        conn = TimedConnection(reader.connect())
        session = CardSession(conn)
        pre = op.get("pre")
        if pre:
            pre(session)
        start_count, start_bytes = session.apdu.count, session.apdu.bytes_exchanged
        conn.card_time = 0.0
        t = time.process_time()
        op["run"](session)
        total = time.process_time() - t
        host.append(total - conn.card_time)
        counts.append(session.apdu.count - start_count)
        sizes.append(session.apdu.bytes_exchanged - start_bytes)
        session.close()
    print(f"{name:<22} APDUs {counts[0]:>3}   bytes {sizes[0]:>6}   "
          f"host CPU median {statistics.median(host) * 1000:6.2f} ms   max {max(host) * 1000:6.2f} ms")


def main() -> None:
    print(f"zero-latency simulated card, {ROUNDS} rounds each")
    measure("status (マイナ免許証)", {"run": lambda s: s.read_status()})
    measure("licence (after status)", {"pre": lambda s: s.read_status(),
                                       "run": lambda s: s.read_licence(Pin("licence", "1357"))})
    measure("JPKI auth signature", {"run": lambda s: s.jpki_sign("auth", Pin("jpki_auth", "2468"), b"x")})
    measure("JPKI sign + cert", {"run": lambda s: _sign_with_cert(s)})


def _sign_with_cert(session):
    with session.jpki_key("sign", Pin("jpki_sign", "KIOSK2025")) as key:
        key.certificate()
        key.sign(b"application")


if __name__ == "__main__":
    main()
