"""The consult pages: /consults (work lists and the request form), /consults/history,
/consults/{id} (one consult and its signed note) and /consults/{id}/room (the call)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session, select

from ehr import store
from telemed import addresses, display
from telemed.context import context_of
from telemed.http import api_error, authorize, json_response, principal, require
from telemed.models import Detainee, Organization, OrgKind, Role, User
from telemed.policy import Capability
from telemed.ui import language
from webrtc import prescriptions, seeing, turn, views
from webrtc.media import browser_ice_servers
from webrtc.models import Consult, ConsultStatus
from webrtc.shared_view import Reader
from webrtc.workflow import SHAREABLE, WorkflowError, get_consult, user_name

CONSULT_ROLES = (Role.FACILITY_DOCTOR, Role.SPECIALIST)


def _consult_staff(request: web.Request) -> None:
    if principal(request).role not in CONSULT_ROLES:
        raise web.HTTPForbidden(text="consults are for on-site doctors and specialists")


@aiohttp_jinja2.template("webrtc/consults.html")
async def consults_page(request: web.Request) -> dict:
    """``?detainee=`` (the booking number, as in the record's address) pre-fills the request form
    with that detainee (the record page links here)."""
    _consult_staff(request)
    segment = request.query.get("detainee", "")
    if not segment:
        return {"patient": None}
    patient_id = await context_of(request).db.read(addresses.resolve, principal(request), segment) or segment
    await authorize(request, Capability.REQUEST_CONSULT, patient_id, "consult.prefill")
    detainee = await context_of(request).db.read(lambda s: s.get(Detainee, patient_id))
    return {"patient": {"ref": patient_id, "name": detainee.name, "booking_number": detainee.booking_number}}


async def _participant(request: web.Request) -> tuple[Consult, str]:
    """The consult of the URL and the caller's part in it; 404 or 403 otherwise."""
    _consult_staff(request)
    ctx = context_of(request)
    try:
        consult = await ctx.db.run(get_consult, request.match_info["consult_id"])
    except WorkflowError as error:
        raise web.HTTPNotFound(text=error.message) from None
    part = await ctx.db.run(seeing.role_in, principal(request), consult)
    if part not in ("facility", "specialist"):
        raise web.HTTPForbidden(text="you are not a participant of this consult")
    return consult, part


@aiohttp_jinja2.template("webrtc/room.html")
async def room_page(request: web.Request) -> dict:
    """A signed consult's room is closed: it shows the note, and opens no camera."""
    consult, part = await _participant(request)
    if consult.status == ConsultStatus.DECLINED:
        raise web.HTTPSeeOther(f"/consults/{consult.id}")  # there never was a call
    who = principal(request)
    ctx = context_of(request)
    return {"consult_id": consult.id, "room": {
        "consult_id": consult.id, "user_id": who.user_id, "part": part, "closed": consult.status == ConsultStatus.SIGNED,
        "timezone": ctx.settings.timezone,
        "assigned": who.user_id == consult.specialist_id, "ice_servers": browser_ice_servers(turn.for_user(ctx.settings, who.username))},
        "rx": {"units": prescriptions.DOSE_UNITS, "routes": list(prescriptions.ROUTES),
               "frequencies": list(prescriptions.FREQUENCIES)}}  # ehr.charting's, as on the record page


@aiohttp_jinja2.template("webrtc/consult.html")
async def consult_page(request: web.Request) -> dict:
    """One consult: the request, the decision and, once signed, the note and what it produced.
    The record's timeline links here."""
    consult, part = await _participant(request)
    db = context_of(request).db
    view = await db.run(views.consult_view, principal(request), consult)
    tz, lang = context_of(request).settings.tz, language(request)
    times = {key: display.when(getattr(consult, key), tz, lang) for key in ("requested_at", "decided_at", "signed_at")}
    return {"consult": view, "part": part, "times": times,
            "specialist": await db.run(user_name, consult.specialist_id)}


@aiohttp_jinja2.template("webrtc/history.html")
async def history_page(request: web.Request) -> dict:
    _consult_staff(request)
    return {"query": request.query.get("q", "")}


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
    require(request, seeing.acting_capability(principal(request)), "consult.options")
    return json_response(await context_of(request).db.run(_options))


def _shareable(session: Session, patient_id: str, lang: str, tz: ZoneInfo) -> list[dict]:
    reader = Reader(lang, tz)
    found = []
    for item in store.by_patient(session, patient_id, SHAREABLE):
        label, when = reader.label(item.resource)
        found.append({"type": item.type, "id": item.id, "label": label or item.type, "date": when})
    return found


async def shareable(request: web.Request) -> web.Response:
    """What the requesting doctor may share from this detainee's record."""
    patient_id = request.query.get("patient_id", "")
    if not patient_id:
        raise api_error(422, "patient_id is required")
    await authorize(request, Capability.REQUEST_CONSULT, patient_id, "consult.shareable")
    ctx = context_of(request)
    return json_response(await ctx.db.run(_shareable, patient_id, language(request), ctx.settings.tz))


def setup(app: web.Application) -> None:
    app.router.add_get("/consults", consults_page)
    app.router.add_get("/consults/history", history_page)
    app.router.add_get("/consults/{consult_id}", consult_page)
    app.router.add_get("/consults/{consult_id}/room", room_page)
    app.router.add_get("/api/consult-options", options)
    app.router.add_get("/api/consult-shareable", shareable)
