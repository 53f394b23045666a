"""What the consult pages and API show: one consult as JSON, the work lists, the outcome counts.
Who sees which consult is decided in ``webrtc.seeing``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, func, select

from custody import tasks as custody_tasks
from telemed.models import ConsultShare, Detainee, Role
from telemed.security import Principal
from telemed.timeutil import as_utc, utcnow
from webrtc.deadlines import breached
from webrtc.models import Consult, ConsultInvite, ConsultStatus, Outcome
from webrtc.seeing import identifies, role_in, visible
from webrtc.workflow import user_name

S = ConsultStatus
LISTS = ("awaiting_decision", "scheduled", "referred_not_seen", "awaiting_signature")
CLOSED = (S.SIGNED, S.DECLINED)
HISTORY_LIMIT = 200


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None


def flags(consult: Consult, now: datetime) -> dict[str, bool]:
    return {
        "decision_overdue": breached(consult.decision_due, consult.decided_at, now),
        "signature_overdue": consult.call_started_at is not None and breached(consult.sign_due, consult.signed_at, now),
    }


def summary(consult: Consult, detainee: Detainee | None, now: datetime, *, identified: bool) -> dict:
    """``identified``: the caller may see who the detainee is (not a specialist still triaging)."""
    data = {
        "id": consult.id, "status": consult.status, "urgency": consult.urgency, "specialty": consult.specialty,
        "question": consult.question, "facility_id": consult.facility_id, "hospital_id": consult.hospital_id,
        "requested_at": _iso(consult.requested_at), "decision_due": _iso(consult.decision_due),
        "decided_at": _iso(consult.decided_at), "decision_reason": consult.decision_reason,
        "proposed_start": _iso(consult.proposed_start), "scheduled_start": _iso(consult.scheduled_start),
        "specialist_id": consult.specialist_id, "requester_id": consult.requester_id,
        "call_started_at": _iso(consult.call_started_at), "sign_due": _iso(consult.sign_due),
        "signed_at": _iso(consult.signed_at), "outcome": consult.outcome, "note_id": consult.note_id,
        "appointment_id": consult.appointment_id, "recording_id": consult.recording_id,
        "custody": {"recorded": consult.consult_consent_id is not None, "officer_present": consult.officer_present,
                    "security_note": consult.security_note, "consult_consent_id": consult.consult_consent_id,
                    "recording_consent_id": consult.recording_consent_id},
        "flags": flags(consult, now),
    }
    if detainee is not None:
        data["detainee"] = {"sex": detainee.sex, "birth_date": detainee.birth_date}
        if identified:
            data["patient_id"] = consult.patient_id
            data["detainee"].update(name=detainee.name, booking_number=detainee.booking_number)
    return data


def consult_view(session: Session, who: Principal, consult: Consult) -> dict:
    now = utcnow()
    data = summary(consult, session.get(Detainee, consult.patient_id), now,
                   identified=identifies(role_in(session, who, consult, now)))
    data["shared"] = [{"type": r.resource_type, "id": r.resource_id, "produced": r.produced}
                      for r in session.exec(select(ConsultShare).where(ConsultShare.consult_id == consult.id))]
    data["invited"] = [{"user_id": i.user_id, "kind": i.kind}
                       for i in session.exec(select(ConsultInvite).where(ConsultInvite.consult_id == consult.id))]
    data["draft"] = consult.draft if who.user_id == consult.specialist_id else {}
    return data


def work_lists(session: Session, who: Principal) -> dict[str, list[dict]]:
    now = utcnow()
    lists: dict[str, list[dict]] = {name: [] for name in LISTS}
    if who.role not in (Role.FACILITY_DOCTOR, Role.SPECIALIST):
        return lists
    rows = session.exec(
        select(Consult, Detainee).join(Detainee, Detainee.patient_id == Consult.patient_id, isouter=True)
        .where(visible(who), Consult.status.in_((S.REQUESTED, S.ACCEPTED, S.SCHEDULED, S.HELD)))
        .order_by(Consult.requested_at)
    ).all()
    calls = custody_tasks.state_by_source(session, [f"Appointment/{c.appointment_id}" for c, _ in rows
                                                    if c.appointment_id and who.role == Role.FACILITY_DOCTOR])
    for consult, detainee in rows:
        role = role_in(session, who, consult, now)
        if role is None:
            continue
        name = _list_of(consult, now)
        shown = summary(consult, detainee, now, identified=role != "triage")
        shown["call_state"] = calls.get(f"Appointment/{consult.appointment_id}")  # is the detainee on the way?
        lists[name].append(shown)
    return lists


def patients_of(session: Session, consult_ids: list[str]) -> list[str]:
    """The detainees of ``consult_ids``, in their order."""
    found = dict(session.exec(select(Consult.id, Consult.patient_id).where(Consult.id.in_(consult_ids))).all())
    return [found[cid] for cid in consult_ids if cid in found]


def _list_of(consult: Consult, now: datetime) -> str:
    if consult.status == S.REQUESTED:
        return "awaiting_decision"
    if consult.status == S.HELD:
        return "awaiting_signature"
    start = consult.scheduled_start or consult.proposed_start
    return "referred_not_seen" if start is not None and as_utc(start) < now else "scheduled"


def outcome_counts(session: Session, who: Principal, since: datetime | None = None,
                   until: datetime | None = None) -> dict[str, int]:
    """Signed consults of the caller's organisation by outcome (signed in [since, until) when
    given); not a transfer = a trip avoided."""
    column = Consult.facility_id if who.role in (Role.FACILITY_DOCTOR, Role.MEDICAL_OFFICER) else Consult.hospital_id
    query = select(Consult.outcome, func.count()).where(column == who.org_id, Consult.status == S.SIGNED)
    if since is not None:
        query = query.where(Consult.signed_at >= since)
    if until is not None:
        query = query.where(Consult.signed_at < until)
    rows = dict(session.exec(query.group_by(Consult.outcome)).all())
    counts = {o.value: int(rows.get(o.value, 0)) for o in Outcome}
    counts["signed"] = sum(counts.values())
    counts["trips_avoided"] = counts["signed"] - counts[Outcome.TRANSFER]
    return counts


def history(session: Session, who: Principal, query: str = "") -> list[dict]:
    """Signed and declined consults, newest first; ``query`` matches the detainee's booking
    number, name or cell, among the consults whose detainee the caller may know."""
    now = utcnow()
    statement = (select(Consult, Detainee).join(Detainee, Detainee.patient_id == Consult.patient_id, isouter=True)
                 .where(visible(who, triaged=(S.DECLINED,)), Consult.status.in_(CLOSED))
                 .order_by(func.coalesce(Consult.signed_at, Consult.decided_at).desc()).limit(HISTORY_LIMIT))
    if query:
        pattern = f"%{query.strip()}%"
        statement = statement.where(or_(Detainee.booking_number.ilike(pattern), Detainee.name.ilike(pattern),
                                        Detainee.cell.ilike(pattern)))
    found = []
    for consult, detainee in session.exec(statement).all():
        identified = identifies(role_in(session, who, consult, now))
        if query and not identified:
            continue  # a search by detainee must not reveal whom an anonymous row is about
        found.append(summary(consult, detainee, now, identified=identified) | {
            "specialist": user_name(session, consult.specialist_id),
            "cell": detainee.cell if detainee and identified else ""})
    return found
