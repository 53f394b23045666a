"""HTTP routes of the custody capability: the officer's tasks, roster and post; the referral
routes (``custody.referral_api``) and pages (``custody.pages``) are set up from here."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from sqlmodel import Session, select

from custody import pages, photos, push, referral_api, referrals, tasks
from custody.blocks import block_of
from custody.models import CustodyTask, TaskKind
from telemed.context import context_of
from telemed.http import api_error, audit, audit_shown, json_response, read_json, require
from telemed.models import CustodyStatus, Detainee, Role, User
from telemed.policy import Capability, decide_custody
from telemed.timeutil import as_utc, local, utcnow

STATES = ("open", "done")
ROSTER_LIMIT = 25


def local_midnight(tz, now: datetime | None = None) -> datetime:
    """The start of today in the facility's zone."""
    here = local(now or utcnow(), tz)
    return here.replace(hour=0, minute=0, second=0, microsecond=0)


async def list_tasks(request: web.Request) -> web.Response:
    """``?state=open``: every pending task of the officer's block (or facility); ``done``: those
    closed since midnight. ``?block=`` overrides the officer's post for the look."""
    who = require(request, Capability.CUSTODY_TASKS, "custody.tasks.list")
    state = request.query.get("state", "open")
    if state not in STATES:
        raise api_error(400, f"state must be one of {', '.join(STATES)}", field="state")
    ctx = context_of(request)

    def read(session: Session) -> list[dict]:
        block = request.query.get("block", tasks.post_of(session, who.user_id))
        since = local_midnight(ctx.settings.tz) if state == "done" else None
        rows = [r.json() for r in tasks.listing(session, who.org_id, block=block, state=state, done_since=since)]
        if state == "open":  # an escort under way stays on the list until the detainee is back
            away = referrals.under_way(session, who.org_id)
            rows += [r.json() for r in tasks.listing(session, who.org_id, block=block, sources=away)]
        shown = photos.with_photos(session, [r["patient_id"] for r in rows])
        return [r | {"photo": r["patient_id"] in shown} for r in with_steps(session, rows)]

    rows = await ctx.db.run(read)
    audit(request, "custody.tasks.list", "allowed", reason=f"{len(rows)} listed")
    audit_shown(request, "custody.tasks.list", [r["patient_id"] for r in rows])
    return json_response(rows)


def with_steps(session: Session, rows: list[dict]) -> list[dict]:
    """An escort shows where its referral stands, its urgency and, for an emergency, when it was decided."""
    found = referrals.steps_of(session, [r["referral"] for r in rows if r["referral"]])
    for row in rows:
        referral = found.get(row["referral"] or "")
        if referral is not None:
            row |= {"step": referral.step, "urgency": referral.urgency,
                    "decided_at": as_utc(referral.decided_at).isoformat()}
    return rows


async def list_calls(request: web.Request) -> web.Response:
    """For the doctors: today's calls to the clinic and where each stands (who is on the way)."""
    who = require(request, Capability.CLINICAL_READ, "custody.calls.list")
    if who.role not in (Role.FACILITY_DOCTOR, Role.MEDICAL_OFFICER):
        raise api_error(403, f"role {who.role} has no facility calls")
    ctx = context_of(request)
    since = local_midnight(ctx.settings.tz)

    def read(session: Session) -> list[dict]:
        rows = tasks.listing(session, who.org_id, since=since, until=since + timedelta(days=1))
        return [r.json() for r in rows if r.task.kind != TaskKind.ESCORT]

    rows = await ctx.db.run(read)
    audit(request, "custody.calls.list", "allowed", reason=f"{len(rows)} listed")
    audit_shown(request, "custody.calls.list", [r["patient_id"] for r in rows])
    return json_response(rows)


