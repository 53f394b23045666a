"""Every search parameter the server lists, on SQLite and PostgreSQL: a value that matches the
resource finds it, a value that does not match finds nothing."""

from __future__ import annotations

import pytest

from ehr import search, store
from ehr.custody import BOOKING_SYSTEM, custody_extension
from ehr.params import PARAMS, Kind
from tests.conftest import both_databases

P = {"reference": "Patient/fac-a-p1"}
CC = lambda code: {"coding": [{"system": "urn:t", "code": code}]}  # noqa: E731
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
STATUS = lambda system, code: {"coding": [{"system": TERMINOLOGY + system, "code": code}]}  # noqa: E731 - a required binding
PERIOD = {"start": "2026-05-01T08:00:00Z", "end": "2026-05-01T09:00:00Z"}
QTY = {"value": 5.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"}

RESOURCES: dict[str, dict] = {
    "Patient": {"resourceType": "Patient", "identifier": [{"system": BOOKING_SYSTEM, "value": "B-77"}],
                "name": [{"family": "Zhang", "given": ["Wei"]}], "birthDate": "1975-03-02", "gender": "other",
                "active": True, "managingOrganization": {"reference": "Organization/fac-b"},
                "extension": [custody_extension("fac-b", "2-01", "2026-01-01")]},
    "Organization": {"resourceType": "Organization", "identifier": [{"system": "urn:org", "value": "O1"}],
                     "name": "Cardiology Centre", "type": [CC("prov")]},
    "Practitioner": {"resourceType": "Practitioner", "identifier": [{"system": "urn:pr", "value": "PR1"}],
                     "name": [{"family": "Li", "given": ["Min"]}]},
    "PractitionerRole": {"resourceType": "PractitionerRole", "practitioner": {"reference": "Practitioner/pr1"},
                         "organization": {"reference": "Organization/fac-a"}, "specialty": [CC("cardio")], "code": [CC("doctor")]},
    "Encounter": {"resourceType": "Encounter", "status": "finished", "class": {"system": "urn:t", "code": "AMB"},
                  "type": [CC("clinic")], "subject": P, "period": PERIOD, "serviceProvider": {"reference": "Organization/fac-a"}},
    "Condition": {"resourceType": "Condition", "clinicalStatus": STATUS("condition-clinical", "active"), "category": [CC("problem-list-item")],
                  "code": CC("38341003"), "subject": P, "onsetDateTime": "2025-01-10", "recordedDate": "2026-02-01"},
    "AllergyIntolerance": {"resourceType": "AllergyIntolerance",
                           "clinicalStatus": STATUS("allergyintolerance-clinical", "active"), "criticality": "high",
                           "code": CC("penicillin"), "patient": P, "recordedDate": "2026-01-03"},
    "MedicationRequest": {"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": P,
                          "medicationCodeableConcept": CC("amlodipine"), "authoredOn": "2026-02-02"},
    "MedicationStatement": {"resourceType": "MedicationStatement", "status": "active", "subject": P,
                            "medicationCodeableConcept": CC("insulin"), "effectiveDateTime": "2026-02-03"},
    "Observation": {"resourceType": "Observation", "status": "final", "category": [CC("laboratory")], "code": CC("2345-7"),
                    "subject": P, "effectiveDateTime": "2026-05-01T08:30:00Z", "valueQuantity": QTY,
                    "encounter": {"reference": "Encounter/enc1"}, "basedOn": [{"reference": "ServiceRequest/sr1"}],
                    "component": [{"code": CC("8480-6"), "valueQuantity": {"value": 120, "unit": "mm[Hg]"}}]},
    "DiagnosticReport": {"resourceType": "DiagnosticReport", "status": "final", "category": [CC("LAB")], "code": CC("24323-8"),
                         "subject": P, "effectiveDateTime": "2026-05-01", "basedOn": [{"reference": "ServiceRequest/sr1"}],
                         "result": [{"reference": "Observation/o1"}], "encounter": {"reference": "Encounter/enc1"}},
    "ServiceRequest": {"resourceType": "ServiceRequest", "status": "active", "intent": "order", "priority": "urgent",
                       "category": [CC("consult")], "code": CC("cardiology"), "subject": P, "authoredOn": "2026-05-02",
                       "requester": {"reference": "Practitioner/pr1"}, "performer": [{"reference": "Organization/hosp-1"}],
                       "encounter": {"reference": "Encounter/enc1"}, "identifier": [{"system": "urn:sr", "value": "SR-9"}]},
    "Appointment": {"resourceType": "Appointment", "status": "booked", "start": "2026-05-03T02:00:00Z",
                    "end": "2026-05-03T02:30:00Z", "serviceType": [CC("video")], "basedOn": [{"reference": "ServiceRequest/sr1"}],
                    "participant": [{"actor": P, "status": "accepted"}]},
    "DocumentReference": {"resourceType": "DocumentReference", "status": "current", "type": CC("consult-note"),
                          "category": [CC("clinical-note")], "subject": P, "date": "2026-05-04T00:00:00Z",
                          "content": [{"attachment": {"contentType": "text/plain", "data": "aGk="}}],
                          "context": {"related": [{"reference": "ServiceRequest/sr1"}], "encounter": [{"reference": "Encounter/enc1"}]}},
    "Consent": {"resourceType": "Consent", "status": "active", "scope": CC("patient-privacy"), "category": [CC("tele")],
                "patient": P, "dateTime": "2026-01-05T00:00:00Z"},
    "Provenance": {"resourceType": "Provenance", "target": [P], "recorded": "2026-05-05T00:00:00Z",
                   "agent": [{"who": {"reference": "Practitioner/pr1"}}]},
    "ObservationDefinition": {"resourceType": "ObservationDefinition", "code": CC("2345-7"), "category": [CC("laboratory")]},
    "MedicationAdministration": {"resourceType": "MedicationAdministration", "status": "completed", "subject": P,
                                 "medicationCodeableConcept": CC("amlodipine"), "effectiveDateTime": "2026-05-06T00:10:00Z",
                                 "request": {"reference": "MedicationRequest/mr1"}},
    "Flag": {"resourceType": "Flag", "status": "active", "code": CC("refusals"), "category": [CC("drug")], "subject": P,
             "period": {"start": "2026-05-07T00:00:00Z"}},
}

MATCHES: dict[tuple[str, str], str] = {
    ("Patient", "identifier"): f"{BOOKING_SYSTEM}|B-77", ("Patient", "name"): "zha", ("Patient", "family"): "Zhang",
    ("Patient", "given"): "wei", ("Patient", "birthdate"): "1975-03", ("Patient", "gender"): "other",
    ("Patient", "organization"): "Organization/fac-b", ("Patient", "active"): "true",
    ("Organization", "identifier"): "O1", ("Organization", "name"): "cardio", ("Organization", "type"): "urn:t|prov",
    ("Practitioner", "identifier"): "urn:pr|PR1", ("Practitioner", "name"): "min", ("Practitioner", "family"): "li",
    ("PractitionerRole", "practitioner"): "pr1", ("PractitionerRole", "organization"): "Organization/fac-a",
    ("PractitionerRole", "specialty"): "cardio", ("PractitionerRole", "role"): "doctor",
    ("Encounter", "patient"): "fac-a-p1", ("Encounter", "subject"): "Patient/fac-a-p1", ("Encounter", "date"): "2026-05-01",
    ("Encounter", "status"): "finished", ("Encounter", "type"): "clinic", ("Encounter", "class"): "AMB",
    ("Encounter", "service-provider"): "Organization/fac-a",
    ("Condition", "patient"): "fac-a-p1", ("Condition", "subject"): "Patient/fac-a-p1", ("Condition", "code"): "urn:t|38341003",
    ("Condition", "category"): "problem-list-item", ("Condition", "clinical-status"): "active", ("Condition", "status"): "active",
    ("Condition", "date"): "ge2025-01-10", ("Condition", "onset-date"): "lt2025-02", ("Condition", "recorded-date"): "2026-02-01",
    ("AllergyIntolerance", "patient"): "fac-a-p1", ("AllergyIntolerance", "code"): "penicillin",
    ("AllergyIntolerance", "clinical-status"): "active", ("AllergyIntolerance", "criticality"): "high",
    ("AllergyIntolerance", "date"): "le2026-01-03",
    ("MedicationRequest", "patient"): "fac-a-p1", ("MedicationRequest", "subject"): "fac-a-p1", ("MedicationRequest", "code"): "amlodipine",
    ("MedicationRequest", "status"): "active", ("MedicationRequest", "intent"): "order", ("MedicationRequest", "date"): "2026-02",
    ("MedicationRequest", "authoredon"): "gt2026-02-01",
    ("MedicationStatement", "patient"): "fac-a-p1", ("MedicationStatement", "subject"): "fac-a-p1",
    ("MedicationStatement", "code"): "insulin", ("MedicationStatement", "status"): "active", ("MedicationStatement", "effective"): "2026",
    ("Observation", "patient"): "Patient/fac-a-p1", ("Observation", "subject"): "fac-a-p1", ("Observation", "code"): "2345-7",
    ("Observation", "category"): "urn:t|laboratory", ("Observation", "date"): "ge2026-05-01T08:00:00Z",
    ("Observation", "value-quantity"): "5.4|http://unitsofmeasure.org|mmol/L", ("Observation", "status"): "final",
    ("Observation", "encounter"): "Encounter/enc1", ("Observation", "based-on"): "ServiceRequest/sr1",
    ("Observation", "combo-code"): "8480-6", ("Observation", "component-value-quantity"): "ge100",
    ("DiagnosticReport", "patient"): "fac-a-p1", ("DiagnosticReport", "subject"): "fac-a-p1", ("DiagnosticReport", "code"): "24323-8",
    ("DiagnosticReport", "category"): "LAB", ("DiagnosticReport", "date"): "2026-05-01", ("DiagnosticReport", "status"): "final",
    ("DiagnosticReport", "based-on"): "ServiceRequest/sr1", ("DiagnosticReport", "result"): "Observation/o1",
    ("DiagnosticReport", "encounter"): "Encounter/enc1",
    ("ServiceRequest", "patient"): "fac-a-p1", ("ServiceRequest", "subject"): "fac-a-p1", ("ServiceRequest", "code"): "cardiology",
    ("ServiceRequest", "category"): "consult", ("ServiceRequest", "status"): "active", ("ServiceRequest", "intent"): "order",
    ("ServiceRequest", "priority"): "urgent", ("ServiceRequest", "date"): "2026-05-02", ("ServiceRequest", "authored"): "sa2026-05-01",
    ("ServiceRequest", "requester"): "Practitioner/pr1", ("ServiceRequest", "performer"): "Organization/hosp-1",
    ("ServiceRequest", "encounter"): "Encounter/enc1", ("ServiceRequest", "identifier"): "urn:sr|SR-9",
    ("Appointment", "patient"): "fac-a-p1", ("Appointment", "actor"): "Patient/fac-a-p1", ("Appointment", "date"): "2026-05-03",
    ("Appointment", "status"): "booked", ("Appointment", "service-type"): "video", ("Appointment", "based-on"): "ServiceRequest/sr1",
    ("DocumentReference", "patient"): "fac-a-p1", ("DocumentReference", "subject"): "fac-a-p1",
    ("DocumentReference", "type"): "consult-note", ("DocumentReference", "category"): "clinical-note",
    ("DocumentReference", "status"): "current", ("DocumentReference", "date"): "2026-05-04",
    ("DocumentReference", "related"): "ServiceRequest/sr1", ("DocumentReference", "encounter"): "Encounter/enc1",
    ("Consent", "patient"): "fac-a-p1", ("Consent", "status"): "active", ("Consent", "date"): "2026-01-05",
    ("Consent", "category"): "tele",
    ("Provenance", "patient"): "fac-a-p1", ("Provenance", "target"): "Patient/fac-a-p1", ("Provenance", "recorded"): "eb2026-06-01",
    ("Provenance", "agent"): "Practitioner/pr1",
    ("ObservationDefinition", "code"): "2345-7", ("ObservationDefinition", "category"): "laboratory",
    ("MedicationAdministration", "patient"): "fac-a-p1", ("MedicationAdministration", "subject"): "fac-a-p1",
    ("MedicationAdministration", "code"): "amlodipine", ("MedicationAdministration", "status"): "completed",
    ("MedicationAdministration", "effective-time"): "2026-05-06", ("MedicationAdministration", "request"): "MedicationRequest/mr1",
    ("Flag", "patient"): "fac-a-p1", ("Flag", "subject"): "fac-a-p1", ("Flag", "code"): "refusals",
    ("Flag", "category"): "drug", ("Flag", "status"): "active", ("Flag", "date"): "ge2026-05-06",
}
MISSES = {Kind.TOKEN: "urn:t|nomatch", Kind.STRING: "qqq", Kind.DATE: "1900-01-01", Kind.QUANTITY: "999999",
          Kind.REFERENCE: "Patient/nobody"}


def test_every_listed_parameter_has_a_case():
    listed = {(rtype, p.name) for rtype, params in PARAMS.items() for p in params}
    assert listed == set(MATCHES)


def found(session, rtype: str, query: list[tuple[str, str]]) -> list[str]:
    return [m.id for m in search.search(session, search.parse(rtype, query)).matches]


@both_databases
def test_each_parameter_matches_and_misses(context, world):
    def check(session):
        for rtype, resource in RESOURCES.items():
            store.create(session, resource, resource_id=f"rich-{rtype.lower()}")
        failures = []
        for (rtype, name), value in MATCHES.items():
            rid = f"rich-{rtype.lower()}"
            kind = next(p.kind for p in PARAMS[rtype] if p.name == name)
            if rid not in found(session, rtype, [(name, value)]):
                failures.append(f"{rtype}?{name}={value} missed {rid}")
            if rid in found(session, rtype, [(name, MISSES[kind])]):
                failures.append(f"{rtype}?{name}={MISSES[kind]} matched {rid}")
        assert failures == []
    context.db.call(check)


@both_databases
def test_common_parameters_modifiers_and_sort(context, world):
    def check(session):
        a = store.create(session, RESOURCES["Observation"], resource_id="obs-1").id
        later = dict(RESOURCES["Observation"], effectiveDateTime="2026-06-01T00:00:00Z", status="preliminary")
        store.create(session, later, resource_id="obs-2")
        assert found(session, "Observation", [("_id", "obs-2,obs-9")]) == ["obs-2"]
        assert found(session, "Observation", [("_lastUpdated", "gt2000-01-01")]) == ["obs-1", "obs-2"]
        assert found(session, "Observation", [("_lastUpdated", "lt2000-01-01")]) == []
        assert found(session, "Observation", [("status:not", "final")]) == ["obs-2"]
        assert found(session, "Observation", [("_sort", "-date")]) == ["obs-2", "obs-1"]
        assert found(session, "Observation", [("_sort", "date")]) == ["obs-1", "obs-2"]
        assert found(session, "Observation", [("date", "ge2026-05-02"), ("date", "le2026-06-30")]) == ["obs-2"]
        assert found(session, "Observation", [("value-quantity", "5.4"), ("value-quantity", "lt5")]) == []
        assert found(session, "Patient", [("name:exact", "Zha")]) == []
        assert found(session, "Patient", [("family:exact", "王")]) == ["fac-a-p1", "fac-a-p2", "fac-a-p3", "fac-b-p1", "fac-b-p2", "fac-b-p3"]
        assert found(session, "Patient", [("name:contains", "小")]) != []
        store.delete(session, "Observation", a)
        assert found(session, "Observation", [("code", "2345-7")]) == ["obs-2"]
    context.db.call(check)


@both_databases
def test_token_forms_share_one_index(context, world):
    """``code`` and ``system|code`` search through one index led by the code's hash: a system
    must still tell apart the same code in two code systems, alone or in a list of values."""
    def check(session):
        for rid, system, code in (("loinc-x", "http://loinc.org", "X-1"), ("local-x", "urn:local", "X-1"),
                                  ("loinc-y", "http://loinc.org", "Y-2")):
            coded = dict(RESOURCES["Observation"], code={"coding": [{"system": system, "code": code}]})
            store.create(session, coded, resource_id=rid)

        def matching(*query: tuple[str, str]) -> list[str]:
            return sorted(found(session, "Observation", list(query)))
        assert matching(("code", "X-1")) == ["local-x", "loinc-x"]
        assert matching(("code", "http://loinc.org|X-1")) == ["loinc-x"]
        assert matching(("code", "urn:local|X-1")) == ["local-x"]
        assert matching(("code", "urn:other|X-1")) == []
        assert matching(("code", "urn:local|X-1,Y-2")) == ["local-x", "loinc-y"]
        assert matching(("code", "http://loinc.org|X-1,http://loinc.org|Y-2")) == ["loinc-x", "loinc-y"]
        assert matching(("code", "urn:local|X-1"), ("patient", "fac-a-p1")) == ["local-x"]
        assert matching(("code:not", "http://loinc.org|X-1")) == ["local-x", "loinc-y"]
    context.db.call(check)


@pytest.mark.parametrize("query", [[("date", "2026-13-45")], [("value-quantity", "abc")], [("code", "urn:t|")],
                                   [("_sort", "value-quantity")], [("_count", "ten")], [("code:below", "x")],
                                   [("_include", "Patient:organization")], [("_cursor", "!!")]])
def test_malformed_searches_are_400(context, query):
    with pytest.raises(search.FhirError) as error:
        context.db.call(lambda session: search.search(session, search.parse("Observation", query)))
    assert error.value.status == 400
