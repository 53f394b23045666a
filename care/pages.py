"""The /care pages: the clinic's work list, one arrival's screening, one sick call, the request
entry (clinic, officer, cell kiosk) and the facility's deadlines."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import select

from care import clocks, questionnaire, views
from care.consequences import Raise
from care.lookup import call_for, intake_for
from care.rules import rules_for
from care.sickcall import Category, Outcome
from labs.catalog import catalogue
from telemed import display
from telemed.context import context_of
from telemed.http import audit_shown, principal, require
from telemed.models import OrgKind, Organization, Role
from telemed.policy import Capability, decide_facility
from telemed.timeutil import utcnow
from telemed.ui import language
from webrtc.models import Urgency


def shown(request: web.Request, data: dict) -> dict:
    """The page's data, with times as every page shows them (telemed.display)."""
    tz, lang = context_of(request).settings.tz, language(request)
    return data | {"when": lambda value: display.when(value, tz, lang)}


def _staff(request: web.Request, capability: Capability, action: str):
    who = require(request, capability, action)
    if not decide_facility(who, capability, who.org_id or ""):
        raise web.HTTPForbidden(text="facility staff only")
    return who


@aiohttp_jinja2.template("care/worklist.html")
async def worklist_page(request: web.Request) -> dict:
    who = _staff(request, Capability.CLINICAL_READ, "care.worklist")
    found = await context_of(request).db.run(views.worklist, who.org_id, utcnow())
    audit_shown(request, "care.worklist", views.patients_in(found))
    return shown(request, {"work": found, "can_write": who.role == Role.FACILITY_DOCTOR})


@aiohttp_jinja2.template("care/intake.html")
async def intake_page(request: web.Request) -> dict:
    row, detainee = await intake_for(request, Capability.CLINICAL_READ, "care.intake.read")
    found = await context_of(request).db.run(views.intake_detail, row, detainee, utcnow())
    return shown(request, {"intake": found, "sections": questionnaire.SECTIONS, "choices": questionnaire.PREGNANCY,
                           "can_write": principal(request).role == Role.FACILITY_DOCTOR, "raises": list(Raise)})


@aiohttp_jinja2.template("care/sick_call.html")
async def sick_call_page(request: web.Request) -> dict:
    call = await call_for(request, Capability.CLINICAL_READ, "care.sick_call.read")
    db = context_of(request).db

    def read(session):
        hospitals = session.exec(select(Organization).where(Organization.kind == OrgKind.HOSPITAL)).all()
        return views.sick_call_detail(session, call.id, utcnow()), hospitals
    found, hospitals = await db.run(read)
    return shown(request, {
        "call": found, "can_write": principal(request).role == Role.FACILITY_DOCTOR,
        "outcomes": [o for o in Outcome if o != Outcome.NO_ACTION], "panels": list(catalogue().panels.values()),
        "hospitals": hospitals, "urgencies": list(Urgency)})


@aiohttp_jinja2.template("care/request.html")
async def request_page(request: web.Request) -> dict:
    who = require(request, Capability.SUBMIT_SICK_CALL, "care.request.page")
    found = await context_of(request).db.run(views.mine, who, utcnow())
    audit_shown(request, "care.mine", [c["patient_id"] for c in found["sick_calls"]])
    return shown(request, {"mine": found, "categories": list(Category), "kiosk": who.role not in views.OFFICERS})


@aiohttp_jinja2.template("care/rules.html")
async def rules_page(request: web.Request) -> dict:
    who = _staff(request, Capability.CLINICAL_READ, "care.rules.read")
    rules = await context_of(request).db.run(rules_for, who.org_id)
    return {"rules": rules.__dict__, "defaults": clocks.DEFAULT_RULES.__dict__,
            "can_write": who.role == Role.MEDICAL_OFFICER}


def setup(app: web.Application) -> None:
    app.router.add_get("/care", worklist_page)
    app.router.add_get("/care/intake/{intake_id}", intake_page)
    app.router.add_get("/care/sick-call/{call_id}", sick_call_page)
    app.router.add_get("/care/request", request_page)
    app.router.add_get("/care/rules", rules_page)
