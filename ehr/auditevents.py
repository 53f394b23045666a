"""``/fhir/AuditEvent``: the audit trail, read-only, for medical officers (REVIEW_AUDIT), limited
to entries about their own facility's detainees."""

from __future__ import annotations

from sqlalchemy import func, or_
from sqlmodel import Session, select

from ehr.access import Gate
from ehr.errors import FhirError, Issue, forbidden, not_found
from ehr.search import DEFAULT_COUNT, MAX_COUNT, bad, date_bounds, prefixed, range_condition, to_datetime
from telemed.audit import AUDIT_ACTIONS, about_patients, to_fhir
from telemed.models import AuditEntry, Detainee
from telemed.policy import Capability, Decision, may

ACTION_OF_CODE = {code: verb for verb, code in AUDIT_ACTIONS.items()}


def _allowed(session: Session, gate: Gate, resource: str):
    """Decide, note, and return the SQL condition for the caller's scope."""
    who = gate.who
    if not may(who, Capability.REVIEW_AUDIT):
        gate.note("fhir.audit", Decision(False, f"role {who.role} may not {Capability.REVIEW_AUDIT.value}"), None, resource)
        raise forbidden(f"role {who.role} may not review the audit trail")
    gate.note("fhir.audit", Decision(True, "audit review"), None, resource)
    return AuditEntry.patient_id.in_(select(Detainee.patient_id).where(Detainee.facility_id == who.org_id))


def read(session: Session, gate: Gate, event_id: str) -> dict:
    scope = _allowed(session, gate, f"AuditEvent/{event_id}")
    seq = event_id.removeprefix("audit-")
    entry = session.exec(select(AuditEntry).where(AuditEntry.seq == int(seq), scope)).first() if seq.isdigit() else None
    if entry is None:
        raise not_found("AuditEvent", event_id)
    return to_fhir(entry)


def search(session: Session, gate: Gate, query: list[tuple[str, str]]) -> tuple[list[dict], int | None, int]:
    """(events newest first, the seq to continue below or None, how many match in all)."""
    conditions = [_allowed(session, gate, "AuditEvent?")]
    count, before = DEFAULT_COUNT, None
    for key, value in query:
        if key in ("_count", "_cursor") and not value.isdigit():
            raise bad(f"{key} must be a whole number", key)
        if key == "_count":
            count = min(int(value), MAX_COUNT)
        elif key == "_cursor":
            before = int(value)
        elif key in ("patient", "entity"):
            conditions.append(about_patients(session, [v.removeprefix("Patient/") for v in value.split(",")]))
        elif key == "date":
            prefix, text = prefixed(value)
            low, high = (to_datetime(ms) for ms in date_bounds(text, "date", prefix))
            conditions.append(range_condition(AuditEntry.ts, AuditEntry.ts, prefix, low, high))
        elif key == "outcome":
            codes = {"0": "allowed", "4": "denied", "8": "error"}
            conditions.append(AuditEntry.outcome.in_([codes.get(v, v) for v in value.split(",")]))
        elif key == "action":
            verbs = [ACTION_OF_CODE.get(v, v) for v in value.split(",")]
            conditions.append(or_(*(AuditEntry.action.like(f"%.{verb}") for verb in verbs)))
        elif key != "_format":
            raise bad(f"unknown search parameter {key} for AuditEvent", f"AuditEvent?{key}")
    total = session.exec(select(func.count()).select_from(AuditEntry).where(*conditions)).one()
    if before is not None:
        conditions.append(AuditEntry.seq < before)
    rows = session.exec(select(AuditEntry).where(*conditions).order_by(AuditEntry.seq.desc()).limit(count + 1)).all()
    page = rows[:count]
    return [to_fhir(r) for r in page], (page[-1].seq if len(rows) > count else None), total


def read_only() -> FhirError:
    return FhirError(405, Issue("not-supported", "AuditEvent is read-only: it is kept by the audit trail"))
