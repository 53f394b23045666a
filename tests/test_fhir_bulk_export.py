"""Bulk Data export against the real server: kick-off, polling, manifest, NDJSON files, cancel,
within the caller's access and audited; 100,000 Observations stream in flat memory."""

from __future__ import annotations

import asyncio
import tracemalloc

import orjson
from sqlmodel import select

from ehr import store
from telemed.models import AuditEntry
from tests.conftest import both_databases
from tests.ehr_support import observation, open_consult

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


async def kick_off(client, headers: dict, url: str = "/fhir/$export", **extra) -> tuple[int, dict, str]:
    response = await client.get(url, headers={**headers, **ASYNC, **extra})
    body = await response.read()
    return response.status, (orjson.loads(body) if body else {}), response.headers.get("Content-Location", "")


async def finished(client, headers: dict, status_url: str) -> dict:
    polls = 0
    while True:
        response = await client.get(status_url, headers=headers)
        if response.status != 202:
            assert response.status == 200, await response.text()
            return await response.json()
        assert response.headers["X-Progress"] and response.headers["Retry-After"] == "2"
        polls += 1
        await asyncio.sleep(0.1)


async def lines(client, headers: dict, url: str) -> list[dict]:
    response = await client.get(url, headers=headers)
    assert response.status == 200 and response.content_type == "application/fhir+ndjson"
    return [orjson.loads(line) for line in (await response.read()).splitlines()]


def path_of(client, url: str) -> str:
    return url.removeprefix(str(client.make_url("")))


@both_databases
async def test_export_within_access_with_polling_files_and_cancel(client, context, login, world):
    made = context.db.call(lambda s: [store.create(s, observation(p)).id for p in ("fac-a-p1", "fac-a-p2", "fac-b-p1")])
    doc = await login("doc-a")

    status, outcome, _ = await kick_off(client, doc, Prefer="")
    assert status == 400 and outcome["issue"][0]["expression"] == ["Prefer"]
    for query, named in (("_typeFilter=Observation%3Fcode%3Dx", "_typeFilter"), ("_outputFormat=text/csv", "_outputFormat"),
                         ("_type=AuditEvent", "_type"), ("_until=2026-01-01T00:00:00Z", "_until")):
        status, outcome, _ = await kick_off(client, doc, f"/fhir/$export?{query}")
        assert status == 400 and outcome["issue"][0]["expression"] == [named], query

    status, _, status_url = await kick_off(client, doc, "/fhir/$export?_type=Observation,Patient&_outputFormat=ndjson")
    assert status == 202 and status_url.startswith(str(client.make_url("/fhir/$export-status/")))
    assert (await client.get(path_of(client, status_url), headers=await login("doc-b"))).status == 404
    done = await finished(client, doc, path_of(client, status_url))
    assert done["requiresAccessToken"] is True and done["error"] == [] and done["request"].endswith("_outputFormat=ndjson")
    files = {o["type"]: o for o in done["output"]}
    assert set(files) == {"Observation", "Patient"}
    observations = await lines(client, doc, path_of(client, files["Observation"]["url"]))
    assert sorted(o["id"] for o in observations) == sorted(made[:2]) and files["Observation"]["count"] == 2
    assert {p["id"] for p in await lines(client, doc, path_of(client, files["Patient"]["url"]))} == set(world.patients["fac-a"])
    assert (await client.get(path_of(client, files["Patient"]["url"]))).status == 401
    assert (await client.get(path_of(client, files["Patient"]["url"]), headers=await login("doc-b"))).status == 404

    # Patient level, only what changed since a moment: nothing before, the new Observation after.
    since = done["transactionTime"]
    later = context.db.call(lambda s: store.create(s, observation("fac-a-p3")).id)
    status, _, status_url = await kick_off(client, doc, f"/fhir/Patient/$export?_since={since.replace('+', '%2B')}")
    assert status == 202
    done = await finished(client, doc, path_of(client, status_url))
    assert [(o["type"], o["count"]) for o in done["output"]] == [("Observation", 1)]
    assert [o["id"] for o in await lines(client, doc, path_of(client, done["output"][0]["url"]))] == [later]

    cancelled = await client.delete(path_of(client, status_url), headers=doc)
    assert cancelled.status == 202
    assert (await client.get(path_of(client, status_url), headers=doc)).status == 404
    assert (await client.get(path_of(client, done["output"][0]["url"]), headers=doc)).status == 404

    trail = context.db.call(lambda s: s.exec(select(AuditEntry).where(AuditEntry.action.like("fhir.export%"))).all())
    exported = {e.patient_id for e in trail if e.action == "fhir.export" and e.patient_id}
    assert exported == {"fac-a-p1", "fac-a-p2", "fac-a-p3"} | set(world.patients["fac-a"])
    assert {"fhir.export.download", "fhir.export.cancel"} <= {e.action for e in trail}
    assert not any(e.patient_id and e.patient_id.startswith("fac-b") for e in trail)


@both_databases
async def test_a_specialist_exports_only_what_consults_shared(client, context, login, world):
    shared = context.db.call(lambda s: store.create(s, observation("fac-b-p1")).id)
    context.db.call(lambda s: store.create(s, observation("fac-b-p1", value=99)))
    context.db.call(open_consult, "c-1", "fac-b-p1", world.users["spec-1"], (("Observation", shared),))
    spec = await login("spec-1")
    status, _, status_url = await kick_off(client, spec, "/fhir/Patient/$export?_type=Observation,Condition")
    assert status == 202
    done = await finished(client, spec, path_of(client, status_url))
    assert [(o["type"], o["count"]) for o in done["output"]] == [("Observation", 1)]
    assert [o["id"] for o in await lines(client, spec, path_of(client, done["output"][0]["url"]))] == [shared]
    status, outcome, _ = await kick_off(client, await login("admin"))
    assert status == 403  # a role that reads no clinical data


def add_observations(session, count: int) -> None:
    for start in range(0, count, 5000):
        store.create_many(session, [observation(f"fac-a-p{1 + n % 3}", value=n % 200, when="2026-03-01T08:00:00Z")
                                    for n in range(start, min(count, start + 5000))], validated=True)


@both_databases
async def test_100000_observations_stream_in_flat_memory(client, context, login, world):
    context.db.call(add_observations, 100_000)
    doc = await login("doc-a")
    tracemalloc.start()
    try:
        status, _, status_url = await kick_off(client, doc, "/fhir/$export?_type=Observation")
        assert status == 202
        done = await finished(client, doc, path_of(client, status_url))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [output] = done["output"]
    assert output["count"] == 100_000
    response = await client.get(path_of(client, output["url"]), headers=doc)
    size = 0
    async for chunk in response.content.iter_chunked(1 << 20):
        size += len(chunk)
    # The reference is the data: Python's peak allocation while exporting stays a small part of it.
    assert size > 30_000_000 and peak < size / 10, (peak, size)
