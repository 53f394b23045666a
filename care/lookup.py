"""Finding the arrival or sick call a request names, with the policy's answer about its
detainee (audited either way). Unknown ids are 404 after the role check, so that an id tells a
caller without the role nothing."""

from __future__ import annotations

from aiohttp import web

from care import intake
from care.models import Intake, SickCall
from telemed.context import context_of
from telemed.http import api_error, authorize, require
from telemed.models import Detainee
from telemed.policy import Capability


async def intake_for(request: web.Request, capability: Capability, action: str) -> tuple[Intake, Detainee]:
    raw = request.match_info["intake_id"]
    found = await context_of(request).db.run(intake.get_intake, int(raw)) if raw.isdigit() else None
    if found is None:
        require(request, capability, action)
        raise api_error(404, f"no intake {raw}")
    await authorize(request, capability, found[0].patient_id, action, resource=("Patient", found[0].patient_id))
    return found


async def call_for(request: web.Request, capability: Capability, action: str) -> SickCall:
    call_id = request.match_info["call_id"]
    found = await context_of(request).db.run(lambda s: s.get(SickCall, call_id))
    if found is None:
        require(request, capability, action)
        raise api_error(404, f"no sick call {call_id}")
    await authorize(request, capability, found.patient_id, action, resource=("Task", call_id))
    return found
