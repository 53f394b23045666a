"""Arrivals, as the record learns of them: a new in-custody detainee, or one whose facility
changed (a transfer in), opens an intake whose screening clock starts then.

The detainee index row (``telemed.models.Detainee``) is rewritten with every Patient write, so
its changes are watched here rather than each way a Patient can be written (FHIR create, update,
``$transfer``, bulk import). A Patient whose admission date is older than ``RECENT`` is a record
brought in from before (an import of those already held): no screening clock starts for it."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from care.models import Intake
from telemed.models import CustodyStatus, Detainee
from telemed.timeutil import utcnow

RECENT = timedelta(days=2)


def _arrival(row: Detainee, is_new: bool) -> str | None:
    if row.status != CustodyStatus.IN_CUSTODY:
        return None
    if is_new:
        return "admission" if _recent(row.admission_date) else None
    history = inspect(row).attrs.facility_id.history
    return "transfer" if history.deleted and history.added else None


def _recent(admission_date: str) -> bool:
    try:
        admitted = date.fromisoformat(admission_date)
    except ValueError:
        return True  # no date given: the arrival is now
    return admitted >= utcnow().date() - RECENT


@event.listens_for(Session, "before_flush")
def open_intakes(session: Session, _context, _instances) -> None:
    found = [(row, True) for row in session.new if isinstance(row, Detainee)]
    found += [(row, False) for row in session.dirty if isinstance(row, Detainee)]
    now = utcnow()
    for row, is_new in found:
        kind = _arrival(row, is_new)
        if kind is not None:
            session.add(Intake(patient_id=row.patient_id, facility_id=row.facility_id, kind=kind, admitted_at=now))
