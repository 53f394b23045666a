"""Audit entries written in the transaction that files the results they name: a batch that is
filed is audited, and a batch that is not (a crash, a kill) leaves no entry either."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from telemed.audit import AuditEvent, append
from telemed.db import lock_for_writing

ATTEMPTS = 20


@dataclass(frozen=True)
class Actor:
    """Who files: an operator at the command line, a signed-in user, or a registered analyzer."""

    username: str
    role: str
    user_id: int | None = None
    ip: str = ""
    request_id: str = ""

    def event(self, action: str, outcome: str, *, patient_id: str | None = None, resource: str = "",
              reason: str = "") -> AuditEvent:
        return AuditEvent(action=action, outcome=outcome, user_id=self.user_id, username=self.username,
                          role=self.role, patient_id=patient_id, resource=resource[:200], reason=reason[:2000],
                          ip=self.ip, request_id=self.request_id)


def filed_for(session: Session, actor: Actor, action: str, rows: list[dict], resource: str) -> None:
    """One entry per detainee whose results ``rows`` filed, saying how many."""
    counts = Counter(row["patient_id"] for row in rows)
    record(session, [actor.event(action, "allowed", patient_id=patient, resource=resource, reason=f"{n} result(s) filed")
                     for patient, n in sorted(counts.items())])


def record(session: Session, events: list[AuditEvent]) -> None:
    """Append ``events`` to the chain in the caller's transaction. Another process may extend
    the chain meanwhile (the server's writer, another import worker): on PostgreSQL the losing
    insert fails on the sequence number and is retried inside a savepoint, on the new tip; on
    SQLite the transaction holds the write lock, so no one else can."""
    if not events:
        return
    lock_for_writing(session)
    for attempt in range(ATTEMPTS):
        try:
            with session.begin_nested():
                append(session, events)
            return
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
