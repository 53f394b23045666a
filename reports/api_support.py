"""Checks shared by the reports routes: role and facility for campaign routes, the policy for
one detainee's exam, and campaign rule errors as JSON errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from reports.campaigns import CampaignError, get_campaign
from reports.exams import get_exam
from reports.models import Exam, ExamCampaign
from telemed.context import context_of
from telemed.http import api_error, audit, authorize, principal, read_json, require
from telemed.policy import Capability, decide_facility, may

VIEW_CAPS = (Capability.MANAGE_CAMPAIGNS, Capability.ENTER_EXAMS)


async def run(request: web.Request, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(session, *args)`` in a database thread; campaign rule errors become JSON errors."""
    try:
        return await context_of(request).db.run(fn, *args)
    except CampaignError as exc:
        raise api_error(exc.status, str(exc), code=exc.code, field=exc.field, values=exc.values) from None


def require_any(request: web.Request, caps: tuple[Capability, ...], action: str) -> None:
    if not any(may(principal(request), c) for c in caps):
        require(request, caps[0], action)  # audits the denial and raises 403


async def campaign_for(request: web.Request, caps: tuple[Capability, ...], action: str,
                       campaign_id: str | None = None) -> ExamCampaign:
    """The campaign (default: the one in the URL), if the caller holds one of ``caps`` in its facility (audited)."""
    require_any(request, caps, action)
    campaign = await run(request, get_campaign, campaign_id or request.match_info["campaign_id"])
    decision = next(d for d in (decide_facility(principal(request), c, campaign.facility_id) for c in caps
                                if may(principal(request), c)))
    audit(request, action, "allowed" if decision.allowed else "denied", resource=f"ExamCampaign/{campaign.id}",
          reason="" if decision.allowed else decision.reason)
    if not decision.allowed:
        raise api_error(403, decision.reason)
    return campaign


async def exam_for(request: web.Request, capability: Capability, action: str) -> tuple[Exam, ExamCampaign]:
    exam, campaign = await run(request, get_exam, int(request.match_info["exam_id"]))
    await authorize(request, capability, exam.patient_id, action, resource=("Encounter", f"exam-{exam.id}"))
    return exam, campaign




async def read_json_or_empty(request: web.Request) -> dict:
    return await read_json(request) if request.can_read_body else {}
