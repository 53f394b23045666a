"""Who sees which consult, over the foundation's access window (``telemed.policy``): the
facility's doctors see their facility's consults; a specialist those they took part in while the
window is open, and, to decide on them, the requests their hospital and specialty triage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, select

from telemed.models import ConsultAccess, Role
from telemed.policy import Capability, active_consults
from telemed.security import Principal
from webrtc.models import Consult, ConsultStatus as S
from webrtc.workflow import is_facility_doctor, is_triager

KNOWING = ("facility", "specialist")  # the parts that may know who the detainee is


def acting_capability(who: Principal) -> Capability:
    """What a consult step that either side may take (an invitation) asks of the caller's role."""
    return Capability.TRIAGE_CONSULT if who.role == Role.SPECIALIST else Capability.REQUEST_CONSULT


def role_in(session: Session, who: Principal, consult: Consult, now: datetime | None = None) -> str | None:
    """'facility', 'specialist' (assigned or invited, window open), 'triage' (may only see the
    request to decide on it) or None."""
    if is_facility_doctor(who, consult):
        return "facility"
    if who.role == Role.SPECIALIST and consult.id in active_consults(session, who, consult.patient_id, now):
        return "specialist"
    if consult.status == S.REQUESTED and is_triager(who, consult):
        return "triage"
    return None


def identifies(role: str | None) -> bool:
    """Whether this part in a consult may see who the detainee is (not a specialist still triaging)."""
    return role in KNOWING


def visible(who: Principal, *, triaged: tuple[str, ...] = (S.REQUESTED,)):
    """The SQL condition: consults of the caller's facility; for a specialist, those they took part
    in and those their hospital and specialty triage (``triaged``: in which states)."""
    if who.role == Role.FACILITY_DOCTOR:
        return Consult.facility_id == who.org_id
    accessible = select(ConsultAccess.consult_id).where(ConsultAccess.specialist_id == who.user_id)
    triage = (Consult.status.in_(triaged)) & (Consult.hospital_id == who.org_id) & \
        (Consult.specialty == (who.specialty or ""))
    return or_(Consult.id.in_(accessible), triage)
