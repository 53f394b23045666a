"""JSON API of the consult workflow: /api/consults/... Every step and every read is audited."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ehr import store
from ehr.errors import FhirError
from telemed.context import context_of
from telemed.events import notice, staff_of, user, users
from telemed.http import api_error, audit, audit_shown, authorize, json_response, principal, read_json, require
from telemed.models import Role
from telemed.notifications import notify
from telemed.i18n import translate
from telemed.policy import Capability
from telemed.ui import language
from webrtc import seeing, stats, views, workflow
from webrtc.models import Consult, Urgency
from webrtc.shared_view import room_items
from webrtc.signaling import close_room
from webrtc.workflow import WorkflowError

C = Capability


async def _consult(request: web.Request) -> Consult:
    try:
        return await context_of(request).db.run(workflow.get_consult, request.match_info["consult_id"])
    except WorkflowError as error:
        raise api_error(error.status, error.message) from None


async def _step(request: web.Request, capability: Capability, action: str, step: Callable, **kwargs):
    """Run one workflow step for the caller; audit it, allowed or refused, against the detainee."""
    who = require(request, capability, action)
    consult = await _consult(request)
    body = await read_json(request)
    ctx = context_of(request)
    resource = f"ServiceRequest/{consult.id}"
    try:
        result = await ctx.db.run(step, who, consult.id, body, **kwargs)
    except WorkflowError as error:
        audit(request, action, "denied", patient_id=consult.patient_id, resource=resource, reason=error.message)
        raise api_error(error.status, error.message) from None
    audit(request, action, "allowed", patient_id=consult.patient_id, resource=resource)
    return result


async def _answer(request: web.Request, consult_id: str, status: int = 200) -> web.Response:
    ctx = context_of(request)
    consult = await ctx.db.run(workflow.get_consult, consult_id)
    return json_response(await ctx.db.run(views.consult_view, principal(request), consult), status=status)


async def create(request: web.Request) -> web.Response:
    body = await read_json(request)
    patient_id = body.get("patient_id")
    who = require(request, C.REQUEST_CONSULT, "consult.request",
                  patient_id=patient_id if isinstance(patient_id, str) else None)
    if not isinstance(patient_id, str) or not patient_id:
        raise api_error(422, "patient_id is required")
    await authorize(request, C.REQUEST_CONSULT, patient_id, "consult.request")
    ctx = context_of(request)
    try:
        consult = await ctx.db.run(workflow.request_consult, who, body, ctx.settings.tz)
    except WorkflowError as error:
        raise api_error(error.status, error.message) from None
    await _announce_request(request, consult)
    return await _answer(request, consult.id, status=201)


async def _push(request: web.Request, consult: Consult, kind: str, key: str, audience, *, link: str = "",
                **extra) -> None:
    """Tell the people concerned, in both languages (each page shows its own): kept for each of
    them, and pushed to the pages open now."""
    message = notice(kind, key, link=link or f"/consults/{consult.id}", specialty=consult.specialty, **extra)
    await notify(context_of(request), {**message, "consult_id": consult.id}, audience, patient_id=consult.patient_id)


async def _announce_request(request: web.Request, consult: Consult) -> None:
    """To the on-duty specialists who triage it: an emergency rings until answered; an urgent or
    routine request is a quiet notification."""
    on_duty = set(await context_of(request).db.run(workflow.on_duty_specialists, consult))
    emergency = consult.urgency == Urgency.EMERGENCY
    await _push(request, consult, "consult.ring" if emergency else "consult.requested", "webrtc.notice_requested",
                users(on_duty), link="/consults", severity="critical" if emergency else "",
                ring=emergency, urgency=lambda lang: translate(lang, f"webrtc.urgency_{consult.urgency}"),
                question=consult.question[:80])


async def show(request: web.Request) -> web.Response:
    consult = await _consult(request)
    await _check_reader(request, consult, "consult.read")
    return await _answer(request, consult.id)


async def _check_reader(request: web.Request, consult: Consult, action: str, *, triage_ok: bool = True) -> str:
    """The caller's part in this consult, audited; 403 for anyone else."""
    who = principal(request)
    part = await context_of(request).db.run(seeing.role_in, who, consult)
    if part in ("facility", "specialist"):
        await authorize(request, C.CLINICAL_READ, consult.patient_id, action)
        return part
    allowed = part == "triage" and triage_ok
    audit(request, action, "allowed" if allowed else "denied", patient_id=consult.patient_id,
          resource=f"ServiceRequest/{consult.id}", reason="" if allowed else "not a participant of this consult")
    if not allowed:
        raise api_error(403, "you are not a participant of this consult")
    return part


async def lists(request: web.Request) -> web.Response:
    who = principal(request)
    if who.role not in (Role.FACILITY_DOCTOR, Role.SPECIALIST):
        audit(request, "consult.list", "denied", reason=f"role {who.role} has no consult work lists")
        raise api_error(403, "no consult work lists for your role")
    db = context_of(request).db
    lists = await db.run(views.work_lists, who)
    consult_ids = [item["id"] for items in lists.values() for item in items]
    audit(request, "consult.list", "allowed", reason=f"{len(consult_ids)} listed")
    audit_shown(request, "consult.list", await db.run(views.patients_of, consult_ids))
    return json_response(lists)


