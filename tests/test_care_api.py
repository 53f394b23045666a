"""Intake screening and sick call through the API: arrivals open intakes, answers raise what
they imply, requests run on their clocks, and who may see what."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from care.models import FollowUp, Intake, SickCall
from custody.models import CustodyTask
from ehr import store
from labs.models import LabOrder
from telemed.models import AuditEntry
from telemed.timeutil import utcnow
from tests.care_support import answers, arrive
from tests.conftest import both_databases
from tests.consults_support import call


@both_databases
async def test_an_arrival_is_screened_and_its_answers_raise_flags_orders_and_tasks(client, login, context, world):
    patient, intake_id = context.db.call(arrive, sex="female")
    doc = await login("doc-a")
    work = await call(client, "GET", "/api/care/worklist", doc)
    [row] = [i for i in work["intakes"] if i["id"] == intake_id]
    assert row["screened_at"] is None and not row["screening_late"]

    found = await call(client, "POST", f"/api/care/intakes/{intake_id}/screening", doc, {"answers": answers(
        suicide_thoughts=True, tb_cough=True, medication_now=True, medication_list="metformin 500 mg bid",
        opioid_use=True, pregnant="unknown")}, status=201)
    assert found["raised"] == ["suicide_watch", "urgent_review", "isolation", "chest_xray", "tb_labs", "reconcile",
                               "withdrawal", "pregnancy_test"]

    def record(session):
        flags = [s.resource["code"]["coding"][0]["code"] for s in store.by_patient(session, patient, ("Flag",))]
        requests = [s.resource["code"]["coding"][0]["code"] for s in store.by_patient(session, patient, ("ServiceRequest",))
                    if "code" in s.resource]
        orders = session.exec(select(LabOrder).where(LabOrder.patient_id == patient)).all()
        follow = session.exec(select(FollowUp).where(FollowUp.patient_id == patient)).all()
        response = store.read(session, "QuestionnaireResponse", found["response_id"]).resource
        return flags, requests, [o.tests for o in orders], follow, response
    flags, requests, orders, follow, response = context.db.call(record)
    assert sorted(flags) == ["isolation", "suicide_watch", "withdrawal"]
    assert "36643-5" in requests
    assert sorted(orders) == ["2106-3", "71773-6"]
    kinds = [f.kind for f in follow]
    assert kinds.count("urgent_review") == 1 and kinds.count("reconcile") == 1
    assert {f.detail for f in follow if f.kind == "check"} == {"COWS"} and kinds.count("check") == 18
    assert response["subject"] == {"reference": f"Patient/{patient}"} and response["status"] == "completed"

    detail = await call(client, "GET", f"/api/care/intakes/{intake_id}", doc)
    assert detail["answers"]["medication_list"] == "metformin 500 mg bid"
    assert sorted(detail["flags"]) == ["isolation", "suicide_watch", "withdrawal"]
    await call(client, "POST", f"/api/care/intakes/{intake_id}/screening", doc, {"answers": answers()}, status=409)

    urgent = next(f for f in follow if f.kind == "urgent_review")
    await call(client, "POST", f"/api/care/follow-ups/{urgent.id}/done", doc, {})
    assert context.db.call(store.read, "Task", urgent.id).resource["status"] == "completed"
    await call(client, "POST", f"/api/care/intakes/{intake_id}/assessment", doc, {})
    work = await call(client, "GET", "/api/care/worklist", doc)
    assert intake_id not in [i["id"] for i in work["intakes"]]


@both_databases
async def test_answers_that_imply_nothing_raise_nothing(client, login, context, world):
    _, intake_id = context.db.call(arrive)
    doc = await login("doc-a")
    found = await call(client, "POST", f"/api/care/intakes/{intake_id}/screening", doc, {"answers": answers()}, status=201)
    assert found["raised"] == []


async def test_each_answer_raises_its_own(client, login, context, world):
    cases = [({"self_harm_history": True}, ["suicide_watch", "urgent_review"]),
             ({"risk_observed": True}, ["suicide_watch", "urgent_review"]),
             ({"tb_fever_sweats": True}, ["isolation", "chest_xray", "tb_labs"]),
             ({"alcohol_daily": True}, ["withdrawal"]), ({"withdrawal_signs": True}, ["withdrawal"]),
             ({"pregnant": "yes"}, ["pregnancy"]), ({"injury_seen": True}, ["injury_review"]),
             ({"medication_now": True}, ["reconcile"]), ({"allergy": True}, []), ({"infection_history": True}, [])]
    doc = await login("doc-a")
    for n, (given, expected) in enumerate(cases):
        _, intake_id = context.db.call(arrive, booking=f"A-{n}", sex="female")
        found = await call(client, "POST", f"/api/care/intakes/{intake_id}/screening", doc,
                           {"answers": answers(**given)}, status=201)
        assert found["raised"] == expected, given


async def test_bad_answers_are_refused_naming_the_question_and_change_nothing(client, login, context, world):
    _, intake_id = context.db.call(arrive)
    doc = await login("doc-a")
    for body, field in (({"answers": answers(tb_cough="yes")}, "tb_cough"),
                        ({"answers": answers(shoe_size=True)}, "shoe_size"),
                        ({"answers": {k: v for k, v in answers().items() if k != "suicide_thoughts"}}, "suicide_thoughts"),
                        ({"answers": answers(pregnant="maybe")}, "pregnant"), ({}, "answers")):
        found = await call(client, "POST", f"/api/care/intakes/{intake_id}/screening", doc, body, status=400)
        assert found["field"] == field
    assert context.db.call(lambda s: s.get(Intake, intake_id).screened_at) is None
    await call(client, "POST", "/api/care/intakes/99999/screening", doc, {"answers": answers()}, status=404)


async def test_a_transfer_in_opens_an_intake_at_the_new_facility(client, login, context, world):
    doc_b = await login("doc-b")
    await call(client, "POST", "/fhir/Patient/fac-a-p1/$transfer", await login("doc-a"), {
        "resourceType": "Parameters", "parameter": [
            {"name": "destination", "valueReference": {"reference": "Organization/fac-b"}},
            {"name": "cell", "valueString": "2-01"}]})
    work = await call(client, "GET", "/api/care/worklist", doc_b)
    assert [(i["patient_id"], i["kind"]) for i in work["intakes"]] == [("fac-a-p1", "transfer")]


async def test_another_facility_and_other_roles_see_no_screening(client, login, context, world):
    _, intake_id = context.db.call(arrive)
    doc = await login("doc-a")
    await call(client, "POST", f"/api/care/intakes/{intake_id}/screening", doc, {"answers": answers()}, status=201)
    for user, status in (("doc-b", 403), ("spec-1", 403), ("admin", 403)):
        await call(client, "GET", f"/api/care/intakes/{intake_id}", await login(user), status=status)
    for user in ("doc-b", "spec-1", "admin"):
        work = await call(client, "GET", "/api/care/worklist", await login(user), status=403 if user != "doc-b" else 200)
        assert intake_id not in [i["id"] for i in work.get("intakes", [])]
    await call(client, "POST", f"/api/care/intakes/{intake_id}/assessment", await login("officer-a"), {}, status=403)

    def denials(session):
        return session.exec(select(AuditEntry.username).where(AuditEntry.action == "care.intake.read",
                                                              AuditEntry.outcome == "denied")).all()
    assert sorted(context.db.call(denials)) == ["admin", "doc-b", "spec-1"]


# --- sick call ---------------------------------------------------------------------------------

async def _request(client, login, words="头疼三天了，吃不下饭", **extra) -> dict:
    body = {"patient_id": "fac-a-p1", "words": words, "category": "illness"} | extra
    return await call(client, "POST", "/api/care/sick-calls", await login("doc-a"), body, status=201)


@both_databases
async def test_a_sick_call_is_triaged_scheduled_and_seen_on_site(client, login, context, world):
    made = await _request(client, login)
    doc = await login("doc-a")
    detail = await call(client, "GET", f"/api/care/sick-calls/{made['id']}", doc)
    assert detail["words"] == "头疼三天了，吃不下饭" and detail["stage"] == "received"
    visit = (utcnow() + timedelta(hours=3)).isoformat()
    triaged = await call(client, "POST", f"/api/care/sick-calls/{made['id']}/triage", doc,
                         {"urgent": False, "visit_at": visit, "place": "Clinic room 1"})
    assert triaged["stage"] == "scheduled" and triaged["place"] == "Clinic room 1"
    task = context.db.call(lambda s: s.exec(select(CustodyTask).where(CustodyTask.source == f"Task/{made['id']}")).one())
    assert (task.kind, task.patient_id, task.place, task.due.isoformat()) == ("bring_to_clinic", "fac-a-p1",
                                                                              "Clinic room 1", visit)
    seen = await call(client, "POST", f"/api/care/sick-calls/{made['id']}/visit", doc,
                      {"outcome": "seen", "note": "Tension headache; paracetamol."})
    assert seen["stage"] == "closed" and not seen["triage_late"] and not seen["visit_late"]
    task = context.db.call(store.read, "Task", made["id"]).resource
    assert task["status"] == "completed" and task["output"][0]["type"]["coding"][0]["code"] == "seen"
    assert task["restriction"]["period"]["end"] == seen["visit_due"]
    await call(client, "POST", f"/api/care/sick-calls/{made['id']}/visit", doc, {"outcome": "seen", "note": "x"}, status=409)


async def test_outcomes_order_labs_or_request_a_consult(client, login, context, world):
    doc = await login("doc-a")
    visit = (utcnow() + timedelta(hours=1)).isoformat()
    for outcome, extra in (("labs", {"panels": ["cbc"]}),
                           ("consult", {"consult": {"hospital_id": "hosp-1", "specialty": "cardiology",
                                                    "urgency": "routine", "question": "Chest pain on exertion?"}}),
                           ("referral", {"referral": {"urgency": "urgent", "hospital": "市第一人民医院", "department": "骨科",
                                                      "reason": "suspected fracture", "security_level": "enhanced"}})):
        made = await _request(client, login)
        await call(client, "POST", f"/api/care/sick-calls/{made['id']}/triage", doc,
                   {"urgent": False, "visit_at": visit, "place": "Clinic"})
        await call(client, "POST", f"/api/care/sick-calls/{made['id']}/visit", doc,
                   {"outcome": outcome, "note": "seen", **extra})
    consults = await call(client, "GET", "/api/consults", doc)
    assert any(c["question"] == "Chest pain on exertion?" for rows in consults.values() for c in rows)
    orders = context.db.call(lambda s: s.exec(select(LabOrder.note).where(LabOrder.patient_id == "fac-a-p1")).all())
    assert "sick call" in orders
    escort = context.db.call(lambda s: s.exec(select(CustodyTask).where(CustodyTask.kind == "escort")).one())
    assert escort.patient_id == "fac-a-p1" and escort.security_level == "enhanced"


async def test_a_refused_outcome_changes_nothing(client, login, context, world):
    doc = await login("doc-a")
    made = await _request(client, login)
    await call(client, "POST", f"/api/care/sick-calls/{made['id']}/triage", doc,
               {"urgent": False, "visit_at": (utcnow() + timedelta(hours=1)).isoformat(), "place": "Clinic"})
    found = await call(client, "POST", f"/api/care/sick-calls/{made['id']}/visit", doc,
                       {"outcome": "labs", "note": "seen", "panels": ["no-such-panel"]}, status=400)
    assert "no-such-panel" in found["error"]
    for body, field in (({"outcome": "teleport", "note": "x"}, "outcome"), ({"outcome": "seen", "note": " "}, "note"),
                        ({"outcome": "consult", "note": "x"}, "consult")):
        assert (await call(client, "POST", f"/api/care/sick-calls/{made['id']}/visit", doc, body, status=400))["field"] == field
    assert context.db.call(lambda s: s.get(SickCall, made["id"]).closed_at) is None


async def test_triage_closes_with_a_reason_or_refuses(client, login, context, world):
    doc = await login("doc-a")
    made = await _request(client, login, category="other", words="想问一下我的药还有没有")
    url = f"/api/care/sick-calls/{made['id']}/triage"
    assert (await call(client, "POST", url, doc, {"urgent": False}, status=400))["field"] == "reason"
    assert (await call(client, "POST", url, doc, {"visit_at": "tomorrow"}, status=400))["field"] == "visit_at"
    past = (utcnow() - timedelta(hours=1)).isoformat()
    assert (await call(client, "POST", url, doc, {"visit_at": past, "place": "x"}, status=400))["field"] == "visit_at"
    closed = await call(client, "POST", url, doc, {"urgent": False, "reason": "medication question answered at the window"})
    assert closed["outcome"] == "no_action" and closed["stage"] == "closed" and not closed["visit_late"]


async def test_bad_requests_are_refused(client, login, context, world):
    doc = await login("doc-a")
    for body, field, status in (({"patient_id": "fac-a-p1", "words": "", "category": "illness"}, "words", 400),
                                ({"patient_id": "fac-a-p1", "words": "x", "category": "nonsense"}, "category", 400),
                                ({"patient_id": "fac-a-p1", "words": "x", "category": "illness", "urgent": "yes"}, "urgent", 400),
                                ({"patient_id": "fac-b-p1", "words": "x", "category": "illness"}, "booking_number", 404),
                                ({"booking_number": "nobody", "words": "x", "category": "illness"}, "booking_number", 404)):
        assert (await call(client, "POST", "/api/care/sick-calls", doc, body, status=status))["field"] == field
    for user in ("spec-1", "admin", "officer-a"):
        await call(client, "POST", "/api/care/sick-calls", await login(user),
                   {"patient_id": "fac-a-p1", "words": "x", "category": "illness"}, status=403)
    assert context.db.call(lambda s: s.exec(select(SickCall)).all()) == []


async def test_a_breach_made_by_moving_time_shows_on_the_work_list(client, login, context, world):
    made = await _request(client, login)

    def backdate(session):
        call_row = session.get(SickCall, made["id"])
        shift = timedelta(hours=30)
        call_row.received_at -= shift
        call_row.triage_due -= shift
        call_row.visit_due -= shift
        session.add(call_row)
    context.db.call(backdate)
    work = await call(client, "GET", "/api/care/worklist", await login("doc-a"))
    [row] = [c for c in work["sick_calls"] if c["id"] == made["id"]]
    assert row["triage_late"] and not row["visit_late"]


async def test_rules_are_set_by_the_medical_officer_and_checked(client, login, context, world):
    officer = await login("officer-a")
    found = await call(client, "PUT", "/api/care/rules", officer, {"screening_hours": 2})
    assert found["screening_hours"] == 2 and found["triage_hours"] == 24
    for body, field in (({"screening_hours": 0}, "screening_hours"), ({"visit_hours": "48"}, "visit_hours"),
                        ({"nonsense": 1}, "nonsense"), ({"visit_hours_off_days": 24}, "visit_hours_off_days")):
        assert (await call(client, "PUT", "/api/care/rules", officer, body, status=400))["field"] == field
    await call(client, "PUT", "/api/care/rules", await login("doc-a"), {"screening_hours": 8}, status=403)
    assert (await call(client, "GET", "/api/care/rules", await login("doc-a")))["screening_hours"] == 2
    assert (await call(client, "GET", "/api/care/rules", await login("doc-b")))["screening_hours"] == 4


# --- officers and cell kiosks -------------------------------------------------------------------

CLINICAL_WORDS = ("头疼三天了", "metformin", "suicide", "answers", "words", "outcome", "flags", "category")


@both_databases
async def test_an_officer_enters_requests_and_sees_no_clinical_data(client, login, context, world):
    _, intake_id = context.db.call(arrive)
    doc = await login("doc-a")
    await call(client, "POST", f"/api/care/intakes/{intake_id}/screening", doc, {"answers": answers(
        suicide_thoughts=True, medication_now=True, medication_list="metformin")}, status=201)
    guard = await login("guard-a")
    made = await call(client, "POST", "/api/care/sick-calls", guard,
                      {"booking_number": "fac-a-1", "words": "头疼三天了", "category": "illness"}, status=201)
    assert set(made) == {"id", "patient_id", "name", "booking_number", "received_at"}
    await call(client, "POST", f"/api/care/sick-calls/{made['id']}/triage", doc, {"urgent": False, "reason": "answered"})
    mine = await call(client, "GET", "/api/care/sick-calls/mine", guard)
    assert [c["id"] for c in mine["sick_calls"]] == [made["id"]] and mine["sick_calls"][0]["stage"] == "closed"
    assert [d["booking_number"] for d in mine["screenings_due"]] == []  # screened: no longer due
    _, unscreened = context.db.call(arrive, booking="A-901")
    mine = await call(client, "GET", "/api/care/sick-calls/mine", guard)
    assert [d["booking_number"] for d in mine["screenings_due"]] == ["A-901"]
    text = str(mine)
    assert not [w for w in CLINICAL_WORDS if w in text]
    for url in ("/api/care/worklist", f"/api/care/intakes/{intake_id}", f"/api/care/sick-calls/{made['id']}",
                "/api/care/rules", "/api/care/questionnaire", "/api/care/figures?year=2026&month=12"):
        found = await call(client, "GET", url, guard, status=403)
        assert not [w for w in CLINICAL_WORDS[:3] if w in str(found)], url
    for url, body in ((f"/api/care/intakes/{unscreened}/screening", {"answers": answers()}),
                      (f"/api/care/sick-calls/{made['id']}/visit", {"outcome": "seen", "note": "x"})):
        await call(client, "POST", url, guard, body, status=403)
    for page in ("/care", f"/care/intake/{intake_id}", f"/care/sick-call/{made['id']}", "/care/rules"):
        response = await client.get(page, headers=guard)
        assert response.status == 403, page
        assert "metformin" not in await response.text()
    # another facility's detainee cannot be named
    await call(client, "POST", "/api/care/sick-calls", guard,
               {"booking_number": "fac-b-1", "words": "x", "category": "illness"}, status=404)


async def test_a_cell_kiosk_submits_and_lists_nothing(client, login, context, world):
    kiosk = await login("kiosk-a")
    made = await call(client, "POST", "/api/care/sick-calls", kiosk,
                      {"booking_number": "fac-a-2", "words": "肚子疼", "category": "illness"}, status=201)
    assert made["booking_number"] == "fac-a-2"
    assert await call(client, "GET", "/api/care/sick-calls/mine", kiosk) == {"sick_calls": [], "screenings_due": []}
    for url in ("/api/care/worklist", f"/api/care/sick-calls/{made['id']}", "/api/detainees", "/fhir/Patient/fac-a-p2"):
        response = await client.get(url, headers=kiosk)
        assert response.status == 403, url
    response = await client.get("/care/request", headers=kiosk)
    assert response.status == 200 and "fac-a-2" not in await response.text()


async def test_a_readmission_after_release_opens_a_new_intake(client, login, context, world):
    def set_status(session, status: str) -> None:
        stored = store.read(session, "Patient", "fac-a-p3")
        patient = stored.resource
        for ext in patient["extension"]:
            for sub in ext.get("extension", []):
                if sub["url"] == "status":
                    sub["valueCode"] = status
        store.update(session, patient, "fac-a-p3", if_match=stored.version)

    def intakes(session):
        return session.exec(select(Intake.kind).where(Intake.patient_id == "fac-a-p3")).all()
    context.db.call(set_status, "released")
    assert context.db.call(intakes) == []
    context.db.call(set_status, "in-custody")
    assert context.db.call(intakes) == ["admission"]


async def test_the_doctors_home_counts_arrivals_to_screen_and_open_sick_calls(client, login, context, world):
    from tests.test_home_counts import counts
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    _, intake_id = context.db.call(arrive)
    await _request(client, login)
    mine = await counts(client, doc_a)
    assert mine["care_unscreened"] == (1, "/care") and mine["care_sick_calls"] == (1, "/care")
    theirs = await counts(client, doc_b)
    assert theirs["care_unscreened"][0] == 0 and theirs["care_sick_calls"][0] == 0
    await call(client, "POST", f"/api/care/intakes/{intake_id}/screening", doc_a, {"answers": answers()}, status=201)
    assert (await counts(client, doc_a))["care_unscreened"][0] == 0
