"""Entries sent from the mobile pages carry a key the browser made when they were taken. The first
arrival of a key is remembered here; a resend (its answer was lost in a network drop) finds it and
writes nothing. A key is its sender's, for one entry: reused by another user or for another entry,
it is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from rounds.models import RoundsEntry


class KeyTaken(Exception):
    """The key was first sent by another user, or for another entry."""


def earlier(session: Session, key: str, user_id: int, same: Callable[[RoundsEntry], bool]) -> RoundsEntry | None:
    """The first arrival of ``key``, or None; ``same`` tells whether it was this entry."""
    found = session.get(RoundsEntry, key)
    if found is not None and (found.user_id != user_id or not same(found)):
        raise KeyTaken(key)
    return found


def remember(session: Session, key: str, user_id: int, patient_id: str, kind: str, taken_at: datetime,
             written: int, answer: dict | None = None) -> None:
    session.add(RoundsEntry(key=key, user_id=user_id, patient_id=patient_id, kind=kind, taken_at=taken_at,
                            written=written, answer=None if answer is None else json.dumps(answer)))
    session.flush()


def answer_of(entry: RoundsEntry) -> dict:
    return json.loads(entry.answer or "{}")
