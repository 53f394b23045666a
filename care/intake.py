"""Intake: the screening of an arrival, its assessment, and the work both leave."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from care import clocks, consequences, questionnaire
from care.models import FollowUp, Intake
from care.rules import rules_for
from ehr import store
from telemed.models import CustodyStatus, Detainee
from telemed.security import Principal


class Conflict(ValueError):
    pass


def ensure_questionnaire(session: Session) -> None:
    if not store.exists(session, "Questionnaire", questionnaire.QUESTIONNAIRE_ID):
        store.create(session, questionnaire.questionnaire(), resource_id=questionnaire.QUESTIONNAIRE_ID)


def get_intake(session: Session, intake_id: int) -> tuple[Intake, Detainee] | None:
    row = session.execute(select(Intake, Detainee).join(Detainee, Detainee.patient_id == Intake.patient_id)
                          .where(Intake.id == intake_id)).first()
    return (row[0], row[1]) if row else None


def record_screening(session: Session, who: Principal, intake: Intake, detainee: Detainee,
                     answers: dict[str, bool | str], now: datetime) -> list[consequences.Raise]:
    if intake.screened_at is not None:
        raise Conflict("this arrival is already screened")
    ensure_questionnaire(session)
    stored = store.create(session, questionnaire.response(intake.patient_id, answers, who.display_name, now))
    intake.screened_at, intake.screened_by, intake.response_id = now, who.user_id, stored.id
    session.add(intake)
    return consequences.apply(session, who, intake, answers, detainee.sex, now)


def record_assessment(session: Session, who: Principal, intake: Intake, now: datetime) -> None:
    if intake.assessed_at is not None:
        raise Conflict("the health assessment is already recorded")
    if intake.screened_at is None:
        raise Conflict("screen the arrival before the health assessment")
    intake.assessed_at, intake.assessed_by = now, who.user_id
    session.add(intake)


def complete_follow_up(session: Session, who: Principal, follow_up: FollowUp, now: datetime) -> None:
    if follow_up.done_at is not None:
        raise Conflict("already done")
    follow_up.done_at, follow_up.done_by = now, who.user_id
    session.add(follow_up)
    stored = store.read(session, "Task", follow_up.id)
    task = stored.resource | {"status": "completed", "lastModified": now.isoformat()}
    store.update(session, task, follow_up.id, if_match=stored.version)


@dataclass(frozen=True)
class Due:
    intake: Intake
    detainee: Detainee
    screening_due: datetime
    assessment_due: datetime
    screening_late: bool
    assessment_late: bool


def open_intakes(session: Session, facility_id: str, now: datetime) -> list[Due]:
    """Arrivals still held here whose screening or assessment is not done, soonest first."""
    rules = rules_for(session, facility_id)
    rows = session.execute(
        select(Intake, Detainee).join(Detainee, Detainee.patient_id == Intake.patient_id)
        .where(Intake.facility_id == facility_id, Detainee.facility_id == facility_id,
               Detainee.status == CustodyStatus.IN_CUSTODY, Intake.assessed_at.is_(None))
        .order_by(Intake.admitted_at).limit(500)).all()
    found = []
    for intake, detainee in rows:
        screening = clocks.screening_due(intake.admitted_at, rules)
        assessment = clocks.assessment_due(intake.admitted_at, rules)
        found.append(Due(intake, detainee, screening, assessment, clocks.late(screening, intake.screened_at, now),
                         clocks.late(assessment, intake.assessed_at, now)))
    return found


def open_follow_ups(session: Session, facility_id: str) -> list[tuple[FollowUp, Detainee]]:
    rows = session.execute(
        select(FollowUp, Detainee).join(Detainee, Detainee.patient_id == FollowUp.patient_id)
        .where(FollowUp.facility_id == facility_id, FollowUp.done_at.is_(None))
        .order_by(FollowUp.due).limit(500)).all()
    return [(f, d) for f, d in rows]


def active_flags(session: Session, patient_id: str) -> list[dict]:
    return [s.resource for s in store.by_patient(session, patient_id, ("Flag",))
            if s.resource.get("status") == "active"]
