"""Custody tasks: an officer brings a detainee to the clinic, escorts them out, or witnesses a
dose. Other packages call ``assign``; the officer marks each task brought, refused or
unavailable. A task names whom, what, where, when and how guarded, and nothing clinical."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from custody import fhir
from custody.blocks import block_of
from custody.models import CustodyPost, CustodyTask, SecurityLevel, TaskKind, TaskState
from ehr import store
from telemed.models import CustodyStatus, Detainee, User
from telemed.timeutil import as_utc, utcnow

SOURCES = ("Appointment/", "Task/", "ServiceRequest/", "Consult/")
# The request behind a task, as the Task's focus: one of SOURCES and a FHIR id, which the store's
# reference index keeps in 64 characters.
SOURCE = re.compile(f"(?:{'|'.join(SOURCES)})[A-Za-z0-9.-]{{1,64}}")
OUTCOMES = (TaskState.BROUGHT, TaskState.REFUSED, TaskState.UNAVAILABLE)
MAX_PLACE, MAX_NOTE = 200, 500
# Places the pages name in the reader's language (custody.place.<code>); any other is shown as written.
PLACES = ("clinic", "consult_room", "gate")


class TaskRefused(ValueError):
    """A task that cannot be assigned or marked; ``field`` names the argument at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def assign(session: Session, *, facility_id: str, patient_id: str, kind: str, due: datetime, place: str,
           source: str, security_level: str | None = None, note: str = "") -> CustodyTask:
    """Give the officers of the detainee's block a task; it is pushed to them shortly after the
    caller's transaction commits (``custody.push``)."""
    detainee = _checked(session, facility_id=facility_id, patient_id=patient_id, kind=kind, due=due, place=place,
                        source=source, security_level=security_level, note=note)
    now = utcnow()
    task_id = store.new_id()
    resource = fhir.task(task_id=task_id, facility_id=facility_id, patient_id=patient_id, kind=kind, due=as_utc(due),
                         place=place.strip(), source=source, security_level=security_level, note=note.strip(),
                         authored=now)
    store.create(session, resource, resource_id=task_id)
    row = CustodyTask(id=task_id, facility_id=facility_id, patient_id=patient_id, block=block_of(detainee.cell),
                      kind=kind, due=as_utc(due), place=place.strip(), source=source, security_level=security_level,
                      note=note.strip(), created_at=now)
    session.add(row)
    session.flush()
    return row


def _checked(session: Session, *, facility_id: str, patient_id: str, kind: str, due: datetime, place: str,
             source: str, security_level: str | None, note: str) -> Detainee:
    if kind not in set(TaskKind):
        raise TaskRefused(f"kind must be one of {', '.join(TaskKind)}", "kind")
    if not isinstance(due, datetime) or due.tzinfo is None:
        raise TaskRefused("due must be a time with its zone", "due")
    if not place.strip() or len(place) > MAX_PLACE:
        raise TaskRefused(f"place is required, at most {MAX_PLACE} characters", "place")
    if not SOURCE.fullmatch(source):
        raise TaskRefused(f"source must be one of {', '.join(SOURCES)} and an id of 1 to 64 letters, digits, - or .",
                          "source")
    if security_level is not None and security_level not in set(SecurityLevel):
        raise TaskRefused(f"security_level must be one of {', '.join(SecurityLevel)}", "security_level")
    if kind == TaskKind.ESCORT and security_level is None:
        raise TaskRefused("an escort needs a security level", "security_level")
    if len(note) > MAX_NOTE:
        raise TaskRefused(f"note is at most {MAX_NOTE} characters", "note")
    detainee = session.get(Detainee, patient_id)
    if detainee is None or detainee.facility_id != facility_id:
        raise TaskRefused(f"no detainee {patient_id} in facility {facility_id}", "patient_id")
    if detainee.status != CustodyStatus.IN_CUSTODY:
        raise TaskRefused(f"detainee {patient_id} is no longer in custody", "patient_id")
    return detainee


