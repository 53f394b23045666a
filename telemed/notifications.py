"""Notifications kept per recipient: each push that tells a person something (a critical
result, a consult request, a custody task) is stored for every user its audience names, by the
process that publishes it, once; the bell and ``/notifications`` read it back until dismissed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlmodel import Session, select

from telemed.context import Context
from telemed.events import Audience, user
from telemed.models import Notification, User
from telemed.timeutil import utcnow

LISTED = 200  # the newest of each list; older ones stay in the table


def recipients(session: Session, audience: Audience) -> list[int]:
    """The active users ``audience`` names: the same rule as the hub's, asked of the table, so
    that a user whose page is closed is counted too."""
    query = select(User.id).where(User.active.is_(True))
    if audience.org_id is not None:
        query = query.where(User.org_id == audience.org_id)
    if audience.roles:
        query = query.where(User.role.in_(audience.roles))
    if audience.user_ids is not None:
        query = query.where(User.id.in_(audience.user_ids))
    if audience.except_user_ids:
        query = query.where(User.id.not_in(audience.except_user_ids))
    return list(session.exec(query).all())


def store(session: Session, message: dict, audience: Audience, patient_id: str | None) -> str:
    """One row per recipient, all under one key (the pushed message carries it); returns the key."""
    key = uuid.uuid4().hex
    for user_id in recipients(session, audience):
        session.add(Notification(key=key, user_id=user_id, kind=message["type"], toast=message["toast"],
                                 link=message.get("link", ""), severity=message.get("severity", ""),
                                 patient_id=patient_id))
    return key


@dataclass(frozen=True)
class Kept:
    """A notification stored for its audience, to be pushed to the pages open now."""

    message: dict
    audience: Audience
    key: str


def keep(session: Session, message: dict, audience: Audience, patient_id: str | None = None) -> Kept:
    """Store ``message`` in the caller's transaction: an outbox pusher keeps its notifications in
    the transaction that claims them, so a process killed in between loses none."""
    return Kept(message, audience, store(session, message, audience, patient_id))


def announce(ctx: Context, kept: Kept) -> None:
    ctx.hub.publish({**kept.message, "notice": kept.key}, kept.audience)


async def notify(ctx: Context, message: dict, audience: Audience, *, patient_id: str | None = None) -> None:
    """Keep ``message`` for its audience, then push it to the pages open now."""
    announce(ctx, await ctx.db.run(keep, message, audience, patient_id))


@dataclass(frozen=True)
class Listed:
    unread: list[Notification]
    dismissed: list[Notification]


def listed(session: Session, user_id: int) -> Listed:
    """The user's own notifications, newest first: those still open, then those dismissed."""
    mine = select(Notification).where(Notification.user_id == user_id)
    newest = (Notification.created_at.desc(), Notification.id.desc())
    unread = session.exec(mine.where(Notification.dismissed_at.is_(None)).order_by(*newest).limit(LISTED)).all()
    dismissed = session.exec(mine.where(Notification.dismissed_at.is_not(None)).order_by(*newest).limit(LISTED)).all()
    for row in (*unread, *dismissed):
        session.expunge(row)  # read after the session ends
    return Listed(list(unread), list(dismissed))


def unread_count(session: Session, user_id: int) -> int:
    return int(session.exec(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.dismissed_at.is_(None))).one())


def dismiss(session: Session, user_id: int, key: str | None = None) -> int:
    """Dismiss the user's notification of ``key`` (every one when None); returns how many were
    open. Another user's key matches nothing."""
    query = update(Notification).where(Notification.user_id == user_id, Notification.dismissed_at.is_(None))
    if key is not None:
        query = query.where(Notification.key == key)
    return session.execute(query.values(dismissed_at=utcnow())).rowcount


def exists(session: Session, user_id: int, key: str) -> bool:
    return session.exec(select(Notification.id).where(Notification.user_id == user_id,
                                                      Notification.key == key)).first() is not None


def dismissed_message(key: str | None, user_id: int) -> tuple[dict, Audience]:
    """Tells the user's other open pages to take the pop-up down (all of them when ``key`` is None)."""
    return {"type": "notice.dismissed", "notice": key}, user(user_id)
