"""Helpers of the care tests: an arrival today, a full set of screening answers."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from care.models import Intake
from ehr import store
from ehr.custody import BOOKING_SYSTEM, custody_extension
from care.questionnaire import negative


def arrive(session, facility: str = "fac-a", booking: str = "A-900", *, sex: str = "male",
           family: str = "赵", given: str = "新来") -> tuple[str, int]:
    """A detainee admitted today: (patient id, intake id)."""
    patient = store.create(session, {
        "resourceType": "Patient", "identifier": [{"system": BOOKING_SYSTEM, "value": booking}],
        "name": [{"family": family, "given": [given], "text": family + given}], "gender": sex,
        "birthDate": "1990-02-03", "managingOrganization": {"reference": f"Organization/{facility}"},
        "extension": [custody_extension(facility, "3-12", date.today().isoformat())],
    }).id
    session.flush()
    intake = session.exec(select(Intake).where(Intake.patient_id == patient)).one()
    return patient, intake.id


def answers(**yes: bool | str) -> dict:
    return negative() | yes
