"""Entries sent from a rounds page: each written once however often it is sent (the browser's key),
dated when it was taken; a complaint becomes a sick-call request received then; a watch check is
recorded against the watch Flag; bad entries are refused and write nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from care.consequences import LOCAL, Raise
from care.models import SickCall
from ehr import store
from tests.conftest import both_databases

P1 = "fac-a-p1"


def taken(minutes_ago: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


async def search(client, headers, query: str) -> list[dict]:
    bundle = await (await client.get(f"/fhir/{query}", headers=headers)).json()
    return [e["resource"] for e in bundle.get("entry", [])]


@both_databases
async def test_each_entry_is_written_once_with_the_time_it_was_taken(client, login, context, world):
    doctor = await login("doc-a")
    at = taken(12)
    note = {"key": "a1b2c3d4e5f6a7b8", "patient_id": P1, "kind": "note", "taken_at": at,
            "fields": {"text": "Sleeping poorly; no pain."}}
    first = await client.post("/api/rounds/entries", headers=doctor, json=note)
    assert first.status == 201 and await first.json() == {"written": 1, "resent": False}
    again = await client.post("/api/rounds/entries", headers=doctor, json=note)
    assert again.status == 200 and await again.json() == {"written": 1, "resent": True}
    [written] = [d for d in await search(client, doctor, f"DocumentReference?patient={P1}")]
    assert datetime.fromisoformat(written["date"]) == datetime.fromisoformat(at)

    vitals = {"key": "vitals-0001-abcdef", "patient_id": P1, "kind": "vitals", "taken_at": taken(5),
              "fields": {"sbp": "150", "dbp": "95", "pulse": "88"}}
    assert (await client.post("/api/rounds/entries", headers=doctor, json=vitals)).status == 201
    observations = await search(client, doctor, f"Observation?patient={P1}")
    assert len(observations) == 2  # the blood pressure panel and the pulse
    assert {datetime.fromisoformat(o["effectiveDateTime"]) for o in observations} == {
        datetime.fromisoformat(vitals["taken_at"])}

    # the same key from another user, or for another detainee, is refused
    other = await client.post("/api/rounds/entries", headers=doctor, json={**note, "patient_id": "fac-a-p2"})
    assert other.status == 422


@both_databases
async def test_a_complaint_becomes_a_sick_call_and_a_watch_check_is_recorded(client, login, context, world):
    doctor = await login("doc-a")
    at = taken(30)
    complaint = {"key": "complaint-0001", "patient_id": P1, "kind": "complaint", "taken_at": at,
                 "fields": {"text": "Toothache for three days", "category": "dental"}}
    assert (await client.post("/api/rounds/entries", headers=doctor, json=complaint)).status == 201
    assert (await client.post("/api/rounds/entries", headers=doctor, json=complaint)).status == 200
    calls = context.db.call(lambda s: s.exec(__import__("sqlmodel").select(SickCall)).all())
    assert [(c.patient_id, c.category) for c in calls] == [(P1, "dental")]
    assert calls[0].received_at == datetime.fromisoformat(at)
    block = await (await client.get("/api/rounds/blocks/1", headers=doctor)).json()
    assert {d["patient_id"]: d["sick_calls"] for d in block}[P1] == 1

    check = {"key": "watch-check-0001", "patient_id": P1, "kind": "watch", "taken_at": taken(3),
             "fields": {"text": "Awake, calm"}}
    response = await client.post("/api/rounds/entries", headers=doctor, json=check)
    assert response.status == 422  # not on watch: nothing to check
    flag = context.db.call(lambda s: store.create(s, {
        "resourceType": "Flag", "status": "active", "code": {"coding": [{"system": LOCAL, "code": Raise.SUICIDE_WATCH.value}]},
        "subject": {"reference": f"Patient/{P1}"}}).id)
    assert {d["patient_id"]: d["watch"] for d in
            await (await client.get("/api/rounds/blocks/1", headers=doctor)).json()}[P1] == {"flag": flag, "last_check": None}
    assert (await client.post("/api/rounds/entries", headers=doctor, json=check)).status == 201
    [seen] = [o for o in await search(client, doctor, f"Observation?patient={P1}") if o.get("focus")]
    assert seen["focus"] == [{"reference": f"Flag/{flag}"}] and seen["valueString"] == "Awake, calm"
    watch = {d["patient_id"]: d["watch"] for d in await (await client.get("/api/rounds/blocks/1", headers=doctor)).json()}
    assert datetime.fromisoformat(watch[P1]["last_check"]) == datetime.fromisoformat(check["taken_at"])


async def test_bad_entries_are_refused_and_write_nothing(client, login, context, world):
    doctor = await login("doc-a")
    good = {"key": "k-0000000001", "patient_id": P1, "kind": "note", "taken_at": taken(1), "fields": {"text": "ok"}}
    for change, status in (({"kind": "diary"}, 400), ({"key": "short"}, 400), ({"key": "bad key with spaces"}, 400),
                           ({"taken_at": "yesterday"}, 400), ({"taken_at": "2026-01-01T00:00:00"}, 400),
                           ({"taken_at": taken(-60)}, 400), ({"taken_at": taken(3 * 24 * 60)}, 400),
                           ({"fields": "text"}, 400), ({"fields": {"text": ""}}, 422),
                           ({"kind": "vitals", "fields": {"sbp": "900"}}, 422)):
        response = await client.post("/api/rounds/entries", headers=doctor, json={**good, **change})
        assert response.status == status, (change, await response.text())
    assert await search(client, doctor, f"DocumentReference?patient={P1}") == []
    assert await search(client, doctor, f"Observation?patient={P1}") == []
    for user, status in (("doc-b", 403), ("spec-1", 403), ("guard-a", 403), ("officer-a", 403)):
        response = await client.post("/api/rounds/entries", headers=await login(user), json=good)
        assert response.status == status, user
    assert await search(client, doctor, f"DocumentReference?patient={P1}") == []
