"""Administration (users, organisations), emergency access, audit review and the detainee list."""

from __future__ import annotations

from aiohttp import web
from sqlmodel import Session, select

from telemed.accounts import (
    AccountError, add_org, add_user, approve, org_view, pending_for, reset_password, revoke_tokens, update_user,
    user_view,
)
from telemed.audit import about_patients, to_fhir
from telemed import addresses
from telemed.context import context_of
from telemed.http import api_error, audit, audit_shown, json_response, read_json, require
from telemed.models import AuditEntry, BreakGlass, Detainee, Organization, User
from telemed.policy import BreakGlassRefused, Capability, open_break_glass, patient_scope
from telemed.security import Principal
from telemed.timeutil import fhir_instant, utcnow
from telemed.ui import language

MAX_PAGE = 200


def _int(request: web.Request, name: str, default: int, maximum: int = MAX_PAGE) -> int:
    try:
        return max(1, min(int(request.query.get(name, default)), maximum))
    except ValueError:
        raise api_error(400, f"{name} must be a whole number") from None


def _refused(request: web.Request, action: str, exc: AccountError) -> web.HTTPException:
    """A refused change is audited and answered 422 naming the field at fault and the message's code."""
    audit(request, action, "denied", reason=str(exc))
    return api_error(422, str(exc), field=exc.field, code=exc.code)


