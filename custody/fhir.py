"""The FHIR resources of the custody workflows: a custody task as a Task (no clinical data:
whom, what, where, when, how guarded), an outside referral as a ServiceRequest, the visit as an
Encounter, the summary brought back as a DocumentReference."""

from __future__ import annotations

from datetime import datetime

from ehr.custody import BASE

TASK_CODES = f"{BASE}/CodeSystem/custody-task"
SECURITY = f"{BASE}/CodeSystem/custody-security-level"
OUTCOMES = f"{BASE}/CodeSystem/custody-task-outcome"
REFERRAL_CATEGORY = {"coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}]}
# The FHIR status of a task in each of its states (a refusal and an absence are failures, with their reason).
TASK_STATUS = {"pending": "requested", "brought": "completed", "refused": "failed", "unavailable": "failed",
               "cancelled": "cancelled"}
# Referral urgency as FHIR request priority.
PRIORITY = {"routine": "routine", "urgent": "urgent", "emergency": "stat"}


def task(*, task_id: str, facility_id: str, patient_id: str, kind: str, due: datetime, place: str, source: str,
         security_level: str | None, note: str, authored: datetime) -> dict:
    resource = {
        "resourceType": "Task", "id": task_id, "status": "requested", "intent": "order",
        "code": {"coding": [{"system": TASK_CODES, "code": kind}]},
        "for": {"reference": f"Patient/{patient_id}"},
        "focus": {"reference": source},
        "owner": {"reference": f"Organization/{facility_id}"},
        "authoredOn": authored.isoformat(),
        "restriction": {"period": {"end": due.isoformat()}},
        "input": [{"type": {"text": "place"}, "valueString": place}],
    }
    if security_level:
        resource["input"].append({"type": {"text": "security level"},
                                  "valueCodeableConcept": {"coding": [{"system": SECURITY, "code": security_level}]}})
    if note:
        resource["note"] = [{"text": note}]
    return resource


def task_done(resource: dict, state: str, at: datetime, officer: str) -> dict:
    done = {**resource, "status": TASK_STATUS[state], "lastModified": at.isoformat()}
    done["businessStatus"] = {"coding": [{"system": OUTCOMES, "code": state}]}
    if state != "cancelled":
        done["executionPeriod"] = {"end": at.isoformat()}
        done["output"] = [{"type": {"text": "recorded by"}, "valueString": officer}]
    return done


def referral(*, referral_id: str, patient_id: str, urgency: str, hospital: str, department: str, reason: str,
             security_level: str, leave_at: datetime, requester: str, authored: datetime) -> dict:
    return {
        "resourceType": "ServiceRequest", "id": referral_id, "status": "active", "intent": "order",
        "priority": PRIORITY[urgency], "category": [REFERRAL_CATEGORY],
        "code": {"text": f"{hospital} · {department}"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": authored.isoformat(), "occurrenceDateTime": leave_at.isoformat(),
        "requester": {"display": requester},
        "performer": [{"display": f"{hospital} · {department}"}],
        "reasonCode": [{"text": reason}],
        "note": [{"text": f"security level: {security_level}"}],
    }


def referral_status(resource: dict, status: str) -> dict:
    return {**resource, "status": status}


def visit(*, patient_id: str, referral_id: str, urgency: str, hospital: str, department: str,
          departed: datetime, returned: datetime) -> dict:
    """The outside visit, from leaving the facility to coming back."""
    return {
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "EMER" if urgency == "emergency" else "AMB"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "basedOn": [{"reference": f"ServiceRequest/{referral_id}"}],
        "period": {"start": departed.isoformat(), "end": returned.isoformat()},
        "serviceProvider": {"display": hospital},
        "location": [{"location": {"display": f"{hospital} · {department}"}}],
    }


def visit_summary(*, patient_id: str, referral_id: str, title: str, content_type: str, data_b64: str,
                  at: datetime, author: str) -> dict:
    """The document brought back from the hospital, as scanned or photographed."""
    return {
        "resourceType": "DocumentReference", "status": "current", "docStatus": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9", "display": "Summary of episode note"}]},
        "subject": {"reference": f"Patient/{patient_id}"}, "date": at.isoformat(),
        "author": [{"display": author}], "description": title,
        "content": [{"attachment": {"contentType": content_type, "data": data_b64, "title": title}}],
        "context": {"related": [{"reference": f"ServiceRequest/{referral_id}"}]},
    }
