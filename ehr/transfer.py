"""Moving a detainee to another facility: the Patient's custody changes, its history stays,
and the access follows (the detainee index row is rewritten with the Patient)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from ehr import store
from ehr.access import WRITE, Gate
from ehr.custody import CUSTODY_EXTENSION, custody_extension, custody_of
from ehr.errors import invalid
from ehr.store import Stored
from ehr.validation import parameter_values
from telemed.models import CustodyStatus, Organization, OrgKind


@dataclass(frozen=True)
class Transfer:
    at: datetime
    source: str
    destination: str
    version: int


PARAMETERS = {"destination": "valueReference", "cell": "valueString"}


def transfer(session: Session, gate: Gate, patient_id: str, parameters: dict, today: date) -> Stored:
    if parameters.get("resourceType") != "Parameters":
        raise invalid("$transfer takes a Parameters resource", ["Parameters"], status=400)
    given = parameter_values(parameters, PARAMETERS)
    reference = given.get("destination")
    destination = str((reference or {}).get("reference") or "").removeprefix("Organization/")
    cell = str(given.get("cell") or "")
    gate.check(session, WRITE, "fhir.transfer", "Patient", patient_id, patient_id)  # first: an unknown id is no tell
    before = store.read(session, "Patient", patient_id)
    org = session.get(Organization, destination) if destination else None
    if org is None or org.kind != OrgKind.FACILITY:
        raise invalid(f"destination Organization/{destination} is not a custody facility",
                      ["Parameters.parameter[destination]"])
    patient = before.resource
    if custody_of(patient).get("facility") == destination:
        raise invalid(f"Patient/{patient_id} is already held at {destination}", ["Parameters.parameter[destination]"])
    patient["extension"] = [e for e in patient.get("extension", []) if e.get("url") != CUSTODY_EXTENSION]
    patient["extension"].append(custody_extension(destination, cell, today.isoformat(), CustodyStatus.IN_CUSTODY))
    patient["managingOrganization"] = {"reference": f"Organization/{destination}"}
    stored, _ = store.update(session, patient, patient_id, if_match=before.version)
    return stored


def transfers(versions: list[Stored]) -> list[Transfer]:
    """Every facility change in a Patient's history (``versions`` in any order)."""
    found: list[Transfer] = []
    previous = None
    for version in sorted(versions, key=lambda s: s.version):
        if version.deleted:
            continue
        facility = custody_of(version.resource).get("facility")
        if previous is not None and facility != previous:
            found.append(Transfer(version.last_updated, previous, facility or "", version.version))
        previous = facility
    return found