def _text(body: dict, name: str, limit: int) -> str:
    """A text field of the body ("" when absent); a 400 for anything else, a 422 when too long."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise api_error(400, f"{name} must be text")
    if len(value) > limit:
        raise api_error(422, f"{name} is longer than {limit} characters")
    return value


async def list_orgs(request: web.Request) -> web.Response:
    require(request, Capability.MANAGE_ORGS, "admin.orgs.read")
    orgs = await context_of(request).db.run(lambda s: s.exec(select(Organization).order_by(Organization.id)).all())
    return json_response([org_view(o) for o in orgs])


async def create_org(request: web.Request) -> web.Response:
    require(request, Capability.MANAGE_ORGS, "admin.orgs.create")
    body = await read_json(request)
    try:
        org = await context_of(request).db.run(
            add_org, _text(body, "id", 64), _text(body, "name", 200), _text(body, "kind", 16),
            _text(body, "name_zh", 200))
    except AccountError as exc:
        raise _refused(request, "admin.orgs.create", exc) from None
    audit(request, "admin.orgs.create", "allowed", resource=f"Organization/{org.id}")
    return json_response(org_view(org), status=201)


async def list_users(request: web.Request) -> web.Response:
    require(request, Capability.MANAGE_USERS, "admin.users.read")
    users = await context_of(request).db.run(lambda s: s.exec(select(User).order_by(User.username)).all())
    return json_response([user_view(u) for u in users])


async def create_user(request: web.Request) -> web.Response:
    require(request, Capability.MANAGE_USERS, "admin.users.create")
    body = await read_json(request)
    try:
        user = await context_of(request).db.run(
            add_user, _text(body, "username", 64), _text(body, "password", 128),
            role=_text(body, "role", 32), org_id=_text(body, "org_id", 64),
            display_name=_text(body, "display_name", 200), specialty=_text(body, "specialty", 64) or None,
            on_duty=body.get("on_duty") is True, pending=True)
    except AccountError as exc:
        raise _refused(request, "admin.users.create", exc) from None
    audit(request, "admin.users.create", "allowed", resource=f"user/{user.username}",
          reason=f"role {user.role}, organisation {user.org_id}; waits for a medical officer's approval"
          if user.approved_at is None else f"role {user.role}, organisation {user.org_id}")
    return json_response(user_view(user), status=201)


def _user(session: Session, request: web.Request) -> User:
    user = session.get(User, int(request.match_info["user_id"]))
    if user is None:
        raise api_error(404, "no such user")
    return user


def _forget(request: web.Request, hashes: list[str]) -> None:
    """Revoked tokens leave the caches of this process and of the others at once."""
    context_of(request).tokens.revoked(hashes)


def _change(session: Session, request: web.Request, action: str, acting: Principal) -> tuple[User, list[str]]:
    user = _user(session, request)
    if action == "unlock":
        return user, []  # the login brake is cleared by the caller: it lives outside the database
    if action == "deactivate" and user.id == acting.user_id:
        raise AccountError("you cannot deactivate your own account", field="active", code="own_account")
    user.active = action == "activate"
    session.add(user)
    return user, [] if user.active else revoke_tokens(session, user)


async def change_user(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    who = require(request, Capability.MANAGE_USERS, f"admin.users.{action}")
    try:
        user, revoked = await context_of(request).db.run(_change, request, action, who)
    except AccountError as exc:
        raise _refused(request, f"admin.users.{action}", exc) from None
    _forget(request, revoked)
    if action == "unlock":  # lets the owner try again at once after failed logins
        context_of(request).throttle.clear_account(user.username)
    audit(request, f"admin.users.{action}", "allowed", resource=f"user/{user.username}")
    return json_response(user_view(user))


def _edit(session: Session, request: web.Request, body: dict, acting: Principal) -> tuple[User, list[str], list[str]]:
    user = _user(session, request)
    changed = update_user(session, user, body, acting_user_id=acting.user_id)
    revoked = revoke_tokens(session, user) if "active" in changed and not user.active else []
    return user, changed, revoked


async def edit_user(request: web.Request) -> web.Response:
    """PATCH name, role, organisation, specialty, on duty, active; the audit entry names what changed."""
    who = require(request, Capability.MANAGE_USERS, "admin.users.update")
    body = await read_json(request)
    try:
        user, changed, revoked = await context_of(request).db.run(_edit, request, body, who)
    except AccountError as exc:
        raise _refused(request, "admin.users.update", exc) from None
    _forget(request, revoked)
    audit(request, "admin.users.update", "allowed", resource=f"user/{user.username}",
          reason="changed: " + (", ".join(changed) or "nothing"))
    return json_response(user_view(user) | {"changed": changed})


async def password_reset(request: web.Request) -> web.Response:
    """A new password, in this answer only: the administrator hands it over; old sessions end."""
    require(request, Capability.MANAGE_USERS, "admin.users.password_reset")

    def reset(session: Session) -> tuple[User, str, list[str]]:
        user = _user(session, request)
        return user, *reset_password(session, user)
    user, password, revoked = await context_of(request).db.run(reset)
    _forget(request, revoked)
    context_of(request).throttle.clear_account(user.username)
    audit(request, "admin.users.password_reset", "allowed", resource=f"user/{user.username}",
          reason=f"{len(revoked)} sessions ended")
    return json_response({"username": user.username, "password": password}, headers={"Cache-Control": "no-store"})


async def break_glass(request: web.Request) -> web.Response:
    who = require(request, Capability.BREAK_GLASS, "break_glass.open")
    body = await read_json(request)
    patient_id, reason = _text(body, "patient_id", 64), _text(body, "reason", 2000)
    try:
        grant = await context_of(request).db.run(open_break_glass, who, patient_id, reason)
    except BreakGlassRefused as exc:
        audit(request, "break_glass.open", "denied", patient_id=patient_id or None, reason=str(exc))
        raise api_error(422, str(exc)) from None
    audit(request, "break_glass.open", "allowed", patient_id=patient_id, reason=reason, break_glass=True)
    return json_response({"id": grant.id, "patient_id": patient_id, "expires_at": fhir_instant(grant.expires_at),
                          "record": await context_of(request).db.read(_record_of, patient_id)},
                         status=201)


def _record_of(session: Session, patient_id: str) -> str:
    detainee = session.get(Detainee, patient_id)
    return addresses.record(detainee.booking_number if detainee else "", patient_id)


def _break_glass_for_review(session: Session, who: Principal, pending_only: bool) -> list[dict]:
    query = (
        select(BreakGlass, User, Detainee)
        .join(User, BreakGlass.user_id == User.id)
        .join(Detainee, BreakGlass.patient_id == Detainee.patient_id)
        .where((User.org_id == who.org_id) | (Detainee.facility_id == who.org_id))
        .order_by(BreakGlass.created_at.desc())
    )
    if pending_only:
        query = query.where(BreakGlass.reviewed_at == None)  # noqa: E711
    return [{
        "id": grant.id, "user": user.username, "user_name": user.display_name, "user_org": user.org_id,
        "patient_id": grant.patient_id, "patient_name": detainee.name, "booking_number": detainee.booking_number,
        "patient_facility": detainee.facility_id, "reason": grant.reason,
        "created_at": fhir_instant(grant.created_at), "expires_at": fhir_instant(grant.expires_at),
        "reviewed": grant.reviewed_at is not None,
    } for grant, user, detainee in session.exec(query).all()]


async def list_break_glass(request: web.Request) -> web.Response:
    who = require(request, Capability.REVIEW_AUDIT, "break_glass.review")
    rows = await context_of(request).db.run(_break_glass_for_review, who, request.query.get("pending") == "1")
    audit(request, "break_glass.review", "allowed", reason=f"{len(rows)} entries listed")
    return json_response(rows)


def _mark_reviewed(session: Session, grant_id: int, who: Principal) -> bool:
    rows = _break_glass_for_review(session, who, pending_only=False)
    if grant_id not in {r["id"] for r in rows}:
        return False
    grant = session.get(BreakGlass, grant_id)
    grant.reviewed_by, grant.reviewed_at = who.user_id, utcnow()
    session.add(grant)
    return True


async def review_break_glass(request: web.Request) -> web.Response:
    who = require(request, Capability.REVIEW_AUDIT, "break_glass.review")
    grant_id = int(request.match_info["grant_id"])
    if not await context_of(request).db.run(_mark_reviewed, grant_id, who):
        raise api_error(404, "no such emergency access for your facility")
    audit(request, "break_glass.reviewed", "allowed", resource=f"break_glass/{grant_id}")
    return web.Response(status=204)


def _audit_entries(session: Session, who: Principal, patient_id: str | None, limit: int) -> list[AuditEntry]:
    scope = patient_scope(session, who)
    query = (select(AuditEntry).join(Detainee, AuditEntry.patient_id == Detainee.patient_id)
             .where(scope.where(Detainee.patient_id, Detainee.facility_id)))
    if patient_id:
        query = query.where(about_patients(session, [patient_id]))
    return list(session.exec(query.order_by(AuditEntry.seq.desc()).limit(limit)).all())


async def list_audit(request: web.Request) -> web.Response:
    """The trail for the reviewer's own facility, as a FHIR Bundle of AuditEvents."""
    who = require(request, Capability.REVIEW_AUDIT, "audit.read")
    ctx = context_of(request)
    await ctx.db.run_plain(ctx.audit.flush)
    entries = await ctx.db.run(_audit_entries, who, request.query.get("patient"), _int(request, "_count", 100, 1000))
    audit(request, "audit.read", "allowed", patient_id=request.query.get("patient"))
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
              "entry": [{"resource": to_fhir(e)} for e in entries]}
    return json_response(bundle, content_type="application/fhir+json")


