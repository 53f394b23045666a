"""Foundation benchmark: what authentication and auditing cost a request.

(a) authenticated GET /api/me (token check + request id, metrics and JSON log middlewares)
    against the same aiohttp stack answering a constant body, 32 concurrent clients;
(b) audit events/s through the batched, hash-chained writer against plain SQLite inserts of
    the same rows in one transaction.

Run: .venv/bin/python bench/foundation.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import delete

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import constant_app, load, ratio, serve  # noqa: E402
from telemed.accounts import add_org, add_user  # noqa: E402
from telemed.app import create_app  # noqa: E402
from telemed.audit import EVENT_FIELDS, AuditEvent, AuditLog  # noqa: E402
from telemed.config import Settings  # noqa: E402
from telemed.context import Context  # noqa: E402
from telemed.models import AuditEntry  # noqa: E402
from telemed.schema import upgrade  # noqa: E402


def make_context(root: Path) -> Context:
    url = f"sqlite:///{root / 'bench.db'}"
    upgrade(url)
    ctx = Context.open(Settings(database_url=url, data_dir=root / "data", secret_key="bench-secret-key-0123456789"))

    def seed(session):
        add_org(session, "fac", "Facility", "facility")
        add_user(session, "doc", "bench-password-0123", role="facility_doctor", org_id="fac")

    ctx.db.call(seed)
    return ctx


async def requests_benchmark(ctx: Context, seconds: float) -> None:
    ceiling_runner, ceiling_url = await serve(constant_app())
    app_runner, app_url = await serve(create_app(context=ctx))
    from aiohttp import ClientSession

    async with ClientSession() as session:
        async with session.post(f"{app_url}/api/auth/token", json={"username": "doc", "password": "bench-password-0123"}) as r:
            token = (await r.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    ceiling = await load(lambda i: f"{ceiling_url}/api/me", concurrency=32, seconds=seconds)
    authed = await load(lambda i: f"{app_url}/api/me", concurrency=32, seconds=seconds, headers=headers)
    print(ceiling.line("constant JSON (ceiling)"))
    print(authed.line("authenticated GET /api/me") + f"   {ratio(authed.rate, ceiling.rate)}")
    await app_runner.cleanup()
    await ceiling_runner.cleanup()


def audit_benchmark(ctx: Context, events: int) -> None:
    rows = [AuditEvent(action="fhir.read", outcome="allowed", username="doc", patient_id=f"p{i % 200}",
                       resource=f"Observation/{i}", ip="127.0.0.1") for i in range(events)]
    values = [{name: getattr(event, name) for name in EVENT_FIELDS} for event in rows]
    started = time.perf_counter()
    with ctx.db.session() as session:
        for seq, fields in enumerate(values, start=10_000_000):
            session.add(AuditEntry(seq=seq, prev_hash="0" * 64, hash="0" * 64, **fields))
    plain = events / (time.perf_counter() - started)
    with ctx.db.session() as session:
        session.exec(delete(AuditEntry))

    log = AuditLog(ctx.db.engine)
    started = time.perf_counter()
    for event in rows:
        log.record(event)
    log.flush(timeout=600)
    chained = events / (time.perf_counter() - started)
    log.close()
    print(f"{'plain inserts, one transaction':<34} {plain:>9.0f} rows/s")
    print(f"{'audit writer (hash chain)':<34} {chained:>9.0f} events/s   {ratio(chained, plain)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_context(Path(tmp))
        asyncio.run(requests_benchmark(ctx, seconds=2 if args.quick else 8))
        audit_benchmark(ctx, 5_000 if args.quick else 50_000)
        ctx.close()


if __name__ == "__main__":
    main()
