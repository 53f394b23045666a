"""Custody tasks through the API: assigned by other packages with ``custody.tasks.assign``,
pushed over /ws/events to the officers of the detainee's block, marked by them; an officer sees
whom, where and when and never anything clinical; other facilities and other roles are refused."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from custody import tasks
from custody.blocks import block_of
from ehr import store
from telemed.models import AuditEntry, Detainee
from tests.conftest import both_databases
from tests.ehr_support import condition, observation

DUE = datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc)
CLINICAL_WORDS = ("reason", "diagnosis", "condition", "observation", "result", "note_text", "Angina", "I20")


def assign(context, patient="fac-a-p1", **changes):
    args = dict(facility_id="fac-a", patient_id=patient, kind="bring_to_clinic", due=DUE, place="clinic",
                source="Appointment/a-1", note="bring the glasses")
    return context.db.call(lambda s: tasks.assign(s, **(args | changes)).id)


def move(context, patient: str, cell: str) -> None:
    def write(session):
        row = session.get(Detainee, patient)
        row.cell = cell
        session.add(row)
    context.db.call(write)


async def get(client, url, headers, status=200):
    response = await client.get(url, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


def test_block_of_a_cell():
    assert block_of("3-07") == "3"
    assert block_of(" 12-30 ") == "12"
    assert block_of("A-2-01") == "A"
    assert block_of("isolation") == "isolation"
    assert block_of("") == ""


@both_databases
async def test_officer_sees_and_marks_a_task_and_nothing_clinical(client, login, context, world, db_kind):
    context.db.call(lambda s: store.create(s, condition("fac-a-p1"), resource_id="cond-a1"))
    context.db.call(lambda s: store.create(s, observation("fac-a-p1"), resource_id="obs-a1"))
    task_id = assign(context)
    guard = await login("guard-a")
    [shown] = await get(client, "/api/custody/tasks", guard)
    assert shown["id"] == task_id and shown["kind"] == "bring_to_clinic" and shown["place"] == "clinic"
    assert shown["name"] == "王小明" and shown["booking_number"] == "fac-a-1" and shown["cell"] == "1-01"
    assert shown["due"] == DUE.isoformat() and shown["state"] == "pending" and shown["block"] == "1"
    assert not any(word in str(shown) for word in CLINICAL_WORDS)
    assert "source" not in shown  # the appointment or consult behind it stays with the clinic

    assert await get(client, "/api/custody/tasks", await login("guard-b")) == []
    for other in ("doc-a", "officer-a", "spec-1", "admin"):
        await get(client, "/api/custody/tasks", await login(other), 403)
    response = await client.post(f"/api/custody/tasks/{task_id}/brought", headers=await login("guard-b"))
    assert response.status == 404  # another facility's task reads as unknown

    response = await client.post(f"/api/custody/tasks/{task_id}/brought", headers=guard)
    assert response.status == 200, await response.text()
    marked = await response.json()
    assert marked["state"] == "brought" and marked["done_at"]
    again = await client.post(f"/api/custody/tasks/{task_id}/refused", headers=guard)
    assert again.status == 409  # the first record stands
    resource = context.db.call(store.read, "Task", task_id).resource
    assert resource["status"] == "completed" and resource["businessStatus"]["coding"][0]["code"] == "brought"
    assert resource["for"]["reference"] == "Patient/fac-a-p1" and resource["focus"]["reference"] == "Appointment/a-1"
    assert await get(client, "/api/custody/tasks", guard) == []
    [done] = await get(client, "/api/custody/tasks?state=done", guard)
    assert done["id"] == task_id
    await get(client, "/api/custody/tasks?state=everything", guard, 400)

    # The doctor reads the Task through FHIR; the officer reads no FHIR at all.
    doc = await login("doc-a")
    assert (await client.get(f"/fhir/Task/{task_id}", headers=doc)).status == 200
    assert (await client.get(f"/fhir/Task/{task_id}", headers=guard)).status == 403
    context.audit.flush()
    actions = context.db.call(lambda s: [(r.action, r.outcome, r.patient_id) for r in s.exec(
        select(AuditEntry).where(AuditEntry.username == "guard-a")).all()])
    assert ("custody.tasks.list", "allowed", "fac-a-p1") in actions
    assert ("custody.task.mark", "allowed", "fac-a-p1") in actions
    assert ("custody.task.mark", "denied", "fac-a-p1") in actions


async def test_refused_and_unavailable_are_recorded_with_the_time(client, login, context, world):
    guard = await login("guard-a")
    refused, away = assign(context), assign(context, patient="fac-a-p2")
    for task_id, outcome, status in ((refused, "refused", "failed"), (away, "unavailable", "failed")):
        response = await client.post(f"/api/custody/tasks/{task_id}/{outcome}", headers=guard)
        assert response.status == 200
        resource = context.db.call(store.read, "Task", task_id).resource
        assert resource["status"] == status and resource["businessStatus"]["coding"][0]["code"] == outcome
        assert resource["executionPeriod"]["end"]
    assert (await client.post(f"/api/custody/tasks/{refused}/escaped", headers=guard)).status == 404
    assert (await client.post("/api/custody/tasks/no-such/brought", headers=guard)).status == 404


async def test_a_task_is_pushed_to_the_officers_of_its_block_only(client, login, context, world):
    move(context, "fac-a-p2", "2-05")
    guard = await login("guard-a")
    response = await client.post("/api/custody/post", headers=guard, json={"block": "2"})
    assert (await response.json()) == {"block": "2"}
    events = await client.ws_connect("/ws/events", headers=guard)
    other_facility = await client.ws_connect("/ws/events", headers=await login("guard-b"))
    doctor = await client.ws_connect("/ws/events", headers=await login("doc-a"))
    assign(context, patient="fac-a-p1")  # block 1: not this officer's post
    task_id = assign(context, patient="fac-a-p2", kind="escort", security_level="high", place="Hospital · ER",
                     source="ServiceRequest/r-1")
    pushed = await asyncio.wait_for(events.receive_json(), 10)
    assert pushed["type"] == "custody.task" and pushed["task"]["id"] == task_id and pushed["ring"] is True
    assert "王小明" in pushed["toast"]["zh-CN"] and "2-05" in pushed["toast"]["en"]
    for silent in (other_facility, doctor):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(silent.receive_json(), 2)
    # Only the block's task is listed for the post; every block's with the post cleared.
    assert [t["id"] for t in await get(client, "/api/custody/tasks", guard)] == [task_id]
    await client.post("/api/custody/post", headers=guard, json={"block": ""})
    assert len(await get(client, "/api/custody/tasks", guard)) == 2
    for socket in (events, other_facility, doctor):
        await socket.close()


async def test_the_roster_shows_who_is_where_in_the_own_facility(client, login, context, world):
    guard = await login("guard-a")
    rows = await get(client, "/api/custody/roster?q=fac", guard)
    assert {r["patient_id"] for r in rows} == {"fac-a-p1", "fac-a-p2", "fac-a-p3"}
    assert set(rows[0]) == {"patient_id", "name", "booking_number", "cell", "block", "photo"}
    assert await get(client, "/api/custody/roster?q=fac-b", guard) == []
    await get(client, "/api/custody/roster?q=fac", await login("doc-a"), 403)
    await get(client, "/api/custody/roster?q=" + "x" * 101, guard, 400)


async def test_doctors_see_todays_calls_and_where_they_stand(client, login, context, world):
    now = datetime.now(timezone.utc)
    task_id = assign(context, due=now + timedelta(minutes=5))
    doc = await login("doc-a")
    [call] = await get(client, "/api/custody/calls", doc)
    assert call["id"] == task_id and call["state"] == "pending"
    await client.post(f"/api/custody/tasks/{task_id}/brought", headers=await login("guard-a"))
    assert (await get(client, "/api/custody/calls", doc))[0]["state"] == "brought"
    assert await get(client, "/api/custody/calls", await login("doc-b")) == []
    for refused in ("guard-a", "spec-1", "admin"):
        await get(client, "/api/custody/calls", await login(refused), 403)


async def test_the_officer_sees_a_photo_of_their_own_facilitys_detainee_only(client, login, context, world):
    from custody.demo import portrait

    def add_photo(session):
        patient = store.read(session, "Patient", "fac-a-p1").resource
        patient["photo"] = [{"contentType": "image/png", "data": base64.b64encode(portrait(1)).decode()}]
        store.update(session, patient, "fac-a-p1")
    context.db.call(add_photo)
    guard = await login("guard-a")
    response = await client.get("/api/custody/photo/fac-a-p1", headers=guard)
    assert response.status == 200 and response.content_type == "image/png"
    assert await response.read() == portrait(1)
    assert (await client.get("/api/custody/photo/fac-a-p2", headers=guard)).status == 404  # none taken
    assert (await client.get("/api/custody/photo/fac-a-p1", headers=await login("guard-b"))).status == 404
    assert (await client.get("/api/custody/photo/fac-a-p1", headers=await login("admin"))).status == 403
    rows = {r["patient_id"]: r["photo"] for r in await get(client, "/api/custody/roster?q=fac-a", guard)}
    assert rows == {"fac-a-p1": True, "fac-a-p2": False, "fac-a-p3": False}


async def test_a_confirmed_consult_calls_the_detainee_and_the_work_list_shows_the_way(client, login, context, world):
    from tests.consults_support import scheduled

    consult = await scheduled(client, login)
    guard, doc = await login("guard-a"), await login("doc-a")
    [task] = await get(client, "/api/custody/tasks", guard)
    assert task["kind"] == "bring_to_clinic" and task["place"] == "consult_room" and task["place_known"]
    assert task["due"] == consult["scheduled_start"] and task["patient_id"] == consult["patient_id"]
    assert consult["question"] not in str(task)

    def states() -> list:
        return [c.get("call_state") for lst in lists.values() for c in lst]
    lists = await get(client, "/api/consults", doc)
    assert states() == ["pending"]
    await client.post(f"/api/custody/tasks/{task['id']}/brought", headers=guard)
    lists = await get(client, "/api/consults", doc)
    assert states() == ["brought"]
    lists = await get(client, "/api/consults", await login("spec-1"))
    assert states() == [None]  # the specialist is not told the custody side


async def test_an_administrator_adds_a_custody_officer_to_a_facility_only(client, login, context, world):
    """Not a clinical account: it needs no medical officer's approval, and a hospital has no officers."""
    admin = await login("admin")
    strong = "lantern-quarry-velvet-9"
    made = await client.post("/api/admin/users", headers=admin, json={
        "username": "guard-new", "password": strong, "role": "custody_officer", "org_id": "fac-a"})
    assert made.status == 201 and (await made.json())["state"] == "active"
    token = await client.post("/api/auth/token", json={"username": "guard-new", "password": strong})
    assert token.status == 200
    refused = await client.post("/api/admin/users", headers=admin, json={
        "username": "guard-hosp", "password": strong, "role": "custody_officer", "org_id": "hosp-1"})
    assert refused.status in (400, 422) and (await refused.json())["code"] == "needs_facility"
    assert (await client.get("/api/accounts/pending", headers=await login("officer-a"))).status == 200
    assert "guard-new" not in await (await client.get("/api/accounts/pending", headers=await login("officer-a"))).text()
