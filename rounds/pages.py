"""Pages: rounds by block (scan or type the wristband code, compare the photo, confirm), one
detainee at the cell, the pill line, and the facility's adherence; and the printable ID card."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from ehr import charting, record, vitals
from ehr.entries import Namer
from ehr.errors import FhirError
from ehr.requests import run
from care import sickcall
from rounds import adherence, due, photo, schedule, watch, wristband
from rounds.api import READ, WRITE, window
from telemed import addresses, display
from telemed.context import context_of
from telemed.http import authorize, require
from telemed.i18n import translate
from telemed.models import Detainee
from telemed.timeutil import utcnow
from telemed.ui import language


@aiohttp_jinja2.template("rounds/rounds.html")
async def rounds_page(request: web.Request) -> dict:
    require(request, WRITE, "rounds.page")
    return {}


async def patient_page(request: web.Request) -> web.StreamResponse:
    """One detainee at the cell, opened after the identity check (``via``: scanned or typed)."""
    pid = await record.patient_of(request, "rounds.patient")
    lang, ctx = language(request), context_of(request)
    try:
        found = await run(request, record.load, pid, Namer(lang, ctx.settings.tz))
    except FhirError:
        raise web.HTTPForbidden() from None
    facility = await ctx.db.run(due.facility_of, pid)
    rows = await ctx.db.run(adherence.of_detainee, facility, pid, utcnow(), ctx.settings.tz, window(request))
    on_watch = await ctx.db.run(watch.state, pid)
    context = {"record": found, "patient_id": pid, "ref": addresses.ref(found.booking, pid), "adherence": rows,
               "vital_fields": vitals.VITALS,
               "show": Namer(lang, ctx.settings.tz), "form": charting,
               "has_photo": await ctx.db.run(due.has_photo, pid), "writable": found.writable, "watch": on_watch,
               "categories": list(sickcall.Category),
               "born": display.day(found.patient.get("birthDate"), ctx.settings.tz, lang)}
    return aiohttp_jinja2.render_template("rounds/patient.html", request, context)


@aiohttp_jinja2.template("rounds/pills.html")
async def pills_page(request: web.Request) -> dict:
    require(request, WRITE, "rounds.pills.page")
    now = utcnow().astimezone(context_of(request).settings.tz)
    return {"slots": list(schedule.SLOTS), "slot": schedule.slot_at(now)}


@aiohttp_jinja2.template("rounds/adherence.html")
async def adherence_page(request: web.Request) -> dict:
    who = require(request, READ, "rounds.adherence.page")
    ctx = context_of(request)
    figure = await ctx.db.run(adherence.of_facility, who.org_id, utcnow(), ctx.settings.tz, window(request))
    return {"figure": figure, "days": adherence.DAYS}


def _card(session, patient_id: str, lang: str, tz) -> wristband.Card:
    d = session.get(Detainee, patient_id)
    stored = photo.read(session, patient_id)
    labels = {k: translate(lang, f"rounds.card.{k}") for k in ("booking", "born", "code")}
    return wristband.Card(d.name, d.booking_number, display.day(d.birth_date or None, tz, lang),
                          labels, stored.data if stored else None)


async def wristband_pdf(request: web.Request) -> web.Response:
    pid = await record.patient_of(request, "rounds.wristband.print")
    await authorize(request, WRITE, pid, "rounds.wristband.print")
    lang = language(request)
    card = await context_of(request).db.run(_card, pid, lang, context_of(request).settings.tz)
    return web.Response(body=wristband.pdf([card], lang), content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="card-{card.booking_number}.pdf"'})


def setup(app: web.Application) -> None:
    app.router.add_get("/rounds", rounds_page)
    app.router.add_get("/rounds/patient/{ref}", patient_page)
    app.router.add_get("/rounds/pills", pills_page)
    app.router.add_get("/rounds/adherence", adherence_page)
    app.router.add_get("/rounds/card/{ref}.pdf", wristband_pdf)
