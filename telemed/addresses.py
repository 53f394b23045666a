"""The addresses people see for a detainee: by booking number (``/detainees/B-2026-0001``),
never by the internal Patient id. A detainee with no booking number (a record imported without
one) gets an opaque reference, ``~`` and 16 hex digits of a hash of the id, that names nobody
and reads as no number a person would use.

``resolve`` turns an address back into the Patient id; it decides nothing about access (the
policy does, on the id, as before)."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from sqlmodel import Session, select

from telemed.models import Detainee
from telemed.policy import Capability, decide
from telemed.security import Principal

OPAQUE = "~"


def ref(booking: str, patient_id: str) -> str:
    """The path segment of a detainee's pages."""
    return quote(booking, safe="") if booking else OPAQUE + _digest(patient_id)


def record(booking: str, patient_id: str) -> str:
    return f"/detainees/{ref(booking, patient_id)}"


def _digest(patient_id: str) -> str:
    return hashlib.sha256(patient_id.encode()).hexdigest()[:16]


def resolve(session: Session, who: Principal, segment: str) -> str | None:
    """The Patient id an address names, or None. A booking number reused in several facilities
    means the caller's own facility's detainee, else the one the caller may read, else the
    first (whose refusal then says what an out-of-scope address always said)."""
    if segment.startswith(OPAQUE):
        unbooked = session.exec(select(Detainee.patient_id).where(Detainee.booking_number == "")).all()
        return next((pid for pid in unbooked if OPAQUE + _digest(pid) == segment), None)
    found = session.exec(select(Detainee).where(Detainee.booking_number == segment)
                         .order_by(Detainee.patient_id)).all()
    if len(found) <= 1:
        return found[0].patient_id if found else None
    own = [d for d in found if d.facility_id == who.org_id]
    readable = [d for d in found if decide(session, who, Capability.CLINICAL_READ, d.patient_id).allowed]
    return (own or readable or found)[0].patient_id


def of_patient(session: Session, patient_id: str) -> str | None:
    """The address of a Patient id (an old bookmark), or None when there is no such detainee."""
    detainee = session.get(Detainee, patient_id)
    return record(detainee.booking_number, patient_id) if detainee else None
