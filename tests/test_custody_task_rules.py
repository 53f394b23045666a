"""The rules of custody/tasks.py on both databases, in one rolled-back session each: what a task
records (stripped, in UTC, on the detainee's block, as a FHIR Task too), who marks it and when,
what a cancelled source closes, an officer's post, and which tasks each list shows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from custody import tasks
from custody.models import CustodyPost, CustodyTask
from ehr import store
from ehr.models import FhirResource
from telemed.models import Detainee, User
from telemed.timeutil import as_utc, utcnow

DUE = datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc)
BEIJING = timezone(timedelta(hours=8))


def assign(session, patient: str = "fac-a-p1", **changes) -> CustodyTask:
    args = dict(facility_id="fac-a", patient_id=patient, kind="bring_to_clinic", due=DUE, place="clinic",
                source="Appointment/a-1")
    return tasks.assign(session, **(args | changes))


def user(session, username: str) -> User:
    return session.exec(select(User).where(User.username == username)).one()


def fhir_task(session, task_id: str) -> dict:
    return store.read(session, "Task", task_id).resource


def count(session) -> int:
    return len(session.exec(select(CustodyTask)).all())


def test_a_task_records_what_the_officer_needs_stripped_in_utc_on_the_detainees_block(rolled_back):
    session, _ = rolled_back
    row = session.get(Detainee, "fac-a-p2")
    row.cell = " 4-11 "
    session.add(row)
    due = datetime(2026, 12, 7, 17, 30, tzinfo=BEIJING)
    before = utcnow()
    task = assign(session, "fac-a-p2", kind="escort", security_level="enhanced", due=due, place="  gate \n",
                  source="ServiceRequest/r-9", note="  two officers, no visitors  ")
    stored = session.get(CustodyTask, task.id)
    assert (stored.facility_id, stored.patient_id, stored.block, stored.kind) == ("fac-a", "fac-a-p2", "4", "escort")
    assert (stored.place, stored.note, stored.source) == ("gate", "two officers, no visitors", "ServiceRequest/r-9")
    assert stored.security_level == "enhanced" and stored.state == "pending" and stored.done_at is None
    assert stored.due == DUE and stored.due.utcoffset() == timedelta(0)
    assert before <= stored.created_at <= utcnow()

    resource = fhir_task(session, task.id)
    assert resource["id"] == task.id and resource["status"] == "requested"
    assert resource["code"]["coding"][0]["code"] == "escort"
    assert resource["for"] == {"reference": "Patient/fac-a-p2"}
    assert resource["focus"] == {"reference": "ServiceRequest/r-9"}
    assert resource["owner"] == {"reference": "Organization/fac-a"}
    assert resource["restriction"]["period"]["end"] == "2026-12-07T09:30:00+00:00"
    assert resource["authoredOn"] == as_utc(stored.created_at).isoformat()
    place, level = resource["input"]
    assert place["valueString"] == "gate" and level["valueCodeableConcept"]["coding"][0]["code"] == "enhanced"
    assert resource["note"] == [{"text": "two officers, no visitors"}]


def test_a_task_without_a_note_or_a_level_records_none(rolled_back):
    session, _ = rolled_back
    task = assign(session, kind="witness")
    stored = session.get(CustodyTask, task.id)
    assert (stored.kind, stored.note, stored.security_level) == ("witness", "", None)
    resource = fhir_task(session, task.id)
    assert "note" not in resource and [i["type"]["text"] for i in resource["input"]] == ["place"]


SOURCE_RULE = ("source must be one of Appointment/, Task/, ServiceRequest/, Consult/ "
               "and an id of 1 to 64 letters, digits, - or .")


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"kind": "transport"}, "kind", "kind must be one of bring_to_clinic, escort, witness"),
    ({"due": datetime(2026, 12, 7, 9, 30)}, "due", "due must be a time with its zone"),
    ({"due": "2026-12-07T09:30:00+00:00"}, "due", "due must be a time with its zone"),
    ({"place": ""}, "place", "place is required, at most 200 characters"),
    ({"place": "  "}, "place", "place is required, at most 200 characters"),
    ({"place": "x" * 201}, "place", "place is required, at most 200 characters"),
    ({"source": "Observation/o-1"}, "source", SOURCE_RULE),
    ({"source": "Consult"}, "source", SOURCE_RULE),
    ({"source": "Task/"}, "source", SOURCE_RULE),
    ({"source": "ServiceRequest/" + "a" * 65}, "source", SOURCE_RULE),
    ({"source": "Appointment/a-1/_history/2"}, "source", SOURCE_RULE),
    ({"source": "Task/t 1"}, "source", SOURCE_RULE),
    ({"source": "Appointment/a-1 "}, "source", SOURCE_RULE),
    ({"security_level": "maximum"}, "security_level", "security_level must be one of standard, enhanced, high"),
    ({"kind": "escort"}, "security_level", "an escort needs a security level"),
    ({"note": "x" * 501}, "note", "note is at most 500 characters"),
    ({"patient_id": "fac-b-p1"}, "patient_id", "no detainee fac-b-p1 in facility fac-a"),
    ({"patient_id": "nobody"}, "patient_id", "no detainee nobody in facility fac-a"),
])
def test_a_refused_task_names_its_field_says_why_and_writes_nothing(rolled_back, change, field, message):
    session, _ = rolled_back
    with pytest.raises(tasks.TaskRefused, match=f"^{re.escape(message)}$") as refused:
        assign(session, **change)
    assert refused.value.field == field
    assert count(session) == 0 and session.exec(select(FhirResource).where(FhirResource.type == "Task")).all() == []


@pytest.mark.parametrize("change", [
    {"place": "x" * tasks.MAX_PLACE}, {"note": "x" * tasks.MAX_NOTE},
    {"source": "ServiceRequest/" + "A-z.9" * 12 + "0123"},
    *({"source": f"{prefix}x-1"} for prefix in tasks.SOURCES),
    *({"kind": "escort", "security_level": level} for level in ("standard", "enhanced", "high")),
    {"kind": "witness"}, {"note": ""},
])
def test_each_value_is_taken_up_to_its_limit(rolled_back, change):
    session, _ = rolled_back
    task = assign(session, **change)
    stored = session.get(CustodyTask, task.id)
    assert (stored.kind, stored.security_level, stored.source) == (change.get("kind", "bring_to_clinic"),
                                                                   change.get("security_level"),
                                                                   change.get("source", "Appointment/a-1"))
    assert (stored.place, stored.note) == (change.get("place", "clinic"), change.get("note", ""))


def test_a_detainee_no_longer_in_custody_gets_no_task(rolled_back):
    session, _ = rolled_back
    row = session.get(Detainee, "fac-a-p3")
    row.status = "transferred"
    session.add(row)
    with pytest.raises(tasks.TaskRefused, match="^detainee fac-a-p3 is no longer in custody$") as refused:
        assign(session, "fac-a-p3")
    assert refused.value.field == "patient_id" and count(session) == 0


def test_the_officer_marks_a_task_with_their_name_and_the_time(rolled_back):
    session, _ = rolled_back
    guard = user(session, "guard-a")
    task = assign(session)
    at = datetime(2026, 12, 7, 9, 41, tzinfo=timezone.utc)
    marked = tasks.mark(session, task.id, "refused", guard, at)
    assert marked is task and (marked.state, marked.done_at, marked.done_by) == ("refused", at, guard.id)
    session.expire_all()
    stored = session.get(CustodyTask, task.id)
    assert (stored.state, stored.done_at, stored.done_by) == ("refused", at, guard.id)
    resource = fhir_task(session, task.id)
    assert resource["status"] == "failed" and resource["businessStatus"]["coding"][0]["code"] == "refused"
    assert resource["executionPeriod"] == {"end": at.isoformat()} and resource["lastModified"] == at.isoformat()
    assert resource["output"] == [{"type": {"text": "recorded by"}, "valueString": guard.display_name}]


def test_a_mark_without_a_time_is_recorded_now(rolled_back):
    session, _ = rolled_back
    task = assign(session)
    before = utcnow()
    marked = tasks.mark(session, task.id, "brought", user(session, "guard-a"))
    assert marked.state == "brought" and before <= marked.done_at <= utcnow()


@pytest.mark.parametrize("outcome", ["cancelled", "pending", "escaped"])
def test_an_officer_records_only_brought_refused_or_unavailable(rolled_back, outcome):
    session, _ = rolled_back
    task = assign(session)
    with pytest.raises(tasks.TaskRefused, match="^outcome must be one of brought, refused, unavailable$") as refused:
        tasks.mark(session, task.id, outcome, user(session, "guard-a"))
    assert refused.value.field == "outcome"
    session.expire_all()
    assert session.get(CustodyTask, task.id).state == "pending" and fhir_task(session, task.id)["status"] == "requested"


def test_the_first_record_stands(rolled_back):
    session, _ = rolled_back
    guard = user(session, "guard-a")
    task = assign(session)
    tasks.mark(session, task.id, "unavailable", guard, DUE)
    with pytest.raises(tasks.TaskRefused, match=f"^task {task.id} is not pending$") as refused:
        tasks.mark(session, task.id, "brought", guard, DUE + timedelta(hours=1))
    assert refused.value.field == "task"
    session.expire_all()
    assert (session.get(CustodyTask, task.id).state, session.get(CustodyTask, task.id).done_at) == ("unavailable", DUE)
    assert fhir_task(session, task.id)["businessStatus"]["coding"][0]["code"] == "unavailable"


def test_calling_off_a_source_cancels_only_its_pending_tasks(rolled_back):
    session, _ = rolled_back
    brought, waiting, elsewhere = assign(session), assign(session, "fac-a-p2"), assign(session, source="Task/t-2")
    tasks.mark(session, brought.id, "brought", user(session, "guard-a"), DUE)
    before = utcnow()
    cancelled = tasks.cancel(session, "Appointment/a-1")
    assert [row.id for row in cancelled] == [waiting.id]
    assert cancelled[0].state == "cancelled" and cancelled[0].done_by is None
    assert before <= cancelled[0].done_at <= utcnow()
    session.expire_all()
    assert [session.get(CustodyTask, t.id).state for t in (brought, waiting, elsewhere)] == [
        "brought", "cancelled", "pending"]
    resource = fhir_task(session, waiting.id)
    assert resource["status"] == "cancelled" and resource["businessStatus"]["coding"][0]["code"] == "cancelled"
    assert "executionPeriod" not in resource and "output" not in resource
    assert tasks.cancel(session, "Appointment/a-1") == []


def test_an_officers_post_is_their_block_or_the_whole_facility(rolled_back):
    session, _ = rolled_back
    guard, other = user(session, "guard-a").id, user(session, "guard-b").id
    assert tasks.post_of(session, guard) == ""
    assert tasks.set_post(session, guard, "  3 ") == "3"
    assert tasks.post_of(session, guard) == "3" and tasks.post_of(session, other) == ""
    longest = "B" * 32
    assert tasks.set_post(session, guard, f" {longest} ") == longest
    assert session.get(CustodyPost, guard).block == longest
    assert tasks.set_post(session, guard, "") == "" and tasks.post_of(session, guard) == ""


def test_a_block_name_longer_than_32_characters_is_refused_and_the_post_kept(rolled_back):
    session, _ = rolled_back
    guard = user(session, "guard-a").id
    tasks.set_post(session, guard, "2")
    with pytest.raises(tasks.TaskRefused, match="^block is at most 32 characters$") as refused:
        tasks.set_post(session, guard, "B" * 33)
    assert refused.value.field == "block" and tasks.post_of(session, guard) == "2"


def ids(session, facility: str = "fac-a", **filters) -> list[str]:
    return [listed.task.id for listed in tasks.listing(session, facility, **filters)]


def test_the_list_shows_the_facilitys_tasks_in_time_order_filtered_as_asked(rolled_back):
    session, _ = rolled_back
    move = session.get(Detainee, "fac-a-p2")
    move.cell = "2-05"
    session.add(move)
    later = assign(session, due=DUE + timedelta(hours=2))
    first = assign(session, "fac-a-p2", source="Task/t-1")
    done = assign(session, "fac-a-p3", due=DUE + timedelta(hours=1), source="Consult/c-1")
    other = assign(session, "fac-b-p1", facility_id="fac-b")
    tasks.mark(session, done.id, "brought", user(session, "guard-a"), DUE)

    assert ids(session) == [first.id, done.id, later.id]
    assert ids(session, "fac-b") == [other.id]
    assert ids(session, block="2") == [first.id] and ids(session, block="9") == []
    assert ids(session, state="open") == [first.id, later.id] and ids(session, state="done") == [done.id]
    assert ids(session, since=DUE + timedelta(hours=1)) == [done.id, later.id]
    assert ids(session, until=DUE + timedelta(hours=2)) == [first.id, done.id]
    assert ids(session, sources=["Task/t-1", "Consult/c-1"]) == [first.id, done.id]
    assert ids(session, sources=[]) == []
    assert ids(session, done_since=DUE) == [done.id] and ids(session, done_since=DUE + timedelta(seconds=1)) == []


def test_tasks_due_at_the_same_time_are_listed_by_id(rolled_back):
    """One order for ties, so that a list does not reshuffle between two looks."""
    session, _ = rolled_back
    for task_id in ("t-c", "t-a", "t-b"):
        session.add(CustodyTask(id=task_id, facility_id="fac-a", patient_id="fac-a-p1", block="1", kind="witness",
                                due=DUE, place="clinic", source=f"Task/{task_id}"))
    session.flush()
    assert ids(session) == ["t-a", "t-b", "t-c"]


def test_a_listed_task_names_the_detainee_and_nothing_clinical(rolled_back):
    session, _ = rolled_back
    task = assign(session, place="Room 4", note="glasses")
    [listed] = tasks.listing(session, "fac-a")
    shown = listed.json()
    assert shown == {"id": task.id, "kind": "bring_to_clinic", "due": "2026-12-07T09:30:00+00:00", "place": "Room 4",
                     "place_known": False, "security_level": None, "note": "glasses", "state": "pending",
                     "done_at": None, "block": "1", "patient_id": "fac-a-p1", "name": "王小明",
                     "booking_number": "fac-a-1", "cell": "1-01", "referral": None}
    tasks.mark(session, task.id, "brought", user(session, "guard-a"), datetime(2026, 12, 7, 17, 40, tzinfo=BEIJING))
    [listed] = tasks.listing(session, "fac-a")
    assert listed.json()["done_at"] == "2026-12-07T09:40:00+00:00"


@pytest.mark.parametrize("place", tasks.PLACES)
def test_the_pages_name_a_known_place_in_the_readers_language(rolled_back, place):
    session, _ = rolled_back
    assign(session, place=place)
    assert [listed.json()["place_known"] for listed in tasks.listing(session, "fac-a")] == [True]


def test_an_escort_names_its_referral(rolled_back):
    session, _ = rolled_back
    assign(session, kind="escort", security_level="high", source="ServiceRequest/r-7")
    assign(session, "fac-a-p2", source="ServiceRequest/r-8")
    shown = [listed.json() for listed in tasks.listing(session, "fac-a")]
    # Same due time: listed by id, which does not follow the order of creation.
    assert sorted((s["kind"], s["referral"] or "", s["security_level"] or "") for s in shown) == [
        ("bring_to_clinic", "", ""), ("escort", "r-7", "high")]


def test_the_work_list_shows_the_latest_task_of_each_source(rolled_back):
    session, _ = rolled_back
    assert tasks.state_by_source(session, []) == {}
    newer, older = assign(session), assign(session, "fac-a-p2")
    newer.created_at, older.created_at = DUE, DUE - timedelta(hours=1)
    session.add_all([newer, older])
    tasks.mark(session, older.id, "refused", user(session, "guard-a"), DUE)
    assign(session, "fac-a-p3", source="Task/t-5")
    assign(session, "fac-b-p1", facility_id="fac-b", source="Task/t-6")
    assert tasks.state_by_source(session, ["Appointment/a-1", "Task/t-5", "Task/t-404"]) == {
        "Appointment/a-1": "pending", "Task/t-5": "pending"}
    tasks.mark(session, newer.id, "brought", user(session, "guard-a"), DUE)
    assert tasks.state_by_source(session, ["Appointment/a-1"]) == {"Appointment/a-1": "brought"}
