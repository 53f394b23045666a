"""HTTP routes of the care capability: intake screening, its follow-ups, sick call, the
facility's deadlines, and the monthly figures. Every read of clinical content asks the policy
about the detainee and is audited; officers and cell kiosks only enter requests and see that
work is due."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from sqlmodel import select

from care import figures, intake, pages, questionnaire, sickcall, views
from care.lookup import call_for, intake_for
from care.outcomes import actions_for
from care.models import FollowUp, SickCall
from care.rules import BadRule, rules_for, set_rules
from telemed.context import context_of
from telemed.http import (api_error, audit, audit_shown, authorize, json_response, principal, read_json,
                          require)
from telemed.models import Detainee
from telemed.policy import Capability, decide_facility
from telemed.security import Principal
from telemed.timeutil import utcnow


def staff(request: web.Request, capability: Capability, action: str) -> Principal:
    """Facility staff acting on their own facility's work lists."""
    who = require(request, capability, action)
    decision = decide_facility(who, capability, who.org_id or "")
    if not decision:
        audit(request, action, "denied", reason=decision.reason)
        raise api_error(403, decision.reason)
    return who


def _time(body: dict, key: str) -> datetime | None:
    value = body.get(key)
    if value in (None, ""):
        return None
    try:
        found = datetime.fromisoformat(str(value))
    except ValueError:
        raise api_error(400, f"{key}: an ISO 8601 time with its offset", field=key) from None
    if found.tzinfo is None:
        raise api_error(400, f"{key}: give the time zone offset", field=key)
    return found


