"""The access policy through the FHIR API: facility isolation, specialists see only what was
shared, admins see no clinical data, break-the-glass is flagged, every decision is audited."""

from __future__ import annotations

from sqlmodel import select

from ehr import store
from telemed.models import AuditEntry, Detainee, User
from telemed.policy import open_break_glass
from telemed.security import principal_of
from tests.ehr_support import condition, fhir, ids, observation, open_consult


def seed_observations(context) -> dict[str, str]:
    def seed(session):
        return {
            "a1": store.create(session, observation("fac-a-p1"), resource_id="obs-a1").id,
            "a2": store.create(session, observation("fac-a-p1", value=90), resource_id="obs-a2").id,
            "b1": store.create(session, observation("fac-b-p1"), resource_id="obs-b1").id,
            "cond": store.create(session, condition("fac-a-p1"), resource_id="cond-a1").id,
        }
    return context.db.call(seed)


def audit_rows(context, **where) -> list[AuditEntry]:
    context.audit.flush()
    def query(session):
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()
        return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]
    return context.db.call(query)


async def test_facility_staff_see_only_their_detainees(client, login, context, world):
    seed_observations(context)
    doc_b = await login("doc-b")
    # Out of scope reads as unknown (the same answer as for an id that does not exist)...
    status, outcome, _ = await fhir(client, "GET", "/fhir/Observation/obs-a1", doc_b)
    unknown = await fhir(client, "GET", "/fhir/Observation/no-such-id", doc_b)
    assert status == unknown[0] == 404 and outcome["issue"][0]["code"] == "not-found"
    assert outcome["issue"][0]["diagnostics"] == "Observation/obs-a1 is not known"
    # ... and a search naming another facility's detainee finds nothing, as for an unknown one.
    status, found, _ = await fhir(client, "GET", "/fhir/Observation?patient=fac-a-p1", doc_b)
    _, none, _ = await fhir(client, "GET", "/fhir/Observation?patient=no-such-patient", doc_b)
    assert status == 200 and found["total"] == none["total"] == 0 and ids(found) == []
    status, found, _ = await fhir(client, "GET", "/fhir/Observation", doc_b)
    assert ids(found) == ["obs-b1"]
    _, patients, _ = await fhir(client, "GET", "/fhir/Patient?_count=50", doc_b)
    assert sorted(ids(patients)) == ["fac-b-p1", "fac-b-p2", "fac-b-p3"]
    _, history, _ = await fhir(client, "GET", "/fhir/Observation/_history", doc_b)
    assert {e["resource"]["id"] for e in history["entry"]} == {"obs-b1"}
    denied = audit_rows(context, username="doc-b", outcome="denied")
    assert {(r.action, r.patient_id) for r in denied} == {("fhir.read", "fac-a-p1"), ("fhir.search", "fac-a-p1"),
                                                          ("fhir.search", "no-such-patient")}
    assert audit_rows(context, username="doc-b", action="fhir.search", outcome="allowed", patient_id="fac-b-p1")


async def test_writes_need_clinical_write_on_that_detainee(client, login, context, world):
    doc_b, officer = await login("doc-b"), await login("officer-a")
    status, _, _ = await fhir(client, "POST", "/fhir/Observation", doc_b, observation("fac-a-p1"))
    assert status == 403
    status, _, _ = await fhir(client, "POST", "/fhir/Observation", officer, observation("fac-a-p1"))
    assert status == 403
    patient = context.db.call(lambda s: store.read(s, "Patient", "fac-a-p1")).resource
    patient.pop("id")
    status, outcome, _ = await fhir(client, "POST", "/fhir/Patient", doc_b, patient)
    assert status == 403, outcome
    assert context.db.call(lambda s: store.by_patient(s, "fac-a-p1", ("Observation",))) == []
    doc_a = await login("doc-a")
    status, created, _ = await fhir(client, "POST", "/fhir/Patient", doc_a, patient)
    assert status == 201
    assert context.db.call(lambda s: s.get(Detainee, created["id"]).facility_id) == "fac-a"


