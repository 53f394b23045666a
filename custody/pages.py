"""Pages: the officer's tasks (phone-width first), the doctor's desk of clinic calls and outside
referrals, and the medical officer's monthly figures with their CSV and XLSX exports."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from custody import figures
from custody.models import SecurityLevel, Urgency
from telemed.context import context_of
from telemed.http import audit, require
from telemed.i18n import translate
from telemed.models import Role
from telemed.policy import Capability
from telemed.timeutil import local, utcnow
from telemed.ui import language


@aiohttp_jinja2.template("custody/officer.html")
async def officer_page(request: web.Request) -> dict:
    require(request, Capability.CUSTODY_TASKS, "custody.page")
    return {}


@aiohttp_jinja2.template("custody/desk.html")
async def desk_page(request: web.Request) -> dict:
    who = require(request, Capability.CLINICAL_WRITE, "custody.desk")
    if who.role != Role.FACILITY_DOCTOR:
        raise web.HTTPForbidden(text="the referral desk is the on-site doctors'")
    return {"urgencies": list(Urgency), "levels": list(SecurityLevel)}


def _month(request: web.Request) -> figures.Month:
    tz = context_of(request).settings.tz
    now = local(utcnow(), tz)
    try:
        year = int(request.query.get("year", now.year))
        month = int(request.query.get("month", now.month))
    except ValueError:
        raise web.HTTPBadRequest(text="year and month must be numbers") from None
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        raise web.HTTPBadRequest(text="year must be 2000-2100 and month 1-12")
    return figures.Month(year, month)


async def _figures(request: web.Request, action: str):
    who = require(request, Capability.PRINT_REPORTS, action)
    until = _month(request)
    ctx = context_of(request)
    months, data = await ctx.db.run(figures.series, who.org_id, until, ctx.settings.tz)
    audit(request, action, "allowed", reason=f"{months[0].label}..{months[-1].label}")
    lang = language(request)
    labels = {name: translate(lang, f"custody.figure.{name}") for name in data}
    return months, data, labels, lang


@aiohttp_jinja2.template("custody/figures.html")
async def figures_page(request: web.Request) -> dict:
    months, data, labels, _lang = await _figures(request, "custody.figures")
    charts = [(name, labels[name], figures.bars(months, values), sum(values)) for name, values in data.items()]
    width = (figures.CHART_W - figures.PAD) / len(months) - 4
    return {"months": months, "charts": charts, "bar_width": width, "chart_w": figures.CHART_W,
            "chart_h": figures.CHART_H, "pad": figures.PAD, "until": months[-1],
            "care_missing": figures.care_monthly() is None}


async def figures_csv(request: web.Request) -> web.Response:
    months, data, labels, lang = await _figures(request, "custody.figures.export")
    text = figures.as_csv(months, data, labels, translate(lang, "custody.figure.month"))
    return web.Response(body=("\ufeff" + text).encode(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="figures-{months[-1].label}.csv"'})


async def figures_xlsx(request: web.Request) -> web.Response:
    months, data, labels, lang = await _figures(request, "custody.figures.export")
    body = figures.as_xlsx(months, data, labels, translate(lang, "custody.figure.month"),
                           translate(lang, "custody.figures_title"))
    return web.Response(body=body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="figures-{months[-1].label}.xlsx"'})


def setup(app: web.Application) -> None:
    app.router.add_get("/custody", officer_page)
    app.router.add_get("/custody/desk", desk_page)
    app.router.add_get("/custody/figures", figures_page)
    app.router.add_get("/custody/figures.csv", figures_csv)
    app.router.add_get("/custody/figures.xlsx", figures_xlsx)
