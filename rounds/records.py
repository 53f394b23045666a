"""Reading the medication pass's FHIR resources back: a facility's MedicationAdministrations and
Flags (joined to the detainee index), and the identifier each carries."""

from __future__ import annotations

from sqlmodel import Session, select

from ehr.models import FhirResource
from ehr.store import Stored
from telemed.models import Detainee


def identifier_of(resource: dict, system: str) -> str:
    return next((i.get("value", "") for i in resource.get("identifier", []) if i.get("system") == system), "")


def of_facility(session: Session, rtype: str, facility_id: str, patient_id: str | None = None) -> list[dict]:
    query = (select(FhirResource).join(Detainee, Detainee.patient_id == FhirResource.patient_id)
             .where(FhirResource.type == rtype, FhirResource.deleted == False,  # noqa: E712
                    Detainee.facility_id == facility_id))
    if patient_id:
        query = query.where(FhirResource.patient_id == patient_id)
    return [Stored.of(row).resource for row in session.exec(query).all()]


def by_identifier(session: Session, rtype: str, facility_id: str, system: str,
                  patient_id: str | None = None) -> dict[str, dict]:
    found = {}
    for resource in of_facility(session, rtype, facility_id, patient_id):
        key = identifier_of(resource, system)
        if key:
            found[key] = resource
    return found
