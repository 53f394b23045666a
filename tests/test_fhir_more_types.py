"""The record types added for hospitals and the custody workflows: each is written, searched by
its standard parameters, kept to its detainee's facility, and checked against its required
bindings, on both databases, by raw HTTP and by fhirpy."""

from __future__ import annotations

import pytest
from fhirpy import AsyncFHIRClient

from tests.conftest import both_databases
from tests.ehr_support import fhir, ids

SNOMED = "http://snomed.info/sct"
P = {"reference": "Patient/fac-a-p1"}


def concept(code: str) -> dict:
    return {"coding": [{"system": SNOMED, "code": code}]}


# type -> (a valid resource for fac-a-p1, a search that finds it, the coded element and a wrong value)
SAMPLES = {
    "Immunization": ({"status": "completed", "vaccineCode": concept("871751006"), "patient": P,
                      "occurrenceDateTime": "2026-03-02", "lotNumber": "AB-77"},
                     "vaccine-code=871751006&date=2026-03&lot-number=ab-77", "status"),
    "Procedure": ({"status": "completed", "code": concept("80146002"), "subject": P,
                   "performedDateTime": "2026-03-03T10:00:00Z"}, "code=80146002&date=ge2026-03-01&status=completed",
                  "status"),
    "CarePlan": ({"status": "active", "intent": "plan", "subject": P, "period": {"start": "2026-03-01"},
                  "category": [concept("736271009")]}, "category=736271009&intent=plan&date=ge2026-03-01", "intent"),
    "CareTeam": ({"status": "active", "subject": P, "participant": [{"member": {"reference": "Practitioner/x"}}]},
                 "participant=Practitioner/x&status=active", "status"),
    "Goal": ({"lifecycleStatus": "active", "description": {"text": "BP under 140/90"}, "subject": P,
              "target": [{"dueDate": "2026-06-01"}]}, "lifecycle-status=active&target-date=2026-06", "lifecycleStatus"),
    "Device": ({"status": "active", "patient": P, "type": concept("43252007"), "manufacturer": "Acme Medical"},
               "type=43252007&manufacturer=acme", "status"),
    "Task": ({"status": "requested", "intent": "order", "for": P, "code": concept("308335008"),
              "authoredOn": "2026-03-04T08:00:00Z"}, "code=308335008&authored-on=2026-03-04&status=requested", "intent"),
    "QuestionnaireResponse": ({"status": "completed", "subject": P, "authored": "2026-03-05T09:00:00Z"},
                              "authored=2026-03-05&status=completed", "status"),
    "Flag": ({"status": "active", "code": {"text": "Suicide watch"}, "subject": P, "period": {"start": "2026-03-01"}},
             "date=ge2026-03-01", "status"),
    "MedicationAdministration": ({"status": "completed", "medicationCodeableConcept": concept("387207008"),
                                  "subject": P, "effectiveDateTime": "2026-03-06T07:00:00Z"},
                                 "code=387207008&effective-time=2026-03-06", "status"),
}
# Reference data, not a detainee's record: any clinical reader reads it.
CATALOG = {
    "Location": ({"status": "active", "name": "Medical wing", "alias": ["Clinic"]}, "name=clinic&status=active", "status"),
    "Questionnaire": ({"status": "active", "name": "IntakeScreen", "title": "Intake screening",
                       "item": [{"linkId": "1", "type": "boolean", "text": "Any chest pain?"}]},
                      "title=intake&status=active", "status"),
}


@both_databases
@pytest.mark.parametrize("rtype", sorted(SAMPLES))
async def test_each_detainee_type_is_written_searched_bound_and_kept_to_its_facility(client, login, rtype):
    body, query, coded = SAMPLES[rtype]
    doc, other = await login("doc-a"), await login("doc-b")
    status, made, _ = await fhir(client, "POST", f"/fhir/{rtype}", doc, {"resourceType": rtype, **body})
    assert status == 201, made
    _, found, _ = await fhir(client, "GET", f"/fhir/{rtype}?patient=fac-a-p1&{query}", doc)
    assert ids(found) == [made["id"]], (query, found)
    _, found, _ = await fhir(client, "GET", f"/fhir/{rtype}?patient=fac-a-p2", doc)
    assert ids(found) == []
    assert (await fhir(client, "GET", f"/fhir/{rtype}/{made['id']}", other))[0] == 404
    assert ids((await fhir(client, "GET", f"/fhir/{rtype}?{query}", other))[1]) == []
    status, outcome, _ = await fhir(client, "POST", f"/fhir/{rtype}", doc, {"resourceType": rtype, **body, coded: "bogus"})
    assert status == 422 and outcome["issue"][0]["expression"] == [f"{rtype}.{coded}"]


@both_databases
@pytest.mark.parametrize("rtype", sorted(CATALOG))
async def test_reference_types_are_shared_and_bound(client, login, rtype):
    body, query, coded = CATALOG[rtype]
    doc, specialist = await login("doc-a"), await login("spec-1")
    status, made, _ = await fhir(client, "POST", f"/fhir/{rtype}", doc, {"resourceType": rtype, **body})
    assert status == 201, made
    for reader in (doc, specialist):
        assert ids((await fhir(client, "GET", f"/fhir/{rtype}?{query}", reader))[1]) == [made["id"]]
    assert (await fhir(client, "POST", f"/fhir/{rtype}", specialist, {"resourceType": rtype, **body}))[0] == 403
    status, outcome, _ = await fhir(client, "POST", f"/fhir/{rtype}", doc, {"resourceType": rtype, **body, coded: "bogus"})
    assert status == 422 and outcome["issue"][0]["expression"] == [f"{rtype}.{coded}"]


async def test_fhirpy_writes_and_finds_the_new_types(client, login):
    fhir_client = AsyncFHIRClient(str(client.make_url("/fhir")), authorization=(await login("doc-a"))["Authorization"])
    for rtype, (body, _query, _coded) in SAMPLES.items():
        await fhir_client.resource(rtype, **body).save()
    immunization = await fhir_client.resources("Immunization").search(patient="fac-a-p1", status="completed").first()
    assert immunization["lotNumber"] == "AB-77"
    assert await fhir_client.resources("Task").search(subject="Patient/fac-a-p1").count() == 1
    everything = await fhir_client.resource("Patient", id="fac-a-p1").execute("$everything", method="GET")
    assert set(SAMPLES) <= {e["resource"]["resourceType"] for e in everything["entry"]}
