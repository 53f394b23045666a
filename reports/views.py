"""Pages: the campaign list, one campaign (completion, cohort, batch with a live progress bar)
and the exam entry page. The pages hold little data; their script calls the JSON routes."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from reports.api_support import VIEW_CAPS, campaign_for, exam_for, require_any
from reports.campaigns import campaign_json
from reports.codes import SECTIONS, VITALS, label, unit_label
from reports.models import ExamCampaign
from telemed.context import context_of
from telemed.http import principal
from telemed.i18n import translate
from telemed.models import Detainee
from telemed.policy import Capability, may
from telemed.ui import language


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
    return {"campaign": campaign_json(campaign), "section_labels": sections, **_role_flags(request)}


@aiohttp_jinja2.template("reports/entry.html")
async def entry_page(request: web.Request) -> dict:
    exam, campaign = await exam_for(request, Capability.ENTER_EXAMS, "exams.read")
    lang = language(request)
    person = await context_of(request).db.run(lambda session: session.get(Detainee, exam.patient_id))
    return {"exam_id": exam.id, "campaign": campaign_json(campaign), "patient_id": exam.patient_id,
            "person": f"{person.name} {person.booking_number}",
            "vitals": [(v.key, label(v, lang), unit_label(v.unit, lang)) for v in VITALS],
            "sections": [(s.key, label(s, lang)) for s in SECTIONS]}


def setup(app: web.Application) -> None:
    app.router.add_get("/exams", campaigns_page)
    app.router.add_get("/exams/{campaign_id}", campaign_page)
    app.router.add_get("/exams/entry/{exam_id:\\d+}", entry_page)
