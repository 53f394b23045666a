"""Exam campaigns over HTTP: who may open, see and close them, and the completion counts."""

from __future__ import annotations

from sqlmodel import select

from ehr import store
from ehr.custody import custody_extension
from reports.campaigns import completion
from reports.models import Exam
from telemed.models import AuditEntry
from tests.conftest import both_databases
from tests.reports_support import PERIOD, exam_id, open_campaign

NEW = {"name": "2026上半年体检", "period_start": PERIOD[0], "period_end": PERIOD[1], "cohort_date": "2026-02-01"}


async def test_officer_opens_a_campaign_for_the_detainees_in_custody(client, login, world):
    headers = await login("officer-a")
    response = await client.post("/api/campaigns", json=NEW, headers=headers)
    assert response.status == 201, await response.text()
    campaign = await response.json()
    assert campaign["facility_id"] == "fac-a"
    assert campaign["completion"] == {"total": 3, "examined": 0, "refused": 0, "pending": 3, "released": 0}
    shown = await (await client.get(f"/api/campaigns/{campaign['id']}", headers=headers)).json()
    assert [e["patient_id"] for e in shown["exams"]] == ["fac-a-p1", "fac-a-p2", "fac-a-p3"]
    listed = await (await client.get("/api/campaigns", headers=headers)).json()
    assert [c["id"] for c in listed] == [campaign["id"]]


async def test_cohort_date_excludes_later_admissions_and_a_chosen_list_must_be_ours(client, login, world):
    headers = await login("officer-a")
    early = await client.post("/api/campaigns", json=NEW | {"cohort_date": "2026-01-01"}, headers=headers)
    assert early.status == 400  # everyone was admitted on 2026-01-05: an empty cohort
    theirs = await client.post("/api/campaigns", json=NEW | {"cohort_date": None, "patient_ids": ["fac-b-p1"]},
                               headers=headers)
    assert theirs.status == 400 and "fac-b-p1" in (await theirs.json())["error"]
    chosen = await client.post("/api/campaigns", json=NEW | {"cohort_date": None, "patient_ids": ["fac-a-p2"]},
                               headers=headers)
    assert (await chosen.json())["completion"]["total"] == 1


async def test_access_denials_are_refused_and_audited(client, login, world, context):
    officer_a = await login("officer-a")
    campaign = await (await client.post("/api/campaigns", json=NEW, headers=officer_a)).json()
    officer_b, doctor, specialist, admin = [await login(u) for u in ("officer-b", "doc-a", "spec-1", "admin")]
    assert (await client.get(f"/api/campaigns/{campaign['id']}", headers=officer_b)).status == 403
    assert (await client.post(f"/api/campaigns/{campaign['id']}/close", headers=officer_b)).status == 403
    assert (await client.post("/api/campaigns", json=NEW | {"facility_id": "fac-a"}, headers=officer_b)).status == 403
    assert (await client.post("/api/campaigns", json=NEW, headers=doctor)).status == 403
    assert (await client.post(f"/api/campaigns/{campaign['id']}/close", headers=doctor)).status == 403
    for headers in (specialist, admin):
        assert (await client.get("/api/campaigns", headers=headers)).status == 403
        assert (await client.get(f"/api/campaigns/{campaign['id']}", headers=headers)).status == 403
    # the doctor of the facility sees the roster (to examine), the other facility's list is empty
    assert (await client.get(f"/api/campaigns/{campaign['id']}", headers=doctor)).status == 200
    assert await (await client.get("/api/campaigns", headers=officer_b)).json() == []
    context.audit.flush()
    denied = context.db.call(lambda s: s.exec(select(AuditEntry.action).where(AuditEntry.outcome == "denied")).all())
    assert "exams.campaign.read" in denied and "exams.campaign.create" in denied and "exams.campaign.close" in denied


async def test_close_stops_entry(client, login, world):
    officer = await login("officer-a")
    campaign = await (await client.post("/api/campaigns", json=NEW, headers=officer)).json()
    closed = await client.post(f"/api/campaigns/{campaign['id']}/close", headers=officer)
    assert (await closed.json())["status"] == "closed"
    assert (await client.post(f"/api/campaigns/{campaign['id']}/close", headers=officer)).status == 409
    exam = (await (await client.get(f"/api/campaigns/{campaign['id']}", headers=officer)).json())["exams"][0]
    doctor = await login("doc-a")
    entry = await client.put(f"/api/exams/{exam['exam_id']}/sections/vitals", json={"height": 170, "weight": 70},
                             headers=doctor)
    assert entry.status == 409


@both_databases
def test_completion_counts_examined_refused_pending_and_released(context, world):
    def scenario(session):
        cid = open_campaign(session, "fac-a", world.users["officer-a"], cohort_date="2026-02-01")
        exams = {e.patient_id: e for e in session.exec(select(Exam).where(Exam.campaign_id == cid)).all()}
        exams["fac-a-p1"].status = "examined"
        exams["fac-a-p2"].status = "refused"
        patient = store.read(session, "Patient", "fac-a-p3").resource
        patient["extension"] = [custody_extension("fac-a", "1-01", "2026-01-05", status="released")]
        store.update(session, patient, "fac-a-p3")
        session.add_all(exams.values())
        session.flush()
        assert exam_id(session, cid, "fac-a-p3") == exams["fac-a-p3"].id
        return completion(session, cid)

    assert context.db.call(scenario) == {"total": 3, "examined": 1, "refused": 1, "pending": 0, "released": 1}


async def test_a_chosen_list_by_booking_number_holds_only_our_detainees(client, login, world):
    headers = await login("officer-a")
    by_booking = await client.post("/api/campaigns", headers=headers,
                                   json=NEW | {"cohort_date": None, "booking_numbers": ["fac-a-1", "fac-a-3"]})
    shown = await (await client.get(f"/api/campaigns/{(await by_booking.json())['id']}", headers=headers)).json()
    assert sorted(e["booking_number"] for e in shown["exams"]) == ["fac-a-1", "fac-a-3"]
    theirs = await client.post("/api/campaigns", headers=headers,
                               json=NEW | {"cohort_date": None, "booking_numbers": ["fac-a-1", "fac-b-1"]})
    refused = await theirs.json()
    assert theirs.status == 400 and "fac-b-1" in refused["error"]
    # the pages say it in the reader's words, next to the field (reports.campaign_err.<code>)
    assert {k: refused[k] for k in ("code", "field", "values")} == {
        "code": "unknown_booking", "field": "booking_numbers", "values": {"numbers": "fac-b-1"}}
    both = await client.post("/api/campaigns", headers=headers, json=NEW | {"booking_numbers": ["fac-a-1"]})
    assert both.status == 400 and (await both.json())["code"] == "cohort_choice"  # a cohort date and a list at once