async def test_specialist_sees_only_shared_resources(client, login, context, world):
    seed_observations(context)
    context.db.call(open_consult, "c-1", "fac-a-p1", world.users["spec-1"], shared=(("Observation", "obs-a1"),))
    spec = await login("spec-1")
    assert (await fhir(client, "GET", "/fhir/Patient/fac-a-p1", spec))[0] == 200
    assert (await fhir(client, "GET", "/fhir/Observation/obs-a1", spec))[0] == 200
    assert (await fhir(client, "GET", "/fhir/Observation/obs-a2", spec))[0] == 404
    assert (await fhir(client, "GET", "/fhir/Patient/fac-a-p2", spec))[0] == 404
    _, found, _ = await fhir(client, "GET", "/fhir/Observation?patient=fac-a-p1", spec)
    assert ids(found) == ["obs-a1"]
    _, found, _ = await fhir(client, "GET", "/fhir/Observation", spec)
    assert ids(found) == ["obs-a1"]
    _, found, _ = await fhir(client, "GET", "/fhir/Patient?_id=fac-a-p1&_revinclude=Observation:patient&_revinclude=Condition:patient", spec)
    assert ids(found) == ["fac-a-p1"] and ids(found, "include") == ["obs-a1"]
    _, everything, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$everything", spec)
    assert sorted(ids(everything)) == ["fac-a-p1", "obs-a1"]
    assert (await fhir(client, "POST", "/fhir/Observation", spec, observation("fac-a-p1")))[0] == 403
    other = await login("spec-2")
    assert (await fhir(client, "GET", "/fhir/Patient/fac-a-p1", other))[0] == 404
    _, found, _ = await fhir(client, "GET", "/fhir/Patient", other)
    assert ids(found) == []


async def test_specialist_loses_access_after_grace(client, login, context, world):
    seed_observations(context)
    context.db.call(open_consult, "c-old", "fac-a-p1", world.users["spec-1"], shared=(("Observation", "obs-a1"),),
                    closed_days_ago=31)
    spec = await login("spec-1")
    assert (await fhir(client, "GET", "/fhir/Observation/obs-a1", spec))[0] == 404


async def test_admin_reads_no_clinical_data(client, login, context, world):
    seed_observations(context)
    admin = await login("admin")
    for url in ("/fhir/Patient/fac-a-p1", "/fhir/Observation", "/fhir/Organization", "/fhir/Patient/fac-a-p1/$everything",
                "/fhir/AuditEvent"):
        status, outcome, _ = await fhir(client, "GET", url, admin)
        assert status == 403 and outcome["resourceType"] == "OperationOutcome", url


async def test_custody_officer_reads_no_clinical_data(client, login, context, world):
    """Their own facility's detainees included: every FHIR read and write, the clinical lists
    and the record page refuse them, and each refusal is audited against the detainee."""
    seed_observations(context)
    guard = await login("guard-a")
    for url in ("/fhir/Patient/fac-a-p1", "/fhir/Observation/obs-a1", "/fhir/Observation", "/fhir/Condition/cond-a1",
                "/fhir/Patient/fac-a-p1/$everything", "/fhir/Patient?_id=fac-a-p1", "/fhir/AuditEvent",
                "/fhir/Organization", "/fhir/Observation?patient=fac-a-p1"):
        status, outcome, _ = await fhir(client, "GET", url, guard)
        assert status == 403 and outcome["resourceType"] == "OperationOutcome", url
        assert "obs-a1" not in str(outcome.get("entry", "")), url
    status, _, _ = await fhir(client, "POST", "/fhir/Observation", guard, observation("fac-a-p1"))
    assert status == 403
    for url in ("/api/detainees", "/api/detainees/search?q=fac", "/detainees/fac-a-1", "/labs", "/consults", "/exams"):
        response = await client.get(url, headers=guard)
        assert response.status == 403, url
    denied = audit_rows(context, username="guard-a", action="fhir.read", outcome="denied")
    assert denied and denied[0].patient_id == "fac-a-p1" and denied[0].reason == "role custody_officer may not clinical.read"


