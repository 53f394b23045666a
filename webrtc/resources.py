"""FHIR resources that record each consult step; built from trusted templates here so that the
workflow only decides *when* to write them."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from ehr.custody import BASE
from telemed.timeutil import fhir_instant
from webrtc import prescriptions

CONSULT_CATEGORY = f"{BASE}/CodeSystem/consult-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
PRIORITY = {"emergency": "stat", "urgent": "urgent", "routine": "routine"}
APPOINTMENT_MINUTES = 30


def _patient(patient_id: str) -> dict:
    return {"reference": f"Patient/{patient_id}"}


def _person(name: str) -> dict:
    return {"display": name}


def service_request(*, patient_id: str, hospital_id: str, specialty: str, question: str, urgency: str,
                    requester: str, shared: list[tuple[str, str]], authored: datetime,
                    status: str = "active", note: str = "", specialist: str = "") -> dict:
    resource = {
        "resourceType": "ServiceRequest",
        "status": status,
        "intent": "order",
        "category": [{"coding": [{"system": CONSULT_CATEGORY, "code": "consult", "display": "Consult"}],
                      "text": "consult"}],
        "priority": PRIORITY[urgency],
        "code": {"text": specialty},
        "subject": _patient(patient_id),
        "authoredOn": fhir_instant(authored),
        "requester": _person(requester),
        "performer": [{"reference": f"Organization/{hospital_id}"}],
        "reasonCode": [{"text": question}],
    }
    if specialist:
        resource["performer"].append(_person(specialist))
    if shared:
        resource["supportingInfo"] = [{"reference": f"{t}/{i}"} for t, i in shared]
    if note:
        resource["note"] = [{"text": note}]
    return resource


def appointment(*, patient_id: str, consult_id: str, specialty: str, start: datetime,
                doctor: str, specialist: str) -> dict:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "serviceType": [{"text": f"video consult: {specialty}"}],
        "start": fhir_instant(start),
        "end": fhir_instant(start + timedelta(minutes=APPOINTMENT_MINUTES)),
        "basedOn": [{"reference": f"ServiceRequest/{consult_id}"}],
        "participant": [
            {"actor": _patient(patient_id), "status": "accepted"},
            {"actor": _person(doctor), "status": "accepted"},
            {"actor": _person(specialist), "status": "accepted"},
        ],
    }


def consent(*, patient_id: str, consult_id: str, given: bool, purpose: str, at: datetime, recorded_by: str,
            note: str = "") -> dict:
    """``purpose`` is "consult" or "recording": two separate decisions, two resources."""
    resource = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}],
                      "text": f"video consult {purpose}"}],
        "patient": _patient(patient_id),
        "dateTime": fhir_instant(at),
        "performer": [_patient(patient_id)],
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN" if given else "OPTOUT"}]},
        "provision": {"type": "permit" if given else "deny",
                      "data": [{"meaning": "related", "reference": {"reference": f"ServiceRequest/{consult_id}"}}]},
        "sourceReference": {"reference": f"ServiceRequest/{consult_id}"},
    }
    resource["extension"] = [{"url": f"{BASE}/StructureDefinition/consent-recorded-by", "valueString": recorded_by}]
    if note:
        resource["extension"].append({"url": f"{BASE}/StructureDefinition/custody-note", "valueString": note})
    return resource


def _attachment(text: str, title: str) -> dict:
    return {"contentType": "text/plain; charset=utf-8", "title": title,
            "data": base64.b64encode(text.encode()).decode()}


def consult_note(*, patient_id: str, consult_id: str, author: str, text: str, at: datetime) -> dict:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": "11488-4", "display": "Consult note"}]},
        "subject": _patient(patient_id),
        "date": fhir_instant(at),
        "author": [_person(author)],
        "content": [{"attachment": _attachment(text, "consult note")}],
        "context": {"related": [{"reference": f"ServiceRequest/{consult_id}"}]},
    }


def recording(*, patient_id: str, consult_id: str, url: str, size: int, duration_s: float, at: datetime) -> dict:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}],
                 "text": "video consult recording"},
        "subject": _patient(patient_id),
        "date": fhir_instant(at),
        "description": f"video consult recording, {duration_s:.1f} s",
        "content": [{"attachment": {"contentType": "video/x-matroska", "url": url, "size": size,
                                    "title": "consult recording"}}],
        "context": {"related": [{"reference": f"ServiceRequest/{consult_id}"}]},
    }


def condition(*, patient_id: str, consult_id: str, diagnosis: dict, author: str, at: datetime) -> dict:
    code = {"coding": [{"system": ICD10, "code": diagnosis["code"], "display": diagnosis["display"]}],
            "text": diagnosis["display"]}
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "encounter-diagnosis"}]}],
        "code": code,
        "subject": _patient(patient_id),
        "recordedDate": fhir_instant(at),
        "asserter": _person(author),
        "evidence": [{"detail": [{"reference": f"ServiceRequest/{consult_id}"}]}],
    }


def medication_request(*, patient_id: str, consult_id: str, prescription: dict, author: str, at: datetime,
                       lang: str) -> dict:
    """``prescription``: checked by ``prescriptions.check``; its words in ``lang``."""
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": prescription["medication"]},
        "subject": _patient(patient_id),
        "authoredOn": fhir_instant(at),
        "requester": _person(author),
        "basedOn": [{"reference": f"ServiceRequest/{consult_id}"}],
        "dosageInstruction": [prescriptions.dosage(prescription, lang)],
    }
