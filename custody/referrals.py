"""Outside-hospital referrals and emergencies (出所就医): the doctor's decision makes the
ServiceRequest and the officers' escort task; departure, arrival and return are recorded as
they happen, the summary brought back is attached, and the return closes the visit (Encounter).
An emergency's clock runs from the decision to the departure."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta

from sqlmodel import Session, select

from custody import fhir, tasks
from custody.models import CustodyTask, Referral, ReferralStep, SecurityLevel, TaskKind, TaskState, Urgency
from ehr import store
from telemed.models import Detainee
from telemed.timeutil import as_utc, utcnow

MAX_TEXT = 200
MAX_REASON = 2000
MAX_SUMMARY_BYTES = 1_500_000  # under the 2 MB an /api/ request may carry (telemed.app.BODY_LIMITS)
SUMMARY_TYPES = ("application/pdf", "image/jpeg", "image/png")
# Each step and the step it follows.
STEPS = {ReferralStep.DEPARTED: (ReferralStep.REQUESTED,), ReferralStep.ARRIVED: (ReferralStep.DEPARTED,),
         ReferralStep.RETURNED: (ReferralStep.ARRIVED,)}
OPEN = (ReferralStep.REQUESTED, ReferralStep.DEPARTED, ReferralStep.ARRIVED)


class ReferralRefused(ValueError):
    def __init__(self, message: str, field: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.field, self.status = field, status


def _text(body: dict, key: str, limit: int = MAX_TEXT) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ReferralRefused(f"{key} is required", key)
    if len(value) > limit:
        raise ReferralRefused(f"{key} is at most {limit} characters", key)
    return value.strip()


def _choice(body: dict, key: str, allowed: type) -> str:
    value = body.get(key)
    if value not in set(allowed):
        raise ReferralRefused(f"{key} must be one of {', '.join(allowed)}", key)
    return value


def create(session: Session, body: dict, *, facility_id: str, user_id: int, requester: str,
           leave_at: datetime | None) -> Referral:
    """``leave_at``: when the escort should leave; an emergency leaves now."""
    patient_id = _text(body, "patient_id", 64)
    urgency = _choice(body, "urgency", Urgency)
    security = _choice(body, "security_level", SecurityLevel)
    hospital, department = _text(body, "hospital"), _text(body, "department")
    reason = _text(body, "reason", MAX_REASON)
    now = utcnow()
    if urgency == Urgency.EMERGENCY or leave_at is None:
        leave_at = now
    if as_utc(leave_at) < now - timedelta(minutes=5):
        raise ReferralRefused("leave_at is in the past", "leave_at")
    detainee = session.get(Detainee, patient_id)
    if detainee is None or detainee.facility_id != facility_id:
        raise ReferralRefused(f"no detainee {patient_id} in your facility", "patient_id", 404)
    referral_id = store.new_id()
    store.create(session, fhir.referral(referral_id=referral_id, patient_id=patient_id, urgency=urgency,
                                        hospital=hospital, department=department, reason=reason,
                                        security_level=security, leave_at=as_utc(leave_at), requester=requester,
                                        authored=now), resource_id=referral_id)
    task = tasks.assign(session, facility_id=facility_id, patient_id=patient_id, kind=TaskKind.ESCORT, due=leave_at,
                        place=f"{hospital} · {department}", source=f"ServiceRequest/{referral_id}",
                        security_level=security)
    row = Referral(id=referral_id, facility_id=facility_id, patient_id=patient_id, urgency=urgency, hospital=hospital,
                   department=department, security_level=security, leave_at=as_utc(leave_at), task_id=task.id,
                   requested_by=user_id, decided_at=now)
    session.add(row)
    session.flush()
    return row


def advance(session: Session, referral_id: str, step: str, *, by_user: int, by_name: str,
            at: datetime | None = None) -> Referral:
    """Record a step (departed, arrived, returned) at ``at`` (now); each follows the one before."""
    row = session.get(Referral, referral_id)
    if row is None:
        raise ReferralRefused(f"no referral {referral_id}", "referral", 404)
    if step not in STEPS:
        raise ReferralRefused(f"step must be one of {', '.join(STEPS)}", "step")
    if row.step not in STEPS[step]:
        raise ReferralRefused(f"the referral is {row.step}; {step} cannot be recorded now", "step", 409)
    at = at or utcnow()
    setattr(row, f"{step}_at", at)
    row.step = step
    if step == ReferralStep.DEPARTED:
        task = session.get(CustodyTask, row.task_id)
        if task is not None and task.state == TaskState.PENDING:
            tasks.close_task(session, task.id, TaskState.BROUGHT, by_user, by_name, at)
    if step == ReferralStep.RETURNED:
        row.encounter_id = store.create(session, fhir.visit(
            patient_id=row.patient_id, referral_id=row.id, urgency=row.urgency, hospital=row.hospital,
            department=row.department, departed=as_utc(row.departed_at), returned=at)).id
        _set_status(session, row.id, "completed")
    session.add(row)
    session.flush()
    return row


def cancel(session: Session, referral_id: str) -> Referral:
    row = session.get(Referral, referral_id)
    if row is None:
        raise ReferralRefused(f"no referral {referral_id}", "referral", 404)
    if row.step != ReferralStep.REQUESTED:
        raise ReferralRefused("only a referral that has not left can be cancelled", "step", 409)
    row.step = ReferralStep.CANCELLED
    tasks.cancel(session, f"ServiceRequest/{row.id}")
    _set_status(session, row.id, "revoked")
    session.add(row)
    return row


def _set_status(session: Session, referral_id: str, status: str) -> None:
    stored = store.read(session, "ServiceRequest", referral_id)
    store.update(session, fhir.referral_status(stored.resource, status), referral_id)


def attach_summary(session: Session, referral_id: str, *, title: str, content_type: str, data: bytes,
                   author: str) -> Referral:
    row = session.get(Referral, referral_id)
    if row is None:
        raise ReferralRefused(f"no referral {referral_id}", "referral", 404)
    if row.step not in (ReferralStep.ARRIVED, ReferralStep.RETURNED):
        raise ReferralRefused("a summary is attached once the detainee has been seen at the hospital", "step", 409)
    if content_type not in SUMMARY_TYPES:
        raise ReferralRefused(f"the summary must be one of {', '.join(SUMMARY_TYPES)}", "file")
    if not data or len(data) > MAX_SUMMARY_BYTES:
        raise ReferralRefused(f"the summary must hold 1 to {MAX_SUMMARY_BYTES} bytes", "file")
    title = title.strip() or "visit summary"
    if len(title) > MAX_TEXT:
        raise ReferralRefused(f"title is at most {MAX_TEXT} characters", "title")
    resource = fhir.visit_summary(patient_id=row.patient_id, referral_id=row.id, title=title,
                                  content_type=content_type, data_b64=base64.b64encode(data).decode(), at=utcnow(),
                                  author=author)
    row.summary_id = store.create(session, resource).id
    session.add(row)
    session.flush()
    return row


def summary_file(session: Session, referral_id: str) -> tuple[str, bytes] | None:
    row = session.get(Referral, referral_id)
    if row is None or row.summary_id is None:
        return None
    attachment = store.read(session, "DocumentReference", row.summary_id).resource["content"][0]["attachment"]
    try:
        return attachment["contentType"], base64.b64decode(attachment["data"], validate=True)
    except (KeyError, binascii.Error):
        return None


def referral_json(row: Referral, detainee: Detainee | None, *, clinical: bool, reason: str = "") -> dict:
    """What a page shows; ``clinical``: the reason too (doctors only)."""
    def t(value):
        return as_utc(value).isoformat() if value else None
    data = {"id": row.id, "patient_id": row.patient_id, "name": detainee.name if detainee else "",
            "booking_number": detainee.booking_number if detainee else "", "cell": detainee.cell if detainee else "",
            "urgency": row.urgency, "hospital": row.hospital, "department": row.department,
            "security_level": row.security_level, "step": row.step, "leave_at": t(row.leave_at),
            "decided_at": t(row.decided_at), "departed_at": t(row.departed_at), "arrived_at": t(row.arrived_at),
            "returned_at": t(row.returned_at), "has_summary": row.summary_id is not None,
            "minutes_to_departure": _minutes(row.decided_at, row.departed_at)}
    if clinical:
        data["reason"] = reason
    return data


def _minutes(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else int((as_utc(end) - as_utc(start)).total_seconds() // 60)


def listing(session: Session, facility_id: str, *, clinical: bool, since: datetime | None = None) -> list[dict]:
    """Open referrals, and those closed since ``since`` (default: 30 days)."""
    since = since or utcnow() - timedelta(days=30)
    rows = session.exec(select(Referral, Detainee).join(Detainee, Detainee.patient_id == Referral.patient_id)
                        .where(Referral.facility_id == facility_id,
                               Referral.step.in_(OPEN) | (Referral.decided_at >= since))
                        .order_by(Referral.decided_at.desc())).all()
    reasons = _reasons(session, [r.id for r, _ in rows]) if clinical else {}
    return [referral_json(r, d, clinical=clinical, reason=reasons.get(r.id, "")) for r, d in rows]


def _reasons(session: Session, ids: list[str]) -> dict[str, str]:
    found = {}
    for referral_id in ids:
        resource = store.read(session, "ServiceRequest", referral_id).resource
        found[referral_id] = next((c.get("text", "") for c in resource.get("reasonCode", [])), "")
    return found


def under_way(session: Session, facility_id: str) -> list[str]:
    """The sources (``ServiceRequest/<id>``) of the facility's referrals that have left and not returned."""
    ids = session.exec(select(Referral.id).where(Referral.facility_id == facility_id, Referral.step.in_(
        (ReferralStep.DEPARTED, ReferralStep.ARRIVED)))).all()
    return [f"ServiceRequest/{i}" for i in ids]


def steps_of(session: Session, ids: list[str]) -> dict[str, Referral]:
    return {r.id: r for r in session.exec(select(Referral).where(Referral.id.in_(ids))).all()} if ids else {}
