"""Sick call (就医申请): a detainee's request in their own words, triaged and seen on the
clocks of ``care.clocks``, closed with one outcome. Each request is a FHIR Task whose
restriction.period ends at the visit deadline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from care import clocks
from care.consequences import LOCAL
from care.models import SickCall
from care.rules import rules_for
from ehr import store
from telemed.models import Detainee
from telemed.security import Principal

WORDS_LIMIT = 1000


class Category(StrEnum):
    ILLNESS = "illness"
    INJURY = "injury"
    DENTAL = "dental"
    MENTAL = "mental_health"
    MEDICATION = "medication"
    CHRONIC = "chronic"
    OTHER = "other"


class Outcome(StrEnum):
    SEEN = "seen"  # seen on site, with a note
    LABS = "labs"
    CONSULT = "consult"
    REFERRAL = "referral"
    NO_ACTION = "no_action"


class Stage(StrEnum):
    RECEIVED = "received"
    SCHEDULED = "scheduled"
    CLOSED = "closed"


class Refused(ValueError):
    def __init__(self, message: str, field: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.field, self.status = field, status


def need(condition: bool, message: str, field: str = "", status: int = 400) -> None:
    if not condition:
        raise Refused(message, field, status)


def submit(session: Session, who: Principal, detainee: Detainee, words: str, category: str, urgent: bool,
           now: datetime, tz: ZoneInfo) -> SickCall:
    words = words.strip()
    need(bool(words), "words: write the request as the detainee says it", "words")
    need(len(words) <= WORDS_LIMIT, f"words: at most {WORDS_LIMIT} characters", "words")
    need(category in set(Category), f"category: one of {', '.join(Category)}", "category")
    rules = rules_for(session, detainee.facility_id)
    call = SickCall(id=store.new_id(), patient_id=detainee.patient_id, facility_id=detainee.facility_id,
                    category=category, urgent=urgent, received_at=now, entered_by=who.user_id,
                    triage_due=clocks.triage_due(now, urgent, rules),
                    visit_due=clocks.visit_due(now, urgent, rules, tz))
    store.create(session, _task(call, words, who.display_name), resource_id=call.id)
    session.add(call)
    return call


def _task(call: SickCall, words: str, requester: str) -> dict:
    return {
        "resourceType": "Task", "status": "requested", "intent": "order",
        "priority": "urgent" if call.urgent else "routine",
        "code": {"coding": [{"system": LOCAL, "code": "sick-call"}], "text": "Sick call"},
        "reasonCode": {"coding": [{"system": f"{LOCAL}/sick-call-category", "code": call.category}]},
        "description": words, "for": {"reference": f"Patient/{call.patient_id}"},
        "authoredOn": call.received_at.isoformat(), "requester": {"display": requester},
        "restriction": {"period": {"start": call.received_at.isoformat(), "end": call.visit_due.isoformat()}},
    }


def stage(call: SickCall) -> Stage:
    if call.closed_at is not None:
        return Stage.CLOSED
    return Stage.SCHEDULED if call.triaged_at is not None else Stage.RECEIVED


def triage_late(call: SickCall, now: datetime) -> bool:
    return clocks.late(call.triage_due, call.triaged_at, now)


def visit_late(call: SickCall, now: datetime) -> bool:
    """The visit clock stops when the detainee is seen, or when triage closes the request with
    no visit."""
    return clocks.late(call.visit_due, call.seen_at or call.closed_at, now)


def triage(session: Session, who: Principal, call: SickCall, *, urgent: bool, visit_at: datetime | None,
           place: str, reason: str, now: datetime, tz: ZoneInfo) -> None:
    """Schedule a visit (``visit_at`` and ``place``) or close with no action (``reason``)."""
    need(call.triaged_at is None, "this request is already triaged", status=409)
    if urgent != call.urgent:
        rules = rules_for(session, call.facility_id)
        call.urgent = urgent
        call.triage_due = clocks.triage_due(call.received_at, urgent, rules)
        call.visit_due = clocks.visit_due(call.received_at, urgent, rules, tz)
    call.triaged_at = now
    if visit_at is None:
        need(bool(reason.strip()), "reason: say why no visit is needed, or give a visit time", "reason")
        _close(session, call, Outcome.NO_ACTION, reason, now)
        return
    need(visit_at >= now, "visit_at: the visit cannot be in the past", "visit_at")
    need(bool(place.strip()), "place: where the detainee is to be brought", "place")
    call.visit_at, call.place = visit_at, place.strip()[:100]
    _update_task(session, call, "accepted", note=f"visit {visit_at.isoformat()} at {call.place}", now=now)
    session.add(call)


def record_visit(session: Session, call: SickCall, outcome: str, note: str, now: datetime) -> None:
    need(call.closed_at is None, "this request is closed", status=409)
    need(call.triaged_at is not None, "triage the request before recording the visit", status=409)
    need(outcome in set(Outcome) - {Outcome.NO_ACTION}, "outcome: one of seen, labs, consult, referral", "outcome")
    need(bool(note.strip()), "note: what was found and done", "note")
    call.seen_at = now
    _close(session, call, Outcome(outcome), note, now)


def _close(session: Session, call: SickCall, outcome: Outcome, note: str, now: datetime) -> None:
    call.outcome, call.closed_at = outcome, now
    session.add(call)
    _update_task(session, call, "completed", note=note.strip()[:2000], now=now, outcome=outcome)


def _update_task(session: Session, call: SickCall, status: str, *, note: str, now: datetime,
                 outcome: Outcome | None = None) -> None:
    stored = store.read(session, "Task", call.id)
    task = stored.resource | {"status": status, "lastModified": now.isoformat(),
                              "priority": "urgent" if call.urgent else "routine"}
    task["restriction"] = {"period": {"start": call.received_at.isoformat(), "end": call.visit_due.isoformat()}}
    task["note"] = [*task.get("note", []), {"time": now.isoformat(), "text": note}]
    if outcome is not None:
        task["output"] = [{"type": {"coding": [{"system": f"{LOCAL}/sick-call-outcome", "code": outcome.value}]},
                           "valueString": note or outcome.value}]
    store.update(session, task, call.id, if_match=stored.version)


def words_of(session: Session, call: SickCall) -> str:
    return store.read(session, "Task", call.id).resource.get("description", "")


def open_calls(session: Session, facility_id: str) -> list[tuple[SickCall, Detainee]]:
    rows = session.execute(
        select(SickCall, Detainee).join(Detainee, Detainee.patient_id == SickCall.patient_id)
        .where(SickCall.facility_id == facility_id, SickCall.closed_at.is_(None))
        .order_by(SickCall.triage_due).limit(500)).all()
    return [(c, d) for c, d in rows]


def entered_by(session: Session, user_id: int, limit: int = 100) -> list[tuple[SickCall, Detainee]]:
    rows = session.execute(
        select(SickCall, Detainee).join(Detainee, Detainee.patient_id == SickCall.patient_id)
        .where(SickCall.entered_by == user_id).order_by(SickCall.received_at.desc()).limit(limit)).all()
    return [(c, d) for c, d in rows]
