"""What intake screening and sick call add to the on-site doctor's home counts (``telemed.home``)."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from care.models import Intake, SickCall
from telemed.models import CustodyStatus, Detainee


def doctor_care_counts(session: Session, facility_id: str) -> list[tuple[str, int, str, bool]]:
    """Arrivals held here and not yet screened (urgent: screening is due within hours), and sick
    calls still open."""
    unscreened = select(func.count()).select_from(Intake).join(Detainee, Detainee.patient_id == Intake.patient_id).where(
        Intake.facility_id == facility_id, Detainee.facility_id == facility_id,
        Detainee.status == CustodyStatus.IN_CUSTODY, Intake.screened_at.is_(None))
    calls = select(func.count()).select_from(SickCall).where(
        SickCall.facility_id == facility_id, SickCall.closed_at.is_(None))
    return [("care_unscreened", int(session.exec(unscreened).one()), "/care", True),
            ("care_sick_calls", int(session.exec(calls).one()), "/care", False)]