def _detainees(session: Session, who: Principal, text: str, status: str, limit: int, after: str) -> list[dict]:
    scope = patient_scope(session, who)
    query = select(Detainee).where(scope.where(Detainee.patient_id, Detainee.facility_id))
    if text:
        like = f"%{text}%"
        query = query.where(Detainee.name.like(like) | Detainee.booking_number.like(like))
    if status:
        query = query.where(Detainee.status == status)
    if after:
        query = query.where(Detainee.booking_number > after)
    rows = session.exec(query.order_by(Detainee.booking_number).limit(limit)).all()
    return [{
        "patient_id": d.patient_id, "record": addresses.record(d.booking_number, d.patient_id),
        "booking_number": d.booking_number, "name": d.name, "sex": d.sex,
        "birth_date": d.birth_date, "facility_id": d.facility_id, "cell": d.cell, "status": d.status,
        "admission_date": d.admission_date, "own_facility": d.facility_id == who.org_id,
    } for d in rows]


async def list_detainees(request: web.Request) -> web.Response:
    who = require(request, Capability.CLINICAL_READ, "detainee.search")
    rows = await context_of(request).db.run(
        _detainees, who, request.query.get("q", "").strip(), request.query.get("status", ""),
        _int(request, "limit", 50), request.query.get("after", ""))
    audit(request, "detainee.search", "allowed", reason=f"{len(rows)} listed")
    audit_shown(request, "detainee.search", [row["patient_id"] for row in rows])
    return json_response(rows)


async def list_pending(request: web.Request) -> web.Response:
    who = require(request, Capability.APPROVE_ACCOUNTS, "account.pending.read")
    lang = language(request)

    def pending(session: Session) -> list[dict]:  # each with its organisation's name in the reader's language
        names = {o.id: (o.name_zh or o.name) if lang == "zh-CN" else o.name for o in session.exec(select(Organization))}
        return [user_view(u) | {"org_name": names.get(u.org_id, "")} for u in pending_for(session, session.get(User, who.user_id))]

    users = await context_of(request).db.run(pending)
    audit(request, "account.pending.read", "allowed", reason=f"{len(users)} listed")
    return json_response(users)


async def approve_user(request: web.Request) -> web.Response:
    who = require(request, Capability.APPROVE_ACCOUNTS, "account.approve")
    try:
        user = await context_of(request).db.run(approve, who.user_id, int(request.match_info["user_id"]))
    except AccountError as exc:
        audit(request, "account.approve", "denied", resource=f"user-id/{request.match_info['user_id']}",
              reason=str(exc))
        raise api_error(404, str(exc)) from None
    audit(request, "account.approve", "allowed", resource=f"user/{user.username}",
          reason=f"role {user.role}, organisation {user.org_id}")
    return json_response(user_view(user))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/admin/orgs", list_orgs)
    app.router.add_post("/api/admin/orgs", create_org)
    app.router.add_get("/api/admin/users", list_users)
    app.router.add_post("/api/admin/users", create_user)
    app.router.add_post(r"/api/admin/users/{user_id:\d+}/{action:unlock|activate|deactivate}", change_user)
    app.router.add_patch(r"/api/admin/users/{user_id:\d+}", edit_user)
    app.router.add_post(r"/api/admin/users/{user_id:\d+}/password", password_reset)
    app.router.add_get("/api/accounts/pending", list_pending)
    app.router.add_post(r"/api/accounts/{user_id:\d+}/approve", approve_user)
    app.router.add_post("/api/break-glass", break_glass)
    app.router.add_get("/api/break-glass", list_break_glass)
    app.router.add_post(r"/api/break-glass/{grant_id:\d+}/review", review_break_glass)
    app.router.add_get("/api/audit", list_audit)
    app.router.add_get("/api/detainees", list_detainees)
