"""HTTP routes of the reports capability: campaigns, exam entry, reports and batches.

Campaign-level routes check the caller's role and facility (``decide_facility``); routes about
one detainee's exam go through ``authorize`` so that each read and write is audited.
"""

from __future__ import annotations

from aiohttp import web

from reports import batch_api, views
from reports.api_support import VIEW_CAPS, campaign_for, exam_for, require_any, run
from reports.campaigns import (
    CampaignSpec, campaign_json, close_campaign, completion, create_campaign, get_campaign, list_campaigns, roster,
)
from reports.exam_data import entered_values
from reports.exam_fhir import Author
from reports.exams import enter_section, exam_json, review
from telemed.context import context_of
from telemed.events import staff_of
from telemed.http import api_error, audit, audit_shown, json_response, principal, read_json, require
from telemed.policy import Capability, decide_facility, may


async def campaigns_index(request: web.Request) -> web.Response:
    require_any(request, VIEW_CAPS, "exams.campaign.list")
    who = principal(request)
    audit(request, "exams.campaign.list", "allowed", resource=f"Organization/{who.org_id}")
    return json_response(await run(request, list_campaigns, who.org_id))


async def campaigns_create(request: web.Request) -> web.Response:
    who = require(request, Capability.MANAGE_CAMPAIGNS, "exams.campaign.create")
    body = await read_json(request)
    facility = str(body.get("facility_id") or who.org_id)
    decision = decide_facility(who, Capability.MANAGE_CAMPAIGNS, facility)
    if not decision.allowed:
        audit(request, "exams.campaign.create", "denied", resource=f"Organization/{facility}", reason=decision.reason)
        raise api_error(403, decision.reason)
    ids = body.get("patient_ids") or ()
    if not isinstance(ids, (list, tuple)):
        raise api_error(400, "patient_ids must be a list")
    spec = CampaignSpec(facility_id=facility, name=str(body.get("name", "")),
                        period_start=str(body.get("period_start", "")), period_end=str(body.get("period_end", "")),
                        cohort_date=str(body.get("cohort_date") or ""), patient_ids=tuple(map(str, ids)))
    campaign = await run(request, create_campaign, spec, who.user_id)
    audit(request, "exams.campaign.create", "allowed", resource=f"ExamCampaign/{campaign.id}")
    counts = await run(request, completion, campaign.id)
    return json_response(campaign_json(campaign, counts), status=201)


async def campaign_show(request: web.Request) -> web.Response:
    campaign = await campaign_for(request, VIEW_CAPS, "exams.campaign.read")
    counts = await run(request, completion, campaign.id)
    data = campaign_json(campaign, counts)
    data["exams"] = await run(request, roster, campaign.id)
    audit_shown(request, "exams.campaign.roster", [exam["patient_id"] for exam in data["exams"]])
    return json_response(data)


async def campaign_close(request: web.Request) -> web.Response:
    campaign = await campaign_for(request, (Capability.MANAGE_CAMPAIGNS,), "exams.campaign.close")
    closed = await run(request, close_campaign, campaign.id)
    return json_response(campaign_json(closed, await run(request, completion, campaign.id)))


async def exam_show(request: web.Request) -> web.Response:
    exam, _campaign = await exam_for(request, Capability.ENTER_EXAMS if may(principal(request), Capability.ENTER_EXAMS)
                                     else Capability.MANAGE_CAMPAIGNS, "exams.read")
    data = exam_json(exam)
    data["values"] = await run(request, entered_values, exam.id, exam.patient_id)
    return json_response(data)


async def exam_enter(request: web.Request) -> web.Response:
    who = require(request, Capability.ENTER_EXAMS, "exams.enter")
    section = request.match_info["section"]
    exam, _campaign = await exam_for(request, Capability.ENTER_EXAMS, f"exams.enter.{section}")
    body = await read_json(request)
    updated = await run(request, enter_section, exam.id, section, body, Author(who.user_id, who.display_name))
    await publish_progress(request, updated.campaign_id)
    return json_response(exam_json(updated))


async def exam_review(request: web.Request) -> web.Response:
    who = require(request, Capability.MANAGE_CAMPAIGNS, "exams.review")
    exam, _campaign = await exam_for(request, Capability.MANAGE_CAMPAIGNS, "exams.review")
    return json_response(exam_json(await run(request, review, exam.id, who.user_id)))


async def publish_progress(request: web.Request, campaign_id: str) -> None:
    ctx = context_of(request)
    campaign = await run(request, get_campaign, campaign_id)
    counts = await run(request, completion, campaign_id)
    ctx.hub.publish({"type": "exams.completion", "campaign_id": campaign_id, "completion": counts},
                    staff_of(campaign.facility_id))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/campaigns", campaigns_index)
    app.router.add_post("/api/campaigns", campaigns_create)
    app.router.add_get("/api/campaigns/{campaign_id}", campaign_show)
    app.router.add_post("/api/campaigns/{campaign_id}/close", campaign_close)
    app.router.add_get("/api/exams/{exam_id:\\d+}", exam_show)
    app.router.add_put("/api/exams/{exam_id:\\d+}/sections/{section}", exam_enter)
    app.router.add_post("/api/exams/{exam_id:\\d+}/review", exam_review)
    batch_api.setup(app)
    views.setup(app)
