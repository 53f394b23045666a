"""The record page's writes, at the HTTP level: each kind of entry through the FHIR interactions,
bad values refused field by field with nothing written, and every other role refused."""

from __future__ import annotations

from ehr import store
from tests.conftest import both_databases
from tests.test_ehr_access import audit_rows

P = "fac-a-p1"


def count(context, rtype: str) -> int:
    return context.db.call(lambda s: len(store.by_patient(s, P, (rtype,))))


def resources(context, rtype: str) -> list[dict]:
    return context.db.call(lambda s: [x.resource for x in store.by_patient(s, P, (rtype,))])


async def post(client, headers, path: str, body: dict, status: int = 201) -> dict:
    response = await client.post(f"/api/record/{P}/{path}", json=body, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


@both_databases
async def test_doctor_writes_each_kind_of_entry(client, login, context, world):
    doc = await login("doc-a")
    await post(client, doc, "allergies/none", {})
    await post(client, doc, "allergies", {"substance": "Penicillin", "reaction": "rash", "severity": "moderate",
                                          "criticality": "high"})
    allergies = resources(context, "AllergyIntolerance")
    nka = next(a for a in allergies if a["code"].get("coding"))
    assert nka["clinicalStatus"]["coding"][0]["code"] == "inactive"  # replaced by the allergy
    assert (await post(client, doc, "allergies/none", {}, 422))["errors"] == {"nka": "已记录过敏，不能再记录“无已知过敏”。"}

    await post(client, doc, "problems", {"code": "I10", "onset": "2025-03-01", "note": "on treatment"})
    condition = resources(context, "Condition")[0]
    assert condition["code"]["coding"][0] == {"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10",
                                              "display": "Essential (primary) hypertension"}
    await post(client, doc, f"problems/{condition['id']}", {"code": "E11.9", "onset": "2025-03-01"})
    await post(client, doc, f"problems/{condition['id']}/resolve", {"abatement": "2026-01-02"})
    condition = resources(context, "Condition")[0]
    assert (condition["code"]["coding"][0]["code"], condition["clinicalStatus"]["coding"][0]["code"],
            condition["meta"]["versionId"]) == ("E11.9", "resolved", "3")

    await post(client, doc, "medications", {"drug": "Amlodipine", "dose": "5", "dose_unit": "mg", "route": "oral",
                                            "frequency": "qd", "start": "2026-01-01"})
    med = resources(context, "MedicationRequest")[0]
    assert med["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 5
    await post(client, doc, f"medications/{med['id']}/stop", {"reason": "ankle oedema"})
    med = resources(context, "MedicationRequest")[0]
    assert med["status"] == "stopped" and med["statusReason"]["text"] == "ankle oedema"
    assert med["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"]

    await post(client, doc, "vitals", {"sbp": "182", "dbp": "96", "pulse": "88", "temperature": "36.6",
                                       "spo2": "90", "glucose": "3.2", "weight": "70.5"})
    flags = {o["code"]["coding"][0]["code"]: [i["coding"][0]["code"] for part in [o, *o.get("component", [])]
                                              for i in part.get("interpretation", [])]
             for o in resources(context, "Observation")}
    assert flags == {"85354-9": ["HH", "H"], "8867-4": ["N"], "8310-5": ["N"], "59408-5": ["LL"],
                     "14743-9": ["L"], "29463-7": []}

    await post(client, doc, "notes", {"shape": "soap", "subjective": "headache", "assessment": "tension headache"})
    first = resources(context, "DocumentReference")[0]
    await post(client, doc, f"notes/{first['id']}/amend", {"shape": "free", "text": "tension-type headache",
                                                           "reason": "wording"})
    notes = {n["status"]: n for n in resources(context, "DocumentReference")}
    assert notes["superseded"]["id"] == first["id"]
    assert notes["current"]["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{first['id']}"
    await post(client, doc, f"notes/{first['id']}/amend", {"shape": "free", "text": "x", "reason": "y"}, 422)
    assert audit_rows(context, username="doc-a", action="fhir.create", patient_id=P)
    assert audit_rows(context, username="doc-a", action="fhir.update", patient_id=P)


@both_databases
async def test_bad_values_are_refused_by_field_and_nothing_is_written(client, login, context):
    doc = await login("doc-a")
    answer = await post(client, doc, "vitals?lang=en", {"sbp": "120", "dbp": "80", "pulse": "900", "temperature": "abc"},
                        422)
    assert answer["errors"] == {"pulse": "Outside what can be measured in an adult; check the value.",
                                "temperature": "Enter a number."}
    assert count(context, "Observation") == 0  # the good blood pressure was not saved alone
    assert (await post(client, doc, "vitals?lang=en", {"sbp": "120"}, 422))["errors"] == {
        "dbp": "Enter both systolic and diastolic pressure."}
    assert set((await post(client, doc, "problems", {"code": "X99.99"}, 422))["errors"]) == {"code"}
    answer = await post(client, doc, "medications", {"drug": "", "dose": "-1", "dose_unit": "mg", "route": "mouth",
                                                     "frequency": "qd", "start": "2026-02-01", "end": "2026-01-01"}, 422)
    assert set(answer["errors"]) == {"drug", "dose", "route", "end"}
    assert set((await post(client, doc, "notes", {"shape": "soap"}, 422))["errors"]) == {"subjective"}
    assert set((await post(client, doc, "allergies", {"substance": "x", "criticality": "deadly"}, 422))["errors"]) == {
        "criticality"}
    for rtype in ("Observation", "Condition", "MedicationRequest", "DocumentReference", "AllergyIntolerance"):
        assert count(context, rtype) == 0, rtype


@both_databases
async def test_other_roles_and_facilities_are_refused(client, login, context, world):
    for user, status in (("spec-1", 403), ("officer-a", 403), ("admin", 403), ("doc-b", 403)):
        headers = await login(user)
        for path, body in (("problems", {"code": "I10"}), ("vitals", {"pulse": "70"}),
                           ("notes", {"shape": "free", "text": "x"}), ("allergies/none", {})):
            response = await client.post(f"/api/record/{P}/{path}", json=body, headers=headers)
            assert response.status == status, (user, path, await response.text())
    assert sum(count(context, t) for t in ("Condition", "Observation", "DocumentReference", "AllergyIntolerance")) == 0
    assert audit_rows(context, username="officer-a", action="ehr.record.problems", outcome="denied")
    assert audit_rows(context, username="doc-b", action="fhir.create", outcome="denied", patient_id=P)


async def test_a_consult_prescription_is_stopped_from_the_record(client, login, context):
    from datetime import datetime, timezone

    from webrtc import resources as consult_fhir

    prescribed = consult_fhir.medication_request(
        patient_id=P, consult_id="c-1", author="spec-1", at=datetime(2026, 3, 1, tzinfo=timezone.utc),
        prescription={"medication": "Aspirin 100 mg", "dose_value": 100, "dose_unit": "mg", "route": "oral",
                      "frequency": "qd", "duration_days": None}, lang="en")
    rid = context.db.call(lambda s: store.create(s, prescribed).id)
    await post(client, await login("doc-a"), f"medications/{rid}/stop", {"reason": "bleeding gums"})
    med = resources(context, "MedicationRequest")[0]
    dosage = med["dosageInstruction"][0]
    assert med["status"] == "stopped" and dosage["text"] == prescribed["dosageInstruction"][0]["text"]
    assert dosage["timing"]["repeat"]["boundsPeriod"]["end"]  # stopped: the course has an end
    assert med["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"]
    await post(client, await login("doc-a"), f"medications/{rid}/stop", {"reason": "again"}, 422)
