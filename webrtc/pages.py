"""The consult pages: /consults (work lists and forms) and /consults/{id}/room (the call)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session, select

from ehr import store
from telemed.context import context_of
from telemed.http import api_error, authorize, json_response, principal, require
from telemed.models import Organization, OrgKind, Role, User
from telemed.policy import Capability
from webrtc import views
from webrtc.media import browser_ice_servers
from webrtc.workflow import SHAREABLE, get_consult, WorkflowError

CONSULT_ROLES = (Role.FACILITY_DOCTOR, Role.SPECIALIST)


def _consult_staff(request: web.Request) -> None:
    if principal(request).role not in CONSULT_ROLES:
        raise web.HTTPForbidden(text="consults are for on-site doctors and specialists")


@aiohttp_jinja2.template("webrtc/consults.html")
async def consults_page(request: web.Request) -> dict:
    """``?patient=`` pre-fills the request form (the record page links here)."""
    _consult_staff(request)
    return {"patient": request.query.get("patient", "")}


@aiohttp_jinja2.template("webrtc/room.html")
async def room_page(request: web.Request) -> dict:
    _consult_staff(request)
    who = principal(request)
    ctx = context_of(request)
    try:
        consult = await ctx.db.run(get_consult, request.match_info["consult_id"])
    except WorkflowError as error:
        raise web.HTTPNotFound(text=error.message) from None
    part = await ctx.db.run(views.role_in, who, consult)
    if part not in ("facility", "specialist"):
        raise web.HTTPForbidden(text="you are not a participant of this consult")
    return {"consult_id": consult.id, "room": {
        "consult_id": consult.id, "user_id": who.user_id, "part": part,
        "assigned": who.user_id == consult.specialist_id, "ice_servers": browser_ice_servers(ctx.settings)}}


def _options(session: Session) -> dict:
    hospitals = session.exec(select(Organization).where(Organization.kind == OrgKind.HOSPITAL)
                             .order_by(Organization.id)).all()
    staff = session.exec(select(User).where(User.role == Role.SPECIALIST, User.active == True)  # noqa: E712
                         .order_by(User.display_name)).all()
    return {"hospitals": [{
        "id": h.id, "name": h.name, "name_zh": h.name_zh,
        "specialties": sorted({u.specialty for u in staff if u.org_id == h.id and u.specialty}),
        "specialists": [{"id": u.id, "name": u.display_name, "specialty": u.specialty} for u in staff if u.org_id == h.id],
    } for h in hospitals]}


async def options(request: web.Request) -> web.Response:
    """Hospitals, their specialties and specialists: for the request form and for invitations."""
    _consult_staff(request)
    require(request, views.acting_capability(principal(request)), "consult.options")
    return json_response(await context_of(request).db.run(_options))


def _shareable(session: Session, patient_id: str) -> list[dict]:
    found = []
    for item in store.by_patient(session, patient_id, SHAREABLE):
        resource = item.resource
        label = (resource.get("code") or resource.get("type") or {})
        text = label.get("text") or next((c.get("display", "") for c in label.get("coding", [])), "")
        found.append({"type": item.type, "id": item.id, "label": text or item.type,
                      "date": resource.get("effectiveDateTime") or resource.get("date") or resource.get("issued", "")})
    return found


async def shareable(request: web.Request) -> web.Response:
    """What the requesting doctor may share from this detainee's record."""
    patient_id = request.query.get("patient_id", "")
    if not patient_id:
        raise api_error(422, "patient_id is required")
    await authorize(request, Capability.REQUEST_CONSULT, patient_id, "consult.shareable")
    return json_response(await context_of(request).db.run(_shareable, patient_id))


def setup(app: web.Application) -> None:
    app.router.add_get("/consults", consults_page)
    app.router.add_get("/consults/{consult_id}/room", room_page)
    app.router.add_get("/api/consult-options", options)
    app.router.add_get("/api/consult-shareable", shareable)
