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
    "Immunization": {"resourceType": "Immunization", "status": "completed", "vaccineCode": CC("flu"), "patient": P,
                     "occurrenceDateTime": "2026-05-06", "lotNumber": "LOT-42", "location": {"reference": "Location/l1"},
                     "performer": [{"actor": {"reference": "Practitioner/pr1"}}], "reasonCode": [CC("outbreak")],
                     "identifier": [{"system": "urn:im", "value": "IM-1"}]},
    "Procedure": {"resourceType": "Procedure", "status": "completed", "code": CC("suture"), "subject": P,
                  "category": CC("minor"), "performedPeriod": PERIOD, "encounter": {"reference": "Encounter/enc1"},
                  "performer": [{"actor": {"reference": "Practitioner/pr1"}}], "location": {"reference": "Location/l1"},
                  "basedOn": [{"reference": "ServiceRequest/sr1"}], "reasonCode": [CC("laceration")],
                  "identifier": [{"system": "urn:pc", "value": "PC-1"}]},
    "Location": {"resourceType": "Location", "status": "active", "name": "Medical wing", "alias": ["Clinic B"],
                 "type": [CC("clinic")], "managingOrganization": {"reference": "Organization/fac-a"},
                 "partOf": {"reference": "Location/l0"}, "identifier": [{"system": "urn:loc", "value": "L-1"}]},
    "Group": {"resourceType": "Group", "type": "person", "actual": True, "code": CC("chronic-care"),
              "identifier": [{"system": "urn:grp", "value": "G-1"}], "member": [{"entity": P}],
              "managingEntity": {"reference": "Organization/fac-a"},
              "characteristic": [{"code": CC("wing"), "valueCodeableConcept": CC("b"), "exclude": False}]},
    "CarePlan": {"resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": P, "category": [CC("chronic")],
                 "period": PERIOD, "careTeam": [{"reference": "CareTeam/ct1"}], "goal": [{"reference": "Goal/g1"}],
                 "encounter": {"reference": "Encounter/enc1"}, "basedOn": [{"reference": "CarePlan/cp0"}],
                 "identifier": [{"system": "urn:cp", "value": "CP-1"}]},
    "CareTeam": {"resourceType": "CareTeam", "status": "active", "subject": P, "category": [CC("longitudinal")],
                 "period": PERIOD, "participant": [{"member": {"reference": "Practitioner/pr1"}}],
                 "encounter": {"reference": "Encounter/enc1"}, "identifier": [{"system": "urn:ct", "value": "CT-1"}]},
    "Goal": {"resourceType": "Goal", "lifecycleStatus": "active", "achievementStatus": CC("improving"),
             "category": [CC("dietary")], "description": {"text": "HbA1c below 7%"}, "subject": P,
             "startDate": "2026-05-01", "target": [{"dueDate": "2026-11-01"}],
             "identifier": [{"system": "urn:goal", "value": "G-1"}]},
    "Device": {"resourceType": "Device", "status": "active", "patient": P, "type": CC("glucometer"),
               "identifier": [{"system": "urn:dev", "value": "D-1"}], "owner": {"reference": "Organization/fac-a"},
               "location": {"reference": "Location/l1"}, "manufacturer": "Acme Medical", "modelNumber": "GX-200"},
    "Task": {"resourceType": "Task", "status": "requested", "intent": "order", "for": P, "code": CC("round"),
             "businessStatus": CC("waiting"), "priority": "urgent", "owner": {"reference": "Practitioner/pr1"},
             "requester": {"reference": "Practitioner/pr2"}, "focus": {"reference": "ServiceRequest/sr1"},
             "basedOn": [{"reference": "CarePlan/cp1"}], "authoredOn": "2026-05-07T08:00:00Z",
             "lastModified": "2026-05-07T09:00:00Z", "executionPeriod": PERIOD,
             "encounter": {"reference": "Encounter/enc1"}, "identifier": [{"system": "urn:task", "value": "T-1"}]},
    "Questionnaire": {"resourceType": "Questionnaire", "url": "http://example.org/q/intake", "status": "active",
                      "name": "IntakeScreen",
                      "title": "Intake screening", "version": "2", "date": "2026-01-01", "publisher": "Health unit",
                      "identifier": [{"system": "urn:q", "value": "Q-1"}],
                      "item": [{"linkId": "1", "type": "boolean", "code": [{"system": "urn:t", "code": "chest-pain"}]}]},
    "QuestionnaireResponse": {"resourceType": "QuestionnaireResponse", "status": "completed", "subject": P,
                              "authored": "2026-05-08T10:00:00Z", "author": {"reference": "Practitioner/pr1"},
                              "encounter": {"reference": "Encounter/enc1"}, "basedOn": [{"reference": "CarePlan/cp1"}],
                              "source": {"reference": "Patient/fac-a-p1"},
                              "identifier": {"system": "urn:qr", "value": "QR-1"}},
    "Flag": {"resourceType": "Flag", "status": "active", "category": [CC("behavioral")], "code": CC("watch"),
             "subject": P, "period": PERIOD,
             "author": {"reference": "Practitioner/pr1"}, "encounter": {"reference": "Encounter/enc1"},
             "identifier": [{"system": "urn:flag", "value": "F-1"}]},
    "MedicationAdministration": {"resourceType": "MedicationAdministration", "status": "completed", "subject": P,
                                 "medicationCodeableConcept": CC("insulin"), "effectivePeriod": PERIOD,
                                 "context": {"reference": "Encounter/enc1"},
                                 "request": {"reference": "MedicationRequest/mr1"},
                                 "performer": [{"actor": {"reference": "Practitioner/pr1"}}],
                                 "reasonCode": [CC("hyperglycaemia")],
                                 "identifier": [{"system": "urn:ma", "value": "MA-1"}]},
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
    ("Observation", "component-code-value-quantity"): "8480-6$ge100",
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
    ("Immunization", "patient"): "fac-a-p1", ("Immunization", "vaccine-code"): "flu", ("Immunization", "status"): "completed",
    ("Immunization", "date"): "2026-05-06", ("Immunization", "lot-number"): "lot-4", ("Immunization", "location"): "Location/l1",
    ("Immunization", "performer"): "Practitioner/pr1", ("Immunization", "reason-code"): "outbreak",
    ("Immunization", "identifier"): "urn:im|IM-1",
    ("Procedure", "patient"): "fac-a-p1", ("Procedure", "subject"): "Patient/fac-a-p1", ("Procedure", "code"): "suture",
    ("Procedure", "status"): "completed", ("Procedure", "category"): "minor", ("Procedure", "date"): "2026-05-01",
    ("Procedure", "encounter"): "Encounter/enc1", ("Procedure", "performer"): "Practitioner/pr1",
    ("Procedure", "location"): "Location/l1", ("Procedure", "based-on"): "ServiceRequest/sr1",
    ("Procedure", "reason-code"): "laceration", ("Procedure", "identifier"): "urn:pc|PC-1",
    ("Group", "identifier"): "urn:grp|G-1", ("Group", "type"): "person", ("Group", "actual"): "true",
    ("Group", "code"): "chronic-care", ("Group", "member"): "Patient/fac-a-p1", ("Group", "characteristic"): "wing",
    ("Group", "managing-entity"): "Organization/fac-a",
    ("Location", "identifier"): "urn:loc|L-1", ("Location", "name"): "clinic", ("Location", "status"): "active",
    ("Location", "type"): "clinic", ("Location", "organization"): "Organization/fac-a", ("Location", "partof"): "Location/l0",
    ("CarePlan", "patient"): "fac-a-p1", ("CarePlan", "subject"): "Patient/fac-a-p1", ("CarePlan", "status"): "active",
    ("CarePlan", "intent"): "plan", ("CarePlan", "category"): "chronic", ("CarePlan", "date"): "2026-05-01",
    ("CarePlan", "care-team"): "CareTeam/ct1", ("CarePlan", "goal"): "Goal/g1", ("CarePlan", "encounter"): "Encounter/enc1",
    ("CarePlan", "based-on"): "CarePlan/cp0", ("CarePlan", "identifier"): "urn:cp|CP-1",
    ("CareTeam", "patient"): "fac-a-p1", ("CareTeam", "subject"): "Patient/fac-a-p1", ("CareTeam", "status"): "active",
    ("CareTeam", "category"): "longitudinal", ("CareTeam", "date"): "2026-05-01",
    ("CareTeam", "participant"): "Practitioner/pr1", ("CareTeam", "encounter"): "Encounter/enc1",
    ("CareTeam", "identifier"): "urn:ct|CT-1",
    ("Goal", "patient"): "fac-a-p1", ("Goal", "subject"): "Patient/fac-a-p1", ("Goal", "lifecycle-status"): "active",
    ("Goal", "achievement-status"): "improving", ("Goal", "category"): "dietary", ("Goal", "start-date"): "2026-05",
    ("Goal", "target-date"): "2026-11-01", ("Goal", "identifier"): "urn:goal|G-1",
    ("Device", "patient"): "fac-a-p1", ("Device", "type"): "glucometer", ("Device", "status"): "active",
    ("Device", "identifier"): "urn:dev|D-1", ("Device", "organization"): "Organization/fac-a",
    ("Device", "location"): "Location/l1", ("Device", "manufacturer"): "acme", ("Device", "model"): "gx",
    ("Task", "patient"): "fac-a-p1", ("Task", "subject"): "Patient/fac-a-p1", ("Task", "status"): "requested",
    ("Task", "intent"): "order", ("Task", "code"): "round", ("Task", "business-status"): "waiting",
    ("Task", "priority"): "urgent", ("Task", "owner"): "Practitioner/pr1", ("Task", "requester"): "Practitioner/pr2",
    ("Task", "focus"): "ServiceRequest/sr1", ("Task", "based-on"): "CarePlan/cp1", ("Task", "authored-on"): "2026-05-07",
    ("Task", "modified"): "ge2026-05-07T08:30:00Z", ("Task", "period"): "2026-05-01", ("Task", "encounter"): "Encounter/enc1",
    ("Task", "identifier"): "urn:task|T-1",
    ("Questionnaire", "name"): "intake", ("Questionnaire", "title"): "intake scr", ("Questionnaire", "status"): "active",
    ("Questionnaire", "version"): "2", ("Questionnaire", "date"): "2026", ("Questionnaire", "code"): "chest-pain",
    ("Questionnaire", "identifier"): "urn:q|Q-1", ("Questionnaire", "publisher"): "health",
    ("Questionnaire", "url"): "http://example.org/q/intake",
    ("QuestionnaireResponse", "patient"): "fac-a-p1", ("QuestionnaireResponse", "subject"): "Patient/fac-a-p1",
    ("QuestionnaireResponse", "status"): "completed", ("QuestionnaireResponse", "authored"): "2026-05-08",
    ("QuestionnaireResponse", "author"): "Practitioner/pr1", ("QuestionnaireResponse", "encounter"): "Encounter/enc1",
    ("QuestionnaireResponse", "based-on"): "CarePlan/cp1", ("QuestionnaireResponse", "source"): "Patient/fac-a-p1",
    ("QuestionnaireResponse", "identifier"): "urn:qr|QR-1",
    ("Flag", "patient"): "fac-a-p1", ("Flag", "subject"): "Patient/fac-a-p1", ("Flag", "date"): "2026-05-01",
    ("Flag", "author"): "Practitioner/pr1", ("Flag", "encounter"): "Encounter/enc1", ("Flag", "identifier"): "urn:flag|F-1",
    ("Flag", "code"): "urn:t|watch", ("Flag", "category"): "behavioral", ("Flag", "status"): "active",
    ("MedicationAdministration", "patient"): "fac-a-p1", ("MedicationAdministration", "subject"): "Patient/fac-a-p1",
    ("MedicationAdministration", "status"): "completed", ("MedicationAdministration", "code"): "insulin",
    ("MedicationAdministration", "effective-time"): "2026-05-01", ("MedicationAdministration", "context"): "Encounter/enc1",
    ("MedicationAdministration", "request"): "MedicationRequest/mr1",
    ("MedicationAdministration", "performer"): "Practitioner/pr1",
    ("MedicationAdministration", "reason-given"): "hyperglycaemia", ("MedicationAdministration", "identifier"): "urn:ma|MA-1",
}
MISSES = {Kind.TOKEN: "urn:t|nomatch", Kind.STRING: "qqq", Kind.DATE: "1900-01-01", Kind.QUANTITY: "999999",
          Kind.REFERENCE: "Patient/nobody"}


# value[x] is a choice and the rich Observation's is a quantity: the other kinds of value are
# asked in tests/test_ehr_search_depth.py (test_composites_pair_their_halves).
OTHER_VALUES = {("Observation", "value-concept"), ("Observation", "value-string"), ("Observation", "value-date")}


def test_every_listed_parameter_has_a_case():
    listed = {(rtype, p.name) for rtype, params in PARAMS.items() for p in params}
    assert listed == set(MATCHES) | OTHER_VALUES


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
            miss = f"8480-6${MISSES[kind]}" if name == "component-code-value-quantity" else MISSES[kind]
            if rid in found(session, rtype, [(name, miss)]):
                failures.append(f"{rtype}?{name}={miss} matched {rid}")
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


@pytest.mark.parametrize("query", [[("date", "2026-13-45")], [("value-quantity", "abc")], [("code", "|")],
                                   [("_sort", "value-quantity")], [("_count", "ten")], [("code:below", "x")],
                                   [("_include", "Patient:organization")], [("_cursor", "!!")]])
def test_malformed_searches_are_400(context, query):
    with pytest.raises(search.FhirError) as error:
        context.db.call(lambda session: search.search(session, search.parse("Observation", query)))
    assert error.value.status == 400