def _str(body: dict, key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise api_error(400, f"{key} must be a string", field=key)
    return value


def _bool(body: dict, key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise api_error(400, f"{key} must be true or false", field=key)
    return value


async def get_worklist(request: web.Request) -> web.Response:
    who = staff(request, Capability.CLINICAL_READ, "care.worklist")
    found = await context_of(request).db.run(views.worklist, who.org_id, utcnow())
    audit_shown(request, "care.worklist", views.patients_in(found))
    return json_response(found)


async def get_questionnaire(request: web.Request) -> web.Response:
    staff(request, Capability.CLINICAL_READ, "care.questionnaire")
    return json_response(questionnaire.questionnaire())


async def get_intake(request: web.Request) -> web.Response:
    row, detainee = await intake_for(request, Capability.CLINICAL_READ, "care.intake.read")
    found = await context_of(request).db.run(views.intake_detail, row, detainee, utcnow())
    return json_response(found)


async def post_screening(request: web.Request) -> web.Response:
    body = await read_json(request)
    row, detainee = await intake_for(request, Capability.CLINICAL_WRITE, "care.screening")
    try:
        answers = questionnaire.check_answers(body.get("answers"))
    except questionnaire.Refused as exc:
        raise api_error(400, str(exc), field=exc.field) from None
    ctx = context_of(request)

    def write(session):
        fresh, person = intake.get_intake(session, row.id)
        raised = intake.record_screening(session, principal(request), fresh, person, answers, utcnow())
        return {"response_id": fresh.response_id, "raised": [r.value for r in raised]}
    try:
        found = await ctx.db.run(write)
    except intake.Conflict as exc:
        raise api_error(409, str(exc)) from None
    audit(request, "care.screening.recorded", "allowed", patient_id=row.patient_id,
          resource=f"QuestionnaireResponse/{found['response_id']}")
    return json_response(found, status=201)


async def post_assessment(request: web.Request) -> web.Response:
    row, _ = await intake_for(request, Capability.CLINICAL_WRITE, "care.assessment")

    def write(session):
        fresh, _ = intake.get_intake(session, row.id)
        intake.record_assessment(session, principal(request), fresh, utcnow())
    try:
        await context_of(request).db.run(write)
    except intake.Conflict as exc:
        raise api_error(409, str(exc)) from None
    return json_response({"assessed": True})


async def post_follow_up_done(request: web.Request) -> web.Response:
    db = context_of(request).db
    follow_up_id = request.match_info["follow_up_id"]
    found = await db.run(lambda s: s.get(FollowUp, follow_up_id))
    if found is None:
        require(request, Capability.CLINICAL_WRITE, "care.follow_up")
        raise api_error(404, f"no follow-up {follow_up_id}")
    await authorize(request, Capability.CLINICAL_WRITE, found.patient_id, "care.follow_up",
                    resource=("Task", follow_up_id))

    def write(session):
        intake.complete_follow_up(session, principal(request), session.get(FollowUp, follow_up_id), utcnow())
    try:
        await db.run(write)
    except intake.Conflict as exc:
        raise api_error(409, str(exc)) from None
    return json_response({"done": True})


# --- sick call ---------------------------------------------------------------------------------

def _detainee_for(session, who: Principal, body: dict) -> Detainee | None:
    """By patient id or booking number, in the enterer's own facility only."""
    patient_id, booking = _str(body, "patient_id"), _str(body, "booking_number").strip()
    if patient_id:
        found = session.get(Detainee, patient_id)
    else:
        found = session.exec(select(Detainee).where(Detainee.booking_number == booking,
                                                    Detainee.facility_id == who.org_id)).first() if booking else None
    return found if found is not None and found.facility_id == who.org_id and found.status == "in-custody" else None


async def post_sick_call(request: web.Request) -> web.Response:
    body = await read_json(request)
    who = require(request, Capability.SUBMIT_SICK_CALL, "care.sick_call.submit")
    ctx = context_of(request)
    words, category, urgent = _str(body, "words"), _str(body, "category"), _bool(body, "urgent")

    def write(session):
        detainee = _detainee_for(session, who, body)
        if detainee is None:
            return None
        call = sickcall.submit(session, who, detainee, words, category, urgent, utcnow(), ctx.settings.tz)
        return views.receipt(call, detainee)
    try:
        found = await ctx.db.run(write)
    except sickcall.Refused as exc:
        raise api_error(exc.status, str(exc), field=exc.field) from None
    if found is None:
        audit(request, "care.sick_call.submit", "denied", reason="no such detainee held in your facility")
        raise api_error(404, "no such detainee held in your facility", field="booking_number")
    audit(request, "care.sick_call.submit", "allowed", patient_id=found["patient_id"], resource=f"Task/{found['id']}")
    return json_response(found, status=201)


async def get_sick_call(request: web.Request) -> web.Response:
    call = await call_for(request, Capability.CLINICAL_READ, "care.sick_call.read")
    return json_response(await context_of(request).db.run(views.sick_call_detail, call.id, utcnow()))


async def post_triage(request: web.Request) -> web.Response:
    body = await read_json(request)
    call = await call_for(request, Capability.CLINICAL_WRITE, "care.sick_call.triage")
    ctx = context_of(request)
    urgent, visit_at = _bool(body, "urgent"), _time(body, "visit_at")
    place, reason = _str(body, "place"), _str(body, "reason")

    def write(session):
        fresh = session.get(SickCall, call.id)
        sickcall.triage(session, principal(request), fresh, urgent=urgent, visit_at=visit_at, place=place,
                        reason=reason, now=utcnow(), tz=ctx.settings.tz)
        return views.sick_call_detail(session, call.id, utcnow())
    return json_response(await _run(ctx, write))


async def post_visit(request: web.Request) -> web.Response:
    body = await read_json(request)
    call = await call_for(request, Capability.CLINICAL_WRITE, "care.sick_call.visit")
    ctx = context_of(request)
    outcome, note = _str(body, "outcome"), _str(body, "note")
    actions = sickcall_actions(request, body, outcome)

    def write(session):
        fresh = session.get(SickCall, call.id)
        sickcall.record_visit(session, fresh, outcome, note, utcnow())
        for act in actions:
            act(session, fresh)
        return views.sick_call_detail(session, call.id, utcnow())
    return json_response(await _run(ctx, write))


def sickcall_actions(request: web.Request, body: dict, outcome: str) -> list:
    try:
        return actions_for(principal(request), body, outcome, context_of(request).settings.tz)
    except sickcall.Refused as exc:
        raise api_error(exc.status, str(exc), field=exc.field) from None


async def _run(ctx, write):
    try:
        return await ctx.db.run(write)
    except sickcall.Refused as exc:
        raise api_error(exc.status, str(exc), field=exc.field) from None


async def get_mine(request: web.Request) -> web.Response:
    """What an enterer may see: the requests they entered (when and whose, and where each stands)
    and who is due a screening; never the words, the answers or the outcome."""
    who = require(request, Capability.SUBMIT_SICK_CALL, "care.mine")
    found = await context_of(request).db.run(views.mine, who, utcnow())
    audit_shown(request, "care.mine", [c["patient_id"] for c in found["sick_calls"]])
    return json_response(found)


# --- rules and figures -----------------------------------------------------------------------

async def get_rules(request: web.Request) -> web.Response:
    who = staff(request, Capability.CLINICAL_READ, "care.rules.read")
    rules = await context_of(request).db.run(rules_for, who.org_id)
    return json_response(rules.__dict__)


async def put_rules(request: web.Request) -> web.Response:
    body = await read_json(request)
    who = staff(request, Capability.SET_CARE_RULES, "care.rules.set")
    try:
        rules = await context_of(request).db.run(set_rules, who.org_id, body)
    except BadRule as exc:
        raise api_error(400, str(exc), field=exc.field) from None
    audit(request, "care.rules.set", "allowed", resource=f"Organization/{who.org_id}", reason=str(rules.__dict__))
    return json_response(rules.__dict__)


async def get_figures(request: web.Request) -> web.Response:
    who = staff(request, Capability.CLINICAL_READ, "care.figures")
    try:
        year, month = int(request.query.get("year", "")), int(request.query.get("month", ""))
    except ValueError:
        raise api_error(400, "year and month are required whole numbers", field="year") from None
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise api_error(400, "month 1-12, year 2000-2100", field="month")
    found = await context_of(request).db.run(figures.monthly, who.org_id, year, month)
    return json_response(found)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/care/worklist", get_worklist)
    r.add_get("/api/care/questionnaire", get_questionnaire)
    r.add_get("/api/care/intakes/{intake_id}", get_intake)
    r.add_post("/api/care/intakes/{intake_id}/screening", post_screening)
    r.add_post("/api/care/intakes/{intake_id}/assessment", post_assessment)
    r.add_post("/api/care/follow-ups/{follow_up_id}/done", post_follow_up_done)
    r.add_post("/api/care/sick-calls", post_sick_call)
    r.add_get("/api/care/sick-calls/mine", get_mine)
    r.add_get("/api/care/sick-calls/{call_id}", get_sick_call)
    r.add_post("/api/care/sick-calls/{call_id}/triage", post_triage)
    r.add_post("/api/care/sick-calls/{call_id}/visit", post_visit)
    r.add_get("/api/care/rules", get_rules)
    r.add_put("/api/care/rules", put_rules)
    r.add_get("/api/care/figures", get_figures)
    pages.setup(app)
