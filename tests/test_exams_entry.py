"""Exam entry: each section lands in the FHIR store with LOINC codes and UCUM units, and only the
facility's doctors may write it."""

from __future__ import annotations

import asyncio

import pytest

from ehr import store
from reports.exam_fhir import Author
from reports.exams import enter_section
from reports.models import Exam
from tests.conftest import both_databases
from tests.reports_support import FULL_EXAM, exam_id, full_exam, open_campaign

NEW = {"name": "体检", "period_start": "2026-03-01", "period_end": "2026-03-31", "cohort_date": "2026-02-01"}


async def _first_exam(client, login) -> int:
    officer = await login("officer-a")
    campaign = await (await client.post("/api/campaigns", json=NEW, headers=officer)).json()
    shown = await (await client.get(f"/api/campaigns/{campaign['id']}", headers=officer)).json()
    return shown["exams"][0]["exam_id"]


async def test_vitals_become_loinc_observations_with_ucum_units_and_bmi(client, login, context):
    exam = await _first_exam(client, login)
    doctor = await login("doc-a")
    response = await client.put(f"/api/exams/{exam}/sections/vitals", headers=doctor, json={
        "height": 172, "weight": 81, "sbp": 152, "dbp": 96, "pulse": 78, "temperature": 36.5})
    assert response.status == 200, await response.text()
    assert (await response.json())["sections"] == ["vitals"]
    bmi = context.db.call(store.read, "Observation", f"exam-{exam}-bmi").resource
    assert bmi["code"]["coding"][0]["code"] == "39156-5"
    assert bmi["valueQuantity"] == {"value": 27.4, "unit": "kg/m2", "system": "http://unitsofmeasure.org",
                                    "code": "kg/m2"}
    assert bmi["interpretation"][0]["coding"][0]["code"] == "H"
    bp = context.db.call(store.read, "Observation", f"exam-{exam}-bp").resource
    assert bp["code"]["coding"][0]["code"] == "85354-9"
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["code"]) for c in bp["component"]] == [
        ("8480-6", "mm[Hg]"), ("8462-4", "mm[Hg]")]
    temp = context.db.call(store.read, "Observation", f"exam-{exam}-temperature").resource
    assert temp["code"]["coding"][0]["code"] == "8310-5" and temp["valueQuantity"]["code"] == "Cel"
    encounter = context.db.call(store.read, "Encounter", f"exam-{exam}").resource
    assert encounter["subject"]["reference"] == "Patient/fac-a-p1" and encounter["status"] == "finished"
    shown = await (await client.get(f"/api/exams/{exam}", headers=doctor)).json()
    assert shown["values"]["height"]["valueQuantity"]["value"] == 172


async def test_study_sections_are_diagnostic_reports_and_conclusion_completes(client, login, context):
    exam = await _first_exam(client, login)
    doctor = await login("doc-a")
    ecg = await client.put(f"/api/exams/{exam}/sections/ecg", headers=doctor,
                           json={"text": "窦性心动过缓", "abnormal": True, "advice": "心内科随诊"})
    assert ecg.status == 200
    report = context.db.call(store.read, "DiagnosticReport", f"exam-{exam}-ecg-report").resource
    assert report["conclusion"] == "窦性心动过缓" and report["code"]["coding"][0]["code"] == "11524-6"
    assert report["result"] == [{"reference": f"Observation/exam-{exam}-ecg"}]
    done = await client.put(f"/api/exams/{exam}/sections/conclusion", headers=doctor,
                            json={"conclusion": "窦性心动过缓", "recommendations": "随诊"})
    assert (await done.json())["status"] == "examined"
    officer = await login("officer-a")
    reviewed = await client.post(f"/api/exams/{exam}/review", headers=officer)
    assert (await reviewed.json())["reviewer_id"] is not None


async def test_completion_is_pushed_to_the_facility_staff(client, login):
    exam = await _first_exam(client, login)
    officer_ws = await client.ws_connect("/ws/events", headers=await login("officer-a"))
    other_ws = await client.ws_connect("/ws/events", headers=await login("officer-b"))
    doctor = await login("doc-a")
    await client.put(f"/api/exams/{exam}/sections/conclusion", headers=doctor, json={"conclusion": "未见异常"})
    message = await officer_ws.receive_json(timeout=10)
    assert message["type"] == "exams.completion" and message["completion"]["examined"] == 1
    assert message["completion"]["pending"] == 2
    with pytest.raises(asyncio.TimeoutError):
        await other_ws.receive_json(timeout=0.5)  # the other facility hears nothing
    await officer_ws.close()
    await other_ws.close()


async def test_entry_rejects_bad_values_and_unknown_sections(client, login):
    exam = await _first_exam(client, login)
    doctor = await login("doc-a")
    for section, body in (("vitals", {"height": 17}), ("vitals", {"sbp": 120}), ("vitals", {"weight": "heavy"}),
                          ("eye", {"abnormal": True}), ("conclusion", {})):
        response = await client.put(f"/api/exams/{exam}/sections/{section}", headers=doctor, json=body)
        assert response.status == 400, (section, body)
    assert (await client.put(f"/api/exams/{exam}/sections/xray", headers=doctor, json={"text": "x"})).status == 404


async def test_refusal_and_who_may_enter(client, login, context):
    exam = await _first_exam(client, login)
    body = {"text": "未见异常"}
    for user in ("doc-b", "officer-a", "spec-1", "admin"):
        response = await client.put(f"/api/exams/{exam}/sections/eye", headers=await login(user), json=body)
        assert response.status == 403, user
    for user in ("doc-b", "officer-b", "spec-1"):
        assert (await client.get(f"/api/exams/{exam}", headers=await login(user))).status == 403, user
    doctor = await login("doc-a")
    refused = await client.put(f"/api/exams/{exam}/sections/refused", headers=doctor, json={"reason": "本人拒绝"})
    assert (await refused.json())["status"] == "refused"
    assert (await client.put(f"/api/exams/{exam}/sections/eye", headers=doctor, json=body)).status == 409
    encounter = context.db.call(store.read, "Encounter", f"exam-{exam}").resource
    assert encounter["status"] == "cancelled"


@both_databases
def test_a_full_exam_is_stored_on_both_databases(context, world):
    author = Author(world.users["doc-a"], "doc-a")

    def scenario(session):
        cid = open_campaign(session, "fac-a", world.users["officer-a"], cohort_date="2026-02-01")
        eid = exam_id(session, cid, "fac-a-p2")
        full_exam(session, eid, author)
        enter_section(session, eid, "eye", {"text": "右眼视力减退", "abnormal": True}, author)
        return eid

    eid = context.db.call(scenario)
    exam = context.db.call(lambda s: s.get(Exam, eid))
    assert exam.status == "examined" and set(exam.sections.split(",")) == set(FULL_EXAM)
    eye = context.db.call(store.read, "Observation", f"exam-{eid}-eye")
    assert eye.version == 2 and eye.resource["valueString"] == "右眼视力减退"
    ids = {s.id for s in context.db.call(store.by_patient, "fac-a-p2", ("Observation", "DiagnosticReport"))}
    assert {f"exam-{eid}-bmi", f"exam-{eid}-abdominal-us-report", f"exam-{eid}-conclusion"} <= ids
