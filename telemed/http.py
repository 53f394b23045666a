"""Handler helpers: the caller, JSON in and out, and policy checks that always leave an audit entry."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from telemed.audit import AuditEvent
from telemed.context import context_of
from telemed.policy import Capability, Decision, decide, may
from telemed.security import Principal

PRINCIPAL = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)
# The ticket of the request's last audit entry: the answer waits until it is committed.
AUDIT_TICKET = web.RequestKey("audit_ticket", int)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, headers=headers, content_type=content_type)


def api_error(status: int, message: str, **extra: Any) -> web.HTTPException:
    """A JSON error response to raise: ``{"error": message, ...}``."""
    cls = _ERROR_CLASSES.get(status) or _ERROR_CLASSES.setdefault(
        status, type(f"HTTP{status}", (web.HTTPClientError,), {"status_code": status}))
    return cls(text=orjson.dumps({"error": message, **extra}).decode(), content_type="application/json")


def _error_classes() -> dict[int, type[web.HTTPException]]:
    found: dict[int, type[web.HTTPException]] = {}
    pending = list(web.HTTPException.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        code = getattr(cls, "status_code", None)
        if isinstance(code, int) and code >= 400:
            found.setdefault(code, cls)
    return found


_ERROR_CLASSES = _error_classes()


async def read_json(request: web.Request) -> dict:
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise api_error(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise api_error(400, "the body must be a JSON object")
    return data


async def read_form(request: web.Request):
    """The posted form; a body that is not valid for its charset gets a 400."""
    try:
        return await request.post()
    except (UnicodeDecodeError, ValueError, LookupError):
        raise api_error(400, "the form is not valid UTF-8 (or its declared charset)") from None


def audit(request: web.Request, action: str, outcome: str, *, patient_id: str | None = None,
          resource: str = "", reason: str = "", break_glass: bool = False) -> None:
    who = request.get(PRINCIPAL)
    request[AUDIT_TICKET] = context_of(request).audit.record(AuditEvent(
        action=action,
        outcome=outcome,
        user_id=who.user_id if who else None,
        username=who.username if who else "",
        role=who.role if who else "",
        patient_id=patient_id,
        resource=resource,
        reason=reason,
        ip=request.remote or "",
        request_id=request.get(REQUEST_ID, ""),
        break_glass=break_glass,
    ))


async def await_audit(request: web.Request) -> None:
    """Wait until the request's audit entries are committed; a 503 if they could not be."""
    ticket = request.get(AUDIT_TICKET)
    if ticket is not None and not await context_of(request).audit.durable(ticket):
        raise web.HTTPServiceUnavailable(text=orjson.dumps({"error": "the audit trail is unavailable"}).decode(),
                                         content_type="application/json")


def audit_shown(request: web.Request, action: str, patient_ids: list[str]) -> None:
    """A list read: one entry per detainee it shows, so that a review of any one of them finds it."""
    for patient_id in dict.fromkeys(patient_ids):
        audit(request, action, "allowed", patient_id=patient_id, resource=f"Patient/{patient_id}",
              reason="shown in a list")


def require(request: web.Request, capability: Capability, action: str, *, patient_id: str | None = None) -> Principal:
    """Role-level check; a denial is audited (naming the detainee, when the request names one)
    and answered 403."""
    who = principal(request)
    if not may(who, capability):
        reason = f"role {who.role} may not {capability.value}"
        audit(request, action, "denied", patient_id=patient_id, reason=reason)
        raise api_error(403, reason)
    return who


async def authorize(request: web.Request, capability: Capability, patient_id: str, action: str, *,
                    resource: tuple[str, str] | None = None, raise_denied: bool = True) -> Decision:
    """Ask the policy about one detainee, audit the answer, and answer 403 when it says no."""
    who = principal(request)
    decision = await context_of(request).db.run(decide, who, capability, patient_id, resource=resource)
    audit_decision(request, decision, action, patient_id, resource)
    if not decision.allowed and raise_denied:
        raise api_error(403, decision.reason)
    return decision


def audit_decision(request: web.Request, decision: Decision, action: str, patient_id: str,
                   resource: tuple[str, str] | None = None) -> None:
    audit(
        request, action, "allowed" if decision.allowed else "denied",
        patient_id=patient_id,
        resource="/".join(resource) if resource else f"Patient/{patient_id}",
        reason="" if decision.allowed and not decision.break_glass else decision.reason,
        break_glass=decision.break_glass,
    )