async def mark_task(request: web.Request) -> web.Response:
    who = require(request, Capability.CUSTODY_TASKS, "custody.task.mark")
    task_id, outcome = request.match_info["task_id"], request.match_info["outcome"]
    ctx = context_of(request)
    found = await ctx.db.run(lambda s: s.get(CustodyTask, task_id))
    if found is None:
        raise api_error(404, f"no task {task_id}")
    decision = await ctx.db.run(decide_custody, who, Capability.CUSTODY_TASKS, found.patient_id)
    if not decision:
        audit(request, "custody.task.mark", "denied", patient_id=found.patient_id, resource=f"Task/{task_id}",
              reason=decision.reason)
        raise api_error(404, f"no task {task_id}")

    def write(session: Session) -> dict:
        row = tasks.mark(session, task_id, outcome, session.get(User, who.user_id))
        return tasks.Listed(row, "", "", "").json()

    try:
        marked = await ctx.db.run(write)
    except tasks.TaskRefused as refused:
        audit(request, "custody.task.mark", "denied", patient_id=found.patient_id, resource=f"Task/{task_id}",
              reason=str(refused))
        raise api_error(409 if refused.field == "task" else 400, str(refused), field=refused.field) from None
    audit(request, "custody.task.mark", "allowed", patient_id=found.patient_id, resource=f"Task/{task_id}",
          reason=outcome)
    return json_response(marked)


async def get_post(request: web.Request) -> web.Response:
    who = require(request, Capability.CUSTODY_TASKS, "custody.post.read")
    block = await context_of(request).db.run(tasks.post_of, who.user_id)
    return json_response({"block": block})


async def set_post(request: web.Request) -> web.Response:
    who = require(request, Capability.CUSTODY_TASKS, "custody.post.set")
    body = await read_json(request)
    block = body.get("block", "")
    if not isinstance(block, str):
        raise api_error(400, "block must be a string", field="block")
    try:
        block = await context_of(request).db.run(tasks.set_post, who.user_id, block)
    except tasks.TaskRefused as refused:
        raise api_error(400, str(refused), field=refused.field) from None
    audit(request, "custody.post.set", "allowed", reason=f"block {block or '(whole facility)'}")
    return json_response({"block": block})


def roster(session: Session, facility_id: str, text: str) -> list[dict]:
    like = f"%{text}%"
    rows = session.exec(select(Detainee).where(
        Detainee.facility_id == facility_id, Detainee.status == CustodyStatus.IN_CUSTODY,
        (Detainee.name.ilike(like)) | (Detainee.booking_number.ilike(like)) | (Detainee.cell.ilike(like)))
        .order_by(Detainee.cell, Detainee.booking_number).limit(ROSTER_LIMIT)).all()
    shown = photos.with_photos(session, [d.patient_id for d in rows])
    return [{"patient_id": d.patient_id, "name": d.name, "booking_number": d.booking_number, "cell": d.cell,
             "block": block_of(d.cell), "photo": d.patient_id in shown} for d in rows]


async def list_roster(request: web.Request) -> web.Response:
    """Who is where: name, booking number, cell and block of the officer's facility's detainees."""
    who = require(request, Capability.CUSTODY_ROSTER, "custody.roster")
    text = request.query.get("q", "").strip()
    if len(text) > 100:
        raise api_error(400, "q is longer than 100 characters", field="q")
    rows = await context_of(request).db.run(roster, who.org_id, text) if text else []
    audit(request, "custody.roster", "allowed", reason=f"{len(rows)} listed")
    audit_shown(request, "custody.roster", [r["patient_id"] for r in rows])
    return json_response(rows)


async def get_photo(request: web.Request) -> web.Response:
    """The detainee's photo, for an officer of their facility; 404 for none or another facility's."""
    who = require(request, Capability.CUSTODY_ROSTER, "custody.photo")
    patient_id = request.match_info["patient_id"]
    ctx = context_of(request)
    decision = await ctx.db.run(decide_custody, who, Capability.CUSTODY_ROSTER, patient_id)
    audit(request, "custody.photo", "allowed" if decision else "denied", patient_id=patient_id,
          resource=f"Patient/{patient_id}", reason="" if decision else decision.reason)
    found = await ctx.db.run(photos.photo, patient_id) if decision else None
    if found is None:
        raise api_error(404, f"no photo of {patient_id}")
    return web.Response(body=found[1], content_type=found[0], headers={"Cache-Control": "private, max-age=3600"})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/custody/tasks", list_tasks)
    app.router.add_post(r"/api/custody/tasks/{task_id}/{outcome:brought|refused|unavailable}", mark_task)
    app.router.add_get("/api/custody/post", get_post)
    app.router.add_post("/api/custody/post", set_post)
    app.router.add_get("/api/custody/roster", list_roster)
    app.router.add_get("/api/custody/calls", list_calls)
    app.router.add_get("/api/custody/photo/{patient_id}", get_photo)
    referral_api.setup(app)
    pages.setup(app)
    push.setup(app)
