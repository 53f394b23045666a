"""Tasks pushed to the officers of the detainee's block over ``/ws/events``, by whichever web
process sees them first: tasks are assigned in other packages' transactions (and processes),
so each waits in its table until claimed here, as the labs' critical results do."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import update
from sqlmodel import Session, select

from custody.models import CustodyPost, CustodyTask
from custody.tasks import PLACES, Listed
from telemed.context import context_of
from telemed.events import Audience, notice
from telemed.i18n import translate
from telemed.models import Detainee, Role
from telemed.notifications import Kept, announce, keep
from telemed.pusher import Pusher
from telemed.timeutil import utcnow


def claim_unpushed(session: Session) -> list[tuple[dict, set[int]]]:
    """Tasks no process has pushed yet, each with the officers posted elsewhere (who are not told)."""
    candidates = session.exec(select(CustodyTask.id).where(CustodyTask.pushed_at.is_(None)).limit(500)).all()
    claimed = [task_id for task_id in candidates if session.execute(
        update(CustodyTask).where(CustodyTask.id == task_id, CustodyTask.pushed_at.is_(None))
        .values(pushed_at=utcnow())).rowcount]
    if not claimed:
        return []
    rows = session.exec(select(CustodyTask, Detainee.name, Detainee.booking_number, Detainee.cell)
                        .join(Detainee, Detainee.patient_id == CustodyTask.patient_id)
                        .where(CustodyTask.id.in_(claimed))).all()
    posts = session.exec(select(CustodyPost)).all()
    found = []
    for task, name, booking, cell in rows:
        elsewhere = {p.user_id for p in posts if p.block and p.block != task.block}
        found.append(({**Listed(task, name, booking, cell).json(), "facility_id": task.facility_id}, elsewhere))
    return found


def officers_of(facility_id: str, elsewhere: set[int]) -> Audience:
    return Audience(org_id=facility_id, roles=(str(Role.CUSTODY_OFFICER),), except_user_ids=tuple(sorted(elsewhere)))


def message(task: dict) -> dict:
    def place(lang: str) -> str:
        return translate(lang, f"custody.place.{task['place']}") if task["place"] in PLACES else task["place"]

    toast = notice("custody.task", f"custody.notice.{task['kind']}", link="/custody", severity="",
                   ring=task["security_level"] == "high", name=task["name"], booking=task["booking_number"],
                   cell=task["cell"], place=place)
    return {**toast, "task": {k: v for k, v in task.items() if k != "facility_id"}}


def claim_and_keep(session: Session) -> list[Kept]:
    return [keep(session, message(task), officers_of(task["facility_id"], elsewhere), task["patient_id"])
            for task, elsewhere in claim_unpushed(session)]


async def publish_pending(app: web.Application) -> int:
    ctx = context_of(app)
    kept = await ctx.db.run(claim_and_keep)
    for one in kept:
        announce(ctx, one)
    return len(kept)


PUSHER = Pusher("custody", publish_pending)
wake = PUSHER.wake
setup = PUSHER.setup