async def history(request: web.Request) -> web.Response:
    """``?q=``: booking number, name or cell of the detainee."""
    who = principal(request)
    if who.role not in (Role.FACILITY_DOCTOR, Role.SPECIALIST):
        audit(request, "consult.history", "denied", reason=f"role {who.role} has no consult history")
        raise api_error(403, "no consult history for your role")
    unknown = sorted(set(request.query) - {"q"})
    if unknown:
        raise api_error(400, f"unknown parameter {unknown[0]}")
    query = request.query.get("q", "")
    if len(query) > 64:
        raise api_error(422, "q is longer than 64 characters")
    found = await context_of(request).db.run(views.history, who, query)
    named = [c for c in found if "patient_id" in c]
    for consult in named:  # a list read names every detainee it shows
        audit(request, "consult.history", "allowed", patient_id=consult["patient_id"],
              resource=f"ServiceRequest/{consult['id']}")
    if not named:
        audit(request, "consult.history", "allowed")
    return json_response(found)


async def outcomes(request: web.Request) -> web.Response:
    return json_response(await context_of(request).db.run(views.outcome_counts, principal(request)))


async def triage(request: web.Request) -> web.Response:
    consult = await _step(request, C.TRIAGE_CONSULT, "consult.triage", workflow.triage)
    await _push(request, consult, "consult.triaged", f"webrtc.notice_{consult.status}", user(consult.requester_id),
                link="/consults")
    return await _answer(request, consult.id)


def _plain_step(capability: Capability, action: str, step: Callable):
    """A handler for a step that needs no notification: run it, answer the consult."""
    async def handler(request: web.Request) -> web.Response:
        consult = await _step(request, capability, action, step)
        return await _answer(request, consult.id)
    return handler


confirm = _plain_step(C.REQUEST_CONSULT, "consult.confirm", workflow.confirm)
custody = _plain_step(C.REQUEST_CONSULT, "consult.custody", workflow.record_custody_facts)
draft = _plain_step(C.SIGN_CONSULT, "consult.draft", workflow.save_draft)


async def invite(request: web.Request) -> web.Response:
    capability = seeing.acting_capability(principal(request))
    invitation = await _step(request, capability, "consult.invite", workflow.invite)
    consult = await _consult(request)
    await _push(request, consult, "consult.invited", "webrtc.notice_invited", user(invitation.user_id),
                link=f"/consults/{consult.id}/room")
    return await _answer(request, invitation.consult_id)


async def sign(request: web.Request) -> web.Response:
    signed = await _step(request, C.SIGN_CONSULT, "consult.sign", workflow.sign, lang=language(request))
    consult = signed.consult
    await _push(request, consult, "consult.signed", "webrtc.notice_signed",
                staff_of(consult.facility_id, Role.FACILITY_DOCTOR),
                severity="critical", outcome=lambda lang: translate(lang, f"webrtc.outcome_{consult.outcome}"))
    await close_room(request.app, consult.id)
    return await _answer(request, consult.id)


async def items(request: web.Request) -> web.Response:
    """The shared and produced items as the room shows them; each read asked of the policy, so a
    specialist gets what was shared and nothing else."""
    consult = await _consult(request)
    await _check_reader(request, consult, "consult.items", triage_ok=False)
    ctx = context_of(request)
    view = await ctx.db.run(views.consult_view, principal(request), consult)
    found = []
    for item in view["shared"]:
        key = (item["type"], item["id"])
        decision = await authorize(request, C.CLINICAL_READ, consult.patient_id, "fhir.read", resource=key,
                                   raise_denied=False)
        resource = await ctx.db.run(_read_resource, key) if decision.allowed else None
        if resource is not None:
            found.append((item, resource))
    return json_response(room_items(found, language(request), ctx.settings.tz))


def _read_resource(session, key: tuple[str, str]) -> dict | None:
    try:
        return store.read(session, *key).resource
    except FhirError:
        return None


async def call_stats(request: web.Request) -> web.Response:
    consult = await _consult(request)
    await _check_reader(request, consult, "consult.stats", triage_ok=False)
    return json_response(await context_of(request).db.run(stats.summary, consult.id))


async def recording_file(request: web.Request) -> web.StreamResponse:
    consult = await _consult(request)
    await _check_reader(request, consult, "consult.recording", triage_ok=False)
    name = request.match_info["name"]
    path = context_of(request).settings.data_dir / "recordings" / name
    if not name.startswith(consult.id) or "/" in name or not path.is_file():
        raise api_error(404, "no such recording")
    return web.FileResponse(path, headers={"Content-Type": "video/x-matroska"})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/consults", lists)
    app.router.add_post("/api/consults", create)
    app.router.add_get("/api/consults/outcomes", outcomes)
    app.router.add_get("/api/consults/history", history)
    app.router.add_get("/api/consults/{consult_id}", show)
    app.router.add_post("/api/consults/{consult_id}/triage", triage)
    app.router.add_post("/api/consults/{consult_id}/confirm", confirm)
    app.router.add_post("/api/consults/{consult_id}/custody", custody)
    app.router.add_post("/api/consults/{consult_id}/invite", invite)
    app.router.add_put("/api/consults/{consult_id}/draft", draft)
    app.router.add_post("/api/consults/{consult_id}/sign", sign)
    app.router.add_get("/api/consults/{consult_id}/items", items)
    app.router.add_get("/api/consults/{consult_id}/stats", call_stats)
    app.router.add_get("/api/consults/{consult_id}/recording/{name}", recording_file)
