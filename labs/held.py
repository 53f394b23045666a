"""Messages (or rows) that could not be filed, kept for a person to review: never dropped."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from labs.held_reasons import explain
from labs.models import HeldMessage
from telemed.i18n import translate
from telemed.timeutil import utcnow


def hold(session: Session, *, channel: str, facility_id: str, sender: str, reason: str, content: str,
         analyzer_id: int | None = None) -> HeldMessage:
    held = HeldMessage(channel=channel, facility_id=facility_id, sender=sender[:200], reason=reason[:2000],
                       content=content, analyzer_id=analyzer_id)
    session.add(held)
    session.flush()
    return held


def held_json(held: HeldMessage, lang: str) -> dict:
    """``reason`` as recorded (and answered to the sender); ``reason_text`` and ``channel_label``
    in the reader's language."""
    return {"id": held.id, "received_at": held.received_at.isoformat(), "channel": held.channel,
            "channel_label": translate(lang, f"labs.channel.{held.channel}"),
            "sender": held.sender, "reason": held.reason, "reason_text": explain(held.reason, lang), "content": held.content,
            "resolved_at": held.resolved_at.isoformat() if held.resolved_at else None, "analyzer_id": held.analyzer_id}


def list_held(session: Session, facility_id: str, lang: str, include_resolved: bool = False) -> list[dict]:
    query = select(HeldMessage).where(HeldMessage.facility_id == facility_id)
    if not include_resolved:
        query = query.where(HeldMessage.resolved_at.is_(None))
    rows = session.execute(query.order_by(HeldMessage.received_at.desc()).limit(200)).scalars()
    return [held_json(h, lang) for h in rows]


def resolve(session: Session, held_id: int, facility_id: str, user_id: int) -> HeldMessage | None:
    held = session.get(HeldMessage, held_id)
    if held is None or held.facility_id != facility_id:
        return None
    if held.resolved_at is None:
        held.resolved_at, held.resolved_by = utcnow(), user_id
        session.add(held)
    return held

