"""The JSON the care routes answer: work lists, one intake, one sick call, an enterer's view."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from care import intake as intakes
from care import questionnaire, sickcall
from care.models import Intake, SickCall
from care.rules import rules_for
from care.clocks import screening_due
from ehr import store
from telemed.models import Detainee, Role
from telemed.security import Principal


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def person(detainee: Detainee) -> dict:
    return {"patient_id": detainee.patient_id, "name": detainee.name, "booking_number": detainee.booking_number,
            "cell": detainee.cell, "sex": detainee.sex}


def _intake(due: intakes.Due) -> dict:
    row = due.intake
    return person(due.detainee) | {
        "id": row.id, "kind": row.kind, "admitted_at": _iso(row.admitted_at), "screened_at": _iso(row.screened_at),
        "screening_due": _iso(due.screening_due), "assessment_due": _iso(due.assessment_due),
        "screening_late": due.screening_late, "assessment_late": due.assessment_late}


def call_json(call: SickCall, now: datetime) -> dict:
    return {"id": call.id, "category": call.category, "urgent": call.urgent, "received_at": _iso(call.received_at),
            "triage_due": _iso(call.triage_due), "visit_due": _iso(call.visit_due),
            "triaged_at": _iso(call.triaged_at), "visit_at": _iso(call.visit_at), "place": call.place,
            "seen_at": _iso(call.seen_at), "outcome": call.outcome, "closed_at": _iso(call.closed_at),
            "stage": sickcall.stage(call).value, "triage_late": sickcall.triage_late(call, now),
            "visit_late": sickcall.visit_late(call, now)}


def worklist(session: Session, facility_id: str, now: datetime) -> dict:
    follow_ups = [person(d) | {"id": f.id, "kind": f.kind, "detail": f.detail, "due": _iso(f.due),
                               "late": f.due < now} for f, d in intakes.open_follow_ups(session, facility_id)]
    return {
        "intakes": [_intake(d) for d in intakes.open_intakes(session, facility_id, now)],
        "follow_ups": follow_ups,
        "sick_calls": [person(d) | call_json(c, now) for c, d in sickcall.open_calls(session, facility_id)],
    }


def patients_in(found: dict) -> list[str]:
    return [row["patient_id"] for rows in found.values() for row in rows]


def intake_detail(session: Session, row: Intake, detainee: Detainee, now: datetime) -> dict:
    due = next((d for d in intakes.open_intakes(session, row.facility_id, now) if d.intake.id == row.id), None)
    found = person(detainee) | {"id": row.id, "kind": row.kind, "admitted_at": _iso(row.admitted_at),
                                "screened_at": _iso(row.screened_at), "assessed_at": _iso(row.assessed_at),
                                "answers": None, "flags": [f["code"]["coding"][0]["code"] for f in
                                                           intakes.active_flags(session, row.patient_id)]}
    if due is not None:
        found |= _intake(due)
    if row.response_id:
        found["answers"] = questionnaire.answers_of(store.read(session, "QuestionnaireResponse", row.response_id).resource)
    return found


def receipt(call: SickCall, detainee: Detainee) -> dict:
    return {"id": call.id, "patient_id": detainee.patient_id, "name": detainee.name,
            "booking_number": detainee.booking_number, "received_at": _iso(call.received_at)}


def sick_call_detail(session: Session, call_id: str, now: datetime) -> dict:
    call = session.get(SickCall, call_id)
    detainee = session.get(Detainee, call.patient_id)
    task = store.read(session, "Task", call_id).resource
    return person(detainee) | call_json(call, now) | {
        "words": task.get("description", ""), "notes": [n.get("text", "") for n in task.get("note", [])]}


def mine(session: Session, who: Principal, now: datetime) -> dict:
    """An officer's view. A cell kiosk is shared by the cell: it lists nothing (one detainee
    must not learn who else asked for the doctor)."""
    if who.role not in OFFICERS:
        return {"sick_calls": [], "screenings_due": []}
    calls = [{"id": c.id, "received_at": _iso(c.received_at), "stage": sickcall.stage(c).value} | person(d)
             for c, d in sickcall.entered_by(session, who.user_id)]
    rules = rules_for(session, who.org_id)
    due = [person(d.detainee) | {"screening_due": _iso(screening_due(d.intake.admitted_at, rules)),
                                 "screening_late": d.screening_late}
           for d in intakes.open_intakes(session, who.org_id, now) if d.intake.screened_at is None]
    return {"sick_calls": calls, "screenings_due": due}


OFFICERS = frozenset({Role.FACILITY_DOCTOR})  # the custody officer joins when that role exists
