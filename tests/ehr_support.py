"""Shared helpers for the EHR tests: resources, FHIR calls, consult grants."""

from __future__ import annotations

from datetime import timedelta

import orjson

from telemed.models import ConsultAccess, ConsultShare
from telemed.timeutil import utcnow

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
HEART_RATE = "8867-4"
GLUCOSE = "2345-7"


def observation(patient: str, code: str = HEART_RATE, value: float = 72, unit: str = "/min",
                when: str = "2026-03-01T08:00:00Z", category: str = "vital-signs", display: str = "Heart rate") -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def condition(patient: str, code: str = "38341003", text: str = "Hypertension") -> dict:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": text}]},
        "subject": {"reference": f"Patient/{patient}"},
        "recordedDate": "2026-02-01",
    }


async def fhir(client, method: str, url: str, headers: dict, body: dict | None = None, **extra_headers):
    """(status, parsed JSON or None, response)."""
    response = await client.request(method, url, headers={**headers, **extra_headers},
                                    data=orjson.dumps(body) if body is not None else None)
    raw = await response.read()
    return response.status, (orjson.loads(raw) if raw else None), response


def ids(bundle: dict, mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode", "match") == mode]


def open_consult(session, consult_id: str, patient: str, specialist_id: int,
                 shared: tuple[tuple[str, str], ...] = (), closed_days_ago: int | None = None) -> None:
    now = utcnow()
    closed = now - timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    session.add(ConsultAccess(consult_id=consult_id, patient_id=patient, specialist_id=specialist_id,
                              accepted_at=now - timedelta(days=60), closed_at=closed))
    for rtype, rid in shared:
        session.add(ConsultShare(consult_id=consult_id, resource_type=rtype, resource_id=rid))
