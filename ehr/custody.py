"""How a detainee's custody data sits on the FHIR Patient, and the detainee index kept from it."""

from __future__ import annotations

from sqlmodel import Session

from ehr.errors import invalid
from telemed.models import CustodyStatus, Detainee, Organization
from telemed.timeutil import utcnow

BASE = "http://telemed.example.org/fhir"
CUSTODY_EXTENSION = f"{BASE}/StructureDefinition/custody"
BOOKING_SYSTEM = f"{BASE}/sid/booking-number"
NATIONAL_ID_SYSTEM = f"{BASE}/sid/national-id"


def custody_extension(facility_id: str, cell: str, admission_date: str, status: str = CustodyStatus.IN_CUSTODY) -> dict:
    parts = [
        {"url": "facility", "valueReference": {"reference": f"Organization/{facility_id}"}},
        {"url": "cell", "valueString": cell},
        {"url": "admissionDate", "valueDate": admission_date},
        {"url": "status", "valueCode": status},
    ]
    # FHIR strings may not be empty: a cell not yet assigned is left out.
    return {"url": CUSTODY_EXTENSION, "extension": [p for p in parts if p.get("valueString", True)]}


def custody_of(patient: dict) -> dict[str, str]:
    """The custody sub-extensions as plain strings; facility falls back to managingOrganization."""
    found: dict[str, str] = {}
    for ext in patient.get("extension", []):
        if ext.get("url") != CUSTODY_EXTENSION:
            continue
        for sub in ext.get("extension", []):
            key = sub.get("url", "")
            if "valueReference" in sub:
                found[key] = sub["valueReference"].get("reference", "").removeprefix("Organization/")
            else:
                value = next((v for k, v in sub.items() if k.startswith("value")), "")
                found[key] = str(value)
    if "facility" not in found:
        org = patient.get("managingOrganization", {}).get("reference", "")
        if org.startswith("Organization/"):
            found["facility"] = org.removeprefix("Organization/")
    return found


def identifier(patient: dict, system: str) -> str:
    return next((i.get("value", "") for i in patient.get("identifier", []) if i.get("system") == system), "")


def display_name(patient: dict) -> str:
    for name in patient.get("name", []):
        if name.get("text"):
            return name["text"]
        parts = [name.get("family", ""), "".join(name.get("given", []))]
        joined = "".join(parts) if _is_cjk(parts[0]) else " ".join(p for p in reversed(parts) if p)
        if joined:
            return joined
    return ""


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def sync_detainee(session: Session, patient: dict) -> Detainee:
    custody = custody_of(patient)
    facility = custody.get("facility")
    if not facility:
        raise invalid("a detainee needs a facility: Patient.extension[custody].facility or "
                      "Patient.managingOrganization", ["Patient.managingOrganization"])
    if session.get(Organization, facility) is None:
        raise invalid(f"unknown facility Organization/{facility}", ["Patient.managingOrganization"])
    row = session.get(Detainee, patient["id"]) or Detainee(patient_id=patient["id"], facility_id=facility)
    row.facility_id = facility
    row.booking_number = identifier(patient, BOOKING_SYSTEM)
    row.national_id = identifier(patient, NATIONAL_ID_SYSTEM)
    row.name = display_name(patient)
    row.sex = patient.get("gender", "unknown")
    row.birth_date = patient.get("birthDate", "")
    row.cell = custody.get("cell", "")
    row.admission_date = custody.get("admissionDate", "")
    row.status = custody.get("status", CustodyStatus.IN_CUSTODY)
    row.updated_at = utcnow()
    session.add(row)
    return row
