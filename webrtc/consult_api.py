"""JSON API of the consult workflow: /api/consults/... Every step and every read is audited."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ehr import store
from ehr.errors import FhirError
from telemed.context import context_of
from telemed.events import staff_of, user
from telemed.http import api_error, audit, audit_shown, authorize, json_response, principal, read_json, require
from telemed.models import Role
from telemed.policy import Capability
from webrtc import stats, views, workflow
from webrtc.models import Consult, Urgency
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
    if consult.urgency == Urgency.EMERGENCY:
        await _ring(request, consult)
    return await _answer(request, consult.id, status=201)


def _push(request: web.Request, kind: str, consult_id: str, toast: str, audience, **extra) -> None:
    """Tell the browsers concerned at once; the toast is bilingual, the audience's language unknown."""
    context_of(request).hub.publish({"type": kind, "consult_id": consult_id, "toast": toast, **extra}, audience)


async def _ring(request: web.Request, consult: Consult) -> None:
    on_duty = set(await context_of(request).db.run(workflow.on_duty_specialists, consult))
    _push(request, "consult.ring", consult.id, f"紧急会诊 / Emergency consult: {consult.specialty} — "
          f"{consult.question[:80]}", lambda p: p.user_id in on_duty, severity="critical")


async def show(request: web.Request) -> web.Response:
    consult = await _consult(request)
    await _check_reader(request, consult, "consult.read")
    return await _answer(request, consult.id)


async def _check_reader(request: web.Request, consult: Consult, action: str, *, triage_ok: bool = True) -> str:
    """The caller's part in this consult, audited; 403 for anyone else."""
    who = principal(request)
    part = await context_of(request).db.run(views.role_in, who, consult)
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


async def outcomes(request: web.Request) -> web.Response:
    return json_response(await context_of(request).db.run(views.outcome_counts, principal(request)))


async def triage(request: web.Request) -> web.Response:
    consult = await _step(request, C.TRIAGE_CONSULT, "consult.triage", workflow.triage)
    _push(request, "consult.triaged", consult.id, f"会诊 {consult.status} / consult {consult.status}: "
          f"{consult.specialty}", user(consult.requester_id), status=consult.status)
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
    capability = views.acting_capability(principal(request))
    invitation = await _step(request, capability, "consult.invite", workflow.invite)
    _push(request, "consult.invited", invitation.consult_id, "会诊邀请 / You are invited to a video consult",
          user(invitation.user_id))
    return await _answer(request, invitation.consult_id)


async def sign(request: web.Request) -> web.Response:
    signed = await _step(request, C.SIGN_CONSULT, "consult.sign", workflow.sign)
    consult = signed.consult
    _push(request, "consult.signed", consult.id, f"会诊意见已签署 / Consult advice signed: {consult.specialty} "
          f"({consult.outcome})", staff_of(consult.facility_id, Role.FACILITY_DOCTOR), outcome=consult.outcome,
          severity="critical")
    return await _answer(request, consult.id)


async def items(request: web.Request) -> web.Response:
    """The shared and produced items with their content, each read asked of the policy."""
    consult = await _consult(request)
    await _check_reader(request, consult, "consult.items", triage_ok=False)
    ctx = context_of(request)
    view = await ctx.db.run(views.consult_view, principal(request), consult)
    found = []
    for item in view["shared"]:
        key = (item["type"], item["id"])
        decision = await authorize(request, C.CLINICAL_READ, consult.patient_id, "fhir.read", resource=key,
                                   raise_denied=False)
        if decision.allowed:
            found.append({**item, "resource": await ctx.db.run(_read_resource, key)})
    return json_response(found)


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
