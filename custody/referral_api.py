"""Routes of outside referrals: the doctor decides, lists, attaches the summary and cancels;
the officers (and the doctor) record departure, arrival and return. Officers never get the reason."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from sqlmodel import Session

from custody import push, referrals
from custody.models import Referral
from telemed.context import context_of
from telemed.http import (api_error, audit, audit_shown, authorize, json_response, principal, read_json, require)
from telemed.models import Detainee, Role
from telemed.policy import Capability, decide_custody, may
from telemed.timeutil import as_utc


def _leave_at(value: object, tz) -> datetime | None:
    """ISO 8601; without an offset it is the facility's local time (as a page's form sends it)."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise api_error(400, f"leave_at: {value!r} is not an ISO 8601 time", field="leave_at") from None
    return as_utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=tz))


def _refused(refused: referrals.ReferralRefused) -> web.HTTPException:
    return api_error(refused.status, str(refused), field=refused.field)


async def create_referral(request: web.Request) -> web.Response:
    body = await read_json(request)
    patient_id = body.get("patient_id")
    if not isinstance(patient_id, str) or not patient_id:
        require(request, Capability.CLINICAL_WRITE, "custody.referral.create")
        raise api_error(400, "patient_id is required", field="patient_id")
    await authorize(request, Capability.CLINICAL_WRITE, patient_id, "custody.referral.create")
    who = principal(request)
    ctx = context_of(request)
    leave_at = _leave_at(body.get("leave_at"), ctx.settings.tz)

    def write(session: Session) -> dict:
        row = referrals.create(session, body, facility_id=who.org_id, user_id=who.user_id,
                               requester=who.display_name, leave_at=leave_at)
        return referrals.referral_json(row, session.get(Detainee, patient_id), clinical=True,
                                       reason=body["reason"].strip())

    try:
        made = await ctx.db.run(write)
    except referrals.ReferralRefused as refused:
        raise _refused(refused) from None
    audit(request, "custody.referral.create", "allowed", patient_id=patient_id, resource=f"ServiceRequest/{made['id']}",
          reason=made["urgency"])
    push.wake(request.app)
    return json_response(made, status=201)


async def list_referrals(request: web.Request) -> web.Response:
    """The facility's open referrals and those of the last 30 days; with the reason for doctors."""
    who = principal(request)
    clinical = may(who, Capability.CLINICAL_READ)
    if not clinical:
        require(request, Capability.CUSTODY_TASKS, "custody.referral.list")
    if who.role not in (Role.FACILITY_DOCTOR, Role.MEDICAL_OFFICER, Role.CUSTODY_OFFICER):
        audit(request, "custody.referral.list", "denied", reason=f"role {who.role} has no facility referrals")
        raise api_error(403, f"role {who.role} has no facility referrals")
    rows = await context_of(request).db.run(referrals.listing, who.org_id, clinical=clinical)
    audit(request, "custody.referral.list", "allowed", reason=f"{len(rows)} listed")
    audit_shown(request, "custody.referral.list", [r["patient_id"] for r in rows])
    return json_response(rows)


async def _referral_for(request: web.Request, action: str, *, clinical: bool) -> Referral:
    """The referral of the URL, if the caller may act on its detainee (a doctor with
    ``clinical``, else a doctor or an officer); 404 otherwise, as for one that does not exist."""
    referral_id = request.match_info["referral_id"]
    ctx = context_of(request)
    row = await ctx.db.run(lambda s: s.get(Referral, referral_id))
    if row is None:
        raise api_error(404, f"no referral {referral_id}")
    who = principal(request)
    if who.role == Role.CUSTODY_OFFICER and not clinical:
        decision = await ctx.db.run(decide_custody, who, Capability.CUSTODY_TASKS, row.patient_id)
        audit(request, action, "allowed" if decision else "denied", patient_id=row.patient_id,
              resource=f"ServiceRequest/{row.id}", reason="" if decision else decision.reason)
        if not decision:
            raise api_error(404, f"no referral {referral_id}")
        return row
    require(request, Capability.CLINICAL_WRITE, action, patient_id=row.patient_id)  # a role refused: 403
    decision = await authorize(request, Capability.CLINICAL_WRITE, row.patient_id, action,
                               resource=("ServiceRequest", row.id), raise_denied=False)
    if not decision:
        raise api_error(404, f"no referral {referral_id}")
    return row


async def advance_referral(request: web.Request) -> web.Response:
    step = request.match_info["step"]
    row = await _referral_for(request, f"custody.referral.{step}", clinical=False)
    who = principal(request)
    try:
        updated = await context_of(request).db.run(
            lambda s: referrals.advance(s, row.id, step, by_user=who.user_id, by_name=who.display_name))
    except referrals.ReferralRefused as refused:
        raise _refused(refused) from None
    return json_response(referrals.referral_json(updated, None, clinical=False))


async def cancel_referral(request: web.Request) -> web.Response:
    row = await _referral_for(request, "custody.referral.cancel", clinical=True)
    try:
        updated = await context_of(request).db.run(referrals.cancel, row.id)
    except referrals.ReferralRefused as refused:
        raise _refused(refused) from None
    return json_response(referrals.referral_json(updated, None, clinical=False))


async def attach_summary(request: web.Request) -> web.Response:
    """A multipart upload: ``file`` (PDF, JPEG or PNG) and ``title``."""
    row = await _referral_for(request, "custody.referral.summary", clinical=True)
    try:
        form = await request.post()
    except ValueError:
        raise api_error(400, "send the summary as a multipart form with a file", field="file") from None
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise api_error(400, "file is required", field="file")
    data = upload.file.read()
    title = str(form.get("title", ""))
    try:
        updated = await context_of(request).db.run(
            lambda s: referrals.attach_summary(s, row.id, title=title, content_type=upload.content_type, data=data,
                                               author=principal(request).display_name))
    except referrals.ReferralRefused as refused:
        raise _refused(refused) from None
    return json_response(referrals.referral_json(updated, None, clinical=False))


async def get_summary(request: web.Request) -> web.Response:
    row = await _referral_for(request, "custody.referral.summary.read", clinical=True)
    found = await context_of(request).db.run(referrals.summary_file, row.id)
    if found is None:
        raise api_error(404, "no summary attached")
    content_type, data = found
    return web.Response(body=data, content_type=content_type)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/custody/referrals", create_referral)
    app.router.add_get("/api/custody/referrals", list_referrals)
    app.router.add_post(r"/api/custody/referrals/{referral_id}/{step:departed|arrived|returned}", advance_referral)
    app.router.add_post(r"/api/custody/referrals/{referral_id}/cancel", cancel_referral)
    app.router.add_post(r"/api/custody/referrals/{referral_id}/summary", attach_summary)
    app.router.add_get(r"/api/custody/referrals/{referral_id}/summary", get_summary)
