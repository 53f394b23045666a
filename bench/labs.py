"""Labs benchmark: analyzer CSV import end to end into SQLite, and HL7 over MLLP.

    .venv/bin/python bench/labs.py            # 100,000 results, 8 x 100 HL7 messages
    .venv/bin/python bench/labs.py --quick    # a small smoke run

Each figure is printed beside a baseline measured in the same run: pandas reading the same
CSV, and an MLLP server that answers without processing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
from hl7.mllp import open_hl7_connection, start_hl7_server  # noqa: E402

from ehr import store  # noqa: E402
from labs import analyzers, importer  # noqa: E402
from labs.catalog import catalogue  # noqa: E402
from labs.mllp import serve  # noqa: E402
from telemed.accounts import add_org  # noqa: E402
from telemed.config import Settings  # noqa: E402
from telemed.db import Database  # noqa: E402
from telemed.demo import synthetic_patient  # noqa: E402
from telemed.models import OrgKind  # noqa: E402
from telemed.schema import upgrade  # noqa: E402

FACILITY = "bench-facility"
PANELS = ("cbc", "liver", "renal", "lipids", "glucose", "electrolytes")


def setup(folder: Path, detainees: int) -> tuple[Settings, Database, list[str]]:
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    settings = Settings(database_url=url, data_dir=folder / "data", secret_key="bench-secret-key-0123456789")
    db = Database(url, threads=8)
    rng = random.Random(7)

    def seed(session) -> list[str]:
        add_org(session, FACILITY, "Bench facility", OrgKind.FACILITY)
        today = datetime.now().date()
        bookings = []
        for n in range(1, detainees + 1):
            patient = synthetic_patient(rng, n, FACILITY, today)
            store.create(session, patient, resource_id=f"bench-p{n:05d}")
            bookings.append(patient["identifier"][0]["value"])
        return bookings

    return settings, db, db.call(seed)


def value_for(test, rng: random.Random) -> str:
    if not test.quantitative:
        return rng.choice(test.values[:2])
    band = test.band("male", 40)
    low = band.low if band and band.low is not None else 0.0
    high = band.high if band and band.high is not None else (low * 2 or 10.0)
    return f"{rng.uniform(low * 0.8, high * 1.2):.{test.decimals}f}"


def write_csv(path: Path, bookings: list[str], results: int) -> int:
    """Realistic rows: whole panels per sample, samples spread over a year, a few alternative units."""
    cat, rng = catalogue(), random.Random(11)
    start = datetime(2026, 1, 1, 7, 0)
    rows, n = [], 0
    while n < results:
        booking = rng.choice(bookings)
        at = start + timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 180))
        for code in cat.panels[rng.choice(PANELS)].tests:
            test = cat.tests[code]
            rows.append((booking, code, value_for(test, rng), test.unit, at.strftime("%Y-%m-%d %H:%M")))
            n += 1
            if n == results:
                break
    pd.DataFrame(rows, columns=["booking_number", "loinc", "value", "unit", "collected_at"]).to_csv(path, index=False)
    return n


def peak_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the import's worker process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_import(settings: Settings, db: Database, path: Path) -> None:
    started = time.perf_counter()
    baseline = pd.read_csv(path, dtype=str, keep_default_na=False)
    pandas_s = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), cpu_seconds()
    frame = importer.read_frame(path)
    # As `telemed labs import` files it: this process and one worker process.
    report = importer.import_frame(db, frame, importer.profiles()["generic"], settings.tz, facility_id=FACILITY,
                                   alongside=True)
    import_s, cpu_s = time.perf_counter() - started, cpu_seconds() - cpu_started
    assert report.error_count == 0, report.errors[:3]
    rate, base = report.added / import_s, len(baseline) / pandas_s
    # CPU seconds (the worker's included) beside wall seconds: with one process per core, CPU above wall
    # is work done side by side; on a shared machine, wall above CPU is time spent waiting for a core.
    print(f"import:  {report.added:,} results in {import_s:.2f} s ({cpu_s:.2f} s CPU) = {rate:,.0f} results/s "
          f"(flags: {report.alerts} critical alerts); load average {os.getloadavg()[0]:.2f}")
    print(f"         peak memory: this process {peak_mib(resource.RUSAGE_SELF):,.0f} MiB, "
          f"largest worker {peak_mib(resource.RUSAGE_CHILDREN):,.0f} MiB")
    print(f"         baseline pandas.read_csv: {base:,.0f} rows/s; import/baseline = {rate / base:.3f}")
    started = time.perf_counter()
    again = importer.import_frame(db, importer.read_frame(path), importer.profiles()["generic"], settings.tz,
                                  facility_id=FACILITY)
    print(f"re-import (all duplicates): {again.duplicates:,} in {time.perf_counter() - started:.2f} s, "
          f"{again.added} added")


def oru(booking: str, control: str, at: datetime, rng: random.Random) -> bytes:
    cat = catalogue()
    stamp = at.strftime("%Y%m%d%H%M%S")
    segments = [f"MSH|^~\\&|BC-5380|Mindray|||{stamp}||ORU^R01|{control}|P|2.3.1||||||UNICODE",
                f"PID|1||{booking}^^^^MR", f"OBR|1||{control}|||{stamp}"]
    for n, code in enumerate(cat.panels["cbc"].tests, start=1):
        test = cat.tests[code]
        value = value_for(test, rng)
        if test.unit == "%":
            value = f"{float(value) / 100:.4f}"  # Mindray sends fractions
        segments.append(f"OBX|{n}|NM|{code}^{test.abbr}^LN||{value}|{test.unit}|||||F")
    return "\r".join(segments).encode()


async def senders(port: int, bookings: list[str], per_sender: int, concurrency: int = 8) -> tuple[int, float, list[str]]:
    rng = random.Random(5)
    messages = [[oru(rng.choice(bookings), f"S{s}M{m}", datetime(2026, 11, 1, 8) + timedelta(minutes=s * 1000 + m), rng)
                 for m in range(per_sender)] for s in range(concurrency)]
    codes: list[str] = []

    async def one(batch: list[bytes]) -> None:
        reader, writer = await open_hl7_connection("127.0.0.1", port)
        for message in batch:
            writer.writeblock(message)
            await writer.drain()
            answer = (await reader.readblock()).decode()
            codes.append(answer.split("MSA|")[1][:2])
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in messages))
    return len(codes), time.perf_counter() - started, codes


async def bench_mllp(settings: Settings, db: Database, bookings: list[str], per_sender: int) -> None:
    async def echo(reader, writer) -> None:
        try:
            while True:
                block = (await reader.readblock()).decode()
                control = block.split("\r")[0].split("|")[9]
                writer.writeblock(f"MSH|^~\\&|T||||||ACK|A|P|2.3.1\rMSA|AA|{control}".encode())
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    baseline_server = await start_hl7_server(echo, "127.0.0.1", 0)
    port = baseline_server.sockets[0].getsockname()[1]
    count, base_s, _ = await senders(port, bookings, per_sender)
    baseline_server.close()
    db.call(analyzers.register, analyzers.Registration("BC-5380", FACILITY, "BC-5380", "Mindray", ("127.0.0.1",)))
    server = await serve(db, settings, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    count, real_s, codes = await senders(port, bookings, per_sender)
    server.close()
    accepted = codes.count("AA")
    rate, base = count / real_s, count / base_s
    results = accepted * len(catalogue().panels["cbc"].tests)
    print(f"mllp:    {count} ORU^R01 (23 OBX each) from 8 senders in {real_s:.2f} s = {rate:,.0f} messages/s "
          f"({results / real_s:,.0f} results/s), {accepted} AA")
    print(f"         baseline echo server (no processing): {base:,.0f} messages/s; mllp/baseline = {rate / base:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args()
    results, detainees, per_sender = (5_000, 100, 10) if args.quick else (100_000, 1_000, 100)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        settings, db, bookings = setup(folder, detainees)
        path = folder / "results.csv"
        written = write_csv(path, bookings, results)
        print(f"setup:   {detainees} detainees, {written:,}-result CSV ({path.stat().st_size / 1e6:.1f} MB) "
              f"in {time.perf_counter() - started:.1f} s")
        bench_import(settings, db, path)
        asyncio.run(bench_mllp(settings, db, bookings, per_sender))
        db.close()


if __name__ == "__main__":
    main()
