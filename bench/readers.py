"""Reader speed over pcscd + vpcd (and nfcpy udp, for comparison), against the simulated card.

Prints, for the PC/SC path through a private pcscd:
  * the median APDU round trip (SELECT, 50 times);
  * the wall time of ``status`` (read_status) and ``licence`` (read_licence);
  * how long pcscd takes to report an insertion, and a removal.
Goal: our overhead is invisible next to the card; under the simulated card,
status completes in less than the time pcscd needs to notice the card.

    .venv/bin/python bench/readers.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from kiosk.nfc.card import CardSession
from kiosk.nfc.nfcpy_reader import NfcpyReader
from kiosk.nfc.pcsc import PcscReader
from kiosk.nfc.pins import Pin
from kiosk.nfc.sim.nfc_udp import NfcUdpCardServer
from kiosk.testing.pcscd import PcscBench

SELECT_JPKI = bytes.fromhex("00A4040C0AD392F000260100000001")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def measure_session(reader, rounds: int) -> dict[str, float]:
    conn = reader.connect()
    trips = []
    for _ in range(50):
        t = time.perf_counter()
        conn.transmit(SELECT_JPKI)
        trips.append(time.perf_counter() - t)
    conn.close()
    status, licence = [], []
    for _ in range(rounds):
        with CardSession(reader.connect()) as session:
            t = time.perf_counter()
            session.read_status()
            status.append(time.perf_counter() - t)
        with CardSession(reader.connect()) as session:
            t = time.perf_counter()
            session.read_licence(Pin("licence", "1357"))
            licence.append(time.perf_counter() - t)
    return {"apdu": statistics.median(trips), "status": statistics.median(status),
            "licence": statistics.median(licence)}


def bench_pcsc(rounds: int) -> None:
    with PcscBench() as bench:
        reader = PcscReader(bench.reader_name)
        inserted, removed = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            bench.insert("resident", wait=False)
            assert reader.wait_for_card(10)
            inserted.append(time.perf_counter() - t)
            t = time.perf_counter()
            bench.remove(wait=False)
            assert reader.wait_for_removal(10)
            removed.append(time.perf_counter() - t)
        bench.insert("resident")
        figures = measure_session(reader, rounds)
        reader.close()
    print("PC/SC (pyscard -> pcscd -> vpcd -> simulated card)")
    print(f"  APDU round trip (median)      {ms(figures['apdu'])}")
    print(f"  status (median)               {ms(figures['status'])}")
    print(f"  licence incl. VERIFY (median) {ms(figures['licence'])}")
    print(f"  insertion detected after      {ms(statistics.median(inserted))}  (max {ms(max(inserted)).strip()})")
    print(f"  removal detected after        {ms(statistics.median(removed))}  (max {ms(max(removed)).strip()})")
    verdict = "yes" if figures["status"] < statistics.median(inserted) else "NO"
    print(f"  status faster than pcscd notices a card: {verdict}")


def bench_nfcpy(rounds: int) -> None:
    server = NfcUdpCardServer("127.0.0.1", 0)
    try:
        server.insert("resident")
        reader = NfcpyReader(f"udp:127.0.0.1:{server.port}")
        figures = measure_session(reader, rounds)
        reader.close()
    finally:
        server.close()
    print("nfcpy (udp driver -> simulated Type B tag, ISO-DEP)")
    print(f"  APDU round trip (median)      {ms(figures['apdu'])}")
    print(f"  status (median)               {ms(figures['status'])}")
    print(f"  licence incl. VERIFY (median) {ms(figures['licence'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    bench_pcsc(args.rounds)
    bench_nfcpy(args.rounds)


if __name__ == "__main__":
    main()
