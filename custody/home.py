"""What the custody workflows add to the home pages' counts (``telemed.home``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from custody.models import CustodyTask, Referral, TaskKind, TaskState
from custody.referrals import OPEN
from custody.tasks import post_of
from telemed.security import Principal
from telemed.timeutil import utcnow


def _count(session: Session, query) -> int:
    return int(session.exec(query).one() or 0)


def custody_counts(session: Session, who: Principal) -> list[tuple[str, int, str, bool]]:
    """The officer's: pending tasks of their block (or facility), and escorts not yet left."""
    pending = select(func.count()).select_from(CustodyTask).where(
        CustodyTask.facility_id == who.org_id, CustodyTask.state == TaskState.PENDING)
    block = post_of(session, who.user_id)
    if block:
        pending = pending.where(CustodyTask.block == block)
    escorts = pending.where(CustodyTask.kind == TaskKind.ESCORT)
    return [("custody_open", _count(session, pending), "/custody", False),
            ("custody_escorts", _count(session, escorts), "/custody", True)]


def doctor_custody_counts(session: Session, facility_id: str) -> list[tuple[str, int, str]]:
    """The doctor's: calls due within the day not yet brought, and open outside referrals."""
    now = utcnow()
    calls = select(func.count()).select_from(CustodyTask).where(
        CustodyTask.facility_id == facility_id, CustodyTask.state == TaskState.PENDING,
        CustodyTask.kind != TaskKind.ESCORT, CustodyTask.due < now + timedelta(hours=12))
    referrals = select(func.count()).select_from(Referral).where(
        Referral.facility_id == facility_id, Referral.step.in_(OPEN))
    return [("custody_on_the_way", _count(session, calls), "/custody/desk#calls"),
            ("custody_referrals_open", _count(session, referrals), "/custody/desk#referrals")]