async def test_refusals_by_role_name_the_detainee(client, login, context, world):
    """An admin refused at role level is recorded against the detainee the request was about."""
    seed_observations(context)
    admin = await login("admin")
    cases = {
        "/fhir/Observation/obs-b1": ("fhir.read", "fac-b-p1"),
        "/fhir/Observation/obs-a1/_history/1": ("fhir.vread", "fac-a-p1"),
        "/fhir/Observation/obs-a2/_history": ("fhir.history", "fac-a-p1"),
        "/fhir/Condition?subject=Patient/fac-b-p1": ("fhir.search", "fac-b-p1"),
        "/fhir/Patient?_id=fac-a-p3": ("fhir.search", "fac-a-p3"),
    }
    for url, (action, patient_id) in cases.items():
        status, _, _ = await fhir(client, "GET", url, admin)
        assert status == 403, url
        denied = audit_rows(context, username="admin", action=action, outcome="denied")
        assert denied and denied[-1].patient_id == patient_id, url
        assert denied[-1].reason == "role admin may not clinical.read", url
    status, _, _ = await fhir(client, "GET", "/fhir/Observation?code=8867-4", admin)
    assert status == 403
    assert audit_rows(context, username="admin", action="fhir.search", outcome="denied")[-1].patient_id is None


async def test_break_glass_is_allowed_and_flagged(client, login, context, world):
    seed_observations(context)

    def grant(session):
        who = principal_of(session.get(User, world.users["doc-b"]))
        open_break_glass(session, who, "fac-a-p1", "collapsed in transit, needs history now")
    context.db.call(grant)
    doc_b = await login("doc-b")
    assert (await fhir(client, "GET", "/fhir/Observation/obs-a1", doc_b))[0] == 200
    _, found, _ = await fhir(client, "GET", "/fhir/Condition", doc_b)
    assert ids(found) == ["cond-a1"]
    flagged = audit_rows(context, username="doc-b", break_glass=True)
    assert {r.action for r in flagged} == {"fhir.read", "fhir.search"}
    assert all(r.patient_id == "fac-a-p1" for r in flagged)


async def test_audit_events_for_medical_officers_of_that_facility(client, login, context, world):
    seed_observations(context)
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    await fhir(client, "GET", "/fhir/Observation/obs-a1", doc_a)
    await fhir(client, "GET", "/fhir/Observation/obs-b1", doc_b)
    context.audit.flush()
    officer = await login("officer-a")
    status, events, _ = await fhir(client, "GET", "/fhir/AuditEvent?patient=fac-a-p1", officer)
    assert status == 200 and events["entry"]
    refs = {ent["what"]["reference"] for e in events["entry"] for ent in e["resource"].get("entity", [])}
    assert "Patient/fac-a-p1" in refs
    _, all_events, _ = await fhir(client, "GET", "/fhir/AuditEvent?_count=500", officer)
    patients = {ent["what"]["reference"] for e in all_events["entry"] for ent in e["resource"].get("entity", [])
                if ent["what"]["reference"].startswith("Patient/")}
    assert patients and all(p.startswith("Patient/fac-a") for p in patients)
    first = all_events["entry"][0]["resource"]["id"]
    assert (await fhir(client, "GET", f"/fhir/AuditEvent/{first}", officer))[0] == 200
    assert (await fhir(client, "GET", "/fhir/AuditEvent", doc_a))[0] == 403
    assert (await fhir(client, "POST", "/fhir/AuditEvent", officer, {"resourceType": "AuditEvent"}))[0] == 405


async def test_transfer_moves_access_and_keeps_history(client, login, context, world):
    seed_observations(context)
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "destination", "valueReference": {"reference": "Organization/fac-b"}},
        {"name": "cell", "valueString": "3-07"}]}
    assert (await fhir(client, "POST", "/fhir/Patient/fac-a-p1/$transfer", doc_b, params))[0] == 403
    status, patient, _ = await fhir(client, "POST", "/fhir/Patient/fac-a-p1/$transfer", doc_a, params)
    assert status == 200 and patient["managingOrganization"]["reference"] == "Organization/fac-b"
    assert (await fhir(client, "GET", "/fhir/Observation/obs-a1", doc_a))[0] == 404
    assert (await fhir(client, "GET", "/fhir/Observation/obs-a1", doc_b))[0] == 200
    _, history, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/_history", doc_b)
    assert len(history["entry"]) == 2
    page = await client.get("/detainees/fac-a-1?lang=en", headers=doc_b)
    text = await page.text()
    assert page.status == 200 and "Facility A → Facility B" in text
    bad = {"resourceType": "Parameters", "parameter": [{"name": "destination", "valueReference": {"reference": "Organization/hosp-1"}}]}
    assert (await fhir(client, "POST", "/fhir/Patient/fac-a-p1/$transfer", doc_b, bad))[0] == 422
