"""Pages: the campaign list, one campaign (completion, filtered roster, batch with a live progress
bar), one detainee's exam as the officer reviews it, and the exam entry page. The pages hold little
data; their script calls the JSON routes (the exam page shows what the PDF report prints)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from reports import exam_data
from reports.api_support import VIEW_CAPS, campaign_for, exam_for, require_any
from reports.campaigns import campaign_json
from reports.codes import SECTIONS, VITALS, label
from reports.exam_data import arrow
from reports.models import ExamCampaign
from telemed.context import context_of
from telemed.http import principal
from telemed import display
from telemed.i18n import translate
from telemed.models import Detainee, User
from telemed.policy import Capability, may
from telemed.ui import language

ROSTER_FILTERS = ("", "pending", "examined", "to_review", "reviewed", "refused", "released")


def _role_flags(request: web.Request) -> dict:
    who = principal(request)
    return {"can_manage": may(who, Capability.MANAGE_CAMPAIGNS), "can_enter": may(who, Capability.ENTER_EXAMS),
            "can_print": may(who, Capability.PRINT_REPORTS)}


@aiohttp_jinja2.template("reports/campaigns.html")
async def campaigns_page(request: web.Request) -> dict:
    require_any(request, VIEW_CAPS, "exams.page")
    return _role_flags(request)


@aiohttp_jinja2.template("reports/campaign.html")
async def campaign_page(request: web.Request) -> dict:
    campaign: ExamCampaign = await campaign_for(request, VIEW_CAPS, "exams.campaign.read")
    lang = language(request)
    sections = {s.key: label(s, lang) for s in SECTIONS} | {"vitals": translate(lang, "reports.vitals"),
                                                            "conclusion": translate(lang, "reports.conclusion")}
    wanted = request.query.get("status", "")
    if wanted not in ROSTER_FILTERS:
        raise web.HTTPBadRequest(text=f"status must be one of {', '.join(ROSTER_FILTERS[1:])}")
    return {"campaign": campaign_json(campaign), "section_labels": sections, "filters": ROSTER_FILTERS,
            "status": wanted, **_role_flags(request)}


@aiohttp_jinja2.template("reports/exam.html")
async def exam_page(request: web.Request) -> dict:
    """One detainee's exam as its report prints it, with the review and the printed report a click away."""
    require_any(request, VIEW_CAPS, "exams.read")
    who = principal(request)
    held = Capability.MANAGE_CAMPAIGNS if may(who, Capability.MANAGE_CAMPAIGNS) else Capability.ENTER_EXAMS
    exam, campaign = await exam_for(request, held, "exams.read")
    ctx, lang = context_of(request), language(request)
    data = await ctx.db.run(exam_data.load, exam.id, lang, ctx.settings.tz)
    reviewer = await ctx.db.run(lambda session: session.get(User, exam.reviewer_id) if exam.reviewer_id else None)
    return {"exam": exam, "data": data, "campaign": campaign_json(campaign), "arrow": arrow,
            "reviewer": reviewer.display_name if reviewer else "", **_role_flags(request)}


@aiohttp_jinja2.template("reports/entry.html")
async def entry_page(request: web.Request) -> dict:
    exam, campaign = await exam_for(request, Capability.ENTER_EXAMS, "exams.read")
    lang = language(request)
    person = await context_of(request).db.run(lambda session: session.get(Detainee, exam.patient_id))
    return {"exam_id": exam.id, "campaign": campaign_json(campaign), "patient_id": exam.patient_id,
            "person": f"{person.name} {person.booking_number}",
            "vitals": [(v.key, label(v, lang), display.unit(v.unit, lang)) for v in VITALS],
            "sections": [(s.key, label(s, lang)) for s in SECTIONS]}


def setup(app: web.Application) -> None:
    app.router.add_get("/exams", campaigns_page)
    app.router.add_get("/exams/{campaign_id}", campaign_page)
    app.router.add_get("/exams/entry/{exam_id:\\d+}", entry_page)
    app.router.add_get("/exams/exam/{exam_id:\\d+}", exam_page)