def mark(session: Session, task_id: str, outcome: str, officer: User, at: datetime | None = None) -> CustodyTask:
    """Record what happened to a pending task: brought, refused or unavailable, with the time."""
    if outcome not in set(OUTCOMES):
        raise TaskRefused(f"outcome must be one of {', '.join(OUTCOMES)}", "outcome")
    return close_task(session, task_id, outcome, officer.id, officer.display_name, at or utcnow())


def cancel(session: Session, source: str) -> list[CustodyTask]:
    """The appointment, consult or referral behind these tasks was called off."""
    rows = session.exec(select(CustodyTask).where(CustodyTask.source == source,
                                                  CustodyTask.state == TaskState.PENDING)).all()
    return [close_task(session, row.id, TaskState.CANCELLED, None, "", utcnow()) for row in rows]


def close_task(session: Session, task_id: str, state: str, user_id: int | None, name: str, at: datetime) -> CustodyTask:
    done = session.execute(update(CustodyTask).where(CustodyTask.id == task_id, CustodyTask.state == TaskState.PENDING)
                           .values(state=state, done_at=at, done_by=user_id))
    if not done.rowcount:
        raise TaskRefused(f"task {task_id} is not pending", "task")
    row = session.get(CustodyTask, task_id)
    session.refresh(row)
    stored = store.read(session, "Task", task_id)
    store.update(session, fhir.task_done(stored.resource, state, at, name), task_id)
    return row


def post_of(session: Session, user_id: int) -> str:
    row = session.get(CustodyPost, user_id)
    return row.block if row else ""


def set_post(session: Session, user_id: int, block: str) -> str:
    block = block.strip()
    if len(block) > 32:
        raise TaskRefused("block is at most 32 characters", "block")
    row = session.get(CustodyPost, user_id) or CustodyPost(user_id=user_id)
    row.block = block
    session.add(row)
    return block


@dataclass(frozen=True)
class Listed:
    """A task as the officer's page shows it."""

    task: CustodyTask
    name: str
    booking_number: str
    cell: str

    def json(self) -> dict:
        t = self.task
        return {"id": t.id, "kind": t.kind, "due": as_utc(t.due).isoformat(), "place": t.place,
                "place_known": t.place in PLACES, "security_level": t.security_level, "note": t.note,
                "state": t.state, "done_at": as_utc(t.done_at).isoformat() if t.done_at else None,
                "block": t.block, "patient_id": t.patient_id, "name": self.name,
                "booking_number": self.booking_number, "cell": self.cell,
                "referral": t.source.removeprefix("ServiceRequest/") if t.kind == TaskKind.ESCORT else None}


def listing(session: Session, facility_id: str, *, block: str = "", state: str = "", since: datetime | None = None,
            until: datetime | None = None, sources: list[str] | None = None,
            done_since: datetime | None = None) -> list[Listed]:
    query = (select(CustodyTask, Detainee.name, Detainee.booking_number, Detainee.cell)
             .join(Detainee, Detainee.patient_id == CustodyTask.patient_id)
             .where(CustodyTask.facility_id == facility_id))
    if block:
        query = query.where(CustodyTask.block == block)
    if state == "open":
        query = query.where(CustodyTask.state == TaskState.PENDING)
    elif state == "done":
        query = query.where(CustodyTask.state != TaskState.PENDING)
    if since is not None:
        query = query.where(CustodyTask.due >= since)
    if until is not None:
        query = query.where(CustodyTask.due < until)
    if sources is not None:
        query = query.where(CustodyTask.source.in_(sources))
    if done_since is not None:
        query = query.where(CustodyTask.done_at >= done_since)
    rows = session.exec(query.order_by(CustodyTask.due, CustodyTask.id)).all()
    return [Listed(task, name, booking, cell) for task, name, booking, cell in rows]


def state_by_source(session: Session, sources: list[str]) -> dict[str, str]:
    """The latest task state of each source: what a doctor's work list shows as 'on the way'."""
    if not sources:
        return {}
    rows = session.exec(select(CustodyTask.source, CustodyTask.state).where(CustodyTask.source.in_(sources))
                        .order_by(CustodyTask.created_at)).all()
    return dict(rows)
